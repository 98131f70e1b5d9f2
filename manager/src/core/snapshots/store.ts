// The metadata of one snapshotter: a small LMDB environment of its own at <root>/metadata.lmdb
// (a file plus its -lock file). Schema version 1:
//
//   metadata.lmdb
//   ├── db "meta"
//   │   ├── "version" → 1
//   │   └── "nextId"  → the last numeric id handed out (ids are never reused)
//   ├── db "snapshots"                    one record per key (active, view) or name (committed)
//   │   └── <key> → { id, kind, parent, labels, created, updated, size?, inodes? }
//   │                 created/updated: ms since the epoch; size/inodes: usage recorded at commit
//   └── db "children"                     the parent index, so remove() need not scan
//       └── "<parent>\0<child key>" → child id
//
// Every change to one snapshot (create, commit, update, remove) is one LMDB transaction (an
// abortable child transaction: a throw inside leaves nothing written). The record's id names
// the snapshot's directory <root>/snapshots/<id>; the filesystem side is the caller's
// (snapshotter.ts), which orders its work so that a crash leaves at worst an orphan directory.
//
// Migrations: version 1 is the first; open() refuses a newer version it does not know.

import { open, type Database, type RootDatabase } from 'lmdb';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../errors';
import { Kind, type Info, type Usage } from './types';

export const SCHEMA_VERSION = 1;

interface Meta {
  version?: number;
  nextId?: number;
}

export interface SnapshotRecord {
  id: number;
  kind: Kind;
  parent: string;
  labels: Record<string, string>;
  created: number;
  updated: number;
  size?: number;
  inodes?: number;
}

/** containerd's limit on one label (key plus value). */
const MAX_LABEL_SIZE = 4096;

export function validateLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (typeof v !== 'string') throw invalidArgument(`label ${JSON.stringify(k)}: value is not a string`);
    const size = Buffer.byteLength(k) + Buffer.byteLength(v);
    if (size > MAX_LABEL_SIZE) {
      throw invalidArgument(`label ${JSON.stringify(k)}: key and value are ${size} bytes, more than ${MAX_LABEL_SIZE}`);
    }
    if (k === '') throw invalidArgument('label with an empty key');
    out[k] = v;
  }
  return out;
}

export function validateKey(key: string, what = 'key'): void {
  if (typeof key !== 'string' || key === '') throw invalidArgument(`snapshot ${what} is empty`);
  if (key.includes('\0')) throw invalidArgument(`snapshot ${what} ${JSON.stringify(key)} contains a NUL byte`);
}

const childKey = (parent: string, child: string) => `${parent}\0${child}`;

export function toInfo(name: string, r: SnapshotRecord): Info {
  return {
    name,
    parent: r.parent,
    kind: r.kind,
    labels: { ...r.labels },
    created: new Date(r.created),
    updated: new Date(r.updated),
  };
}

export class MetaStore {
  private closed = false;

  private constructor(
    private readonly env: RootDatabase,
    private readonly meta: Database<any, string>,
    private readonly snaps: Database<SnapshotRecord, string>,
    private readonly children: Database<number, string>,
  ) {}

  static async open(path: string): Promise<MetaStore> {
    const env = open({ path, noSubdir: true, maxDbs: 8 } as any) as RootDatabase;
    const store = new MetaStore(
      env,
      env.openDB<any, string>({ name: 'meta' }),
      env.openDB<SnapshotRecord, string>({ name: 'snapshots' }),
      env.openDB<number, string>({ name: 'children' }),
    );
    try {
      await env.childTransaction(() => {
        const version = store.meta.get('version') as Meta['version'];
        if (version === undefined) {
          store.meta.put('version', SCHEMA_VERSION);
          store.meta.put('nextId', 0);
        } else if (version > SCHEMA_VERSION) {
          throw failedPrecondition(`${path}: snapshot metadata schema version ${version} is newer than ${SCHEMA_VERSION}`);
        }
      });
    } catch (err) {
      await env.close();
      throw err;
    }
    return store;
  }

  private live(): void {
    if (this.closed) throw failedPrecondition('snapshotter is closed');
  }

  get(key: string): SnapshotRecord | undefined {
    this.live();
    return this.snaps.get(key);
  }

  mustGet(key: string): SnapshotRecord {
    const r = this.get(key);
    if (!r) throw notFound(`snapshot ${JSON.stringify(key)} does not exist`);
    return r;
  }

  /** The ids of the parent chain, nearest parent first. */
  parentIds(parent: string): number[] {
    const ids: number[] = [];
    const seen = new Set<string>();
    for (let p = parent; p !== ''; ) {
      if (seen.has(p)) throw failedPrecondition(`snapshot parent chain loops at ${JSON.stringify(p)}`);
      seen.add(p);
      const r = this.snaps.get(p);
      if (!r) throw notFound(`parent ${JSON.stringify(p)} does not exist`);
      ids.push(r.id);
      p = r.parent;
    }
    return ids;
  }

  /**
   * The checks create() makes, without writing: lets the snapshotter fail before doing any
   * filesystem work. create() repeats them inside its transaction.
   */
  checkCreate(key: string, parent: string): void {
    this.live();
    if (parent !== '') {
      const p = this.snaps.get(parent);
      if (!p) throw notFound(`parent snapshot ${JSON.stringify(parent)} does not exist`);
      if (p.kind !== Kind.Committed) throw invalidArgument(`parent ${JSON.stringify(parent)} is not a committed snapshot`);
    }
    if (this.snaps.get(key) !== undefined) throw alreadyExists(`snapshot ${JSON.stringify(key)} already exists`);
  }

  async allocateId(): Promise<number> {
    this.live();
    return this.env.childTransaction(() => {
      const id = ((this.meta.get('nextId') as number | undefined) ?? 0) + 1;
      this.meta.put('nextId', id);
      return id;
    });
  }

  /** Record a new active or view snapshot with an id from allocateId(). Returns the parent ids. */
  async create(kind: Kind, key: string, parent: string, labels: Record<string, string>, id: number): Promise<number[]> {
    this.live();
    return this.env.childTransaction(() => {
      this.checkCreate(key, parent);
      const now = Date.now();
      this.snaps.put(key, { id, kind, parent, labels, created: now, updated: now });
      if (parent !== '') this.children.put(childKey(parent, key), id);
      return this.parentIds(parent);
    });
  }

  /** The checks commit() makes, in containerd's order; returns the active snapshot's record. */
  checkCommit(key: string, name: string): SnapshotRecord {
    this.live();
    if (this.snaps.get(name) !== undefined) throw alreadyExists(`committed snapshot ${JSON.stringify(name)} already exists`);
    const r = this.snaps.get(key);
    if (!r) throw notFound(`active snapshot ${JSON.stringify(key)} does not exist`);
    if (r.kind !== Kind.Active) throw failedPrecondition(`snapshot ${JSON.stringify(key)} is not active (it is ${r.kind})`);
    return r;
  }

  /** active `key` → committed `name`, same id, labels replaced, usage recorded. */
  async commit(key: string, name: string, usage: Usage, labels: Record<string, string>): Promise<void> {
    this.live();
    await this.env.childTransaction(() => {
      const r = this.checkCommit(key, name);
      const now = Date.now();
      this.snaps.remove(key);
      this.snaps.put(name, {
        id: r.id,
        kind: Kind.Committed,
        parent: r.parent,
        labels,
        created: now,
        updated: now,
        size: usage.size,
        inodes: usage.inodes,
      });
      if (r.parent !== '') {
        // an active snapshot cannot have children (only committed ones are parents), so only
        // its own link in the parent's index is renamed
        this.children.remove(childKey(r.parent, key));
        this.children.put(childKey(r.parent, name), r.id);
      }
    });
  }

  async update(name: string, labels: Record<string, string> | undefined, fieldpaths: readonly string[]): Promise<Info> {
    this.live();
    return this.env.childTransaction(() => {
      const r = this.snaps.get(name);
      if (!r) throw notFound(`snapshot ${JSON.stringify(name)} does not exist`);
      let next: Record<string, string> = { ...r.labels };
      const given = labels ?? {};
      if (fieldpaths.length === 0) {
        next = { ...given };
      } else {
        for (const path of fieldpaths) {
          if (path.startsWith('labels.')) {
            const k = path.slice('labels.'.length);
            next[k] = given[k] ?? '';
          } else if (path === 'labels') {
            next = { ...given };
          } else {
            throw invalidArgument(`cannot update ${JSON.stringify(path)} field on snapshot ${JSON.stringify(name)}`);
          }
        }
      }
      const updated: SnapshotRecord = { ...r, labels: validateLabels(next), updated: Date.now() };
      this.snaps.put(name, updated);
      return toInfo(name, updated);
    });
  }

  /** Delete the record; refused while children exist. Returns what was removed. */
  async remove(key: string): Promise<SnapshotRecord> {
    this.live();
    return this.env.childTransaction(() => {
      const r = this.snaps.get(key);
      if (!r) throw notFound(`snapshot ${JSON.stringify(key)} does not exist`);
      if (this.hasChildren(key)) throw failedPrecondition(`cannot remove snapshot ${JSON.stringify(key)}: it has children`);
      this.snaps.remove(key);
      if (r.parent !== '') this.children.remove(childKey(r.parent, key));
      return r;
    });
  }

  hasChildren(key: string): boolean {
    for (const _ of this.children.getKeys({ start: `${key}\0`, end: `${key}\u0001`, limit: 1 })) return true;
    return false;
  }

  /** A consistent copy of every record (one read transaction). */
  list(): Array<[string, SnapshotRecord]> {
    this.live();
    const out: Array<[string, SnapshotRecord]> = [];
    for (const { key, value } of this.snaps.getRange({})) out.push([key, value]);
    return out;
  }

  ids(): Set<number> {
    return new Set(this.list().map(([, r]) => r.id));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.env.close();
  }
}
