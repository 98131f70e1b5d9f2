import { posix } from 'path';
import type { RuntimeContext } from './context';
import { loadContainer } from './load';
import type { LinuxResources } from '../spec/types';
import { validateSpec } from '../spec/validate';
import type { CgroupManager } from '../cgroups/types';
import { CgroupError } from '../cgroups/errors';
import { BerthError, failedPrecondition } from '../util/errors';

// `update`: new limits for a live container. As runc does, the change is merged onto the
// container's current resources and the whole merged set is applied, because some values only
// make sense together (v1 writes limit and memsw in an order that depends on both; v2's
// memory.swap.max is the OCI swap minus the limit). The merged set is kept in state.json.

/**
 * `r` merged onto `base`, field by field the way runc's update merges: the fields an update
 * can change replace the old ones when given; everything else stays as it was. A new memory
 * limit of -1 without a swap value lifts the swap limit too (v1 would refuse memsw < limit).
 */
export function mergeResources(base: LinuxResources, r: LinuxResources): LinuxResources {
  const out: LinuxResources = structuredClone(base);
  const set = <T extends object>(target: T, source: T | undefined, keys: (keyof T)[]) => {
    for (const k of keys) if (source?.[k] !== undefined) target[k] = source[k];
  };
  if (r.blockIO?.weight !== undefined) out.blockIO = { ...out.blockIO, weight: r.blockIO.weight };
  if (r.cpu !== undefined) {
    out.cpu = { ...out.cpu };
    set(out.cpu, r.cpu, ['period', 'quota', 'burst', 'shares', 'realtimePeriod', 'realtimeRuntime', 'idle']);
    // An empty list means "unchanged" (runc writes nothing for it).
    if (r.cpu.cpus) out.cpu.cpus = r.cpu.cpus;
    if (r.cpu.mems) out.cpu.mems = r.cpu.mems;
  }
  if (r.memory !== undefined) {
    out.memory = { ...out.memory };
    set(out.memory, r.memory, ['limit', 'reservation', 'swap', 'checkBeforeUpdate']);
    if (r.memory.limit === -1 && r.memory.swap === undefined) out.memory.swap = -1;
  }
  // A pids limit of 0 is "not given" (runc's flag default); -1 is "no limit".
  if (r.pids !== undefined && r.pids.limit !== 0) out.pids = { limit: r.pids.limit };
  // runc replaces the unified map as a whole.
  if (r.unified !== undefined) out.unified = r.unified;
  else delete out.unified;
  return out;
}

/** What update writes: device rules are never rewritten (a running container's access would blink). */
function applicable(r: LinuxResources): LinuxResources {
  const { devices: _devices, ...rest } = r;
  return rest;
}

/** Checks a resources document (`update -r`) with the config.json rules, naming the field. */
export function validateResources(raw: unknown): LinuxResources {
  // The spec validator checks resources inside a linux block; a mount namespace keeps it from
  // objecting to the rest of this stand-in.
  validateSpec({ ociVersion: '1.0.0', linux: { namespaces: [{ type: 'mount' }], resources: raw } }, false);
  return raw as LinuxResources;
}

/**
 * Applies `r` to a created, running or paused container and records the result. On failure
 * the previous values are written back (best effort, as runc tries) and the error names the
 * OCI field whose write the kernel refused.
 */
export async function updateContainer(ctx: RuntimeContext, id: string, r: LinuxResources): Promise<LinuxResources> {
  const c = await loadContainer(ctx, id);
  if (c.status === 'stopped') throw failedPrecondition(`container not running: ${id} is stopped`);
  const base = c.state.resources ?? {};
  const merged = mergeResources(base, r);
  if (merged.memory?.checkBeforeUpdate && r.memory?.limit !== undefined && r.memory.limit > 0) {
    const usage = (await c.cgroup.stats()).memory?.usage;
    if (usage !== undefined && usage > r.memory.limit) {
      throw failedPrecondition(`linux.resources.memory.limit: the container uses ${usage} bytes, more than the new limit ${r.memory.limit} (memory.checkBeforeUpdate is set)`);
    }
  }
  try {
    await c.cgroup.apply(applicable(merged));
  } catch (err) {
    await c.cgroup.apply(applicable(base)).catch((e: Error) => ctx.warn(`restoring the previous limits failed, the cgroup may hold some of the new ones: ${e.message}`));
    throw await explain(err, c.cgroup, merged);
  }
  await ctx.store.write({ ...c.state, resources: merged });
  return merged;
}


/** The OCI field behind each cgroup file an update writes (v1 and v2 names). */
const FILE_FIELDS: Record<string, string> = {
  'memory.limit_in_bytes': 'linux.resources.memory.limit',
  'memory.max': 'linux.resources.memory.limit',
  'memory.memsw.limit_in_bytes': 'linux.resources.memory.swap',
  'memory.swap.max': 'linux.resources.memory.swap',
  'memory.soft_limit_in_bytes': 'linux.resources.memory.reservation',
  'memory.low': 'linux.resources.memory.reservation',
  'memory.kmem.limit_in_bytes': 'linux.resources.memory.kernel',
  'memory.kmem.tcp.limit_in_bytes': 'linux.resources.memory.kernelTCP',
  'memory.swappiness': 'linux.resources.memory.swappiness',
  'memory.oom_control': 'linux.resources.memory.disableOOMKiller',
  'cpu.shares': 'linux.resources.cpu.shares',
  'cpu.weight': 'linux.resources.cpu.shares',
  'cpu.cfs_period_us': 'linux.resources.cpu.period',
  'cpu.cfs_quota_us': 'linux.resources.cpu.quota',
  'cpu.max': 'linux.resources.cpu.quota',
  'cpu.cfs_burst_us': 'linux.resources.cpu.burst',
  'cpu.max.burst': 'linux.resources.cpu.burst',
  'cpu.rt_period_us': 'linux.resources.cpu.realtimePeriod',
  'cpu.rt_runtime_us': 'linux.resources.cpu.realtimeRuntime',
  'cpu.idle': 'linux.resources.cpu.idle',
  'cpuset.cpus': 'linux.resources.cpu.cpus',
  'cpuset.mems': 'linux.resources.cpu.mems',
  'pids.max': 'linux.resources.pids.limit',
  'blkio.weight': 'linux.resources.blockIO.weight',
  'blkio.bfq.weight': 'linux.resources.blockIO.weight',
  'io.weight': 'linux.resources.blockIO.weight',
  'io.bfq.weight': 'linux.resources.blockIO.weight',
};

/**
 * A refused cgroup write, retold with the OCI field first. A memory limit under the current
 * usage is the common case: v1 answers EBUSY once reclaim cannot make room.
 */
async function explain(err: unknown, cgroup: CgroupManager, merged: LinuxResources): Promise<unknown> {
  if (!(err instanceof CgroupError) || err.code !== 'ERR_CGROUP_WRITE') return err;
  const file = /^write .* to (\S+): /.exec(err.message)?.[1];
  const field = file === undefined ? undefined : FILE_FIELDS[posix.basename(file)];
  if (field === undefined) return err;
  if (field === 'linux.resources.memory.limit' && err.errno === 'EBUSY') {
    const usage = (await cgroup.stats().catch(() => undefined))?.memory?.usage;
    const uses = usage === undefined ? 'more' : `${usage} bytes`;
    return new BerthError(
      'ERR_FAILED_PRECONDITION',
      `${field}: cannot lower the limit to ${merged.memory?.limit} bytes: the container uses ${uses} and the kernel could not reclaim enough (EBUSY)`,
    );
  }
  return new CgroupError(err.code, `${field}: ${err.message}`, err.errno);
}
