// A tar of a file or a directory tree, streamed as it is read: `berth cp` (both ways: berthd
// packs a path of the container, the client a path of the host) and `berth export` (the whole
// rootfs). Symlinks are stored as links, never followed; a file linked twice within the tar is
// stored once and then as a hard link; sockets are left out (tar cannot hold them). Entries of
// a directory are in byte order, the directory before its contents; modes (setuid, setgid,
// sticky included), owners and mtimes as they are. Extended attributes are not carried.

import type { BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { compareBytes, encodeHeader, endOfArchive, padding, type EntryType, type WriteHeader } from '../diff/tar';

const CHUNK = 256 * 1024;

export interface PackOptions {
  /**
   * The tar name of the top entry ("etc", "./" for the contents of a directory as "./x");
   * '' writes a directory's entries without a top entry ("bin/", "bin/sh": export).
   */
  name: string;
  /** Leave out the contents of directories on another filesystem (mount points: export). */
  oneFileSystem?: boolean;
}

function typeOf(st: BigIntStats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined; // a socket
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor)
const devMajor = (rdev: bigint) => Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
const devMinor = (rdev: bigint) => Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));

const tarTime = (ns: bigint) => ({ sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) });

class Packer {
  private readonly links = new Map<string, string>();
  private rootDev = -1n;

  constructor(private readonly opts: PackOptions) {}

  async *entry(host: string, name: string, top: boolean): AsyncGenerator<Buffer> {
    const st = await lstat(host, { bigint: true });
    if (top) this.rootDev = st.dev;
    const type = typeOf(st);
    if (!type) return;
    const header: WriteHeader = {
      name,
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: 0,
      mtime: tarTime(st.mtimeNs),
    };
    if (type === 'symlink') header.linkname = await readlink(host);
    if (type === 'char' || type === 'block') {
      header.devmajor = devMajor(st.rdev);
      header.devminor = devMinor(st.rdev);
    }
    if (type === 'file' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        yield encodeHeader({ ...header, type: 'link', linkname: first });
        return;
      }
      this.links.set(key, name);
    }
    if (type === 'file') {
      header.size = Number(st.size);
      yield encodeHeader(header);
      yield* fileBytes(host, header.size);
      yield padding(header.size);
      return;
    }
    if (type !== 'directory') {
      yield encodeHeader(header);
      return;
    }
    if (name !== '') yield encodeHeader(header);
    if (this.opts.oneFileSystem && !top && st.dev !== this.rootDev) return;
    const children = (await readdir(host)).sort(compareBytes);
    const prefix = name === '' ? '' : name.endsWith('/') ? name : `${name}/`;
    for (const c of children) yield* this.entry(join(host, c), `${prefix}${c}`, false);
  }
}

/** Exactly `size` bytes of the file: cut when it grew meanwhile, zero-filled when it shrank. */
async function* fileBytes(path: string, size: number): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    let pos = 0;
    while (pos < size) {
      const buf = Buffer.alloc(Math.min(CHUNK, size - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) {
        yield Buffer.alloc(size - pos);
        return;
      }
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** The tar of `hostPath` (a file or a directory with everything in it). */
export async function* packPath(hostPath: string, opts: PackOptions): AsyncGenerator<Buffer> {
  yield* new Packer(opts).entry(hostPath, opts.name, true);
  yield endOfArchive();
}
