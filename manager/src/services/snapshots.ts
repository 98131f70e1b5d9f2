// containerd.services.snapshots.v1.Snapshots: the snapshotters (overlayfs, native) seen per
// namespace, as containerd's metadata snapshotter does it.
//
// A snapshotter (core/snapshots) has one flat key space. Namespaces each get their own: the
// key `k` of namespace `ns` is the backend key `<ns>/<random>/<k>` — unique even when `k` is
// removed and made again while an old backend snapshot of that name is still being deleted —
// and the mapping is recorded in meta.lmdb:
//
//   v1/<ns>/snapshots/<snapshotter>/<key>  → SnapshotRef { backendKey, parent, createdAt }
//
// `parent` is the parent's key in the same namespace (a namespace can only build on its own
// snapshots). Kind, labels and times are the backend's: stat() translates the backend's names
// back. Order of work, so that a failure leaves at worst an unreferenced backend snapshot
// (never a record naming a missing one): check the records, do the backend operation, then
// write the record in one transaction (undoing the backend operation when that fails);
// remove deletes the backend snapshot first, then the record. Mutations of one snapshotter
// (label updates included) run one at a time in-process (core/snapshots' exclusive(), shared
// with garbage collection), so the checks stay true until the record is written and the
// collector never sees a backend snapshot whose record is still to come.
//
// A `containerd-lease` on prepare, view or commit adds the key (or the committed name) to the
// lease as a `snapshots/<snapshotter>` resource, in the record's transaction.

import type * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { SNAPSHOTS, leaseOf, timestamp, type ServiceImpl } from '../api';
import { alreadyExists, failedPrecondition, invalidArgument, isKind, notFound } from '../core/errors';
import { addLeaseResource, ensureNamespace, keys, validateNamespace, type MetadataDB, type SnapshotRef } from '../core/metadata';
import { exclusive, parseFilters, type Info, type Mount, type Snapshotter, type Usage } from '../core/snapshots';
import { emit, maskPaths, requireNamespace, send, serverStream, unary, type Publish } from './content';

export type { SnapshotRef };

function validateKey(key: string, what = 'key'): void {
  if (!key) throw invalidArgument(`snapshot ${what} must not be empty`);
  if (key.includes('\0')) throw invalidArgument(`snapshot ${what} ${JSON.stringify(key)} contains a NUL byte`);
  if (Buffer.byteLength(key) > 1024) throw invalidArgument(`snapshot ${what} longer than 1024 bytes`);
}

/** One snapshotter as namespace `ns` sees it. */
export class NamespacedSnapshotter {
  constructor(
    private readonly parent: NamespacedSnapshotters,
    readonly ns: string,
    readonly name: string,
    private readonly backend: Snapshotter,
  ) {}

  private get db(): MetadataDB {
    return this.parent.db;
  }

  private ref(key: string): SnapshotRef | undefined {
    return this.db.view((txn) => txn.get<SnapshotRef>(keys.snapshot(this.ns, this.name, key)));
  }

  private mustRef(key: string): SnapshotRef {
    const r = this.ref(key);
    if (!r) throw notFound(`snapshot ${JSON.stringify(key)} does not exist`);
    return r;
  }

  private newBackendKey(key: string): string {
    return `${this.ns}/${randomBytes(8).toString('hex')}/${key}`;
  }

  private translate(key: string, ref: SnapshotRef, info: Info): Info {
    return { ...info, name: key, parent: ref.parent };
  }

  async stat(key: string): Promise<Info> {
    const ref = this.mustRef(key);
    return this.translate(key, ref, await this.backend.stat(ref.backendKey));
  }

  update(info: { name: string; labels: Record<string, string> }, fieldpaths: string[]): Promise<Info> {
    // serialized too: labels carry gc references, which the collector reads under the lock
    return this.parent.serialize(this.name, async () => {
      const ref = this.mustRef(info.name);
      return this.translate(info.name, ref, await this.backend.update({ name: ref.backendKey, labels: info.labels }, fieldpaths));
    });
  }

  async usage(key: string): Promise<Usage> {
    return this.backend.usage(this.mustRef(key).backendKey);
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.backend.mounts(this.mustRef(key).backendKey);
  }

  prepare(key: string, parent: string, labels: Record<string, string>, lease = ''): Promise<Mount[]> {
    return this.create('active', key, parent, labels, lease);
  }

  view(key: string, parent: string, labels: Record<string, string>, lease = ''): Promise<Mount[]> {
    return this.create('view', key, parent, labels, lease);
  }

  private create(kind: 'active' | 'view', key: string, parent: string, labels: Record<string, string>, lease: string): Promise<Mount[]> {
    validateKey(key);
    return this.parent.serialize(this.name, async () => {
      if (this.ref(key)) throw alreadyExists(`snapshot ${JSON.stringify(key)} already exists`);
      let parentBackend = '';
      if (parent) {
        const p = this.ref(parent);
        if (!p) throw notFound(`parent snapshot ${JSON.stringify(parent)} does not exist`);
        parentBackend = p.backendKey;
      }
      const backendKey = this.newBackendKey(key);
      const mounts = kind === 'active' ? await this.backend.prepare(backendKey, parentBackend, labels) : await this.backend.view(backendKey, parentBackend, labels);
      try {
        await this.db.update((txn) => {
          ensureNamespace(txn, this.ns);
          txn.put(keys.snapshot(this.ns, this.name, key), { backendKey, parent, createdAt: Date.now() } satisfies SnapshotRef);
          if (lease) addLeaseResource(txn, this.ns, lease, { type: `snapshots/${this.name}`, id: key });
        });
      } catch (err) {
        await this.backend.remove(backendKey).catch(() => undefined);
        throw err;
      }
      return mounts;
    });
  }

  commit(name: string, key: string, labels: Record<string, string>, lease = ''): Promise<void> {
    validateKey(name, 'name');
    validateKey(key);
    return this.parent.serialize(this.name, async () => {
      const ref = this.mustRef(key);
      if (this.ref(name)) throw alreadyExists(`snapshot ${JSON.stringify(name)} already exists`);
      const backendKey = this.newBackendKey(name);
      await this.backend.commit(backendKey, ref.backendKey, labels);
      try {
        await this.db.update((txn) => {
          txn.remove(keys.snapshot(this.ns, this.name, key));
          txn.put(keys.snapshot(this.ns, this.name, name), { backendKey, parent: ref.parent, createdAt: Date.now() } satisfies SnapshotRef);
          if (lease) addLeaseResource(txn, this.ns, lease, { type: `snapshots/${this.name}`, id: name });
        });
      } catch (err) {
        // The active snapshot is gone from the backend; its record would now name nothing.
        await this.backend.remove(backendKey).catch(() => undefined);
        await this.db.update((txn) => txn.remove(keys.snapshot(this.ns, this.name, key))).catch(() => undefined);
        throw err;
      }
    });
  }

  remove(key: string): Promise<void> {
    return this.parent.serialize(this.name, async () => {
      const ref = this.mustRef(key);
      const hasChild = this.db.view((txn) => txn.range<SnapshotRef>(keys.snapshots(this.ns, this.name), 1).some((e) => e.value.parent === key));
      if (hasChild) throw failedPrecondition(`cannot remove snapshot ${JSON.stringify(key)}: it has children`);
      try {
        await this.backend.remove(ref.backendKey);
      } catch (err) {
        if (!isKind(err, 'NotFound')) throw err;
      }
      await this.db.update((txn) => {
        txn.remove(keys.snapshot(this.ns, this.name, key));
        txn.markDirty();
      });
    });
  }

  /** Every snapshot of this namespace matching any filter (none: all), in key order. */
  async walk(fn: (info: Info) => void | Promise<void>, filters: string[] = []): Promise<void> {
    const match = parseFilters(filters);
    const refs = this.db.view((txn) => txn.range<SnapshotRef>(keys.snapshots(this.ns, this.name), 1));
    for (const { key, value } of refs) {
      let info: Info;
      try {
        info = this.translate(key[key.length - 1] as string, value, await this.backend.stat(value.backendKey));
      } catch (err) {
        if (isKind(err, 'NotFound')) continue; // removed meanwhile
        throw err;
      }
      if (match(info)) await fn(info);
    }
  }
}

/** The loaded snapshotters by name, each seen per namespace. */
export class NamespacedSnapshotters {
  constructor(
    readonly db: MetadataDB,
    private readonly backends: ReadonlyMap<string, Snapshotter>,
  ) {}

  names(): string[] {
    return [...this.backends.keys()];
  }

  /** Snapshotter `name` for namespace `ns`; InvalidArgument when it is not loaded. */
  get(ns: string, name: string): NamespacedSnapshotter {
    validateNamespace(ns);
    const b = this.backends.get(name);
    if (!b) throw invalidArgument(`snapshotter not loaded: ${JSON.stringify(name)} (loaded: ${this.names().join(', ') || 'none'})`);
    return new NamespacedSnapshotter(this, ns, name, b);
  }

  /** Runs fn after every earlier mutation of the same snapshotter (and GC sweep of it) has settled. */
  serialize<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const b = this.backends.get(name);
    if (!b) return Promise.reject(invalidArgument(`snapshotter not loaded: ${JSON.stringify(name)}`));
    return exclusive(b, fn);
  }
}

// ---- the gRPC adapter ----

export interface SnapshotsServiceDeps {
  snapshotters: NamespacedSnapshotters;
  publish?: Publish;
  log?: { warn(o: object, m: string): void };
}

const KIND = { view: 'VIEW', active: 'ACTIVE', committed: 'COMMITTED' } as const;

const infoToProto = (i: Info) => ({
  name: i.name,
  parent: i.parent,
  kind: KIND[i.kind],
  labels: i.labels,
  createdAt: timestamp(i.created),
  updatedAt: timestamp(i.updated),
});

const mountsToProto = (ms: Mount[]) => ms.map((m) => ({ type: m.type, source: m.source, target: m.target ?? '', options: m.options }));

const LIST_BATCH = 100;

export function snapshotsService(deps: SnapshotsServiceDeps): ServiceImpl<typeof SNAPSHOTS> {
  const sn = (call: { metadata: grpc.Metadata }, name: string) => deps.snapshotters.get(requireNamespace(call), name);
  const ev = (call: { metadata: grpc.Metadata }, topic: string, type: string, msg: object) =>
    emit(deps.publish, deps.log, requireNamespace(call), topic, type, msg);
  return {
    Prepare: unary(async (call) => {
      const r = call.request;
      const mounts = await sn(call, r.snapshotter).prepare(r.key, r.parent, r.labels, leaseOf(call));
      ev(call, '/snapshot/prepare', 'containerd.events.SnapshotPrepare', { key: r.key, parent: r.parent });
      return { mounts: mountsToProto(mounts) };
    }),

    View: unary(async (call) => {
      const r = call.request;
      return { mounts: mountsToProto(await sn(call, r.snapshotter).view(r.key, r.parent, r.labels, leaseOf(call))) };
    }),

    Mounts: unary(async (call) => ({ mounts: mountsToProto(await sn(call, call.request.snapshotter).mounts(call.request.key)) })),

    Commit: unary(async (call) => {
      const r = call.request;
      await sn(call, r.snapshotter).commit(r.name, r.key, r.labels, leaseOf(call));
      ev(call, '/snapshot/commit', 'containerd.events.SnapshotCommit', { key: r.key, name: r.name });
      return {};
    }),

    Remove: unary(async (call) => {
      await sn(call, call.request.snapshotter).remove(call.request.key);
      ev(call, '/snapshot/remove', 'containerd.events.SnapshotRemove', { key: call.request.key });
      return {};
    }),

    Stat: unary(async (call) => ({ info: infoToProto(await sn(call, call.request.snapshotter).stat(call.request.key)) })),

    Update: unary(async (call) => {
      const info = call.request.info;
      if (!info) throw invalidArgument('info must be set');
      const updated = await sn(call, call.request.snapshotter).update({ name: info.name, labels: info.labels }, maskPaths(call.request.updateMask));
      return { info: infoToProto(updated) };
    }),

    List: serverStream(async (call) => {
      let batch: Info[] = [];
      await sn(call, call.request.snapshotter).walk(async (info) => {
        batch.push(info);
        if (batch.length >= LIST_BATCH) {
          await send(call, { info: batch.map(infoToProto) });
          batch = [];
        }
      }, call.request.filters);
      if (batch.length) await send(call, { info: batch.map(infoToProto) });
    }),

    Usage: unary(async (call) => {
      const u = await sn(call, call.request.snapshotter).usage(call.request.key);
      return { size: u.size, inodes: u.inodes };
    }),

    // Nothing to reclaim yet: removal is immediate, and each backend removes its orphans at open.
    Cleanup: unary(async (call) => {
      sn(call, call.request.snapshotter);
      return {};
    }),
  };
}
