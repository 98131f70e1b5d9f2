// The file operations the applier runs per entry, on the fs callback API: lighter than
// fs/promises' FileHandle (no object per open file, no close tracking), which counts when a
// layer opens thousands of files. Paths handed in are already confined (see paths.ts).

import * as fs from 'node:fs';

type Done = (e: NodeJS.ErrnoException | null) => void;

const call = (fn: (cb: Done) => void): Promise<void> =>
  new Promise((resolve, reject) => fn((e) => (e ? reject(e) : resolve())));

// O_EXCL|O_NOFOLLOW: the path must be free (the caller removed what was there); whatever
// appeared since, a symlink above all, is refused rather than written through.
const NEW_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

export const openNew = (path: string): Promise<number> =>
  new Promise((resolve, reject) => fs.open(path, NEW_FILE, 0o600, (e, fd) => (e ? reject(e) : resolve(fd))));

/** Writes all of `chunks` at the file's offset, as few writev calls as it takes. */
export async function writeChunks(fd: number, chunks: Buffer[]): Promise<void> {
  let bufs = chunks;
  for (;;) {
    let want = 0;
    for (const b of bufs) want += b.length;
    if (want === 0) return;
    const n = await new Promise<number>((resolve, reject) => fs.writev(fd, bufs, (e, written) => (e ? reject(e) : resolve(written))));
    if (n === want) return;
    // a short write (rare for regular files): carry on from where it stopped
    let skip = n;
    const rest: Buffer[] = [];
    for (const b of bufs) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    bufs = rest;
  }
}

/**
 * Owner, mode (after the owner: a chown clears setuid bits) and times of a file this layer
 * has just created and written, then its close: synchronous, on purpose. Each is a syscall
 * on a descriptor that takes a microsecond or two (no path to look up, no data to write),
 * while a trip through the thread pool costs the event loop ten times that, four times per
 * file. What can take long (creating the file, writing it) stays asynchronous.
 */
export function finishFile(fd: number, uid: number, gid: number, mode: number, atime: number, mtime: number): void {
  try {
    fs.fchownSync(fd, uid, gid);
    fs.fchmodSync(fd, mode);
    fs.futimesSync(fd, atime, mtime);
  } finally {
    fs.closeSync(fd);
  }
}

export const close = (fd: number) => call((cb) => fs.close(fd, cb));

/**
 * Owner, then mode (null: none, as for a symlink) and times (null: later) of a path just
 * created: synchronous, as in finishFile. The path's directories were just looked up or made,
 * so the lookups are cached; nothing is followed (lchown, lutimes; chmod only on non-links).
 */
export function setMetadata(path: string, uid: number, gid: number, mode: number | null, times: [number, number] | null): void {
  fs.lchownSync(path, uid, gid);
  if (mode !== null) fs.chmodSync(path, mode);
  if (times !== null) fs.lutimesSync(path, times[0], times[1]);
}
export const mkdir = (path: string, mode: number) => call((cb) => fs.mkdir(path, mode, cb));
export const symlink = (target: string, path: string) => call((cb) => fs.symlink(target, path, cb));
export const link = (existing: string, path: string) => call((cb) => fs.link(existing, path, cb));
export const lchown = (path: string, uid: number, gid: number) => call((cb) => fs.lchown(path, uid, gid, cb));
export const chmod = (path: string, mode: number) => call((cb) => fs.chmod(path, mode, cb));
export const lutimes = (path: string, atime: number, mtime: number) => call((cb) => fs.lutimes(path, atime, mtime, cb));
export const lstat = (path: string): Promise<fs.Stats> =>
  new Promise((resolve, reject) => fs.lstat(path, (e, st) => (e ? reject(e) : resolve(st))));

/** Runs fn over items, at most `limit` at a time; the first failure is thrown once all have ended. */
export async function forEachLimited<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  let failure: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    for (let n = it.next(); !n.done && !failure; n = it.next()) {
      try {
        await fn(n.value);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  if (failure) throw (failure as { error: unknown }).error;
}
