// The garbage collector: one collection is containerd 1.6's DB.GarbageCollect.
//
//   1. metadata (the pause): holding every loaded snapshotter's exclusive() turn (so no
//      snapshot is half made, and no snapshot label changes), read each snapshotter's labels,
//      then mark and sweep all of meta.lmdb in ONE write transaction (mark.ts). LMDB has one
//      writer at a time, so an image created, a lease taken or a blob committed either
//      committed before the transaction (and is seen, so kept) or commits after it (and was
//      never a candidate). Nothing outside the transaction is decided on what it read.
//   2. content (after the commit): every blob file that no namespace records any more is
//      deleted, each under the content store's per-digest lock with the records re-read
//      there (a commit of that digest holds the same lock from "file in place" to "record
//      written"); every ingest no namespace records is aborted unless a writer holds it.
//   3. snapshots (after the commit), per snapshotter under its exclusive() turn: every
//      snapshot no namespace record names is removed, children before parents.
// Steps 2 and 3 run for what step 1 made dirty (content or ingest records removed; a
// snapshotter that lost records), and once in full after start-up, which also clears what
// a crash left between a file operation and its record. Their failures are logged and
// retried by the next collection: the records are already gone, so nothing can use them.

import { isKind } from '../errors';
import type { MetadataContentStore } from '../metadata/content';
import type { MetadataDB, Txn } from '../metadata/db';
import { keys, type IngestRecord, type SnapshotRef } from '../metadata/schema';
import { exclusive, exclusiveAll, type Snapshotter } from '../snapshots';
import { markAndSweep } from './mark';

/** What one collection did. Counts of records are summed over namespaces. */
export interface GcStats {
  /** Expired leases dropped. */
  leases: number;
  /** Content records (namespace, digest) dropped. */
  content: number;
  /** Ingest records dropped. */
  ingests: number;
  /** Snapshot records (namespace, snapshotter, key) dropped. */
  snapshots: number;
  /** Blob files deleted (no namespace records them any more), and their bytes. */
  blobsDeleted: number;
  /** Partial writes aborted. */
  ingestsAborted: number;
  /** Bytes of the deleted blobs and aborted ingests. */
  contentBytes: number;
  /** Snapshots removed from their snapshotters (directories deleted), and their usage. */
  snapshotsRemoved: number;
  snapshotBytes: number;
  /** contentBytes + snapshotBytes. */
  bytesFreed: number;
  /** When the metadata transaction ran (epoch ms): later changes are not covered. */
  markedAt: number;
  /** The metadata pause (step 1) and the whole collection, in ms. */
  metaMs: number;
  totalMs: number;
}

export interface GcLog {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CollectorOptions {
  db: MetadataDB;
  content: MetadataContentStore;
  /** The loaded snapshotters by name (containerd's snapshotter plugin ids). */
  snapshotters: ReadonlyMap<string, Snapshotter>;
  log?: GcLog;
}

const silent: GcLog = { debug: () => undefined, warn: () => undefined };

/** True when some namespace records blob `digest`. */
function recordedBlob(txn: Txn, digest: string): boolean {
  return txn.children(keys.namespaces()).some((ns) => txn.has(keys.blob(ns, digest)));
}

/** True when some namespace records the shared-store ingest `backendRef` ("<ns>/<ref>"). */
function recordedIngest(txn: Txn, backendRef: string): boolean {
  const slash = backendRef.indexOf('/');
  if (slash <= 0) return false;
  const rec = txn.get<IngestRecord>(keys.ingest(backendRef.slice(0, slash), backendRef.slice(slash + 1)));
  return rec?.backendRef === backendRef;
}

export class Collector {
  private readonly log: GcLog;
  /** The full sweep of files after start-up is still to do. */
  private fullSweepPending = true;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: CollectorOptions) {
    this.log = opts.log ?? silent;
  }

  /** Runs one collection (after any collection already running). */
  collect(): Promise<GcStats> {
    const run = this.chain.then(
      () => this.run(),
      () => this.run(),
    );
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async run(): Promise<GcStats> {
    const t0 = performance.now();
    const names = [...this.opts.snapshotters.keys()].sort();
    const backends = names.map((n) => this.opts.snapshotters.get(n) as Snapshotter);
    let markedAt = 0;
    const swept = await exclusiveAll(backends, async () => {
      const snapshotLabels = new Map<string, Map<string, Record<string, string>>>();
      for (const [i, name] of names.entries()) {
        const labels = new Map<string, Record<string, string>>();
        await (backends[i] as Snapshotter).walk((info) => void labels.set(info.name, info.labels));
        snapshotLabels.set(name, labels);
      }
      return this.opts.db.update(
        (txn) => {
          markedAt = Date.now();
          return markAndSweep(txn, { now: markedAt, snapshotLabels });
        },
        { silent: true },
      );
    });
    const metaMs = performance.now() - t0;
    const stats: GcStats = {
      leases: swept.leases,
      content: swept.content,
      ingests: swept.ingests,
      snapshots: swept.snapshots,
      blobsDeleted: 0,
      ingestsAborted: 0,
      contentBytes: 0,
      snapshotsRemoved: 0,
      snapshotBytes: 0,
      bytesFreed: 0,
      markedAt,
      metaMs,
      totalMs: 0,
    };
    const full = this.fullSweepPending;
    this.fullSweepPending = false;
    if (full || swept.content > 0 || swept.ingests > 0) await this.sweepContent(stats);
    for (const [i, name] of names.entries()) {
      if (full || swept.snapshotters.has(name)) await this.sweepSnapshotter(name, backends[i] as Snapshotter, stats);
    }
    stats.bytesFreed = stats.contentBytes + stats.snapshotBytes;
    stats.totalMs = performance.now() - t0;
    return stats;
  }

  /** Deletes blob files and aborts ingests that no namespace records. */
  private async sweepContent(stats: GcStats): Promise<void> {
    const { db, content } = this.opts;
    const backend = content.backend;
    // A cheap first pass picks the candidates; each is checked again under its lock.
    const recorded = db.view((txn) => {
      const blobs = new Set<string>();
      const ingests = new Set<string>();
      for (const ns of txn.children(keys.namespaces())) {
        for (const e of txn.range(keys.blobs(ns), 1)) blobs.add(e.key[e.key.length - 1] as string);
        for (const e of txn.range<IngestRecord>(keys.ingests(ns), 1)) ingests.add(e.value.backendRef);
      }
      return { blobs, ingests };
    });
    const candidates: string[] = [];
    try {
      await backend.walk((info) => {
        if (!recorded.blobs.has(info.digest)) candidates.push(info.digest);
      });
    } catch (err) {
      this.log.warn({ err }, 'gc: listing blobs failed');
    }
    for (const digest of candidates) {
      try {
        await content.withDigest(digest, async () => {
          if (db.view((txn) => recordedBlob(txn, digest))) return; // committed meanwhile
          const { size } = await backend.info(digest);
          await backend.delete(digest);
          stats.blobsDeleted++;
          stats.contentBytes += size;
          this.log.debug({ digest, size }, 'gc: removed blob');
        });
      } catch (err) {
        if (!isKind(err, 'NotFound')) this.log.warn({ err, digest }, 'gc: removing a blob failed');
      }
    }
    let statuses: { ref: string }[] = [];
    try {
      statuses = await backend.listStatuses();
    } catch (err) {
      this.log.warn({ err }, 'gc: listing ingests failed');
    }
    for (const { ref } of statuses) {
      if (recorded.ingests.has(ref)) continue;
      try {
        const bytes = await backend.abortIfUnused(ref, () => !db.view((txn) => recordedIngest(txn, ref)));
        if (bytes === undefined) continue;
        stats.ingestsAborted++;
        stats.contentBytes += bytes;
        this.log.debug({ ref, bytes }, 'gc: aborted ingest');
      } catch (err) {
        this.log.warn({ err, ref }, 'gc: aborting an ingest failed');
      }
    }
  }

  /** Removes every snapshot of `name` that no namespace record names, children first. */
  private async sweepSnapshotter(name: string, backend: Snapshotter, stats: GcStats): Promise<void> {
    const { db } = this.opts;
    try {
      await exclusive(backend, async () => {
        const named = db.view((txn) => {
          const out = new Set<string>();
          for (const ns of txn.children(keys.namespaces())) {
            for (const e of txn.range<SnapshotRef>(keys.snapshots(ns, name), 1)) out.add(e.value.backendKey);
          }
          return out;
        });
        const parentOf = new Map<string, string>();
        await backend.walk((info) => void parentOf.set(info.name, info.parent));
        const children = new Map<string, number>();
        for (const p of parentOf.values()) if (p) children.set(p, (children.get(p) ?? 0) + 1);
        const doomed = new Set([...parentOf.keys()].filter((k) => !named.has(k)));
        // leaves first; a parent becomes a leaf when its last child goes
        const ready = [...doomed].filter((k) => !children.get(k));
        while (ready.length > 0) {
          const key = ready.pop() as string;
          let bytes = 0;
          try {
            bytes = (await backend.usage(key)).size;
          } catch {
            // the size is for the report only
          }
          try {
            await backend.remove(key);
          } catch (err) {
            if (!isKind(err, 'NotFound')) this.log.warn({ err, snapshotter: name, key }, 'gc: removing a snapshot failed');
            continue;
          }
          stats.snapshotsRemoved++;
          stats.snapshotBytes += bytes;
          this.log.debug({ snapshotter: name, key, bytes }, 'gc: removed snapshot');
          const parent = parentOf.get(key);
          if (!parent) continue;
          const left = (children.get(parent) ?? 1) - 1;
          children.set(parent, left);
          if (left === 0 && doomed.has(parent)) ready.push(parent);
        }
      });
    } catch (err) {
      this.log.warn({ err, snapshotter: name }, 'gc: sweeping the snapshotter failed');
    }
  }
}
