import { CgroupError, detectLayout, loadCgroup, openCgroup, V1Cgroup } from '../src/cgroups';
import type { CgroupManager } from '../src/cgroups/types';
import { FakeHost, installFakeCgroupV1, type FakeCgroupV1Options } from './fake-host';

const CG = '/sys/fs/cgroup';
const MiB = 1024 * 1024;

interface Setup {
  host: FakeHost;
  cg: CgroupManager;
  sleeps: number[];
}

async function setup(options: FakeCgroupV1Options & { id?: string; path?: string } = {}): Promise<Setup> {
  const host = new FakeHost();
  installFakeCgroupV1(host, options);
  const layout = await detectLayout(host);
  const sleeps: number[] = [];
  const cg = await openCgroup(host, layout, options.path, options.id ?? 'c1', {
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { host, cg, sleeps };
}

async function created(options: FakeCgroupV1Options & { id?: string; path?: string } = {}): Promise<Setup> {
  const s = await setup(options);
  await s.cg.create();
  s.host.clearLog();
  return s;
}

async function errorOf(p: Promise<unknown>): Promise<CgroupError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CgroupError)) throw new Error(`expected a CgroupError, got ${String(err)}`);
  return err;
}

describe('v1 create and join', () => {
  it('creates the directory in every mounted hierarchy and the unified one on hybrid', async () => {
    const { host, cg } = await setup();
    await cg.create();
    for (const h of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified']) {
      expect(host.dirs.has(`${CG}/${h}/berth/c1`)).toBe(true);
    }
    expect(cg.paths['']).toBe(`${CG}/unified/berth/c1`);
  });

  it('copies the parent cpuset into every new level, parents first, so a process can join', async () => {
    const { host, cg } = await setup({ cpus: '0-3', mems: '0-1' });
    await cg.create();
    expect(host.content(`${CG}/cpuset/berth/cpuset.cpus`)).toBe('0-3');
    expect(host.content(`${CG}/cpuset/berth/cpuset.mems`)).toBe('0-1');
    expect(host.content(`${CG}/cpuset/berth/c1/cpuset.cpus`)).toBe('0-3');
    expect(host.content(`${CG}/cpuset/berth/c1/cpuset.mems`)).toBe('0-1');
    const order = host.log((p) => p.startsWith(`${CG}/cpuset/`));
    expect(order).toEqual([
      `mkdir ${CG}/cpuset/berth`,
      `write ${CG}/cpuset/berth/cpuset.cpus 0-3`,
      `write ${CG}/cpuset/berth/cpuset.mems 0-1`,
      `mkdir ${CG}/cpuset/berth/c1`,
      `write ${CG}/cpuset/berth/c1/cpuset.cpus 0-3`,
      `write ${CG}/cpuset/berth/c1/cpuset.mems 0-1`,
    ]);
    await cg.addProcess(4242);
    expect(host.content(`${CG}/cpuset/berth/c1/cgroup.procs`)).toBe('4242\n');
  });

  it('fills an existing parent whose cpuset is empty and leaves a configured one alone', async () => {
    const { host, cg } = await setup();
    host.seedFiles({ [`${CG}/cpuset/berth/cpuset.cpus`]: '\n', [`${CG}/cpuset/berth/cpuset.mems`]: '0\n' });
    await cg.create();
    expect(host.writesTo(`${CG}/cpuset/berth/cpuset.cpus`)).toEqual(['0-1']);
    expect(host.writesTo(`${CG}/cpuset/berth/cpuset.mems`)).toEqual([]);
  });

  it('writes the pid into cgroup.procs of every hierarchy, once per shared directory', async () => {
    const { host, cg } = await created({
      mounts: { [`${CG}/cpu,cpuacct`]: ['cpu', 'cpuacct'], [`${CG}/memory`]: ['memory'], [`${CG}/cpuset`]: ['cpuset'] },
      unified: null,
    });
    await cg.addProcess(77);
    expect(host.writes(/cgroup\.procs$/)).toEqual([
      { path: `${CG}/cpu,cpuacct/berth/c1/cgroup.procs`, data: '77' },
      { path: `${CG}/memory/berth/c1/cgroup.procs`, data: '77' },
      { path: `${CG}/cpuset/berth/c1/cgroup.procs`, data: '77' },
    ]);
    expect(cg.paths['cpu']).toBe(cg.paths['cpuacct']);
  });

  it('recreates the directory once when a concurrent destroy removed it before the join', async () => {
    const { host, cg } = await created();
    // Another container's destroy took out the shared parent in the memory hierarchy.
    await host.rmdir(`${CG}/memory/berth/c1`);
    await host.rmdir(`${CG}/memory/berth`);
    await cg.addProcess(99);
    expect(host.content(`${CG}/memory/berth/c1/cgroup.procs`)).toBe('99\n');
  });

  it('retries create once when a level vanishes half way', async () => {
    const { host, cg } = await setup();
    host.failOn('read', `${CG}/cpuset/berth/c1/cpuset.cpus`, 'ENOENT', { times: 1 });
    await cg.create();
    expect(host.content(`${CG}/cpuset/berth/c1/cpuset.cpus`)).toBe('0-1');
  });

  it('names the file, value and errno when joining fails', async () => {
    const { host, cg } = await created();
    host.failOn('write', `${CG}/pids/berth/c1/cgroup.procs`, 'ESRCH');
    const err = await errorOf(cg.addProcess(5));
    expect(err.message).toBe(`write 5 to ${CG}/pids/berth/c1/cgroup.procs: No such process`);
    expect(err.code).toBe('ERR_CGROUP_WRITE');
  });
});

describe('v1 memory', () => {
  const mem = (f: string) => `${CG}/memory/berth/c1/${f}`;

  it('lowering from unlimited writes the limit before memsw', async () => {
    const { host, cg } = await created();
    await cg.apply({ memory: { limit: 64 * MiB, swap: 128 * MiB } });
    expect(host.log(/memory\.(memsw\.)?limit_in_bytes$/)).toEqual([
      `write ${mem('memory.limit_in_bytes')} ${64 * MiB}`,
      `write ${mem('memory.memsw.limit_in_bytes')} ${128 * MiB}`,
    ]);
  });

  it('raising writes memsw first, lowering writes the limit first (the kernel keeps limit <= memsw)', async () => {
    const { host, cg } = await created();
    await cg.apply({ memory: { limit: 64 * MiB, swap: 128 * MiB } });
    host.clearLog();
    await cg.apply({ memory: { limit: 256 * MiB, swap: 512 * MiB } });
    expect(host.log(/limit_in_bytes$/)).toEqual([
      `write ${mem('memory.memsw.limit_in_bytes')} ${512 * MiB}`,
      `write ${mem('memory.limit_in_bytes')} ${256 * MiB}`,
    ]);
    host.clearLog();
    await cg.apply({ memory: { limit: 32 * MiB, swap: 48 * MiB } });
    expect(host.log(/limit_in_bytes$/)).toEqual([
      `write ${mem('memory.limit_in_bytes')} ${32 * MiB}`,
      `write ${mem('memory.memsw.limit_in_bytes')} ${48 * MiB}`,
    ]);
    expect(host.content(mem('memory.limit_in_bytes'))).toBe(String(32 * MiB));
    expect(host.content(mem('memory.memsw.limit_in_bytes'))).toBe(String(48 * MiB));
  });

  it('unlimited swap (-1) goes in before the limit', async () => {
    const { host, cg } = await created();
    await cg.apply({ memory: { limit: 64 * MiB, swap: 64 * MiB } });
    host.clearLog();
    await cg.apply({ memory: { limit: 128 * MiB, swap: -1 } });
    expect(host.log(/limit_in_bytes$/)).toEqual([
      `write ${mem('memory.memsw.limit_in_bytes')} -1`,
      `write ${mem('memory.limit_in_bytes')} ${128 * MiB}`,
    ]);
  });

  it('rejects swap below the limit, naming both fields', async () => {
    const { cg, host } = await created();
    const err = await errorOf(cg.apply({ memory: { limit: 64 * MiB, swap: 32 * MiB } }));
    expect(err.code).toBe('ERR_CGROUP_INVALID');
    expect(err.message).toMatch(/linux\.resources\.memory\.swap 33554432 .*linux\.resources\.memory\.limit 67108864/);
    expect(host.writes()).toEqual([]);
  });

  it('without swap accounting: swap == limit or -1 writes only the limit, more swap is an error naming the file', async () => {
    const { host, cg } = await created({ omitFiles: ['memory.memsw.limit_in_bytes'] });
    await cg.apply({ memory: { limit: 64 * MiB, swap: 64 * MiB } });
    await cg.apply({ memory: { limit: 32 * MiB, swap: -1 } });
    expect(host.log(/limit_in_bytes$/)).toEqual([
      `write ${mem('memory.limit_in_bytes')} ${64 * MiB}`,
      `write ${mem('memory.limit_in_bytes')} ${32 * MiB}`,
    ]);
    const err = await errorOf(cg.apply({ memory: { limit: 64 * MiB, swap: 128 * MiB } }));
    expect(err.code).toBe('ERR_CGROUP_UNSUPPORTED');
    expect(err.message).toBe(
      `linux.resources.memory.swap is set to ${128 * MiB} but the kernel lacks ${mem('memory.memsw.limit_in_bytes')} (swap accounting is off)`,
    );
  });

  it('writes reservation, swappiness, oom killer, kernel and kernelTCP to their files', async () => {
    const { host, cg } = await created();
    await cg.apply({
      memory: { reservation: 32 * MiB, swappiness: 10, disableOOMKiller: true, kernel: 16 * MiB, kernelTCP: 8 * MiB },
    });
    expect(host.writes()).toEqual([
      { path: mem('memory.soft_limit_in_bytes'), data: String(32 * MiB) },
      { path: mem('memory.kmem.limit_in_bytes'), data: String(16 * MiB) },
      { path: mem('memory.kmem.tcp.limit_in_bytes'), data: String(8 * MiB) },
      { path: mem('memory.swappiness'), data: '10' },
      { path: mem('memory.oom_control'), data: '1' },
    ]);
  });

  it('skips kernel limits on kernels without the files and rejects a bad swappiness', async () => {
    const { host, cg } = await created({ omitFiles: ['memory.kmem.limit_in_bytes', 'memory.kmem.tcp.limit_in_bytes'] });
    await cg.apply({ memory: { kernel: MiB, kernelTCP: MiB, disableOOMKiller: false } });
    expect(host.writes()).toEqual([]);
    const err = await errorOf(cg.apply({ memory: { swappiness: 101 } }));
    expect(err.message).toContain('linux.resources.memory.swappiness 101');
  });

  it('reports a failing write with the path, the value and the errno text', async () => {
    const { host, cg } = await created({ id: 'x' });
    host.failOn('write', `${CG}/memory/berth/x/memory.limit_in_bytes`, 'EBUSY');
    const err = await errorOf(cg.apply({ memory: { limit: 1048576 } }));
    expect(err.message).toBe(`write 1048576 to ${CG}/memory/berth/x/memory.limit_in_bytes: Device or resource busy`);
    expect(err.code).toBe('ERR_CGROUP_WRITE');
    expect(err.errno).toBe('EBUSY');
  });

  it('complains about memory settings when there is no memory hierarchy', async () => {
    const { cg } = await created({ mounts: { [`${CG}/pids`]: ['pids'] }, unified: null });
    const err = await errorOf(cg.apply({ memory: { limit: MiB } }));
    expect(err.message).toBe('linux.resources.memory is set but no memory cgroup hierarchy is mounted');
  });
});

describe('v1 cpu, cpuset, pids, blkio', () => {
  it('writes cpu files (period before quota, rt period before runtime) and cpuset values', async () => {
    const { host, cg } = await created();
    await cg.apply({
      cpu: { shares: 512, quota: 50000, period: 100000, realtimePeriod: 1000000, realtimeRuntime: 950000, idle: 1, burst: 1000, cpus: '1', mems: '0' },
    });
    const d = `${CG}/cpu/berth/c1`;
    expect(host.log((p) => p.startsWith(`${CG}/cpu/`) || p.startsWith(`${CG}/cpuset/`))).toEqual([
      `write ${CG}/cpuset/berth/c1/cpuset.cpus 1`,
      `write ${CG}/cpuset/berth/c1/cpuset.mems 0`,
      `write ${d}/cpu.shares 512`,
      `write ${d}/cpu.cfs_period_us 100000`,
      `write ${d}/cpu.cfs_quota_us 50000`,
      `write ${d}/cpu.cfs_burst_us 1000`,
      `write ${d}/cpu.rt_period_us 1000000`,
      `write ${d}/cpu.rt_runtime_us 950000`,
      `write ${d}/cpu.idle 1`,
    ]);
  });

  it('treats an unlimited quota as -1 and errors for an rt runtime the kernel cannot take', async () => {
    const { host, cg } = await created({ omitFiles: ['cpu.rt_runtime_us', 'cpu.rt_period_us', 'cpu.idle'] });
    await cg.apply({ cpu: { quota: -1, idle: 0 } });
    expect(host.writes()).toEqual([{ path: `${CG}/cpu/berth/c1/cpu.cfs_quota_us`, data: '-1' }]);
    const err = await errorOf(cg.apply({ cpu: { realtimeRuntime: 1000 } }));
    expect(err.message).toBe(`linux.resources.cpu.realtimeRuntime is set to 1000 but the kernel lacks ${CG}/cpu/berth/c1/cpu.rt_runtime_us`);
  });

  it.each([
    [20, '20'],
    [0, 'max'],
    [-1, 'max'],
  ])('pids limit %p → pids.max %p', async (limit, want) => {
    const { host, cg } = await created();
    await cg.apply({ pids: { limit } });
    expect(host.writes()).toEqual([{ path: `${CG}/pids/berth/c1/pids.max`, data: want }]);
  });

  it('uses blkio.weight when the kernel has it, else the BFQ file', async () => {
    const bfq = await created();
    await bfq.cg.apply({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 300 }] } });
    expect(bfq.host.writes()).toEqual([
      { path: `${CG}/blkio/berth/c1/blkio.bfq.weight`, data: '500' },
      { path: `${CG}/blkio/berth/c1/blkio.bfq.weight_device`, data: '8:0 300' },
    ]);

    const cfq = await setup();
    cfq.host.onMkdir(`${CG}/blkio/berth/c1`, (dir, h) => {
      h.seedFile(`${dir}/blkio.weight`, '500\n');
    });
    await cfq.cg.create();
    cfq.host.clearLog();
    await cfq.cg.apply({ blockIO: { weight: 700 } });
    expect(cfq.host.writes()).toEqual([{ path: `${CG}/blkio/berth/c1/blkio.weight`, data: '700' }]);
  });

  it('names linux.resources.blockIO.weight when the kernel lacks every weight file', async () => {
    const { cg, host } = await created({ omitFiles: ['blkio.bfq.weight'] });
    const err = await errorOf(cg.apply({ blockIO: { weight: 500 } }));
    expect(err.code).toBe('ERR_CGROUP_UNSUPPORTED');
    expect(err.message).toBe(
      `linux.resources.blockIO.weight is set to 500 but the kernel lacks ${CG}/blkio/berth/c1/blkio.weight and ${CG}/blkio/berth/c1/blkio.bfq.weight`,
    );
    expect(host.writes()).toEqual([]);
    const leaf = await errorOf(cg.apply({ blockIO: { leafWeight: 300 } }));
    expect(leaf.message).toContain('linux.resources.blockIO.leafWeight is set to 300 but the kernel lacks');
  });

  it('writes each throttle to its own file as "major:minor rate"', async () => {
    const { host, cg } = await created();
    await cg.apply({
      blockIO: {
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteBpsDevice: [{ major: 8, minor: 16, rate: 2097152 }],
        throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
        throttleWriteIOPSDevice: [{ major: 254, minor: 0, rate: 50 }],
      },
    });
    const d = `${CG}/blkio/berth/c1`;
    expect(host.writes()).toEqual([
      { path: `${d}/blkio.throttle.read_bps_device`, data: '8:0 1048576' },
      { path: `${d}/blkio.throttle.write_bps_device`, data: '8:16 2097152' },
      { path: `${d}/blkio.throttle.read_iops_device`, data: '8:0 100' },
      { path: `${d}/blkio.throttle.write_iops_device`, data: '254:0 50' },
    ]);
  });
});

describe('v1 devices, hugetlb, unified', () => {
  it('writes device rules in order, with "a" for deny-all and "*" for missing numbers', async () => {
    const { host, cg } = await created();
    await cg.apply({
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
        { allow: true, type: 'c', major: 136, access: 'rw' },
        { allow: true, type: 'b', major: null, minor: null, access: 'm' },
        { allow: false, type: 'c', major: 10, minor: 200, access: 'rwm' },
        { allow: true, type: 'u', major: 5, minor: 1 },
      ],
    });
    const d = `${CG}/devices/berth/c1`;
    expect(host.writes()).toEqual([
      { path: `${d}/devices.deny`, data: 'a' },
      { path: `${d}/devices.allow`, data: 'c 1:3 rwm' },
      { path: `${d}/devices.allow`, data: 'c 136:* rw' },
      { path: `${d}/devices.allow`, data: 'b *:* m' },
      { path: `${d}/devices.deny`, data: 'c 10:200 rwm' },
      { path: `${d}/devices.allow`, data: 'c 5:1 rwm' },
    ]);
  });

  it('rejects bad device types and access strings by index', async () => {
    const { cg } = await created();
    expect((await errorOf(cg.apply({ devices: [{ allow: true, type: 'c', major: 1, minor: 3 }, { allow: true, type: 'x' }] }))).message).toBe(
      'linux.resources.devices[1].type "x" is not one of a, b, c, u, p',
    );
    expect((await errorOf(cg.apply({ devices: [{ allow: true, type: 'c', access: 'rwx' }] }))).message).toContain(
      'linux.resources.devices[0].access "rwx"',
    );
  });

  it('on hybrid puts hugetlb limits in the unified directory after enabling hugetlb down the path', async () => {
    const { host, cg } = await created();
    await cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }, { pageSize: '1GB', limit: 0 }] });
    expect(host.writes()).toEqual([
      { path: `${CG}/unified/cgroup.subtree_control`, data: '+hugetlb' },
      { path: `${CG}/unified/berth/cgroup.subtree_control`, data: '+hugetlb' },
      { path: `${CG}/unified/berth/c1/hugetlb.2MB.max`, data: String(4 * MiB) },
      { path: `${CG}/unified/berth/c1/hugetlb.1GB.max`, data: '0' },
    ]);
  });

  it('uses a v1 hugetlb hierarchy when there is one and errors when there is none', async () => {
    const v1 = await created({ mounts: { [`${CG}/hugetlb`]: ['hugetlb'] }, unified: null });
    await v1.cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 2 * MiB }] });
    expect(v1.host.writes()).toEqual([{ path: `${CG}/hugetlb/berth/c1/hugetlb.2MB.limit_in_bytes`, data: String(2 * MiB) }]);
    expect((await errorOf(v1.cg.apply({ hugepageLimits: [{ pageSize: '2M', limit: 1 }] }))).message).toBe(
      'linux.resources.hugepageLimits[0].pageSize "2M" is not like 2MB or 1GB',
    );

    const none = await created({ unifiedControllers: [] });
    expect((await errorOf(none.cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }))).code).toBe('ERR_CGROUP_UNSUPPORTED');
  });

  it('writes unified values into the unified directory on hybrid, and refuses them on pure v1', async () => {
    const { host, cg } = await created();
    await cg.apply({ unified: { 'cgroup.max.descendants': '10' } });
    expect(host.writes()).toEqual([{ path: `${CG}/unified/berth/c1/cgroup.max.descendants`, data: '10' }]);
    expect((await errorOf(cg.apply({ unified: { '../escape': '1' } }))).code).toBe('ERR_CGROUP_INVALID');
    expect((await errorOf(cg.apply({ unified: { 'memory.high': '1' } }))).message).toContain(
      `linux.resources.unified["memory.high"]: ${CG}/unified/berth/c1/memory.high does not exist`,
    );

    const pure = await created({ unified: null });
    const err = await errorOf(pure.cg.apply({ unified: { 'memory.high': '1' }, pids: { limit: 5 } }));
    expect(err.message).toBe('linux.resources.unified is set but this machine has no cgroup v2 hierarchy (pure cgroup v1)');
    expect(pure.host.writes()).toEqual([]);
  });
});

describe('v1 freezer, pids, stats', () => {
  const state = `${CG}/freezer/berth/c1/freezer.state`;

  it('freezes by writing FROZEN until it reads back FROZEN, and thaws', async () => {
    const { host, cg } = await created();
    let writes = 0;
    host.onWrite(state, (_p, data) => (data === 'FROZEN' && ++writes < 3 ? 'FREEZING' : data));
    await cg.freeze();
    expect(host.writesTo(state)).toEqual(['FROZEN', 'FROZEN', 'FROZEN']);
    expect(await cg.freezerState()).toBe('FROZEN');
    await cg.thaw();
    expect(await cg.freezerState()).toBe('THAWED');
  });

  it('gives up on a freezer stuck in FREEZING, thaws it back and says so', async () => {
    const { host, cg, sleeps } = await created();
    host.onWrite(state, (_p, data) => (data === 'FROZEN' ? 'FREEZING' : data));
    const err = await errorOf(cg.freeze());
    expect(err.code).toBe('ERR_CGROUP_FREEZE');
    expect(err.message).toBe(`write FROZEN to ${state}: state still reads FREEZING`);
    expect(host.content(state)).toBe('THAWED');
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4000);
  });

  it('reports FREEZING as frozen only when this cgroup asked for it', async () => {
    const { host, cg } = await created();
    host.seedFile(state, 'FREEZING\n');
    expect(await cg.freezerState()).toBe('THAWED');
    host.seedFile(`${CG}/freezer/berth/c1/freezer.self_freezing`, '1\n');
    expect(await cg.freezerState()).toBe('FROZEN');
  });

  it('has no freezer state without a freezer hierarchy', async () => {
    const { cg } = await created({ mounts: { [`${CG}/pids`]: ['pids'] }, unified: null });
    expect(await cg.freezerState()).toBeUndefined();
    expect((await errorOf(cg.freeze())).code).toBe('ERR_CGROUP_UNSUPPORTED');
  });

  it('lists pids of the cgroup and its sub-cgroups from the pids hierarchy', async () => {
    const { host, cg } = await created();
    await cg.addProcess(10);
    await host.mkdirp(`${CG}/pids/berth/c1/sub`);
    await host.writeFile(`${CG}/pids/berth/c1/sub/cgroup.procs`, '11');
    await host.writeFile(`${CG}/pids/berth/c1/sub/cgroup.procs`, '12');
    expect((await cg.pids()).sort()).toEqual([10, 11, 12]);
  });

  it('falls back to the memory hierarchy for pids, and returns [] once the cgroup is gone', async () => {
    const { host, cg } = await created({ mounts: { [`${CG}/memory`]: ['memory'], [`${CG}/cpu`]: ['cpu'] }, unified: null });
    host.seedFile(`${CG}/memory/berth/c1/cgroup.procs`, '7\n8\n');
    host.seedFile(`${CG}/cpu/berth/c1/cgroup.procs`, '9\n');
    expect(await cg.pids()).toEqual([7, 8]);
    const gone = loadCgroup(host, 1, { memory: `${CG}/memory/berth/nope` });
    expect(await gone.pids()).toEqual([]);
  });

  it('reads stats from memory, pids and cpuacct files', async () => {
    const { host, cg } = await created();
    const d = (h: string, f: string) => `${CG}/${h}/berth/c1/${f}`;
    host.seedFiles({
      [d('memory', 'memory.usage_in_bytes')]: '1000\n',
      [d('memory', 'memory.limit_in_bytes')]: '67108864\n',
      [d('memory', 'memory.max_usage_in_bytes')]: '2000\n',
      [d('memory', 'memory.failcnt')]: '3\n',
      [d('memory', 'memory.stat')]: 'cache 4096\nrss 8192\n',
      [d('pids', 'pids.current')]: '2\n',
      [d('cpuacct', 'cpuacct.usage')]: '123456789\n',
      [d('cpuacct', 'cpuacct.stat')]: 'user 10\nsystem 5\n',
    });
    expect(await cg.stats()).toEqual({
      memory: { usage: 1000, limit: 67108864, maxUsage: 2000, failcnt: 3, cache: 4096 },
      pids: { current: 2, limit: 0 },
      cpu: { usageTotal: 123456789, usageUser: 100_000_000, usageKernel: 50_000_000 },
    });
    host.seedFile(d('pids', 'pids.max'), '20\n');
    host.removeFile(d('memory', 'memory.failcnt'));
    const s = await cg.stats();
    expect(s.pids?.limit).toBe(20);
    expect(s.memory).not.toHaveProperty('failcnt');
  });
});

describe('v1 destroy', () => {
  it('retries rmdir while the killed processes leave, then removes the empty /berth parent', async () => {
    const { host, cg, sleeps } = await created();
    await cg.addProcess(500);
    let n = 0;
    const procs = Object.values(cg.paths).map((d) => `${d}/cgroup.procs`);
    const leaving = new V1Cgroup(host, cg.paths, {
      sleep: async (ms) => {
        sleeps.push(ms);
        if (++n === 3) for (const p of procs) host.seedFile(p, '');
      },
    });
    await leaving.destroy();
    // The hierarchies are removed side by side: each retries until the procs have left (after
    // the third sleep), and none sleeps again once its rmdir succeeds.
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThanOrEqual(3 + procs.length);
    for (const dir of Object.values(cg.paths)) {
      expect(host.dirs.has(dir)).toBe(false);
      expect(host.dirs.has(dir.replace(/\/c1$/, ''))).toBe(false);
    }
    expect(host.dirs.has(`${CG}/memory`)).toBe(true);
  });

  it('removes sub-cgroups deepest first', async () => {
    const { host, cg } = await created();
    await host.mkdirp(`${CG}/memory/berth/c1/a/b`);
    await cg.destroy();
    expect(host.log((p) => p.startsWith(`${CG}/memory/`)).filter((l) => l.startsWith('rmdir'))).toEqual([
      `rmdir ${CG}/memory/berth/c1/a/b`,
      `rmdir ${CG}/memory/berth/c1/a`,
      `rmdir ${CG}/memory/berth/c1`,
      `rmdir ${CG}/memory/berth`,
    ]);
  });

  it('gives up after about a second, naming the busy directory, but still removes the others', async () => {
    const { host, cg, sleeps } = await created();
    host.seedFile(`${CG}/pids/berth/c1/cgroup.procs`, '600\n');
    const err = await errorOf(cg.destroy());
    expect(err.code).toBe('ERR_CGROUP_RMDIR');
    expect(err.message).toBe(
      `rmdir ${CG}/pids/berth/c1: Device or resource busy (still failing after 1000 ms; processes left in the cgroup?)`,
    );
    const waited = sleeps.reduce((a, b) => a + b, 0);
    expect(waited).toBeGreaterThanOrEqual(1000);
    expect(waited).toBeLessThan(1200);
    expect(host.dirs.has(`${CG}/memory/berth/c1`)).toBe(false);
    expect(host.dirs.has(`${CG}/pids/berth/c1`)).toBe(true);
  });

  it('keeps /berth while another container uses it, and a second destroy is a no-op', async () => {
    const { host, cg } = await created();
    const other = await openCgroup(host, await detectLayout(host), undefined, 'c2');
    await other.create();
    await cg.destroy();
    expect(host.dirs.has(`${CG}/memory/berth/c1`)).toBe(false);
    expect(host.dirs.has(`${CG}/memory/berth/c2`)).toBe(true);
    await cg.destroy();
    await other.destroy();
    expect(host.dirs.has(`${CG}/memory/berth`)).toBe(false);
  });

  it('does not touch a parent that is not berth’s default one', async () => {
    const { host, cg } = await created({ path: '/machine/c1' });
    await cg.destroy();
    expect(host.dirs.has(`${CG}/memory/machine`)).toBe(true);
    expect(host.dirs.has(`${CG}/memory/machine/c1`)).toBe(false);
  });

  it('a manager loaded from recorded paths destroys the same directories', async () => {
    const { host, cg } = await created();
    const loaded = loadCgroup(host, 1, JSON.parse(JSON.stringify(cg.paths)) as Record<string, string>, { sleep: async () => undefined });
    expect(loaded.version).toBe(1);
    await loaded.destroy();
    for (const dir of Object.values(cg.paths)) expect(host.dirs.has(dir)).toBe(false);
  });

  it('surfaces rmdir errors other than busy at once', async () => {
    const { host, cg, sleeps } = await created();
    host.failOn('rmdir', `${CG}/cpu/berth/c1`, 'EACCES');
    const err = await errorOf(cg.destroy());
    expect(err.message).toBe(`rmdir ${CG}/cpu/berth/c1: Permission denied`);
    expect(sleeps).toEqual([]);
  });
});
