// berth.networks.v1.Networks (proto/berth/networks/v1/networks.proto): a thin adapter over the
// networks plugin's NetworkManager (plugins/networks.ts). Networks are host-wide; the call's
// namespace picks the containers shown in a network and the ones Connect/Disconnect and the
// container settings name. "host" and "none" appear in List and Get as Docker shows them
// (drivers "host" and "null"), but are network modes, not networks berthd makes.

import { createHash } from 'node:crypto';
import { NETWORKS, addService, timestamp, type ServiceImpl } from '../api';
import { CREATED_BY } from '../core/containers/labels';
import { BERTH } from '../core/containers/state';
import { failedPrecondition, invalidArgument, notFound } from '../core/errors';
import type { Metadata } from '../core/metadata';
import { PSEUDO_NETWORKS, type NetworkManager } from '../core/networks/manager';
import type { SandboxRecord } from '../core/networks/sandboxes';
import type { NetworkRecord } from '../core/networks/store';
import { METADATA_PLUGIN } from '../daemon/core-plugins';
import { requireNamespace, unary } from '../daemon/grpc';
import type { Plugin } from '../daemon/plugin';
import { NETWORKS_PLUGIN, type Networks } from '../plugins/networks';

interface Deps {
  networks: Networks;
  md: Metadata;
}

/** A stable id for a pseudo-network ("host", "none"): the same on every call and start. */
const pseudoId = (name: string): string => createHash('sha256').update(`berth-network-${name}`).digest('hex');

function pseudo(name: string) {
  return {
    id: pseudoId(name),
    name,
    driver: name === 'host' ? 'host' : 'null',
    scope: 'local',
    created: timestamp(new Date(0)),
    internal: false,
    labels: {},
    subnet: '',
    gateway: '',
    ipRange: '',
    bridge: '',
    builtin: true,
    containers: {},
  };
}

function networkToProto(rec: NetworkRecord, manager: NetworkManager, ns: string) {
  const containers: Record<string, { name: string; endpointId: string; macAddress: string; ipv4Address: string }> = {};
  for (const { sandbox, endpoint } of manager.endpointsOn(rec.name)) {
    if (sandbox.namespace !== ns) continue;
    containers[sandbox.containerId] = {
      name: sandbox.name,
      endpointId: endpoint.endpointId,
      macAddress: endpoint.mac,
      ipv4Address: endpoint.ip ? `${endpoint.ip}/${endpoint.prefixLen}` : '',
    };
  }
  return {
    id: rec.id,
    name: rec.name,
    driver: rec.driver,
    scope: 'local',
    created: timestamp(new Date(rec.created)),
    internal: rec.internal,
    labels: rec.labels,
    subnet: rec.subnet,
    gateway: rec.gateway,
    ipRange: rec.ipRange,
    bridge: rec.bridge,
    builtin: rec.builtin,
    containers,
  };
}

export function sandboxToProto(sb: SandboxRecord) {
  return {
    containerId: sb.containerId,
    sandboxKey: sb.netns,
    endpoints: sb.endpoints.map((e) => ({
      network: e.network,
      networkId: e.networkId,
      endpointId: e.endpointId,
      interface: e.ifname,
      ipAddress: e.ip,
      ipPrefixLen: e.prefixLen,
      gateway: e.gateway,
      macAddress: e.mac,
      aliases: e.aliases,
    })),
    ports: sb.ports.map((p) => ({ hostIp: p.hostIP, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol })),
  };
}

export function networksService(deps: Deps): ServiceImpl<typeof NETWORKS> {
  const { manager, failures } = deps.networks;
  /** A berth container of the namespace, by full id (the client resolves names). */
  const berthContainer = (ns: string, id: string) => {
    if (!id) throw invalidArgument('container_id is required');
    let c;
    try {
      c = deps.md.containers.get(ns, id);
    } catch {
      throw notFound(`No such container: ${id}`);
    }
    if (c.labels[CREATED_BY] !== BERTH) throw failedPrecondition(`container ${id} was not made by berth: berthd does not network it`);
    return c;
  };
  return {
    Create: unary(async (call) => {
      const r = call.request;
      if (!r.name) throw invalidArgument('name is required');
      const rec = await manager.createNetwork({ name: r.name, driver: r.driver, subnet: r.subnet, gateway: r.gateway, ipRange: r.ipRange, internal: r.internal, labels: r.labels });
      return { network: networkToProto(rec, manager, requireNamespace(call)) };
    }),
    Get: unary(async (call) => {
      const ns = requireNamespace(call);
      const ref = call.request.ref;
      if (!ref) throw invalidArgument('ref is required');
      const p = PSEUDO_NETWORKS.find((n) => n === ref || pseudoId(n) === ref);
      if (p) return { network: pseudo(p) };
      return { network: networkToProto(await manager.getNetwork(ref), manager, ns) };
    }),
    List: unary(async (call) => {
      const ns = requireNamespace(call);
      const nets = (await manager.listNetworks()).map((n) => networkToProto(n, manager, ns));
      return { networks: [...nets, ...PSEUDO_NETWORKS.map(pseudo)] };
    }),
    Remove: unary(async (call) => {
      if (!call.request.ref) throw invalidArgument('ref is required');
      const rec = await manager.removeNetwork(call.request.ref);
      return { network: networkToProto(rec, manager, requireNamespace(call)) };
    }),
    Prune: unary(async () => ({ removed: (await manager.pruneNetworks()).map((n) => n.name) })),
    Connect: unary(async (call) => {
      const ns = requireNamespace(call);
      const r = call.request;
      berthContainer(ns, r.containerId);
      if (!r.network) throw invalidArgument('network is required');
      if ((PSEUDO_NETWORKS as readonly string[]).includes(r.network)) throw failedPrecondition(`container cannot be connected to network ${r.network}: it is a network mode, chosen when the container is created`);
      return sandboxToProto(await manager.connect(ns, r.containerId, r.network, { ip: r.ipv4Address, aliases: r.aliases }));
    }),
    Disconnect: unary(async (call) => {
      const ns = requireNamespace(call);
      const r = call.request;
      berthContainer(ns, r.containerId);
      if (!r.network) throw invalidArgument('network is required');
      return sandboxToProto(await manager.disconnect(ns, r.containerId, r.network));
    }),
    ContainerSettings: unary(async (call) => {
      const ns = requireNamespace(call);
      const id = call.request.containerId;
      if (!id) throw invalidArgument('container_id is required');
      const sb = await manager.sandbox(ns, id);
      if (sb) return sandboxToProto(sb);
      const failed = failures.get(`${ns}/${id}`);
      if (failed) throw failedPrecondition(`setting up the network of container ${id} failed: ${failed.message}`);
      throw notFound(`container ${id} has no network settings of berth's`);
    }),
    ListContainerSettings: unary(async (call) => ({ containers: manager.sandboxesOf(requireNamespace(call)).map(sandboxToProto) })),
  };
}

export const networksServicePlugin: Plugin<Deps> = {
  type: 'io.containerd.grpc.v1',
  id: 'berth-networks',
  requires: [NETWORKS_PLUGIN, METADATA_PLUGIN],
  async init(ctx) {
    return { networks: ctx.get<Networks>(NETWORKS_PLUGIN), md: ctx.get<Metadata>(METADATA_PLUGIN) };
  },
  register(server, deps) {
    addService(server, NETWORKS, networksService(deps));
  },
};
