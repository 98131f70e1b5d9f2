// Tasks.Metrics' data as containerd packs it: the cgroups library's Metrics message
// (proto/containerd/cgroups), io.containerd.cgroups.v1.Metrics for a container whose cgroups are
// v1 (a legacy or hybrid host) and io.containerd.cgroups.v2.Metrics for one on a unified host —
// the container's state records which, decided from the host's mounts when it was created, the
// same choice containerd makes from the host's cgroup mode. `ctr task metrics` decodes either.
//
// The numbers are the runtime library's statistics (readContainerStats: runc's Stats shape).
// A few things containerd reports are not in that shape and are read here beside it: v1's
// memory.oom_control and the device names of blkio entries (/proc/partitions, as containerd
// names them); v2's memory.events, the swap counters as the files have them (runc's shape adds
// memory to swap), the "max" of limits (uint64's maximum there, 0 in runc's shape) and hugetlb
// limits; rdma for both. Not reported, as containerd's cgroups library does not fill them
// either: v1 network and cgroup_stats.

import { posix } from 'path';
import { readContainerStats } from '@berth/runtime/dist/cgroups';
import { BLKIO_KEYS, MAX_U64, parseKeyedU64, parseU64, type BlkioEntry, type ContainerStats, type U64 } from '@berth/runtime/dist/cgroups/stats-types';
import type { Host } from '@berth/runtime/dist/host/host';
import { packAny, type AnyValue, type io } from '../api';

export const CGROUPS_V1_METRICS = 'io.containerd.cgroups.v1.Metrics';
export const CGROUPS_V2_METRICS = 'io.containerd.cgroups.v2.Metrics';

type V1 = io.containerd.cgroups.v1.IMetrics;
type V2 = io.containerd.cgroups.v2.IMetrics;
type RdmaEntry = io.containerd.cgroups.v1.IRdmaEntry;

/** What v1 Metrics has beyond ContainerStats. */
export interface V1Extras {
  /** memory.oom_control's keys. */
  oomControl?: Map<string, U64>;
  rdma?: { current: RdmaEntry[]; limit: RdmaEntry[] };
  /** "major:minor" → /dev/<name>. */
  devices?: Map<string, string>;
}

/** What v2 Metrics has beyond ContainerStats, as the files have it. */
export interface V2Extras {
  memoryEvents?: Map<string, U64>;
  swapCurrent?: U64;
  /** memory.swap.max; "max" is MAX_U64. */
  swapMax?: U64;
  /** pids.max; "max" is MAX_U64. */
  pidsMax?: U64;
  /** hugetlb.<size>.max by size; "max" is MAX_U64. */
  hugetlbMax?: Map<string, U64>;
  rdma?: { current: RdmaEntry[]; limit: RdmaEntry[] };
}

/** A uint64 as protobufjs encodes it exactly: a number while safe, else a decimal string. */
function u64(v: U64 | undefined): number | string {
  if (v === undefined) return 0;
  return typeof v === 'bigint' ? v.toString() : v;
}

/** Nanoseconds to microseconds (cgroup v2's cpu.stat unit; runc's shape multiplied by 1000). */
function usec(ns: U64 | undefined): number | string {
  if (ns === undefined) return 0;
  const n = BigInt(ns) / 1000n;
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

// ---- v1 ----

/** MemoryStat fields filled from memory.stat, and the key each comes from (containerd's mapping). */
const V1_MEMORY_STAT_KEYS: [keyof io.containerd.cgroups.v1.IMemoryStat, string][] = [
  ['cache', 'cache'],
  ['rss', 'rss'],
  ['rssHuge', 'rss_huge'],
  ['mappedFile', 'mapped_file'],
  ['dirty', 'dirty'],
  ['writeback', 'writeback'],
  ['pgPgIn', 'pgpgin'],
  ['pgPgOut', 'pgpgout'],
  ['pgFault', 'pgfault'],
  ['pgMajFault', 'pgmajfault'],
  ['inactiveAnon', 'inactive_anon'],
  ['activeAnon', 'active_anon'],
  ['inactiveFile', 'inactive_file'],
  ['activeFile', 'active_file'],
  ['unevictable', 'unevictable'],
  ['hierarchicalMemoryLimit', 'hierarchical_memory_limit'],
  ['hierarchicalSwapLimit', 'hierarchical_memsw_limit'],
  ['totalCache', 'total_cache'],
  ['totalRss', 'total_rss'],
  ['totalRssHuge', 'total_rss_huge'],
  ['totalMappedFile', 'total_mapped_file'],
  ['totalDirty', 'total_dirty'],
  ['totalWriteback', 'total_writeback'],
  ['totalPgPgIn', 'total_pgpgin'],
  ['totalPgPgOut', 'total_pgpgout'],
  ['totalPgFault', 'total_pgfault'],
  ['totalPgMajFault', 'total_pgmajfault'],
  ['totalInactiveAnon', 'total_inactive_anon'],
  ['totalActiveAnon', 'total_active_anon'],
  ['totalInactiveFile', 'total_inactive_file'],
  ['totalActiveFile', 'total_active_file'],
  ['totalUnevictable', 'total_unevictable'],
];

const memoryEntry = (e: ContainerStats['memory']['usage']) => ({ limit: u64(e.limit), usage: u64(e.usage), max: u64(e.max), failcnt: u64(e.failcnt) });

/** The v1 Metrics of a container's statistics. Every sub-message is present, as containerd's are. */
export function v1Metrics(stats: ContainerStats, extras: V1Extras = {}): V1 {
  const raw = stats.memory.raw ?? {};
  const memory: io.containerd.cgroups.v1.IMemoryStat = {
    usage: memoryEntry(stats.memory.usage),
    swap: memoryEntry(stats.memory.swap),
    kernel: memoryEntry(stats.memory.kernel),
    kernelTcp: memoryEntry(stats.memory.kernelTCP),
  };
  for (const [field, key] of V1_MEMORY_STAT_KEYS) (memory as Record<string, unknown>)[field] = u64(raw[key]);
  const blkioEntry = (e: BlkioEntry) => ({
    op: e.op ?? '',
    device: extras.devices?.get(`${e.major ?? 0}:${e.minor ?? 0}`) ?? '',
    major: e.major ?? 0,
    minor: e.minor ?? 0,
    value: u64(e.value),
  });
  const oom = extras.oomControl;
  return {
    hugetlb: Object.keys(stats.hugetlb)
      .sort()
      .map((size) => {
        const h = stats.hugetlb[size]!;
        return { pagesize: size, usage: u64(h.usage), max: u64(h.max), failcnt: u64(h.failcnt) };
      }),
    pids: { current: u64(stats.pids.current), limit: u64(stats.pids.limit) },
    cpu: {
      usage: {
        total: u64(stats.cpu.usage.total),
        kernel: u64(stats.cpu.usage.kernel),
        user: u64(stats.cpu.usage.user),
        perCpu: (stats.cpu.usage.percpu ?? []).map(u64),
      },
      throttling: {
        periods: u64(stats.cpu.throttling.periods),
        throttledPeriods: u64(stats.cpu.throttling.throttledPeriods),
        throttledTime: u64(stats.cpu.throttling.throttledTime),
      },
    },
    memory,
    blkio: Object.fromEntries(BLKIO_KEYS.map((k) => [k, (stats.blkio[k] ?? []).map(blkioEntry)])),
    rdma: extras.rdma ?? { current: [], limit: [] },
    memoryOomControl: oom
      ? { oomKillDisable: u64(oom.get('oom_kill_disable')), underOom: u64(oom.get('under_oom')), oomKill: u64(oom.get('oom_kill')) }
      : null,
  };
}

// ---- v2 ----

/** memory.stat keys that are v2 MemoryStat fields of the same name (lowerCamel here). */
const V2_MEMORY_STAT_KEYS = [
  'anon', 'file', 'kernel_stack', 'slab', 'sock', 'shmem', 'file_mapped', 'file_dirty', 'file_writeback', 'anon_thp',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'slab_reclaimable', 'slab_unreclaimable',
  'pgfault', 'pgmajfault', 'workingset_refault', 'workingset_activate', 'workingset_nodereclaim', 'pgrefill', 'pgscan',
  'pgsteal', 'pgactivate', 'pgdeactivate', 'pglazyfree', 'pglazyfreed', 'thp_fault_alloc', 'thp_collapse_alloc',
];

const camel = (key: string) => key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

/** The v2 Metrics of a container's statistics. */
export function v2Metrics(stats: ContainerStats, extras: V2Extras = {}): V2 {
  const raw = stats.memory.raw ?? {};
  const memory: Record<string, number | string> = {};
  for (const key of V2_MEMORY_STAT_KEYS) memory[camel(key)] = u64(raw[key]);
  memory['usage'] = u64(stats.memory.usage.usage);
  memory['usageLimit'] = u64(stats.memory.usage.limit);
  memory['swapUsage'] = u64(extras.swapCurrent);
  memory['swapLimit'] = u64(extras.swapMax);

  // io.stat's counters come back per device: regroup runc's per-operation lists.
  const devices = new Map<string, io.containerd.cgroups.v2.IIOEntry>();
  const add = (list: BlkioEntry[] | undefined, field: Record<string, 'rbytes' | 'wbytes' | 'rios' | 'wios'>) => {
    for (const e of list ?? []) {
      const key = `${e.major ?? 0}:${e.minor ?? 0}`;
      let entry = devices.get(key);
      if (!entry) devices.set(key, (entry = { major: e.major ?? 0, minor: e.minor ?? 0, rbytes: 0, wbytes: 0, rios: 0, wios: 0 }));
      const f = field[e.op ?? ''];
      if (f) entry[f] = u64(e.value);
    }
  };
  add(stats.blkio.ioServiceBytesRecursive, { Read: 'rbytes', Write: 'wbytes' });
  add(stats.blkio.ioServicedRecursive, { Read: 'rios', Write: 'wios' });

  const ev = extras.memoryEvents;
  return {
    pids: { current: u64(stats.pids.current), limit: u64(stats.pids.limit ?? extras.pidsMax) },
    cpu: {
      usageUsec: usec(stats.cpu.usage.total),
      userUsec: usec(stats.cpu.usage.user),
      systemUsec: usec(stats.cpu.usage.kernel),
      nrPeriods: u64(stats.cpu.throttling.periods),
      nrThrottled: u64(stats.cpu.throttling.throttledPeriods),
      throttledUsec: usec(stats.cpu.throttling.throttledTime),
    },
    memory,
    rdma: extras.rdma ?? { current: [], limit: [] },
    io: { usage: [...devices.values()] },
    hugetlb: Object.keys(stats.hugetlb)
      .sort()
      .map((size) => ({ pagesize: size, current: u64(stats.hugetlb[size]!.usage), max: u64(extras.hugetlbMax?.get(size)) })),
    memoryEvents: ev
      ? { low: u64(ev.get('low')), high: u64(ev.get('high')), max: u64(ev.get('max')), oom: u64(ev.get('oom')), oomKill: u64(ev.get('oom_kill')) }
      : null,
  };
}

// ---- reading ----

const readText = (host: Host, path: string) => host.readFile(path).catch(() => undefined);

/** A limit file: a number, or "max" (MAX_U64, as containerd's v2 reader reports it). */
async function readLimit(host: Host, path: string): Promise<U64 | undefined> {
  const t = (await readText(host, path))?.trim();
  return t === 'max' ? MAX_U64 : t === undefined ? undefined : parseU64(t);
}

async function readKeyed(host: Host, path: string): Promise<Map<string, U64> | undefined> {
  const t = await readText(host, path);
  return t === undefined ? undefined : parseKeyedU64(t);
}

/** rdma.current / rdma.max: "mlx4_0 hca_handle=2 hca_object=2000" per device; "max" is uint32's maximum. */
export function parseRdma(text: string | undefined): RdmaEntry[] {
  const out: RdmaEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [device, ...pairs] = line.trim().split(/\s+/);
    if (!device) continue;
    const entry: RdmaEntry = { device, hcaHandles: 0, hcaObjects: 0 };
    for (const pair of pairs) {
      const [k, v] = pair.split('=');
      const n = v === 'max' ? 0xffffffff : Number(v);
      if (!Number.isInteger(n)) continue;
      if (k === 'hca_handle') entry.hcaHandles = n;
      if (k === 'hca_object') entry.hcaObjects = n;
    }
    out.push(entry);
  }
  return out;
}

async function readRdma(host: Host, dir: string | undefined): Promise<V1Extras['rdma']> {
  if (dir === undefined) return undefined;
  const [current, limit] = await Promise.all([readText(host, posix.join(dir, 'rdma.current')), readText(host, posix.join(dir, 'rdma.max'))]);
  return { current: parseRdma(current), limit: parseRdma(limit) };
}

/** /proc/partitions: "major minor #blocks name" after a header line and a blank one. */
export function parsePartitions(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !/^\d+$/.test(f[0]!) || !/^\d+$/.test(f[1]!)) continue;
    const key = `${f[0]}:${f[1]}`;
    if (!out.has(key)) out.set(key, `/dev/${f[3]}`);
  }
  return out;
}

async function readV1Extras(host: Host, paths: Record<string, string>, stats: ContainerStats): Promise<V1Extras> {
  const memory = paths['memory'];
  const hasBlkio = BLKIO_KEYS.some((k) => (stats.blkio[k]?.length ?? 0) > 0);
  const [oomControl, rdma, partitions] = await Promise.all([
    memory === undefined ? undefined : readKeyed(host, posix.join(memory, 'memory.oom_control')),
    readRdma(host, paths['rdma']),
    hasBlkio ? readText(host, '/proc/partitions') : undefined,
  ]);
  return { oomControl, rdma, devices: parsePartitions(partitions) };
}

async function readV2Extras(host: Host, dir: string, stats: ContainerStats): Promise<V2Extras> {
  const f = (name: string) => posix.join(dir, name);
  const sizes = Object.keys(stats.hugetlb);
  const [memoryEvents, swapCurrent, swapMax, pidsMax, hugetlbMax, rdma] = await Promise.all([
    readKeyed(host, f('memory.events')),
    readText(host, f('memory.swap.current')).then((t) => (t === undefined ? undefined : parseU64(t))),
    readLimit(host, f('memory.swap.max')),
    readLimit(host, f('pids.max')),
    Promise.all(sizes.map(async (s) => [s, await readLimit(host, f(`hugetlb.${s}.max`))] as const)),
    readRdma(host, dir),
  ]);
  const limits = new Map<string, U64>();
  for (const [s, v] of hugetlbMax) if (v !== undefined) limits.set(s, v);
  return { memoryEvents, swapCurrent, swapMax, pidsMax, hugetlbMax: limits, rdma };
}

/**
 * A container's cgroup statistics packed as containerd packs them for Tasks.Metrics: the cgroup
 * version and paths are those its state recorded.
 */
export async function readCgroupMetrics(host: Host, version: 1 | 2, paths: Record<string, string>): Promise<AnyValue> {
  const stats = await readContainerStats(host, version, paths);
  if (version === 2) return packAny(CGROUPS_V2_METRICS, v2Metrics(stats, await readV2Extras(host, paths['']!, stats)));
  return packAny(CGROUPS_V1_METRICS, v1Metrics(stats, await readV1Extras(host, paths, stats)));
}
