#!/usr/bin/env node
// Benchmark: N (50) × `run -d` of `sleep 1000`, one after the other, then the teardown of all
// N, with berth-runtime, runc and crun. Two teardowns are timed, each after its own N starts:
// N × `delete --force` (SIGKILL, wait for the process to be gone, remove cgroup and state), and
// N × `kill KILL` then N × `delete`. One batch is one runtime's 2 × N starts and both
// teardowns; the runtimes' batches alternate, their order rotated, BATCHES (3) each. Prints
// the median over batches of each total (starts: over both halves of every batch).
// Runs in a private mount namespace where crun accepts this VM's cgroups (see lib.js).
'use strict';
const { spawnSync } = require('child_process');
const lib = require('./lib');

const N = Number(process.env.N || 50);
const BATCHES = Number(process.env.BATCHES || 3);
lib.enterPrivateMountNamespace(__filename);

const bench = new lib.Bench('many');
try {
  const bundle = bench.bundle('bundle', ['sleep', '1000']);
  const { runtimes } = bench;
  const series = ['starts', 'delete --force', 'kill KILL', 'delete'];
  const t = Object.fromEntries(runtimes.map((r) => [r.name, Object.fromEntries(series.map((k) => [k, []]))]));
  let retries = 0;
  for (let batch = 0; batch < BATCHES; batch++) {
    for (const r of lib.rotate(runtimes, batch)) {
      const timed = (key, ids, args) => {
        const t0 = process.hrtime.bigint();
        for (const id of ids) args(id);
        t[r.name][key].push(lib.hrms(t0));
      };
      const start = (id) => bench.exec(r, ['run', '-d', '--bundle', bundle, id]);
      // Teardown 1: one `delete --force` per container.
      let ids = Array.from({ length: N }, (_, i) => bench.id(r.short, batch, 'f', i));
      timed('starts', ids, start);
      timed('delete --force', ids, (id) => bench.exec(r, ['delete', '--force', id]));
      // Teardown 2: SIGKILL to all N, then `delete` each (by then long stopped; if one is not
      // yet reaped, the delete is refused and retried, the retry counted in the time).
      ids = Array.from({ length: N }, (_, i) => bench.id(r.short, batch, 'k', i));
      timed('starts', ids, start);
      timed('kill KILL', ids, (id) => bench.exec(r, ['kill', id, 'KILL']));
      timed('delete', ids, (id) => {
        for (let i = 0; ; i++) {
          try {
            return bench.exec(r, ['delete', id]);
          } catch (err) {
            if (i === 100) throw err;
            retries++;
            spawnSync('sleep', ['0.01']);
          }
        }
      });
    }
  }

  const med = (r, key) => lib.median(t[r.name][key]);
  const cell = (ms, w) => `${ms.toFixed(0)} ms (${(ms / N).toFixed(1)})`.padStart(w);
  const w = 18;
  console.log(`${N} containers (\`sleep 1000\`) per batch, ${BATCHES} batches per runtime, interleaved; total ms for the ${N} (per container), median:`);
  console.log(`  ${''.padEnd(14)}${series.map((k) => (k === 'starts' ? 'run -d' : k).padStart(w)).join('')}${'kill+delete'.padStart(w)}`);
  const kd = (r) => med(r, 'kill KILL') + med(r, 'delete');
  for (const r of runtimes) console.log(`  ${r.name.padEnd(14)}${series.map((k) => cell(med(r, k), w)).join('')}${cell(kd(r), w)}`);
  const b = runtimes[0];
  for (const r of runtimes.slice(1)) {
    console.log(`  ${`berth/${r.name}`.padEnd(14)}${series.map((k) => (med(b, k) / med(r, k)).toFixed(2).padStart(w)).join('')}${(kd(b) / kd(r)).toFixed(2).padStart(w)}`);
  }
  if (retries) console.log(`  (${retries} deletes were refused while the killed process was not yet gone, and retried)`);
} finally {
  bench.cleanup();
}
