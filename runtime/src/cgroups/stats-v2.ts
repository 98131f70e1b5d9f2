// Statistics of a cgroup v2 container (one directory), read the way runc's fs2 driver reads
// them, in the same shape as v1's: v1-only fields stay zero.

import { posix } from 'path';
import type { Host } from '../host/host';
import {
  type BlkioEntry,
  type ContainerStats,
  type CpusetStats,
  type HugetlbEntry,
  type MemoryEntry,
  type U64,
  MAX_U64,
  addU64,
  blkioEntry,
  hugepageSizes,
  mulU64,
  nz,
  parseCpuList,
  parseU64,
  pidsStats,
  readKeyedU64,
  readOptional,
  readU64,
} from './stats-types';

export async function statsV2(host: Host, dir: string): Promise<ContainerStats> {
  const [cpu, cpuset, memory, pids, blkio, hugetlb] = await Promise.all([
    cpuV2(host, dir),
    cpusetV2(host, dir),
    memoryV2(host, dir),
    pidsStats(host, dir),
    ioV2(host, dir),
    hugetlbV2(host, dir),
  ]);
  return { cpu, cpuset, memory, pids, blkio, hugetlb, intel_rdt: {}, network_interfaces: null };
}

/** The OOM-kill counter of memory.events; undefined without it. */
export async function oomKillsV2(host: Host, dir: string): Promise<number | undefined> {
  const n = (await readKeyedU64(host, posix.join(dir, 'memory.events')))?.get('oom_kill');
  return n === undefined ? undefined : Number(n);
}

async function cpuV2(host: Host, dir: string): Promise<ContainerStats['cpu']> {
  const s = await readKeyedU64(host, posix.join(dir, 'cpu.stat'));
  const ns = (key: string) => mulU64(s?.get(key) ?? 0, 1000);
  return {
    usage: { total: nz(ns('usage_usec')), kernel: ns('system_usec'), user: ns('user_usec') },
    throttling: { periods: nz(s?.get('nr_periods')), throttledPeriods: nz(s?.get('nr_throttled')), throttledTime: nz(ns('throttled_usec')) },
  };
}

async function cpusetV2(host: Host, dir: string): Promise<CpusetStats> {
  const [cpus, mems] = await Promise.all([
    readOptional(host, posix.join(dir, 'cpuset.cpus.effective')),
    readOptional(host, posix.join(dir, 'cpuset.mems.effective')),
  ]);
  // The other fields are v1 knobs cgroup2 does not have.
  return {
    cpus: parseCpuList(cpus),
    cpu_exclusive: 0,
    mems: parseCpuList(mems),
    mem_hardwall: 0,
    mem_exclusive: 0,
    memory_migrate: 0,
    memory_spread_page: 0,
    memory_spread_slab: 0,
    memory_pressure: 0,
    sched_load_balance: 0,
    sched_relax_domain_level: 0,
  };
}

/** A limit file: a number, or "max" for none (uint64's maximum, as runc reports it). */
async function readLimit(host: Host, path: string): Promise<U64 | undefined> {
  const text = (await readOptional(host, path))?.trim();
  return text === 'max' ? MAX_U64 : text === undefined ? undefined : parseU64(text);
}

async function memoryV2(host: Host, dir: string): Promise<ContainerStats['memory']> {
  const f = (name: string) => posix.join(dir, name);
  const [current, max, peak, events, swapCurrent, swapMax, raw] = await Promise.all([
    readU64(host, f('memory.current')),
    readLimit(host, f('memory.max')),
    readU64(host, f('memory.peak')),
    readKeyedU64(host, f('memory.events')),
    readU64(host, f('memory.swap.current')),
    readLimit(host, f('memory.swap.max')),
    readKeyedU64(host, f('memory.stat')),
  ]);
  const usage: MemoryEntry = { limit: max ?? 0, usage: nz(current), max: nz(peak), failcnt: events?.get('max') ?? 0 };
  // v1's memsw counts memory plus swap; runc adds the two so the numbers mean the same.
  const swapLimit = swapMax === undefined ? 0 : swapMax === MAX_U64 || max === MAX_U64 ? MAX_U64 : addU64(swapMax, max ?? 0);
  const swap: MemoryEntry = { limit: swapLimit, usage: nz(swapCurrent === undefined ? undefined : addU64(swapCurrent, current ?? 0)), failcnt: 0 };
  return {
    cache: nz(raw?.get('file')),
    usage,
    swap,
    kernel: { limit: 0, failcnt: 0 },
    kernelTCP: { limit: 0, failcnt: 0 },
    raw: raw !== undefined && raw.size > 0 ? Object.fromEntries(raw) : undefined,
  };
}

/** io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6" per device. */
async function ioV2(host: Host, dir: string): Promise<ContainerStats['blkio']> {
  const text = await readOptional(host, posix.join(dir, 'io.stat'));
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  const ops: Record<string, [BlkioEntry[], string]> = {
    rbytes: [bytes, 'Read'],
    wbytes: [bytes, 'Write'],
    dbytes: [bytes, 'Discard'],
    rios: [ios, 'Read'],
    wios: [ios, 'Write'],
    dios: [ios, 'Discard'],
  };
  for (const line of (text ?? '').split('\n')) {
    const [devField, ...pairs] = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(devField ?? '');
    if (!dev) continue;
    for (const pair of pairs) {
      const [key, value] = pair.split('=');
      const target = ops[key ?? ''];
      const n = parseU64(value ?? '');
      if (target !== undefined && n !== undefined) target[0].push(blkioEntry(Number(dev[1]), Number(dev[2]), target[1], n));
    }
  }
  return { ioServiceBytesRecursive: bytes.length > 0 ? bytes : undefined, ioServicedRecursive: ios.length > 0 ? ios : undefined };
}

/** hugetlb.<size>.current and the "max" count of hugetlb.<size>.events (cgroup2 has no peak). */
export async function hugetlbV2(host: Host, dir: string): Promise<Record<string, HugetlbEntry>> {
  const out: Record<string, HugetlbEntry> = {};
  for (const size of await hugepageSizes(host, dir, 'current')) {
    const usage = await readU64(host, posix.join(dir, `hugetlb.${size}.current`));
    const events = await readKeyedU64(host, posix.join(dir, `hugetlb.${size}.events`));
    out[size] = { usage: nz(usage), failcnt: events?.get('max') ?? 0 };
  }
  return out;
}
