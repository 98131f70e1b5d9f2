// The statistics `events` prints, in the JSON shape of runc's types.Stats (runc 1.1), and the
// small readers both versions' collectors share.
//
// Keys are runc's JSON names. A field runc tags `omitempty` is optional here and left out
// when zero, so the encoder only has to skip undefined; a struct-valued field is always
// present (Go's omitempty never drops a struct). Counters are uint64 in the kernel: they
// stay exact as a bigint past 2^53 (an unlimited v1 limit is 2^63 - 4096).

import type { Host } from '../host/host';
import { posix } from 'path';
import { cgReadOptional } from './errors';

export type U64 = number | bigint;

export interface MemoryEntry {
  limit: U64;
  usage?: U64;
  max?: U64;
  failcnt: U64;
}

export interface BlkioEntry {
  major?: number;
  minor?: number;
  op?: string;
  value?: U64;
}

export interface BlkioStats {
  ioServiceBytesRecursive?: BlkioEntry[];
  ioServicedRecursive?: BlkioEntry[];
  ioQueueRecursive?: BlkioEntry[];
  ioServiceTimeRecursive?: BlkioEntry[];
  ioWaitTimeRecursive?: BlkioEntry[];
  ioMergedRecursive?: BlkioEntry[];
  ioTimeRecursive?: BlkioEntry[];
  sectorsRecursive?: BlkioEntry[];
}

/** BlkioStats' lists in containerd's field order (its v1 Metrics message). */
export const BLKIO_KEYS: readonly (keyof BlkioStats)[] = [
  'ioServiceBytesRecursive',
  'ioServicedRecursive',
  'ioQueueRecursive',
  'ioServiceTimeRecursive',
  'ioWaitTimeRecursive',
  'ioMergedRecursive',
  'ioTimeRecursive',
  'sectorsRecursive',
];

export interface HugetlbEntry {
  usage?: U64;
  max?: U64;
  failcnt: U64;
}

export interface CpusetStats {
  cpus?: number[];
  cpu_exclusive: U64;
  mems?: number[];
  mem_hardwall: U64;
  mem_exclusive: U64;
  memory_migrate: U64;
  memory_spread_page: U64;
  memory_spread_slab: U64;
  memory_pressure: U64;
  sched_load_balance: U64;
  sched_relax_domain_level: number;
}

export interface ContainerStats {
  cpu: {
    usage: { total?: U64; percpu?: U64[]; percpu_kernel?: U64[]; percpu_user?: U64[]; kernel: U64; user: U64 };
    throttling: { periods?: U64; throttledPeriods?: U64; throttledTime?: U64 };
  };
  cpuset: CpusetStats;
  memory: { cache?: U64; usage: MemoryEntry; swap: MemoryEntry; kernel: MemoryEntry; kernelTCP: MemoryEntry; raw?: Record<string, U64> };
  pids: { current?: U64; limit?: U64 };
  blkio: BlkioStats;
  hugetlb: Record<string, HugetlbEntry>;
  /** berth has no Intel RDT support: always empty, as runc prints it without RDT. */
  intel_rdt: Record<string, never>;
  /** runc fills this only for containers it gives a network; berth does not. */
  network_interfaces: null;
}

export const MAX_U64 = 18446744073709551615n;

/** A decimal counter, exact: a number while it is safe, a bigint beyond. Undefined if not a uint. */
export function parseU64(text: string): U64 | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const n = BigInt(t);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/** Undefined for 0, so an omitempty field drops out. */
export function nz(v: U64 | undefined): U64 | undefined {
  return v === undefined || v === 0 || v === 0n ? undefined : v;
}

export function addU64(a: U64, b: U64): U64 {
  const sum = BigInt(a) + BigInt(b);
  const capped = sum > MAX_U64 ? MAX_U64 : sum;
  return capped <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(capped) : capped;
}

export function mulU64(a: U64, factor: number): U64 {
  const p = BigInt(a) * BigInt(factor);
  return p <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(p) : p;
}

/**
 * A file's content, or undefined when it is missing or unreadable: statistics are best
 * effort (a controller may be absent, a file may vanish as the container exits).
 */
export async function readOptional(host: Host, path: string): Promise<string | undefined> {
  return cgReadOptional(host, path).catch(() => undefined);
}

export async function readU64(host: Host, path: string): Promise<U64 | undefined> {
  const text = await readOptional(host, path);
  return text === undefined ? undefined : parseU64(text);
}

/** "key value" lines as exact counters, keys sorted (Go's encoder sorts map keys). */
export function parseKeyedU64(text: string): Map<string, U64> {
  const pairs: [string, U64][] = [];
  for (const line of text.split('\n')) {
    const [key, value, extra] = line.trim().split(/\s+/);
    if (key === undefined || key === '' || value === undefined || extra !== undefined) continue;
    const n = parseU64(value);
    if (n !== undefined) pairs.push([key, n]);
  }
  return new Map(pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export async function readKeyedU64(host: Host, path: string): Promise<Map<string, U64> | undefined> {
  const text = await readOptional(host, path);
  return text === undefined ? undefined : parseKeyedU64(text);
}

/** "0-3,8,10-11" → [0,1,2,3,8,10,11]; undefined for an empty or malformed list. */
export function parseCpuList(text: string | undefined): number[] | undefined {
  const t = (text ?? '').trim();
  if (t === '') return undefined;
  const out: number[] = [];
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}

/**
 * A v1 blkio statistics file: "8:0 Read 4096" lines (or "8:0 4096" for counters without an
 * operation); the "Total" line is not an entry.
 */
export function parseBlkioEntries(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 2 || fields[0] === 'Total') continue;
    const dev = /^(\d+):(\d+)$/.exec(fields[0]!);
    const value = parseU64(fields[fields.length - 1]!);
    if (!dev || value === undefined) continue;
    out.push(blkioEntry(Number(dev[1]), Number(dev[2]), fields.length >= 3 ? fields[1]! : '', value));
  }
  return out;
}

export function blkioEntry(major: number, minor: number, op: string, value: U64): BlkioEntry {
  return { major: major || undefined, minor: minor || undefined, op: op || undefined, value: nz(value) };
}

/** The hugetlb page sizes a cgroup directory has files for ("hugetlb.2MB.<suffix>"), sorted. */
export async function hugepageSizes(host: Host, dir: string, suffix: string): Promise<string[]> {
  const names = await host.readdir(dir).catch(() => [] as string[]);
  const pattern = new RegExp(`^hugetlb\\.([0-9]+[KMGT]?B)\\.${suffix.replace(/\./g, '\\.')}$`);
  const sizes = names.map((n) => pattern.exec(n)?.[1]);
  return [...new Set(sizes.filter((s): s is string => s !== undefined))].sort();
}

/** pids.current and pids.max ("max" is no limit: 0, as runc reports it); the same files in v1 and v2. */
export async function pidsStats(host: Host, dir: string | undefined): Promise<ContainerStats['pids']> {
  if (dir === undefined) return {};
  const [current, max] = await Promise.all([readU64(host, posix.join(dir, 'pids.current')), readU64(host, posix.join(dir, 'pids.max'))]);
  return { current: nz(current), limit: nz(max) };
}
