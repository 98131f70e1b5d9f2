import { mkdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { Sandbox, requireRoot, sleep } from './support/env';

// pause and resume on the real freezer: while paused the container's loop stops advancing,
// after resume it goes on; both refuse the wrong state with runc's words.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const sh = (script: string) => (spec: any) => (spec.process.args = ['sh', '-c', script]);

/** The container's counter, written by its loop into the bind-mounted data dir ('' mid-write). */
const counter = (data: string) => {
  try {
    return readFileSync(join(data, 'count'), 'utf8').trim();
  } catch {
    return '';
  }
};

async function waitAbove(data: string, min: number): Promise<number> {
  for (let i = 0; i < 250; i++) {
    const n = Number(counter(data) || 0);
    if (n > min) return n;
    await sleep(20);
  }
  throw new Error(`counter stayed at ${counter(data)}, expected it above ${min}`);
}

describe('pause / resume', () => {
  it('freezes every process of the container until resume', async () => {
    const data = join(sb.dir, 'data');
    mkdirSync(data);
    const bundle = sb.bundle((s) => {
      // Two processes count: pid 1 and a child, so freezing only the init would show.
      sh('loop() { i=0; while :; do i=$((i+1)); echo $i > /data/$1; sleep 0.02; done; }; loop child & loop count')(s);
      s.mounts.push({ destination: '/data', source: data, options: ['rbind', 'rw'] });
    });
    const id = sb.id();
    expect((await sb.run(['run', '-d', '--bundle', bundle, id])).code).toBe(0);
    await waitAbove(data, 2);

    expect(await sb.run(['pause', id])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('paused');
    const { cgroupPaths } = JSON.parse(readFileSync(join(sb.root, id, 'state.json'), 'utf8'));
    expect(readFileSync(join(cgroupPaths.freezer, 'freezer.state'), 'utf8').trim()).toBe('FROZEN');
    const frozen = [counter(data), readFileSync(join(data, 'child'), 'utf8')];
    await sleep(400);
    expect([counter(data), readFileSync(join(data, 'child'), 'utf8')]).toEqual(frozen);

    const again = await sb.run(['pause', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`berth-runtime: container not running: ${id} is paused\n`);

    expect(await sb.run(['resume', id])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('running');
    await waitAbove(data, Number(frozen[0] || 0) + 3);
    const resumed = await sb.run(['resume', id]);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toBe(`berth-runtime: container not paused: ${id} is running\n`);

    // A paused container can still be force-deleted (thawed so the SIGKILL lands).
    expect((await sb.run(['pause', id])).code).toBe(0);
    expect((await sb.run(['delete', '--force', id])).code).toBe(0);
    expect((await sb.run(['list', '-q'])).stdout).toBe('');
  });

  it('refuses to pause a created or stopped container, and to resume one that is not paused', async () => {
    const id = sb.id();
    expect((await sb.run(['create', '--bundle', sb.bundle(sh('sleep 30')), id])).code).toBe(0);
    expect((await sb.run(['pause', id])).stderr).toBe(`berth-runtime: container not running: ${id} is created\n`);
    expect((await sb.run(['resume', id])).stderr).toBe(`berth-runtime: container not paused: ${id} is created\n`);
    expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    const stopped = await sb.run(['pause', id]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toBe(`berth-runtime: container not running: ${id} is stopped\n`);
    expect((await sb.run(['pause', 'no-such'])).stderr).toMatch(/container no-such does not exist/);
    expect((await sb.run(['pause'])).stderr).toMatch(/"pause" requires a container id/);
    expect((await sb.run(['delete', id])).code).toBe(0);
  });
});
