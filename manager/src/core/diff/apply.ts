// Applying a layer: unpack an OCI layer tar into a directory, confined to it.
//
// Two targets:
//   overlay: true  — the directory is an overlay snapshot's upper ("fs") dir that starts empty;
//                    whiteouts become what overlayfs understands: `.wh.NAME` a 0/0 character
//                    device at NAME, `.wh..wh..opq` the xattr trusted.overlay.opaque=y on its dir.
//   overlay: false — the directory already holds the lower layers (a plain/native snapshot);
//                    `.wh.NAME` removes NAME, `.wh..wh..opq` removes everything its directory
//                    held before this layer.
// Per the image spec a whiteout only hides lower layers: what this same layer unpacks at that
// path stays. Later entries replace earlier ones (two dirs merge; anything else is removed
// first). Metadata order per entry: create, chown (which clears setuid bits), chmod, times;
// directory times are set last, once their contents are in; xattrs are written for the whole
// layer in one setfattr run at the end (paths re-checked first), and the mode of the entries
// that had any is set again after (an ACL xattr rewrites the group bits).
//
// Speed: most entries of a layer are new paths in directories this layer has just made, or
// has already looked at. Those ("fresh" entries) are created without looking anything up
// and several at a time (pipeline.ts), each after its directory's own creation; the tar is
// parsed on meanwhile. Their bookkeeping (what this layer unpacked, directory times, xattrs)
// is done in entry order, when they are started. Every other entry — whiteouts, the root,
// a path this layer already wrote, a parent not known yet (implicit, or through a symlink),
// a hardlink to a path not known — first waits for everything in flight and is then done
// on its own, with the full confined resolution of paths.ts.

import { createHash } from 'node:crypto';
import { readdir, realpath, rm } from 'node:fs/promises';
import { ManagerError, failedPrecondition, invalidArgument } from '../errors';
import { decompress } from './compression';
import {
  chmod,
  close,
  finishFile,
  forEachLimited,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  openNew,
  setMetadata,
  symlink,
  writeChunks,
} from './fsops';
import { mknod, writeXattrs } from './host';
import { cleanName, describe, fsError, relPath, resolveDir } from './paths';
import { OpPipeline } from './pipeline';
import { KeyedQueue } from '../keyed-queue';
import { readTar, TarHeader, TarTime } from './tar';

export interface ApplyOptions {
  /** the layer's media type; without it compression is detected from the bytes */
  mediaType?: string;
  /** write overlayfs whiteouts (true) or act them out on the tree (false) */
  overlay: boolean;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar: the layer's diffID */
  diffID: string;
  /** bytes of the uncompressed tar */
  size: number;
}

const WH_PREFIX = '.wh.';
const WH_OPAQUE = '.wh..wh..opq';
const META_PREFIX = '.wh..wh.';

/** Entries in flight at once: enough to keep libuv's threads busy while the tar is parsed. */
const MAX_OPS = 64;
/** File data held by entries in flight (per layer). */
const MAX_BUFFERED = 16 << 20;
/** Files larger than this are written as they are read, with parsing paused, not buffered. */
const STREAM_OVER = 4 << 20;
/** Metadata calls in flight at once in the final pass. */
const FINISH_OPS = 16;

const toSeconds = (t: TarTime) => t.sec + t.nsec / 1e9;
/** atime and mtime as utimes takes them */
const times = (h: TarHeader): [number, number] => [toSeconds(h.atime ?? h.mtime), toSeconds(h.mtime)];
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c);
  return chunks;
}

/** Removes whatever is at an absolute path; rm never follows a symlink (the link goes, not what it points to). */
const rmPath = (path: string) => rm(path, { recursive: true, force: true });

class Applier {
  /** real relative paths this layer wrote (or created as parents) */
  private readonly unpacked = new Set<string>();
  /** every ancestor of an unpacked path */
  private readonly ancestors = new Set<string>();
  /**
   * Real relative paths that are directories with no symlink on the way ('' is the root):
   * made by this layer (perhaps still in flight) or found by resolveDir. Whatever is
   * removed is dropped from it, with everything under it.
   */
  private readonly dirs = new Set<string>(['']);
  private readonly dirTimes = new Map<string, { atime: number; mtime: number }>();
  private readonly xattrs = new Map<string, { attrs: Map<string, Buffer>; mode: number | null }>();
  private readonly ops = new OpPipeline(MAX_OPS, MAX_BUFFERED);
  /**
   * Fresh entries' creations, one at a time per directory: the applier's creations there. The kernel serializes them
   * anyway (each holds the directory's lock), and a thread waiting for that lock spins on a
   * CPU while the holder works; on ext4 without a journal right after many files were
   * deleted, finding a free inode takes a millisecond, so that spinning took a CPU of two.
   * Waiting here instead leaves the pool's threads to work in other directories.
   */
  private readonly creating = new KeyedQueue();
  private readonly prefix: string;

  constructor(
    private readonly root: string,
    private readonly overlay: boolean,
  ) {
    this.prefix = root.endsWith('/') ? root : `${root}/`;
  }

  private abs(key: string): string {
    return key === '' ? this.root : this.prefix + key;
  }

  private mark(key: string): void {
    this.unpacked.add(key);
    // ancestors is closed upwards: the first one already there has all of its own
    for (let i = key.lastIndexOf('/'); i > 0; ) {
      const a = key.slice(0, i);
      if (this.ancestors.has(a)) break;
      this.ancestors.add(a);
      i = a.lastIndexOf('/');
    }
  }

  /** This layer has written the path, a path under it, or knows it as a directory. */
  private touched(key: string): boolean {
    return this.unpacked.has(key) || this.ancestors.has(key) || this.dirs.has(key);
  }

  /** Forget pending work and known directories at and under a path that is being removed. */
  private forget(key: string): void {
    const under = key === '' ? '' : `${key}/`;
    // only a directory of ours or one resolveDir found can have anything under it in these
    const deep = this.ancestors.has(key) || this.dirs.has(key);
    for (const m of [this.dirTimes, this.xattrs] as Map<string, unknown>[]) {
      m.delete(key);
      if (deep) for (const k of [...m.keys()]) if (k.startsWith(under)) m.delete(k);
    }
    if (this.dirs.delete(key)) for (const k of [...this.dirs]) if (k.startsWith(under)) this.dirs.delete(k);
  }

  private async remove(key: string, entry: string): Promise<void> {
    this.forget(key);
    try {
      await rmPath(this.abs(key));
    } catch (e) {
      throw fsError(entry, e);
    }
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    if (this.ops.failed) await this.ops.drain();
    const parts = cleanName(h.name);
    const n = parts.length;
    const base = n ? parts[n - 1]! : '';
    if (h.name.includes(WH_PREFIX)) {
      // aufs bookkeeping (.wh..wh.plnk/…, .wh..wh.aufs): never part of a filesystem
      if (parts.some((p, i) => p.startsWith(META_PREFIX) && !(i === n - 1 && p === WH_OPAQUE))) return;
      if (base.startsWith(WH_PREFIX)) {
        await this.ops.drain();
        return this.whiteoutEntry(parts, base, h);
      }
    }
    if (n === 0) {
      // the root itself ("./"): only its metadata
      if (h.type !== 'directory') throw invalidArgument(`entry ${describe(h.name)}: the root must be a directory`);
      await this.ops.drain();
      return this.metadata('', h);
    }
    const key = relPath(parts);
    const parentKey = n === 1 ? '' : key.slice(0, key.length - base.length - 1);
    if (this.dirs.has(parentKey) && !this.touched(key)) {
      if (h.type !== 'link') return this.fresh(key, parentKey, h, body);
      const target = this.knownLinkTarget(h);
      if (target !== null) return this.freshLink(key, parentKey, target, h);
    }
    await this.ops.drain();
    return this.inOrder(parts, h, body);
  }

  // ---- fresh entries: started here, done in the pipeline ----

  /** Bookkeeping of a fresh entry, in entry order: directory times and xattrs for finish(). */
  private note(key: string, h: TarHeader): void {
    this.mark(key);
    if (h.type === 'directory') this.dirTimes.set(key, { atime: toSeconds(h.atime ?? h.mtime), mtime: toSeconds(h.mtime) });
    if (h.xattrs.size > 0) this.noteXattrs(key, h);
  }

  private noteXattrs(key: string, h: TarHeader): void {
    // trusted.overlay.* is overlayfs's own state (opaque, redirect, metacopy): a layer may not set it
    const attrs = new Map([...h.xattrs].filter(([k]) => !k.startsWith('trusted.overlay.')));
    if (attrs.size > 0) this.xattrs.set(key, { attrs, mode: h.type === 'symlink' ? null : h.mode });
    else this.xattrs.delete(key);
  }

  private async fresh(key: string, parentKey: string, h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.note(key, h);
    const path = this.abs(key);
    const after = [parentKey];
    const inDir: InDir = (create) => this.creating.run(parentKey, create);
    if (h.type === 'directory') {
      this.dirs.add(key); // what is under it waits for its creation
      await this.ops.slot(0);
      this.ops.run(key, after, 0, () => this.named(h, makeDir(path, h, inDir)));
    } else if (h.type === 'file' && h.size > STREAM_OVER) {
      await this.ops.slot(0);
      await this.ops.run(key, after, 0, () => this.named(h, makeFile(path, h, body, inDir)));
    } else if (h.type === 'file') {
      const chunks = await readAll(body);
      await this.ops.slot(h.size);
      this.ops.run(key, after, h.size, () => this.named(h, makeFile(path, h, chunks, inDir)));
    } else {
      await this.ops.slot(0);
      this.ops.run(key, after, 0, () => this.named(h, h.type === 'symlink' ? makeSymlink(path, h, inDir) : makeNode(path, h, inDir)));
    }
  }

  /** A hardlink's target when it is a non-directory this layer made, under a known directory. */
  private knownLinkTarget(h: TarHeader): string | null {
    const parts = cleanName(h.linkname, `entry ${describe(h.name)}: hardlink target`);
    if (parts.length === 0) return null;
    const key = relPath(parts);
    const parentKey = parts.length === 1 ? '' : key.slice(0, key.length - parts[parts.length - 1]!.length - 1);
    return this.dirs.has(parentKey) && this.unpacked.has(key) && !this.dirs.has(key) ? key : null;
  }

  private async freshLink(key: string, parentKey: string, targetKey: string, h: TarHeader): Promise<void> {
    this.mark(key); // same inode as the target: no metadata of its own
    const path = this.abs(key);
    const target = this.abs(targetKey);
    await this.ops.slot(0);
    this.ops.run(key, [parentKey, targetKey], 0, async () => {
      try {
        await this.creating.run(parentKey, () => replacing(path, () => link(target, path)));
      } catch (e) {
        if (errno(e) === 'ENOENT') throw invalidArgument(`entry ${describe(h.name)}: hardlink target ${describe(h.linkname)} does not exist`);
        throw fsError(h.name, e);
      }
    });
  }

  private async named(h: TarHeader, op: Promise<void>): Promise<void> {
    try {
      await op;
    } catch (e) {
      throw fsError(h.name, e);
    }
  }

  // ---- everything else: one at a time, nothing in flight ----

  private async inOrder(parts: string[], h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const parent = await resolveDir(this.root, parts.slice(0, -1), h.name, { create: (p) => this.mark(relPath(p)), known: this.dirs });
    const key = relPath([...parent, parts[parts.length - 1]!]);
    const path = this.abs(key);

    let linkTarget: string | null = null;
    if (h.type === 'link') {
      linkTarget = await this.hardlinkTarget(h);
      if (linkTarget === path) return; // a link to itself: nothing to do
    }

    let existing;
    try {
      existing = await lstat(path);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw fsError(h.name, e);
    }
    if (existing && !(existing.isDirectory() && h.type === 'directory')) await this.remove(key, h.name);

    try {
      switch (h.type) {
        case 'directory':
          if (!existing?.isDirectory()) await mkdir(path, 0o700); // its mode is set right after, umask aside
          this.dirs.add(key);
          break;
        case 'file':
          await writeNewFile(path, body);
          break;
        case 'symlink':
          await symlink(h.linkname, path);
          break;
        case 'link':
          await link(linkTarget!, path);
          this.mark(key);
          return; // same inode: its metadata is the target's
        case 'char':
        case 'block':
          await mknod(path, h.type, h.devmajor, h.devminor);
          break;
        case 'fifo':
          await mknod(path, 'fifo');
          break;
      }
    } catch (e) {
      throw fsError(h.name, e);
    }
    this.mark(key);
    await this.metadata(key, h);
  }

  private async hardlinkTarget(h: TarHeader): Promise<string> {
    const parts = cleanName(h.linkname, `entry ${describe(h.name)}: hardlink target`);
    if (parts.length === 0) throw invalidArgument(`entry ${describe(h.name)}: hardlink to the root`);
    const dir = await resolveDir(this.root, parts.slice(0, -1), h.name, { known: this.dirs });
    const target = this.abs(relPath([...dir, parts[parts.length - 1]!]));
    let st;
    try {
      st = await lstat(target);
    } catch {
      throw invalidArgument(`entry ${describe(h.name)}: hardlink target ${describe(h.linkname)} does not exist`);
    }
    if (st.isDirectory()) throw invalidArgument(`entry ${describe(h.name)}: hardlink target ${describe(h.linkname)} is a directory`);
    return target;
  }

  private async metadata(key: string, h: TarHeader): Promise<void> {
    const path = this.abs(key);
    try {
      await lchown(path, h.uid, h.gid);
      if (h.type !== 'symlink') await chmod(path, h.mode);
      const atime = toSeconds(h.atime ?? h.mtime);
      const mtime = toSeconds(h.mtime);
      if (h.type === 'directory') this.dirTimes.set(key, { atime, mtime });
      else await lutimes(path, atime, mtime);
    } catch (e) {
      throw fsError(h.name, e);
    }
    if (h.xattrs.size > 0) this.noteXattrs(key, h);
    else this.xattrs.delete(key);
  }

  private async whiteoutEntry(parts: string[], base: string, h: TarHeader): Promise<void> {
    // overlay: the upper needs the directory to hold the whiteout; plain: nothing to remove
    const parent = await resolveDir(
      this.root,
      parts.slice(0, -1),
      h.name,
      this.overlay ? { create: (p) => this.mark(relPath(p)), known: this.dirs } : { missingOk: true, known: this.dirs },
    );
    if (parent === null) return;
    if (base === WH_OPAQUE) return this.opaque(parent, h);
    const name = base.slice(WH_PREFIX.length);
    if (name === '.' || name === '..') throw invalidArgument(`entry ${describe(h.name)}: invalid whiteout`);
    return this.whiteout(relPath([...parent, name]), h);
  }

  private async whiteout(key: string, h: TarHeader): Promise<void> {
    if (this.unpacked.has(key)) return; // this layer's own file at that path stays
    if (!this.overlay) return this.remove(key, h.name);
    const path = this.abs(key);
    await this.remove(key, h.name);
    try {
      await mknod(path, 'char', 0, 0);
      await lchown(path, h.uid, h.gid);
    } catch (e) {
      throw fsError(h.name, e);
    }
    this.mark(key);
  }

  private async opaque(dir: string[], h: TarHeader): Promise<void> {
    if (this.overlay) {
      const key = relPath(dir);
      const pending = this.xattrs.get(key) ?? { attrs: new Map<string, Buffer>(), mode: null };
      pending.attrs.set('trusted.overlay.opaque', Buffer.from('y'));
      this.xattrs.set(key, pending);
      return;
    }
    await this.clearLower(dir, h);
  }

  /** Removes what a directory held before this layer, keeping what this layer put there. */
  private async clearLower(dir: string[], h: TarHeader): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.abs(relPath(dir)));
    } catch (e) {
      throw fsError(h.name, e);
    }
    for (const name of names) {
      const rel = [...dir, name];
      const key = relPath(rel);
      if (!this.unpacked.has(key) && !this.ancestors.has(key)) {
        await this.remove(key, h.name);
        continue;
      }
      const st = await lstat(this.abs(key));
      if (st.isDirectory()) await this.clearLower(rel, h);
    }
  }

  // ---- the end ----

  /** The deferred work, once everything is in: xattrs (one setfattr run), modes after them, directory times. */
  async finish(): Promise<void> {
    await this.ops.drain();
    await this.assertPlain([...this.xattrs.keys(), ...this.dirTimes.keys()]);
    await writeXattrs([...this.xattrs].map(([key, v]) => [this.abs(key), v.attrs] as [string, Map<string, Buffer>]));
    const modes = [...this.xattrs].filter(([, v]) => v.mode !== null);
    await forEachLimited(modes, FINISH_OPS, ([key, v]) => chmod(this.abs(key), v.mode!));
    await forEachLimited(this.dirTimes, FINISH_OPS, ([key, t]) => lutimes(this.abs(key), t.atime, t.mtime));
  }

  /** Deferred paths must still have no symlink among their parents (they cannot, by construction). */
  private async assertPlain(keys: string[]): Promise<void> {
    const parents = new Set<string>();
    for (const key of keys) {
      for (let i = key.lastIndexOf('/'); i > 0; ) {
        const a = key.slice(0, i);
        if (parents.has(a)) break;
        parents.add(a);
        i = a.lastIndexOf('/');
      }
    }
    await forEachLimited(parents, FINISH_OPS, async (p) => {
      if (!(await lstat(this.abs(p))).isDirectory()) throw new ManagerError('Internal', `apply: ${describe(p)} is no longer a directory`);
    });
  }

  /** Lets everything in flight end (after a failure: nothing may write once applyLayer returns). */
  async settle(): Promise<unknown> {
    await this.ops.settle();
    return this.ops.error;
  }
}

/**
 * Runs create; if the path is taken (by a lower layer's file: a fresh entry's path is free of
 * this layer's own), removes what is there and runs it again.
 */
async function replacing(path: string, create: () => Promise<void>): Promise<void> {
  try {
    await create();
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw e;
    await rmPath(path);
    await create();
  }
}

/** Runs a creation in the entry's directory (see `creating`). */
type InDir = (create: () => Promise<void>) => Promise<void>;

async function makeDir(path: string, h: TarHeader, inDir: InDir): Promise<void> {
  await inDir(async () => {
    try {
      await mkdir(path, 0o700); // its mode is set right after, umask aside
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      // a lower layer's directory merges with this one; anything else there is replaced
      if (!(await lstat(path)).isDirectory()) {
        await rmPath(path);
        await mkdir(path, 0o700);
      }
    }
  });
  setMetadata(path, h.uid, h.gid, h.mode, null); // its times once its contents are in
}

/** A new regular file: created, written, then owned, moded and timed on the same descriptor. */
async function makeFile(path: string, h: TarHeader, data: Buffer[] | AsyncIterable<Buffer>, inDir: InDir): Promise<void> {
  let fd = -1;
  await inDir(() =>
    replacing(path, async () => {
      fd = await openNew(path);
    }),
  );
  try {
    if (Array.isArray(data)) await writeChunks(fd, data);
    else for await (const chunk of data) await writeChunks(fd, [chunk]);
  } catch (e) {
    await close(fd);
    throw e;
  }
  finishFile(fd, h.uid, h.gid, h.mode, ...times(h));
}

async function makeSymlink(path: string, h: TarHeader, inDir: InDir): Promise<void> {
  await inDir(() => replacing(path, () => symlink(h.linkname, path)));
  setMetadata(path, h.uid, h.gid, null, times(h));
}

/** Devices and fifos (mknod, a program, reports no errno: look first). */
async function makeNode(path: string, h: TarHeader, inDir: InDir): Promise<void> {
  await inDir(async () => {
    const taken = await lstat(path).then(
      () => true,
      (e: unknown) => {
        if (errno(e) !== 'ENOENT') throw e;
        return false;
      },
    );
    if (taken) await rmPath(path);
    if (h.type === 'fifo') await mknod(path, 'fifo');
    else await mknod(path, h.type as 'char' | 'block', h.devmajor, h.devminor);
  });
  setMetadata(path, h.uid, h.gid, h.mode, times(h));
}

/** Writes a file at a free path from a stream (the in-order path). */
async function writeNewFile(path: string, body: AsyncIterable<Buffer>): Promise<void> {
  const fd = await openNew(path);
  try {
    for await (const chunk of body) await writeChunks(fd, [chunk]);
  } finally {
    await close(fd);
  }
}

/**
 * Unpacks a layer (gzip, zstd or plain tar) into targetDir. Returns the layer's diffID, the
 * sha256 of the whole uncompressed stream (read to its end, past the tar end marker).
 */
export async function applyLayer(stream: AsyncIterable<Buffer>, targetDir: string, options: ApplyOptions): Promise<ApplyResult> {
  let root: string;
  try {
    root = await realpath(targetDir);
    if (!(await lstat(root)).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw failedPrecondition(`apply layer: target ${targetDir}: ${(e as Error).message}`);
  }
  const hash = createHash('sha256');
  let size = 0;
  const counted = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of decompress(stream, options.mediaType)) {
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  };
  const applier = new Applier(root, options.overlay);
  try {
    for await (const { header, body } of readTar(counted())) await applier.entry(header, body);
    await applier.finish();
  } catch (caught) {
    // an operation in flight that failed came from an earlier entry than whatever stopped the loop
    const e = (await applier.settle()) ?? caught;
    if (e instanceof ManagerError) throw new ManagerError(e.kind, `apply layer: ${e.message}`);
    throw fsError('(layer)', e);
  }
  return { diffID: `sha256:${hash.digest('hex')}`, size };
}
