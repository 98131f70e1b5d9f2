import { spawn, type ChildProcess } from 'child_process';
import { existsSync, mkdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { sleep } from './support/env';
import { PrivateBerthd, CTR, alive, usePrivateBerthd } from './support/berthd';
import type { Image } from './support/image';
import { until } from './support/berth-cli';

// Restart policies carried out by berthd (core/containers/restart-monitor.ts), on containers
// made with Debian's ctr carrying the labels the berth client writes: berth/created-by=berth,
// containerd.io/restart.policy, and containerd.io/restart.status=running (what `berth run`
// sets at start). A user's `berth stop` is what it writes before signalling:
// restart.status=stopped and restart.explicitly-stopped=true (`ctr containers label`, then
// `ctr task kill`). Each container appends a line to a bind-mounted file per run, so runs are
// counted by the container itself; timings come from `ctr events`.

let d: PrivateBerthd;
let image: Image;
let out: string;

usePrivateBerthd({ importImage: true }, (it) => ({ d, image } = it));
beforeAll(() => {
  out = join(d.dir, 'out');
  mkdirSync(out);
});

/** ctr run -d of a berth container with `policy`, running `script` after logging the run to out/<id>. */
async function runContainer(id: string, policy: string, script: string): Promise<void> {
  const r = await d.ctr([
    'run', '-d',
    '--label', 'berth/created-by=berth',
    '--label', `containerd.io/restart.policy=${policy}`,
    '--label', 'containerd.io/restart.status=running',
    '--mount', `type=bind,src=${out},dst=/out,options=rbind:rw`,
    image.ref, id, 'sh', '-c', `echo run >> /out/${id}; ${script}`,
  ]);
  if (r.code !== 0) throw new Error(`ctr run ${id}: ${r.stderr}`);
}

const runs = (id: string): number => (existsSync(join(out, id)) ? readFileSync(join(out, id), 'utf8').split('\n').filter(Boolean).length : 0);

async function tasks(): Promise<Map<string, { pid: number; status: string }>> {
  const m = new Map<string, { pid: number; status: string }>();
  for (const line of (await d.ctr(['task', 'ls'])).stdout.split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id && pid && status) m.set(id, { pid: Number(pid), status });
  }
  return m;
}

async function labels(id: string): Promise<Record<string, string>> {
  const r = await d.ctr(['containers', 'info', id]);
  if (r.code !== 0) throw new Error(`info ${id}: ${r.stderr}`);
  return JSON.parse(r.stdout).Labels ?? {};
}

/** What `berth stop` does: the labels first, then the signal. */
async function userStop(id: string): Promise<void> {
  expect((await d.ctr(['containers', 'label', id, 'containerd.io/restart.status=stopped', 'containerd.io/restart.explicitly-stopped=true'])).code).toBe(0);
  await d.ctr(['task', 'kill', '-s', 'SIGKILL', id]); // may already have exited: fine
  await until(`${id} to stop`, async () => (await tasks()).get(id)?.status === 'STOPPED');
}

/** `ctr events` in the background: each line's time (ms), topic and container id. */
class EventLog {
  private readonly child: ChildProcess;
  private text = '';
  constructor() {
    this.child = spawn(CTR, ['--address', d.address, 'events'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child.stdout!.on('data', (b) => (this.text += b));
  }
  of(id: string): { at: number; topic: string; exitStatus?: number }[] {
    const outl: { at: number; topic: string; exitStatus?: number }[] = [];
    for (const line of this.text.split('\n')) {
      const m = /^(\S+) (\S+) \+0000 UTC \S+ (\/tasks\/\S+) (\{.*\})$/.exec(line);
      if (!m) continue;
      const ev = JSON.parse(m[4]!);
      if (ev.container_id !== id) continue;
      outl.push({ at: Date.parse(`${m[1]}T${m[2]}Z`), topic: m[3]!, ...(ev.exit_status !== undefined ? { exitStatus: ev.exit_status } : {}) });
    }
    return outl;
  }
  /** ms from each /tasks/exit to the /tasks/start after it. */
  gaps(id: string): number[] {
    const evs = this.of(id);
    const g: number[] = [];
    evs.forEach((e, i) => {
      if (e.topic !== '/tasks/exit') return;
      const next = evs.slice(i + 1).find((x) => x.topic === '/tasks/start');
      if (next) g.push(next.at - e.at);
    });
    return g;
  }
  stop(): void {
    if (this.child.pid && alive(this.child.pid)) process.kill(this.child.pid, 'SIGKILL');
  }
}

describe('restart policies, carried out by berthd', () => {
  it('on-failure:3 restarts a failing container exactly 3 times, 100/200/400 ms apart, and counts them', async () => {
    const events = new EventLog();
    try {
      await sleep(200); // ctr events is subscribed
      await runContainer('rp-fail', 'on-failure:3', 'exit 3');
      await until('3 restarts', () => runs('rp-fail') === 4);
      // Then nothing more: the 4th failure is the last.
      await sleep(1500);
      expect(runs('rp-fail')).toBe(4);
      expect((await tasks()).get('rp-fail')?.status).toBe('STOPPED');
      const l = await labels('rp-fail');
      expect(l['containerd.io/restart.count']).toBe('3');
      expect(l['containerd.io/restart.status']).toBe('running');
      const evs = events.of('rp-fail');
      expect(evs.filter((e) => e.topic === '/tasks/start')).toHaveLength(4);
      expect(evs.filter((e) => e.topic === '/tasks/exit').map((e) => e.exitStatus)).toEqual([3, 3, 3, 3]);
      // Docker's back-off: each wait at least its delay; the machine adds the rest.
      const gaps = events.gaps('rp-fail');
      expect(gaps).toHaveLength(3);
      [100, 200, 400].forEach((delay, i) => {
        expect(gaps[i]).toBeGreaterThanOrEqual(delay);
        expect(gaps[i]).toBeLessThan(delay + 1500);
      });
    } finally {
      events.stop();
    }
  }, 30_000);

  it('on-failure does not restart a container that exits 0', async () => {
    await runContainer('rp-ok', 'on-failure', 'exit 0');
    await until('rp-ok to exit', async () => (await tasks()).get('rp-ok')?.status === 'STOPPED');
    await sleep(1000);
    expect(runs('rp-ok')).toBe(1);
    expect((await labels('rp-ok'))['containerd.io/restart.count']).toBeUndefined();
  });

  it('the back-off starts again at 100 ms after a run of 10 s', async () => {
    const events = new EventLog();
    try {
      await sleep(200);
      // Runs 1 and 2 fail at once, run 3 lasts 10.3 s, run 4 fails at once, run 5 ends it.
      await runContainer('rp-reset', 'on-failure:4', 'if [ "$(wc -l < /out/rp-reset)" -eq 3 ]; then sleep 10.3; fi; exit 1');
      await until('5 runs', () => runs('rp-reset') === 5, 25_000);
      await until('the last exit', async () => (await tasks()).get('rp-reset')?.status === 'STOPPED');
      const gaps = events.gaps('rp-reset');
      expect(gaps).toHaveLength(4);
      // 100, 200, then (after the long run) 100 again rather than 400, then 200.
      [100, 200, 100, 200].forEach((delay, i) => expect(gaps[i]).toBeGreaterThanOrEqual(delay));
      // Without the reset the third wait would be 400 ms.
      expect(gaps[2]).toBeLessThan(400);
    } finally {
      events.stop();
    }
  }, 40_000);

  it('always restarts after exit 0 too; a container the user stopped stays stopped', async () => {
    await runContainer('rp-always', 'always', 'sleep 0.5');
    await until('2 restarts', () => runs('rp-always') >= 3);
    await userStop('rp-always');
    const n = runs('rp-always');
    await sleep(1500);
    expect(runs('rp-always')).toBe(n);
    expect((await tasks()).get('rp-always')?.status).toBe('STOPPED');
    // Stopped during a back-off wait as well: the restart looks at the labels again first.
    await runContainer('rp-always2', 'always', 'exit 1');
    await until('a restart', () => runs('rp-always2') >= 2);
    await userStop('rp-always2');
    const m = runs('rp-always2');
    await sleep(1500);
    expect(runs('rp-always2')).toBe(m);
  }, 30_000);

  it('across a berthd restart: what exited while it was away comes back per policy; unless-stopped stays stopped; always comes back even if stopped', async () => {
    await runContainer('rr-keep', 'always', 'sleep 1000'); // runs through: not touched
    await runContainer('rr-always', 'always', 'sleep 1000');
    await runContainer('rr-unless', 'unless-stopped', 'sleep 1000');
    await runContainer('rr-fail', 'on-failure:2', 'sleep 1000');
    await runContainer('rr-no', 'no', 'sleep 1000');
    await runContainer('rr-unless-stopped', 'unless-stopped', 'sleep 1000');
    await runContainer('rr-always-stopped', 'always', 'sleep 1000');
    await userStop('rr-unless-stopped');
    await userStop('rr-always-stopped');
    const before = await tasks();

    expect(await d.stop('SIGKILL')).toBe(137);
    // While berthd is away, four of them die (their shims record 137).
    const killed = ['rr-always', 'rr-unless', 'rr-fail', 'rr-no'];
    for (const id of killed) process.kill(before.get(id)!.pid, 'SIGKILL');
    await until('the kills', () => killed.every((id) => !alive(before.get(id)!.pid)));
    await d.start();

    const up = ['rr-always', 'rr-unless', 'rr-fail', 'rr-always-stopped'];
    await until('the restarts', async () => {
      const t = await tasks();
      return up.every((id) => t.get(id)?.status === 'RUNNING' && t.get(id)?.pid !== before.get(id)?.pid);
    });
    const after = await tasks();
    expect(after.get('rr-keep')).toEqual(before.get('rr-keep'));
    expect(after.get('rr-no')?.status).toBe('STOPPED');
    expect(after.get('rr-unless-stopped')?.status).toBe('STOPPED');
    for (const id of up) expect(runs(id)).toBe(2);
    expect(runs('rr-no')).toBe(1);
    expect(runs('rr-unless-stopped')).toBe(1);
    for (const id of up) expect((await labels(id))['containerd.io/restart.count']).toBe('1');
    // Docker: an `always` container the user stopped is started by the daemon's start, and is
    // then wanted running again.
    expect(await labels('rr-always-stopped')).toMatchObject({
      'containerd.io/restart.status': 'running',
      'containerd.io/restart.explicitly-stopped': 'false',
    });
    // The new tasks are berthd's: killed now, they come back again (the monitor watches them).
    process.kill(after.get('rr-fail')!.pid, 'SIGKILL');
    await until('rr-fail\'s second restart', () => runs('rr-fail') === 3);
    await until('rr-fail running', async () => (await tasks()).get('rr-fail')?.status === 'RUNNING');
    expect((await labels('rr-fail'))['containerd.io/restart.count']).toBe('2');
    // ... up to on-failure's count.
    process.kill((await tasks()).get('rr-fail')!.pid, 'SIGKILL');
    await until('rr-fail to stay down', async () => (await tasks()).get('rr-fail')?.status === 'STOPPED');
    await sleep(1000);
    expect(runs('rr-fail')).toBe(3);
  }, 60_000);

  it('leaves containers alone that are not berth\'s', async () => {
    const r = await d.ctr(['run', '-d', '--label', 'containerd.io/restart.policy=always', '--label', 'containerd.io/restart.status=running', image.ref, 'rp-ctr', 'false']);
    expect(r.code).toBe(0);
    await until('rp-ctr to exit', async () => (await tasks()).get('rp-ctr')?.status === 'STOPPED');
    const pid = (await tasks()).get('rp-ctr')!.pid;
    await sleep(1000);
    expect((await tasks()).get('rp-ctr')).toEqual({ pid, status: 'STOPPED' });
  });
});
