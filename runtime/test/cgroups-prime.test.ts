import { warmMigration } from '../src/cgroups/prime';
import { FakeHost, installFakeCgroupV1 } from './fake-host';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('warmMigration', () => {
  it('writes our own pid into our own cgroup while held, and stops once released', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host); // we are in / of every hierarchy
    const release = warmMigration(host);
    await sleep(30);
    const own = '/sys/fs/cgroup/cpu/cgroup.procs';
    const held = host.writesTo(own);
    expect(held.length).toBeGreaterThanOrEqual(2); // the first pays the wait, the rest keep it warm
    expect(new Set(held)).toEqual(new Set([String(process.pid)]));
    // Nothing else is touched: no other cgroup, no mkdir.
    expect(host.writes().every((w) => w.path === own)).toBe(true);
    release();
    release(); // idempotent: a second call must not end another holder's warmth
    await sleep(10);
    const after = host.writesTo(own).length;
    await sleep(30);
    expect(host.writesTo(own).length).toBe(after);
  });

  it('stays warm while any holder remains', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host);
    const a = warmMigration(host);
    const b = warmMigration(host);
    a();
    a();
    await sleep(10);
    const n = host.writesTo('/sys/fs/cgroup/cpu/cgroup.procs').length;
    await sleep(20);
    expect(host.writesTo('/sys/fs/cgroup/cpu/cgroup.procs').length).toBeGreaterThan(n);
    b();
  });

  it('never fails: without cgroups it does nothing', async () => {
    const host = new FakeHost(); // no mountinfo, no /proc/self/cgroup
    const release = warmMigration(host);
    await sleep(10);
    release();
    expect(host.writes()).toEqual([]);
  });
});
