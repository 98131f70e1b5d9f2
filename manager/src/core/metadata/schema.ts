// The metadata schema: what is stored in <root>/meta.lmdb, and how it moves between versions.
//
// One LMDB environment, one (root) database, no named sub-databases: every key is an array
// of strings encoded by lmdb-js's ordered-binary key encoding, so a key is a path through
// the tree below and a prefix of a key is a subtree (read with a range scan). A single
// database keeps every multi-record change in one LMDB transaction, whatever part of the
// tree it touches. Values are msgpack (lmdb-js's default) holding only plain objects,
// strings and numbers: times are epoch milliseconds and bytes are base64 strings, because
// msgpack's Date and binary extensions depend on instanceof checks that break across JS
// realms (a Date made in a jest VM context came back as an ISO string).
//
//   "version"                                     → { schema: "v1", version: 1 }
//   "v1"
//   └── <namespace>                               → NamespaceRecord   { labels, createdAt }      (times: epoch ms)
//       ├── "images"
//       │   └── <name>                            → ImageRecord       { target, labels, createdAt, updatedAt }
//       ├── "containers"
//       │   └── <id>                              → ContainerRecord   { labels, image, runtime, spec, snapshotter,
//       │                                                               snapshotKey, extensions, createdAt, updatedAt }
//       ├── "content"
//       │   ├── "blob"
//       │   │   └── <digest>                      → BlobRecord        { size, labels, createdAt, updatedAt }
//       │   └── "ingests"
//       │       └── <ref>                         → IngestRecord      { backendRef, expected?, total?, startedAt, expiresAt? }
//       ├── "leases"
//       │   └── <id>                              → LeaseRecord       { labels, createdAt }
//       │       └── <resource type>               "content" | "ingests" | "snapshots/<snapshotter>"
//       │           └── <resource id>             → {}                (digest, ingest ref, snapshot key)
//       ├── "snapshots"                           written by the snapshots service, swept by core/gc
//       │   └── <snapshotter>
//       │       └── <key>                         → SnapshotRef       { backendKey, parent, createdAt }
//       ├── "networks" / <name>                   (later, berth v1 service)
//       └── "volumes"                             core/volumes (berth.volumes.v1)
//           └── <name>                            → VolumeRecord      { driver, labels, options, createdAt, mountpoint, populated }
//
// Rules every store follows:
// - every key of a namespace's objects starts with ["v1", <namespace>]; namespaces are
//   validated (identifiers.ts) before a key is built, so a name cannot escape its subtree;
// - creating an object in a namespace creates the namespace record if it is missing
//   (containerd does the same); deleting a namespace is refused while it has any child key;
// - each change that touches more than one key runs in one MetadataDB.update() transaction;
// - a change that may leave something unreferenced (a delete) calls txn.markDirty(), which
//   tells the garbage collector's scheduler (core/gc) through MetadataDB.onMutation().
//
// Garbage collection (core/gc) reads this whole tree in one write transaction: images,
// containers, leases and containerd.io/gc.* labels are its roots and references; an
// unleased ingest is kept until its `expiresAt` (set 24 h ahead each time a writer opens it,
// as containerd 1.6 does; a record without it lives only as long as a lease holds it).
//
// Versions: SCHEMA_VERSION is what this code writes. At open, a database with a lower
// version is migrated by the MIGRATIONS whose `from` chain leads to SCHEMA_VERSION, all in
// one write transaction (a failing migration leaves the database as it was). A database
// with data but no "version" key is version 0; an empty one is stamped with SCHEMA_VERSION.
// A database newer than the code is refused. Version 1 is the first release, so MIGRATIONS
// is empty; add `{ from: 1, to: 2, ... }` here when the tree above changes, and update the
// tree in the same commit.

import type { Key } from 'lmdb';

export const SCHEMA_NAME = 'v1';
export const SCHEMA_VERSION = 1;
export const VERSION_KEY = 'version';

export interface VersionRecord {
  schema: string;
  version: number;
}

/** What a migration sees: the write transaction, with raw keys. */
export interface MigrationTxn {
  get(key: Key): unknown;
  put(key: Key, value: unknown): void;
  remove(key: Key): void;
  /** Every entry whose key starts with `prefix` (an array of key parts). */
  range(prefix: string[]): Iterable<{ key: Key; value: unknown }>;
}

export interface Migration {
  from: number;
  to: number;
  /** What changes, for the log line written when it runs. */
  description: string;
  /** Synchronous: runs inside the write transaction. Throwing aborts every migration. */
  apply(txn: MigrationTxn): void;
}

export const MIGRATIONS: Migration[] = [];

// Key builders: the only place key paths are spelled out.
export const keys = {
  namespaces: (): string[] => [SCHEMA_NAME],
  namespace: (ns: string): string[] => [SCHEMA_NAME, ns],
  images: (ns: string): string[] => [SCHEMA_NAME, ns, 'images'],
  image: (ns: string, name: string): string[] => [SCHEMA_NAME, ns, 'images', name],
  containers: (ns: string): string[] => [SCHEMA_NAME, ns, 'containers'],
  container: (ns: string, id: string): string[] => [SCHEMA_NAME, ns, 'containers', id],
  blobs: (ns: string): string[] => [SCHEMA_NAME, ns, 'content', 'blob'],
  blob: (ns: string, digest: string): string[] => [SCHEMA_NAME, ns, 'content', 'blob', digest],
  ingests: (ns: string): string[] => [SCHEMA_NAME, ns, 'content', 'ingests'],
  ingest: (ns: string, ref: string): string[] => [SCHEMA_NAME, ns, 'content', 'ingests', ref],
  leases: (ns: string): string[] => [SCHEMA_NAME, ns, 'leases'],
  lease: (ns: string, id: string): string[] => [SCHEMA_NAME, ns, 'leases', id],
  leaseResources: (ns: string, id: string): string[] => [SCHEMA_NAME, ns, 'leases', id],
  leaseResource: (ns: string, id: string, type: string, rid: string): string[] => [SCHEMA_NAME, ns, 'leases', id, type, rid],
  snapshotters: (ns: string): string[] => [SCHEMA_NAME, ns, 'snapshots'],
  snapshots: (ns: string, snapshotter: string): string[] => [SCHEMA_NAME, ns, 'snapshots', snapshotter],
  snapshot: (ns: string, snapshotter: string, key: string): string[] => [SCHEMA_NAME, ns, 'snapshots', snapshotter, key],
  networks: (ns: string): string[] => [SCHEMA_NAME, ns, 'networks'],
  volumes: (ns: string): string[] => [SCHEMA_NAME, ns, 'volumes'],
  volume: (ns: string, name: string): string[] => [SCHEMA_NAME, ns, 'volumes', name],
};

/** The kinds a namespace can hold, as named in "namespace must be empty" errors. */
export const NAMESPACE_CHILDREN: Record<string, string> = {
  images: 'images',
  containers: 'containers',
  content: 'content',
  leases: 'leases',
  snapshots: 'snapshots',
  networks: 'networks',
  volumes: 'volumes',
};

/** Milliseconds since the epoch. */
export type Millis = number;

export interface NamespaceRecord {
  labels: Record<string, string>;
  createdAt: Millis;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ImageRecord {
  target: Descriptor;
  labels: Record<string, string>;
  createdAt: Millis;
  updatedAt: Millis;
}

/** A protobuf Any: kept as the bytes the client sent. */
export interface AnyValue {
  typeUrl: string;
  value: Uint8Array;
}

/** An Any as stored: the bytes base64-encoded. */
export interface StoredAny {
  typeUrl: string;
  value: string;
}

export interface ContainerRecord {
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options?: StoredAny };
  spec: StoredAny;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, StoredAny>;
  createdAt: Millis;
  updatedAt: Millis;
}

export interface BlobRecord {
  size: number;
  labels: Record<string, string>;
  createdAt: Millis;
  updatedAt: Millis;
}

export interface IngestRecord {
  /** The ref of the ingest in the shared content store. */
  backendRef: string;
  expected?: string;
  total?: number;
  startedAt: Millis;
  /** Unleased ingests only: garbage collection keeps the ingest until then. */
  expiresAt?: Millis;
}

export interface LeaseRecord {
  labels: Record<string, string>;
  createdAt: Millis;
}

/**
 * A namespace's snapshot: its key in the namespace maps to `backendKey` in the snapshotter
 * (services/snapshots.ts). `parent` is the parent's key in the same namespace ('' for none).
 * Kind and labels live in the snapshotter's own store.
 */
export interface SnapshotRef {
  backendKey: string;
  parent: string;
  createdAt: Millis;
}

/**
 * A volume (core/volumes): its data is the directory `mountpoint` (on which berthd mounts a
 * filesystem when `options` has type/device/o). `populated`: the image's files were copied in
 * once (Docker's copy-up); it is never seeded again.
 */
export interface VolumeRecord {
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: Millis;
  mountpoint: string;
  populated: boolean;
}
