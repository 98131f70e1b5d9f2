// Finding out how this machine mounts cgroups (from /proc/self/mountinfo) and which cgroups the
// calling process is in (from /proc/self/cgroup).

import type { Host } from '../host/host';
import { CgroupError, cgRead } from './errors';
import type { CgroupLayout, OwnCgroups } from './types';

/** Mount options of a v1 cgroup mount that are not controller names. */
const V1_NON_CONTROLLER_OPTIONS = new Set([
  'rw',
  'ro',
  'none',
  'noprefix',
  'clone_children',
  'xattr',
  'cpuset_v2_mode',
  'favordynmods',
]);

/** One parsed line of /proc/self/mountinfo. */
export interface MountInfoEntry {
  /** Path inside the mounted filesystem that is the mount's root. */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    // id parent maj:min root mountpoint options [optional fields...] - fstype source superoptions
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 3 || fields.length < 6) continue;
    entries.push({
      root: unescapeMountField(fields[3]!),
      mountPoint: unescapeMountField(fields[4]!),
      fsType: fields[sep + 1]!,
      source: unescapeMountField(fields[sep + 2]!),
      superOptions: (fields[sep + 3] ?? '').split(','),
    });
  }
  return entries;
}

/** The controllers (and "name=..." hierarchy names) a v1 cgroup mount serves. */
export function v1MountControllers(superOptions: string[]): string[] {
  return superOptions.filter((opt) => opt !== '' && !V1_NON_CONTROLLER_OPTIONS.has(opt) && !opt.startsWith('release_agent='));
}

/** Builds the layout from mountinfo text; throws when no cgroup filesystem is mounted. */
export function layoutFromMountInfo(text: string): CgroupLayout {
  const v1Mounts: Record<string, string> = {};
  const mountRoots: Record<string, string> = {};
  let unifiedMount: string | undefined;

  // A hierarchy may be mounted more than once (bind mounts); prefer a mount of the hierarchy's
  // root, otherwise keep the first one seen.
  const better = (key: string, root: string) => !(key in mountRoots) || (mountRoots[key] !== '/' && root === '/');

  for (const m of parseMountInfo(text)) {
    if (m.fsType === 'cgroup') {
      for (const ctrl of v1MountControllers(m.superOptions)) {
        if (better(ctrl, m.root)) {
          v1Mounts[ctrl] = m.mountPoint;
          mountRoots[ctrl] = m.root;
        }
      }
    } else if (m.fsType === 'cgroup2') {
      if (unifiedMount === undefined || better('', m.root)) {
        unifiedMount = m.mountPoint;
        mountRoots[''] = m.root;
      }
    }
  }

  const hasV1Controllers = Object.keys(v1Mounts).some((k) => !k.startsWith('name='));
  let mode: CgroupLayout['mode'];
  if (hasV1Controllers) mode = unifiedMount !== undefined ? 'hybrid' : 'v1';
  else if (unifiedMount !== undefined) mode = 'v2';
  else throw new CgroupError('ERR_CGROUP_LAYOUT', 'no cgroup or cgroup2 filesystem is mounted (per /proc/self/mountinfo)');

  const layout: CgroupLayout = { mode, v1Mounts: mode === 'v2' ? {} : v1Mounts, mountRoots };
  if (unifiedMount !== undefined) layout.unifiedMount = unifiedMount;
  if (mode === 'v2') layout.mountRoots = unifiedMount !== undefined ? { '': mountRoots['']! } : {};
  return layout;
}

export async function detectLayout(host: Host): Promise<CgroupLayout> {
  return layoutFromMountInfo(await cgRead(host, '/proc/self/mountinfo'));
}

export function parseProcCgroup(text: string): OwnCgroups {
  const own: OwnCgroups = { v1: {} };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // hierarchy-id:controller-list:path; the path may itself contain ':'
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const id = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (id === '0' && controllers === '') {
      own.unified = path;
      continue;
    }
    for (const ctrl of controllers.split(',')) {
      if (ctrl !== '') own.v1[ctrl] = path;
    }
  }
  return own;
}

export async function ownCgroup(host: Host): Promise<OwnCgroups> {
  return parseProcCgroup(await cgRead(host, '/proc/self/cgroup'));
}
