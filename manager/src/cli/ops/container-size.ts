// Docker's container sizes (`ps -s`, `--format '{{.Size}}'`, `inspect -s`):
//   SizeRw      the writable layer's disk use: the container's own snapshot's usage (for an
//               overlay snapshot, its upper directory: what the container wrote or copied up)
//   SizeRootFs  that plus the image's unpacked layers: the usage of every snapshot below it
// from one System.Df call (every snapshot's usage and parent) for the whole list.

import type { Daemon } from '../daemon';
import { humanSize } from '../output/units';

export interface ContainerSize {
  rw: number;
  rootFs: number;
}

/** What the sizes are computed from: the container's snapshotter and snapshot key. */
export interface SnapshotRef {
  snapshotter: string;
  snapshotKey: string;
}

interface Usage {
  parent: string;
  size: number;
}

/** The size of each container from one reading of the snapshots' usage; undefined: no snapshot known. */
export async function containerSizes(d: Daemon): Promise<(c: SnapshotRef) => ContainerSize | undefined> {
  const df = await d.system.Df({});
  const usage = new Map<string, Usage>();
  for (const s of df.snapshots) usage.set(`${s.snapshotter}\0${s.key}`, { parent: s.parent, size: s.size });
  return (c) => {
    if (!c.snapshotter || !c.snapshotKey) return undefined;
    const own = usage.get(`${c.snapshotter}\0${c.snapshotKey}`);
    if (!own) return undefined;
    let rootFs = own.size;
    const seen = new Set([c.snapshotKey]);
    for (let key = own.parent; key && !seen.has(key); ) {
      seen.add(key);
      const u = usage.get(`${c.snapshotter}\0${key}`);
      if (!u) break; // a parent not measured (removed meanwhile): what is known
      rootFs += u.size;
      key = u.parent;
    }
    return { rw: own.size, rootFs };
  };
}

/** Docker's SIZE column: "2B (virtual 1.2MB)", or the writable size alone when nothing is below it. */
export function sizeText(s: ContainerSize | undefined): string {
  if (!s) return humanSize(0);
  const rw = humanSize(s.rw);
  return s.rootFs > 0 ? `${rw} (virtual ${humanSize(s.rootFs)})` : rw;
}

/** An inspect document with Docker's SizeRw and SizeRootFs, where Docker puts them (after GraphDriver). */
export function withSizes(doc: Record<string, unknown>, s: ContainerSize | undefined): Record<string, unknown> {
  const sizes = { SizeRw: s?.rw ?? 0, SizeRootFs: s?.rootFs ?? 0 };
  const out: Record<string, unknown> = {};
  let placed = false;
  for (const [k, v] of Object.entries(doc)) {
    out[k] = v;
    if (k === 'GraphDriver') {
      Object.assign(out, sizes);
      placed = true;
    }
  }
  return placed ? out : { ...out, ...sizes };
}
