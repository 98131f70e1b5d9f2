import {
  blkioWeightToIoWeight,
  CgroupError,
  cpuMax,
  detectLayout,
  loadCgroup,
  openCgroup,
  sharesToWeight,
  swapToV2,
  V2Cgroup,
} from '../src/cgroups';
import { FakeHost, installFakeCgroupV2, type FakeCgroupV2Options } from './fake-host';

const CG = '/sys/fs/cgroup';
const D = `${CG}/berth/c1`;
const MiB = 1024 * 1024;

interface Setup {
  host: FakeHost;
  cg: V2Cgroup;
  sleeps: number[];
}

async function setup(options: FakeCgroupV2Options & { path?: string } = {}, create = true): Promise<Setup> {
  const host = new FakeHost();
  installFakeCgroupV2(host, options);
  const sleeps: number[] = [];
  const cg = (await openCgroup(host, await detectLayout(host), options.path, 'c1', {
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  })) as V2Cgroup;
  if (create) {
    await cg.create();
    host.clearLog();
  }
  return { host, cg, sleeps };
}

async function errorOf(p: Promise<unknown>): Promise<CgroupError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CgroupError)) throw new Error(`expected a CgroupError, got ${String(err)}`);
  return err;
}

describe('conversions', () => {
  it.each([
    [2, 1],
    [1024, 39],
    [512, 20],
    [262144, 10000],
  ])('cpu shares %p → cpu.weight %p', (shares, weight) => {
    expect(sharesToWeight(shares)).toBe(weight);
  });

  it.each([
    [10, 1],
    [100, 910],
    [500, 4950],
    [1000, 10000],
  ])('blkio weight %p → io.weight %p', (w, io) => {
    expect(blkioWeightToIoWeight(w)).toBe(io);
  });

  it('converts OCI swap (memory+swap) to memory.swap.max', () => {
    expect(swapToV2(128 * MiB, 64 * MiB)).toBe(String(64 * MiB));
    expect(swapToV2(64 * MiB, 64 * MiB)).toBe('0');
    expect(swapToV2(-1, 64 * MiB)).toBe('max');
    expect(() => swapToV2(32 * MiB, 64 * MiB)).toThrow(/linux\.resources\.memory\.swap 33554432 must be -1 or at least/);
    expect(() => swapToV2(32 * MiB, undefined)).toThrow(/needs a linux\.resources\.memory\.limit/);
  });

  it('formats cpu.max', () => {
    expect(cpuMax(50000, 100000)).toBe('50000 100000');
    expect(cpuMax(-1, 100000)).toBe('max 100000');
    expect(cpuMax(20000, undefined)).toBe('20000');
    expect(cpuMax(undefined, 250000)).toBe('max 250000');
    expect(cpuMax(undefined, undefined)).toBeUndefined();
  });
});

describe('v2 create and join', () => {
  it('enables every available controller in each parent’s subtree_control, not in the leaf', async () => {
    const { host, cg } = await setup({}, false);
    await cg.create();
    const all = '+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc';
    expect(host.writes(/subtree_control$/)).toEqual([
      { path: `${CG}/cgroup.subtree_control`, data: all },
      { path: `${CG}/berth/cgroup.subtree_control`, data: all },
    ]);
    expect(host.content(`${D}/cgroup.controllers`)?.trim()).toBe('cpuset cpu io memory hugetlb pids rdma misc');
    expect(host.has(`${D}/memory.max`)).toBe(true);
  });

  it('only enables what cgroup.controllers lists and skips what is already on', async () => {
    const { host, cg } = await setup({ controllers: ['memory', 'pids'] }, false);
    host.seedFile(`${CG}/cgroup.subtree_control`, 'memory\n');
    await cg.create();
    expect(host.writes(/subtree_control$/)).toEqual([
      { path: `${CG}/cgroup.subtree_control`, data: '+pids' },
      { path: `${CG}/berth/cgroup.subtree_control`, data: '+memory +pids' },
    ]);
  });

  it('falls back to one controller at a time when the kernel refuses the batch', async () => {
    const { host, cg } = await setup({ controllers: ['cpu', 'memory', 'misc'] }, false);
    host.failOn('write', `${CG}/cgroup.subtree_control`, 'EINVAL', { data: '+cpu +memory +misc' });
    host.failOn('write', `${CG}/cgroup.subtree_control`, 'EBUSY', { data: '+misc' });
    await cg.create();
    expect(host.content(`${D}/cgroup.controllers`)?.trim()).toBe('cpu memory');
    await cg.apply({ memory: { limit: MiB } });
    const err = await errorOf(cg.apply({ blockIO: { weight: 100 } }));
    expect(err.message).toBe(`linux.resources.blockIO needs the io controller, which ${D}/cgroup.controllers does not list`);
  });

  it('joins through cgroup.procs and recreates a directory that vanished', async () => {
    const { host, cg } = await setup();
    await cg.addProcess(31);
    expect(host.content(`${D}/cgroup.procs`)).toBe('31\n');
    await host.seedFile(`${D}/cgroup.procs`, '');
    await host.rmdir(D);
    await host.rmdir(`${CG}/berth`);
    await cg.addProcess(32);
    expect(host.content(`${D}/cgroup.procs`)).toBe('32\n');
    expect(host.content(`${D}/cgroup.controllers`)?.trim()).toContain('memory');
  });
});

describe('v2 apply', () => {
  it('writes memory.max, memory.swap.max (swap minus limit) and memory.low', async () => {
    const { host, cg } = await setup();
    await cg.apply({ memory: { limit: 64 * MiB, swap: 128 * MiB, reservation: 32 * MiB, kernel: MiB, kernelTCP: MiB } });
    expect(host.writes()).toEqual([
      { path: `${D}/memory.swap.max`, data: String(64 * MiB) },
      { path: `${D}/memory.max`, data: String(64 * MiB) },
      { path: `${D}/memory.low`, data: String(32 * MiB) },
    ]);
    host.clearLog();
    await cg.apply({ memory: { limit: -1, swap: -1 } });
    expect(host.writes()).toEqual([
      { path: `${D}/memory.swap.max`, data: 'max' },
      { path: `${D}/memory.max`, data: 'max' },
    ]);
  });

  it('refuses v1-only memory settings and swap without accounting', async () => {
    const { cg } = await setup();
    expect((await errorOf(cg.apply({ memory: { swappiness: 30 } }))).message).toContain('linux.resources.memory.swappiness is set to 30');
    expect((await errorOf(cg.apply({ memory: { disableOOMKiller: true } }))).code).toBe('ERR_CGROUP_UNSUPPORTED');
    const noSwap = await setup({ omitFiles: ['memory.swap.max'] });
    await noSwap.cg.apply({ memory: { limit: 64 * MiB, swap: 64 * MiB } });
    expect(noSwap.host.writes()).toEqual([{ path: `${D}/memory.max`, data: String(64 * MiB) }]);
    expect((await errorOf(noSwap.cg.apply({ memory: { limit: 64 * MiB, swap: 96 * MiB } }))).message).toBe(
      `linux.resources.memory.swap is set to ${96 * MiB} but the kernel lacks ${D}/memory.swap.max (swap accounting is off)`,
    );
  });

  it('writes cpu.weight, cpu.max, burst, idle and the cpuset', async () => {
    const { host, cg } = await setup();
    await cg.apply({ cpu: { shares: 1024, quota: 50000, period: 100000, burst: 1000, idle: 0, cpus: '0', mems: '0' } });
    expect(host.writes()).toEqual([
      { path: `${D}/cpuset.cpus`, data: '0' },
      { path: `${D}/cpuset.mems`, data: '0' },
      { path: `${D}/cpu.weight`, data: '39' },
      { path: `${D}/cpu.max`, data: '50000 100000' },
      { path: `${D}/cpu.max.burst`, data: '1000' },
      { path: `${D}/cpu.idle`, data: '0' },
    ]);
    host.clearLog();
    await cg.apply({ cpu: { quota: -1, period: 100000 } });
    expect(host.writes()).toEqual([{ path: `${D}/cpu.max`, data: 'max 100000' }]);
    expect((await errorOf(cg.apply({ cpu: { realtimeRuntime: 1000 } }))).code).toBe('ERR_CGROUP_UNSUPPORTED');
  });

  it('writes pids.max and hugetlb.<size>.max', async () => {
    const { host, cg } = await setup();
    await cg.apply({ pids: { limit: 0 }, hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }] });
    await cg.apply({ pids: { limit: 64 } });
    expect(host.writes()).toEqual([
      { path: `${D}/pids.max`, data: 'max' },
      { path: `${D}/hugetlb.2MB.max`, data: String(4 * MiB) },
      { path: `${D}/pids.max`, data: '64' },
    ]);
  });

  it('converts blkio weights for io.weight and writes throttles to io.max', async () => {
    const { host, cg } = await setup();
    await cg.apply({
      blockIO: {
        weight: 500,
        weightDevice: [{ major: 8, minor: 0, weight: 100 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 100 }],
      },
    });
    expect(host.writes()).toEqual([
      { path: `${D}/io.weight`, data: '4950' },
      { path: `${D}/io.weight`, data: '8:0 910' },
      { path: `${D}/io.max`, data: '8:0 rbps=1048576' },
      { path: `${D}/io.max`, data: '8:16 wiops=100' },
    ]);
  });

  it('hands BFQ the blkio weight unconverted', async () => {
    const { host, cg } = await setup({ extraFiles: { 'io.bfq.weight': 'default 100\n' } });
    await cg.apply({ blockIO: { weight: 500 } });
    expect(host.writes()).toEqual([{ path: `${D}/io.bfq.weight`, data: '500' }]);
  });

  it('writes unified values last, as given, and rejects keys that are not plain file names', async () => {
    const { host, cg } = await setup();
    await cg.apply({ memory: { limit: 64 * MiB }, unified: { 'memory.high': '50000000', 'memory.max': '70000000' } });
    expect(host.writes()).toEqual([
      { path: `${D}/memory.max`, data: String(64 * MiB) },
      { path: `${D}/memory.high`, data: '50000000' },
      { path: `${D}/memory.max`, data: '70000000' },
    ]);
    for (const key of ['a/b', '..', '../memory.max', '']) {
      const err = await errorOf(cg.apply({ unified: { [key]: '1' } }));
      expect(err.code).toBe('ERR_CGROUP_INVALID');
      expect(err.message).toBe(`linux.resources.unified key ${JSON.stringify(key)} is not a cgroup file name`);
    }
    expect((await errorOf(cg.apply({ unified: { 'nosuch.file': '1' } }))).message).toBe(
      `linux.resources.unified["nosuch.file"]: ${D}/nosuch.file does not exist (unknown file or controller not enabled)`,
    );
  });

  it('refuses device rules other than allow-all, since they need eBPF', async () => {
    const { host, cg } = await setup();
    const err = await errorOf(cg.apply({ devices: [{ allow: false, access: 'rwm' }], pids: { limit: 5 } }));
    expect(err.code).toBe('ERR_CGROUP_NOT_IMPLEMENTED');
    expect(err.message).toBe('linux.resources.devices: cgroup v2 device rules need eBPF, which berth does not implement yet');
    expect(host.writes()).toEqual([]);
    await cg.apply({ devices: [] });
    await cg.apply({ devices: [{ allow: true, access: 'rwm' }] });
    await cg.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'a', major: -1, minor: null }] });
    expect((await errorOf(cg.apply({ devices: [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }] }))).code).toBe(
      'ERR_CGROUP_NOT_IMPLEMENTED',
    );
  });
});

describe('v2 freeze, pids, stats, destroy', () => {
  it('freezes via cgroup.freeze and waits for cgroup.events to say frozen 1', async () => {
    const { host, cg, sleeps } = await setup();
    // The kernel takes a moment: the first two reads still say frozen 0.
    let reads = 0;
    host.onWrite(`${D}/cgroup.freeze`, (_p, data, h) => {
      reads = 0;
      h.seedFile(`${D}/cgroup.events`, `populated 1\nfrozen ${data === '1' ? 0 : 1}\n`);
      const target = data;
      const original = h.readFile.bind(h);
      h.readFile = async (path: string) => {
        if (path === `${D}/cgroup.events` && ++reads > 2) return `populated 1\nfrozen ${target}\n`;
        return original(path);
      };
    });
    await cg.freeze();
    expect(host.writesTo(`${D}/cgroup.freeze`)).toEqual(['1']);
    expect(sleeps).toHaveLength(2);
    expect(await cg.freezerState()).toBe('FROZEN');
    await cg.thaw();
    expect(await cg.freezerState()).toBe('THAWED');
  });

  it('times out naming cgroup.events when the cgroup never freezes, and unfreezes it again', async () => {
    const { host, cg } = await setup();
    host.onWrite(`${D}/cgroup.freeze`, (_p, _d, h) => {
      h.seedFile(`${D}/cgroup.events`, 'populated 1\nfrozen 0\n');
    });
    const err = await errorOf(cg.freeze());
    expect(err.message).toBe(`write 1 to ${D}/cgroup.freeze: ${D}/cgroup.events still reads frozen 0`);
    expect(host.writesTo(`${D}/cgroup.freeze`)).toEqual(['1', '0']);
  });

  it('has no freezer before cgroup.freeze existed', async () => {
    const { cg } = await setup({ omitFiles: ['cgroup.freeze'] });
    expect(await cg.freezerState()).toBeUndefined();
    expect((await errorOf(cg.freeze())).message).toBe(`cannot freeze: the kernel lacks ${D}/cgroup.freeze`);
  });

  it('lists pids recursively and kills through cgroup.kill', async () => {
    const { host, cg } = await setup();
    await cg.addProcess(1000);
    await host.mkdirp(`${D}/inner/deeper`);
    await host.writeFile(`${D}/inner/deeper/cgroup.procs`, '1001');
    expect((await cg.pids()).sort()).toEqual([1000, 1001]);
    expect(await cg.kill()).toBe(true);
    expect(host.writesTo(`${D}/cgroup.kill`)).toEqual(['1']);
    const old = await setup({ omitFiles: ['cgroup.kill'] });
    expect(await old.cg.kill()).toBe(false);
  });

  it('reads stats from memory.*, pids.* and cpu.stat', async () => {
    const { host, cg } = await setup();
    host.seedFiles({
      [`${D}/memory.current`]: '4096\n',
      [`${D}/memory.max`]: '67108864\n',
      [`${D}/memory.peak`]: '8192\n',
      [`${D}/memory.events`]: 'low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n',
      [`${D}/memory.stat`]: 'anon 100\nfile 2048\n',
      [`${D}/pids.current`]: '3\n',
      [`${D}/pids.max`]: '20\n',
      [`${D}/cpu.stat`]: 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n',
    });
    expect(await cg.stats()).toEqual({
      memory: { usage: 4096, limit: 67108864, maxUsage: 8192, failcnt: 7, cache: 2048 },
      pids: { current: 3, limit: 20 },
      cpu: { usageTotal: 1_500_000, usageUser: 1_000_000, usageKernel: 500_000 },
    });
    host.seedFile(`${D}/memory.max`, 'max\n');
    expect((await cg.stats()).memory).not.toHaveProperty('limit');
  });

  it('destroys with retries while processes leave, then the empty /berth', async () => {
    const { host, cg } = await setup();
    await cg.addProcess(1);
    let n = 0;
    const loaded = loadCgroup(host, 2, { '': D }, {
      sleep: async () => {
        if (++n === 2) host.seedFile(`${D}/cgroup.procs`, '');
      },
    });
    await loaded.destroy();
    expect(n).toBe(2);
    expect(host.dirs.has(D)).toBe(false);
    expect(host.dirs.has(`${CG}/berth`)).toBe(false);
    expect(host.dirs.has(CG)).toBe(true);
  });

  it('rejects a manager without a unified path and an unknown version', () => {
    const host = new FakeHost();
    expect(() => new V2Cgroup(host, { memory: '/x' })).toThrow(CgroupError);
    expect(() => loadCgroup(host, 3 as 1, {})).toThrow('cgroup version 3 in the container state is neither 1 nor 2');
  });
});
