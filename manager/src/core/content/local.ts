// The shared, content-addressed blob store on disk (containerd's content/local):
//
//   <root>/content/blobs/sha256/<hex>            committed blobs, read-only (0444)
//   <root>/content/ingest/<sha256(ref) hex>/     one partial write per ref
//       ref         the ref, to detect a collision of the hashed dir name
//       data        the bytes written so far (their count is the offset)
//       startedat   RFC3339 time the ingest was started
//       updatedat   RFC3339 time of the last write (written on close and commit)
//       total       expected size, when known
//       expected    expected digest, when known
//
// Everything needed to resume is on disk, so a new store on the same root (after a
// restart) resumes an ingest at its offset: writer() re-hashes `data` and appends.
// The store has no namespaces and, unless given a LabelStore, no labels: the namespaced
// view in metadata/content.ts keeps both in meta.lmdb.

import { createHash, randomBytes, Hash } from 'crypto';
import { constants as fsConstants, createReadStream, promises as fsp } from 'fs';
import type { FileHandle } from 'fs/promises';
import * as path from 'path';
import { ManagerError, alreadyExists, failedPrecondition, invalidArgument, notFound, unavailable } from '../errors';
import { applyMapPath } from '../metadata/db';
import { Adaptor, labelField, parseFilters } from '../metadata/filters';
import { validateDigest, validateLabels } from '../metadata/identifiers';
import type { CommitOptions, ContentStore, Descriptor, Info, ReaderAt, Status, Writer, WriterOptions } from './types';

/** Where the local store keeps labels when it is used without the metadata view. */
export interface LabelStore {
  get(digest: string): Promise<Record<string, string> | undefined>;
  set(digest: string, labels: Record<string, string>): Promise<void>;
  delete(digest: string): Promise<void>;
}

export class MemoryLabelStore implements LabelStore {
  private readonly m = new Map<string, Record<string, string>>();
  async get(d: string) {
    const l = this.m.get(d);
    return l && { ...l };
  }
  async set(d: string, labels: Record<string, string>) {
    this.m.set(d, { ...labels });
  }
  async delete(d: string) {
    this.m.delete(d);
  }
}

// Refs being written, by ingest directory, shared by every store instance in the process.
const LOCKS = new Map<string, Date>();

const isErrno = (err: unknown, code: string): boolean => (err as NodeJS.ErrnoException)?.code === code;

async function writeSmallFile(file: string, data: string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await fsp.writeFile(tmp, data, { mode: 0o644 });
  await fsp.rename(tmp, file);
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

function contentAdaptor(info: Info): Adaptor {
  return (fp) => {
    switch (fp[0]?.toLowerCase()) {
      case 'digest':
        return info.digest;
      case 'size':
        return String(info.size);
      case 'labels':
        return labelField(info.labels, fp.slice(1));
    }
    return undefined;
  };
}

export const statusAdaptor =
  (s: Status): Adaptor =>
  (fp) =>
    fp[0]?.toLowerCase() === 'ref' ? s.ref : undefined;

export { contentAdaptor };

/** Applies content label field paths ("labels", "labels.<k>"; none = "labels"). */
export function applyLabelPaths(digest: string, current: Record<string, string>, from: Record<string, string> | undefined, fieldpaths: string[] = []): Record<string, string> {
  let next = { ...current };
  for (const p of fieldpaths.length ? fieldpaths : ['labels']) {
    const applied = applyMapPath(p, 'labels', next, from);
    if (!applied) throw invalidArgument(`cannot update ${JSON.stringify(p)} field on content info ${JSON.stringify(digest)}`);
    next = applied;
  }
  validateLabels(next, `content ${digest}`);
  return next;
}

export class LocalContentStore implements ContentStore {
  readonly contentRoot: string;
  private readonly labels?: LabelStore;

  /** `root` is the state root (/var/lib/berth); the store lives in <root>/content. */
  constructor(root: string, opts: { labels?: LabelStore } = {}) {
    this.contentRoot = path.join(root, 'content');
    if (opts.labels) this.labels = opts.labels;
  }

  blobPath(digest: string): string {
    validateDigest(digest);
    return path.join(this.contentRoot, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  ingestDir(ref: string): string {
    return path.join(this.contentRoot, 'ingest', createHash('sha256').update(ref).digest('hex'));
  }

  // --- Provider / Manager

  async info(digest: string): Promise<Info> {
    const p = this.blobPath(digest);
    let st;
    try {
      st = await fsp.stat(p);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`content ${digest}`);
      throw err;
    }
    const labels = (await this.labels?.get(digest)) ?? {};
    return { digest, size: st.size, createdAt: st.mtime, updatedAt: st.mtime, labels };
  }

  async readerAt(desc: Descriptor): Promise<ReaderAt> {
    const p = this.blobPath(desc.digest);
    let fh: FileHandle;
    try {
      fh = await fsp.open(p, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`content ${desc.digest}`);
      throw err;
    }
    return fileReaderAt(fh, desc.digest, { growing: false });
  }

  async ingestReaderAt(ref: string): Promise<ReaderAt> {
    const dir = this.ingestDir(ref);
    const st = await this.readStatus(dir);
    if (!st || st.ref !== ref) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
    let fh: FileHandle;
    try {
      fh = await fsp.open(path.join(dir, 'data'), 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`ingest ref ${JSON.stringify(ref)}: no data`);
      throw err;
    }
    return fileReaderAt(fh, `ingest ref ${JSON.stringify(ref)}`, { growing: true });
  }

  async update(info: Pick<Info, 'digest'> & Partial<Pick<Info, 'labels'>>, fieldpaths: string[] = []): Promise<Info> {
    const current = await this.info(info.digest);
    if (!this.labels) throw failedPrecondition(`update not supported on immutable content store ${this.contentRoot}`);
    const next = applyLabelPaths(info.digest, current.labels, info.labels, fieldpaths);
    await this.labels.set(info.digest, next);
    return { ...current, labels: next };
  }

  async walk(fn: (info: Info) => void | Promise<void>, ...filters: string[]): Promise<void> {
    const filter = parseFilters(...filters);
    let names: string[];
    try {
      names = await fsp.readdir(path.join(this.contentRoot, 'blobs', 'sha256'));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for (const hex of names.sort()) {
      if (!/^[a-f0-9]{64}$/.test(hex)) continue;
      let info: Info;
      try {
        info = await this.info(`sha256:${hex}`);
      } catch (err) {
        if (err instanceof ManagerError && err.kind === 'NotFound') continue; // deleted meanwhile
        throw err;
      }
      if (filter.match(contentAdaptor(info))) await fn(info);
    }
  }

  async delete(digest: string): Promise<void> {
    try {
      await fsp.unlink(this.blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`content ${digest}`);
      throw err;
    }
    await this.labels?.delete(digest);
  }

  // --- IngestManager

  async status(ref: string): Promise<Status> {
    const st = await this.readStatus(this.ingestDir(ref));
    if (!st || st.ref !== ref) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
    return st;
  }

  async listStatuses(...filters: string[]): Promise<Status[]> {
    const filter = parseFilters(...filters);
    let dirs: string[];
    try {
      dirs = await fsp.readdir(path.join(this.contentRoot, 'ingest'));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const out: Status[] = [];
    for (const d of dirs.sort()) {
      if (d.endsWith('.tmp')) continue;
      const st = await this.readStatus(path.join(this.contentRoot, 'ingest', d));
      if (st && filter.match(statusAdaptor(st))) out.push(st);
    }
    return out;
  }

  async abort(ref: string): Promise<void> {
    const dir = this.ingestDir(ref);
    const tmp = `${dir}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await fsp.rename(dir, tmp);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
      throw err;
    }
    await fsp.rm(tmp, { recursive: true, force: true });
  }

  private async readStatus(dir: string): Promise<Status | undefined> {
    const ref = await readOptional(path.join(dir, 'ref'));
    if (ref === undefined) return undefined;
    let offset = 0;
    try {
      offset = (await fsp.stat(path.join(dir, 'data'))).size;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    const startedAt = new Date((await readOptional(path.join(dir, 'startedat'))) ?? 0);
    const updatedAt = new Date((await readOptional(path.join(dir, 'updatedat'))) ?? startedAt.getTime());
    const total = Number((await readOptional(path.join(dir, 'total'))) ?? 0) || 0;
    const expected = (await readOptional(path.join(dir, 'expected')))?.trim();
    return { ref, offset, total, ...(expected ? { expected } : {}), startedAt, updatedAt };
  }

  // --- Ingester

  async writer(ref: string, opts: WriterOptions = {}): Promise<Writer> {
    if (!ref) throw invalidArgument('ref must not be empty');
    if (opts.expected !== undefined && opts.expected !== '') validateDigest(opts.expected);
    const dir = this.ingestDir(ref);
    const since = LOCKS.get(dir);
    if (since) throw unavailable(`ref ${ref} locked for ${Date.now() - since.getTime()}ms (since ${since.toISOString()})`);
    LOCKS.set(dir, new Date());
    try {
      return await this.openWriter(ref, dir, opts);
    } catch (err) {
      LOCKS.delete(dir);
      throw err;
    }
  }

  private async openWriter(ref: string, dir: string, opts: WriterOptions): Promise<LocalWriter> {
    if (opts.expected) {
      try {
        await fsp.stat(this.blobPath(opts.expected));
        throw alreadyExists(`content ${opts.expected}`);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    await fsp.mkdir(path.join(this.contentRoot, 'ingest'), { recursive: true });
    const hash = createHash('sha256');
    const total = opts.total ?? 0;
    let startedAt = new Date();
    let updatedAt = startedAt;
    let resumed: Status | undefined;
    try {
      await fsp.mkdir(dir);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      resumed = await this.readStatus(dir);
    }
    if (resumed) {
      if (resumed.ref !== ref) throw new ManagerError('Internal', `ingest ${dir}: ref key does not match: ${JSON.stringify(resumed.ref)} != ${JSON.stringify(ref)}`);
      if (total > 0 && resumed.total > 0 && total !== resumed.total) {
        throw failedPrecondition(`ingest ref ${JSON.stringify(ref)}: provided total differs from status: ${total} != ${resumed.total}`);
      }
      startedAt = resumed.startedAt;
      updatedAt = resumed.updatedAt;
      await new Promise<void>((resolve, reject) => {
        createReadStream(path.join(dir, 'data'))
          .on('data', (chunk) => hash.update(chunk))
          .on('end', () => resolve())
          .on('error', (e) => (isErrno(e, 'ENOENT') ? resolve() : reject(e)));
      });
      if (total > 0 && resumed.total === 0) await writeSmallFile(path.join(dir, 'total'), String(total));
      if (opts.expected) await writeSmallFile(path.join(dir, 'expected'), opts.expected);
    } else {
      await writeSmallFile(path.join(dir, 'ref'), ref);
      await writeSmallFile(path.join(dir, 'startedat'), startedAt.toISOString());
      await writeSmallFile(path.join(dir, 'updatedat'), startedAt.toISOString());
      if (total > 0) await writeSmallFile(path.join(dir, 'total'), String(total));
      if (opts.expected) await writeSmallFile(path.join(dir, 'expected'), opts.expected);
    }
    const fh = await fsp.open(path.join(dir, 'data'), fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
    const offset = (await fh.stat()).size;
    return new LocalWriter(this, ref, dir, fh, hash, {
      offset,
      total: resumed?.total || total,
      expected: opts.expected || resumed?.expected,
      startedAt,
      updatedAt,
    });
  }

  /** Called by LocalWriter.commit after verification. */
  async commitIngest(w: { ref: string; dir: string }, digest: string, size: number, labels?: Record<string, string>): Promise<void> {
    const target = this.blobPath(digest);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    try {
      await fsp.stat(target);
      await fsp.rm(w.dir, { recursive: true, force: true });
      throw alreadyExists(`content ${digest}`);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    await fsp.chmod(path.join(w.dir, 'data'), 0o444);
    await fsp.rename(path.join(w.dir, 'data'), target);
    // The blob is in place; what follows is clean-up that cannot undo the commit.
    await fsp.rm(w.dir, { recursive: true, force: true });
    if (labels && this.labels) await this.labels.set(digest, labels);
    void size;
  }

  /**
   * Garbage collection's abort: removes the ingest `ref` unless a writer holds it. The ref
   * is held (as a writer would hold it) while `stillGarbage()` is asked and the data
   * removed, so no writer can open it in between. Returns the bytes removed, or undefined
   * when the ingest was kept (held, gone, or no longer garbage).
   */
  async abortIfUnused(ref: string, stillGarbage: () => boolean): Promise<number | undefined> {
    const dir = this.ingestDir(ref);
    if (LOCKS.has(dir)) return undefined;
    LOCKS.set(dir, new Date());
    try {
      if (!stillGarbage()) return undefined;
      const st = await this.readStatus(dir);
      if (!st || st.ref !== ref) return undefined;
      await this.abort(ref);
      return st.offset;
    } catch (err) {
      if (err instanceof ManagerError && err.kind === 'NotFound') return undefined;
      throw err;
    } finally {
      LOCKS.delete(dir);
    }
  }

  /** Releases a ref lock (writer close/commit). */
  unlock(dir: string): void {
    LOCKS.delete(dir);
  }
}

/**
 * A ReaderAt over an open file. `growing` (an ingest's data, still being written): reads are
 * not clamped to the size seen at open, so what a writer appends later is readable too.
 */
async function fileReaderAt(fh: FileHandle, what: string, opts: { growing: boolean }): Promise<ReaderAt> {
  const size = (await fh.stat()).size;
  let open = true;
  return {
    size,
    async readAt(buf, offset) {
      if (!open) throw failedPrecondition(`reader for ${what} is closed`);
      if (offset < 0) throw invalidArgument(`read at negative offset ${offset}`);
      if (buf.length === 0 || (!opts.growing && offset >= size)) return 0;
      const want = opts.growing ? buf.length : Math.min(buf.length, size - offset);
      const { bytesRead } = await fh.read(buf, 0, want, offset);
      return bytesRead;
    },
    async close() {
      if (!open) return;
      open = false;
      await fh.close();
    },
  };
}

class LocalWriter implements Writer {
  private offset: number;
  private readonly total: number;
  private expected: string | undefined;
  private readonly startedAt: Date;
  private updatedAt: Date;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: LocalContentStore,
    readonly ref: string,
    readonly dir: string,
    private fh: FileHandle | null,
    private hash: Hash,
    st: { offset: number; total: number; expected: string | undefined; startedAt: Date; updatedAt: Date },
  ) {
    this.offset = st.offset;
    this.total = st.total;
    this.expected = st.expected;
    this.startedAt = st.startedAt;
    this.updatedAt = st.updatedAt;
  }

  /** Runs operations on this writer one at a time. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op, op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private open(): FileHandle {
    if (!this.fh) throw failedPrecondition(`writer for ref ${JSON.stringify(this.ref)} is closed`);
    return this.fh;
  }

  digest(): string {
    return `sha256:${this.hash.copy().digest('hex')}`;
  }

  async status(): Promise<Status> {
    return {
      ref: this.ref,
      offset: this.offset,
      total: this.total,
      ...(this.expected ? { expected: this.expected } : {}),
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
    };
  }

  write(data: Uint8Array, offset?: number): Promise<number> {
    return this.serial(async () => {
      const fh = this.open();
      if (offset !== undefined && offset !== this.offset) {
        if (offset !== 0) throw failedPrecondition(`write @${offset} must occur at current offset ${this.offset} (ref ${JSON.stringify(this.ref)})`);
        await this.truncateNow(0);
      }
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, this.offset + done);
        done += bytesWritten;
      }
      this.hash.update(data);
      this.offset += data.length;
      this.updatedAt = new Date();
      return data.length;
    });
  }

  truncate(size: number): Promise<void> {
    return this.serial(() => this.truncateNow(size));
  }

  private async truncateNow(size: number): Promise<void> {
    const fh = this.open();
    if (size !== 0) throw invalidArgument(`truncate: unsupported size ${size} (only 0)`);
    await fh.truncate(0);
    this.hash = createHash('sha256');
    this.offset = 0;
    this.updatedAt = new Date();
  }

  commit(size: number, expected?: string, opts: CommitOptions = {}): Promise<void> {
    return this.serial(async () => {
      const fh = this.open();
      this.fh = null;
      try {
        let actualSize: number;
        try {
          if (opts.labels) validateLabels(opts.labels, 'content labels');
          await fh.sync();
          actualSize = (await fh.stat()).size;
        } finally {
          await fh.close();
        }
        await this.writeUpdatedAt();
        if (size > 0 && size !== actualSize) throw failedPrecondition(`unexpected commit size ${actualSize}, expected ${size}`);
        const want = expected || this.expected;
        const actual = this.digest();
        if (want && want !== actual) throw failedPrecondition(`unexpected commit digest ${actual}, expected ${want}`);
        await this.store.commitIngest(this, actual, actualSize, opts.labels);
      } finally {
        this.store.unlock(this.dir);
      }
    });
  }

  close(): Promise<void> {
    return this.serial(async () => {
      const fh = this.fh;
      if (!fh) return;
      this.fh = null;
      try {
        await fh.sync();
        await fh.close();
        await this.writeUpdatedAt();
      } finally {
        this.store.unlock(this.dir);
      }
    });
  }

  private async writeUpdatedAt(): Promise<void> {
    try {
      await writeSmallFile(path.join(this.dir, 'updatedat'), this.updatedAt.toISOString());
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err; // aborted underneath us
    }
  }
}
