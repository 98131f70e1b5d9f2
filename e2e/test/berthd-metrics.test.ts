import { spawn, type ChildProcess } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';
import { sleep } from './support/env';
import { CTR, PrivateBerthd, usePrivateBerthd } from './support/berthd';
import type { Image } from './support/image';
import { until } from './support/berth-cli';
import { TASKS, createClient, packJsonAny } from '../../manager/src/api';

// Debian's ctr (containerd 1.6) reading what berthd reports about running containers:
// `ctr task metrics` decodes containerd's cgroups v1 Metrics (this host's controllers are v1),
// and `ctr events` shows /tasks/oom when the kernel OOM-kills a process in a container's memory
// cgroup — before the /tasks/exit of an init it killed.

let d: PrivateBerthd;
let image: Image;
usePrivateBerthd({ importImage: true }, (it) => ({ d, image } = it));

const MiB = 1024 * 1024;
const HOG = 'x=a; while true; do x=$x$x; done';

async function untilStatus(id: string, status: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (new RegExp(`^${id}\\s+\\d+\\s+${status}$`, 'm').test((await d.ctr(['task', 'ls'])).stdout)) return;
    await sleep(50);
  }
  throw new Error(`${id} did not become ${status}`);
}

async function remove(id: string): Promise<void> {
  await d.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
  await untilStatus(id, 'STOPPED');
  expect((await d.ctr(['task', 'rm', id])).code).toBe(0);
  expect((await d.ctr(['containers', 'rm', id])).code).toBe(0);
}

/** `ctr events` in the background; lines() are its task events as [topic, event JSON]. */
function watchEvents(): { stop(): void; lines(id: string): [string, any][] } {
  const child: ChildProcess = spawn(CTR, ['--address', d.address, 'events'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  return {
    stop: () => child.kill('SIGKILL'),
    // `<date> <time> <zone> UTC <namespace> <topic> <event JSON>`
    lines: (id) =>
      out
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[5]?.startsWith('/tasks/') && f.slice(6).join(' ').includes(`"${id}"`))
        .map((f) => [f[5]!, JSON.parse(f.slice(6).join(' '))]),
  };
}

describe('ctr task metrics against berthd', () => {
  const id = 'metered';
  let pid = 0;

  beforeAll(async () => {
    // Two processes: the init execs the second sleep, the first stays its child.
    const r = await d.ctr(['run', '-d', '--memory-limit', String(64 * MiB), image.ref, id, 'sh', '-c', 'sleep 1000 & exec sleep 1001']);
    if (r.code !== 0) throw new Error(`run: ${r.stderr}`);
    pid = Number(/^\S+\s+(\d+)/m.exec((await d.ctr(['task', 'ls'])).stdout.split('\n').find((l) => l.startsWith(id + ' ')) ?? '')?.[1]);
    // ctr has no `task update`; its Go client's Update sends this (nerdctl update --pids-limit).
    const tasks = createClient(TASKS, `unix://${d.address}`, { namespace: 'default' });
    try {
      await tasks.Update({ containerId: id, resources: packJsonAny('types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', { pids: { limit: 42 } }) });
    } finally {
      tasks.close();
    }
    for (let i = 0; i < 100 && !/sleep\x001001/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')); i++) await sleep(20);
  }, 30_000);

  afterAll(async () => {
    await remove(id);
  });

  it('prints the table containerd prints: memory usage and limit, cpuacct, pids', async () => {
    const r = await d.ctr(['task', 'metrics', id]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const rows = Object.fromEntries(r.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((c) => c.length >= 2 && /^[a-z]+\.[a-z_.]+$/.test(c[0]!)).map((c) => [c[0]!, c.slice(1).join(' ')]));
    expect(Object.keys(rows)).toEqual(['memory.usage_in_bytes', 'memory.limit_in_bytes', 'memory.stat.cache', 'cpuacct.usage', 'cpuacct.usage_percpu', 'pids.current', 'pids.limit']);
    expect(Number(rows['memory.usage_in_bytes'])).toBeGreaterThan(0);
    expect(Number(rows['memory.usage_in_bytes'])).toBeLessThan(64 * MiB);
    expect(rows['memory.limit_in_bytes']).toBe(String(64 * MiB));
    expect(Number(rows['cpuacct.usage'])).toBeGreaterThan(0);
    expect(rows['cpuacct.usage_percpu']).toMatch(/^\[\d+( \d+)*\]$/);
    expect(rows['pids.current']).toBe('2');
    expect(rows['pids.limit']).toBe('42');
    expect(r.stdout).toMatch(new RegExp(`^ID\\s+TIMESTAMP\\s*\\n${id}\\s+\\d{4}-`, 'm'));
  });

  it('--format json: the whole v1 Metrics, agreeing with the container\'s cgroup files', async () => {
    const r = await d.ctr(['task', 'metrics', '--format', 'json', id]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const m = JSON.parse(r.stdout);
    const memDir = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:memory:/.test(l))!.split(':')[2]!;
    const cgroup = join('/sys/fs/cgroup/memory', memDir);
    expect(m.pids).toEqual({ current: 2, limit: 42 });
    expect(m.memory.usage.limit).toBe(64 * MiB);
    expect(m.memory.usage.usage).toBeGreaterThan(0);
    expect(m.memory.usage.max).toBeGreaterThanOrEqual(m.memory.usage.usage);
    expect(m.memory.hierarchical_memory_limit).toBe(64 * MiB);
    expect(m.memory.total_pg_fault).toBeGreaterThan(0);
    // Go's encoder leaves zero counters out (omitempty): no OOM yet, the killer enabled.
    expect(readFileSync(join(cgroup, 'memory.oom_control'), 'utf8')).toMatch(/^oom_kill_disable 0\nunder_oom 0\noom_kill 0\n/);
    expect(m.memory_oom_control).toEqual({});
    expect(m.cpu.usage.total).toBeGreaterThan(0);
    expect(m.cpu.usage.per_cpu).toHaveLength(readFileSync(join(cgroup.replace('/memory/', '/cpuacct/'), 'cpuacct.usage_percpu'), 'utf8').trim().split(/\s+/).length);
    expect(m.memory.kernel.limit).toBeGreaterThan(2 ** 53);
  });
});

describe('OOM kills through ctr events', () => {
  let events: ReturnType<typeof watchEvents>;

  beforeAll(async () => {
    events = watchEvents();
    await sleep(300); // subscribed before anything happens
  });

  afterAll(() => events.stop());

  it('an init the kernel OOM-kills: /tasks/oom, then /tasks/exit with 137', async () => {
    const r = await d.ctr(['run', '--rm', '--memory-limit', String(16 * MiB), image.ref, 'oom-init', 'sh', '-c', HOG]);
    expect(r.code).toBe(137);
    await until('/tasks/delete', () => events.lines('oom-init').some(([t]) => t === '/tasks/delete'), 15_000);
    const lines = events.lines('oom-init');
    expect(lines.map(([t]) => t)).toEqual(['/tasks/create', '/tasks/start', '/tasks/oom', '/tasks/exit', '/tasks/delete']);
    expect(lines[2]![1]).toEqual({ container_id: 'oom-init' });
    expect(lines[3]![1]).toMatchObject({ container_id: 'oom-init', id: 'oom-init', exit_status: 137 });
  }, 30_000);

  it('a child OOM-killed while the init lives on: /tasks/oom, and the task keeps running', async () => {
    const id = 'oom-child';
    const r = await d.ctr(['run', '-d', '--memory-limit', String(16 * MiB), image.ref, id, 'sh', '-c', `(${HOG}); exec sleep 1000`]);
    expect(r.code).toBe(0);
    await until('/tasks/oom', () => events.lines(id).some(([t]) => t === '/tasks/oom'), 15_000);
    await sleep(200);
    expect((await d.ctr(['task', 'ls'])).stdout).toMatch(new RegExp(`^${id}\\s+\\d+\\s+RUNNING$`, 'm'));
    expect(events.lines(id).map(([t]) => t)).toEqual(['/tasks/create', '/tasks/start', '/tasks/oom']);
    await remove(id);
    await until('/tasks/delete', () => events.lines(id).some(([t]) => t === '/tasks/delete'), 15_000);
    // Our SIGKILL is no OOM: still one.
    expect(events.lines(id).map(([t]) => t)).toEqual(['/tasks/create', '/tasks/start', '/tasks/oom', '/tasks/exit', '/tasks/delete']);
  }, 30_000);
});
