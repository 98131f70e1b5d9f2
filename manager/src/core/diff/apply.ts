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
// first). Metadata order per entry: create, lchown (which clears setuid bits), xattrs, chmod,
// times; directory times are set last, once their contents are in; xattrs are written for
// the whole layer in one setfattr run at the end (paths re-checked first), and the mode of
// the entries that had any is set again after (an ACL xattr rewrites the group bits).

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, realpath, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagerError, failedPrecondition, invalidArgument } from '../errors';
import { decompress } from './compression';
import { mknod, writeXattrs } from './host';
import { cleanName, describe, fsError, relPath, resolveDir } from './paths';
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

const toSeconds = (t: TarTime) => t.sec + t.nsec / 1e9;

class Applier {
  /** real relative paths this layer wrote (or created as parents) */
  private readonly unpacked = new Set<string>();
  /** every ancestor of an unpacked path */
  private readonly ancestors = new Set<string>();
  private readonly dirTimes = new Map<string, { atime: number; mtime: number }>();
  private readonly xattrs = new Map<string, { attrs: Map<string, Buffer>; mode: number | null }>();

  constructor(
    private readonly root: string,
    private readonly overlay: boolean,
  ) {}

  private abs(rel: string[]): string {
    return join(this.root, ...rel);
  }

  private mark(rel: string[]): void {
    this.unpacked.add(relPath(rel));
    for (let i = 1; i < rel.length; i++) this.ancestors.add(relPath(rel.slice(0, i)));
  }

  /** Forget pending work under a path that is being removed. */
  private forget(rel: string): void {
    const under = rel === '' ? '' : `${rel}/`;
    for (const m of [this.dirTimes, this.xattrs] as Map<string, unknown>[]) {
      for (const k of [...m.keys()]) if (k === rel || k.startsWith(under)) m.delete(k);
    }
  }

  private async remove(rel: string[], entry: string): Promise<void> {
    this.forget(relPath(rel));
    try {
      // rm never follows a symlink: a link is removed, not what it points to
      await rm(this.abs(rel), { recursive: true, force: true });
    } catch (e) {
      throw fsError(entry, e);
    }
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const parts = cleanName(h.name);
    const base = parts.length ? parts[parts.length - 1]! : '';
    // aufs bookkeeping (.wh..wh.plnk/…, .wh..wh.aufs): never part of a filesystem
    if (parts.some((p, i) => p.startsWith(META_PREFIX) && !(i === parts.length - 1 && p === WH_OPAQUE))) return;

    if (base.startsWith(WH_PREFIX)) {
      // overlay: the upper needs the directory to hold the whiteout; plain: nothing to remove
      const parent = await resolveDir(this.root, parts.slice(0, -1), h.name, this.overlay ? { create: (p) => this.mark(p) } : { missingOk: true });
      if (parent === null) return;
      if (base === WH_OPAQUE) return this.opaque(parent, h);
      const name = base.slice(WH_PREFIX.length);
      if (name === '.' || name === '..') throw invalidArgument(`entry ${describe(h.name)}: invalid whiteout`);
      return this.whiteout([...parent, name], h);
    }

    if (parts.length === 0) {
      // the root itself ("./"): only its metadata
      if (h.type !== 'directory') throw invalidArgument(`entry ${describe(h.name)}: the root must be a directory`);
      return this.metadata([], h);
    }

    const parent = await resolveDir(this.root, parts.slice(0, -1), h.name, { create: (p) => this.mark(p) });
    const rel = [...parent, base];
    const path = this.abs(rel);

    let linkTarget: string | null = null;
    if (h.type === 'link') {
      linkTarget = await this.hardlinkTarget(h);
      if (linkTarget === path) return; // a link to itself: nothing to do
    }

    let existing;
    try {
      existing = await lstat(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(h.name, e);
    }
    if (existing && !(existing.isDirectory() && h.type === 'directory')) await this.remove(rel, h.name);

    try {
      switch (h.type) {
        case 'directory':
          if (!existing?.isDirectory()) await mkdirOne(path);
          break;
        case 'file':
          await writeFile(path, body);
          break;
        case 'symlink':
          await symlink(h.linkname, path);
          break;
        case 'link':
          await link(linkTarget!, path);
          this.mark(rel);
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
    this.mark(rel);
    await this.metadata(rel, h);
  }

  private async hardlinkTarget(h: TarHeader): Promise<string> {
    const parts = cleanName(h.linkname, `entry ${describe(h.name)}: hardlink target`);
    if (parts.length === 0) throw invalidArgument(`entry ${describe(h.name)}: hardlink to the root`);
    const dir = await resolveDir(this.root, parts.slice(0, -1), h.name);
    const target = this.abs([...dir, parts[parts.length - 1]!]);
    let st;
    try {
      st = await lstat(target);
    } catch {
      throw invalidArgument(`entry ${describe(h.name)}: hardlink target ${describe(h.linkname)} does not exist`);
    }
    if (st.isDirectory()) throw invalidArgument(`entry ${describe(h.name)}: hardlink target ${describe(h.linkname)} is a directory`);
    return target;
  }

  private async metadata(rel: string[], h: TarHeader): Promise<void> {
    const path = this.abs(rel);
    const key = relPath(rel);
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
    // trusted.overlay.* is overlayfs's own state (opaque, redirect, metacopy): a layer may not set it
    const attrs = new Map([...h.xattrs].filter(([k]) => !k.startsWith('trusted.overlay.')));
    if (attrs.size > 0) this.xattrs.set(key, { attrs, mode: h.type === 'symlink' ? null : h.mode });
    else this.xattrs.delete(key);
  }

  private async whiteout(rel: string[], h: TarHeader): Promise<void> {
    const key = relPath(rel);
    if (this.unpacked.has(key)) return; // this layer's own file at that path stays
    if (!this.overlay) return this.remove(rel, h.name);
    const path = this.abs(rel);
    await this.remove(rel, h.name);
    try {
      await mknod(path, 'char', 0, 0);
      await lchown(path, h.uid, h.gid);
    } catch (e) {
      throw fsError(h.name, e);
    }
    this.mark(rel);
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
      names = await readdir(this.abs(dir));
    } catch (e) {
      throw fsError(h.name, e);
    }
    for (const name of names) {
      const rel = [...dir, name];
      const key = relPath(rel);
      if (!this.unpacked.has(key) && !this.ancestors.has(key)) {
        await this.remove(rel, h.name);
        continue;
      }
      const st = await lstat(this.abs(rel));
      if (st.isDirectory()) await this.clearLower(rel, h);
    }
  }

  /** The deferred work: xattrs (one setfattr run), modes after them, directory times. */
  async finish(): Promise<void> {
    for (const key of this.xattrs.keys()) await this.assertPlain(key);
    await writeXattrs([...this.xattrs].map(([key, v]) => [join(this.root, key), v.attrs] as [string, Map<string, Buffer>]));
    for (const [key, v] of this.xattrs) if (v.mode !== null) await chmod(join(this.root, key), v.mode);
    for (const [key, t] of this.dirTimes) {
      await this.assertPlain(key);
      await lutimes(join(this.root, key), t.atime, t.mtime);
    }
  }

  /** A deferred path must still have no symlink among its parents (it cannot, by construction). */
  private async assertPlain(key: string): Promise<void> {
    const parts = key === '' ? [] : key.split('/');
    for (let i = 1; i < parts.length; i++) {
      const st = await lstat(join(this.root, ...parts.slice(0, i)));
      if (!st.isDirectory()) throw new ManagerError('Internal', `apply: ${describe(key)} is no longer under a directory`);
    }
  }
}

async function mkdirOne(path: string): Promise<void> {
  await mkdir(path, 0o700); // its mode is set right after, umask aside
}

async function writeFile(path: string, body: AsyncIterable<Buffer>): Promise<void> {
  // O_EXCL|O_NOFOLLOW: whatever was at the path is gone; if anything appeared since, refuse it
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for await (const chunk of body) {
      let off = 0;
      while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    }
  } finally {
    await fh.close();
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
  } catch (e) {
    if (e instanceof ManagerError) throw new ManagerError(e.kind, `apply layer: ${e.message}`);
    throw fsError('(layer)', e);
  }
  return { diffID: `sha256:${hash.digest('hex')}`, size };
}
