import { spawn, type ChildProcessWithoutNullStreams } from 'child_process';
import { readFileSync, readdirSync } from 'fs';
import { join } from 'path';
import { requireRoot } from '../../e2e/test/support/env';
import { detectLayout, openCgroup } from '../../runtime/src/cgroups';
import type { CgroupManager } from '../../runtime/src/cgroups/types';
import type { ContainerStats } from '../../runtime/src/cgroups/stats-types';
import { realHost } from '../../runtime/src/host/real-host';
import { FakeHost, installFakeCgroupV2 } from '../../runtime/test/fake-host';
import { messageType } from '../src/api';
import { CGROUPS_V1_METRICS, CGROUPS_V2_METRICS, parsePartitions, parseRdma, readCgroupMetrics, v1Metrics } from '../src/services/task-metrics';

// Tasks.Metrics' data: the runtime's cgroup statistics as containerd's cgroups Metrics. v1 from
// a real cgroup of this machine (v1 controllers) holding a live process; v2 from the runtime
// tests' fake cgroupfs with known file contents. Decoded with 64-bit integers as decimal
// strings, so values past 2^53 are checked exactly.

jest.setTimeout(30_000);

function decodeExact(any: { typeUrl: string; value: Uint8Array }): any {
  const t = messageType(any.typeUrl);
  return t.toObject(t.decode(any.value), { longs: String, enums: String, defaults: true, arrays: true });
}

const keyed = (text: string) => Object.fromEntries(text.trim().split('\n').map((l) => l.trim().split(/\s+/) as [string, string]));

describe('cgroup v1 (this machine)', () => {
  let cg: CgroupManager;
  let child: ChildProcessWithoutNullStreams | undefined;
  const MEM = 64 * 1024 * 1024;

  beforeAll(async () => {
    requireRoot();
    const layout = await detectLayout(realHost);
    if (layout.mode === 'v2') throw new Error('this test is for a host with v1 controllers');
    cg = await openCgroup(realHost, layout, undefined, `metrics-${process.pid}`);
    await cg.create();
    await cg.apply({ memory: { limit: MEM }, pids: { limit: 33 } });
    // It joins first, then allocates (v1 charges memory where it is allocated), then idles on
    // stdin so the counters hold still while they are compared.
    child = spawn('/bin/sh', ['-c', 'read go; x=$(seq 1 40000); echo ready; read stop'], { stdio: 'pipe' });
    await cg.addProcess(child.pid!);
    const ready = new Promise<void>((resolve) => child!.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
    child.stdin.write('go\n');
    await ready;
  });

  afterAll(async () => {
    if (child?.pid && child.exitCode === null) {
      const gone = new Promise((r) => child!.once('exit', r));
      process.kill(child.pid, 'SIGKILL');
      await gone;
    }
    await cg?.destroy();
  });

  it('packs io.containerd.cgroups.v1.Metrics with the limits, usage and counters of the files', async () => {
    const mem = cg.paths['memory']!;
    const acct = cg.paths['cpuacct']!;
    const statBefore = keyed(readFileSync(join(mem, 'memory.stat'), 'utf8'));
    const any = await readCgroupMetrics(realHost, 1, cg.paths);
    const statAfter = keyed(readFileSync(join(mem, 'memory.stat'), 'utf8'));
    expect(any.typeUrl).toBe(CGROUPS_V1_METRICS);
    const m = decodeExact(any);

    expect(m.pids).toEqual({ current: '1', limit: '33' });

    expect(m.memory.usage.limit).toBe(String(MEM));
    expect(Number(m.memory.usage.usage)).toBeGreaterThan(0);
    expect(Number(m.memory.usage.max)).toBeGreaterThanOrEqual(Number(m.memory.usage.usage));
    expect(m.memory.hierarchicalMemoryLimit).toBe(String(MEM));
    // Unlimited kernel memory: 2^63 - 4096 rounded to pages, beyond 2^53, exact on the wire.
    expect(m.memory.kernel.limit).toBe(readFileSync(join(mem, 'memory.kmem.limit_in_bytes'), 'utf8').trim());
    expect(BigInt(m.memory.kernel.limit)).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));
    // memory.stat's keys under containerd's field names (pgpgin → pgPgIn, ...).
    const pairs: [string, string][] = [
      ['rss', 'rss'], ['cache', 'cache'], ['pgPgIn', 'pgpgin'], ['pgFault', 'pgfault'], ['activeAnon', 'active_anon'],
      ['totalRss', 'total_rss'], ['totalPgPgIn', 'total_pgpgin'], ['hierarchicalSwapLimit', 'hierarchical_memsw_limit'],
    ];
    for (const [field, key] of pairs) expect([statBefore[key], statAfter[key]]).toContain(m.memory[field]);
    expect(Number(m.memory.totalPgFault)).toBeGreaterThan(0);

    expect(m.memoryOomControl).toEqual({ oomKillDisable: '0', underOom: '0', oomKill: '0' });

    // cpuacct: the idle process's usage is the sum of the per-cpu usage it read at once.
    const perCpu = readFileSync(join(acct, 'cpuacct.usage_percpu'), 'utf8').trim().split(/\s+/);
    expect(m.cpu.usage.perCpu).toEqual(perCpu);
    expect(m.cpu.usage.total).toBe(readFileSync(join(acct, 'cpuacct.usage'), 'utf8').trim());
    expect(Number(m.cpu.usage.total)).toBeGreaterThan(0);
    // cpuacct.stat counts USER_HZ ticks: nanoseconds in steps of 10 ms.
    for (const ns of [m.cpu.usage.user, m.cpu.usage.kernel]) expect(BigInt(ns) % 10_000_000n).toBe(0n);
    expect(m.cpu.throttling).toEqual({ periods: '0', throttledPeriods: '0', throttledTime: '0' });

    // hugetlb from the cgroup2 hierarchy beside (hybrid), one entry per page size it has files for.
    const unified = cg.paths[''];
    const sizes = unified ? readdirSync(unified).map((n) => /^hugetlb\.(\w+)\.current$/.exec(n)?.[1]).filter(Boolean).sort() : [];
    expect(m.hugetlb.map((h: any) => h.pagesize)).toEqual(sizes);
    expect(Object.keys(m.blkio).sort()).toEqual([
      'ioMergedRecursive', 'ioQueuedRecursive', 'ioServiceBytesRecursive', 'ioServiceTimeRecursive', 'ioServicedRecursive', 'ioTimeRecursive', 'ioWaitTimeRecursive', 'sectorsRecursive',
    ]);
  });
});

describe('cgroup v2 (fake cgroupfs)', () => {
  const dir = '/sys/fs/cgroup/ns/c1';

  function host(): FakeHost {
    const h = new FakeHost();
    installFakeCgroupV2(h);
    h.seedDir(dir);
    h.seedFiles({
      [`${dir}/cgroup.controllers`]: 'cpu io memory pids hugetlb rdma\n',
      [`${dir}/pids.current`]: '3\n',
      [`${dir}/pids.max`]: 'max\n',
      [`${dir}/cpu.stat`]: 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 90\n',
      [`${dir}/memory.current`]: '8388608\n',
      [`${dir}/memory.max`]: '16777216\n',
      [`${dir}/memory.peak`]: '9000000\n',
      [`${dir}/memory.swap.current`]: '4096\n',
      [`${dir}/memory.swap.max`]: 'max\n',
      [`${dir}/memory.events`]: 'low 0\nhigh 1\nmax 5\noom 2\noom_kill 2\n',
      [`${dir}/memory.stat`]: 'anon 6000000\nfile 2000000\nkernel_stack 16384\nslab 70000\nsock 0\nshmem 4096\nfile_mapped 8192\n' +
        'file_dirty 0\nfile_writeback 0\nanon_thp 0\ninactive_anon 100\nactive_anon 200\ninactive_file 300\nactive_file 400\n' +
        'unevictable 0\nslab_reclaimable 30000\nslab_unreclaimable 40000\npgfault 1234\npgmajfault 5\nworkingset_refault 0\n' +
        'workingset_activate 0\nworkingset_nodereclaim 0\npgrefill 0\npgscan 11\npgsteal 10\npgactivate 3\npgdeactivate 2\n' +
        'pglazyfree 0\npglazyfreed 0\nthp_fault_alloc 0\nthp_collapse_alloc 0\n',
      [`${dir}/io.stat`]: '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n254:0 rbytes=100 wbytes=0 rios=3 wios=0 dbytes=0 dios=0\n',
      [`${dir}/hugetlb.2MB.current`]: '2097152\n',
      [`${dir}/hugetlb.2MB.max`]: '4194304\n',
      [`${dir}/hugetlb.2MB.events`]: 'max 1\n',
      [`${dir}/hugetlb.1GB.current`]: '0\n',
      [`${dir}/hugetlb.1GB.max`]: 'max\n',
      [`${dir}/rdma.current`]: 'mlx4_0 hca_handle=2 hca_object=2000\n',
      [`${dir}/rdma.max`]: 'mlx4_0 hca_handle=10 hca_object=max\n',
    });
    return h;
  }

  it('packs io.containerd.cgroups.v2.Metrics: cpu.stat in µs, memory.stat by name, limits "max" as uint64 max', async () => {
    const any = await readCgroupMetrics(host(), 2, { '': dir });
    expect(any.typeUrl).toBe(CGROUPS_V2_METRICS);
    const m = decodeExact(any);
    const MAX = '18446744073709551615';
    expect(m.pids).toEqual({ current: '3', limit: MAX });
    expect(m.cpu).toEqual({ usageUsec: '1500', userUsec: '1000', systemUsec: '500', nrPeriods: '7', nrThrottled: '2', throttledUsec: '90' });
    expect(m.memory).toMatchObject({
      anon: '6000000', file: '2000000', kernelStack: '16384', slab: '70000', shmem: '4096', fileMapped: '8192', inactiveAnon: '100',
      activeAnon: '200', inactiveFile: '300', activeFile: '400', slabReclaimable: '30000', slabUnreclaimable: '40000', pgfault: '1234',
      pgmajfault: '5', pgscan: '11', pgsteal: '10', pgactivate: '3', pgdeactivate: '2',
      usage: '8388608', usageLimit: '16777216', swapUsage: '4096', swapLimit: MAX,
    });
    expect(Object.keys(m.memory)).toHaveLength(35);
    expect(m.memoryEvents).toEqual({ low: '0', high: '1', max: '5', oom: '2', oomKill: '2' });
    expect(m.io.usage).toEqual([
      { major: '8', minor: '0', rbytes: '4096', wbytes: '8192', rios: '1', wios: '2' },
      { major: '254', minor: '0', rbytes: '100', wbytes: '0', rios: '3', wios: '0' },
    ]);
    expect(m.hugetlb).toEqual([
      { pagesize: '1GB', current: '0', max: MAX },
      { pagesize: '2MB', current: '2097152', max: '4194304' },
    ]);
    expect(m.rdma).toEqual({
      current: [{ device: 'mlx4_0', hcaHandles: 2, hcaObjects: 2000 }],
      limit: [{ device: 'mlx4_0', hcaHandles: 10, hcaObjects: 4294967295 }],
    });
  });

  it('reports a numeric pids limit as it is, and no memory_events without the file', async () => {
    const h = host();
    h.seedFile(`${dir}/pids.max`, '64\n');
    h.removeFile(`${dir}/memory.events`);
    const m = decodeExact(await readCgroupMetrics(h, 2, { '': dir }));
    expect(m.pids).toEqual({ current: '3', limit: '64' });
    expect(m.memoryEvents).toBeNull();
  });
});

describe('conversion details', () => {
  const stats = (over: Partial<ContainerStats> = {}): ContainerStats => ({
    cpu: { usage: { kernel: 0, user: 0 }, throttling: {} },
    cpuset: {} as ContainerStats['cpuset'],
    memory: { usage: { limit: 0, failcnt: 0 }, swap: { limit: 0, failcnt: 0 }, kernel: { limit: 0, failcnt: 0 }, kernelTCP: { limit: 0, failcnt: 0 } },
    pids: {},
    blkio: {},
    hugetlb: {},
    intel_rdt: {},
    network_interfaces: null,
    ...over,
  });

  it('names blkio devices from /proc/partitions and keeps every sub-message present', () => {
    const devices = parsePartitions('major minor  #blocks  name\n\n 254        0  268435456 vda\n 254        1  1024 vda1\n');
    expect([...devices]).toEqual([['254:0', '/dev/vda'], ['254:1', '/dev/vda1']]);
    const m = v1Metrics(stats({ blkio: { ioServiceBytesRecursive: [{ major: 254, minor: 0, op: 'Read', value: 4096 }, { major: 8, minor: 16, op: 'Write', value: 1 }] } }), { devices });
    expect(m.blkio!.ioServiceBytesRecursive).toEqual([
      { op: 'Read', device: '/dev/vda', major: 254, minor: 0, value: 4096 },
      { op: 'Write', device: '', major: 8, minor: 16, value: 1 },
    ]);
    // ctr's table reads memory.usage, cpu.usage and pids without nil checks.
    for (const k of ['pids', 'cpu', 'memory', 'blkio', 'rdma'] as const) expect(m[k]).toBeTruthy();
    expect(m.memory!.usage).toEqual({ limit: 0, usage: 0, max: 0, failcnt: 0 });
  });

  it('carries counters past 2^53 exactly (bigint in, decimal string on the wire)', () => {
    const big = 9223372036854771712n;
    const m = v1Metrics(stats({ memory: { usage: { limit: big, failcnt: 0 }, swap: { limit: big, failcnt: 0 }, kernel: { limit: 0, failcnt: 0 }, kernelTCP: { limit: 0, failcnt: 0 } } }));
    expect(m.memory!.usage!.limit).toBe('9223372036854771712');
    const t = messageType(CGROUPS_V1_METRICS);
    const back = t.toObject(t.decode(t.encode(t.fromObject(m as Record<string, unknown>)).finish()), { longs: String }) as any;
    expect(back.memory.usage.limit).toBe('9223372036854771712');
  });

  it('parses rdma lines, "max" as uint32 max', () => {
    expect(parseRdma('mlx5_1 hca_handle=max hca_object=7\n\n')).toEqual([{ device: 'mlx5_1', hcaHandles: 4294967295, hcaObjects: 7 }]);
  });
});
