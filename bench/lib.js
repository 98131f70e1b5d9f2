// What the bench/ scripts share: the private mount namespace crun needs on this VM, a scratch
// directory with a busybox rootfs and bundles, one root per runtime, timed commands, medians,
// and a cleanup that leaves no container, mount, directory or cgroup behind.
'use strict';
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const repo = path.resolve(__dirname, '..');
const berth = path.join(repo, 'bin', 'berth-runtime');
const controllers = '/sys/fs/cgroup/unified/cgroup.controllers';

/**
 * crun refuses this machine's hybrid cgroup layout (a cgroup2 mount with a non-empty
 * cgroup.controllers beside v1). So a benchmark re-runs itself in a private mount namespace
 * where that file is covered by an empty one (Bench does the covering); every runtime runs
 * there. Returns only in that inner run.
 */
function enterPrivateMountNamespace(script) {
  // A ^C reaches every process of the terminal's group: the runtime that is running dies,
  // the inner run sees it fail and cleans up. Neither node process may die of it first.
  process.on('SIGINT', () => undefined);
  if (process.env.BERTH_BENCH_INNER) return;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, script], {
    stdio: 'inherit', env: { ...process.env, BERTH_BENCH_INNER: '1' },
  });
  process.exit(r.status ?? 1);
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** The list rotated by `round`: who goes first changes every round. */
const rotate = (list, round) => list.map((_, i) => list[(i + round) % list.length]);

const hrms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Wall time of `node -e 0`: Node.js start-up alone, the floor of any Node CLI. */
function nodeStartMs() {
  const t0 = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  return hrms(t0);
}

class Bench {
  /** `tag` names the benchmark in the scratch dir and in every container id. */
  constructor(tag) {
    // Ids carry our pid: other benchmarks, tests and helpers may run containers meanwhile.
    this.prefix = `bench-${tag}-${process.pid}`;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-bench-${tag}-`));
    this.covered = false;
    // Every runtime's stderr, and that of the containers that outlive it: a pipe would keep
    // spawnSync waiting for as long as a detached container holds it.
    this.log = path.join(this.dir, 'stderr.log');
    this.logFd = fs.openSync(this.log, 'a');
    this.runtimes = [
      { name: 'berth-runtime', short: 'berth', cmd: berth },
      { name: 'runc', short: 'runc', cmd: 'runc' },
      { name: 'crun', short: 'crun', cmd: 'crun' },
    ]
      .filter((r) => r.cmd === berth || spawnSync('which', [r.cmd]).status === 0)
      .map((r) => ({ ...r, root: path.join(this.dir, `root-${r.short}`) }));
    try {
      if (fs.existsSync(controllers) && fs.readFileSync(controllers, 'utf8').trim() !== '') {
        const empty = path.join(this.dir, 'empty');
        fs.writeFileSync(empty, '');
        execFileSync('mount', ['--bind', empty, controllers]);
        this.covered = true;
      }
      this.rootfs = path.join(this.dir, 'rootfs');
      fs.mkdirSync(path.join(this.rootfs, 'bin'), { recursive: true });
      fs.copyFileSync('/bin/busybox', path.join(this.rootfs, 'bin', 'busybox'));
      fs.chmodSync(path.join(this.rootfs, 'bin', 'busybox'), 0o755);
      for (const a of ['sh', 'true', 'sleep']) fs.symlinkSync('busybox', path.join(this.rootfs, 'bin', a));
    } catch (err) {
      this.cleanup();
      throw err;
    }
  }

  /** A bundle (berth's default spec, no terminal) running `args` on the shared read-only rootfs. */
  bundle(name, args) {
    const dir = path.join(this.dir, name);
    fs.mkdirSync(dir);
    execFileSync(berth, ['spec', '--bundle', dir]);
    const cfgPath = path.join(dir, 'config.json');
    const spec = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    spec.root = { path: this.rootfs, readonly: true };
    spec.process.terminal = false;
    spec.process.args = args;
    fs.writeFileSync(cfgPath, JSON.stringify(spec));
    return dir;
  }

  id(...parts) {
    return [this.prefix, ...parts].join('-');
  }

  /**
   * Runs `r.cmd --root r.root ...args` (behind `wrap`, e.g. /usr/bin/time, if given); returns
   * its wall time in ms and the result. Throws, with what it wrote on stderr, if it fails.
   */
  exec(r, args, { env, stdout = 'ignore', wrap = [] } = {}) {
    const from = fs.fstatSync(this.logFd).size;
    const argv = [...wrap, r.cmd, '--root', r.root, ...args];
    const t0 = process.hrtime.bigint();
    const res = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', stdout, this.logFd], env: env ?? process.env, encoding: 'utf8' });
    const ms = hrms(t0);
    if (res.status !== 0) {
      const err = fs.readFileSync(this.log, 'utf8').slice(from).trim();
      throw new Error(`${r.name} ${args.join(' ')} failed (${res.status ?? res.signal}): ${err}`);
    }
    return { ms, res };
  }

  /** Polls `state` until the container is stopped (after a kill: nobody waits for it but init). */
  waitStopped(r, id) {
    for (let i = 0; i < 1000; i++) {
      const { res } = this.exec(r, ['state', id], { stdout: 'pipe' });
      if (JSON.parse(res.stdout).status === 'stopped') return;
      spawnSync('sleep', ['0.005']);
    }
    throw new Error(`${r.name}: ${id} still not stopped`);
  }

  /** Deletes every container of every runtime, then the mount, the dir and any cgroup left. */
  cleanup() {
    for (const r of this.runtimes) {
      if (!fs.existsSync(r.root)) continue;
      const list = spawnSync(r.cmd, ['--root', r.root, 'list', '--quiet'], { encoding: 'utf8' });
      for (const id of (list.stdout ?? '').split('\n').filter(Boolean)) {
        spawnSync(r.cmd, ['--root', r.root, 'delete', '--force', id], { stdio: 'ignore' });
      }
    }
    fs.closeSync(this.logFd);
    if (this.covered) spawnSync('umount', [controllers], { stdio: 'ignore' });
    fs.rmSync(this.dir, { recursive: true, force: true });
    const left = leftCgroups(this.prefix);
    for (const dir of left) {
      try {
        fs.rmdirSync(dir);
      } catch {
        /* still has processes: the warning names it */
      }
    }
    if (left.length) console.error(`warning: ${left.length} cgroups left behind by the runtimes (removed where empty): ${left.join(' ')}`);
  }
}

/** Cgroup dirs (deepest first) named after our containers, in every hierarchy. */
function leftCgroups(prefix, dir = '/sys/fs/cgroup', depth = 0) {
  const out = [];
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isDirectory() || depth > 4) continue;
    const sub = path.join(dir, e.name);
    out.push(...leftCgroups(prefix, sub, depth + 1));
    if (e.name.startsWith(prefix)) out.push(sub);
  }
  return out;
}

/** `  name   12.3 ms   berth/name = 1.23`, one line per runtime, as runtime-run.js prints them. */
function medianLines(runtimes, times) {
  const b = median(times['berth-runtime']);
  return runtimes.map((r) => {
    const m = median(times[r.name]);
    return `  ${r.name.padEnd(14)} ${m.toFixed(1).padStart(7)} ms${r.name === 'berth-runtime' ? '' : `   berth/${r.name} = ${(b / m).toFixed(2)}`}`;
  });
}

/** Medians of BERTH_TIMING=1 marks over several stderr texts: [phase, ms after start]. */
function phaseMedians(stderrs) {
  const phases = new Map();
  for (const text of stderrs) {
    for (const m of text.matchAll(/^berth-timing\s+([\d.]+) ms  (.*)$/gm)) {
      if (!phases.has(m[2])) phases.set(m[2], []);
      phases.get(m[2]).push(Number(m[1]));
    }
  }
  return [...phases].map(([phase, at]) => [phase, median(at)]);
}

/** `   12.3 ms  + 4.5  phase`: when each phase ended and how long it took. */
function phaseLines(phases) {
  let prev = 0;
  return phases.map(([phase, t]) => {
    const line = `  ${t.toFixed(1).padStart(7)} ms  +${(t - prev).toFixed(1).padStart(5)}  ${phase}`;
    prev = t;
    return line;
  });
}

/** Rss and Pss of a process in KiB, from /proc/<pid>/smaps_rollup (Pss splits shared pages). */
function smapsRollup(pid) {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('Rss'), pss: kb('Pss') };
}

module.exports = { repo, berth, enterPrivateMountNamespace, median, rotate, hrms, nodeStartMs, Bench, medianLines, phaseMedians, phaseLines, smapsRollup };
