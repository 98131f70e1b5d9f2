// The Snapshotter interface: containerd's model of filesystem layers.
//
// A snapshot is a directory of changes on top of an optional committed parent. Three kinds:
//   active    — writable; made by prepare(); turned into a committed snapshot by commit()
//   view      — read-only; made by view(); can never be committed
//   committed — immutable; the only kind that may be a parent
// Keys (active, view) and names (committed) share one namespace per snapshotter. A caller
// gets the filesystem by mounting the Mount list that prepare(), view() or mounts() return;
// the snapshotter itself never mounts anything a caller uses.
//
// Errors (manager/src/core/errors.ts), as containerd returns them:
//   NotFound            the key, the commit source or the parent does not exist
//   AlreadyExists       the key or commit name is taken
//   InvalidArgument     parent is not committed; bad filter; bad label; update of a field other than labels
//   FailedPrecondition  commit of a non-active snapshot; remove of a snapshot that has children;
//                       mounts() of a committed snapshot; any call after close()

export const Kind = {
  View: 'view',
  Active: 'active',
  Committed: 'committed',
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export interface Info {
  /** the key of an active or view snapshot, the name of a committed one */
  name: string;
  /** the name of the committed parent, '' when there is none */
  parent: string;
  kind: Kind;
  labels: Record<string, string>;
  created: Date;
  updated: Date;
}

/** Disk usage: bytes of allocated blocks (hard links counted once) and distinct inodes. */
export interface Usage {
  size: number;
  inodes: number;
}

/** One mount(2) call: the shape of containerd's mount.Mount (types/mount.proto). */
export interface Mount {
  /** filesystem type: 'overlay', 'bind' */
  type: string;
  source: string;
  /** a path under the mount point; '' or absent for the mount point itself */
  target?: string;
  /** mount options as mount(8) takes them after -o */
  options: string[];
}

/** Called once per snapshot by walk(); throwing (or rejecting) stops the walk and propagates. */
export type WalkFunc = (info: Info) => void | Promise<void>;

export interface Snapshotter {
  /** Information about a snapshot of any kind. NotFound. */
  stat(key: string): Promise<Info>;

  /**
   * Change the mutable fields of a snapshot: only labels. With no fieldpaths the labels are
   * replaced by info.labels; 'labels' does the same; 'labels.<k>' sets just that label (to ''
   * when info.labels lacks it). Any other fieldpath is InvalidArgument. Returns the new info.
   */
  update(info: Pick<Info, 'name' | 'labels'> & Partial<Info>, fieldpaths?: string[]): Promise<Info>;

  /**
   * Disk usage of the snapshot's own layer (what it adds over its parents). Committed
   * snapshots report the figure recorded at commit; active and view snapshots are measured now.
   */
  usage(key: string): Promise<Usage>;

  /** The mounts for an active or view snapshot. NotFound; FailedPrecondition for a committed one. */
  mounts(key: string): Promise<Mount[]>;

  /** Create an active (writable) snapshot on top of the committed parent ('' or absent for none). */
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;

  /** Create a view (read-only) snapshot of the committed parent. */
  view(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;

  /**
   * Turn the active snapshot `key` into the committed snapshot `name`; `key` is gone afterwards.
   * The committed snapshot's labels are `labels` (the active's are not inherited). Usage is
   * measured and recorded. The caller must have unmounted the active snapshot.
   */
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;

  /** Remove a snapshot of any kind and its files. FailedPrecondition when it has children. */
  remove(key: string): Promise<void>;

  /**
   * Call fn for every snapshot matching any of the filters (containerd filter syntax:
   * `kind==committed,labels."k"==v`; fields name, parent, kind, labels.<k>). No filters: all.
   */
  walk(fn: WalkFunc, filters?: string[]): Promise<void>;

  /** Release the metadata store. Idempotent; every other call fails afterwards. */
  close(): Promise<void>;
}
