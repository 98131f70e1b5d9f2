// `stats` figures from Tasks.Metrics: containerd's cgroups v1 or v2 Metrics reduced to what
// Docker's table shows, and the table's rows (Docker's columns, units and rounding). Pure.
//
// CPU % is Docker's: CPU time used between two samples over the time between them, for all
// CPUs together (Docker divides by the host's total CPU time and multiplies by the number of
// CPUs: the same figure). Memory is the usage less the inactive page cache (Docker's
// "usage without cache"); the limit is the cgroup's, or the host's memory when that is less
// (an unlimited cgroup reports a huge number).

import { bytesSize, humanSize, shortId } from '../output/units';

export interface Sample {
  /** When berthd read it (ms). */
  at: number;
  /** Total CPU time used, ns. */
  cpuNs: number;
  memUsage: number;
  memLimit: number;
  blkRead: number;
  blkWrite: number;
  pids: number;
}

type Obj = Record<string, any>;
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0)) || 0;

/** A Sample from a decoded Metrics message ('io.containerd.cgroups.v1.Metrics' or v2). */
export function sampleOf(typeName: string, m: Obj, at: number): Sample {
  if (typeName.endsWith('cgroups.v2.Metrics')) {
    const usage = num(m.memory?.usage);
    const inactive = num(m.memory?.inactiveFile);
    let read = 0;
    let write = 0;
    for (const e of (m.io?.usage ?? []) as Obj[]) {
      read += num(e.rbytes);
      write += num(e.wbytes);
    }
    return {
      at,
      cpuNs: num(m.cpu?.usageUsec) * 1000,
      memUsage: inactive < usage ? usage - inactive : usage,
      memLimit: num(m.memory?.usageLimit),
      blkRead: read,
      blkWrite: write,
      pids: num(m.pids?.current),
    };
  }
  const usage = num(m.memory?.usage?.usage);
  const inactive = num(m.memory?.totalInactiveFile);
  let read = 0;
  let write = 0;
  for (const e of (m.blkio?.ioServiceBytesRecursive ?? []) as Obj[]) {
    const op = String(e.op ?? '').toLowerCase();
    if (op === 'read') read += num(e.value);
    else if (op === 'write') write += num(e.value);
  }
  return {
    at,
    cpuNs: num(m.cpu?.usage?.total),
    memUsage: inactive < usage ? usage - inactive : usage,
    memLimit: num(m.memory?.usage?.limit),
    blkRead: read,
    blkWrite: write,
    pids: num(m.pids?.current),
  };
}

/** A row of the table: the fields --format templates name (Docker's). */
export interface StatsRow {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

export const STATS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
export const STATS_TITLES: Record<string, string> = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

const percent = (v: number): string => `${(Number.isFinite(v) ? v : 0).toFixed(2)}%`;

/** CPU % between two samples of the same container (0 without an earlier one). */
export function cpuPercent(prev: Sample | undefined, cur: Sample): number {
  if (!prev) return 0;
  const wallNs = (cur.at - prev.at) * 1e6;
  const cpuNs = cur.cpuNs - prev.cpuNs;
  return wallNs > 0 && cpuNs > 0 ? (cpuNs / wallNs) * 100 : 0;
}

export function statsRow(
  c: { ref: string; id: string; name: string },
  cur: Sample | undefined,
  prev: Sample | undefined,
  hostMemory: number,
  noTrunc: boolean,
): StatsRow {
  const id = noTrunc ? c.id : shortId(c.id);
  if (!cur) {
    // Not running: Docker's zeros.
    return { Container: c.ref, ID: id, Name: c.name, CPUPerc: percent(0), MemUsage: '0B / 0B', MemPerc: percent(0), NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: '0' };
  }
  const limit = cur.memLimit > 0 && cur.memLimit < hostMemory ? cur.memLimit : hostMemory;
  return {
    Container: c.ref,
    ID: id,
    Name: c.name,
    CPUPerc: percent(cpuPercent(prev, cur)),
    MemUsage: `${bytesSize(cur.memUsage)} / ${bytesSize(limit)}`,
    MemPerc: percent(limit > 0 ? (cur.memUsage / limit) * 100 : 0),
    // No networks yet (a later issue): nothing sent or received.
    NetIO: `${humanSize(0)} / ${humanSize(0)}`,
    BlockIO: `${humanSize(cur.blkRead)} / ${humanSize(cur.blkWrite)}`,
    PIDs: String(cur.pids),
  };
}
