import { existsSync, readdirSync } from 'fs';
import { Sandbox, leakSnapshot, probeOutput, requireRoot, sleep } from './support/env';

// Many containers in a row leave nothing behind: no mounts, cgroups, processes, state
// directories, nor fds in the process driving them.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const openFds = () => readdirSync('/proc/self/fd').length;
/** Every "berth" directory right below a hierarchy root: the shared default parent included. */
const berthCgroupDirs = () => readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}/berth`).filter((d) => existsSync(d));


describe('leaks', () => {
  it('leaves nothing after 50 runs and 10 detached run/kill/delete cycles', async () => {
    const probeBundle = sb.bundle();
    const sleeper = sb.bundle((s) => (s.process.args = ['sleep', '30']));
    // One run first, so whatever Node opens once for child processes is already open.
    expect((await sb.run(['run', '--bundle', probeBundle, sb.id()])).code).toBe(0);
    expect(berthCgroupDirs()).toEqual([]);
    const before = leakSnapshot();
    const fdsBefore = openFds();

    const t0 = Date.now();
    for (let i = 0; i < 50; i++) {
      const r = await sb.run(['run', '--bundle', probeBundle, sb.id('leak')]);
      if (r.code !== 0 || r.stderr !== '') throw new Error(`run ${i} failed (${r.code}): ${r.stderr}`);
      expect(probeOutput(r.stdout).pid).toBe(1);
    }
    const tRuns = Date.now() - t0;

    const t1 = Date.now();
    for (let i = 0; i < 10; i++) {
      const id = sb.id('leakd');
      expect(await sb.run(['run', '-d', '--bundle', sleeper, id])).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('running');
      expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
      await sb.waitStatus(id, 'stopped');
      expect(await sb.run(['delete', id])).toMatchObject({ code: 0, stderr: '' });
    }
    const tDetached = Date.now() - t1;
    // eslint-disable-next-line no-console
    console.log(`50 runs: ${tRuns} ms (${(tRuns / 50).toFixed(0)} ms each); 10 run -d/kill/delete: ${tDetached} ms`);
    expect(tRuns + tDetached).toBeLessThan(90_000);

    // The detached containers held our pipes until they died: let the last closes land.
    for (let i = 0; i < 50 && openFds() > fdsBefore + 2; i++) await sleep(20);
    expect(leakSnapshot()).toEqual(before);
    expect((await sb.run(['list', '-q'])).stdout).toBe('');
    expect(readdirSync(sb.root)).toEqual([]);
    expect(berthCgroupDirs()).toEqual([]);
    expect(openFds()).toBeLessThanOrEqual(fdsBefore + 2);
  }, 120_000);
});
