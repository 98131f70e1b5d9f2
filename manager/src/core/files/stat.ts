// What a path in a container is, in the shape Docker's archive endpoints report it
// (types.ContainerPathStat): its name, size, Go os.FileMode bits, mtime and, for a symlink,
// the path in the container it leads to. `berth cp` decides how to copy from it.

import { lstat } from 'node:fs/promises';
import { notFound } from '../errors';
import { followLinks, resolveInRoot, type Root } from './resolve';

// Go's os.FileMode type bits (io/fs), as Docker's JSON carries them.
export const GO_MODE = {
  dir: 1 << 31,
  symlink: 1 << 27,
  device: 1 << 26,
  namedPipe: 1 << 25,
  socket: 1 << 24,
  setuid: 1 << 23,
  setgid: 1 << 22,
  charDevice: 1 << 21,
  sticky: 1 << 20,
} as const;

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: Date;
  linkTarget: string;
}

/** Go's FileMode of an lstat mode (st_mode). */
export function goFileMode(stMode: number): number {
  let m = stMode & 0o777;
  const type = stMode & 0o170000;
  if (type === 0o040000) m |= GO_MODE.dir;
  else if (type === 0o120000) m |= GO_MODE.symlink;
  else if (type === 0o020000) m |= GO_MODE.device | GO_MODE.charDevice;
  else if (type === 0o060000) m |= GO_MODE.device;
  else if (type === 0o010000) m |= GO_MODE.namedPipe;
  else if (type === 0o140000) m |= GO_MODE.socket;
  if (stMode & 0o4000) m |= GO_MODE.setuid;
  if (stMode & 0o2000) m |= GO_MODE.setgid;
  if (stMode & 0o1000) m |= GO_MODE.sticky;
  return m >>> 0;
}

export const isGoDir = (mode: number): boolean => (mode & GO_MODE.dir) !== 0;
export const isGoSymlink = (mode: number): boolean => (mode & GO_MODE.symlink) !== 0;

export async function statPath(root: Root, path: string): Promise<PathStat> {
  const r = await resolveInRoot(root, path);
  const st = await lstat(r.host).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw notFound(`no such file or directory: ${path}`);
    throw err;
  });
  const linkTarget = st.isSymbolicLink() ? (await followLinks(root, r)).containerPath : '';
  return { name: r.base || '/', size: st.size, mode: goFileMode(st.mode), mtime: st.mtime, linkTarget };
}
