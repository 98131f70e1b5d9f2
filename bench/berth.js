#!/usr/bin/env node
// Benchmark (issue 5): the `berth` client end to end beside `ctr` on containerd and podman, in
// one run. (1) `berth run --rm IMG true` vs `ctr run --rm IMG ID true` vs `podman run --rm IMG
// true`, rounds interleaved and the order rotated; medians and ratios; floors: `node -e 0`,
// `berth version`, `ctr version`, `podman version`; berthd's gRPC calls per `berth run --rm`
// (BERTH_TIMING=1 lines in its log). (2) N × `run -d IMG sleep 1000` under each, then `berth ps`
// / `ps -a`, `ctr containers ls` / `ctr task ls` and `podman ps` / `ps -a`, interleaved, median
// of PS_ROUNDS; the daemon's CPU time per listing (/proc/<pid>/stat) and the client's own
// (our cutime+cstime: spawnSync waits for it).
// (3) Where a `berth run --rm` spends its time, from the client's own BERTH_TIMING=1 marks (node
// started, bin/berth's code compiled from its V8 code cache, the command loaded, each call),
// median of CLIENT_ROUNDS extra runs; `berth version` with the code cache off beside the floors.
// BERTH_REF=/path/to/another/berth adds that client (an older build, say) to (1) and (2), run
// interleaved with bin/berth against the same berthd: a before/after under the same load.
// bin/berth's code caches go to a directory in our temp dir (BERTH_CODE_CACHE), written by the
// warm-up runs, so earlier runs elsewhere do not count.
//
// berthd and containerd are bench/berthd.js's private daemons (one temp dir, their own root,
// state and socket; berthd with log_root in the dir), namespace `bench` for both (berth's
// --namespace). Podman is private as e2e/test/support/podman.ts makes it: its own
// containers.conf and storage.conf, graph root, run root, tmpdir, events log and cgroup parent,
// with runc (through a wrapper giving it a --root in our dir) because crun refuses this VM's
// hybrid cgroup layout. At the end: everything of berthd.js's cleanup, plus the podman
// containers and images, conmons by pid, mounts under our dir, the podman cgroup parent, berth's
// /berth/<id> cgroups of the containers we made, and the podman dirs outside ours it created.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { repo, median, rotate, hrms, nodeStartMs } = require('./lib');
const { sleepMs, alive, cpuMs, pidsMentioning, nsCgroups, Berthd, Containerd, buildImage, cleanup } = require('./berthd');

const ROUNDS = Number(process.env.ROUNDS || 20);
const N = Number(process.env.N || 100);
const PS_ROUNDS = Number(process.env.PS_ROUNDS || 10);
const NS = 'bench';
const BERTH = path.join(repo, 'bin', 'berth');
const BERTH_REF = process.env.BERTH_REF || '';
const CLIENT_ROUNDS = Number(process.env.CLIENT_ROUNDS || 10);
/** bin/berth's environment: its code caches in our dir (set in run()). */
let berthEnv = process.env;
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** CPU (ms) of the children we have waited for so far: cutime + cstime of /proc/self/stat. */
const childCpuMs = () => {
  const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
};

/** Runs argv; throws with its stderr if it fails. Returns wall ms, client CPU ms, stdout and stderr. */
function timedRun(argv, env) {
  const c0 = childCpuMs();
  const t0 = process.hrtime.bigint();
  const res = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: env ?? process.env, timeout: 120000, maxBuffer: 64 << 20 });
  const ms = hrms(t0);
  if (res.status !== 0) throw new Error(`${argv.slice(0, 8).join(' ')}… failed (${res.status ?? res.signal}): ${(res.stderr ?? '').trim().slice(-2000)}`);
  return { ms, cpu: childCpuMs() - c0, stdout: res.stdout, stderr: res.stderr };
}

/** A podman with nothing shared with a system podman (see e2e/test/support/podman.ts). */
class Podman {
  constructor(dir) {
    this.name = 'podman';
    this.dir = dir;
    this.cgroupParent = `bench-pm-${process.pid}`;
    const d = (s) => path.join(dir, s);
    for (const s of ['root', 'runroot', 'tmp', 'hooks', 'net', 'volumes', 'runc-root']) fs.mkdirSync(d(s), { recursive: true });
    fs.writeFileSync(d('containers.conf'), [
      '[containers]', 'netns = "none"',
      '[engine]', 'lock_type = "file"', `tmp_dir = "${d('tmp')}"`, 'events_logger = "file"',
      `events_logfile_path = "${d('events.log')}"`, 'cgroup_manager = "cgroupfs"', `image_copy_tmp_dir = "${d('tmp')}"`,
      `hooks_dir = ["${d('hooks')}"]`, `volume_path = "${d('volumes')}"`,
      '[network]', `network_config_dir = "${d('net')}"`, '',
    ].join('\n'));
    fs.writeFileSync(d('storage.conf'), ['[storage]', 'driver = "overlay"', `graphroot = "${d('root')}"`, `runroot = "${d('runroot')}"`, ''].join('\n'));
    fs.writeFileSync(d('registries.conf'), 'unqualified-search-registries = []\n');
    // Named runc so podman drives it as runc; podman gives runc no --root, and conmon's
    // `podman container cleanup` would not get a --runtime-flag: the wrapper adds it.
    const wrapDir = d('wrap');
    fs.mkdirSync(wrapDir);
    this.runtime = path.join(wrapDir, 'runc');
    fs.writeFileSync(this.runtime, `#!/bin/sh\nexec /usr/sbin/runc --root '${d('runc-root')}' "$@"\n`, { mode: 0o755 });
    this.env = { ...process.env, CONTAINERS_CONF: d('containers.conf'), CONTAINERS_STORAGE_CONF: d('storage.conf'), CONTAINERS_REGISTRIES_CONF: d('registries.conf') };
    this.global = ['--root', d('root'), '--runroot', d('runroot'), '--tmpdir', d('tmp'), '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file', '--network-config-dir', d('net'), '--hooks-dir', d('hooks'), '--runtime', this.runtime];
  }

  argv(args) {
    return ['podman', ...this.global, ...args];
  }

  timed(args) {
    return timedRun(this.argv(args), this.env);
  }

  runFlags() {
    return ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--cgroup-parent', `/${this.cgroupParent}`];
  }

  /** Containers and images through podman, conmons by pid, mounts, the cgroup parent. */
  cleanup() {
    const quiet = { stdio: 'ignore', env: this.env, timeout: 120000 };
    for (const args of [['rm', '-af', '-t', '0'], ['rmi', '-af']]) spawnSync('podman', this.argv(args).slice(1), quiet);
    const left = pidsMentioning(this.dir);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (left.length) console.error(`warning: podman: killed ${left.length} processes left behind: ${left.join(' ')}`);
    for (let i = 0; i < 100 && left.some(alive); i++) sleepMs(20);
    removeCgroupTrees(this.cgroupParent);
  }
}

/** Removes /<name> (deepest first) in every hierarchy, killing what is still inside by pid. */
function removeCgroupTrees(name) {
  const dirs = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    dirs.push(d);
  };
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    const top = path.join('/sys/fs/cgroup', h, name);
    if (fs.existsSync(top)) walk(top);
  }
  for (const d of dirs) {
    for (const pid of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  const left = [];
  for (const d of dirs) {
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      try {
        fs.rmdirSync(d);
        ok = true;
      } catch {
        sleepMs(20);
      }
    }
    if (!ok) left.push(d);
  }
  if (left.length) console.error(`warning: cgroups that could not be removed: ${left.join(' ')}`);
}

/** `bin/berth -H unix://<berthd> --namespace bench ARGS` (or another client: `bin`). */
const berthArgv = (bd, args, bin = BERTH) => [bin, '-H', `unix://${bd.address}`, '--namespace', NS, ...args];
const berthRun = (bd, args, bin = BERTH) => timedRun(berthArgv(bd, args, bin), berthEnv);

/**
 * `--network none` for a client that has the flag (as podman gets it, and as ctr runs without
 * a network): the comparison is of starting a process, not of CNI. A reference client from
 * before the networks work has no such flag, and makes no network anyway.
 */
const noNetworkCache = new Map();
function noNetwork(bin) {
  if (!noNetworkCache.has(bin)) noNetworkCache.set(bin, /--network\b/.test(spawnSync(bin, ['run', '--help'], { encoding: 'utf8', env: berthEnv }).stdout ?? '') ? ['--network', 'none'] : []);
  return noNetworkCache.get(bin);
}

/** berthd's BERTH_TIMING=1 lines written since `from` (bytes of its log): [gRPC path, ms]. */
function callsSince(bd, from) {
  const text = fs.readFileSync(bd.log, 'utf8').slice(from);
  return [...text.matchAll(/^berth-timing\s+[\d.]+ ms \+\s*([\d.]+) ms  (\S+)$/gm)].map((m) => [m[2], Number(m[1])]);
}

/** bin/berth with BERTH_TIMING=1: its stderr carries its marks. */
const berthRunTimed = (bd, args) => timedRun(berthArgv(bd, args), { ...berthEnv, BERTH_TIMING: '1' });

/** The marks of one bin/berth run (src/cli/main.ts, src/api, the launcher), ms since its start. */
function clientMarks(stderr) {
  const marks = {};
  let firstCall = Infinity;
  for (const line of stderr.split('\n')) {
    const call = /^berth-timing\s+([\d.]+) ms \+\s*([\d.]+) ms  (\S+) client/.exec(line);
    if (call) {
      const [start, ms, method] = [Number(call[1]), Number(call[2]), call[3]];
      firstCall = Math.min(firstCall, start);
      if (method.endsWith('Tasks/Create')) Object.assign(marks, { createSent: start, createDone: start + ms });
      if (method.endsWith('Tasks/Wait')) marks.waitDone = start + ms;
      continue;
    }
    const mark = /^berth-timing\s+([\d.]+) ms  (.*)$/.exec(line);
    if (!mark) continue;
    const [t, what] = [Number(mark[1]), mark[2]];
    if (what.startsWith('launcher: node started')) marks.node = t;
    else if (what.startsWith('launcher: bundle compiled')) marks.compiled = t;
    else if (/^main: berth \S+ loaded/.test(what)) marks.loaded = t;
    else if (/^main: berth \S+ done/.test(what)) marks.done = t;
  }
  if (firstCall !== Infinity) marks.firstCall = firstCall;
  return marks;
}

/** Per gRPC method over several commands: how many calls per command and the median total ms. */
function callSummary(perCommand) {
  const methods = new Map();
  perCommand.forEach((calls, i) => {
    for (const [m, ms] of calls) {
      if (!methods.has(m)) methods.set(m, perCommand.map(() => ({ n: 0, ms: 0 })));
      const s = methods.get(m)[i];
      s.n++;
      s.ms += ms;
    }
  });
  return [...methods].map(([m, per]) => ({ method: m.replace(/^\//, ''), n: median(per.map((s) => s.n)), ms: median(per.map((s) => s.ms)) })).sort((a, b) => b.ms - a.ms);
}

const f1 = (x) => x.toFixed(1);
const pad = (s, n) => String(s).padStart(n);

function main(daemons, pm, image, berthIds) {
  const [bd, cd] = daemons;
  const IMG = image.ref;
  berthRun(bd, ['load', '-i', image.tar]);
  cd.ctr(['images', 'import', image.tar], { stdout: 'ignore' });
  bd.ctr(['images', 'ls', '-q']); // the berth client loaded into namespace bench: ctr sees it too
  pm.timed(['load', '-i', image.tar]);

  // (1) run --rm of `true`; two warm-up runs each, then the rounds.
  const systems = [
    { name: 'berth', run: () => berthRun(bd, ['run', '--rm', ...noNetwork(BERTH), IMG, 'true']), floor: () => berthRun(bd, ['version']), floorName: 'berth version' },
    ...(BERTH_REF ? [{ name: 'berth-ref', run: () => berthRun(bd, ['run', '--rm', ...noNetwork(BERTH_REF), IMG, 'true'], BERTH_REF), floor: () => berthRun(bd, ['version'], BERTH_REF), floorName: 'berth-ref version' }] : []),
    { name: 'containerd', run: (r) => timedRun(['/usr/bin/ctr', '--address', cd.address, '-n', NS, 'run', '--rm', ...cd.runFlags(), IMG, cd.id('run', r), 'true']), floor: () => timedRun(['/usr/bin/ctr', '--address', cd.address, '-n', NS, 'version']), floorName: 'ctr version' },
    { name: 'podman', run: () => pm.timed(['run', '--rm', ...pm.runFlags(), IMG, 'true']), floor: () => pm.timed(['version']), floorName: 'podman version' },
  ];
  for (const s of systems) for (let i = 0; i < 2; i++) s.run(`warm${i}`);
  const t = Object.fromEntries(systems.map((s) => [s.name, { run: [], cpu: [], floor: [], daemonCpu: [] }]));
  const node = [];
  const uncached = [];
  const berthCalls = [];
  for (let round = 0; round < ROUNDS; round++) {
    node.push(nodeStartMs());
    uncached.push(timedRun(berthArgv(bd, ['version']), { ...berthEnv, BERTH_CODE_CACHE: 'off' }).ms);
    for (const s of rotate(systems, round)) {
      const fl = s.floor();
      t[s.name].floor.push(fl.ms);
      const daemon = s.name.startsWith('berth') ? bd : s.name === 'containerd' ? cd : undefined;
      const d0 = daemon ? cpuMs(daemon.pid) : 0;
      const logAt = fs.statSync(bd.log).size;
      const r = s.run(round);
      if (daemon) t[s.name].daemonCpu.push(cpuMs(daemon.pid) - d0);
      t[s.name].run.push(r.ms);
      t[s.name].cpu.push(r.cpu);
      if (s.name === 'berth') {
        sleepMs(5); // the last call's timing line is written as its answer goes out
        berthCalls.push(callsSince(bd, logAt));
      }
    }
  }

  // (3) The client's own marks (BERTH_TIMING=1 in bin/berth's environment, not berthd's).
  const clientRuns = [];
  for (let i = 0; i < CLIENT_ROUNDS; i++) {
    const r = berthRunTimed(bd, ['run', '--rm', ...noNetwork(BERTH), IMG, 'true']);
    clientRuns.push({ wall: r.ms, marks: clientMarks(r.stderr) });
  }

  // (2) N containers each, started alternately (the berth ones' ids kept for the cleanup).
  const startMs = { berth: [], containerd: [], podman: [] };
  const starters = [
    { name: 'berth', start: () => berthRun(bd, ['run', '-d', ...noNetwork(BERTH), IMG, 'sleep', '1000']) },
    { name: 'containerd', start: (i) => timedRun(['/usr/bin/ctr', '--address', cd.address, '-n', NS, 'run', '-d', ...cd.runFlags(), IMG, cd.id('sleep', i), 'sleep', '1000']) },
    { name: 'podman', start: () => pm.timed(['run', '-d', ...pm.runFlags(), IMG, 'sleep', '1000']) },
  ];
  for (let i = 0; i < N; i++) {
    for (const s of rotate(starters, i)) {
      const r = s.start(i);
      startMs[s.name].push(r.ms);
      if (s.name === 'berth') berthIds.add(r.stdout.trim());
    }
  }
  sleepMs(2000);
  const listings = [
    { name: 'berth ps', daemon: bd, argv: berthArgv(bd, ['ps']), env: berthEnv },
    { name: 'berth ps -a', daemon: bd, argv: berthArgv(bd, ['ps', '-a']), env: berthEnv },
    ...(BERTH_REF ? [{ name: 'berth-ref ps', daemon: bd, argv: berthArgv(bd, ['ps'], BERTH_REF) }] : []),
    { name: 'ctr containers ls', daemon: cd, argv: ['/usr/bin/ctr', '--address', cd.address, '-n', NS, 'containers', 'ls'] },
    { name: 'ctr task ls', daemon: cd, argv: ['/usr/bin/ctr', '--address', cd.address, '-n', NS, 'task', 'ls'] },
    { name: 'podman ps', argv: pm.argv(['ps']), env: pm.env },
    { name: 'podman ps -a', argv: pm.argv(['ps', '-a']), env: pm.env },
  ];
  const lt = Object.fromEntries(listings.map((l) => [l.name, { ms: [], cpu: [], daemonCpu: [], rows: 0 }]));
  const psCalls = [];
  for (const l of listings) timedRun(l.argv, l.env); // warm-up
  for (let round = 0; round < PS_ROUNDS; round++) {
    for (const l of rotate(listings, round)) {
      const d0 = l.daemon ? cpuMs(l.daemon.pid) : 0;
      const logAt = fs.statSync(bd.log).size;
      const r = timedRun(l.argv, l.env);
      if (l.daemon) {
        sleepMs(5);
        lt[l.name].daemonCpu.push(cpuMs(l.daemon.pid) - d0);
      }
      if (l.name === 'berth ps') psCalls.push(callsSince(bd, logAt));
      lt[l.name].ms.push(r.ms);
      lt[l.name].cpu.push(r.cpu);
      lt[l.name].rows = r.stdout.trim().split('\n').length - 1;
    }
  }

  // Report.
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
  console.log(`berth (bin/berth + berthd) vs ctr + containerd ${/Server:[^]*?Version:\s*(\S+)/.exec(cd.ctr(['version']).stdout)?.[1] ?? '?'} vs ${spawnSync('podman', ['--version'], { encoding: 'utf8' }).stdout.trim()} (runc ${/runc version (\S+)/.exec(spawnSync('runc', ['--version'], { encoding: 'utf8' }).stdout)?.[1]})`);
  console.log(`\nrun --rm IMG true, ${ROUNDS} interleaved rounds (order rotated), median wall time; client CPU and daemon CPU per run (mean):`);
  const b = median(t.berth.run);
  for (const s of systems) {
    const m = median(t[s.name].run);
    const ratio = s.name === 'berth' ? '' : `berth/${s.name} = ${(b / m).toFixed(2)}`;
    const dcpu = t[s.name].daemonCpu.length ? `daemon ${pad(mean(t[s.name].daemonCpu).toFixed(0), 3)} ms` : 'no daemon      ';
    console.log(`  ${s.name.padEnd(11)} ${pad(f1(m), 7)} ms   client ${pad(mean(t[s.name].cpu).toFixed(0), 3)} ms  ${dcpu}   ${ratio}`);
  }
  console.log(`  target: berth/containerd <= 0.5`);
  console.log(`  floors (same rounds, median): node -e 0 ${f1(median(node))} ms, ${systems.map((s) => `${s.floorName} ${f1(median(t[s.name].floor))} ms`).join(', ')}`);
  console.log(`\nberthd's gRPC calls per berth run --rm (BERTH_TIMING=1; calls, median ms summed over them):`);
  const runSum = callSummary(berthCalls);
  console.log(`  ${runSum.reduce((a, c) => a + c.n, 0)} calls, ${f1(runSum.reduce((a, c) => a + c.ms, 0))} ms in all: ${runSum.map((c) => `${c.method.replace(/^.*\.(\w+\/\w+)$/, '$1')}${c.n > 1 ? `×${c.n}` : ''} ${f1(c.ms)}`).join(', ')}`);

  console.log(`\nberth run --rm, the client's own BERTH_TIMING=1 marks (ms since its process started; median of ${CLIENT_ROUNDS} more runs):`);
  const at = (k) => median(clientRuns.map((c) => c.marks[k]).filter((v) => v !== undefined));
  const phase = [
    ['node ready', 'node'],
    ['code loaded (V8 code cache)', 'compiled'],
    ['run command loaded', 'loaded'],
    ['first call sent', 'firstCall'],
    ['Tasks/Create sent', 'createSent'],
    ['Tasks/Create answered', 'createDone'],
    ['Tasks/Wait answered (exit)', 'waitDone'],
    ['removal seen, done', 'done'],
  ];
  let prev = 0;
  console.log(`  ${phase.map(([label, k]) => {
    const v = at(k);
    const out = `${label} ${f1(v)} (+${f1(v - prev)})`;
    prev = v;
    return out;
  }).join(', ')}; process gone (wall) ${f1(median(clientRuns.map((c) => c.wall)))}`);
  console.log(`  bin/berth version with its code cache off: ${f1(median(uncached))} ms (median, same rounds as (1))`);

  console.log(`\n${N} containers (run -d IMG sleep 1000) under each; median start: ${starters.map((s) => `${s.name} ${f1(median(startMs[s.name]))} ms`).join(', ')}`);
  console.log(`listings, ${PS_ROUNDS} interleaved rounds, median wall time; client and daemon CPU per listing (mean):`);
  const bps = median(lt['berth ps'].ms);
  for (const l of listings) {
    const x = lt[l.name];
    const m = median(x.ms);
    const dcpu = x.daemonCpu.length ? `daemon ${pad(mean(x.daemonCpu).toFixed(1), 5)} ms` : 'no daemon       ';
    const ratio = l.name.startsWith('berth') ? '' : `berth ps/this = ${(bps / m).toFixed(2)}`;
    console.log(`  ${l.name.padEnd(18)} ${pad(f1(m), 7)} ms  ${pad(x.rows, 4)} rows   client ${pad(mean(x.cpu).toFixed(0), 3)} ms  ${dcpu}   ${ratio}`);
  }
  const psSum = callSummary(psCalls);
  console.log(`  berthd's calls per berth ps: ${psSum.map((c) => `${c.method.replace(/^.*\.(\w+\/\w+)$/, '$1')}${c.n > 1 ? `×${c.n}` : ''} ${f1(c.ms)} ms`).join(', ')}`);
  if (process.env.CPU_PROF === '1') profileClient(bd, path.dirname(bd.dir), IMG);
}

/**
 * CPU_PROF=1: one `node --cpu-prof` run of bin/berth per command (after the figures, with the
 * N containers still up); prints the profile's span and the functions with most self time.
 * Each command runs once unprofiled-for first under the same node flags, so the profiled run
 * starts from its code cache as the measured ones did (the cache is per node set-up).
 */
function profileClient(bd, dir, IMG) {
  console.log(`\nbin/berth under node --cpu-prof (one run each; profile span, then self time by function, ms):`);
  for (const args of [['version'], ['run', '--rm', ...noNetwork(BERTH), IMG, 'true'], ['ps']]) {
    const out = path.join(dir, `prof-${args[0]}`);
    const argv = [process.execPath, '--cpu-prof', '--cpu-prof-dir', out, ...berthArgv(bd, args)];
    timedRun(argv, berthEnv);
    timedRun(argv, berthEnv);
    const newest = fs.readdirSync(out).map((f) => path.join(out, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
    const p = JSON.parse(fs.readFileSync(newest, 'utf8'));
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const self = new Map();
    p.samples.forEach((id, i) => {
      const f = nodes.get(id).callFrame;
      const key = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
    });
    const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, ms]) => `${k} ${f1(ms)}`);
    console.log(`  berth ${args.join(' ')}: ${f1((p.endTime - p.startTime) / 1000)} ms; ${top.join(', ')}`);
  }
}

function run() {
  if (process.getuid() !== 0) throw new Error('run as root');
  for (const c of ['/usr/bin/ctr', '/usr/bin/containerd', '/usr/bin/podman', '/usr/bin/conmon', '/usr/sbin/runc', BERTH, path.join(repo, 'bin', 'berthd')]) {
    if (!fs.existsSync(c)) throw new Error(`missing ${c} (make deps build)`);
  }
  process.on('SIGINT', () => undefined);
  const before = {
    cgroups: new Set(nsCgroups()),
    run: new Set(['/run/containerd/runc/bench', '/run/containerd/runc', '/run/containerd/s', '/run/containerd/fifo', '/run/containerd'].filter((d) => fs.existsSync(d))),
    // What podman 4.3 writes outside its configured dirs (the blob-info cache).
    systemDirs: ['/var/lib/containers', '/var/cache/containers'].filter((p) => !fs.existsSync(p)),
    conmonSockets: new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('conmon-term.'))),
    berthParents: new Set(fs.readdirSync('/sys/fs/cgroup').map((h) => path.join('/sys/fs/cgroup', h, 'berth')).filter((d) => fs.existsSync(d))),
  };
  // No "berth" in the dir name: other e2e files' leak checks match that word.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-cli-${process.pid}-`));
  fs.chmodSync(dir, 0o711);
  berthEnv = { ...process.env, BERTH_CODE_CACHE: path.join(dir, 'code-cache') };
  const daemons = [];
  const berthIds = new Set();
  let pm;
  try {
    const image = buildImage(dir);
    for (const D of [Berthd, Containerd]) {
      const sub = path.join(dir, D === Berthd ? 'bd' : 'ctd');
      fs.mkdirSync(sub);
      const d = new D(sub);
      daemons.push(d);
      if (D === Berthd) d.boot({ BERTH_TIMING: '1' });
      else d.boot();
    }
    fs.mkdirSync(path.join(dir, 'pm'));
    pm = new Podman(path.join(dir, 'pm'));
    main(daemons, pm, image, berthIds);
  } finally {
    try {
      pm?.cleanup();
    } catch (err) {
      console.error(`warning: podman cleanup: ${err.message}`);
    }
    // Every berth container still in berthd: their ids for the cgroup check below.
    if (daemons[0]?.pid && alive(daemons[0].pid)) for (const id of daemons[0].lines(['containers', 'ls', '-q'])) berthIds.add(id);
    cleanup(dir, daemons, before);
    // berth's containers live in /berth/<id>; the daemon removed them when it deleted them.
    const left = [];
    for (const h of fs.readdirSync('/sys/fs/cgroup')) {
      for (const id of berthIds) {
        const cg = path.join('/sys/fs/cgroup', h, 'berth', id);
        if (!fs.existsSync(cg)) continue;
        try {
          fs.rmdirSync(cg);
        } catch {
          left.push(cg);
        }
      }
      const parent = path.join('/sys/fs/cgroup', h, 'berth');
      if (fs.existsSync(parent) && !before.berthParents.has(parent)) {
        try {
          fs.rmdirSync(parent);
        } catch {
          // someone else's containers meanwhile
        }
      }
    }
    if (left.length) console.error(`warning: berth cgroups left: ${left.join(' ')}`);
    // Not while another podman runs (an e2e test's may have made them since we looked).
    const isPodman = (pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0].endsWith('podman');
      } catch {
        return false;
      }
    };
    const otherPodman = pidsMentioning('podman').filter(isPodman);
    for (const p of before.systemDirs) if (!otherPodman.length) fs.rmSync(p, { recursive: true, force: true });
    for (const n of fs.readdirSync(os.tmpdir())) if (n.startsWith('conmon-term.') && !before.conmonSockets.has(n)) fs.rmSync(path.join(os.tmpdir(), n), { force: true });
  }
}

try {
  run();
} catch (err) {
  console.error(err.stack ?? String(err));
  process.exitCode = 1;
}
