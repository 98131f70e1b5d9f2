// core/networks' NetworkManager against the real CNI plugins (Debian's bridge, host-local,
// portmap, firewall), as root, with its own bridges and subnets: set-up and exact teardown,
// ports as iptables rules, CHECK, user networks and their name server (asked from the host and
// from inside a namespace), connect/disconnect, network rm, recovery after a "reboot" and of
// an orphaned attachment, and the errors.

import { execFile, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetworkManager, type SetupRequest } from '../src/core/networks/manager';
import { isNetns, removeNetns } from '../src/core/networks/netns';
import { TYPE_A, buildQuery, parseReply } from '../src/core/networks/dns-message';
import { bridgePorts, deleteLink, freshBridgeName, freshSubnet, iptablesChains, iptablesRules, removeNewChains } from '../../e2e/test/support/host-net';

const silent = { info: () => undefined, warn: () => undefined, debug: () => undefined };
const ns = 'testns';

let dir: string;
let chainsBefore: Set<string>;
const bridges: string[] = [];
const defaultBridge = freshBridgeName('bt');
const defaultNet = freshSubnet();
const managers: NetworkManager[] = [];

function manager(extra: Partial<ConstructorParameters<typeof NetworkManager>[0]> = {}): NetworkManager {
  const m = new NetworkManager({
    dir: join(dir, 'root', 'networks'),
    netnsDir: join(dir, 'state', 'netns'),
    pluginDirs: ['/usr/lib/cni'],
    defaultBridge,
    defaultSubnet: defaultNet.subnet,
    dns: true,
    log: silent,
    ...extra,
  });
  managers.push(m);
  return m;
}

const req = (id: string, over: Partial<SetupRequest> = {}): SetupRequest => ({
  namespace: ns,
  containerId: id,
  name: `c-${id}`,
  hostname: id,
  network: 'bridge',
  aliases: [],
  ipv4: '',
  ports: [],
  dns: [],
  ...over,
});

/** A command run without blocking the event loop (the name server under test lives in this process). */
function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: 20_000 }, (_e, stdout) => resolve(String(stdout))));
}

/** `ip -4 -o addr` inside a namespace: "eth0 10.x.y.z/24" lines. */
function addrsIn(netns: string): string[] {
  const r = spawnSync('nsenter', [`--net=${netns}`, 'ip', '-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(1, 4).filter((_, i) => i !== 1).join(' '));
}

function leases(network: string): string[] {
  const d = join(dir, 'root', 'networks', 'ipam', network);
  return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
}

function query(server: string, name: string, timeoutMs = 3000): Promise<ReturnType<typeof parseReply>> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no answer from ${server} for ${name}`));
    }, timeoutMs);
    s.on('message', (b) => {
      clearTimeout(timer);
      s.close();
      resolve(parseReply(b));
    });
    s.send(buildQuery(42, name, TYPE_A), 53, server);
  });
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('networks-cni.test.ts needs root (real CNI plugins, network namespaces)');
  dir = mkdtempSync(join(tmpdir(), 'netcni-'));
  chainsBefore = iptablesChains();
  bridges.push(defaultBridge);
});

afterAll(async () => {
  for (const m of managers) {
    for (const sb of [...m.sandboxesOf(ns)]) await m.tearDown(ns, sb.containerId).catch(() => undefined);
    await m.close();
  }
  for (const b of bridges) deleteLink(b);
  removeNewChains(chainsBefore);
  for (const st of ['state', 'state2', 'state3']) spawnSync('umount', ['-l', join(dir, st, 'netns')]);
  rmSync(dir, { recursive: true, force: true });
});

describe('NetworkManager over real CNI plugins', () => {
  let m: NetworkManager;
  let baseline: string[];
  /** iptables rules that are this test's: naming its default subnet (other tests may run beside). */
  const ourRules = () => iptablesRules().split('\n').filter((l) => l.includes(`${defaultNet.prefix}.`) || l.includes(defaultBridge) || l.includes(`${ns}-`));

  it('makes the default network with the configured bridge and subnet, as a conflist on disk', async () => {
    m = manager();
    await m.init(() => true);
    const net = await m.getNetwork('bridge');
    expect(net).toMatchObject({ name: 'bridge', bridge: defaultBridge, subnet: defaultNet.subnet, gateway: defaultNet.gateway, builtin: true });
    const list = JSON.parse(readFileSync(join(dir, 'root', 'networks', 'bridge.conflist'), 'utf8'));
    expect(list.plugins.map((p: { type: string }) => p.type)).toEqual(['bridge', 'portmap', 'firewall']);
    expect(list.plugins[0].ipam.dataDir).toBe(join(dir, 'root', 'networks', 'ipam'));
  });

  it('a warm-up set-up and teardown (the plugins make their chains once)', async () => {
    await m.setUp(req('warm', { ports: [{ key: '80/tcp', binding: { HostIp: '', HostPort: '' } }] }));
    await m.tearDown(ns, 'warm');
    baseline = ourRules();
  });

  it('sets a container up: its own netns with eth0, a lease, a cached result, published ports as rules', async () => {
    const sb = await m.setUp(req('a1', { ports: [{ key: '80/tcp', binding: { HostIp: '127.0.0.1', HostPort: '' } }, { key: '53/udp', binding: { HostIp: '', HostPort: '' } }] }));
    expect(await isNetns(sb.netns)).toBe(true);
    expect(sb.netns).toBe(join(dir, 'state', 'netns', `${ns}-a1`));
    const ep = sb.endpoints[0]!;
    expect(ep).toMatchObject({ network: 'bridge', ifname: 'eth0', gateway: defaultNet.gateway, prefixLen: 24 });
    expect(ep.ip.startsWith(`${defaultNet.prefix}.`)).toBe(true);
    expect(ep.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(addrsIn(sb.netns)).toContain(`eth0 ${ep.ip}/24`);
    expect(addrsIn(sb.netns)).toContain('lo 127.0.0.1/8'); // the loopback plugin
    expect(leases('bridge')).toEqual([ep.ip]);
    expect(bridgePorts(defaultBridge)).toHaveLength(1);
    expect(sb.ports).toHaveLength(2);
    const [tcp, udp] = sb.ports;
    expect(tcp).toMatchObject({ hostIP: '127.0.0.1', containerPort: 80, protocol: 'tcp' });
    const rules = iptablesRules();
    expect(ourRules().length).toBeGreaterThan(baseline.length);
    expect(rules).toContain(`--dport ${tcp!.hostPort}`);
    expect(rules).toContain(`--dport ${udp!.hostPort}`);
    expect(readdirSync(join(dir, 'root', 'networks', 'cache')).sort()).toEqual([`berth-loopback-${ns}-a1-lo.json`, `bridge-${ns}-a1-eth0.json`]);
  });

  it('CHECK passes for a set-up container (one without ports: Debian\'s portmap 1.1.1 fails CHECK of IPv4-only mappings, containernetworking/plugins#819)', async () => {
    await m.setUp(req('c1'));
    await m.check(ns, 'c1');
    await m.tearDown(ns, 'c1');
    await expect(m.check(ns, 'c1')).rejects.toThrow(/has no networking/);
  });

  it('a second container gets another address; an explicit port already published is refused', async () => {
    const a1 = (await m.sandbox(ns, 'a1'))!;
    await expect(m.setUp(req('a2', { ports: [{ key: '81/tcp', binding: { HostIp: '', HostPort: String(a1.ports[0]!.hostPort) } }] }))).rejects.toThrow(/port is already allocated/);
    expect(await isNetns(m.netnsPath(ns, 'a2'))).toBe(false);
    const a2 = await m.setUp(req('a2'));
    expect(a2.endpoints[0]!.ip).not.toBe(a1.endpoints[0]!.ip);
  });

  it('teardown is exact: no veth, netns, rule, lease or cache entry is left', async () => {
    await m.tearDown(ns, 'a1');
    await m.tearDown(ns, 'a2');
    expect(bridgePorts(defaultBridge)).toEqual([]);
    expect(existsSync(m.netnsPath(ns, 'a1'))).toBe(false);
    expect(ourRules()).toEqual(baseline);
    expect(leases('bridge')).toEqual([]);
    expect(readdirSync(join(dir, 'root', 'networks', 'cache'))).toEqual([]);
    expect(readdirSync(join(dir, 'root', 'networks', 'containers', ns))).toEqual([]);
    await m.tearDown(ns, 'a1'); // again: nothing to do
  });

  it('user networks: explicit and picked subnets, overlaps refused, names checked', async () => {
    const s = freshSubnet();
    const net = await m.createNetwork({ name: 'front', subnet: s.subnet, ipRange: `${s.prefix}.128/25`, labels: { a: 'b' } });
    bridges.push(net.bridge);
    expect(net).toMatchObject({ name: 'front', subnet: s.subnet, gateway: s.gateway, ipRange: `${s.prefix}.128/25`, labels: { a: 'b' }, internal: false });
    expect(net.bridge).toBe(`br-${net.id.slice(0, 12)}`);
    await expect(m.createNetwork({ name: 'front' })).rejects.toThrow('network with name front already exists');
    await expect(m.createNetwork({ name: 'other', subnet: s.subnet })).rejects.toThrow(/overlaps with other one/);
    await expect(m.createNetwork({ name: 'bad/name' })).rejects.toThrow(/invalid network name "bad\/name"/);
    await expect(m.createNetwork({ name: 'host' })).rejects.toThrow(/already exists/);
    await expect(m.createNetwork({ name: 'x', driver: 'overlay' })).rejects.toThrow(/only the bridge driver/);
    await expect(m.createNetwork({ name: 'x', gateway: '1.2.3.4' })).rejects.toThrow(/need --subnet/);
    expect((await m.getNetwork(net.id.slice(0, 6))).name).toBe('front');
    await expect(m.getNetwork('nope')).rejects.toThrow('network nope not found');
  });

  it('names on a user network: the name server on the gateway answers names, aliases and short ids; nslookup from inside works', async () => {
    const net = await m.getNetwork('front');
    const web = await m.setUp(req('web0000000000001', { name: 'web', network: 'front', aliases: ['www', 'Site'] }));
    const db = await m.setUp(req('db00000000000002', { name: 'db', network: 'front', ipv4: `${net.gateway.replace(/\.1$/, '.200')}` }));
    expect(db.endpoints[0]!.ip).toBe(net.gateway.replace(/\.1$/, '.200'));
    expect(Number(web.endpoints[0]!.ip.split('.')[3])).toBeGreaterThanOrEqual(128); // --ip-range
    const ip = web.endpoints[0]!.ip;
    expect((await query(net.gateway, 'web')).answers).toEqual([{ type: TYPE_A, data: ip }]);
    expect((await query(net.gateway, 'www')).answers).toEqual([{ type: TYPE_A, data: ip }]);
    expect((await query(net.gateway, 'site.')).answers).toEqual([{ type: TYPE_A, data: ip }]);
    expect((await query(net.gateway, 'web000000000')).answers).toEqual([{ type: TYPE_A, data: ip }]);
    // from inside db's namespace, with busybox's own resolver
    expect(await sh('nsenter', [`--net=${db.netns}`, 'busybox', 'nslookup', 'web', net.gateway])).toContain(`Address: ${ip}`);
  });

  it('an unknown name is forwarded to the container\'s --dns servers (here: a fake upstream), else SERVFAIL', async () => {
    const upstream = dgram.createSocket('udp4');
    await new Promise<void>((res) => upstream.bind(0, '127.0.0.1', () => res()));
    upstream.on('message', (msg, rinfo) => {
      // answer everything with 192.0.2.99
      const reply = Buffer.concat([msg.subarray(0, 2), Buffer.from([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), msg.subarray(12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 99])]);
      upstream.send(reply, rinfo.port, rinfo.address);
    });
    const s = freshSubnet();
    // the host's own queries go to a closed loopback port: never to the machine's real resolvers
    const m2 = manager({ dir: join(dir, 'root2', 'networks'), netnsDir: join(dir, 'state2', 'netns'), defaultBridge: freshBridgeName('bt'), defaultSubnet: s.subnet, upstreams: ['127.0.0.1:9'] });
    bridges.push((m2 as unknown as { opts: { defaultBridge: string } }).opts.defaultBridge);
    await m2.init(() => true);
    const t = freshSubnet();
    const net = await m2.createNetwork({ name: 'fwd', subnet: t.subnet });
    bridges.push(net.bridge);
    const c = await m2.setUp(req('f1', { network: 'fwd', dns: [`127.0.0.1:${upstream.address().port}`] }));
    // asked from the container (its --dns is the fake upstream)
    expect(await sh('nsenter', [`--net=${c.netns}`, 'busybox', 'nslookup', 'example.invalid', net.gateway])).toContain('192.0.2.99');
    upstream.close();
    // asked from the host (no container's --dns): the configured upstream, closed: SERVFAIL after its 2 s
    const t0 = Date.now();
    expect((await query(net.gateway, 'example.invalid', 8000)).rcode).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    await m2.tearDown(ns, 'f1');
    await m2.removeNetwork('fwd');
  }, 30_000);

  it('connect and disconnect: eth1 comes and goes; names follow', async () => {
    const s = freshSubnet();
    const back = await m.createNetwork({ name: 'back', subnet: s.subnet, internal: true });
    bridges.push(back.bridge);
    const sb = await m.connect(ns, 'web0000000000001', 'back', { aliases: ['api'] });
    expect(sb.endpoints.map((e) => [e.network, e.ifname])).toEqual([['front', 'eth0'], ['back', 'eth1']]);
    const eth1 = sb.endpoints[1]!;
    expect(addrsIn(sb.netns)).toContain(`eth1 ${eth1.ip}/24`);
    // internal: no default route through it
    const routes = spawnSync('nsenter', [`--net=${sb.netns}`, 'ip', 'route'], { encoding: 'utf8' }).stdout;
    expect(routes).not.toContain(`default via ${back.gateway}`);
    await expect(m.connect(ns, 'web0000000000001', 'back', {})).rejects.toThrow(/already exists in network back/);
    expect((await query(back.gateway, 'api')).answers).toEqual([{ type: TYPE_A, data: eth1.ip }]);
    await m.disconnect(ns, 'web0000000000001', 'back');
    expect(addrsIn(sb.netns).some((l) => l.startsWith('eth1'))).toBe(false);
    expect(leases('back')).toEqual([]);
    await expect(m.disconnect(ns, 'web0000000000001', 'back')).rejects.toThrow(/is not connected to network back/);
  });

  it('network rm: refused with endpoints; then the bridge goes', async () => {
    await expect(m.removeNetwork('front')).rejects.toThrow(/has active endpoints/);
    await expect(m.removeNetwork('bridge')).rejects.toThrow('bridge is a pre-defined network and cannot be removed');
    const front = await m.getNetwork('front');
    await m.tearDown(ns, 'web0000000000001');
    await m.tearDown(ns, 'db00000000000002');
    await m.removeNetwork('front');
    expect(spawnSync('ip', ['link', 'show', front.bridge]).status).not.toBe(0);
    expect(existsSync(join(dir, 'root', 'networks', 'front.conflist'))).toBe(false);
    expect((await m.pruneNetworks()).map((n) => n.name)).toEqual(['back']);
    expect((await m.listNetworks()).map((n) => n.name)).toEqual(['bridge']);
  });

  it('errors name what is wrong', async () => {
    await expect(m.setUp(req('e1', { aliases: ['x'] }))).rejects.toThrow('network-scoped alias is supported only for containers in user defined networks');
    await expect(m.setUp(req('e2', { network: 'nope' }))).rejects.toThrow('network nope not found');
    const bad = manager({ dir: join(dir, 'root3', 'networks'), netnsDir: join(dir, 'state3', 'netns'), pluginDirs: [join(dir, 'no-plugins')], defaultBridge: freshBridgeName('bt'), defaultSubnet: freshSubnet().subnet });
    await bad.init(() => true);
    await expect(bad.setUp(req('e3'))).rejects.toThrow(`failed to find plugin "bridge" in path [${join(dir, 'no-plugins')}]`);
    expect(await isNetns(bad.netnsPath(ns, 'e3'))).toBe(false);
  });

  it('recovery: a vanished namespace is set up again, a gone container torn down, an orphaned attachment deleted', async () => {
    const a = await m.setUp(req('r1'));
    await m.setUp(req('r2'));
    await m.setUp(req('r3'));
    const oldIp = a.endpoints[0]!.ip;
    await m.close();
    // "reboot": r1's namespace is gone (its veth with it), and so are its iptables rules (the
    // bridge plugin finds the masquerade rules to delete through the interface in the netns,
    // so without a real reboot they would stay)
    await removeNetns(a.netns);
    for (const rule of spawnSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' }).stdout.split('\n')) {
      if (rule.startsWith('-A POSTROUTING') && rule.includes(`${ns}-r1`)) spawnSync('sh', ['-c', `iptables -t nat ${rule.replace(/^-A/, '-D')}`]);
    }
    // crash: r3's record is lost, its CNI attachment remains
    rmSync(join(dir, 'root', 'networks', 'containers', ns, 'r3.json'));
    const again = manager();
    await again.init((_n, id) => id !== 'r2');
    const r1 = (await again.sandbox(ns, 'r1'))!;
    expect(await isNetns(r1.netns)).toBe(true);
    expect(addrsIn(r1.netns).some((l) => l.startsWith('eth0 '))).toBe(true);
    expect(leases('bridge')).toHaveLength(1); // r1's new lease; the old one freed (oldIp may be reused)
    expect(leases('bridge')[0]).toBe(r1.endpoints[0]!.ip);
    void oldIp;
    expect(await again.sandbox(ns, 'r2')).toBeUndefined();
    expect(existsSync(again.netnsPath(ns, 'r2'))).toBe(false);
    expect(readdirSync(join(dir, 'root', 'networks', 'cache')).sort()).toEqual([`berth-loopback-${ns}-r1-lo.json`, `bridge-${ns}-r1-eth0.json`]);
    expect(existsSync(again.netnsPath(ns, 'r3'))).toBe(false);
    await again.tearDown(ns, 'r1');
    expect(bridgePorts(defaultBridge)).toEqual([]);
  });
});
