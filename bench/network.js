#!/usr/bin/env node
// Benchmark (issue 7, networking): berth against podman 4 with its CNI backend, on the same
// machine, the same Debian CNI plugins and the same busybox image, rounds interleaved:
//
//   (1) `run -d -p 127.0.0.1:PORT:80 IMG httpd` until the first successful HTTP response from
//       the host (node's http client, polled every 5 ms): the time `run -d` takes to return and
//       the time to the first 200. berth on its default network and on a user network, podman
//       on a user network (its CNI conflist: bridge, portmap, firewall, tuning).
//   (2) `network connect NET C` and `network disconnect NET C` of a running container, each
//       timed as the user sees it (client start-up included), with `berth version` /
//       `podman version` as the floor of a command.
//
// berthd is private (bench/berthd.js's Daemon: its own root, state and socket in one temp dir),
// with its own default bridge and a /24 no host route overlaps; podman is private as
// bench/berth.js makes it (own containers.conf with network_backend "cni", network_config_dir,
// storage, run root, tmpdir), runc through a --root wrapper. What podman's CNI backend puts
// outside our dir (network namespaces in /run/netns, its result cache in /var/lib/cni) is
// removed by podman with each container. At the end: containers, networks and bridges of both,
// the daemons, mounts under our dir, the dir, and the CNI plugins' shared iptables chains if
// this run made them and nobody uses them.
'use strict';
const { execFile, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { repo, median, rotate, hrms } = require('./lib');
const { alive, pidsMentioning, Daemon, buildImage } = require('./berthd');

const ROUNDS = Number(process.env.ROUNDS || 10);
const BERTH = path.join(repo, 'bin', 'berth');
const tag = Math.random().toString(16).slice(2, 8);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs argv; resolves with wall ms and stdout; rejects with its stderr. */
function timed(argv, env) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    execFile(argv[0], argv.slice(1), { env: env ?? process.env, timeout: 120000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const ms = hrms(t0);
      if (err) reject(new Error(`${argv.slice(0, 10).join(' ')}… failed: ${String(stderr).trim().slice(-1500) || err.message}`));
      else resolve({ ms, stdout: String(stdout) });
    });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function get(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/hostname', timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** ms from t0 until the first 200 on port (polled every 5 ms, 30 s at most). */
async function firstResponse(port, t0) {
  for (let i = 0; i < 6000; i++) {
    if (await get(port)) return hrms(t0);
    await sleep(5);
  }
  throw new Error(`no HTTP answer on 127.0.0.1:${port}`);
}

/** A /24 in 10.128.0.0/9 that no host route mentions (as e2e/test/support/host-net.ts picks them). */
function freshSubnet() {
  const routes = fs.readFileSync('/proc/net/route', 'utf8');
  for (;;) {
    const second = 128 + Math.floor(Math.random() * 128);
    const third = Math.floor(Math.random() * 256);
    const hex = ((third << 16) | (second << 8) | 10).toString(16).toUpperCase().padStart(6, '0');
    if (!routes.includes(hex)) return `10.${second}.${third}.0/24`;
  }
}

class Berthd extends Daemon {
  constructor(dir) {
    super('berthd', 'b', 'berth-shim', dir);
    this.address = path.join(dir, 'state', 'd.sock');
    this.bridge = `bn${tag}`;
  }

  boot() {
    const config = path.join(this.dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({
      plugins: {
        'io.containerd.grpc.v1.tasks': { log_root: path.join(this.dir, 'logs') },
        'io.containerd.internal.v1.networks': { default_bridge: this.bridge, default_subnet: freshSubnet(), dns_upstreams: ['127.0.0.1:9'] },
      },
    }));
    this.start([path.join(repo, 'bin', 'berthd'), '--root', path.join(this.dir, 'root'), '--state', path.join(this.dir, 'state'), '--address', this.address, '--config', config, '--log-level', 'warn']);
  }

  berth(args) {
    return timed([BERTH, '-H', `unix://${this.address}`, '--namespace', 'bench', ...args]);
  }

  /** The Linux bridges of its networks (records under <root>/networks). */
  bridges() {
    const dir = path.join(this.dir, 'root', 'networks');
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).bridge).filter(Boolean);
  }
}

/** A podman of its own with the CNI network backend (see bench/berth.js for the rest). */
class Podman {
  constructor(dir) {
    this.dir = dir;
    const d = (s) => path.join(dir, s);
    for (const s of ['root', 'runroot', 'tmp', 'net', 'volumes', 'runc-root', 'wrap']) fs.mkdirSync(d(s), { recursive: true });
    fs.writeFileSync(d('containers.conf'), [
      '[engine]', 'lock_type = "file"', `tmp_dir = "${d('tmp')}"`, 'events_logger = "file"', `events_logfile_path = "${d('events.log')}"`,
      'cgroup_manager = "cgroupfs"', `volume_path = "${d('volumes')}"`,
      '[network]', 'network_backend = "cni"', `network_config_dir = "${d('net')}"`, 'cni_plugin_dirs = ["/usr/lib/cni"]', `default_subnet = "${freshSubnet()}"`, '',
    ].join('\n'));
    fs.writeFileSync(d('storage.conf'), ['[storage]', 'driver = "overlay"', `graphroot = "${d('root')}"`, `runroot = "${d('runroot')}"`, ''].join('\n'));
    fs.writeFileSync(d('registries.conf'), 'unqualified-search-registries = []\n');
    this.runtime = path.join(d('wrap'), 'runc');
    fs.writeFileSync(this.runtime, `#!/bin/sh\nexec /usr/sbin/runc --root '${d('runc-root')}' "$@"\n`, { mode: 0o755 });
    this.env = { ...process.env, CONTAINERS_CONF: d('containers.conf'), CONTAINERS_STORAGE_CONF: d('storage.conf'), CONTAINERS_REGISTRIES_CONF: d('registries.conf') };
    this.global = ['--root', d('root'), '--runroot', d('runroot'), '--tmpdir', d('tmp'), '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file', '--network-config-dir', d('net'), '--runtime', this.runtime];
    this.bridges = [];
  }

  podman(args) {
    return timed(['podman', ...this.global, ...args], this.env);
  }

  /** runc here cannot raise rlimits above berth's own: podman's defaults are too high (as in bench/berth.js). */
  runFlags() {
    return ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
  }

  /** A network and its bridge (podman 4.3 names it cni-podmanN itself), removed at the end. */
  async createNetwork(name) {
    await this.podman(['network', 'create', '--subnet', freshSubnet(), name]);
    this.bridges.push((await this.podman(['network', 'inspect', '--format', '{{.NetworkInterface}}', name])).stdout.trim());
  }

  cleanup() {
    const quiet = { stdio: 'ignore', env: this.env, timeout: 120000 };
    spawnSync('podman', [...this.global, 'rm', '-af', '-t', '0'], quiet);
    spawnSync('podman', [...this.global, 'network', 'prune', '-f'], quiet);
    spawnSync('podman', [...this.global, 'rmi', '-af'], quiet);
    for (const pid of pidsMentioning(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}

const f1 = (x) => x.toFixed(1);

/** The CNI plugins' shared chains: removed if this run made them and no container uses them. */
function removeCniChains(before) {
  const save = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout;
  const shared = new Set(['CNI-ADMIN', 'CNI-FORWARD', 'CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']);
  const chains = [...save.matchAll(/^:(CNI-\S+)/gm)].map((m) => m[1]);
  const inUse = chains.some((c) => !shared.has(c)) || /^-A CNI-FORWARD (?!.*CNI-ADMIN)/m.test(save) || /^-A CNI-HOSTPORT-DNAT /m.test(save);
  if (inUse || chains.some((c) => before.has(c))) return;
  const sh = (cmd) => spawnSync('sh', ['-c', cmd], { stdio: 'ignore' });
  sh('iptables -D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD');
  for (const c of ['CNI-FORWARD', 'CNI-ADMIN']) sh(`iptables -F ${c}; iptables -X ${c}`);
  sh('iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT');
  sh('iptables -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT');
  sh('iptables -t nat -D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ');
  for (const c of ['CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-DNAT']) sh(`iptables -t nat -F ${c}; iptables -t nat -X ${c}`);
}

async function main(bd, pm, image) {
  const IMG = image.ref;
  await bd.berth(['load', '-i', image.tar]);
  await pm.podman(['load', '-i', image.tar]);
  await bd.berth(['network', 'create', '--subnet', freshSubnet(), 'benchnet']);
  await pm.createNetwork('benchnet');
  const httpd = ['httpd', '-f', '-p', '80', '-h', '/etc'];

  // (1) run -d -p → first HTTP response
  const systems = [
    { name: 'berth (default network)', run: (port) => bd.berth(['run', '-d', '-p', `127.0.0.1:${port}:80`, IMG, ...httpd]), rm: (id) => bd.berth(['rm', '-f', id]) },
    { name: 'berth (user network)', run: (port) => bd.berth(['run', '-d', '--network', 'benchnet', '-p', `127.0.0.1:${port}:80`, IMG, ...httpd]), rm: (id) => bd.berth(['rm', '-f', id]) },
    { name: 'podman (CNI, user network)', run: (port) => pm.podman(['run', '-d', ...pm.runFlags(), '--network', 'benchnet', '-p', `127.0.0.1:${port}:80`, IMG, ...httpd]), rm: (id) => pm.podman(['rm', '-f', '-t', '0', id]) },
  ];
  const t = Object.fromEntries(systems.map((s) => [s.name, { returned: [], first: [], rm: [] }]));
  for (let round = -1; round < ROUNDS; round++) {
    for (const s of rotate(systems, Math.max(round, 0))) {
      const port = await freePort();
      const t0 = process.hrtime.bigint();
      const r = await s.run(port);
      const returned = hrms(t0);
      const first = await firstResponse(port, t0);
      const rm = await s.rm(r.stdout.trim());
      if (round < 0) continue; // warm-up
      t[s.name].returned.push(returned);
      t[s.name].first.push(first);
      t[s.name].rm.push(rm.ms);
    }
  }

  // (2) network connect / disconnect of a running container
  await bd.berth(['network', 'create', '--subnet', freshSubnet(), 'second']);
  await pm.createNetwork('second');
  const bc = (await bd.berth(['run', '-d', IMG, 'sleep', '1000'])).stdout.trim();
  const pc = (await pm.podman(['run', '-d', ...pm.runFlags(), '--network', 'benchnet', IMG, 'sleep', '1000'])).stdout.trim();
  const conn = [
    { name: 'berth', connect: () => bd.berth(['network', 'connect', 'second', bc]), disconnect: () => bd.berth(['network', 'disconnect', 'second', bc]), floor: () => bd.berth(['version']) },
    { name: 'podman', connect: () => pm.podman(['network', 'connect', 'second', pc]), disconnect: () => pm.podman(['network', 'disconnect', 'second', pc]), floor: () => pm.podman(['version']) },
  ];
  const c = Object.fromEntries(conn.map((s) => [s.name, { connect: [], disconnect: [], floor: [] }]));
  for (let round = -1; round < ROUNDS; round++) {
    for (const s of rotate(conn, Math.max(round, 0))) {
      const fl = await s.floor();
      const a = await s.connect();
      const b = await s.disconnect();
      if (round < 0) continue;
      c[s.name].floor.push(fl.ms);
      c[s.name].connect.push(a.ms);
      c[s.name].disconnect.push(b.ms);
    }
  }
  await bd.berth(['rm', '-f', bc]);
  await pm.podman(['rm', '-f', '-t', '0', pc]);

  console.log(`berth (bin/berth + berthd, CNI ${/"cniVersion":"([^"]+)"/.exec(spawnSync('/usr/lib/cni/bridge', [], { env: { CNI_COMMAND: 'VERSION' }, input: '{}', encoding: 'utf8' }).stdout)?.[1]}) vs ${spawnSync('podman', ['--version'], { encoding: 'utf8' }).stdout.trim()} with its CNI backend; ${ROUNDS} interleaved rounds, medians`);
  console.log('\nrun -d -p 127.0.0.1:PORT:80 IMG httpd → first HTTP 200 from the host (ms):');
  console.log(`  ${'system'.padEnd(28)} ${'run -d returns'.padStart(15)} ${'first response'.padStart(15)} ${'rm -f'.padStart(8)}`);
  for (const s of systems) {
    const x = t[s.name];
    console.log(`  ${s.name.padEnd(28)} ${f1(median(x.returned)).padStart(15)} ${f1(median(x.first)).padStart(15)} ${f1(median(x.rm)).padStart(8)}`);
  }
  const bf = median(t['berth (user network)'].first);
  const pf = median(t['podman (CNI, user network)'].first);
  console.log(`  berth/podman (user networks, first response) = ${(bf / pf).toFixed(2)}`);
  console.log('\nnetwork connect / disconnect of a running container (ms, client start-up included):');
  for (const s of conn) {
    const x = c[s.name];
    console.log(`  ${s.name.padEnd(8)} connect ${f1(median(x.connect)).padStart(7)}   disconnect ${f1(median(x.disconnect)).padStart(7)}   (floor: ${s.name} version ${f1(median(x.floor))})`);
  }
  console.log(`  berth/podman connect = ${(median(c.berth.connect) / median(c.podman.connect)).toFixed(2)}`);
}

async function run() {
  if (process.getuid() !== 0) throw new Error('run as root');
  for (const f of ['/usr/bin/podman', '/usr/bin/conmon', '/usr/sbin/runc', '/usr/lib/cni/bridge', BERTH, path.join(repo, 'bin', 'berthd')]) {
    if (!fs.existsSync(f)) throw new Error(`missing ${f} (make deps build)`);
  }
  process.on('SIGINT', () => undefined);
  const chainsBefore = new Set([...spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout.matchAll(/^:(CNI-\S+)/gm)].map((m) => m[1]));
  const systemDirs = ['/var/lib/containers', '/var/cache/containers', '/var/lib/cni', '/run/netns'].filter((p) => !fs.existsSync(p));
  // No "berth" in the dir name: other e2e files' leak checks match that word.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-net-${process.pid}-`));
  fs.chmodSync(dir, 0o711);
  let bd;
  let pm;
  try {
    const image = buildImage(dir);
    fs.mkdirSync(path.join(dir, 'bd'));
    bd = new Berthd(path.join(dir, 'bd'));
    bd.boot();
    pm = new Podman(path.join(dir, 'pm'));
    await main(bd, pm, image);
  } finally {
    pm?.cleanup();
    for (const b of pm?.bridges ?? []) spawnSync('ip', ['link', 'delete', b], { stdio: 'ignore' });
    if (bd) {
      bd.removeAll(); // every container through ctr: berthd tears their networking down
      const bridges = bd.bridges();
      bd.stop(); // SIGTERM: berthd finishes the teardowns first
      for (const b of bridges) spawnSync('ip', ['link', 'delete', b], { stdio: 'ignore' });
    }
    for (const pid of pidsMentioning(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(dir + '/')).sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
    removeCniChains(chainsBefore);
    const otherPodman = pidsMentioning('podman').filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0].endsWith('podman');
      } catch {
        return false;
      }
    });
    if (!otherPodman.length) {
      for (const p of systemDirs) {
        if (p === '/run/netns') spawnSync('umount', [p], { stdio: 'ignore' });
        fs.rmSync(p, { recursive: true, force: true });
      }
    }
    void alive;
  }
}

run().catch((err) => {
  console.error(err.stack ?? String(err));
  process.exitCode = 1;
});
