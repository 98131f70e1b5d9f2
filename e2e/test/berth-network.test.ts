import { spawn } from 'child_process';
import * as dgram from 'dgram';
import * as http from 'http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'fs';
import { hostname, networkInterfaces, tmpdir } from 'os';
import { join } from 'path';
import { requireRoot, type Result } from './support/env';
import { PrivateBerthd } from './support/berthd';
import { berthOk, berthRun, untilValue as until } from './support/berth-cli';
import { freePort } from './support/registry';
import { buildImage, type Image } from './support/image';
import { bridgePorts, freshSubnet, iptablesChains, iptablesRules, links, removeNewChains } from './support/host-net';

// berth's networking end to end, with bin/berth against a private berthd (its own default
// bridge and subnet, see support/berthd.ts) and Debian's real CNI plugins: ports published to
// the host (TCP through node's http, UDP through a datagram, -P to free ports), user networks
// whose containers find each other by name and alias (busybox wget and nslookup through berthd's
// name server), the network modes none, host and container:, --link's environment and hosts
// line, the /etc files' options, the `network` commands, and 20 create/rm cycles that leave no
// veth, network namespace, iptables rule, IPAM lease or CNI cache entry behind. Test networks
// use /24s in 10.128.0.0/9 that no host route overlaps. The scratch dir avoids "berth".

const IMG = 'berth-e2e/busybox';

let d: PrivateBerthd;
let image: Image;
let scratch: string;
let chainsBefore: Set<string>;

const berth = (args: string[], opts: { timeoutMs?: number } = {}): Promise<Result> => berthRun(d, args, { timeoutMs: opts.timeoutMs ?? 30_000 });

const ok = async (args: string[]): Promise<string> => (await berthOk(d, args)).trim();

/** GET http://host:port/path from the host with node's http client: status and body, or undefined. */
function get(host: string, port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

const networkDir = () => join(d.root, 'networks');
const leases = (network: string): string[] => {
  const dir = join(networkDir(), 'ipam', network);
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
};
const netnsFiles = (): string[] => (existsSync(join(d.state, 'netns')) ? readdirSync(join(d.state, 'netns')) : []);
const cacheFiles = (): string[] => (existsSync(join(networkDir(), 'cache')) ? readdirSync(join(networkDir(), 'cache')) : []);

beforeAll(async () => {
  requireRoot();
  chainsBefore = iptablesChains();
  d = new PrivateBerthd();
  scratch = mkdtempSync(join(tmpdir(), 'netw-'));
  image = buildImage();
  await d.start();
  expect((await berth(['load', '-i', image.tar])).code).toBe(0);
}, 60_000);

afterAll(async () => {
  if (d) {
    const all = (await berth(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (all.length) await berth(['rm', '-f', ...all]);
    await berth(['network', 'prune', '-f']);
    await d.cleanup();
  }
  image?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  removeNewChains(chainsBefore);
}, 90_000);

describe('published ports', () => {
  test('busybox httpd with -p 127.0.0.1:PORT:80, fetched from the host; port, ps and inspect show it', async () => {
    const port = await freePort();
    const id = await ok(['run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, IMG, 'httpd', '-f', '-p', '80', '-h', '/etc']);
    const page = await until('the published httpd', () => get('127.0.0.1', port, '/hostname'));
    expect(page).toEqual({ status: 200, body: `${id.slice(0, 12)}\n` });

    expect(await ok(['port', 'web'])).toBe(`80/tcp -> 127.0.0.1:${port}`);
    expect(await ok(['port', 'web', '80'])).toBe(`127.0.0.1:${port}`);
    const noPort = await berth(['port', 'web', '81/udp']);
    expect([noPort.code, noPort.stderr.trim()]).toEqual([1, "berth: No public port '81/udp' published for web"]);
    expect((await ok(['ps', '--format', '{{.Names}} {{.Ports}} {{.Networks}}', '-f', 'name=^web$']))).toBe(`web 127.0.0.1:${port}->80/tcp bridge`);

    const bridge = JSON.parse(await ok(['network', 'inspect', 'bridge']))[0];
    expect(bridge).toMatchObject({ Name: 'bridge', Driver: 'bridge', Scope: 'local', IPAM: { Config: [{ Subnet: d.subnet }] }, Options: { 'com.docker.network.bridge.name': d.bridge } });
    expect(bridge.Containers[id]).toMatchObject({ Name: 'web' });
    const ns = JSON.parse(await ok(['inspect', '-f', '{{json .NetworkSettings}}', 'web']));
    const prefix = d.subnet.replace(/\.0\/24$/, '.');
    expect(ns.IPAddress.startsWith(prefix)).toBe(true);
    expect(ns).toMatchObject({ Gateway: `${prefix}1`, IPPrefixLen: 24, Ports: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } });
    expect(ns.MacAddress).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(ns.Networks.bridge).toMatchObject({ IPAddress: ns.IPAddress, Gateway: ns.Gateway, MacAddress: ns.MacAddress, NetworkID: bridge.Id });
    expect(ns.SandboxKey).toBe(join(d.state, 'netns', `default-${id}`));
    expect(bridge.Containers[id].IPv4Address).toBe(`${ns.IPAddress}/24`);
    expect(await ok(['inspect', '-f', '{{.HostConfig.NetworkMode}} {{json .HostConfig.PortBindings}}', 'web'])).toBe(`bridge {"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"${port}"}]}`);

    // the same host port again: refused, Docker's message, nothing left of the attempt
    const again = await berth(['run', '-d', '--name', 'web2', '-p', `127.0.0.1:${port}:80`, IMG, 'true']);
    expect(again.code).toBe(125);
    expect(again.stderr).toContain(`Bind for 127.0.0.1:${port} failed: port is already allocated`);
    expect(await ok(['ps', '-aq', '-f', 'name=web2'])).toBe('');
  });

  test('-p PORT:80 on every address: reachable from the host at 127.0.0.1 and at its own address, and from another container', async () => {
    // this machine's own (non-loopback) IPv4 address: traffic to it never leaves the host
    const hostIp = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    expect(hostIp).toBeDefined();
    const port = await freePort();
    const id = await ok(['run', '-d', '--name', 'anyaddr', '-p', `${port}:80`, IMG, 'httpd', '-f', '-p', '80', '-h', '/etc']);
    const want = { status: 200, body: `${id.slice(0, 12)}\n` };
    expect(await until('the httpd on 127.0.0.1', () => get('127.0.0.1', port, '/hostname'))).toEqual(want);
    expect(await until('the httpd on the host address', () => get(hostIp!, port, '/hostname'))).toEqual(want);
    expect(await ok(['run', '--rm', IMG, 'wget', '-qO-', `http://${hostIp}:${port}/hostname`])).toBe(id.slice(0, 12));
    expect(await ok(['port', 'anyaddr', '80'])).toContain(`0.0.0.0:${port}`);
    await ok(['rm', '-f', 'anyaddr']);
    expect(await get('127.0.0.1', port, '/hostname')).toBeUndefined();
  });

  test('-P publishes the image\'s EXPOSEd ports (and --expose) to free host ports', async () => {
    // an image with EXPOSE 80: the test image's files, imported with a Dockerfile change
    const tmp = await ok(['create', IMG, 'true']);
    const tar = join(scratch, 'rootfs.tar');
    await ok(['export', '-o', tar, tmp]);
    await ok(['rm', tmp]);
    await ok(['import', '-c', 'EXPOSE 80', '-c', 'CMD ["httpd", "-f", "-p", "80", "-h", "/etc"]', tar, 'exposed:v1']);
    const id = await ok(['run', '-d', '--name', 'pall', '-P', '--expose', '7000/udp', 'exposed:v1']);
    const lines = (await ok(['port', 'pall'])).split('\n');
    expect(lines).toHaveLength(2);
    const [, tcpPort] = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(lines[0]!)!;
    expect(lines[1]).toMatch(/^7000\/udp -> 0\.0\.0\.0:\d+$/);
    const [lo, hi] = require('fs').readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    expect(Number(tcpPort)).toBeGreaterThanOrEqual(lo);
    expect(Number(tcpPort)).toBeLessThanOrEqual(hi);
    const page = await until('the -P httpd', () => get('127.0.0.1', Number(tcpPort), '/hostname'));
    expect(page!.body).toBe(`${id.slice(0, 12)}\n`);
    expect(await ok(['inspect', '-f', '{{json .Config.ExposedPorts}} {{.HostConfig.PublishAllPorts}}', 'pall'])).toBe('{"7000/udp":{},"80/tcp":{}} true');
  });

  test('UDP: a datagram sent to the published port reaches a server in the container\'s network namespace, and its answer comes back', async () => {
    // Debian's busybox nc has no -u and the image has no other UDP server: a UDP echo server
    // (node) runs in the container's network namespace through nsenter — the path a datagram
    // takes (portmap's DNAT into the namespace, the reply NATed back) is the container's.
    const port = await freePort();
    await ok(['run', '-d', '--name', 'udp', '-p', `127.0.0.1:${port}:5353/udp`, IMG, 'sleep', '1000']);
    const netns = await ok(['inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'udp']);
    const echo = spawn('nsenter', [`--net=${netns}`, process.execPath, '-e', "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m.toString().toUpperCase(),r.port,r.address));s.bind(5353,()=>console.log('ready'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sock = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => echo.stdout!.once('data', () => resolve()));
      const answer = await until(
        'the echo through the published UDP port',
        () =>
          new Promise<string | undefined>((resolve) => {
            const timer = setTimeout(() => resolve(undefined), 500);
            sock.once('message', (m) => {
              clearTimeout(timer);
              resolve(m.toString());
            });
            sock.send('hello over udp', port, '127.0.0.1');
          }),
      );
      expect(answer).toBe('HELLO OVER UDP');
    } finally {
      sock.close();
      echo.kill('SIGKILL');
    }
    expect(await ok(['port', 'udp'])).toBe(`5353/udp -> 127.0.0.1:${port}`);
  });
});

describe('user networks and names', () => {
  let subnet: ReturnType<typeof freshSubnet>;

  test('network create / ls / inspect; two containers reach each other by name and alias (wget, nslookup)', async () => {
    subnet = freshSubnet();
    const netId = await ok(['network', 'create', '--subnet', subnet.subnet, '--label', 'team=a', 'front']);
    expect(netId).toMatch(/^[0-9a-f]{64}$/);
    expect(await ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}', '-f', 'name=front'])).toBe('front bridge');
    expect((await ok(['network', 'ls', '-q', '-f', 'type=custom'])).split('\n')).toEqual([netId.slice(0, 12)]);
    expect((await ok(['network', 'ls', '--format', '{{.Name}}'])).split('\n')).toEqual(['bridge', 'front', 'host', 'none']);

    // alpha is started before beta: beta's name must resolve in alpha all the same
    await ok(['run', '-d', '--name', 'alpha', '--network', 'front', IMG, 'sleep', '1000']);
    const bId = await ok(['run', '-d', '--name', 'beta', '--network', 'front', '--network-alias', 'www', IMG, 'httpd', '-f', '-p', '80', '-h', '/etc']);
    const bIp = await ok(['inspect', '-f', '{{.NetworkSettings.Networks.front.IPAddress}}', 'beta']);
    expect(bIp.startsWith(`${subnet.prefix}.`)).toBe(true);
    expect(await ok(['exec', 'alpha', 'cat', '/etc/resolv.conf'])).toContain(`nameserver ${subnet.gateway}`);
    const ns = await ok(['exec', 'alpha', 'busybox', 'nslookup', 'beta']);
    expect(ns).toMatch(new RegExp(`Name:\\s+beta\\nAddress: ${bIp.replace(/\./g, '\\.')}`));
    expect(await ok(['exec', 'alpha', 'busybox', 'nslookup', 'www'])).toContain(`Address: ${bIp}`);
    const page = await until('beta by name', async () => {
      const r = await berth(['exec', 'alpha', 'wget', '-qO-', 'http://beta/hostname']);
      return r.code === 0 ? r.stdout : undefined;
    });
    expect(page).toBe(`${bId.slice(0, 12)}\n`);
    expect(await ok(['exec', 'alpha', 'wget', '-qO-', 'http://www/hostname'])).toBe(bId.slice(0, 12));
    // beta's own /etc/hosts: its address with its hostname, name and alias
    expect(await ok(['exec', 'beta', 'cat', '/etc/hosts'])).toContain(`${bIp}\t${bId.slice(0, 12)} beta www`);

    const doc = JSON.parse(await ok(['network', 'inspect', 'front']))[0];
    expect(doc).toMatchObject({ Name: 'front', Id: netId, Labels: { team: 'a' }, Internal: false, IPAM: { Config: [{ Subnet: subnet.subnet, Gateway: subnet.gateway }] } });
    expect(Object.values(doc.Containers).map((c: any) => c.Name).sort()).toEqual(['alpha', 'beta']);
    // a rename: the name server follows
    await ok(['rename', 'beta', 'gamma']);
    expect(await until('gamma by name', async () => ((await berth(['exec', 'alpha', 'busybox', 'nslookup', 'gamma'])).stdout.includes(`Address: ${bIp}`) ? true : undefined))).toBe(true);
    await ok(['rename', 'gamma', 'beta']);
    // names stay on their network: the default network's containers do not see them
    const outside = await berth(['run', '--rm', IMG, 'busybox', 'nslookup', 'beta', subnet.gateway]);
    expect(outside.stdout).not.toContain(`Address: ${bIp}`);
  });

  test('connect / disconnect: a second interface comes and goes, with its alias; rm of a network in use is refused', async () => {
    const back = freshSubnet();
    await ok(['network', 'create', '--subnet', back.subnet, '--internal', 'back']);
    const t0 = Date.now();
    await ok(['network', 'connect', '--alias', 'api', '--ip', `${back.prefix}.77`, 'back', 'alpha']);
    const ms = Date.now() - t0;
    expect(await ok(['exec', 'alpha', 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth1'])).toContain(`inet ${back.prefix}.77/24`);
    // internal: no default route through it
    expect(await ok(['exec', 'alpha', 'busybox', 'ip', 'route'])).not.toContain(`default via ${back.gateway}`);
    expect(await ok(['inspect', '-f', '{{json .NetworkSettings.Networks.back.Aliases}}', 'alpha'])).toBe('["api"]');
    const rmInUse = await berth(['network', 'rm', 'back']);
    expect(rmInUse.code).toBe(1);
    expect(rmInUse.stderr).toMatch(/network back id [0-9a-f]{64} has active endpoints/);
    await ok(['network', 'disconnect', 'back', 'alpha']);
    expect((await berth(['exec', 'alpha', 'busybox', 'ip', '-o', 'link', 'show', 'eth1'])).code).not.toBe(0);
    expect(leases('back')).toEqual([]);
    const bridge = JSON.parse(await ok(['network', 'inspect', 'back']))[0].Options['com.docker.network.bridge.name'];
    await ok(['network', 'rm', 'back']);
    expect(links()).not.toContain(bridge);
    expect(ms).toBeLessThan(5000);
  });

  test('bad input names what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['run', '--network', 'nope', IMG, 'true'], /network nope not found/],
      [['run', '--ip', '10.1.2.3', IMG, 'true'], /user specified IP address is supported on user defined networks only/],
      [['run', '--network-alias', 'x', IMG, 'true'], /network-scoped alias is supported only for containers in user defined networks/],
      [['run', '-p', '80/icmp', IMG, 'true'], /invalid proto: icmp/],
      [['run', '--network', 'container:alpha', '-p', '80', IMG, 'true'], /conflicting options: port publishing and the container type network mode/],
      [['network', 'create', '--subnet', '10.1.2.3/24', 'x'], /invalid subnet 10\.1\.2\.3\/24: it should be 10\.1\.2\.0\/24/],
      [['network', 'create', '--subnet', subnet.subnet, 'overlap'], /overlaps with other one/],
      [['network', 'create', 'front'], /network with name front already exists/],
      [['network', 'rm', 'bridge'], /bridge is a pre-defined network and cannot be removed/],
    ];
    for (const [args, want] of cases) {
      const r = await berth(args);
      expect([args.join(' '), r.code === 0, want.test(r.stderr) ? 'ok' : r.stderr]).toEqual([args.join(' '), false, 'ok']);
    }
    expect(await ok(['ps', '-aq', '-f', 'status=created'])).toBe('');
  });
});

describe('network rm after rm', () => {
  test('rm of the containers, then network rm at once: the teardowns are waited for, the bridge goes', async () => {
    const bridge = JSON.parse(await ok(['network', 'inspect', 'front']))[0].Options['com.docker.network.bridge.name'];
    expect(links()).toContain(bridge);
    await ok(['rm', '-f', 'alpha', 'beta']);
    expect(await ok(['network', 'rm', 'front'])).toBe('front');
    expect(links()).not.toContain(bridge);
    expect(leases('front')).toEqual([]);
    expect(existsSync(join(networkDir(), 'front.conflist'))).toBe(false);
  });
});

describe('network modes, links and /etc files', () => {
  test('none has only lo; host sees the host\'s interfaces and name; container: shares the other\'s address', async () => {
    expect((await ok(['run', '--rm', '--network', 'none', IMG, 'busybox', 'ip', '-o', 'link'])).split('\n').map((l) => l.split(':')[1]!.trim())).toEqual(['lo']);
    const hostLinks = (await ok(['run', '--rm', '--network', 'host', IMG, 'busybox', 'ip', '-o', 'link'])).split('\n').map((l) => l.split(':')[1]!.trim().split('@')[0]);
    expect(hostLinks.sort()).toEqual(links());
    expect(await ok(['run', '--rm', '--network', 'host', IMG, 'hostname'])).toBe(hostname());
    const webIp = await ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'web']);
    expect(await ok(['run', '--rm', '--network', 'container:web', IMG, 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toContain(`inet ${webIp}/24`);
    // and reaches web's server on its own loopback
    expect(await ok(['run', '--rm', '--network', 'container:web', IMG, 'wget', '-qO-', 'http://127.0.0.1/hostname'])).toBe((await ok(['inspect', '-f', '{{.Config.Hostname}}', 'web'])));
  });

  test('--link name:alias: Docker\'s environment variables and a hosts line', async () => {
    await ok(['run', '-d', '--name', 'db', '-e', 'SECRET=s3', '--expose', '5432', '--expose', '5433', IMG, 'sleep', '1000']);
    const dbIp = await ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'db']);
    const dbHost = await ok(['inspect', '-f', '{{.Config.Hostname}}', 'db']);
    const out = await ok(['run', '--rm', '--name', 'app', '--link', 'db:dbal', IMG, 'sh', '-c', 'env | grep ^DBAL_ | sort; grep dbal /etc/hosts']);
    expect(out.split('\n')).toEqual([
      `DBAL_ENV_SECRET=s3`,
      `DBAL_NAME=/app/dbal`,
      `DBAL_PORT=tcp://${dbIp}:5432`,
      `DBAL_PORT_5432_TCP=tcp://${dbIp}:5432`,
      `DBAL_PORT_5432_TCP_ADDR=${dbIp}`,
      `DBAL_PORT_5432_TCP_END=tcp://${dbIp}:5433`,
      `DBAL_PORT_5432_TCP_PORT=5432`,
      `DBAL_PORT_5432_TCP_PORT_END=5433`,
      `DBAL_PORT_5432_TCP_PORT_START=5432`,
      `DBAL_PORT_5432_TCP_PROTO=tcp`,
      `DBAL_PORT_5432_TCP_START=tcp://${dbIp}:5432`,
      `DBAL_PORT_5433_TCP=tcp://${dbIp}:5433`,
      `DBAL_PORT_5433_TCP_ADDR=${dbIp}`,
      `DBAL_PORT_5433_TCP_PORT=5433`,
      `DBAL_PORT_5433_TCP_PROTO=tcp`,
      `${dbIp}\tdbal ${dbHost} db`,
    ]);
    await ok(['stop', '-t', '0', 'db']);
    const dead = await berth(['run', '--rm', '--link', 'db:x', IMG, 'true']);
    expect([dead.code, dead.stderr]).toEqual([125, expect.stringContaining('Cannot link to a non running container: /db AS')]);
  });

  test('--add-host, --dns, --dns-search, --dns-option, --hostname in the container\'s files', async () => {
    const out = await ok(['run', '--rm', '-h', 'box', '--add-host', 'db.local:10.9.9.9', '--dns', '10.9.9.53', '--dns-search', 'example.test', '--dns-option', 'ndots:2', IMG, 'sh', '-c', 'cat /etc/resolv.conf; echo ---; cat /etc/hosts']);
    const [resolv, hosts] = out.split('---\n');
    expect(resolv).toBe('search example.test\noptions ndots:2\nnameserver 10.9.9.53\n');
    expect(hosts).toContain('10.9.9.9\tdb.local\n');
    expect(hosts).toMatch(/\n\d+\.\d+\.\d+\.\d+\tbox [a-z]+_[a-z]+$/);
  });
});

describe('teardown', () => {
  test('20 create/rm cycles with a published port leave no veth, netns, iptables rule, lease or CNI cache entry', async () => {
    // after the containers above are gone, and one warm-up cycle (the plugins make their shared
    // chains once). Other tests may run beside this one and change the host's interfaces and
    // rules: what is compared is what is this berthd's — its bridge's ports, and the rules that
    // name its subnet, its bridge or one of the containers made here.
    const all = (await berth(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (all.length) await ok(['rm', '-f', ...all]);
    const ids: string[] = [];
    const cycle = async () => {
      const port = await freePort();
      const id = await ok(['create', '-p', `${port}:80`, IMG, 'true']);
      ids.push(id);
      await ok(['rm', id]);
    };
    const prefix = d.subnet.replace(/0\/24$/, '');
    const ourRules = () => iptablesRules().split('\n').filter((l) => l.includes(prefix) || l.includes(d.bridge) || ids.some((id) => l.includes(id)));
    const settled = () =>
      until('the teardown', () => (netnsFiles().length === 0 && cacheFiles().length === 0 && leases('bridge').length === 0 && bridgePorts(d.bridge).length === 0 ? true : undefined), 10_000);
    await cycle();
    await settled();
    const before = ourRules();
    for (let i = 0; i < 20; i++) await cycle();
    await settled();
    expect(ids).toHaveLength(21);
    expect(netnsFiles()).toEqual([]);
    expect(cacheFiles()).toEqual([]);
    expect(leases('bridge')).toEqual([]);
    expect(bridgePorts(d.bridge)).toEqual([]);
    expect(ourRules()).toEqual(before);
    expect(readdirSync(join(networkDir(), 'containers', 'default'))).toEqual([]);
  }, 120_000);

  // Last: it stops this file's berthd.
  test('berthd stopped with no container network left leaves no mount: its netns dir is unmounted', async () => {
    const netnsDir = join(d.state, 'netns');
    const mounted = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === netnsDir);
    expect(mounted()).toBe(true); // made a mount point of its own while containers had namespaces
    expect(netnsFiles()).toEqual([]);
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(mounted()).toBe(false);
  });
});
