#!/usr/bin/env node
// Benchmark: peak RSS of each runtime command — `run` (foreground, of `true`), `create`,
// `start`, `exec` (of `true`), `state`, `kill`, `delete` — for berth-runtime, runc and crun,
// ROUNDS (5) rounds, the runtimes' order rotated; prints medians and ratios.
//
// How: `/usr/bin/time -f %M` (GNU time) reports ru_maxrss from wait4() of the command, which
// the kernel keeps as the maximum over the process (across its execve) and every descendant
// it waited for, transitively. So a figure is the peak of the largest single process among
// the runtime and the helpers it reaps (runc: `runc init`; crun: its clone child; berth: the
// node process, berth-init's stage0 and, with `run`/`exec`, the container process that stage0
// waits for) — not the sum of processes alive at once. Processes that outlive the command (the
// container after `create`) are not counted, for any runtime. Nothing polls: no peak is missed.
//
// berth-runtime's figure is Node's. berth-init's own peak is measured in a second pass, where
// BERTH_INIT points at a shell script that execs GNU time on berth-init. Not a wrapper in
// Python (Node cannot read a child's rusage): a process's ru_maxrss keeps what it had before
// its execve, and a child forked by python starts with python's pages (`busybox true` forked
// by python reports 8 MiB, by GNU time 1.3 MiB: the floor of every figure here). The one cost:
// GNU time holds a copy of the sync socket (fd 3), so berth sees the EOF that marks the
// container's execve only when berth-init exits — later, no different in memory, and this
// pass is not timed.
//
// Runs in a private mount namespace where crun accepts this VM's cgroups (see lib.js).
'use strict';
const fs = require('fs');
const path = require('path');
const lib = require('./lib');

const ROUNDS = Number(process.env.ROUNDS || 5);
const TIME = '/usr/bin/time';
if (!fs.existsSync(TIME)) {
  console.error(`${TIME} (GNU time, Debian package "time") is needed: apt-get install time`);
  process.exit(1);
}
lib.enterPrivateMountNamespace(__filename);

const COMMANDS = ['run', 'create', 'start', 'exec', 'state', 'kill', 'delete'];

const bench = new lib.Bench('rss');
try {
  const trueBundle = bench.bundle('true', ['true']);
  const sleepBundle = bench.bundle('sleep', ['sleep', '1000']);
  const { runtimes } = bench;
  const out = path.join(bench.dir, 'maxrss');

  /** Runs one runtime command under GNU time; its ru_maxrss in KiB. */
  const rss = (r, args, env) => {
    bench.exec(r, args, { wrap: [TIME, '-f', '%M', '-o', out], env });
    return Number(fs.readFileSync(out, 'utf8').trim().split('\n').pop());
  };

  /** One lifecycle: run of true; create, start, exec, state, kill, delete of a sleep. */
  const lifecycle = (r, tag, measure) => {
    const kib = {};
    kib.run = measure(r, ['run', '--bundle', trueBundle, bench.id(r.short, tag, 'run')]);
    const id = bench.id(r.short, tag);
    kib.create = measure(r, ['create', '--bundle', sleepBundle, id]);
    kib.start = measure(r, ['start', id]);
    kib.exec = measure(r, ['exec', id, 'true']);
    kib.state = measure(r, ['state', id]);
    kib.kill = measure(r, ['kill', id, 'KILL']);
    bench.waitStopped(r, id);
    kib.delete = measure(r, ['delete', id]);
    return kib;
  };

  const kib = Object.fromEntries(runtimes.map((r) => [r.name, Object.fromEntries(COMMANDS.map((c) => [c, []]))]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of lib.rotate(runtimes, round)) {
      const m = lifecycle(r, round, (rt, args) => rss(rt, args));
      for (const c of COMMANDS) kib[r.name][c].push(m[c]);
    }
  }

  // berth-init's own peak, through the wrapper; the runtime's figures of this pass are dropped.
  const berth = runtimes[0];
  const initOut = path.join(bench.dir, 'init-maxrss');
  const wrapper = path.join(bench.dir, 'berth-init-rss');
  const init = path.join(lib.repo, 'bin', 'berth-init');
  fs.writeFileSync(wrapper, `#!/bin/sh
exec ${TIME} -a -f %M -o '${initOut}' '${init}' "$@"
`, { mode: 0o755 });
  const initKib = { run: [], create: [], exec: [] };
  const env = { ...process.env, BERTH_INIT: wrapper };
  for (let round = 0; round < ROUNDS; round++) {
    lifecycle(berth, `init${round}`, (rt, args) => {
      fs.writeFileSync(initOut, '');
      bench.exec(rt, args, { env });
      const lines = fs.readFileSync(initOut, 'utf8').split('\n').filter(Boolean);
      if (initKib[args[0]]) {
        if (lines.length !== 1) throw new Error(`berth ${args[0]}: expected one berth-init, saw ${lines.length}`);
        initKib[args[0]].push(Number(lines[0]));
      }
      return 0;
    });
  }

  // The floors: Node.js alone, and the smallest static binary, under the same measurement.
  const floor = (argv) => {
    const samples = [];
    for (let i = 0; i < ROUNDS; i++) {
      require('child_process').execFileSync(TIME, ['-f', '%M', '-o', out, ...argv]);
      samples.push(Number(fs.readFileSync(out, 'utf8').trim().split('\n').pop()));
    }
    return lib.median(samples);
  };
  const nodeFloor = floor([process.execPath, '-e', '0']);
  const trueFloor = floor(['/bin/busybox', 'true']);

  const mib = (k) => (k / 1024).toFixed(1);
  const w = 8;
  console.log(`peak RSS per command (MiB; GNU time %M: the largest process among the command and the helpers it reaps), median of ${ROUNDS} rounds:`);
  console.log(`  ${''.padEnd(14)}${COMMANDS.map((c) => c.padStart(w)).join('')}`);
  for (const r of runtimes) console.log(`  ${r.name.padEnd(14)}${COMMANDS.map((c) => mib(lib.median(kib[r.name][c])).padStart(w)).join('')}`);
  for (const r of runtimes.slice(1)) {
    console.log(`  ${`berth/${r.name}`.padEnd(14)}${COMMANDS.map((c) => (lib.median(kib[berth.name][c]) / lib.median(kib[r.name][c])).toFixed(1).padStart(w)).join('')}`);
  }
  console.log(`  ${'berth-init'.padEnd(14)}${COMMANDS.map((c) => (initKib[c] ? mib(lib.median(initKib[c])) : '-').padStart(w)).join('')}   (its own peak: stage0 and the process it waits for; berth's other commands do not run it)`);
  console.log(`  ${'node -e 0'.padEnd(14)}${mib(nodeFloor).padStart(w)}   (Node.js alone, the floor of berth-runtime's figures)`);
  console.log(`  ${'busybox true'.padEnd(14)}${mib(trueFloor).padStart(w)}   (a static binary doing nothing, the floor of the measurement)`);
} finally {
  bench.cleanup();
}
