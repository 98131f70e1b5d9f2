// --privileged gives the container every device node of the host, as Docker does (its daemon
// adds containerd's oci.HostDevices() to linux.devices, with an allow-all device cgroup rule):
// a walk of the host's /dev, subdirectories included, that leaves out
//   - the directories pts, shm, fd, mqueue (the container has its own), .lxc, .lxd-mounts and
//     .udev (not device trees; containerd skips them for the same reasons);
//   - console (the container's console is its own pty) and ptmx (the runtime makes /dev/ptmx a
//     link to the container's devpts instance, as runc does; the host's node would open the
//     host's instance);
//   - anything that is not a character or block device (symlinks are not followed), and nodes
//     with major number 0 (unnamed devices).
// The client reads /dev itself: berthd listens on a unix socket only, so it is the same host.

import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HostDevice } from './spec';

const SKIPPED_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);
const SKIPPED_NODES = new Set(['console', 'ptmx']);

/** Linux's major and minor of a dev_t (glibc's gnu_dev_major/gnu_dev_minor). */
export function deviceNumbers(rdev: number | bigint): { major: number; minor: number } {
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/** Every device node under `dir` (the host's /dev), as the container gets it at the same path. */
export function hostDevices(dir = '/dev'): HostDevice[] {
  const out: HostDevice[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out; // a directory that vanished or cannot be read: nothing from it (containerd: same)
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIPPED_DIRS.has(e.name)) out.push(...hostDevices(path));
      continue;
    }
    if (SKIPPED_NODES.has(e.name) || !(e.isCharacterDevice() || e.isBlockDevice())) continue;
    let st;
    try {
      st = lstatSync(path, { bigint: true });
    } catch {
      continue; // removed meanwhile
    }
    const { major, minor } = deviceNumbers(st.rdev);
    if (major === 0) continue;
    out.push({ pathInContainer: path, type: st.isBlockDevice() ? 'b' : 'c', major, minor, fileMode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), permissions: 'rwm' });
  }
  return out;
}

/** The devices of a container: the host's with --privileged, then --device's (which win on a path). */
export function containerDevices(privileged: boolean, mapped: HostDevice[]): HostDevice[] {
  if (!privileged) return mapped;
  const given = new Set(mapped.map((d) => d.pathInContainer));
  return [...hostDevices().filter((d) => !given.has(d.pathInContainer)), ...mapped];
}
