// The volumes of a container being created, through berthd (berth.volumes.v1): each planned
// volume prepared (created on first use, an anonymous one always new; its filesystem mounted
// when it has mount options), the OCI mounts made from the plan, and — once the container's
// snapshot exists — new volumes seeded from the image (Populate). A create that fails after
// volumes were made removes the ones it made. `rm -v` removes a container's anonymous volumes.

import type { Daemon } from '../daemon';
import type { MountPoint, RunConfig } from '../../core/containers/run-config';
import { volumesOf } from '../../core/volumes/users';
import { ANONYMOUS_LABEL } from '../../core/volumes/names';
import type { PlannedMount } from './plan';
import { FAILED_PRECONDITION, NOT_FOUND, volumeError } from './errors';
import { grpcCode } from '../errors';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** Asks berthd for every planned volume; fills in their names and sources. Returns the names it created. */
export async function prepareVolumes(d: Daemon, plan: PlannedMount[]): Promise<string[]> {
  const created: string[] = [];
  try {
    for (const m of plan) {
      if (!m.volume) continue;
      const r = await d.volumes.Prepare({ name: m.point.Name ?? '', labels: m.volume.labels, options: m.volume.options, driver: m.volume.driver });
      if (!r.volume) throw new Error('berthd answered Prepare without a volume');
      m.point.Name = r.volume.name;
      m.point.Source = r.volume.mountpoint;
      if (r.created) created.push(r.volume.name);
    }
  } catch (err) {
    await removeVolumes(d, created);
    throw volumeError(err, 125);
  }
  return created;
}

/** The OCI spec's mounts for the plan (after prepareVolumes). */
export function ociMounts(plan: PlannedMount[]): OciMount[] {
  return plan.map(({ point: p, tmpfs }) => {
    const rw = p.RW ? 'rw' : 'ro';
    if (p.Type === 'tmpfs') {
      const opts = ['nosuid', 'nodev', 'noexec'];
      if (tmpfs?.size) opts.push(`size=${tmpfs.size}`);
      if (tmpfs?.mode !== undefined) opts.push(`mode=${tmpfs.mode.toString(8)}`);
      if (!p.RW) opts.push('ro');
      return { destination: p.Destination, type: 'tmpfs', source: 'tmpfs', options: opts };
    }
    return { destination: p.Destination, type: 'bind', source: p.Source, options: ['rbind', p.Type === 'bind' ? p.Propagation || 'rprivate' : 'rprivate', rw] };
  });
}

/** Seeds the plan's new volumes from the container's snapshot (berthd copies only into empty, never-seeded ones). */
export async function populateVolumes(d: Daemon, plan: PlannedMount[], snapshot: { snapshotter: string; key: string }): Promise<void> {
  for (const m of plan) {
    if (!m.volume?.populate || !m.point.Name) continue;
    await d.volumes
      .Populate({ name: m.point.Name, snapshotter: snapshot.snapshotter, snapshotKey: snapshot.key, path: m.point.Destination })
      .catch((err: unknown) => {
        throw volumeError(err, 125);
      });
  }
}

/** Removes volumes (best effort: one in use or gone is left as it is). */
export async function removeVolumes(d: Daemon, names: string[]): Promise<void> {
  for (const name of names) await d.volumes.Remove({ name, force: false }).catch(() => undefined);
}

/** `rm -v`: the container's anonymous volumes that no other container uses (Docker keeps the others). */
export async function removeAnonymousVolumes(d: Daemon, run: Pick<RunConfig, 'Mounts'> | undefined): Promise<void> {
  for (const name of volumesOf(run)) {
    let labels: Record<string, string>;
    try {
      labels = (await d.volumes.Get({ name, size: false })).volume?.labels ?? {};
    } catch (err) {
      if (grpcCode(err) === NOT_FOUND) continue;
      throw volumeError(err);
    }
    if (!Object.prototype.hasOwnProperty.call(labels, ANONYMOUS_LABEL)) continue;
    await d.volumes.Remove({ name, force: false }).catch((err: unknown) => {
      if (grpcCode(err) !== NOT_FOUND && grpcCode(err) !== FAILED_PRECONDITION) throw volumeError(err);
    });
  }
}

/** The mounts another container has, for --volumes-from. */
export const mountsOf = (run: RunConfig | undefined): MountPoint[] => run?.Mounts ?? [];
