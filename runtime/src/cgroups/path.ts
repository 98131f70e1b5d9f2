// Turning the OCI linux.cgroupsPath into one absolute directory per hierarchy, the way a
// cgroupfs driver does: an absolute path lies under each hierarchy's root, a relative one under
// the caller's own cgroup in that hierarchy.

import { posix } from 'path';
import type { Host } from '../host/host';
import { CgroupError } from './errors';
import { ownCgroup } from './layout';
import type { CgroupLayout, OwnCgroups } from './types';

/** The parent directory (inside each hierarchy) of containers that name no cgroupsPath. */
export const DEFAULT_PARENT = 'berth';

/** linux.cgroupsPath when the config leaves it empty. */
export function defaultCgroupsPath(containerId: string): string {
  if (containerId === '' || containerId === '.' || containerId === '..' || containerId.includes('/') || containerId.includes('\0')) {
    throw new CgroupError('ERR_CGROUP_PATH', `container id ${JSON.stringify(containerId)} cannot name a cgroup directory`);
  }
  return `/${DEFAULT_PARENT}/${containerId}`;
}

/**
 * Splits a cgroupsPath into its components, dropping empty and "." ones; throws on ".." (which
 * could climb out of the hierarchy or out of the caller's cgroup) and on NUL bytes.
 */
export function cgroupsPathComponents(cgroupsPath: string): string[] {
  if (cgroupsPath.includes('\0')) {
    throw new CgroupError('ERR_CGROUP_PATH', `linux.cgroupsPath ${JSON.stringify(cgroupsPath)} contains a NUL byte`);
  }
  const parts = cgroupsPath.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw new CgroupError('ERR_CGROUP_PATH', `linux.cgroupsPath ${JSON.stringify(cgroupsPath)} must not contain ".." components`);
  }
  return parts;
}

/** Hierarchy keys the managers use: every v1 mount key, plus "" for the unified hierarchy. */
export function hierarchyKeys(layout: CgroupLayout): string[] {
  if (layout.mode === 'v2') return [''];
  const keys = Object.keys(layout.v1Mounts);
  if (layout.mode === 'hybrid' && layout.unifiedMount !== undefined) keys.push('');
  return keys;
}

export function mountOf(layout: CgroupLayout, key: string): string {
  const mount = key === '' ? layout.unifiedMount : layout.v1Mounts[key];
  if (mount === undefined) throw new CgroupError('ERR_CGROUP_LAYOUT', `no cgroup hierarchy is mounted for ${key === '' ? 'cgroup2' : key}`);
  return mount;
}

/** The caller's cgroup in hierarchy `key`, as a path relative to that hierarchy's mount. */
export function ownPathUnderMount(layout: CgroupLayout, own: OwnCgroups, key: string): string {
  const ownPath = (key === '' ? own.unified : own.v1[key]) ?? '/';
  const root = layout.mountRoots?.[key] ?? '/';
  if (root === '/' || root === '') return ownPath;
  if (ownPath === root) return '/';
  if (ownPath.startsWith(root + '/')) return ownPath.slice(root.length);
  // Not under the mounted sub-tree (a cgroup namespace view, say): take it as it is.
  return ownPath;
}

/**
 * Absolute directories of the container's cgroup per hierarchy key ("" is the unified hierarchy).
 * An empty or missing cgroupsPath means /berth/<containerId>. `own` may be passed to skip reading
 * /proc/self/cgroup.
 */
export async function resolveCgroupPaths(
  host: Host,
  layout: CgroupLayout,
  cgroupsPath: string | undefined,
  containerId: string,
  own?: OwnCgroups,
): Promise<Record<string, string>> {
  const path = cgroupsPath === undefined || cgroupsPath === '' ? defaultCgroupsPath(containerId) : cgroupsPath;
  const parts = cgroupsPathComponents(path);
  if (parts.length === 0) {
    throw new CgroupError('ERR_CGROUP_PATH', `linux.cgroupsPath ${JSON.stringify(path)} names the hierarchy root, not a cgroup of its own`);
  }
  const relative = !path.startsWith('/');
  const mine = relative ? (own ?? (await ownCgroup(host))) : undefined;
  const paths: Record<string, string> = {};
  for (const key of hierarchyKeys(layout)) {
    const base = mine !== undefined ? ownPathUnderMount(layout, mine, key) : '/';
    const mount = mountOf(layout, key);
    const dir = posix.join(mount, base, ...parts);
    if (!dir.startsWith(mount.endsWith('/') ? mount : mount + '/')) {
      // Only an own-cgroup path outside our cgroup namespace ("/../..") can get here.
      throw new CgroupError('ERR_CGROUP_PATH', `linux.cgroupsPath ${JSON.stringify(path)} resolves to ${dir}, outside the hierarchy mounted at ${mount}`);
    }
    paths[key] = dir;
  }
  return paths;
}
