#!/usr/bin/env node
// Benchmark: `run` of `true` on one busybox bundle with berth-runtime, runc and crun,
// interleaved round by round so machine noise hits all three alike. Prints medians and ratios.
//
// crun refuses this machine's hybrid cgroup layout (a cgroup2 mount with a non-empty
// cgroup.controllers beside v1). So the whole benchmark re-runs itself in a private mount
// namespace where that file is covered by an empty one; every runtime runs there.
'use strict';
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROUNDS = Number(process.env.ROUNDS || 30);
const repo = path.resolve(__dirname, '..');
const berth = path.join(repo, 'bin', 'berth-runtime');
const controllers = '/sys/fs/cgroup/unified/cgroup.controllers';

if (!process.env.BERTH_BENCH_INNER) {
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, __filename], {
    stdio: 'inherit', env: { ...process.env, BERTH_BENCH_INNER: '1' },
  });
  process.exit(r.status ?? 1);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
try {
  if (fs.existsSync(controllers) && fs.readFileSync(controllers, 'utf8').trim() !== '') {
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '');
    execFileSync('mount', ['--bind', empty, controllers]);
  }
  const rootfs = path.join(dir, 'bundle', 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'true']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  execFileSync(berth, ['spec', '--bundle', path.join(dir, 'bundle')]);
  const cfgPath = path.join(dir, 'bundle', 'config.json');
  const spec = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['true'];
  fs.writeFileSync(cfgPath, JSON.stringify(spec));

  const runtimes = [
    { name: 'berth-runtime', cmd: berth },
    { name: 'runc', cmd: 'runc' },
    { name: 'crun', cmd: 'crun' },
  ].filter((r) => r.cmd === berth || spawnSync('which', [r.cmd]).status === 0);

  const times = Object.fromEntries(runtimes.map((r) => [r.name, []]));
  const nodeOnly = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate who goes first: a cgroup v1 migration is cheap right after another one (the
    // kernel's threadgroup lock is still in its slow mode), so a fixed order would favour some.
    const order = runtimes.map((_, i) => runtimes[(i + round) % runtimes.length]);
    for (const r of order) {
      const id = `bench-${r.name}-${round}`;
      const t0 = process.hrtime.bigint();
      const res = spawnSync(r.cmd, ['--root', path.join(dir, `root-${r.name}`), 'run', '--bundle', path.join(dir, 'bundle'), id], { stdio: ['ignore', 'ignore', 'pipe'] });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (res.status !== 0) throw new Error(`${r.name} run failed (${res.status}): ${res.stderr}`);
      times[r.name].push(ms);
    }
    const t0 = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    nodeOnly.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const b = median(times['berth-runtime']);
  console.log(`run of \`true\`, ${ROUNDS} interleaved rounds, median wall time:`);
  for (const r of runtimes) {
    const m = median(times[r.name]);
    console.log(`  ${r.name.padEnd(14)} ${m.toFixed(1).padStart(7)} ms${r.name === 'berth-runtime' ? '' : `   berth/${r.name} = ${(b / m).toFixed(2)}`}`);
  }
  console.log(`  ${'node -e 0'.padEnd(14)} ${median(nodeOnly).toFixed(1).padStart(7)} ms   (Node.js start-up alone, the floor of any Node CLI)`);

  // Where berth's time goes: BERTH_TIMING=1 marks when each phase ended; medians of each.
  const phases = new Map();
  for (let i = 0; i < Math.min(ROUNDS, 15); i++) {
    const res = spawnSync(berth, ['--root', path.join(dir, 'root-timing'), 'run', '--bundle', path.join(dir, 'bundle'), `timing-${i}`], {
      env: { ...process.env, BERTH_TIMING: '1' }, encoding: 'utf8',
    });
    for (const m of res.stderr.matchAll(/^berth-timing\s+([\d.]+) ms  (.*)$/gm)) {
      if (!phases.has(m[2])) phases.set(m[2], []);
      phases.get(m[2]).push(Number(m[1]));
    }
  }
  console.log('\nberth-runtime run, phase ends (ms after process start, median) and each phase\'s share:');
  let prev = 0;
  for (const [phase, at] of phases) {
    const t = median(at);
    console.log(`  ${t.toFixed(1).padStart(7)} ms  +${(t - prev).toFixed(1).padStart(5)}  ${phase}`);
    prev = t;
  }
} finally {
  spawnSync('umount', [controllers], { stdio: 'ignore' });
  fs.rmSync(dir, { recursive: true, force: true });
}
