// Computing a layer: the changes of an upper tree over a lower one, as an OCI layer tar.
//
// Two ways to find the changes:
//   overlay — upperDir is an overlay upper dir: everything in it is a change; a 0/0 character
//             device (or a file with trusted.overlay.whiteout) is a deletion → `.wh.NAME`; a
//             directory with trusted.overlay.opaque=y → the directory plus `.wh..wh..opq`.
//             lowerDir is not read. redirect_dir/metacopy uppers are refused (berth's snapshots
//             never enable them: their meaning lives in the lower layers).
//   compare — lowerDir and upperDir are two full trees (e.g. a snapshot's parent view and the
//             container's view): an entry is added or modified when its type, mode, owner,
//             mtime, size, xattrs, link target or device differ (and, for regular files whose
//             mtime has no sub-second part, when the bytes differ: a coarse clock can hide a
//             write); a path only in lowerDir becomes a `.wh.` whiteout.
//
// The tar is deterministic: names in byte order, depth first with a directory before its
// contents, no user/group names, whiteouts with zero metadata, PAX records only where ustar
// cannot hold a field (xattrs, long names, sub-second mtimes). Hardlinked files emitted in the
// same layer are written once and then as links to the first path. trusted.overlay.* xattrs
// are overlayfs's bookkeeping and are never emitted.

import { createHash } from 'node:crypto';
import { BigIntStats, constants } from 'node:fs';
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import { invalidArgument, notImplemented } from '../errors';
import { MEDIA_TYPES } from './compression';
import { readTreeXattrs } from './host';
import { compareBytes, encodeHeader, endOfArchive, EntryType, padding, WriteHeader } from './tar';
import { HardLinks, entryType, fileBytes, statHeader } from './stat-entry';

export type DiffMode = 'overlay' | 'compare';

export interface DiffOptions {
  mode: DiffMode;
  /** default 'none' (an uncompressed tar) */
  compression?: 'none' | 'gzip';
}

export interface DiffDigests {
  /** sha256 of the uncompressed tar */
  diffID: string;
  uncompressedSize: number;
  /** sha256 of the bytes of `stream` (equal to diffID when uncompressed) */
  digest: string;
  size: number;
  mediaType: string;
}

export interface LayerDiff {
  /** the layer's bytes; read it to the end */
  stream: Readable;
  mediaType: string;
  /** settles once `stream` has been read to its end (or failed) */
  done: Promise<DiffDigests>;
}

const WH_PREFIX = '.wh.';
const WH_OPAQUE = '.wh..wh..opq';
const OVERLAY_XATTR = 'trusted.overlay.';
const CHUNK = 256 * 1024;

type Xattrs = Map<string, Map<string, Buffer>>;

/** Sockets included (as 'file'): the caller refuses them, and a type change must still compare. */
const typeOf = (st: BigIntStats): EntryType => entryType(st) ?? 'file';

function layerXattrs(all: Map<string, Buffer> | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (all) for (const [k, v] of all) if (!k.startsWith(OVERLAY_XATTR)) out.set(k, v);
  return out;
}

function sameXattrs(a: Map<string, Buffer>, b: Map<string, Buffer>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || !w.equals(v)) return false;
  }
  return true;
}

const byBytes = (names: string[]) => names.sort(compareBytes);

async function sameContent(a: string, b: string, size: bigint): Promise<boolean> {
  const fa = await open(a, constants.O_RDONLY | constants.O_NOFOLLOW);
  const fb = await open(b, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const ba = Buffer.alloc(CHUNK);
    const bb = Buffer.alloc(CHUNK);
    let pos = 0;
    while (BigInt(pos) < size) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, CHUNK, pos), fb.read(bb, 0, CHUNK, pos)]);
      if (ra.bytesRead !== rb.bytesRead) return false;
      if (ra.bytesRead === 0) return true;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
      pos += ra.bytesRead;
    }
    return true;
  } finally {
    await fa.close();
    await fb.close();
  }
}

class Writer {
  /** dev:ino → the first path written for a hardlinked file */
  private readonly links = new HardLinks();

  constructor(
    private readonly root: string,
    private readonly xattrs: Xattrs,
  ) {}

  xattrsOf(abs: string): Map<string, Buffer> {
    return layerXattrs(this.xattrs.get(abs));
  }

  whiteout(name: string): Buffer {
    return encodeHeader({ name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: { sec: 0, nsec: 0 } });
  }

  async *entry(rel: string, st: BigIntStats): AsyncGenerator<Buffer> {
    const abs = join(this.root, rel);
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    if (base.startsWith(WH_PREFIX)) {
      throw invalidArgument(`compute diff: ${JSON.stringify(rel)}: a name starting with ${WH_PREFIX} cannot be carried in a layer`);
    }
    if (st.isSocket()) return; // sockets are not archived (as tar and containerd do)
    const type = typeOf(st);
    const h: WriteHeader = { ...(await statHeader(rel, abs, st, type)), xattrs: this.xattrsOf(abs) };
    const first = this.links.seen(st, rel);
    if (first !== undefined) {
      yield encodeHeader({ ...h, type: 'link', size: 0, linkname: first, xattrs: new Map() });
      return;
    }
    yield encodeHeader(h);
    if (type === 'file' && h.size > 0) {
      yield* fileBytes(abs, h.size, 'fail', `compute diff: ${JSON.stringify(rel)}`);
      yield padding(h.size);
    }
  }
}

const join2 = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);

async function* overlayChanges(upper: string, w: Writer, xattrs: Xattrs, dir: string): AsyncGenerator<Buffer> {
  for (const name of byBytes(await readdir(join(upper, dir)))) {
    const rel = join2(dir, name);
    const abs = join(upper, rel);
    const st = await lstat(abs, { bigint: true });
    const xa = xattrs.get(abs);
    const isWhiteout = (st.isCharacterDevice() && st.rdev === 0n) || (st.isFile() && xa?.has('trusted.overlay.whiteout') === true);
    if (isWhiteout) {
      yield w.whiteout(join2(dir, `${WH_PREFIX}${name}`));
      continue;
    }
    if (xa?.has('trusted.overlay.redirect') || xa?.has('trusted.overlay.metacopy')) {
      throw notImplemented(`compute diff: ${JSON.stringify(rel)}: overlay redirect_dir/metacopy entries are not supported`);
    }
    yield* w.entry(rel, st);
    if (st.isDirectory()) {
      if (xa?.get('trusted.overlay.opaque')?.toString() === 'y') yield w.whiteout(join2(rel, WH_OPAQUE));
      yield* overlayChanges(upper, w, xattrs, rel);
    }
  }
}

type Change = { whiteout: string } | { rel: string; st: BigIntStats };

/**
 * The changes under one directory, in emission order. A directory whose own metadata did not
 * change is still listed when anything under it did (as Docker does): applying the children
 * touches it, and its times and mode must be restored afterwards.
 */
async function compareChanges(
  lower: string,
  upper: string,
  w: Writer,
  lowerXattrs: Xattrs,
  dir: string,
  lowerHasDir: boolean,
): Promise<Change[]> {
  const upperNames = await readdir(join(upper, dir));
  const lowerNames = lowerHasDir ? await readdir(join(lower, dir)) : [];
  const inUpper = new Set(upperNames);
  const inLower = new Set(lowerNames);
  const out: Change[] = [];
  for (const name of byBytes([...new Set([...upperNames, ...lowerNames])])) {
    const rel = join2(dir, name);
    if (!inUpper.has(name)) {
      out.push({ whiteout: join2(dir, `${WH_PREFIX}${name}`) });
      continue;
    }
    const u = await lstat(join(upper, rel), { bigint: true });
    const l = inLower.has(name) ? await lstat(join(lower, rel), { bigint: true }) : null;
    const replaced = l === null || typeOf(u) !== typeOf(l) || u.isSocket() !== l.isSocket();
    const self = replaced || (await changed(lower, upper, rel, u, l!, w, lowerXattrs));
    const below = u.isDirectory() ? await compareChanges(lower, upper, w, lowerXattrs, rel, !replaced) : [];
    if (self || below.length > 0) out.push({ rel, st: u }, ...below);
  }
  return out;
}

async function changed(
  lower: string,
  upper: string,
  rel: string,
  u: BigIntStats,
  l: BigIntStats,
  w: Writer,
  lowerXattrs: Xattrs,
): Promise<boolean> {
  if (u.mode !== l.mode || u.uid !== l.uid || u.gid !== l.gid || u.mtimeNs !== l.mtimeNs) return true;
  if (!sameXattrs(w.xattrsOf(join(upper, rel)), layerXattrs(lowerXattrs.get(join(lower, rel))))) return true;
  if (u.isDirectory()) return false;
  if (u.isSymbolicLink()) return (await readlink(join(upper, rel))) !== (await readlink(join(lower, rel)));
  if (u.isCharacterDevice() || u.isBlockDevice()) return u.rdev !== l.rdev;
  if (u.isFile()) {
    if (u.size !== l.size) return true;
    if (u.mtimeNs % 1_000_000_000n === 0n) return !(await sameContent(join(upper, rel), join(lower, rel), u.size));
  }
  return false;
}

function hashing(onDone: (hex: string, size: number) => void): Transform {
  const hash = createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      onDone(hash.digest('hex'), size);
      cb();
    },
  });
}

/**
 * The layer that turns lowerDir into upperDir (mode 'compare'), or that an overlay upper dir
 * holds (mode 'overlay'; lowerDir is ignored). The walk runs as the stream is read.
 */
export function computeDiff(lowerDir: string | null, upperDir: string, options: DiffOptions): LayerDiff {
  const gzip = options.compression === 'gzip';
  const mediaType = gzip ? MEDIA_TYPES.ociGzip : MEDIA_TYPES.ociTar;

  async function* tarBytes(): AsyncGenerator<Buffer> {
    const upper = await realpath(upperDir);
    if (options.mode === 'overlay') {
      const xattrs = await readTreeXattrs(upper);
      yield* overlayChanges(upper, new Writer(upper, xattrs), xattrs, '');
    } else {
      if (lowerDir === null) throw invalidArgument('compute diff: compare mode needs a lower directory');
      const lower = await realpath(lowerDir);
      const [ux, lx] = await Promise.all([readTreeXattrs(upper), readTreeXattrs(lower)]);
      const w = new Writer(upper, ux);
      for (const c of await compareChanges(lower, upper, w, lx, '', true)) {
        if ('whiteout' in c) yield w.whiteout(c.whiteout);
        else yield* w.entry(c.rel, c.st);
      }
    }
    yield endOfArchive();
  }

  let uncompressed: { hex: string; size: number } | null = null;
  let final: { hex: string; size: number } | null = null;
  const source = Readable.from(tarBytes(), { objectMode: false });
  const out = new PassThrough();
  const stages: NodeJS.ReadWriteStream[] = [hashing((hex, size) => (uncompressed = { hex, size }))];
  if (gzip) stages.push(createGzip(), hashing((hex, size) => (final = { hex, size })));

  const done = new Promise<DiffDigests>((resolve, reject) => {
    pipeline([source, ...stages, out], (err: NodeJS.ErrnoException | null) => {
      if (err) return reject(err);
    });
    out.on('end', () => {
      const u = uncompressed!;
      const c = gzip ? final! : u;
      resolve({ diffID: `sha256:${u.hex}`, uncompressedSize: u.size, digest: `sha256:${c.hex}`, size: c.size, mediaType });
    });
    out.on('error', reject);
  });
  done.catch(() => undefined); // the stream reports the error too; a caller may only listen there
  return { stream: out, mediaType, done };
}
