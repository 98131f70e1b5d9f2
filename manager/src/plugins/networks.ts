// berthd's networking of berth containers (plugin io.containerd.internal.v1.networks, over
// core/networks' NetworkManager), for containers labelled berth/created-by=berth only:
//
//   /containers/create   a container whose run config's NetworkMode is "bridge" (or empty) or a
//                        user network gets its network namespace and CNI attachment now, at
//                        create, not at its task's start: the namespace then lives as long as the
//                        container (its address, published ports and DNS names stay the same
//                        across stops, restarts and restart-policy restarts, and `berth inspect`
//                        of a created container shows them, as the client's spec needs the
//                        namespace's path before any task exists). The event is delivered before
//                        Containers.Create answers, so the set-up is queued before the client can
//                        ask for it: the client's create waits for it (Networks.ContainerSettings)
//                        and removes the container if it failed.
//   /containers/update   a rename: the DNS name and /etc/hosts follow
//   /containers/delete   CNI DEL of every endpoint, namespace unmounted and removed
//
// "host", "none" and "container:<id>" need nothing of berthd's: the client's spec shares the
// host's namespace, lets berth-init make an empty one (lo only), or joins the other
// container's namespace file. After each set-up, connect or disconnect the container's
// /etc/hosts (its addresses with its name and aliases, its --link targets) and /etc/resolv.conf
// (a user network's name server) are written again through the berth-containers plugin's files.
//
// Config (section `io.containerd.internal.v1.networks`):
//   plugin_dirs     CNI plugin directories (CNI_PATH), default ["/usr/lib/cni", "/opt/cni/bin"]
//   default_bridge  the default network's Linux bridge (berth0)
//   default_subnet  its subnet ('' : the first of the address pools that no host route and no
//                   other network of berth's overlaps, chosen at the first start)
//   address_pools   [{base, size}] subnets for networks created without --subnet (Docker's)
//   netns_dir       where containers' network namespaces are mounted ('' : <state>/netns)
//   dns             name servers on user networks (true)
//   dns_upstreams   where they forward other names ([] : the host's resolv.conf servers)
// Exports `netns_root` (the client's spec names <netns_root>/<namespace>-<id>).

import * as path from 'node:path';
import { unpackAny } from '../api';
import { etcInputOf, hostnameOf } from '../core/containers/files';
import { CREATED_BY, NAME } from '../core/containers/labels';
import { RUN_CONFIG_EXTENSION, parseRunConfig, type RunConfig } from '../core/containers/run-config';
import { BERTH } from '../core/containers/state';
import type { Exchange, Subscription } from '../core/events';
import type { Container, Metadata } from '../core/metadata';
import { DEFAULT_NETWORK, NetworkManager, type SetupRequest } from '../core/networks/manager';
import type { SandboxRecord } from '../core/networks/sandboxes';
import type { AddressPool } from '../core/networks/ipv4';
import { wantedBindings } from '../core/networks/ports';
import type { Plugin, PluginContext } from '../daemon/plugin';
import { BERTH_CONTAINERS_ID, INTERNAL_PLUGIN, type BerthContainers } from './berth-containers';
import { EVENT_PLUGIN } from './grpc';
import { METADATA_PLUGIN } from './storage';

export const NETWORKS_PLUGIN_ID = 'networks';
export const NETWORKS_PLUGIN = `${INTERNAL_PLUGIN}.${NETWORKS_PLUGIN_ID}`;
/** The Introspection export naming the namespaces' directory. */
export const NETNS_ROOT_EXPORT = 'netns_root';

export interface Networks {
  manager: NetworkManager;
  /** Why a container's set-up failed (until the container is deleted). */
  failures: Map<string, Error>;
  subscription: Subscription;
}

/** The network a container's run config asks berthd for, or undefined (host, none, container:, not berth's). */
export function networkOf(run: RunConfig | undefined): string | undefined {
  if (!run) return undefined;
  const mode = run.Host.NetworkMode ?? 'none'; // records from before networks had none
  if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) return undefined;
  return mode === '' || mode === 'default' ? DEFAULT_NETWORK : mode;
}

function configOf(ctx: PluginContext) {
  const c = ctx.config;
  const strings = (key: string): string[] => {
    const v = c[key];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`${key}: expected a list of strings`);
    return v as string[];
  };
  const string = (key: string): string => {
    if (typeof c[key] !== 'string') throw new Error(`${key}: expected a string`);
    return c[key] as string;
  };
  if (typeof c.dns !== 'boolean') throw new Error('dns: expected true or false');
  const pools = c.address_pools;
  if (!Array.isArray(pools) || pools.some((p) => typeof p !== 'object' || p === null || typeof (p as AddressPool).base !== 'string' || typeof (p as AddressPool).size !== 'number')) {
    throw new Error('address_pools: expected a list of {"base": "CIDR", "size": prefix length}');
  }
  return {
    pluginDirs: strings('plugin_dirs'),
    defaultBridge: string('default_bridge'),
    defaultSubnet: string('default_subnet'),
    pools: pools as AddressPool[],
    netnsDir: string('netns_dir') || path.join(ctx.state, 'netns'),
    dns: c.dns,
    upstreams: strings('dns_upstreams'),
  };
}

export const networksPlugin: Plugin<Networks> = {
  type: INTERNAL_PLUGIN,
  id: NETWORKS_PLUGIN_ID,
  requires: [METADATA_PLUGIN, EVENT_PLUGIN, `${INTERNAL_PLUGIN}.${BERTH_CONTAINERS_ID}`],
  defaults: {
    plugin_dirs: ['/usr/lib/cni', '/opt/cni/bin'],
    default_bridge: 'berth0',
    default_subnet: '',
    address_pools: [],
    netns_dir: '',
    dns: true,
    dns_upstreams: [],
  },
  async init(ctx) {
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    const exchange = ctx.get<Exchange>(EVENT_PLUGIN);
    const { files } = ctx.get<BerthContainers>(`${INTERNAL_PLUGIN}.${BERTH_CONTAINERS_ID}`);
    const cfg = configOf(ctx);
    const log = ctx.log;

    const container = (ns: string, id: string): Container | undefined => {
      try {
        return md.containers.get(ns, id);
      } catch {
        return undefined;
      }
    };
    const runOf = (c: Container) => parseRunConfig(c.extensions[RUN_CONFIG_EXTENSION]);

    let manager: NetworkManager;
    /** /etc/hosts and resolv.conf of a container after its endpoints changed. */
    const rewriteEtc = (sb: SandboxRecord) => {
      const c = container(sb.namespace, sb.containerId);
      if (!c) return;
      const run = runOf(c);
      const input = etcInputOf(run, hostnameOf(c));
      const first = sb.endpoints[0];
      input.addresses = sb.endpoints.filter((e) => e.ip).map((e) => ({ ip: e.ip, names: [input.hostname, sb.name, ...e.aliases] }));
      if (first && first.network !== DEFAULT_NETWORK && cfg.dns && manager.dnsServer(first.network)) input.nameservers = [first.gateway];
      input.links = [];
      for (const link of run?.Host.Links ?? []) {
        // "/target:/self/alias"
        const m = /^\/?([^:]+):.*\/([^/]+)$/.exec(link);
        if (!m) continue;
        const target = md.containers.list(sb.namespace).find((t) => t.labels[NAME] === m[1]);
        const tsb = target && manager.sandboxesOf(sb.namespace).find((s) => s.containerId === target.id);
        const ip = tsb?.endpoints[0]?.ip;
        if (ip) input.links.push({ ip, names: [m[2]!, tsb.hostname, ...(m[2] === tsb.name ? [] : [tsb.name])] });
      }
      files.writeSync(sb.namespace, sb.containerId, input);
    };

    manager = new NetworkManager({
      dir: path.join(ctx.root, 'networks'),
      netnsDir: cfg.netnsDir,
      pluginDirs: cfg.pluginDirs,
      defaultBridge: cfg.defaultBridge,
      defaultSubnet: cfg.defaultSubnet,
      ...(cfg.pools.length ? { pools: cfg.pools } : {}),
      dns: cfg.dns,
      ...(cfg.upstreams.length ? { upstreams: cfg.upstreams } : {}),
      log,
      onChange: rewriteEtc,
    });
    ctx.exports[NETNS_ROOT_EXPORT] = cfg.netnsDir;
    await manager.init((ns, id) => container(ns, id) !== undefined);

    const failures = new Map<string, Error>();
    const requestOf = (ns: string, c: Container): SetupRequest | undefined => {
      if (c.labels[CREATED_BY] !== BERTH) return undefined;
      const run = runOf(c);
      const network = networkOf(run);
      if (!network || !run) return undefined;
      return {
        namespace: ns,
        containerId: c.id,
        name: c.labels[NAME] ?? c.id.slice(0, 12),
        hostname: hostnameOf(c),
        network,
        aliases: run.Networking?.Aliases ?? [],
        ipv4: run.Networking?.IPv4Address ?? '',
        ports: wantedBindings(run.Host.PortBindings, Object.keys(run.ExposedPorts ?? {}), !!run.Host.PublishAllPorts),
        dns: run.Host.Dns ?? [],
      };
    };
    const setUp = (ns: string, c: Container) => {
      const req = requestOf(ns, c);
      if (!req) return;
      failures.delete(`${ns}/${c.id}`);
      manager.setUp(req).catch((err: Error) => {
        failures.set(`${ns}/${c.id}`, err);
        log.warn({ err, namespace: ns, container: c.id, network: req.network }, 'networks: setting up a container failed');
      });
    };

    // A container created while berthd was down or before its set-up was recorded.
    for (const ns of md.namespaces.list()) {
      const have = new Set(manager.sandboxesOf(ns).map((s) => s.containerId));
      for (const c of md.containers.list(ns)) if (!have.has(c.id)) setUp(ns, c);
    }

    const subscription = exchange.subscribe(['topic~="^/containers/"'], (env) => {
      // Never throw out of here: the exchange drops a subscriber that throws.
      try {
        const { message } = unpackAny<Record<string, unknown>>(env.event);
        const ns = env.namespace;
        const id = String(message.id ?? '');
        switch (env.topic) {
          case '/containers/create': {
            const c = container(ns, id);
            if (c) setUp(ns, c);
            return;
          }
          case '/containers/update': {
            const c = container(ns, id);
            const name = c?.labels[NAME];
            if (c && name) {
              void manager
                .rename(ns, id, name)
                .then((sb) => sb && rewriteEtc(sb))
                .catch((err: Error) => log.warn({ err, container: id }, 'networks: rename failed'));
            }
            return;
          }
          case '/containers/delete':
            failures.delete(`${ns}/${id}`);
            manager.tearDown(ns, id).catch((err: Error) => log.warn({ err, namespace: ns, container: id }, 'networks: teardown failed'));
            return;
        }
      } catch (err) {
        log.warn({ err, topic: env.topic }, 'networks: handling an event failed');
      }
    });
    return { manager, failures, subscription };
  },
  async close(n) {
    n.subscription.close();
    await n.manager.close();
  },
};
