// What overlay.ts and native.ts share: the metadata store, the directory layout and the crash
// ordering. A subclass says only how a new snapshot directory is filled (populate) and what
// a snapshot's mounts are (mountsFor).
//
// Layout under a snapshotter's root:
//   <root>/metadata.lmdb            the store (store.ts)
//   <root>/snapshots/<id>/fs        the snapshot's files (overlay: its upper dir)
//   <root>/snapshots/<id>/work      overlay's work dir (overlay only)
//
// Crash safety — "build under a temp name, rename, then record; clean orphans at open":
//   create:  1. allocate an id (its own transaction; an id lost to a crash is never reused)
//            2. build <root>/snapshots/new-<id>/ (mkdir, or the copy of the parent for native)
//            3. rename it to <root>/snapshots/<id>
//            4. one transaction records the snapshot (re-checking key and parent)
//   remove:  1. one transaction deletes the record (refused while children exist)
//            2. rename <id> to rm-<id>, then delete it
//   commit:  measure usage, then one transaction; no filesystem change (the id, so the
//            directory, stays the same)
// A crash at any point leaves either a complete, recorded snapshot or a directory that no
// record names (new-*, rm-*, or an unrecorded <id>). open() removes every entry of
// <root>/snapshots that is not a recorded id, so no record ever points at a missing or
// half-built directory. This assumes one snapshotter process per root (as containerd).

import { chmod, chown, mkdir, readdir, rename, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { failedPrecondition, invalidArgument } from '../errors';
import { diskUsage, isErrno, removeAll } from './fsutil';
import { MetaStore, toInfo, validateKey, validateLabels } from './store';
import { Kind, type Info, type Mount, type Snapshotter, type Usage, type WalkFunc } from './types';
import { parseFilters } from './filter';

export abstract class DirSnapshotter implements Snapshotter {
  protected constructor(
    readonly root: string,
    protected readonly store: MetaStore,
  ) {}

  /** Create the root and open (or create) the store. The subclass's open() then calls cleanup(). */
  protected static async openStore(root: string): Promise<MetaStore> {
    if (!path.isAbsolute(root)) throw invalidArgument(`snapshotter root ${JSON.stringify(root)} is not absolute`);
    await mkdir(path.join(root, 'snapshots'), { recursive: true, mode: 0o700 });
    await chmod(root, 0o700);
    return MetaStore.open(path.join(root, 'metadata.lmdb'));
  }

  protected snapshotsDir(): string {
    return path.join(this.root, 'snapshots');
  }
  protected dir(id: number): string {
    return path.join(this.root, 'snapshots', String(id));
  }
  protected fsPath(id: number): string {
    return path.join(this.dir(id), 'fs');
  }
  protected workPath(id: number): string {
    return path.join(this.dir(id), 'work');
  }

  /** Fill the new snapshot's directory `dir` (it exists, empty); parentIds nearest first. */
  protected abstract populate(dir: string, kind: Kind, parentIds: number[]): Promise<void>;

  /** The mounts of an active or view snapshot. */
  protected abstract mountsFor(id: number, kind: Kind, parentIds: number[]): Mount[];

  /**
   * Remove every entry of <root>/snapshots that no record names: the leftovers of a crash
   * (see the top of this file). Called by open(); safe whenever no create is in flight.
   */
  async cleanup(): Promise<string[]> {
    const ids = this.store.ids();
    const removed: string[] = [];
    for (const name of await readdir(this.snapshotsDir())) {
      if (/^[1-9][0-9]*$/.test(name) && ids.has(Number(name))) continue;
      await removeAll(path.join(this.snapshotsDir(), name));
      removed.push(name);
    }
    return removed;
  }

  async stat(key: string): Promise<Info> {
    return toInfo(key, this.store.mustGet(key));
  }

  async update(info: Pick<Info, 'name' | 'labels'> & Partial<Info>, fieldpaths: string[] = []): Promise<Info> {
    return this.store.update(info.name, info.labels, fieldpaths);
  }

  async usage(key: string): Promise<Usage> {
    const r = this.store.mustGet(key);
    if (r.kind === Kind.Committed) return { size: r.size ?? 0, inodes: r.inodes ?? 0 };
    return diskUsage(this.fsPath(r.id));
  }

  async mounts(key: string): Promise<Mount[]> {
    const r = this.store.mustGet(key);
    if (r.kind === Kind.Committed) {
      throw failedPrecondition(`snapshot ${JSON.stringify(key)} is committed: only active and view snapshots have mounts`);
    }
    return this.mountsFor(r.id, r.kind, this.store.parentIds(r.parent));
  }

  prepare(key: string, parent = '', labels?: Record<string, string>): Promise<Mount[]> {
    return this.create(Kind.Active, key, parent, labels);
  }

  view(key: string, parent = '', labels?: Record<string, string>): Promise<Mount[]> {
    return this.create(Kind.View, key, parent, labels);
  }

  private async create(kind: Kind, key: string, parent: string, labels?: Record<string, string>): Promise<Mount[]> {
    validateKey(key);
    const l = validateLabels(labels);
    // fail early, before any filesystem work; the transaction checks again
    this.store.checkCreate(key, parent);
    const parentIds = this.store.parentIds(parent);

    const id = await this.store.allocateId();
    const tmp = path.join(this.snapshotsDir(), `new-${id}`);
    try {
      await mkdir(tmp, { mode: 0o700 });
      await this.populate(tmp, kind, parentIds);
      await rename(tmp, this.dir(id));
    } catch (err) {
      await removeAll(tmp);
      throw err;
    }
    let recordedParents: number[];
    try {
      recordedParents = await this.store.create(kind, key, parent, l, id);
    } catch (err) {
      await removeAll(this.dir(id));
      throw err;
    }
    return this.mountsFor(id, kind, recordedParents);
  }

  async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    validateKey(name, 'name');
    const l = validateLabels(labels);
    const r = this.store.checkCommit(key, name);
    const usage = await diskUsage(this.fsPath(r.id));
    await this.store.commit(key, name, usage, l);
  }

  async remove(key: string): Promise<void> {
    const r = await this.store.remove(key);
    // The record is gone, so the snapshot no longer exists whatever happens below: a
    // directory left behind by a failure here is an orphan that the next open() removes.
    const trash = path.join(this.snapshotsDir(), `rm-${r.id}`);
    try {
      await rename(this.dir(r.id), trash);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      await removeAll(this.dir(r.id)).catch(() => undefined);
      return;
    }
    await removeAll(trash).catch(() => undefined);
  }

  async walk(fn: WalkFunc, filters: string[] = []): Promise<void> {
    const match = parseFilters(filters);
    for (const [name, r] of this.store.list()) {
      const info = toInfo(name, r);
      if (match(info)) await fn(info);
    }
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

/** Give `dir` the owner and permission bits of `from` (a new upper dir takes its parent's root's). */
export async function copyDirAttrs(from: string, dir: string): Promise<void> {
  const st = await stat(from);
  await chown(dir, st.uid, st.gid);
  await chmod(dir, st.mode & 0o7777);
}
