// The namespaced view over the shared content store (containerd's metadata content store).
//
// Blob files are shared by every namespace (LocalContentStore); which blobs a namespace can
// see, and their labels, are records in meta.lmdb:
//   v1/<ns>/content/blob/<digest>   → { size, labels, createdAt, updatedAt }
//   v1/<ns>/content/ingests/<ref>   → { backendRef, expected, total, startedAt }
// A namespace sees a blob only when it has a record of it. Its ingests are the shared
// store's ingests under the ref "<ns>/<ref>", so two namespaces never collide on a ref.
//
// Sharing: a writer opened with an expected digest that some other namespace already
// committed needs no data: its status reports the whole size, and commit just records the
// blob in this namespace (containerd's "shared" content policy). If the client writes
// anyway, the existing bytes are copied into a real ingest first (or dropped, for a write
// at offset 0) and the write continues from there.
//
// Delete removes this namespace's record; when no namespace records the blob any more, the
// file is removed too. Commits and deletes of one digest are serialized in-process so a
// blob cannot be removed between "the file exists" and "the record is written"; garbage
// collection (core/gc) removes files under the same per-digest lock (withDigest).

import { ManagerError, alreadyExists, failedPrecondition, invalidArgument, isKind, notFound } from '../errors';
import { LocalContentStore, applyLabelPaths, contentAdaptor, statusAdaptor } from '../content/local';
import type { CommitOptions, ContentStore, Descriptor, Info, ReaderAt, Status, Writer, WriterOptions } from '../content/types';
import { MetadataDB, copyLabels } from './db';
import { parseFilters } from './filters';
import { validateDigest, validateKeyPart, validateLabels, validateNamespace } from './identifiers';
import { addLeaseResource } from './leases';
import { ensureNamespace } from './namespaces';
import { BlobRecord, IngestRecord, keys } from './schema';
import { KeyedQueue } from '../keyed-queue';

/** How long garbage collection keeps an ingest that no lease holds (containerd 1.6: 24 h). */
export const UNLEASED_INGEST_TTL_MS = 24 * 60 * 60 * 1000;

export class MetadataContentStore {
  private readonly digestLock = new KeyedQueue();

  constructor(
    readonly db: MetadataDB,
    readonly backend: LocalContentStore,
  ) {}

  /** The content store as namespace `ns` sees it. */
  namespace(ns: string): ContentStore {
    validateNamespace(ns);
    return new NamespacedContentStore(this, ns);
  }

  /** For a namespace's commit/delete: one at a time per digest. */
  withDigest<T>(digest: string, fn: () => Promise<T>): Promise<T> {
    return this.digestLock.run(digest, fn);
  }
}

const toInfo = (digest: string, r: BlobRecord): Info => ({ digest, size: r.size, createdAt: new Date(r.createdAt), updatedAt: new Date(r.updatedAt), labels: copyLabels(r.labels) });

class NamespacedContentStore implements ContentStore {
  private readonly db: MetadataDB;
  private readonly backend: LocalContentStore;

  constructor(
    readonly parent: MetadataContentStore,
    readonly ns: string,
  ) {
    this.db = parent.db;
    this.backend = parent.backend;
  }

  backendRef(ref: string): string {
    return `${this.ns}/${ref}`;
  }

  async info(digest: string): Promise<Info> {
    validateDigest(digest);
    return this.db.view((txn) => {
      const rec = txn.get<BlobRecord>(keys.blob(this.ns, digest));
      if (!rec) throw notFound(`content ${digest}`);
      return toInfo(digest, rec);
    });
  }

  async readerAt(desc: Descriptor): Promise<ReaderAt> {
    await this.info(desc.digest);
    return this.backend.readerAt(desc);
  }

  async update(info: Pick<Info, 'digest'> & Partial<Pick<Info, 'labels'>>, fieldpaths: string[] = []): Promise<Info> {
    validateDigest(info.digest);
    return this.db.update((txn) => {
      const rec = txn.get<BlobRecord>(keys.blob(this.ns, info.digest));
      if (!rec) throw notFound(`content ${info.digest}`);
      const labels = applyLabelPaths(info.digest, rec.labels, info.labels, fieldpaths);
      const next: BlobRecord = { ...rec, labels, updatedAt: Date.now() };
      txn.put(keys.blob(this.ns, info.digest), next);
      return toInfo(info.digest, next);
    });
  }

  async walk(fn: (info: Info) => void | Promise<void>, ...filters: string[]): Promise<void> {
    const filter = parseFilters(...filters);
    const infos = this.db.view((txn) =>
      txn.range<BlobRecord>(keys.blobs(this.ns), 1).map(({ key, value }) => toInfo(key[key.length - 1] as string, value)),
    );
    for (const info of infos) if (filter.match(contentAdaptor(info))) await fn(info);
  }

  async delete(digest: string): Promise<void> {
    validateDigest(digest);
    await this.parent.withDigest(digest, async () => {
      const unreferenced = await this.db.update((txn) => {
        if (!txn.remove(keys.blob(this.ns, digest))) throw notFound(`content ${digest}`);
        txn.markDirty();
        return txn.children(keys.namespaces()).every((other) => !txn.has(keys.blob(other, digest)));
      });
      if (unreferenced) {
        try {
          await this.backend.delete(digest);
        } catch (err) {
          if (!isKind(err, 'NotFound')) throw err;
        }
      }
    });
  }

  async status(ref: string): Promise<Status> {
    const rec = this.db.view((txn) => txn.get<IngestRecord>(keys.ingest(this.ns, ref)));
    if (!rec) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
    return this.backendStatus(ref, rec);
  }

  private async backendStatus(ref: string, rec: IngestRecord): Promise<Status> {
    let st: Status;
    try {
      st = await this.backend.status(rec.backendRef);
    } catch (err) {
      if (isKind(err, 'NotFound')) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
      throw err;
    }
    return { ...st, ref, ...(rec.expected ? { expected: rec.expected } : {}) };
  }

  async listStatuses(...filters: string[]): Promise<Status[]> {
    const filter = parseFilters(...filters);
    const recs = this.db.view((txn) => txn.range<IngestRecord>(keys.ingests(this.ns), 1));
    const out: Status[] = [];
    for (const { key, value } of recs) {
      const ref = key[key.length - 1] as string;
      try {
        const st = await this.backendStatus(ref, value);
        if (filter.match(statusAdaptor(st))) out.push(st);
      } catch (err) {
        if (!isKind(err, 'NotFound')) throw err;
      }
    }
    return out;
  }

  async ingestReaderAt(ref: string): Promise<ReaderAt> {
    const rec = this.db.view((txn) => txn.get<IngestRecord>(keys.ingest(this.ns, ref)));
    if (!rec) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
    try {
      return await this.backend.ingestReaderAt(rec.backendRef);
    } catch (err) {
      if (isKind(err, 'NotFound')) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
      throw err;
    }
  }

  async abort(ref: string): Promise<void> {
    const rec = await this.db.update((txn) => {
      const r = txn.get<IngestRecord>(keys.ingest(this.ns, ref));
      if (!r) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
      txn.remove(keys.ingest(this.ns, ref));
      return r;
    });
    try {
      await this.backend.abort(rec.backendRef);
    } catch (err) {
      if (!isKind(err, 'NotFound')) throw err;
    }
  }

  async writer(ref: string, opts: WriterOptions = {}): Promise<Writer> {
    if (!ref) throw invalidArgument('ref must not be empty');
    validateKeyPart(ref, 'ingest ref');
    const expected = opts.expected || undefined;
    if (expected) {
      validateDigest(expected);
      const mine = this.db.view((txn) => txn.has(keys.blob(this.ns, expected)));
      if (mine) throw alreadyExists(`content ${expected}`);
      try {
        const shared = await this.backend.info(expected);
        if (!opts.total || opts.total === shared.size) {
          return new NamespacedWriter(this, ref, opts, null, { digest: expected, size: shared.size });
        }
      } catch (err) {
        if (!isKind(err, 'NotFound')) throw err;
      }
    }
    const w = await this.openBackend(ref, opts);
    return new NamespacedWriter(this, ref, opts, w, null);
  }

  /** Opens the shared store's ingest for `ref` and records it in this namespace. */
  async openBackend(ref: string, opts: WriterOptions): Promise<Writer> {
    const backendRef = this.backendRef(ref);
    const w = await this.backend.writer(backendRef, {
      ...(opts.expected ? { expected: opts.expected } : {}),
      ...(opts.total ? { total: opts.total } : {}),
    });
    try {
      await this.db.update((txn) => {
        ensureNamespace(txn, this.ns);
        const old = txn.get<IngestRecord>(keys.ingest(this.ns, ref));
        const now = Date.now();
        const rec: IngestRecord = {
          backendRef,
          startedAt: old?.startedAt ?? now,
          // containerd 1.6: an ingest nobody leases may be collected a day after its writer
          // was last opened; a leased one lives as long as its lease.
          ...(opts.lease ? {} : { expiresAt: now + UNLEASED_INGEST_TTL_MS }),
          ...(opts.expected || old?.expected ? { expected: (opts.expected || old?.expected) as string } : {}),
          ...(opts.total || old?.total ? { total: (opts.total || old?.total) as number } : {}),
        };
        txn.put(keys.ingest(this.ns, ref), rec);
        if (opts.lease) addLeaseResource(txn, this.ns, opts.lease, { type: 'ingests', id: ref });
      });
    } catch (err) {
      await w.close();
      throw err;
    }
    return w;
  }

  /** Records a committed blob; returns false when the namespace already had it. */
  async record(ref: string, digest: string, size: number, opts: WriterOptions, labels: Record<string, string>): Promise<boolean> {
    return this.db.update((txn) => {
      ensureNamespace(txn, this.ns);
      txn.remove(keys.ingest(this.ns, ref));
      if (opts.lease) {
        txn.remove(keys.leaseResource(this.ns, opts.lease, 'ingests', ref));
        addLeaseResource(txn, this.ns, opts.lease, { type: 'content', id: digest });
      }
      if (txn.has(keys.blob(this.ns, digest))) return false;
      const now = Date.now();
      txn.put(keys.blob(this.ns, digest), { size, labels: copyLabels(labels), createdAt: now, updatedAt: now } satisfies BlobRecord);
      return true;
    });
  }
}

class NamespacedWriter implements Writer {
  private readonly startedAt = new Date();
  private closed = false;

  constructor(
    private readonly store: NamespacedContentStore,
    readonly ref: string,
    private readonly opts: WriterOptions,
    private w: Writer | null,
    /** Set while this writer stands for a blob another namespace already has. */
    private readonly shared: { digest: string; size: number } | null,
  ) {}

  private assertOpen(): void {
    if (this.closed) throw failedPrecondition(`writer for ref ${JSON.stringify(this.ref)} is closed`);
  }

  /** Turns a shared writer into a real ingest holding the first `keep` bytes of the blob. */
  private async materialize(keep: number): Promise<Writer> {
    if (this.w) return this.w;
    const shared = this.shared as { digest: string; size: number };
    const w = await this.store.openBackend(this.ref, { ...this.opts, expected: undefined, total: shared.size });
    await w.truncate(0);
    if (keep > 0) {
      const ra = await this.store.parent.backend.readerAt({ digest: shared.digest });
      try {
        const buf = Buffer.alloc(1 << 20);
        for (let off = 0; off < keep; ) {
          const n = await ra.readAt(buf.subarray(0, Math.min(buf.length, keep - off)), off);
          if (n === 0) throw failedPrecondition(`content ${shared.digest} shrank while being copied`);
          await w.write(buf.subarray(0, n));
          off += n;
        }
      } finally {
        await ra.close();
      }
    }
    this.w = w;
    return w;
  }

  async write(data: Uint8Array, offset?: number): Promise<number> {
    this.assertOpen();
    const w = this.w ?? (await this.materialize(offset === 0 ? 0 : (this.shared as { size: number }).size));
    return w.write(data, offset);
  }

  async truncate(size: number): Promise<void> {
    this.assertOpen();
    if (size !== 0) throw invalidArgument(`truncate: unsupported size ${size} (only 0)`);
    if (this.w) return this.w.truncate(0);
    await this.materialize(0);
  }

  digest(): string {
    return this.w ? this.w.digest() : (this.shared as { digest: string }).digest;
  }

  async status(): Promise<Status> {
    if (this.w) {
      const st = await this.w.status();
      return { ...st, ref: this.ref };
    }
    const s = this.shared as { digest: string; size: number };
    return { ref: this.ref, offset: s.size, total: s.size, expected: s.digest, startedAt: this.startedAt, updatedAt: this.startedAt };
  }

  async commit(size: number, expected?: string, opts: CommitOptions = {}): Promise<void> {
    this.assertOpen();
    const labels = opts.labels ?? {};
    validateLabels(labels, 'content labels');
    this.closed = true;
    const w = this.w;
    if (!w) {
      const s = this.shared as { digest: string; size: number };
      if (size > 0 && size !== s.size) throw failedPrecondition(`${JSON.stringify(this.ref)} failed size validation: ${s.size} != ${size}`);
      if (expected && expected !== s.digest) throw failedPrecondition(`unexpected commit digest ${s.digest}, expected ${expected}`);
      await this.store.parent.withDigest(s.digest, async () => {
        try {
          await this.store.parent.backend.info(s.digest);
        } catch (err) {
          if (isKind(err, 'NotFound')) throw failedPrecondition(`content ${s.digest} was removed while being committed; write it again`);
          throw err;
        }
        if (!(await this.store.record(this.ref, s.digest, s.size, this.opts, labels))) throw alreadyExists(`content ${s.digest}`);
      });
      return;
    }
    const st = await w.status();
    if (size > 0 && size !== st.offset) {
      await w.close();
      throw failedPrecondition(`${JSON.stringify(this.ref)} failed size validation: ${st.offset} != ${size}`);
    }
    const actual = w.digest();
    await this.store.parent.withDigest(actual, async () => {
      try {
        await w.commit(st.offset, expected);
      } catch (err) {
        if (!(err instanceof ManagerError && err.kind === 'AlreadyExists')) throw err;
      }
      if (!(await this.store.record(this.ref, actual, st.offset, this.opts, labels))) throw alreadyExists(`content ${actual}`);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.w?.close();
  }
}
