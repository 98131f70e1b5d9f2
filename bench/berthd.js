#!/usr/bin/env node
// Benchmark: berthd against containerd 1.6, both driven by Debian's `ctr --address`, side by
// side in one run. (1) `ctr run --rm IMG ID true`, rounds interleaved and the order rotated:
// medians and berthd/containerd. (2) N containers (`ctr run -d IMG ID sleep 1000`) under each:
// every shim's Rss and Pss (/proc/<pid>/smaps_rollup), per shim and per container (one
// containerd shim may serve a group), and each daemon's own Rss/Pss: idle after the image
// import, idle after the rounds of (1), and with the N containers.
//
// Both daemons are private: their own root, state and socket in one temp dir; containerd with
// its own config (CRI off), like e2e/test/support/containerd.ts. Namespace `bench`; ids are
// `bench-bd-<pid>-<b|c>-...` (no "berth" in ids, dirs or cgroup paths: other e2e files' leak
// checks match that word while they run). At the end: every task, container and image deleted
// through the daemon, both daemons stopped by pid, shims still serving our dir killed by pid,
// mounts under the dir unmounted, the dir removed, and cgroups /bench/<our ids> and the
// /bench parents we created removed.
'use strict';
const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { repo, median, rotate, hrms, smapsRollup } = require('./lib');

const ROUNDS = Number(process.env.ROUNDS || 20);
const N = Number(process.env.N || 10);
const NS = 'bench';
const CTR = '/usr/bin/ctr';
const prefix = `bench-bd-${process.pid}`;

const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function alive(pid) {
  try {
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const ppidOf = (pid) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
/** CPU time (user + system, all threads) a process has used so far, ms. */
const cpuMs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
};
const exeOf = (pid) => path.basename(fs.readlinkSync(`/proc/${pid}/exe`));

/** Processes (not zombies, not us) whose command line contains `needle`. */
function pidsMentioning(needle) {
  const out = [];
  for (const p of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    if (Number(p) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle) && alive(Number(p))) out.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const hierarchies = () => fs.readdirSync('/sys/fs/cgroup').map((h) => path.join('/sys/fs/cgroup', h));
const nsCgroups = () => hierarchies().map((h) => path.join(h, NS)).filter((d) => fs.existsSync(d));

/** One private daemon, driven with `ctr --address <socket> -n bench`. */
class Daemon {
  constructor(name, tag, shimName, dir) {
    Object.assign(this, { name, tag, shimName, dir });
    this.log = path.join(dir, 'daemon.log');
    this.fifoDir = path.join(dir, 'fifo');
    fs.mkdirSync(this.fifoDir, { recursive: true });
    /** Every container id we gave it (cleanup finds what is left of them). */
    this.ids = new Set();
  }

  id(...parts) {
    const id = [prefix, this.tag, ...parts].join('-');
    this.ids.add(id);
    return id;
  }

  /** Starts argv (own process group, so a ^C reaches only ctr) and waits until ctr gets through. */
  start(argv, env = {}) {
    const fd = fs.openSync(this.log, 'a');
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, ...env } });
    fs.closeSync(fd);
    // Not unref'd: once the run is over, Node's loop reaps it (else an orphaned zombie).
    this.pid = this.child.pid;
    for (let i = 0; i < 500; i++) {
      if (!alive(this.pid)) break;
      if (fs.existsSync(this.address) && this.ctr(['version'], { check: false }).status === 0) return;
      sleepMs(20);
    }
    throw new Error(`${this.name} did not come up: ${fs.readFileSync(this.log, 'utf8').slice(-2000)}`);
  }

  /** ctr --address ours -n bench ARGS; throws with its stderr if it fails (unless check: false). */
  ctr(args, { check = true, stdout = 'pipe' } = {}) {
    const res = spawnSync(CTR, ['--address', this.address, '-n', NS, ...args], {
      stdio: ['ignore', stdout, 'pipe'], encoding: 'utf8', timeout: 60000,
    });
    if (check && res.status !== 0) {
      throw new Error(`ctr ${args.join(' ')} against ${this.name} failed (${res.status ?? res.signal}): ${(res.stderr ?? '').trim()}`);
    }
    return res;
  }

  /** Wall time (ms) of one ctr command. */
  timed(args) {
    const t0 = process.hrtime.bigint();
    this.ctr(args, { stdout: 'ignore' });
    return hrms(t0);
  }

  runFlags() {
    return ['--fifo-dir', this.fifoDir];
  }

  lines(args) {
    return this.ctr(args, { check: false }).stdout?.split('\n').filter(Boolean) ?? [];
  }

  /** [container id, pid of its process] of every running task. */
  tasks() {
    return this.lines(['task', 'ls']).slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f[2] === 'RUNNING').map((f) => [f[0], Number(f[1])]);
  }

  /** Deletes every task, container and image, then the namespace. */
  removeAll() {
    if (!this.pid || !alive(this.pid)) return;
    for (const id of this.lines(['task', 'ls', '-q'])) {
      this.ctr(['task', 'kill', '-s', 'SIGKILL', id], { check: false });
      this.ctr(['task', 'rm', '-f', id], { check: false });
    }
    for (const id of this.lines(['containers', 'ls', '-q'])) this.ctr(['containers', 'rm', id], { check: false });
    for (const ref of this.lines(['images', 'ls', '-q'])) this.ctr(['images', 'rm', '--sync', ref], { check: false });
    this.ctr(['namespaces', 'rm', NS], { check: false });
  }

  /** SIGTERM by pid, SIGKILL after 10 s. */
  stop() {
    if (!this.pid || !alive(this.pid)) return;
    process.kill(this.pid, 'SIGTERM');
    for (let i = 0; i < 500 && alive(this.pid); i++) sleepMs(20);
    if (alive(this.pid)) process.kill(this.pid, 'SIGKILL');
    for (let i = 0; i < 250 && alive(this.pid); i++) sleepMs(20);
  }
}

class Berthd extends Daemon {
  constructor(dir) {
    super('berthd', 'b', 'berth-shim', dir);
    this.address = path.join(dir, 'state', 'd.sock');
  }

  /** `env` (e.g. BERTH_TIMING=1) is added to berthd's environment. */
  boot(env = {}) {
    // CRI logs of containers (berth run) go under our dir, not /var/log/berth.
    const config = path.join(this.dir, 'config.json');
    // the default network on a bridge of the benchmark's own (removed by cleanup), never berth0
    this.bridge = `bbench${process.pid}`.slice(0, 15);
    fs.writeFileSync(config, JSON.stringify({ plugins: { 'io.containerd.grpc.v1.tasks': { log_root: path.join(this.dir, 'logs') }, 'io.containerd.internal.v1.networks': { default_bridge: this.bridge } } }));
    this.start([path.join(repo, 'bin', 'berthd'), '--root', path.join(this.dir, 'root'), '--state', path.join(this.dir, 'state'), '--address', this.address, '--config', config, '--log-level', 'warn'], env);
  }
}

class Containerd extends Daemon {
  constructor(dir) {
    super('containerd', 'c', 'containerd-shim', dir);
    this.address = path.join(dir, 'containerd.sock');
    this.runcRoot = path.join(dir, 'runc-root');
  }

  boot() {
    const config = path.join(this.dir, 'config.toml');
    fs.writeFileSync(config, [
      'version = 2',
      `root = "${path.join(this.dir, 'root')}"`,
      `state = "${path.join(this.dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${this.address}"`,
      '[ttrpc]',
      `  address = "${this.address}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '  level = "warn"',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${path.join(this.dir, 'opt')}"`,
      '',
    ].join('\n'));
    this.start(['containerd', '--config', config]);
  }

  // runc's state in our dir, not /run/containerd/runc/bench.
  runFlags() {
    return [...super.runFlags(), '--runc-root', this.runcRoot];
  }
}

const MiB = (kb) => (kb / 1024).toFixed(1);
const pad = (s, n) => String(s).padStart(n);

function main(dir, daemons, image) {
  const [bd, cd] = daemons;
  const versions = daemons.map((d) => /Server:[^]*?Version:\s*(\S+)/.exec(d.ctr(['version']).stdout)?.[1] ?? '?');

  for (const d of daemons) d.ctr(['images', 'import', image.tar], { stdout: 'ignore' });
  sleepMs(1000);
  const idle = Object.fromEntries(daemons.map((d) => [d.name, smapsRollup(d.pid)]));

  // (1) ctr run --rm of `true`: two warm-up runs each, then the rounds.
  for (const d of daemons) for (let i = 0; i < 2; i++) d.timed(['run', '--rm', ...d.runFlags(), image.ref, d.id('warm', i), 'true']);
  const runMs = { berthd: [], containerd: [] };
  const versionMs = { berthd: [], containerd: [] };
  const cpu0 = Object.fromEntries(daemons.map((d) => [d.name, cpuMs(d.pid)]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const d of rotate(daemons, round)) {
      versionMs[d.name].push(d.timed(['version']));
      runMs[d.name].push(d.timed(['run', '--rm', ...d.runFlags(), image.ref, d.id('run', round), 'true']));
    }
  }
  const cpu = Object.fromEntries(daemons.map((d) => [d.name, (cpuMs(d.pid) - cpu0[d.name]) / ROUNDS]));
  sleepMs(1000);
  const afterRuns = Object.fromEntries(daemons.map((d) => [d.name, smapsRollup(d.pid)]));

  // (2) N containers under each, started alternately.
  const startMs = { berthd: [], containerd: [] };
  for (let i = 0; i < N; i++) {
    for (const d of rotate(daemons, i)) startMs[d.name].push(d.timed(['run', '-d', ...d.runFlags(), image.ref, d.id('sleep', i), 'sleep', '1000']));
  }
  sleepMs(2000);
  const mem = {};
  for (const d of daemons) {
    const tasks = d.tasks().filter(([id]) => id.startsWith(`${prefix}-${d.tag}-sleep-`));
    if (tasks.length !== N) throw new Error(`${d.name}: ${tasks.length} of ${N} containers running`);
    const shims = [...new Set(tasks.map(([, pid]) => ppidOf(pid)))];
    for (const s of shims) if (!exeOf(s).startsWith(d.shimName)) throw new Error(`${d.name}: parent ${s} of a container is ${exeOf(s)}, not ${d.shimName}`);
    const per = shims.map((s) => smapsRollup(s));
    const sum = (k) => per.reduce((a, p) => a + p[k], 0);
    mem[d.name] = {
      shims: shims.length, shimComm: exeOf(shims[0]),
      rss: median(per.map((p) => p.rss)), pss: median(per.map((p) => p.pss)),
      rssPerCtr: sum('rss') / N, pssPerCtr: sum('pss') / N,
      daemon: smapsRollup(d.pid),
    };
  }

  // Report.
  const ratio = (k, f = 2) => (k(bd.name) / k(cd.name)).toFixed(f);
  const nameW = 12;
  console.log(`berthd ${versions[0]} vs containerd ${versions[1]}, both driven by ${CTR} (${spawnSync(CTR, ['--version'], { encoding: 'utf8' }).stdout.trim()}), namespace ${NS}`);
  console.log(`\nctr run --rm IMG ID true, ${ROUNDS} interleaved rounds (order rotated), median wall time:`);
  const mRun = (n) => median(runMs[n]);
  const mVer = (n) => median(versionMs[n]);
  console.log(`  ${'berthd'.padEnd(nameW)} ${pad(mRun('berthd').toFixed(1), 7)} ms`);
  console.log(`  ${'containerd'.padEnd(nameW)} ${pad(mRun('containerd').toFixed(1), 7)} ms   berthd/containerd = ${ratio(mRun)}   (target <= 0.5)`);
  console.log(`  ctr version, same rounds (ctr start-up + one RPC, the floor): berthd ${mVer('berthd').toFixed(1)} ms, containerd ${mVer('containerd').toFixed(1)} ms`);
  console.log(`  daemon process CPU (user+sys) per round (one run + one version): berthd ${cpu.berthd.toFixed(0)} ms, containerd ${cpu.containerd.toFixed(0)} ms (containerd's shim and runc work outside it)`);
  console.log(`  ctr run -d of sleep 1000 (the ${N} below), median: berthd ${median(startMs.berthd).toFixed(1)} ms, containerd ${median(startMs.containerd).toFixed(1)} ms`);

  console.log(`\n${N} containers (ctr run -d IMG ID sleep 1000) under each; shims by /proc/<pid>/smaps_rollup, KiB:`);
  console.log(`  ${''.padEnd(nameW)} ${'shim'.padEnd(23)} shims  Rss/shim  Pss/shim  Rss/container  Pss/container`);
  for (const d of daemons) {
    const m = mem[d.name];
    console.log(`  ${d.name.padEnd(nameW)} ${m.shimComm.padEnd(23)} ${pad(m.shims, 5)} ${pad(m.rss, 9)} ${pad(m.pss, 9)} ${pad(Math.round(m.rssPerCtr), 14)} ${pad(Math.round(m.pssPerCtr), 14)}`);
  }
  const r = (k) => ratio((n) => mem[n][k], 3);
  console.log(`  ${'berthd/containerd'.padEnd(nameW + 24)} ${pad('', 5)} ${pad(r('rss'), 9)} ${pad(r('pss'), 9)} ${pad(r('rssPerCtr'), 14)} ${pad(r('pssPerCtr'), 14)}`);

  console.log(`\ndaemon process, MiB Rss / Pss:`);
  console.log(`  ${''.padEnd(nameW)} ${'idle (after import)'.padStart(21)} ${`idle (after ${ROUNDS} runs)`.padStart(24)} ${`${N} containers`.padStart(17)}`);
  const cell = (m, w) => pad(`${MiB(m.rss)} / ${MiB(m.pss)}`, w);
  for (const d of daemons) console.log(`  ${d.name.padEnd(nameW)} ${cell(idle[d.name], 21)} ${cell(afterRuns[d.name], 24)} ${cell(mem[d.name].daemon, 17)}`);
  const rr = (a, b) => `${(a.rss / b.rss).toFixed(2)} / ${(a.pss / b.pss).toFixed(2)}`;
  console.log(`  ${'berthd/ctrd'.padEnd(nameW)} ${pad(rr(idle.berthd, idle.containerd), 21)} ${pad(rr(afterRuns.berthd, afterRuns.containerd), 24)} ${pad(rr(mem.berthd.daemon, mem.containerd.daemon), 17)}`);
  const total = (n) => mem[n].daemon.rss + mem[n].rssPerCtr * N;
  console.log(`  daemon + ${N} shims, Rss: berthd ${MiB(total('berthd'))} MiB, containerd ${MiB(total('containerd'))} MiB, berthd/containerd = ${(total('berthd') / total('containerd')).toFixed(2)}`);
}

/** The busybox image of `make image`, copied into our dir (another `make image` may rewrite it). */
function buildImage(dir) {
  const res = spawnSync('make', ['-s', '-C', repo, 'image'], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`make image failed: ${res.stderr}`);
  const [tar, ref] = res.stdout.trim().split('\n').pop().split(' ');
  const copy = path.join(dir, 'image.tar');
  fs.copyFileSync(tar, copy);
  return { tar: copy, ref };
}

function cleanup(dir, daemons, before) {
  for (const d of daemons) {
    try {
      d.removeAll();
    } catch (err) {
      console.error(`warning: ${d.name}: ${err.message}`);
    }
  }
  for (const d of daemons) d.stop();
  // berthd's default network bridge (no CNI plugin removes a bridge)
  for (const d of daemons) if (d.bridge) spawnSync('ip', ['link', 'del', d.bridge], { stdio: 'ignore' });
  // Shims outlive their daemon by design: any still here serves a task we could not delete.
  const left = [...new Set([...pidsMentioning(dir), ...daemons.flatMap((d) => (d.address ? pidsMentioning(d.address) : []))])];
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  // A container whose ctr died half-way (a ^C) may have no shim: e.g. a `runc init` waiting
  // to be started, reparented to pid 1. Whatever is in our containers' cgroups is ours.
  const ourCgroups = nsCgroups().flatMap((parent) => fs.readdirSync(parent).filter((n) => n.startsWith(prefix)).map((n) => path.join(parent, n)));
  for (const cg of ourCgroups) {
    for (const pid of fs.readFileSync(path.join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
        left.push(pid);
      } catch {
        // gone meanwhile
      }
    }
  }
  const killed = [...new Set(left)];
  if (killed.length) console.error(`warning: killed ${killed.length} processes left behind: ${killed.join(' ')}`);
  for (let i = 0; i < 100 && left.some(alive); i++) sleepMs(20);
  // A shim killed here cannot remove its socket, /run/containerd/s/<sha256(address/ns/id)>.
  const cd = daemons.find((d) => d instanceof Containerd);
  for (const id of cd?.ids ?? []) {
    const sock = path.join('/run/containerd/s', crypto.createHash('sha256').update(path.join(cd.address, NS, id)).digest('hex'));
    if (fs.existsSync(sock)) fs.rmSync(sock);
  }
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(dir + '/')).sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  fs.rmSync(dir, { recursive: true, force: true });
  // ctr puts containers at /bench/<id>: ours first, then each parent we created, if empty.
  const cgLeft = [];
  for (const parent of nsCgroups()) {
    for (const e of fs.readdirSync(parent, { withFileTypes: true })) {
      if (!e.isDirectory() || !e.name.startsWith(prefix)) continue;
      try {
        fs.rmdirSync(path.join(parent, e.name));
      } catch {
        cgLeft.push(path.join(parent, e.name));
      }
    }
    if (!before.cgroups.has(parent)) {
      try {
        fs.rmdirSync(parent);
      } catch {
        // not empty: someone else's containers meanwhile
      }
    }
  }
  if (cgLeft.length) console.error(`warning: ${cgLeft.length} cgroups of ours could not be removed: ${cgLeft.join(' ')}`);
  // What containerd 1.6 makes under /run/containerd whatever its config says: removed if we
  // made it and it is empty (the shims remove their sockets in s/ when they exit).
  for (const d of ['/run/containerd/runc/bench', '/run/containerd/runc', '/run/containerd/s', '/run/containerd/fifo', '/run/containerd']) {
    if (before.run.has(d)) continue;
    try {
      fs.rmdirSync(d);
    } catch {
      // absent, or not empty: someone else's
    }
  }
}

function run() {
  if (process.getuid() !== 0) throw new Error('run as root');
  for (const c of [CTR, '/usr/bin/containerd', '/usr/bin/containerd-shim-runc-v2', path.join(repo, 'bin', 'berthd'), path.join(repo, 'bin', 'berth-shim')]) {
    if (!fs.existsSync(c)) throw new Error(`missing ${c} (make deps build; Debian's containerd)`);
  }
  // A ^C kills the ctr that is running; the run then fails and cleans up. We must not die first.
  process.on('SIGINT', () => undefined);
  const before = {
    cgroups: new Set(nsCgroups()),
    run: new Set(['/run/containerd/runc/bench', '/run/containerd/runc', '/run/containerd/s', '/run/containerd/fifo', '/run/containerd'].filter((d) => fs.existsSync(d))),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  // mkdtemp's 0700 would stop a container's user on its way to the rootfs.
  fs.chmodSync(dir, 0o711);
  const daemons = [];
  try {
    const image = buildImage(dir);
    for (const D of [Berthd, Containerd]) {
      const sub = path.join(dir, D === Berthd ? 'bd' : 'ctd');
      fs.mkdirSync(sub);
      const d = new D(sub);
      daemons.push(d);
      d.boot();
    }
    main(dir, daemons, image);
  } finally {
    cleanup(dir, daemons, before);
  }
}

// bench/berth.js reuses the daemons and the cleanup.
module.exports = { sleepMs, alive, cpuMs, pidsMentioning, nsCgroups, Daemon, Berthd, Containerd, buildImage, cleanup };

if (require.main === module) {
  try {
    run();
  } catch (err) {
    console.error(err.stack ?? String(err));
    process.exitCode = 1;
  }
}
