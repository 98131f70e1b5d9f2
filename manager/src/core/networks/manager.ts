// NetworkManager: berth's networks and the containers on them, over CNI.
//
//   networks     the default network "bridge" (Linux bridge `default_bridge`, berth0 unless
//                configured, Docker's docker0), made at the first start; user networks made by
//                `network create`, removed by `network rm` (the Linux bridge with them: no
//                plugin removes a bridge, so `ip link delete` does); conflists and records in
//                store.ts
//   containers   setUp: a network namespace (netns.ts) at <netns_dir>/<ns>-<id>, CNI ADD of the
//                container's network as eth0 with its published ports (port-allocator.ts), a
//                record (sandboxes.ts); connect/disconnect: ADD/DEL as eth1, eth2, …; tearDown:
//                DEL of every endpoint in reverse, the namespace unmounted and removed, the
//                record removed. Each container's operations run one at a time, in order.
//   names        a name server per user network (dns-server.ts) on its gateway address, once
//                the bridge has that address (after the first ADD): the containers that share
//                a user network with the asker, by name, alias and short id
//   recovery     at start: a record whose container is gone is torn down; one whose namespace
//                is gone (a reboot: /run is empty) is set up again (DEL with the cached result,
//                which frees the lease, then a new namespace and ADD); CNI cache entries no
//                record owns are deleted (a teardown that failed half-way)
//
// CNI_CONTAINERID is "<namespace>-<id>": unique on the host, as the spec requires, even for
// equal ids in two containerd namespaces.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { conflict, failedPrecondition, invalidArgument, isKind, notFound } from '../errors';
import { CNI_VERSION, Cni, type CniResult, type NetConfList } from './cni';
import { DnsServer } from './dns-server';
import { DEFAULT_POOLS, contains, formatCidr, formatIPv4, hostRoutes, ipamOf, overlaps, parseCidr, parseIPv4, pickSubnet, type AddressPool } from './ipv4';
import { createNetns, isNetns, releaseNetnsDir, removeNetns } from './netns';
import { PortAllocator } from './port-allocator';
import type { PortBinding, PortMapping } from './ports';
import { KeyedQueue } from '../keyed-queue';
import { SandboxStore, type EndpointRecord, type SandboxRecord } from './sandboxes';
import { NetworkStore, validateBridgeName, validateNetworkName, type NetworkRecord } from './store';

/** Docker's name of the default network; also accepted: nothing else. */
export const DEFAULT_NETWORK = 'bridge';
/** Network modes that are not networks of berth's. */
export const PSEUDO_NETWORKS = ['host', 'none'] as const;

export interface Logger {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  debug(o: object, m: string): void;
}

export interface NetworkManagerOptions {
  /** <root>/networks: records, conflists, ipam/, cache/, containers/. */
  dir: string;
  /** Where containers' namespaces are mounted (<state>/netns). */
  netnsDir: string;
  pluginDirs: string[];
  /** The default network's Linux bridge and subnet ('' → the first free pool subnet). */
  defaultBridge: string;
  defaultSubnet: string;
  pools?: AddressPool[];
  /** Name servers on user networks. */
  dns: boolean;
  /** Host resolv.conf, for forwarding what the networks' name servers do not know. */
  hostResolvConf?: string;
  /** Where to forward instead of the host resolv.conf's nameservers ("ip" or "ip:port"). */
  upstreams?: string[];
  log: Logger;
  /** Called after a container's endpoints changed (set up, connected, disconnected). */
  onChange?(sandbox: SandboxRecord): Promise<void> | void;
  /** Test seams. */
  dnsPort?: number;
  portAllocator?: PortAllocator;
}

/** What a container asks for (berthd reads it from the container's run config). */
export interface SetupRequest {
  namespace: string;
  containerId: string;
  name: string;
  hostname: string;
  /** DEFAULT_NETWORK or a user network's name or id. */
  network: string;
  aliases: string[];
  ipv4: string;
  ports: { key: string; binding: PortBinding }[];
  dns: string[];
}

export interface CreateNetworkRequest {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  internal?: boolean;
  labels?: Record<string, string>;
}

function run(cmd: string, args: string[]): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _o, stderr) => resolve({ ok: !err, stderr: String(stderr || err?.message || '') }));
  });
}

const keyOf = (ns: string, id: string): string => `${ns}/${id}`;

/** The loopback plugin as a list of its own, for `lo` (as CRI runtimes do): a joined namespace
 *  has lo down until someone brings it up; berth-init does it only for namespaces it makes. */
export const LOOPBACK_LIST: NetConfList = { cniVersion: CNI_VERSION, name: 'berth-loopback', plugins: [{ type: 'loopback' }] };

export class NetworkManager {
  readonly store: NetworkStore;
  readonly cni: Cni;
  private readonly sandboxStore: SandboxStore;
  private readonly sandboxes = new Map<string, SandboxRecord>();
  /** Endpoints being added, per network name (a network with one cannot be removed). */
  private readonly attaching = new Map<string, number>();
  private readonly queue = new KeyedQueue();
  /** Network create/remove and the start of an attachment, one at a time. */
  private readonly netLock = new KeyedQueue();
  private readonly ports: PortAllocator;
  private readonly dnsServers = new Map<string, DnsServer>();
  private hostNameservers: string[] = [];

  constructor(private readonly opts: NetworkManagerOptions) {
    this.store = new NetworkStore(opts.dir, join(opts.dir, 'ipam'));
    this.cni = new Cni({ pluginDirs: opts.pluginDirs, cacheDir: join(opts.dir, 'cache') });
    this.sandboxStore = new SandboxStore(join(opts.dir, 'containers'));
    this.ports = opts.portAllocator ?? new PortAllocator();
  }

  // ---- start and stop ----

  /**
   * Makes the default network, loads the containers' records and reconciles them with
   * `exists` (whether a container record is still there), then starts the name servers.
   */
  async init(exists: (ns: string, id: string) => boolean): Promise<void> {
    validateBridgeName(this.opts.defaultBridge);
    this.hostNameservers = this.opts.upstreams?.length ? [...this.opts.upstreams] : readNameservers(this.opts.hostResolvConf ?? '/etc/resolv.conf');
    for (const rec of await this.sandboxStore.loadAll()) this.sandboxes.set(keyOf(rec.namespace, rec.containerId), rec);
    await this.ensureDefaultNetwork();
    for (const rec of await this.store.list()) await this.store.writeConflist(rec);

    for (const sb of [...this.sandboxes.values()]) {
      if (!exists(sb.namespace, sb.containerId)) {
        this.opts.log.info({ namespace: sb.namespace, container: sb.containerId }, 'networks: tearing down the networking of a container that is gone');
        await this.tearDown(sb.namespace, sb.containerId).catch((err: Error) => this.opts.log.warn({ err }, 'networks: teardown failed'));
      } else if (!(await isNetns(sb.netns))) {
        this.opts.log.info({ namespace: sb.namespace, container: sb.containerId }, 'networks: network namespace gone (reboot?): setting the container up again');
        await this.rebuild(sb).catch((err: Error) => this.opts.log.warn({ err, container: sb.containerId }, 'networks: set-up again failed'));
      }
    }
    // Attachments no record owns: a teardown that failed half-way, or a crash mid-set-up.
    const owned = new Set<string>();
    for (const sb of this.sandboxes.values()) {
      owned.add(`${LOOPBACK_LIST.name}\0${cniId(sb)}\0lo`);
      for (const ep of sb.endpoints) owned.add(`${ep.network}\0${cniId(sb)}\0${ep.ifname}`);
    }
    for (const entry of await this.cni.listCache()) {
      if (owned.has(`${entry.networkName}\0${entry.containerId}\0${entry.ifName}`)) continue;
      this.opts.log.info({ network: entry.networkName, cniContainer: entry.containerId }, 'networks: deleting an attachment nobody owns');
      await this.cni.delCached(entry).catch((err: Error) => this.opts.log.warn({ err }, 'networks: CNI DEL of an orphan failed'));
    }
    // Namespace files no record owns (a crash between creating one and recording it).
    const mine = new Set([...this.sandboxes.values()].map((sb) => sb.netns));
    for (const f of await fs.readdir(this.opts.netnsDir).catch(() => [] as string[])) {
      const p = join(this.opts.netnsDir, f);
      if (!mine.has(p)) await removeNetns(p).catch((err: Error) => this.opts.log.warn({ err, netns: p }, 'networks: removing a stray namespace failed'));
    }
    for (const net of await this.store.list()) if (this.endpointsOn(net.name).length) await this.ensureDns(net);
  }

  /** Waits for the work in progress, then closes the name servers (containers keep their networking). */
  async close(): Promise<void> {
    await this.queue.idle();
    for (const s of this.dnsServers.values()) s.close();
    this.dnsServers.clear();
    await releaseNetnsDir(this.opts.netnsDir).catch((err: Error) => this.opts.log.warn({ err: err.message, dir: this.opts.netnsDir }, 'networks: the netns directory stays mounted'));
  }

  private async ensureDefaultNetwork(): Promise<void> {
    const existing = await this.store.find(DEFAULT_NETWORK);
    const wantBridge = this.opts.defaultBridge;
    if (existing && existing.bridge === wantBridge && (!this.opts.defaultSubnet || existing.subnet === this.opts.defaultSubnet)) return;
    if (existing && this.endpointsOn(DEFAULT_NETWORK).length) {
      this.opts.log.warn({ bridge: existing.bridge, subnet: existing.subnet }, 'networks: the default network differs from the configuration but has containers: kept as it is');
      return;
    }
    const subnet = this.opts.defaultSubnet
      ? parseCidr(this.opts.defaultSubnet, 'default_subnet')
      : pickSubnet(this.opts.pools ?? DEFAULT_POOLS, [...hostRoutes(), ...(await this.store.list()).filter((n) => n.name !== DEFAULT_NETWORK).map((n) => parseCidr(n.subnet, 'subnet'))]);
    if (!subnet) throw new Error('networks: no free subnet for the default network in the address pools');
    const ipam = ipamOf(subnet);
    const rec: NetworkRecord = {
      id: existing?.id ?? randomBytes(32).toString('hex'),
      name: DEFAULT_NETWORK,
      driver: 'bridge',
      created: existing?.created ?? new Date().toISOString(),
      labels: {},
      internal: false,
      subnet: formatCidr(subnet),
      gateway: formatIPv4(ipam.gateway),
      ipRange: '',
      bridge: wantBridge,
      builtin: true,
    };
    if (existing) {
      if (existing.bridge !== wantBridge) await deleteLink(existing.bridge);
      await this.store.replace(rec);
    } else {
      await this.store.create(rec);
    }
    this.opts.log.info({ bridge: rec.bridge, subnet: rec.subnet }, 'networks: default network ready');
  }

  // ---- networks ----

  async createNetwork(req: CreateNetworkRequest): Promise<NetworkRecord> {
    return this.netLock.run('', async () => {
      validateNetworkName(req.name);
      if (req.name === DEFAULT_NETWORK || (PSEUDO_NETWORKS as readonly string[]).includes(req.name)) {
        throw conflict(`network with name ${req.name} already exists (a predefined network)`);
      }
      const driver = req.driver || 'bridge';
      if (driver !== 'bridge') throw invalidArgument(`driver: only the bridge driver is supported, not ${JSON.stringify(driver)}`);
      const all = await this.store.list();
      if (all.some((n) => n.name === req.name)) throw conflict(`network with name ${req.name} already exists`);
      const taken = all.map((n) => parseCidr(n.subnet, 'subnet'));
      let subnet;
      if (req.subnet) {
        subnet = parseCidr(req.subnet, 'subnet');
        const other = all.find((n) => overlaps(parseCidr(n.subnet, 'subnet'), subnet!));
        if (other) throw conflict(`subnet ${req.subnet}: pool overlaps with other one on this address space (network ${other.name}, ${other.subnet})`);
      } else {
        if (req.gateway || req.ipRange) throw invalidArgument('--gateway and --ip-range need --subnet');
        subnet = pickSubnet(this.opts.pools ?? DEFAULT_POOLS, [...taken, ...hostRoutes()]);
        if (!subnet) throw failedPrecondition('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
      }
      const ipam = ipamOf(subnet, req.gateway, req.ipRange);
      const id = randomBytes(32).toString('hex');
      const rec: NetworkRecord = {
        id,
        name: req.name,
        driver: 'bridge',
        created: new Date().toISOString(),
        labels: { ...(req.labels ?? {}) },
        internal: !!req.internal,
        subnet: formatCidr(subnet),
        gateway: formatIPv4(ipam.gateway),
        ipRange: ipam.range ? formatCidr(ipam.range) : '',
        bridge: `br-${id.slice(0, 12)}`,
        builtin: false,
      };
      await this.store.create(rec);
      this.opts.log.info({ network: rec.name, subnet: rec.subnet, bridge: rec.bridge }, 'networks: created');
      return rec;
    });
  }

  listNetworks(): Promise<NetworkRecord[]> {
    return this.store.list();
  }

  getNetwork(ref: string): Promise<NetworkRecord> {
    return this.store.get(ref);
  }

  /** Removes a network nothing is attached to, its bridge and leases. */
  async removeNetwork(ref: string): Promise<NetworkRecord> {
    return this.netLock.run('', async () => {
      if ((PSEUDO_NETWORKS as readonly string[]).includes(ref)) throw failedPrecondition(`${ref} is a pre-defined network and cannot be removed`);
      const rec = await this.store.get(ref);
      if (rec.builtin) throw failedPrecondition(`${rec.name} is a pre-defined network and cannot be removed`);
      // a container just removed (`rm c && network rm n`) may still be tearing down: wait for it
      await Promise.all(this.endpointsOn(rec.name).map(({ sandbox }) => this.queue.idle(keyOf(sandbox.namespace, sandbox.containerId))));
      if (this.endpointsOn(rec.name).length || this.attaching.get(rec.name)) {
        throw failedPrecondition(`error while removing network: network ${rec.name} id ${rec.id} has active endpoints`);
      }
      this.dnsServers.get(rec.name)?.close();
      this.dnsServers.delete(rec.name);
      await deleteLink(rec.bridge);
      await this.store.remove(rec);
      this.opts.log.info({ network: rec.name }, 'networks: removed');
      return rec;
    });
  }

  /** Removes every user network without endpoints; their names. */
  async pruneNetworks(): Promise<NetworkRecord[]> {
    await this.queue.idle(); // teardowns of containers just removed
    const out: NetworkRecord[] = [];
    for (const n of await this.store.list()) {
      if (n.builtin || this.endpointsOn(n.name).length) continue;
      try {
        out.push(await this.removeNetwork(n.id));
      } catch (err) {
        if (!isKind(err, 'FailedPrecondition') && !isKind(err, 'NotFound')) throw err;
      }
    }
    return out;
  }

  /** The containers (of every namespace) with an endpoint on `network`. */
  endpointsOn(network: string): { sandbox: SandboxRecord; endpoint: EndpointRecord }[] {
    const out: { sandbox: SandboxRecord; endpoint: EndpointRecord }[] = [];
    for (const sb of this.sandboxes.values()) for (const ep of sb.endpoints) if (ep.network === network) out.push({ sandbox: sb, endpoint: ep });
    return out;
  }

  // ---- containers ----

  /** The container's record, after any operation queued for it (undefined: none). */
  async sandbox(ns: string, id: string): Promise<SandboxRecord | undefined> {
    await this.queue.idle(keyOf(ns, id));
    return this.sandboxes.get(keyOf(ns, id));
  }

  /** Every record of a namespace as it is now (ps, port). */
  sandboxesOf(ns: string): SandboxRecord[] {
    return [...this.sandboxes.values()].filter((s) => s.namespace === ns);
  }

  netnsPath(ns: string, id: string): string {
    return join(this.opts.netnsDir, `${ns}-${id}`);
  }

  /** A new network namespace with the container on its network (idempotent: an existing set-up is returned). */
  setUp(req: SetupRequest): Promise<SandboxRecord> {
    return this.queue.run(keyOf(req.namespace, req.containerId), async () => {
      const existing = this.sandboxes.get(keyOf(req.namespace, req.containerId));
      if (existing) return existing;
      const sb: SandboxRecord = {
        namespace: req.namespace,
        containerId: req.containerId,
        name: req.name,
        hostname: req.hostname,
        netns: this.netnsPath(req.namespace, req.containerId),
        dns: req.dns,
        wanted: req.ports,
        ports: [],
        endpoints: [],
      };
      await removeNetns(sb.netns); // a leftover of a crash: never join a stale namespace
      await createNetns(sb.netns);
      try {
        // lo and eth0 are independent: up at the same time
        const [lo, eth0] = await Promise.allSettled([
          this.cni.add(LOOPBACK_LIST, { containerId: cniId(sb), netns: sb.netns, ifname: 'lo' }),
          this.attach(sb, req.network, { ip: req.ipv4, aliases: req.aliases, publish: true }),
        ]);
        if (eth0.status === 'rejected') throw eth0.reason;
        if (lo.status === 'rejected') {
          await this.detach(sb, sb.endpoints[0]!).catch(() => undefined);
          throw lo.reason;
        }
      } catch (err) {
        await this.cni.del(LOOPBACK_LIST, { containerId: cniId(sb), netns: sb.netns, ifname: 'lo' }).catch(() => undefined);
        await removeNetns(sb.netns).catch(() => undefined);
        await this.sandboxStore.remove(sb.namespace, sb.containerId).catch(() => undefined);
        this.sandboxes.delete(keyOf(sb.namespace, sb.containerId));
        throw err;
      }
      await this.changed(sb);
      return sb;
    });
  }

  /** Undoes setUp and every connect; nothing left of the container's networking. A no-op without a set-up. */
  tearDown(ns: string, id: string): Promise<void> {
    return this.queue.run(keyOf(ns, id), async () => {
      const sb = this.sandboxes.get(keyOf(ns, id));
      if (!sb) {
        await removeNetns(this.netnsPath(ns, id));
        return;
      }
      let failed: unknown;
      for (const ep of [...sb.endpoints].reverse()) {
        await this.detach(sb, ep).catch((err: unknown) => {
          failed ??= err;
          this.opts.log.warn({ err, network: ep.network, container: id }, 'networks: CNI DEL failed (the attachment stays cached and is retried at the next start)');
        });
      }
      await this.cni.del(LOOPBACK_LIST, { containerId: cniId(sb), netns: sb.netns, ifname: 'lo' }).catch((err: unknown) => (failed ??= err));
      await removeNetns(sb.netns);
      this.sandboxes.delete(keyOf(ns, id));
      await this.sandboxStore.remove(ns, id);
      if (failed) throw failed;
    });
  }

  /** `network connect`: the next ethN on another network. */
  connect(ns: string, id: string, ref: string, opts: { ip?: string; aliases?: string[] }): Promise<SandboxRecord> {
    return this.queue.run(keyOf(ns, id), async () => {
      const sb = this.sandboxes.get(keyOf(ns, id));
      if (!sb) throw failedPrecondition(`container ${id} has no network namespace of berth's (its network mode is host, none or container:…): it cannot be connected`);
      await this.attach(sb, ref, { ip: opts.ip ?? '', aliases: opts.aliases ?? [], publish: false });
      await this.changed(sb);
      return sb;
    });
  }

  /** `network disconnect`. */
  disconnect(ns: string, id: string, ref: string): Promise<SandboxRecord> {
    return this.queue.run(keyOf(ns, id), async () => {
      const sb = this.sandboxes.get(keyOf(ns, id));
      const net = await this.store.find(ref);
      const name = net?.name ?? ref;
      const ep = sb?.endpoints.find((e) => e.network === name);
      if (!sb || !ep) throw notFound(`container ${id} is not connected to network ${ref}`);
      await this.detach(sb, ep);
      await this.changed(sb);
      return sb;
    });
  }

  /** A renamed container: its DNS name follows (undefined when nothing changed). */
  rename(ns: string, id: string, name: string): Promise<SandboxRecord | undefined> {
    return this.queue.run(keyOf(ns, id), async () => {
      const sb = this.sandboxes.get(keyOf(ns, id));
      if (!sb || sb.name === name) return undefined;
      sb.name = name;
      await this.sandboxStore.write(sb);
      return sb;
    });
  }

  /** CNI CHECK of every endpoint of the container (throws the first plugin failure). */
  async check(ns: string, id: string): Promise<void> {
    const sb = await this.sandbox(ns, id);
    if (!sb) throw notFound(`container ${id} has no networking of berth's`);
    for (const ep of sb.endpoints) await this.cni.check({ networkName: ep.network, containerId: cniId(sb), netns: sb.netns, ifname: ep.ifname });
  }

  /** Waits for every queued operation (tests, shutdown). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  // ---- the work ----

  private async attach(sb: SandboxRecord, ref: string, opts: { ip: string; aliases: string[]; publish: boolean }): Promise<void> {
    // Resolve the network and count the attachment in, under the lock network rm takes.
    const net = await this.netLock.run('', async () => {
      const n = await this.store.get(ref === '' ? DEFAULT_NETWORK : ref);
      this.attaching.set(n.name, (this.attaching.get(n.name) ?? 0) + 1);
      return n;
    });
    try {
      if (sb.endpoints.some((e) => e.network === net.name)) throw conflict(`endpoint with name ${sb.name} already exists in network ${net.name}`);
      if (opts.aliases.length && net.builtin) throw invalidArgument('network-scoped alias is supported only for containers in user defined networks');
      if (opts.ip) {
        if (net.builtin) throw invalidArgument('user specified IP address is supported on user defined networks only');
        const ip = parseIPv4(opts.ip);
        if (ip === undefined) throw invalidArgument(`ip: invalid IPv4 address: ${opts.ip}`);
        if (!contains(parseCidr(net.subnet, 'subnet'), ip)) throw invalidArgument(`ip: ${opts.ip} is not in network ${net.name}'s subnet ${net.subnet}`);
        if (this.endpointsOn(net.name).some((e) => e.endpoint.ip === opts.ip)) throw conflict(`Address already in use: ${opts.ip} on network ${net.name}`);
      }
      const used = new Set(sb.endpoints.map((e) => e.ifname));
      let n = 0;
      while (used.has(`eth${n}`)) n++;
      const ep: EndpointRecord = {
        network: net.name,
        networkId: net.id,
        endpointId: randomBytes(32).toString('hex'),
        ifname: `eth${n}`,
        aliases: [...new Set(opts.aliases)],
        requestedIp: opts.ip,
        ip: '',
        prefixLen: 0,
        gateway: '',
        mac: '',
      };
      let ports: PortMapping[] = [];
      if (opts.publish && sb.wanted.length) ports = await this.allocatePorts(sb);
      // Recorded before ADD: a crash in between leaves a record the next start tears down.
      sb.endpoints.push(ep);
      sb.ports = [...sb.ports, ...ports];
      this.sandboxes.set(keyOf(sb.namespace, sb.containerId), sb);
      await this.sandboxStore.write(sb);
      let result: CniResult;
      try {
        result = await this.cni.add(this.store.conflist(net), {
          containerId: cniId(sb),
          netns: sb.netns,
          ifname: ep.ifname,
          args: opts.ip ? [['IP', opts.ip]] : [],
          capabilityArgs: ports.length ? { portMappings: ports.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, hostIP: p.hostIP })) } : {},
        });
      } catch (err) {
        sb.endpoints = sb.endpoints.filter((e) => e !== ep);
        sb.ports = sb.ports.filter((p) => !ports.includes(p));
        await this.sandboxStore.write(sb);
        throw err;
      }
      Object.assign(ep, addressOf(result, ep.ifname));
      await this.sandboxStore.write(sb);
      this.opts.log.debug({ container: sb.containerId, network: net.name, ip: ep.ip, ports }, 'networks: attached');
      await this.ensureDns(net);
    } finally {
      const left = (this.attaching.get(net.name) ?? 1) - 1;
      if (left > 0) this.attaching.set(net.name, left);
      else this.attaching.delete(net.name);
    }
  }

  /** Host ports for the container's -p/-P, one allocation at a time across containers. */
  private allocatePorts(sb: SandboxRecord): Promise<PortMapping[]> {
    return this.netLock.run('ports', async () => {
      const inUse = [...this.sandboxes.values()].filter((s) => s !== sb).flatMap((s) => s.ports);
      return this.ports.allocate(sb.wanted, inUse);
    });
  }

  private async detach(sb: SandboxRecord, ep: EndpointRecord): Promise<void> {
    const net = await this.store.find(ep.networkId);
    await this.cni.del(net ? this.store.conflist(net) : { cniVersion: '1.0.0', name: ep.network, plugins: [] }, { containerId: cniId(sb), netns: sb.netns, ifname: ep.ifname });
    const primary = sb.endpoints[0] === ep;
    sb.endpoints = sb.endpoints.filter((e) => e !== ep);
    // Ports are published through the first endpoint: they go with it.
    if (primary) sb.ports = [];
    if (sb.endpoints.length || this.sandboxes.has(keyOf(sb.namespace, sb.containerId))) await this.sandboxStore.write(sb);
  }

  /** Set up again after the namespace vanished: DEL what is cached (frees leases), then ADD anew. */
  private rebuild(old: SandboxRecord): Promise<SandboxRecord> {
    return this.queue.run(keyOf(old.namespace, old.containerId), async () => {
      for (const ep of [...old.endpoints].reverse()) {
        const entry = await this.cni.cached(ep.network, cniId(old), ep.ifname);
        if (entry) await this.cni.delCached(entry).catch((err: Error) => this.opts.log.warn({ err }, 'networks: DEL before set-up again failed'));
      }
      const sb: SandboxRecord = { ...old, ports: [], endpoints: [] };
      this.sandboxes.set(keyOf(sb.namespace, sb.containerId), sb);
      await removeNetns(sb.netns);
      await createNetns(sb.netns);
      await this.cni.add(LOOPBACK_LIST, { containerId: cniId(sb), netns: sb.netns, ifname: 'lo' });
      for (const [i, ep] of old.endpoints.entries()) {
        await this.attach(sb, ep.networkId, { ip: ep.requestedIp, aliases: ep.aliases, publish: i === 0 });
      }
      await this.changed(sb);
      return sb;
    });
  }

  private async changed(sb: SandboxRecord): Promise<void> {
    try {
      await this.opts.onChange?.(sb);
    } catch (err) {
      this.opts.log.warn({ err, container: sb.containerId }, 'networks: updating the container after a network change failed');
    }
  }

  // ---- names ----

  private async ensureDns(net: NetworkRecord): Promise<void> {
    if (!this.opts.dns || net.builtin || this.dnsServers.has(net.name)) return;
    const server = new DnsServer({
      address: net.gateway,
      ...(this.opts.dnsPort !== undefined ? { port: this.opts.dnsPort } : {}),
      lookups: {
        addresses: (name, source) => this.lookup(net.name, name, source),
        nameOf: (ip) => this.reverse(ip),
        upstreams: (source) => {
          const asker = this.bySource(source);
          return asker?.dns.length ? asker.dns : this.hostNameservers;
        },
      },
      log: this.opts.log,
    });
    this.dnsServers.set(net.name, server);
    try {
      await server.start();
      this.opts.log.info({ network: net.name, address: `${net.gateway}:${server.port}` }, 'networks: name server listening');
    } catch (err) {
      this.dnsServers.delete(net.name);
      this.opts.log.warn({ err, network: net.name }, 'networks: cannot start the name server');
    }
  }

  /** The DNS server of a network (tests). */
  dnsServer(network: string): DnsServer | undefined {
    return this.dnsServers.get(network);
  }

  private bySource(ip: string): SandboxRecord | undefined {
    for (const sb of this.sandboxes.values()) if (sb.endpoints.some((e) => e.ip === ip)) return sb;
    return undefined;
  }

  /**
   * Addresses of `name` as a container asking from `source` sees them: containers sharing one
   * of its user networks (else, a query from elsewhere, those on `via`), by name, alias or
   * short id; the address on the network the query came through first.
   */
  lookup(via: string, name: string, source: string): string[] {
    const q = name.toLowerCase().replace(/\.$/, '');
    const asker = this.bySource(source);
    const networks = new Set(asker ? asker.endpoints.map((e) => e.network) : [via]);
    networks.delete(DEFAULT_NETWORK);
    const hits: string[] = [];
    for (const sb of this.sandboxes.values()) {
      const names = [sb.name, sb.containerId.slice(0, 12)].map((s) => s.toLowerCase());
      for (const ep of sb.endpoints) {
        if (!networks.has(ep.network) || !ep.ip) continue;
        if (names.includes(q) || ep.aliases.some((a) => a.toLowerCase() === q)) {
          if (ep.network === via) hits.unshift(ep.ip);
          else hits.push(ep.ip);
        }
      }
    }
    return [...new Set(hits)];
  }

  private reverse(ip: string): string | undefined {
    for (const sb of this.sandboxes.values()) {
      const ep = sb.endpoints.find((e) => e.ip === ip && e.network !== DEFAULT_NETWORK);
      if (ep) return `${sb.name}.${ep.network}`;
    }
    return undefined;
  }
}

/** The CNI container id of a container: "<namespace>-<id>". */
export function cniId(sb: { namespace: string; containerId: string }): string {
  return `${sb.namespace}-${sb.containerId}`;
}

/** The container side of a CNI result: its address on `ifname`, gateway and MAC. */
export function addressOf(result: CniResult, ifname: string): Pick<EndpointRecord, 'ip' | 'prefixLen' | 'gateway' | 'mac'> {
  const ifaces = result.interfaces ?? [];
  const idx = ifaces.findIndex((i) => i.name === ifname && i.sandbox);
  const ipc = (result.ips ?? []).find((i) => i.interface === idx && !i.address.includes(':')) ?? (result.ips ?? []).find((i) => !i.address.includes(':'));
  const [ip = '', prefix = '0'] = (ipc?.address ?? '').split('/');
  return { ip, prefixLen: Number(prefix), gateway: ipc?.gateway ?? '', mac: idx >= 0 ? (ifaces[idx]!.mac ?? '') : '' };
}

/** The nameservers of a resolv.conf (all of them: berthd runs on the host, loopback ones work). */
export function readNameservers(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => !!s);
  } catch {
    return [];
  }
}

/** Deletes a network interface (a network's bridge); a missing one is fine. */
export async function deleteLink(name: string): Promise<void> {
  const r = await run('ip', ['link', 'delete', name]);
  if (!r.ok && !/Cannot find device|does not exist/i.test(r.stderr)) throw new Error(`ip link delete ${name}: ${r.stderr.trim()}`);
}
