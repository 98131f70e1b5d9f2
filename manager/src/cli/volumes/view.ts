// Volumes as Docker's client shows them: `volume inspect`'s document and `volume ls`'s rows
// (the fields its --format templates name).

import { dateOf } from '../../api';
import { humanSize } from '../output/units';

/** A volume as berthd's Volumes service answers (decoded). */
export interface VolumeMessage {
  name: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: { seconds: number; nanos: number } | null;
  mountpoint: string;
  usedBy: string[];
  size: number;
}

/** Docker's CreatedAt: RFC 3339, whole seconds. */
export const createdAt = (v: Pick<VolumeMessage, 'createdAt'>): string => (dateOf(v.createdAt) ?? new Date(0)).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A map with its keys in order, as Go's encoding/json writes maps. */
const sorted = (m: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** `volume inspect`'s object (Docker's field order). */
export function inspectDoc(v: VolumeMessage): Record<string, unknown> {
  return {
    CreatedAt: createdAt(v),
    Driver: v.driver,
    Labels: sorted(v.labels),
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: sorted(v.options),
    Scope: 'local',
    ...(v.size >= 0 ? { UsageData: { RefCount: v.usedBy.length, Size: v.size } } : {}),
  };
}

export interface VolumeRow {
  Name: string;
  Driver: string;
  Scope: string;
  Mountpoint: string;
  Labels: string;
  Links: string;
  Size: string;
  CreatedAt: string;
}

export function rowOf(v: VolumeMessage): VolumeRow {
  return {
    Name: v.name,
    Driver: v.driver,
    Scope: 'local',
    Mountpoint: v.mountpoint,
    Labels: Object.entries(v.labels)
      .map(([k, val]) => `${k}=${val}`)
      .join(','),
    Links: String(v.usedBy.length),
    Size: v.size >= 0 ? humanSize(v.size) : 'N/A',
    CreatedAt: createdAt(v),
  };
}
