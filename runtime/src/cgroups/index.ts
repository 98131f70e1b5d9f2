// Entry points of the cgroups module: pick the manager for this machine, or rebuild one from the
// paths a container's state.json recorded.

import type { Host } from '../host/host';
import { CgroupError } from './errors';
import { resolveCgroupPaths } from './path';
import type { CgroupLayout, CgroupManager, CgroupOptions, OwnCgroups } from './types';
import { V1Cgroup } from './v1';
import { V2Cgroup } from './v2';
import { RootlessCgroup } from './rootless';

/**
 * The manager for a new container: resolves linux.cgroupsPath (empty → /berth/<containerId>)
 * against `layout`. Nothing is created until create().
 */
export async function openCgroup(
  host: Host,
  layout: CgroupLayout,
  cgroupsPath: string | undefined,
  containerId: string,
  options: Omit<CgroupOptions, 'layout'> & { own?: OwnCgroups; rootless?: boolean } = {},
): Promise<CgroupManager> {
  const paths = await resolveCgroupPaths(host, layout, cgroupsPath, containerId, options.own);
  const opts: CgroupOptions = { layout };
  if (options.sleep !== undefined) opts.sleep = options.sleep;
  const manager = layout.mode === 'v2' ? new V2Cgroup(host, paths, opts) : new V1Cgroup(host, paths, opts);
  return (options.rootless ?? isRootless()) ? new RootlessCgroup(manager) : manager;
}

const isRootless = () => process.geteuid?.() !== 0;

/** The manager of an existing container, from the version and paths recorded in its state. */
export function loadCgroup(host: Host, version: 1 | 2, paths: Record<string, string>, options: CgroupOptions & { rootless?: boolean } = {}): CgroupManager {
  const wrap = (m: CgroupManager) => ((options.rootless ?? isRootless()) ? new RootlessCgroup(m) : m);
  if (version === 1) return wrap(new V1Cgroup(host, paths, options));
  if (version === 2) return wrap(new V2Cgroup(host, paths, options));
  throw new CgroupError('ERR_CGROUP_INVALID', `cgroup version ${String(version)} in the container state is neither 1 nor 2`);
}

export type { CgroupLayout, CgroupManager, CgroupOptions, CgroupStats, OwnCgroups } from './types';
export { CgroupError, type CgroupErrorCode } from './errors';
export { detectLayout, layoutFromMountInfo, ownCgroup, parseMountInfo, parseProcCgroup } from './layout';
export { cgroupsPathComponents, defaultCgroupsPath, DEFAULT_PARENT, resolveCgroupPaths } from './path';
export { deviceRuleEntry, isAllowAllRule } from './common';
export { V1Cgroup } from './v1';
export { V2Cgroup, blkioWeightToIoWeight, cpuMax, sharesToWeight, swapToV2 } from './v2';
export { readContainerStats, readOomKillCount } from './stats';
export type { ContainerStats, U64 } from './stats-types';
