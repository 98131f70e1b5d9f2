import { spawn } from 'child_process';
import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { RUNTIME, Sandbox, requireRoot, sleep } from './support/env';

// events on the real kernel: --stats prints one runc-shaped stats event with real numbers;
// the stream prints stats every interval and an oom event when the OOM killer kills a
// process of a container that keeps running, and ends when the container stops.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const MiB = 1024 * 1024;

async function start(script: string, resources: object, data?: string): Promise<string> {
  const bundle = sb.bundle((s) => {
    s.process.args = ['sh', '-c', script];
    if (data) s.mounts.push({ destination: '/data', source: data, options: ['rbind', 'rw'] });
    s.linux.resources = { ...s.linux.resources, ...resources };
  });
  const id = sb.id();
  expect((await sb.run(['run', '-d', '--bundle', bundle, id])).code).toBe(0);
  return id;
}

describe('events --stats', () => {
  it('prints one stats event in runc\'s shape with the container\'s real numbers', async () => {
    const id = await start('sleep 30 & exec sleep 31', { memory: { limit: 64 * MiB }, pids: { limit: 20 } });
    await sleep(200);
    const r = await sb.run(['events', '--stats', id]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.split('\n')).toHaveLength(2); // one line, newline-terminated
    const e = JSON.parse(r.stdout);
    expect(Object.keys(e)).toEqual(['type', 'id', 'data']);
    expect(e).toMatchObject({ type: 'stats', id });
    const d = e.data;
    expect(Object.keys(d)).toEqual(['cpu', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'intel_rdt', 'network_interfaces']);
    expect(d.cpu.usage.total).toBeGreaterThan(0);
    expect(d.cpu.usage.percpu.length).toBeGreaterThan(0);
    expect(typeof d.cpu.usage.kernel).toBe('number');
    expect(d.memory.usage.usage).toBeGreaterThan(0);
    expect(d.memory.usage.limit).toBe(64 * MiB);
    expect(d.memory.usage.failcnt).toBe(0);
    expect(d.memory.raw).toHaveProperty('rss');
    expect(d.pids).toEqual({ current: 2, limit: 20 });
    expect(d.cpuset.cpus.length).toBeGreaterThan(0);
    expect(d.hugetlb).toEqual({});
    expect(d.network_interfaces).toBeNull();
    // An unlimited v1 counter is printed exactly, not rounded to a double.
    expect(r.stdout).toContain('"swap":{"limit":9223372036854771712,');
  });

  it('refuses a stopped container and a bad interval', async () => {
    const id = await start('exit 0', {});
    await sb.waitStatus(id, 'stopped');
    expect(await sb.run(['events', '--stats', id])).toMatchObject({ code: 1, stderr: `berth-runtime: container with id ${id} is not running\n` });
    expect((await sb.run(['events', '--interval', '0s', id])).stderr).toBe('berth-runtime: duration interval must be greater than 0\n');
    expect((await sb.run(['events', '--interval', '5x', id])).stderr).toBe('berth-runtime: invalid value "5x" for flag -interval: time: invalid duration "5x"\n');
    expect((await sb.run(['delete', id])).code).toBe(0);
  });
});

describe('events stream', () => {
  it('reports an OOM kill inside a container that keeps running, and ends when the container stops', async () => {
    const data = join(sb.dir, 'data');
    mkdirSync(data);
    // The probe, not pid 1, outgrows the limit; the shell goes on sleeping.
    const id = await start(
      'while [ ! -e /data/go ]; do sleep 0.02; done; probe --alloc 100 > /dev/null || true; exec sleep 30',
      { memory: { limit: 32 * MiB, swap: 32 * MiB } },
      data,
    );
    const child = spawn(RUNTIME, ['--root', sb.root, 'events', '--interval', '500ms', id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const waitLine = async (match: (e: any) => boolean, what: string) => {
      for (let i = 0; i < 500; i++) {
        if (lines().some(match)) return;
        await sleep(20);
      }
      throw new Error(`no ${what} event; got ${lines().map((e) => e.type).join(',')} ${err}`);
    };
    try {
      await waitLine((e) => e.type === 'stats', 'stats');
      expect(lines().some((e) => e.type === 'oom')).toBe(false);
      writeFileSync(join(data, 'go'), '');
      await waitLine((e) => e.type === 'oom', 'oom');
      expect(lines().filter((e) => e.type === 'oom')).toEqual([{ type: 'oom', id }]);
      expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('running');
      // The next stats show the peak at the limit and only the shell left.
      await waitLine((e) => e.type === 'stats' && e.data.memory.usage.max === 32 * MiB && e.data.pids.current === 1, 'stats after the OOM');

      expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('still running'), 3000)))]);
      clearTimeout(timer);
      expect(code).toBe(0);
      expect(err).toBe('');
      for (const e of lines()) expect(e.id).toBe(id);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
