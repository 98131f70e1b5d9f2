// The glue between `berth run/create` (containers/create.ts) and the volume modules: the plan
// for a new container's mounts (its flags, the image's VOLUMEs, the mounts of --volumes-from
// containers read from their run config), and what the run config records of them for
// inspect and for berthd's in-use tracking.

import type { Daemon } from '../daemon';
import { CliError } from '../errors';
import { resolveContainer, runConfigOf } from '../containers/resolve';
import type { RunOptions } from '../containers/run-options';
import type { RunConfig } from '../../core/containers/run-config';
import { planMounts, type PlannedMount } from './plan';

export async function planContainerMounts(d: Daemon, opts: RunOptions, imageVolumes: Record<string, unknown> | null | undefined): Promise<PlannedMount[]> {
  const volumesFrom = [];
  for (const from of opts.volumesFrom) {
    const c = await resolveContainer(d, from.container).catch((err: unknown) => {
      throw err instanceof CliError ? new CliError(err.message, 125) : err;
    });
    volumesFrom.push({ mounts: runConfigOf(c)?.Mounts ?? [], ...(from.mode ? { mode: from.mode } : {}) });
  }
  return planMounts({
    requests: opts.mountRequests,
    tmpfsDestinations: Object.keys(opts.tmpfs),
    imageVolumes: Object.keys(imageVolumes ?? {}),
    volumesFrom,
  });
}

/** The run config with the container's mounts (after prepareVolumes named them) and the flags as Docker's inspect shows them. */
export function withMounts(run: RunConfig, opts: RunOptions, plan: PlannedMount[]): RunConfig {
  const anonymous = Object.fromEntries(opts.anonymousVolumes.map((p) => [p, {} as Record<string, never>]));
  return {
    ...run,
    Volumes: run.Volumes || opts.anonymousVolumes.length ? { ...(run.Volumes ?? {}), ...anonymous } : null,
    Mounts: plan.map((m) => ({ ...m.point })),
    Host: {
      ...run.Host,
      Binds: [...run.Host.Binds, ...opts.volumeBinds],
      VolumesFrom: opts.volumesFrom.map((f) => (f.mode ? `${f.container}:${f.mode}` : f.container)),
      Mounts: opts.mountSpecs,
    },
  };
}
