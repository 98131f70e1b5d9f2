// A file on disk as a tar entry: its header from lstat, hard links within one archive, and its
// bytes. Shared by the layer a diff computes (compute.ts) and the archives the files service
// packs for cp and export (core/files/pack.ts).

import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { open, readlink } from 'node:fs/promises';
import { ManagerError } from '../errors';
import type { EntryType, WriteHeader } from './tar';

const CHUNK = 256 * 1024;

/** The tar type of a file; undefined for a socket (tar and containerd do not archive them). */
export function entryType(st: BigIntStats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined;
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor)
const devMajor = (rdev: bigint) => Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
const devMinor = (rdev: bigint) => Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));

/** The header of `abs` (lstat'ed as `st`) under `name`; size is the file's, 0 for the rest. */
export async function statHeader(name: string, abs: string, st: BigIntStats, type: EntryType): Promise<WriteHeader> {
  const h: WriteHeader = {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: type === 'file' ? Number(st.size) : 0,
    mtime: { sec: Number(st.mtimeNs / 1_000_000_000n), nsec: Number(st.mtimeNs % 1_000_000_000n) },
  };
  if (type === 'symlink') h.linkname = await readlink(abs);
  if (type === 'char' || type === 'block') {
    h.devmajor = devMajor(st.rdev);
    h.devminor = devMinor(st.rdev);
  }
  return h;
}

/** Files with more than one link: the first name an inode was archived under. */
export class HardLinks {
  private readonly first = new Map<string, string>();

  /** The name to link to when this inode is already in the archive; else remembers `name`. */
  seen(st: BigIntStats, name: string): string | undefined {
    if (!st.isFile() || st.nlink <= 1n) return undefined;
    const key = `${st.dev}:${st.ino}`;
    const first = this.first.get(key);
    if (first === undefined) this.first.set(key, name);
    return first;
  }
}

/**
 * The `size` bytes of a regular file, never following a symlink put in its place. A file that
 * shrank while read: `shrunk: 'fail'` aborts (a layer must be what it says), `'pad'` fills with
 * zeros (a copy out of a running container keeps the archive valid).
 */
export async function* fileBytes(abs: string, size: number, shrunk: 'fail' | 'pad', what: string): AsyncGenerator<Buffer> {
  const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let pos = 0;
    while (pos < size) {
      const buf = Buffer.alloc(Math.min(CHUNK, size - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) {
        if (shrunk === 'fail') throw new ManagerError('Aborted', `${what}: shrank while it was read`);
        yield Buffer.alloc(size - pos);
        return;
      }
      pos += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
