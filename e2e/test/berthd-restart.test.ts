import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'fs';
import { join } from 'path';
import { sleep } from './support/env';
import { PrivateBerthd, CTR, alive, usePrivateBerthd } from './support/berthd';
import { processesMatching, run } from './support/containerd';
import type { Image } from './support/image';
import { until } from './support/berth-cli';

// The restart acceptance, through Debian's ctr: three containers — A writing a line to
// its log (`ctr run --log-uri file://…`) every 100 ms, B blocked reading its stdin, C exiting
// with 7 a second after it started — then berthd is SIGKILLed. The containers' shims keep
// them, their stdio and A's log (the shim writes it, not berthd); C exits meanwhile and its
// shim records the status. berthd started again on the same root and state finds all three.

let d: PrivateBerthd;
let image: Image;
usePrivateBerthd({ importImage: true }, (it) => ({ d, image } = it));

/** `ctr task ls` as id → { pid, status }. */
async function tasks(): Promise<Map<string, { pid: number; status: string }>> {
  const out = new Map<string, { pid: number; status: string }>();
  for (const line of (await d.ctr(['task', 'ls'])).stdout.split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id && pid && status) out.set(id, { pid: Number(pid), status });
  }
  return out;
}

/** The `line <n>` numbers of A's log, in file order. */
function lineNumbers(log: string): number[] {
  return readFileSync(log, 'utf8').split('\n').flatMap((l) => (/^line \d+$/.test(l) ? [Number(l.slice(5))] : []));
}

async function killAndDelete(id: string): Promise<{ code: number; stderr: string }> {
  expect((await d.ctr(['task', 'kill', '-s', 'SIGKILL', id])).code).toBe(0);
  await until(`${id} to stop`, async () => (await tasks()).get(id)?.status === 'STOPPED', 5_000);
  return d.ctr(['task', 'delete', id]);
}

describe('berthd restart, and container logs from --log-uri', () => {
  it('keeps 3 containers across a SIGKILL: still running with the same pids, the log without a gap, the real exit code of one that ended meanwhile', async () => {
    // A directory that does not exist yet: berthd makes it, as containerd's shim does.
    const log = join(d.dir, 'logs', 'a', 'a.log');
    const a = await d.ctr([
      'run', '-d', '--log-uri', `file://${log}`, image.ref, 'rs-a',
      'sh', '-c', 'echo "a starts" >&2; n=0; while :; do n=$((n+1)); echo "line $n"; sleep 0.1; done',
    ]);
    expect(a).toMatchObject({ code: 0, stderr: '' });
    expect((await d.ctr(['run', '-d', image.ref, 'rs-b', 'sh', '-c', 'while read l; do echo "b got $l"; done; exit 6'])).code).toBe(0);
    await until('A to log a few lines', () => existsSync(log) && lineNumbers(log).length >= 3, 5_000);
    expect((await d.ctr(['run', '-d', image.ref, 'rs-c', 'sh', '-c', 'sleep 1; exit 7'])).code).toBe(0);

    const before = await tasks();
    expect([...before.entries()].map(([id, t]) => [id, t.status])).toEqual([['rs-a', 'RUNNING'], ['rs-b', 'RUNNING'], ['rs-c', 'RUNNING']]);
    const pid = (id: string) => before.get(id)!.pid;
    expect(statSync(log).mode & 0o777).toBe(0o644);

    // --- berthd is killed while all three run.
    expect(await d.stop('SIGKILL')).toBe(137);
    const killedAt = Date.now();
    const linesAtKill = lineNumbers(log).length;
    // C exits on its own (its shim reaps it); A and B run on. At least 1.5 s of outage.
    await until('C to exit while berthd is down', () => !alive(pid('rs-c')), 5_000);
    await sleep(Math.max(0, 1500 - (Date.now() - killedAt)));
    expect([alive(pid('rs-a')), alive(pid('rs-b'))]).toEqual([true, true]);
    const outageMs = Date.now() - killedAt;
    const grown = lineNumbers(log).length - linesAtKill;
    // ~one line per 100 ms kept coming while nobody but the shim was there (busybox's sleep
    // and a fork per line make it a little slower than that, a loaded machine much slower).
    expect(grown).toBeGreaterThanOrEqual(Math.floor((outageMs / 100) * 0.5));
    expect(grown).toBeLessThanOrEqual(Math.ceil(outageMs / 100) + 2);

    // --- berthd again, on the same root and state.
    await d.start();
    const after = await tasks();
    expect(after.get('rs-a')).toEqual({ pid: pid('rs-a'), status: 'RUNNING' });
    expect(after.get('rs-b')).toEqual({ pid: pid('rs-b'), status: 'RUNNING' });
    expect(after.get('rs-c')?.status).toBe('STOPPED');
    const delC = await d.ctr(['task', 'delete', 'rs-c']);
    expect(delC.code).toBe(0);
    // ctr's note about the status it collected (what containerd's ctr prints too).
    expect(delC.stderr).toMatch(/task rs-c exit with non-zero exit code 7\b/);

    // A is still under control: an exec runs in it (its output is not A's log) ...
    const linesAtStart = lineNumbers(log).length;
    const ex = await d.ctr(['task', 'exec', '--exec-id', 'after-restart', 'rs-a', 'sh', '-c', 'echo from-exec; exit 4']);
    expect(ex).toMatchObject({ code: 4, stdout: 'from-exec\n' });
    // ... and an exec cannot take a log of its own: the shim keeps one, the task's.
    const exLog = await d.ctr(['task', 'exec', '--exec-id', 'with-log', '--log-uri', `file://${log}.exec`, 'rs-a', 'true']);
    expect(exLog.code).not.toBe(0);
    expect(exLog.stderr).toMatch(/stdout: file:\/\/ is only for a task's own process/);
    expect(existsSync(`${log}.exec`)).toBe(false);

    // B's stdin FIFO is still the shim's: attach writes to it; B reads, answers and, at the
    // end of our input, exits 6 (ctr's attach then deletes the task, as it does on containerd).
    const att = await run(CTR, ['--address', d.address, 'task', 'attach', 'rs-b'], { input: 'hello\nworld\n', timeoutMs: 10_000 });
    expect(att).toMatchObject({ code: 6, stdout: 'b got hello\nb got world\n' });
    expect((await tasks()).has('rs-b')).toBe(false);
    await until('A to keep logging after the restart', () => lineNumbers(log).length >= linesAtStart + 3, 5_000);

    // A stops; then its whole log: stderr's line and every n from 1 to the last, raw (no CRI
    // prefix), with no gap across the outage and the restart.
    const delA = await killAndDelete('rs-a');
    expect(delA.code).toBe(0);
    expect(delA.stderr).toMatch(/exit code 137/);
    const text = readFileSync(log, 'utf8');
    const numbers = lineNumbers(log);
    expect(numbers.length).toBeGreaterThan(linesAtStart);
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    expect(text.split('\n').filter((l) => l && !/^line \d+$/.test(l))).toEqual(['a starts']);
    expect(text.endsWith('\n')).toBe(true);

    // Everything goes: no task, container, shim, bundle, mount or cgroup left.
    expect((await d.ctr(['task', 'ls', '-q'])).stdout.trim()).toBe('');
    for (const id of ['rs-a', 'rs-b', 'rs-c']) expect((await d.ctr(['containers', 'rm', id])).code).toBe(0);
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
    expect(readdirSync(join(d.state, 'tasks', 'default'))).toEqual([]);
    expect(existsSync(join(d.state, 'shims', 'default')) ? readdirSync(join(d.state, 'shims', 'default')) : []).toEqual([]);
    for (const id of ['rs-a', 'rs-b', 'rs-c']) expect(alive(pid(id))).toBe(false);
    expect(processesMatching(d.dir).filter((p) => p.includes('berth-shim'))).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(d.dir))).toEqual([]);
    for (const id of ['rs-a', 'rs-b', 'rs-c']) expect(existsSync(`/sys/fs/cgroup/memory/default/${id}`)).toBe(false);
  }, 90_000);

  it('ctr run --log-uri in the foreground: both streams raw into the file, the exit code is ctr\'s; other URIs are refused naming the field', async () => {
    const log = join(d.dir, 'logs', 'fg.log');
    const r = await d.ctr(['run', '--rm', '--log-uri', `file://${log}`, image.ref, 'rs-fg', 'sh', '-c', 'echo out; echo err >&2; printf "no newline"; exit 3']);
    expect(r).toMatchObject({ code: 3, stdout: '' });
    // The streams' order between each other is the order the shim read them in; each is whole.
    const text = readFileSync(log, 'utf8');
    expect(text.length).toBe('out\nerr\nno newline'.length);
    expect(text).toContain('err\n');
    expect(text.replace('err\n', '')).toBe('out\nno newline');

    // binary:// (a logging program containerd's shim would start) is not supported ...
    const bin = await d.ctr(['run', '-d', '--log-uri', 'binary:///bin/cat?x=1', image.ref, 'rs-bin', 'true']);
    expect(bin.code).not.toBe(0);
    expect(bin.stderr).toMatch(/stdout: unsupported URI scheme binary: invalid argument/);
    // ... and a plain path means a FIFO, as ever: a regular file is refused, untouched.
    const plainLog = join(d.dir, 'logs', 'plain.log');
    writeFileSync(plainLog, 'keep\n');
    const plain = await d.ctr(['run', '-d', '--log-uri', plainLog, image.ref, 'rs-plain', 'true']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain(`stdout: ${plainLog} is not a FIFO`);
    expect(readFileSync(plainLog, 'utf8')).toBe('keep\n');
    // A refused create leaves the container record (ctr made it) and nothing else.
    expect((await d.ctr(['task', 'ls', '-q'])).stdout.trim()).toBe('');
    expect(readdirSync(join(d.state, 'tasks', 'default'))).toEqual([]);
    for (const id of ['rs-bin', 'rs-plain']) expect((await d.ctr(['containers', 'rm', id])).code).toBe(0);
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
  });
});
