#!/usr/bin/env node
// Benchmark: `exec` of `true` (no tty, in the foreground) into a running container, one
// container per runtime (`run -d` of `sh -c 'sleep 1000'`), berth-runtime, runc and crun
// interleaved round by round, the order rotated. Prints medians and ratios, then where
// berth's time goes from its BERTH_TIMING=1 marks.
// Runs in a private mount namespace where crun accepts this VM's cgroups (see lib.js).
'use strict';
const { spawnSync } = require('child_process');
const lib = require('./lib');

const ROUNDS = Number(process.env.ROUNDS || 30);
lib.enterPrivateMountNamespace(__filename);

const bench = new lib.Bench('exec');
try {
  const bundle = bench.bundle('bundle', ['sh', '-c', 'sleep 1000']);
  const { runtimes } = bench;
  const ids = {};
  for (const r of runtimes) {
    ids[r.name] = bench.id(r.short);
    bench.exec(r, ['run', '-d', '--bundle', bundle, ids[r.name]]);
  }

  const times = Object.fromEntries(runtimes.map((r) => [r.name, []]));
  const nodeOnly = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of lib.rotate(runtimes, round)) times[r.name].push(bench.exec(r, ['exec', ids[r.name], 'true']).ms);
    nodeOnly.push(lib.nodeStartMs());
  }
  console.log(`exec of \`true\` into a running container, ${ROUNDS} interleaved rounds, median wall time:`);
  for (const line of lib.medianLines(runtimes, times)) console.log(line);
  console.log(`  ${'node -e 0'.padEnd(14)} ${lib.median(nodeOnly).toFixed(1).padStart(7)} ms   (Node.js start-up alone, the floor of any Node CLI)`);

  const berth = runtimes[0];
  const stderrs = [];
  const totals = [];
  for (let i = 0; i < Math.min(ROUNDS, 15); i++) {
    const t0 = process.hrtime.bigint();
    const res = spawnSync(berth.cmd, ['--root', berth.root, 'exec', ids[berth.name], 'true'], {
      env: { ...process.env, BERTH_TIMING: '1' }, encoding: 'utf8',
    });
    totals.push(lib.hrms(t0));
    stderrs.push(res.stderr);
  }
  const phases = lib.phaseMedians(stderrs);
  phases.push(['`true` ran and exited, stage0 and node exited (wall time seen by the caller, spawn included)', lib.median(totals)]);
  console.log('\nberth-runtime exec, phase ends (ms after process start, median) and each phase\'s share:');
  for (const line of lib.phaseLines(phases)) console.log(line);

  for (const r of runtimes) bench.exec(r, ['delete', '--force', ids[r.name]]);
} finally {
  bench.cleanup();
}
