// The LMDB environment behind every metadata store: opening (with the schema version check
// and migrations), and the two ways in, update() and view().
//
// Transactions: lmdb-js's `transaction()` is NOT rolled back when its callback throws (the
// puts already made stay and are committed with the batch), so it cannot give "a failure in
// the middle leaves nothing". update() uses `childTransaction()`: the callback runs in a
// child of the batch's write transaction, sees its own writes, is aborted as a whole when it
// throws, and the commit (and fsync) happens off the main thread. Callbacks must be
// synchronous: no await inside update()/view() (the transaction would close under them).
// Migrations at open use `transactionSync()`, also aborted as a whole on a throw.

import { promises as fsp } from 'fs';
import * as path from 'path';
import * as lmdb from 'lmdb';
import type { Key, RootDatabase, Transaction } from 'lmdb';
import { failedPrecondition, ManagerError } from '../errors';
import { MIGRATIONS, Migration, MigrationTxn, SCHEMA_NAME, SCHEMA_VERSION, VERSION_KEY, VersionRecord } from './schema';

const keyValueToBuffer = (lmdb as unknown as { keyValueToBuffer(k: Key): Buffer }).keyValueToBuffer;

/** The [start, end) byte range of every key strictly below `prefix` (not the prefix itself). */
export function prefixRange(prefix: string[]): { start: Buffer; end: Buffer } {
  // keyValueToBuffer returns a view of a shared scratch buffer: copy it.
  const base = Buffer.from(keyValueToBuffer(prefix));
  // Array elements are separated by a 0 byte; no encoded string byte is 0xff.
  return { start: Buffer.concat([base, Buffer.from([0])]), end: Buffer.concat([base, Buffer.from([0, 0xff])]) };
}

export interface Entry<V = unknown> {
  key: string[];
  value: V;
}

/** Reads and writes inside one transaction. Keys are arrays of strings (schema.ts keys). */
export class Txn {
  /** Set by markDirty(): this change may have left something for the garbage collector. */
  dirty = false;

  constructor(
    private readonly db: RootDatabase,
    readonly writable: boolean,
    private readonly readTxn?: Transaction,
  ) {}

  private get opts(): { transaction?: Transaction } {
    return this.readTxn ? { transaction: this.readTxn } : {};
  }

  get<V>(key: string[]): V | undefined {
    return this.db.get(key, this.opts) as V | undefined;
  }

  has(key: string[]): boolean {
    return this.get(key) !== undefined;
  }

  put(key: string[], value: unknown): void {
    this.assertWritable();
    this.db.putSync(key, value);
  }

  /** Removes one key; true when it existed. */
  remove(key: string[]): boolean {
    this.assertWritable();
    return this.db.removeSync(key);
  }

  /** Every entry below `prefix`, in key order; `depth` keeps only keys prefix.length + depth long. */
  range<V>(prefix: string[], depth?: number): Entry<V>[] {
    const { start, end } = prefixRange(prefix);
    const out: Entry<V>[] = [];
    for (const { key, value } of this.db.getRange({ start, end, ...this.opts })) {
      const k = key as string[];
      if (depth === undefined || k.length === prefix.length + depth) out.push({ key: k, value: value as V });
    }
    return out;
  }

  /** True when any key lies below `prefix`. */
  hasChildren(prefix: string[]): boolean {
    const { start, end } = prefixRange(prefix);
    for (const _ of this.db.getKeys({ start, end, limit: 1, ...this.opts })) return true;
    return false;
  }

  /** The distinct key parts directly below `prefix` (e.g. namespace names below ["v1"]). */
  children(prefix: string[]): string[] {
    const out: string[] = [];
    let { start } = prefixRange(prefix);
    const { end } = prefixRange(prefix);
    for (;;) {
      let next: string | undefined;
      for (const key of this.db.getKeys({ start, end, limit: 1, ...this.opts })) next = (key as string[])[prefix.length];
      if (next === undefined) return out;
      out.push(next);
      start = prefixRange([...prefix, next]).end; // skip the whole subtree of `next`
    }
  }

  /** Removes `prefix` itself and every key below it; returns how many keys went. */
  removeTree(prefix: string[]): number {
    this.assertWritable();
    let n = this.db.removeSync(prefix) ? 1 : 0;
    const { start, end } = prefixRange(prefix);
    const doomed = [...this.db.getKeys({ start, end })];
    for (const k of doomed) if (this.db.removeSync(k)) n++;
    return n;
  }

  /**
   * Records that this change deleted something (an image, a container, a lease, a lease's
   * resource, a blob, a snapshot) whose referents may now be garbage: containerd's "dirty"
   * flag, which makes its GC scheduler plan a collection.
   */
  markDirty(): void {
    this.assertWritable();
    this.dirty = true;
  }

  private assertWritable(): void {
    if (!this.writable) throw new ManagerError('Internal', 'metadata: write in a read-only view');
  }
}

/** Told after every committed update whether it deleted something (Txn.markDirty). */
export type MutationListener = (dirty: boolean) => void;

/** What a garbage collector's scheduler offers callers that must wait for a collection. */
export interface CollectionRequester {
  /** Schedules a collection now and resolves with its result when it has run. */
  scheduleAndWait(): Promise<unknown>;
}

export interface UpdateOptions {
  /** Do not tell the mutation listeners (the garbage collector's own sweep). */
  silent?: boolean;
}

export interface OpenOptions {
  /** The state root; the environment is <root>/meta.lmdb (a file, with meta.lmdb-lock). */
  root: string;
  /** For tests: the migration list and target version (defaults: schema.ts). */
  migrations?: Migration[];
  targetVersion?: number;
  /** Called once per migration that runs, for the daemon's log. */
  onMigrate?: (m: Migration) => void;
}

export class MetadataDB {
  private closed = false;
  private readonly listeners = new Set<MutationListener>();
  private collector: CollectionRequester | undefined;

  private constructor(
    readonly path: string,
    private readonly env: RootDatabase,
  ) {}

  static async open(opts: OpenOptions): Promise<MetadataDB> {
    await fsp.mkdir(opts.root, { recursive: true, mode: 0o711 });
    const file = path.join(opts.root, 'meta.lmdb');
    // noSubdir: meta.lmdb is one file, as ARCHITECTURE.md's table says.
    const env = lmdb.open({ path: file, noSubdir: true, maxDbs: 1 });
    const db = new MetadataDB(file, env);
    try {
      db.migrate(opts.migrations ?? MIGRATIONS, opts.targetVersion ?? SCHEMA_VERSION, opts.onMigrate);
    } catch (err) {
      await env.close();
      throw err;
    }
    return db;
  }

  /** The schema version stored in the database. */
  version(): number {
    const rec = this.env.get(VERSION_KEY) as VersionRecord | undefined;
    return rec?.version ?? 0;
  }

  private migrate(migrations: Migration[], target: number, onMigrate?: (m: Migration) => void): void {
    this.env.transactionSync(() => {
      const rec = this.env.get(VERSION_KEY) as VersionRecord | undefined;
      let version: number;
      if (rec) version = rec.version;
      else {
        let empty = true;
        for (const _ of this.env.getKeys({ limit: 1 })) empty = false;
        version = empty ? target : 0;
      }
      if (version > target) {
        throw failedPrecondition(`metadata ${this.path}: schema version ${version} is newer than this berthd supports (${target})`);
      }
      const txn: MigrationTxn = {
        get: (k) => this.env.get(k),
        put: (k, v) => void this.env.putSync(k, v),
        remove: (k) => void this.env.removeSync(k),
        range: (prefix) => {
          const { start, end } = prefixRange(prefix);
          return [...this.env.getRange({ start, end })].map(({ key, value }) => ({ key, value: value as unknown }));
        },
      };
      while (version < target) {
        const m = migrations.find((x) => x.from === version);
        if (!m || m.to <= m.from || m.to > target) {
          throw failedPrecondition(`metadata ${this.path}: no migration from schema version ${version} to ${target}`);
        }
        m.apply(txn);
        onMigrate?.(m);
        version = m.to;
      }
      if (!rec || rec.version !== version) this.env.putSync(VERSION_KEY, { schema: SCHEMA_NAME, version } satisfies VersionRecord);
    });
  }

  /**
   * Runs `fn` in one write transaction: every write in it commits together or, when it
   * throws, none does (the error is rethrown). `fn` must be synchronous.
   */
  async update<T>(fn: (txn: Txn) => T, opts: UpdateOptions = {}): Promise<T> {
    this.assertOpen();
    const txn = new Txn(this.env, true);
    const out = (await this.env.childTransaction(() => {
      const out = fn(txn);
      if (out instanceof Promise) throw new ManagerError('Internal', 'metadata: update callback must be synchronous');
      return out;
    })) as T;
    if (!opts.silent) {
      for (const l of this.listeners) {
        try {
          l(txn.dirty);
        } catch {
          // the change is committed; a listener's trouble is not the caller's
        }
      }
    }
    return out;
  }

  /**
   * containerd's RegisterMutationCallback: `fn(dirty)` runs after every committed update
   * (synchronously, so it must only take note). Returns the function that unregisters it.
   */
  onMutation(fn: MutationListener): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  /**
   * The garbage collector's scheduler registers here, so that a request asking for a
   * synchronous collection (images.Delete `sync`, leases.Delete `sync`) reaches it through
   * the metadata every service already has. Returns the function that detaches it.
   */
  attachCollector(c: CollectionRequester): () => void {
    this.collector = c;
    return () => {
      if (this.collector === c) this.collector = undefined;
    };
  }

  /**
   * Runs a garbage collection and waits for it (its result: core/gc's GcStats); resolves
   * undefined when no collector is attached (berthd without its GC plugin collects nothing).
   */
  async requestCollection(): Promise<unknown> {
    return this.collector?.scheduleAndWait();
  }

  /** Runs `fn` on one consistent read snapshot. `fn` must be synchronous. */
  view<T>(fn: (txn: Txn) => T): T {
    this.assertOpen();
    const rt = this.env.useReadTransaction();
    try {
      return fn(new Txn(this.env, false, rt));
    } finally {
      rt.done();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.env.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new ManagerError('Internal', `metadata ${this.path}: closed`);
  }
}

/** Copies a labels map, dropping nothing; undefined becomes {}. */
export const copyLabels = (l?: Record<string, string>): Record<string, string> => ({ ...(l ?? {}) });

/**
 * Applies containerd's field-mask rule for a map field named `field` ("labels",
 * "extensions", "annotations"): path `field` replaces the map, `field.<key>` sets or (when
 * the key is absent from `from`) removes one key. Returns undefined when `path` is not
 * about `field`.
 */
export function applyMapPath<V>(path: string, field: string, current: Record<string, V>, from: Record<string, V> | undefined): Record<string, V> | undefined {
  if (path === field) return { ...(from ?? {}) };
  if (path.startsWith(field + '.')) {
    const key = path.slice(field.length + 1);
    const next = { ...current };
    if (from && Object.prototype.hasOwnProperty.call(from, key)) next[key] = from[key] as V;
    else delete next[key];
    return next;
  }
  return undefined;
}
