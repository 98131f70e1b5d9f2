// Which mounts a new container gets, from its flags, the image's VOLUMEs and --volumes-from,
// with Docker's precedence (daemon/volumes.go registerMountPoints): the mounts of
// --volumes-from containers first, replaced at the same destination by the user's -v and
// --mount; an image VOLUME gets a new anonymous volume unless something else is mounted there
// (--tmpfs included). Two of the user's own at one destination are an error. The result is
// sorted by destination depth, so /a is mounted before /a/b. Pure: berthd is asked for the
// volumes afterwards (prepare.ts).

import { posix } from 'node:path';
import { CliError } from '../errors';
import type { MountPoint } from '../../core/containers/run-config';
import type { MountRequest } from './flags';

export interface PlannedVolume {
  /** Asked for when berthd has no such volume yet (--mount volume-opt, volume-label). */
  labels: Record<string, string>;
  options: Record<string, string>;
  driver: string;
  /** Seed a new, empty volume with the image's files at the destination (Docker's copy-up). */
  populate: boolean;
}

export interface PlannedMount {
  /** What inspect shows; for a volume, Name ('' while anonymous and not yet made) and Source are filled by prepare.ts. */
  point: MountPoint;
  volume?: PlannedVolume;
  tmpfs?: { size: number; mode?: number };
}

export interface PlanInput {
  /** -v and --mount, in the order given. */
  requests: MountRequest[];
  /** --tmpfs destinations (spec.ts mounts them). */
  tmpfsDestinations: string[];
  /** The image config's Volumes keys. */
  imageVolumes: string[];
  /** Each --volumes-from container's mounts and the mode asked for. */
  volumesFrom: { mounts: MountPoint[]; mode?: 'ro' | 'rw' }[];
}

const clean = (p: string): string => posix.normalize(p).replace(/(.)\/+$/, '$1');
const depth = (p: string): number => p.split('/').filter(Boolean).length;

function pointOf(r: MountRequest): PlannedMount {
  switch (r.kind) {
    case 'bind':
      return { point: { Type: 'bind', Source: r.source, Destination: r.destination, Mode: r.mode, RW: !r.readonly, Propagation: r.propagation } };
    case 'volume':
      return {
        point: { Type: 'volume', Name: r.name, Source: '', Destination: r.destination, Driver: 'local', Mode: r.mode, RW: !r.readonly, Propagation: '' },
        volume: { labels: r.labels, options: r.driverOptions, driver: r.driver, populate: !r.nocopy },
      };
    case 'tmpfs':
      return { point: { Type: 'tmpfs', Source: '', Destination: r.destination, Mode: '', RW: !r.readonly, Propagation: '' }, tmpfs: { size: r.size, ...(r.mode !== undefined ? { mode: r.mode } : {}) } };
  }
}

export function planMounts(input: PlanInput): PlannedMount[] {
  const byDest = new Map<string, PlannedMount>();
  for (const from of input.volumesFrom) {
    for (const m of from.mounts) {
      if (m.Type === 'tmpfs') continue; // Docker does not share a tmpfs
      const point: MountPoint = { ...m, Destination: clean(m.Destination) };
      if (from.mode) Object.assign(point, { RW: from.mode === 'rw', Mode: from.mode });
      // the same volume, asked for again so that a volume removed meanwhile exists (empty) again
      const volume = m.Type === 'volume' ? { labels: {}, options: {}, driver: '', populate: false } : undefined;
      byDest.set(point.Destination, { point, ...(volume ? { volume } : {}) });
    }
  }
  const own = new Set<string>(input.tmpfsDestinations.map(clean));
  if (own.size !== input.tmpfsDestinations.length) throw new CliError('Duplicate mount point: --tmpfs names a destination twice', 125);
  for (const r of input.requests) {
    const dest = clean(r.destination);
    if (own.has(dest)) throw new CliError(`Duplicate mount point: ${dest}`, 125);
    own.add(dest);
    byDest.set(dest, pointOf({ ...r, destination: dest }));
  }
  for (const dest of input.tmpfsDestinations.map(clean)) byDest.delete(dest);
  for (const v of input.imageVolumes) {
    const dest = clean(v.startsWith('/') ? v : `/${v}`);
    if (byDest.has(dest) || own.has(dest)) continue;
    byDest.set(dest, {
      point: { Type: 'volume', Name: '', Source: '', Destination: dest, Driver: 'local', Mode: '', RW: true, Propagation: '' },
      volume: { labels: {}, options: {}, driver: '', populate: true },
    });
  }
  return [...byDest.values()].sort((a, b) => depth(a.point.Destination) - depth(b.point.Destination));
}
