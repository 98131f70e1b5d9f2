#!/usr/bin/env node
// Benchmark: `run` of `true` on one busybox bundle with berth-runtime, runc and crun,
// interleaved round by round so machine noise hits all three alike. Prints medians and ratios.
// Runs in a private mount namespace where crun accepts this VM's cgroups (see lib.js).
'use strict';
const { spawnSync } = require('child_process');
const lib = require('./lib');

const ROUNDS = Number(process.env.ROUNDS || 30);
lib.enterPrivateMountNamespace(__filename);

const bench = new lib.Bench('run');
try {
  const bundle = bench.bundle('bundle', ['true']);
  const { runtimes } = bench;

  const times = Object.fromEntries(runtimes.map((r) => [r.name, []]));
  const nodeOnly = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate who goes first: a cgroup v1 migration is cheap right after another one (the
    // kernel's threadgroup lock is still in its slow mode), so a fixed order would favour some.
    for (const r of lib.rotate(runtimes, round)) {
      times[r.name].push(bench.exec(r, ['run', '--bundle', bundle, bench.id(r.short, round)]).ms);
    }
    nodeOnly.push(lib.nodeStartMs());
  }
  console.log(`run of \`true\`, ${ROUNDS} interleaved rounds, median wall time:`);
  for (const line of lib.medianLines(runtimes, times)) console.log(line);
  console.log(`  ${'node -e 0'.padEnd(14)} ${lib.median(nodeOnly).toFixed(1).padStart(7)} ms   (Node.js start-up alone, the floor of any Node CLI)`);

  // Where berth's time goes: BERTH_TIMING=1 marks when each phase ended; medians of each.
  const berth = runtimes[0];
  const stderrs = [];
  for (let i = 0; i < Math.min(ROUNDS, 15); i++) {
    const res = spawnSync(berth.cmd, ['--root', berth.root, 'run', '--bundle', bundle, bench.id('timing', i)], {
      env: { ...process.env, BERTH_TIMING: '1' }, encoding: 'utf8',
    });
    stderrs.push(res.stderr);
  }
  console.log('\nberth-runtime run, phase ends (ms after process start, median) and each phase\'s share:');
  for (const line of lib.phaseLines(lib.phaseMedians(stderrs))) console.log(line);
} finally {
  bench.cleanup();
}
