// Statistics of a cgroup v1 container (one directory per hierarchy), read the way runc's fs
// driver reads them. Hybrid machines keep hugetlb in the cgroup2 directory ("" key).

import { posix } from 'path';
import type { Host } from '../host/host';
import {
  type BlkioEntry,
  type BlkioStats,
  type ContainerStats,
  type CpusetStats,
  type HugetlbEntry,
  type MemoryEntry,
  type U64,
  BLKIO_KEYS,
  hugepageSizes,
  mulU64,
  nz,
  parseBlkioEntries,
  parseCpuList,
  parseU64,
  pidsStats,
  readKeyedU64,
  readOptional,
  readU64,
} from './stats-types';
import { hugetlbV2 } from './stats-v2';

/** Nanoseconds per tick of cpuacct.stat, whose unit is USER_HZ (100 in the Linux user ABI). */
const NS_PER_TICK = 10_000_000;

export async function statsV1(host: Host, paths: Record<string, string>): Promise<ContainerStats> {
  const [cpu, cpuset, memory, pids, blkio, hugetlb] = await Promise.all([
    cpuV1(host, paths['cpuacct'], paths['cpu']),
    cpusetV1(host, paths['cpuset']),
    memoryV1(host, paths['memory']),
    pidsStats(host, paths['pids']),
    blkioV1(host, paths['blkio']),
    paths['hugetlb'] !== undefined ? hugetlbV1(host, paths['hugetlb']) : paths[''] !== undefined ? hugetlbV2(host, paths['']) : {},
  ]);
  return { cpu, cpuset, memory, pids, blkio, hugetlb, intel_rdt: {}, network_interfaces: null };
}

/** The OOM-kill counter of memory.oom_control (kernel 4.13+); undefined without it. */
export async function oomKillsV1(host: Host, paths: Record<string, string>): Promise<number | undefined> {
  const dir = paths['memory'];
  if (dir === undefined) return undefined;
  const n = (await readKeyedU64(host, posix.join(dir, 'memory.oom_control')))?.get('oom_kill');
  return n === undefined ? undefined : Number(n);
}

const list = (text: string | undefined): U64[] | undefined => {
  const values = (text ?? '').trim().split(/\s+/).filter((w) => w !== '').map(parseU64);
  return values.length > 0 && values.every((v) => v !== undefined) ? (values as U64[]) : undefined;
};

async function cpuV1(host: Host, acct: string | undefined, cpuDir: string | undefined): Promise<ContainerStats['cpu']> {
  const at = (dir: string | undefined, name: string) => (dir === undefined ? undefined : posix.join(dir, name));
  const text = (path: string | undefined) => (path === undefined ? Promise.resolve(undefined) : readOptional(host, path));
  const keyed = (path: string | undefined) => (path === undefined ? Promise.resolve(undefined) : readKeyedU64(host, path));
  const [total, percpu, all, stat, throttle] = await Promise.all([
    text(at(acct, 'cpuacct.usage')),
    text(at(acct, 'cpuacct.usage_percpu')),
    text(at(acct, 'cpuacct.usage_all')),
    keyed(at(acct, 'cpuacct.stat')),
    keyed(at(cpuDir, 'cpu.stat')),
  ]);
  // cpuacct.usage_all: a "cpu user system" header, then one row per cpu.
  const rows = (all ?? '').trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  const column = (i: number) => list(rows.map((r) => r[i] ?? '').join(' '));
  return {
    usage: {
      total: nz(parseU64(total ?? '')),
      percpu: list(percpu),
      percpu_kernel: rows.length > 0 ? column(2) : undefined,
      percpu_user: rows.length > 0 ? column(1) : undefined,
      kernel: mulU64(stat?.get('system') ?? 0, NS_PER_TICK),
      user: mulU64(stat?.get('user') ?? 0, NS_PER_TICK),
    },
    throttling: {
      periods: nz(throttle?.get('nr_periods')),
      throttledPeriods: nz(throttle?.get('nr_throttled')),
      throttledTime: nz(throttle?.get('throttled_time')),
    },
  };
}

async function cpusetV1(host: Host, dir: string | undefined): Promise<CpusetStats> {
  const text = (name: string) => (dir === undefined ? Promise.resolve(undefined) : readOptional(host, posix.join(dir, `cpuset.${name}`)));
  const num = async (name: string) => parseU64((await text(name)) ?? '') ?? 0;
  const relax = Number((await text('sched_relax_domain_level'))?.trim() ?? '0');
  return {
    cpus: parseCpuList(await text('cpus')),
    cpu_exclusive: await num('cpu_exclusive'),
    mems: parseCpuList(await text('mems')),
    mem_hardwall: await num('mem_hardwall'),
    mem_exclusive: await num('mem_exclusive'),
    memory_migrate: await num('memory_migrate'),
    memory_spread_page: await num('memory_spread_page'),
    memory_spread_slab: await num('memory_spread_slab'),
    memory_pressure: await num('memory_pressure'),
    sched_load_balance: await num('sched_load_balance'),
    sched_relax_domain_level: Number.isFinite(relax) ? relax : 0,
  };
}

async function memoryEntry(host: Host, dir: string | undefined, prefix: string): Promise<MemoryEntry> {
  if (dir === undefined) return { limit: 0, failcnt: 0 };
  const f = (name: string) => readU64(host, posix.join(dir, `memory.${prefix}${name}`));
  const [usage, max, failcnt, limit] = await Promise.all([f('usage_in_bytes'), f('max_usage_in_bytes'), f('failcnt'), f('limit_in_bytes')]);
  return { limit: limit ?? 0, usage: nz(usage), max: nz(max), failcnt: failcnt ?? 0 };
}

async function memoryV1(host: Host, dir: string | undefined): Promise<ContainerStats['memory']> {
  const [usage, swap, kernel, kernelTCP, raw] = await Promise.all([
    memoryEntry(host, dir, ''),
    memoryEntry(host, dir, 'memsw.'),
    memoryEntry(host, dir, 'kmem.'),
    memoryEntry(host, dir, 'kmem.tcp.'),
    dir === undefined ? undefined : readKeyedU64(host, posix.join(dir, 'memory.stat')),
  ]);
  return {
    cache: nz(raw?.get('cache')),
    usage,
    swap,
    kernel,
    kernelTCP,
    raw: raw !== undefined && raw.size > 0 ? Object.fromEntries(raw) : undefined,
  };
}

// Which blkio files hold the counters depends on the I/O scheduler: BFQ with its debug files,
// BFQ, CFQ, then the throttle layer (recursive, then not) that every kernel has. Like runc,
// the first group whose first file has entries is the one reported.
const BLKIO_GROUPS: [keyof BlkioStats, string][][] = [
  [
    ['sectorsRecursive', 'blkio.bfq.sectors_recursive'],
    ['ioServiceTimeRecursive', 'blkio.bfq.io_service_time_recursive'],
    ['ioWaitTimeRecursive', 'blkio.bfq.io_wait_time_recursive'],
    ['ioMergedRecursive', 'blkio.bfq.io_merged_recursive'],
    ['ioQueueRecursive', 'blkio.bfq.io_queued_recursive'],
    ['ioTimeRecursive', 'blkio.bfq.time_recursive'],
    ['ioServicedRecursive', 'blkio.bfq.io_serviced_recursive'],
    ['ioServiceBytesRecursive', 'blkio.bfq.io_service_bytes_recursive'],
  ],
  [
    ['ioServicedRecursive', 'blkio.bfq.io_serviced_recursive'],
    ['ioServiceBytesRecursive', 'blkio.bfq.io_service_bytes_recursive'],
  ],
  [
    ['sectorsRecursive', 'blkio.sectors_recursive'],
    ['ioServiceTimeRecursive', 'blkio.io_service_time_recursive'],
    ['ioWaitTimeRecursive', 'blkio.io_wait_time_recursive'],
    ['ioMergedRecursive', 'blkio.io_merged_recursive'],
    ['ioQueueRecursive', 'blkio.io_queued_recursive'],
    ['ioTimeRecursive', 'blkio.time_recursive'],
    ['ioServicedRecursive', 'blkio.io_serviced_recursive'],
    ['ioServiceBytesRecursive', 'blkio.io_service_bytes_recursive'],
  ],
  [
    ['ioServicedRecursive', 'blkio.throttle.io_serviced_recursive'],
    ['ioServiceBytesRecursive', 'blkio.throttle.io_service_bytes_recursive'],
  ],
  [
    ['ioServicedRecursive', 'blkio.throttle.io_serviced'],
    ['ioServiceBytesRecursive', 'blkio.throttle.io_service_bytes'],
  ],
];

async function blkioV1(host: Host, dir: string | undefined): Promise<BlkioStats> {
  if (dir === undefined) return {};
  for (const group of BLKIO_GROUPS) {
    const first = await readOptional(host, posix.join(dir, group[0]![1]));
    if (first === undefined || parseBlkioEntries(first).length === 0) continue;
    const found = new Map<keyof BlkioStats, BlkioEntry[]>();
    for (const [key, name] of group) {
      const text = await readOptional(host, posix.join(dir, name));
      const entries = text === undefined ? [] : parseBlkioEntries(text);
      if (entries.length > 0) found.set(key, entries);
    }
    // In runc's field order, whatever order the files were read in.
    return Object.fromEntries(BLKIO_KEYS.filter((k) => found.has(k)).map((k) => [k, found.get(k)!])) as BlkioStats;
  }
  return {};
}

async function hugetlbV1(host: Host, dir: string): Promise<Record<string, HugetlbEntry>> {
  const out: Record<string, HugetlbEntry> = {};
  for (const size of await hugepageSizes(host, dir, 'usage_in_bytes')) {
    const f = (name: string) => readU64(host, posix.join(dir, `hugetlb.${size}.${name}`));
    out[size] = { usage: nz(await f('usage_in_bytes')), max: nz(await f('max_usage_in_bytes')), failcnt: (await f('failcnt')) ?? 0 };
  }
  return out;
}
