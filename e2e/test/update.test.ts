import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Sandbox, requireRoot, sleep } from './support/env';

// update on the real kernel: the new values land in the cgroup files, a partial update keeps
// what the last one set, a lowered pids limit stops forks, and a memory limit under the usage
// is refused naming --memory.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const MiB = 1024 * 1024;
const read = (path: string) => readFileSync(path, 'utf8').trim();

/** The container's cgroup directory per hierarchy, as its state.json records it. */
const cgroupPaths = (id: string): Record<string, string> => JSON.parse(readFileSync(join(sb.root, id, 'state.json'), 'utf8')).cgroupPaths;
const recorded = (id: string) => JSON.parse(readFileSync(join(sb.root, id, 'state.json'), 'utf8')).resources;

async function waitFor(path: string, pattern: RegExp): Promise<string> {
  let text = '';
  for (let i = 0; i < 250; i++) {
    text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (pattern.test(text)) return text;
    await sleep(20);
  }
  throw new Error(`${path} never matched ${pattern}: ${JSON.stringify(text)}`);
}

/** A detached container whose /data is a fresh host directory. */
async function start(script: string, resources: object): Promise<{ id: string; data: string }> {
  const data = join(sb.dir, `data-${Math.random().toString(36).slice(2)}`);
  mkdirSync(data);
  const bundle = sb.bundle((s) => {
    s.process.args = ['sh', '-c', script];
    s.mounts.push({ destination: '/data', source: data, options: ['rbind', 'rw'] });
    s.linux.resources = { ...s.linux.resources, ...resources };
  });
  const id = sb.id();
  expect(await sb.run(['run', '-d', '--bundle', bundle, id])).toMatchObject({ code: 0, stderr: '' });
  return { id, data };
}

describe('update', () => {
  it('writes each flag into its cgroup file, and a later partial update keeps the rest', async () => {
    const { id } = await start('sleep 30', { memory: { limit: 64 * MiB, swap: 64 * MiB }, cpu: { shares: 1024 } });
    const r = await sb.run([
      'update',
      '--memory', '48m',
      '--memory-swap', '96M',
      '--memory-reservation', '16m',
      '--cpu-share', '512',
      '--cpu-quota', '20000',
      '--cpu-period', '100000',
      '--cpuset-cpus', '0',
      '--pids-limit', '20',
      id,
    ]);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const p = cgroupPaths(id);
    const files = () => ({
      limit: read(`${p.memory}/memory.limit_in_bytes`),
      memsw: read(`${p.memory}/memory.memsw.limit_in_bytes`),
      soft: read(`${p.memory}/memory.soft_limit_in_bytes`),
      shares: read(`${p.cpu}/cpu.shares`),
      quota: read(`${p.cpu}/cpu.cfs_quota_us`),
      period: read(`${p.cpu}/cpu.cfs_period_us`),
      cpus: read(`${p.cpuset}/cpuset.cpus`),
      pids: read(`${p.pids}/pids.max`),
    });
    expect(files()).toEqual({
      limit: String(48 * MiB),
      memsw: String(96 * MiB),
      soft: String(16 * MiB),
      shares: '512',
      quota: '20000',
      period: '100000',
      cpus: '0',
      pids: '20',
    });

    // Raising the limit past the old memsw works only because the recorded swap (96M) is kept.
    expect(await sb.run(['update', '--memory', '80m', id])).toMatchObject({ code: 0, stderr: '' });
    expect(files()).toMatchObject({ limit: String(80 * MiB), memsw: String(96 * MiB), shares: '512', quota: '20000', pids: '20' });
    expect(recorded(id)).toMatchObject({ memory: { limit: 80 * MiB, swap: 96 * MiB, reservation: 16 * MiB }, cpu: { shares: 512, quota: 20000, cpus: '0' }, pids: { limit: 20 } });

    // -r - takes a LinuxResources document on stdin (and the flags beside it are ignored).
    const doc = await sb.run(['update', '-r', '-', '--pids-limit', '99', id], { input: JSON.stringify({ pids: { limit: 7 }, cpu: { shares: 300 } }) });
    expect(doc.code).toBe(0);
    expect(doc.stderr).toMatch(/--resources is given: --pids-limit ignored/);
    expect(files()).toMatchObject({ pids: '7', shares: '300', limit: String(80 * MiB) });

    const bad = await sb.run(['update', '--cpu-quota', 'lots', id]);
    expect(bad).toMatchObject({ code: 1, stderr: 'berth-runtime: invalid value for --cpu-quota: "lots" is not an integer\n' });
    const badDoc = await sb.run(['update', '-r', '-', id], { input: '{"memory":{"limit":"1g"}}' });
    expect(badDoc).toMatchObject({ code: 1, stderr: 'berth-runtime: linux.resources.memory.limit must be an integer\n' });
    const swap = await sb.run(['update', '--memory-swap', '32m', id]);
    expect(swap.code).toBe(1);
    expect(swap.stderr).toBe(`berth-runtime: --memory-swap ${32 * MiB} must be -1 or at least --memory ${80 * MiB} (it counts memory plus swap)\n`);
    expect(files()).toMatchObject({ limit: String(80 * MiB), memsw: String(96 * MiB) });
  });

  it('a lowered pids limit makes the next forks fail', async () => {
    // The container waits for the go file, then tries 10 forks: sh and the probe are 2 pids.
    const { id, data } = await start('while [ ! -e /data/go ]; do sleep 0.02; done; probe --fork 10 > /data/fork; sleep 30', { pids: { limit: 100 } });
    expect((await sb.run(['update', '--pids-limit', '4', id])).code).toBe(0);
    expect(read(`${cgroupPaths(id).pids}/pids.max`)).toBe('4');
    writeFileSync(join(data, 'go'), '');
    const fork = JSON.parse(await waitFor(join(data, 'fork'), /\}\s*$/)).fork;
    expect(fork).toEqual({ requested: 10, succeeded: 2, error: 'Resource temporarily unavailable' });
  });

  it('a memory limit under the usage is refused naming --memory, and the old limit stays', async () => {
    const { id, data } = await start('probe --alloc 24 --sleep 30 > /data/alloc', { memory: { limit: 64 * MiB, swap: 64 * MiB } });
    await waitFor(join(data, 'alloc'), /"alloc":"ok"/);
    const r = await sb.run(['update', '--memory', '4m', id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^berth-runtime: --memory: cannot lower the limit to ${4 * MiB} bytes: the container uses \\d+ bytes and the kernel could not reclaim enough \\(EBUSY\\)\\n$`));
    const used = Number(/uses (\d+) bytes/.exec(r.stderr)![1]);
    expect(used).toBeGreaterThan(20 * MiB);
    expect(read(`${cgroupPaths(id).memory}/memory.limit_in_bytes`)).toBe(String(64 * MiB));
    expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('running');
    // What create recorded stays: the refused update changed nothing.
    expect(recorded(id).memory).toEqual({ limit: 64 * MiB, swap: 64 * MiB });
  });

  it('refuses a stopped container and names the id when there is none', async () => {
    const { id } = await start('exit 0', {});
    await sb.waitStatus(id, 'stopped');
    expect(await sb.run(['update', '--memory', '10m', id])).toMatchObject({ code: 1, stderr: `berth-runtime: container not running: ${id} is stopped\n` });
    expect((await sb.run(['update', '--memory', '10m'])).stderr).toMatch(/"update" requires a container id/);
    expect((await sb.run(['delete', id])).code).toBe(0);
  });
});
