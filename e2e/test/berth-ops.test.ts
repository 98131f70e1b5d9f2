import { spawn } from 'child_process';
import { existsSync, mkdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { sleep } from './support/env';
import { PrivateBerthd, alive, usePrivateBerthd } from './support/berthd';
import { BERTH, berthOk, berthRun, until } from './support/berth-cli';
import type { Image } from './support/image';

// The "ops" commands as a person types them, against a private berthd: top, pause/unpause,
// update (its effect read by the container itself from its cgroup files), stats, events, port,
// and restart policies through `berth run --restart` (the issue's "on-failure:3 restarts
// exactly 3 times"). Containers write what they see into a bind-mounted directory (-v).

let d: PrivateBerthd;
let image: Image;
let out: string;

usePrivateBerthd({ importImage: true }, (it) => ({ d, image } = it));
beforeAll(() => {
  out = join(d.dir, 'out');
  mkdirSync(out);
});

function berth(args: string[], timeoutMs = 30_000) {
  return berthRun(d, args, { timeoutMs });
}

const ok = (args: string[]): Promise<string> => berthOk(d, args);

const file = (name: string): string => (existsSync(join(out, name)) ? readFileSync(join(out, name), 'utf8') : '');
const pidOf = async (name: string): Promise<number> => Number((await ok(['inspect', '-f', '{{.State.Pid}}', name])).trim());

/** A berth command running in the background until stopped with SIGINT; its output so far. */
function background(args: string[]) {
  const child = spawn(BERTH, ['-H', `unix://${d.address}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => (stdout += b));
  child.stderr.on('data', (b) => (stderr += b));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 128))));
  return {
    out: () => stdout,
    err: () => stderr,
    exited,
    stop: async (): Promise<number> => {
      if (child.pid && alive(child.pid)) process.kill(child.pid, 'SIGINT');
      const timer = setTimeout(() => child.pid && alive(child.pid) && process.kill(child.pid, 'SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

describe('berth top, pause, unpause, port', () => {
  beforeAll(async () => {
    await ok(['run', '-d', '--name', 'topper', image.ref, 'sleep', '1000']);
    await ok(['run', '-d', '--name', 'counter', '-v', `${out}:/out`, image.ref, 'sh', '-c', 'n=0; while :; do n=$((n+1)); echo $n > /out/count; sleep 0.05; done']);
  });

  it('top: the host ps lines of the container\'s processes, with ps options passed on', async () => {
    const pid = await pidOf('topper');
    const lines = (await ok(['top', 'topper'])).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^UID +PID +PPID +C +STIME +TTY +TIME +CMD$/);
    expect(lines).toHaveLength(2);
    const row = lines[1]!.split(/ {2,}/);
    expect(row[0]).toBe('root');
    expect(Number(row[1])).toBe(pid);
    expect(row[row.length - 1]).toBe('sleep 1000');
    expect((await ok(['top', 'topper', '-o', 'pid,comm'])).trimEnd().split('\n').map((l) => l.split(/ +/))).toEqual([
      ['PID', 'COMMAND'],
      [String(pid), 'sleep'],
    ]);
    expect((await ok(['top', 'topper', 'aux'])).split('\n')[0]).toMatch(/^USER +PID +%CPU +%MEM/);
    const bad = await berth(['top', 'topper', '-o', 'comm']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/no PID column/);
    const missing = await berth(['top', 'nosuch']);
    expect(missing).toMatchObject({ code: 1, stderr: 'berth: No such container: nosuch\n' });
  });

  it('pause freezes the container and unpause thaws it; each refuses the wrong state', async () => {
    await until('the counter to count', () => Number(file('count')) > 3);
    expect(await ok(['pause', 'counter'])).toBe('counter\n');
    await sleep(200);
    const frozen = file('count');
    await sleep(600);
    expect(file('count')).toBe(frozen);
    expect(await ok(['ps', '--format', '{{.Names}} {{.Status}}', '-f', 'name=counter'])).toMatch(/^counter Up .* \(Paused\)\n$/);
    const again = await berth(['pause', 'counter']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^berth: Container [0-9a-f]{64} is already paused\n$/);
    // Several at once: the good one done, the bad one reported, exit 1.
    const both = await berth(['unpause', 'counter', 'topper']);
    expect(both.code).toBe(1);
    expect(both.stdout).toBe('counter\n');
    expect(both.stderr).toMatch(/^berth: Container [0-9a-f]{64} is not paused\n$/);
    await until('the counter to count again', () => Number(file('count')) > Number(frozen) + 3);
  });

  it('port: no published ports (networks come later)', async () => {
    expect(await berth(['port', 'topper'])).toMatchObject({ code: 0, stdout: '' });
    expect(await berth(['port', 'topper', '80'])).toMatchObject({ code: 1, stderr: "berth: No public port '80/tcp' published for topper\n" });
    expect((await berth(['port', 'topper', '80/bogus'])).code).toBe(125);
    expect((await berth(['port', 'nosuch'])).stderr).toBe('berth: No such container: nosuch\n');
  });
});

describe('berth update', () => {
  // The container reports its own cgroup limits every 100 ms.
  const LIMITS = 'while :; do cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us > /out/$1; sleep 0.1; done';

  it('-m, --memory-swap, --pids-limit, --cpus take effect inside a running container and are kept for its next start', async () => {
    await ok(['run', '-d', '--name', 'upd', '-m', '32m', '-v', `${out}:/out`, image.ref, 'sh', '-c', LIMITS, 'sh', 'upd']);
    await until('the first report', () => file('upd').split('\n')[0] === String(32 * 1024 * 1024));
    expect(await ok(['update', '-m', '64m', '--memory-swap', '128m', '--pids-limit', '20', '--cpus', '0.5', 'upd'])).toBe('upd\n');
    const want = [String(64 * 1024 * 1024), '20', '50000', ''].join('\n');
    await until('the new limits inside', () => file('upd') === want);
    expect((await ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}', 'upd'])).trim()).toBe(`${64 * 1024 * 1024} 20 500000000`);
    // Stopped, updated again, started: the record had it.
    await ok(['stop', '-t', '1', 'upd']);
    expect(await ok(['update', '-m', '48m', 'upd'])).toBe('upd\n');
    await ok(['start', 'upd']);
    await until('the recorded limits after start', () => file('upd') === [String(48 * 1024 * 1024), '20', '50000', ''].join('\n'));
    // Docker's rules.
    const swap = await berth(['update', '-m', '256m', 'upd']);
    expect(swap).toMatchObject({ code: 1, stderr: 'berth: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time\n' });
    expect(await berth(['update', 'upd'])).toMatchObject({ code: 125 });
    expect((await berth(['update', '--restart', 'sometimes', 'upd'])).stderr).toMatch(/invalid restart policy/);
  });

  it('--restart changes the policy berthd applies at the next exit', async () => {
    await ok(['run', '-d', '--name', 'pol', '-v', `${out}:/out`, image.ref, 'sh', '-c', 'echo run >> /out/pol; sleep 1000']);
    expect(await ok(['update', '--restart', 'on-failure:1', 'pol'])).toBe('pol\n');
    expect((await ok(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}', 'pol'])).trim()).toBe('on-failure:1');
    // The process dies by a signal from outside (not `berth kill`, which is a user's stop).
    process.kill(await pidOf('pol'), 'SIGKILL');
    await until('the restart', () => file('pol') === 'run\nrun\n');
    await until('running again', async () => (await ok(['inspect', '-f', '{{.State.Running}} {{.RestartCount}}', 'pol'])).trim() === 'true 1');
    process.kill(await pidOf('pol'), 'SIGKILL');
    await until('the end of the retries', async () => (await ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'pol'])).trim() === 'exited 137');
    await sleep(800);
    expect(file('pol')).toBe('run\nrun\n');
  });
});

describe('berth stats', () => {
  it('--no-stream: Docker\'s table for the running containers, limits and pids from the cgroup', async () => {
    await ok(['run', '-d', '--name', 'st', '-m', '64m', '--pids-limit', '10', image.ref, 'sh', '-c', 'sleep 1000 & sleep 1000 & wait']);
    await until('two sleeps', async () => (await ok(['top', 'st'])).split('\n').filter((l) => l.endsWith('sleep 1000')).length === 2);
    const table = (await ok(['stats', '--no-stream'])).trimEnd().split('\n');
    expect(table[0]).toMatch(/^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/);
    const row = table.find((l) => / st /.test(l))!.split(/ {2,}/);
    expect(row[0]).toMatch(/^[0-9a-f]{12}$/);
    expect(row[1]).toBe('st');
    expect(row[2]).toMatch(/^\d+\.\d\d%$/);
    expect(row[3]).toMatch(/^[\d.]+(B|KiB|MiB) \/ 64MiB$/);
    expect(row[5]).toBe('0B / 0B');
    expect(row[7]).toBe('3');
    // Named, with a template; a stopped container shows zeros; json.
    expect(await ok(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', 'st'])).toBe('st 3\n');
    const json = JSON.parse(await ok(['stats', '--no-stream', '--format', 'json', 'st']));
    expect(json).toMatchObject({ Name: 'st', PIDs: '3', NetIO: '0B / 0B' });
    expect(json.MemUsage).toMatch(/ \/ 64MiB$/);
  });

  it('CPU %: a busy loop shows near one CPU', async () => {
    await ok(['run', '-d', '--name', 'busy', image.ref, 'sh', '-c', 'while :; do :; done']);
    await sleep(300);
    const cpu = Number((await ok(['stats', '--no-stream', '--format', '{{.CPUPerc}}', 'busy'])).trim().replace('%', ''));
    expect(cpu).toBeGreaterThan(40);
    expect(cpu).toBeLessThan(110);
    await ok(['rm', '-f', 'busy']);
  });

  it('streams a table every second until interrupted', async () => {
    const s = background(['stats', '--format', 'table {{.Name}}\t{{.PIDs}}', 'st']);
    await until('two tables', () => s.out().split('\n').filter((l) => l.startsWith('NAME')).length >= 2, 5000);
    await s.stop();
    expect(s.err()).toBe('');
    expect(s.out().split('\n').filter((l) => /^st +3$/.test(l)).length).toBeGreaterThanOrEqual(2);
  });
});

describe('berth events', () => {
  it('Docker\'s lines for a container\'s life, with filters and --until', async () => {
    const all = background(['events']);
    const filtered = background(['events', '-f', 'event=die', '-f', 'event=destroy', '-f', 'container=ev', '--format', '{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}']);
    await sleep(500);
    await ok(['run', '-d', '--name', 'ev', image.ref, 'sh', '-c', 'sleep 1000']);
    await ok(['pause', 'ev']);
    await ok(['unpause', 'ev']);
    await ok(['rm', '-f', 'ev']);
    await until('the destroy line', () => /container destroy/.test(all.out()) && /destroy/.test(filtered.out()));
    await all.stop();
    await filtered.stop();
    const lines = all.out().trimEnd().split('\n').filter((l) => / name=ev\)$/.test(l));
    expect(lines.map((l) => l.split(' ')[2])).toEqual(['create', 'start', 'pause', 'unpause', 'die', 'destroy']);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z container create [0-9a-f]{64} \(image=\S+, name=ev\)$/);
    expect(lines[4]).toMatch(/ container die [0-9a-f]{64} \(exitCode=137, image=\S+, name=ev\)$/);
    // A key the map lacks prints Go's <no value>, as Docker's templates do.
    expect(filtered.out()).toBe('die ev 137\ndestroy ev <no value>\n');

    // --until ends the stream by itself; a past one at once, after berthd's kept events up to it
    // (the replay itself: berth-gaps.test.ts).
    const t0 = Date.now();
    const bounded = await berth(['events', '--until', String(Math.floor(Date.now() / 1000) + 2)]);
    expect(bounded.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    await sleep(1100);
    const past = await berth(['events', '--until', '1s', '-f', 'container=ev', '--format', '{{.Action}}']);
    expect(past).toMatchObject({ code: 0, stdout: 'create\nstart\npause\nunpause\ndie\ndestroy\n' });
    expect((await berth(['events', '--since', 'yesterday'])).code).toBe(125);
    expect((await berth(['events', '-f', 'colour=red'])).stderr).toMatch(/invalid filter 'colour'/);
  }, 30_000);
});

describe('restart policies through berth run', () => {
  it('--restart on-failure:3 restarts exactly 3 times', async () => {
    await ok(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:3', '-v', `${out}:/out`, image.ref, 'sh', '-c', 'echo run >> /out/flaky; exit 3']);
    await until('4 runs', () => file('flaky').split('\n').filter(Boolean).length === 4);
    await until('the final exit', async () => (await ok(['inspect', '-f', '{{.State.Status}}', 'flaky'])).trim() === 'exited');
    await sleep(1000);
    expect(file('flaky').split('\n').filter(Boolean)).toHaveLength(4);
    expect((await ok(['inspect', '-f', '{{.RestartCount}} {{.State.ExitCode}}', 'flaky'])).trim()).toBe('3 3');
  });

  it('--restart always: back after an exit, not after `berth stop`; a new `start` counts from zero', async () => {
    await ok(['run', '-d', '--name', 'forever', '--restart', 'always', '-v', `${out}:/out`, image.ref, 'sh', '-c', 'echo run >> /out/forever; sleep 0.3']);
    await until('two restarts', () => file('forever').split('\n').filter(Boolean).length >= 3);
    await ok(['stop', '-t', '1', 'forever']);
    const n = file('forever').split('\n').filter(Boolean).length;
    await sleep(1200);
    expect(file('forever').split('\n').filter(Boolean)).toHaveLength(n);
    expect((await ok(['inspect', '-f', '{{.State.Status}}', 'forever'])).trim()).toBe('exited');
    await ok(['start', 'forever']);
    await until('restarts after the start', () => file('forever').split('\n').filter(Boolean).length >= n + 2);
    expect(Number((await ok(['inspect', '-f', '{{.RestartCount}}', 'forever'])).trim())).toBeLessThanOrEqual(2);
    await ok(['rm', '-f', 'forever']);
  });
});
