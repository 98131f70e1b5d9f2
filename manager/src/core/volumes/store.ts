// The volume store: a volume's record in berthd's metadata (namespace → "volumes" → name, one
// LMDB bucket per namespace) and its directory on disk, <root>/volumes/<name>/_data for the
// namespace "default" (Docker's layout; other namespaces under <root>/volumes/_namespaces/<ns>/,
// which no volume name can collide with: names start with a letter or digit).
//
// In use means named by a container's mounts (users.ts), checked in the transaction that
// deletes the record, so `rm` without force and `prune` never take a volume a container was
// created with. One operation at a time per volume (create/prepare/populate/remove), so a
// populate never races a removal of the same directory. A volume Prepare just made for a
// container still being created is not yet named by any container: prune leaves a volume
// Prepare returned alone until a container naming it is created (release(), from the
// /containers/create event) or RESERVE_MS have passed (a create that failed), so `run -v /data`
// and `volume prune` at once cannot collide.

import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { alreadyExists, failedPrecondition, notFound } from '../errors';
import type { MetadataDB } from '../metadata/db';
import { validateLabels, validateNamespace } from '../metadata/identifiers';
import { ensureNamespace } from '../metadata/namespaces';
import { keys, type VolumeRecord } from '../metadata/schema';
import { dirSize, removeTree } from './disk';
import { pruneFilter, listFilter } from './filters';
import { mountVolume, unmountVolume } from './mount';
import { ANONYMOUS_LABEL, LOCAL_DRIVER, isAnonymous, randomVolumeName, validateDriver, validateVolumeName } from './names';
import { needsMount, validateDriverOptions } from './options';
import { copyUp, type PopulateResult } from './populate';
import { volumeUsers } from './users';
import { KeyedQueue } from '../keyed-queue';

export const DEFAULT_NAMESPACE = 'default';
/** How long a volume Prepare returned is kept from prune while its container is being created. */
export const RESERVE_MS = 60_000;

export interface Volume {
  name: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: Date;
  mountpoint: string;
  populated: boolean;
  /** Containers whose mounts name it. */
  usedBy: string[];
}

export interface VolumeInput {
  /** '' for a random name. */
  name: string;
  driver?: string;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

interface Log {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
}

const toVolume = (name: string, r: VolumeRecord, usedBy: string[] = []): Volume => ({
  name,
  driver: r.driver,
  labels: { ...r.labels },
  options: { ...r.options },
  createdAt: new Date(r.createdAt),
  mountpoint: r.mountpoint,
  populated: r.populated,
  usedBy: [...usedBy],
});

const sameOptions = (a: Record<string, string>, b: Record<string, string>): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

export class VolumeStore {
  private readonly lock = new KeyedQueue();
  /** `${ns}/${name}` → until when prune leaves it alone (set by prepare). */
  private readonly reserved = new Map<string, number>();

  constructor(
    private readonly db: MetadataDB,
    /** <root>/volumes */
    readonly root: string,
    private readonly log: Log,
  ) {}

  /** The data directory a volume of `ns` named `name` has. */
  dataDir(ns: string, name: string): string {
    const base = ns === DEFAULT_NAMESPACE ? this.root : join(this.root, '_namespaces', ns);
    return join(base, name, '_data');
  }

  /** Runs fn after every earlier locked call on the same volume has settled. */
  private locked<T>(ns: string, name: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(`${ns}/${name}`, fn);
  }

  get(ns: string, name: string): Volume {
    validateNamespace(ns);
    return this.db.view((txn) => {
      const rec = txn.get<VolumeRecord>(keys.volume(ns, name));
      if (!rec) throw notFound(`get ${name}: no such volume`);
      return toVolume(name, rec, volumeUsers(txn, ns).get(name));
    });
  }

  list(ns: string, filters: string[] = []): Volume[] {
    validateNamespace(ns);
    const match = listFilter(filters);
    return this.db.view((txn) => {
      const users = volumeUsers(txn, ns);
      return txn
        .range<VolumeRecord>(keys.volumes(ns), 1)
        .map(({ key, value }) => toVolume(key[key.length - 1]!, value, users.get(key[key.length - 1]!)))
        .filter((v) => match({ name: v.name, driver: v.driver, labels: v.labels, inUse: v.usedBy.length > 0 }));
    });
  }

  /** Bytes of the files a volume holds. */
  size(v: Pick<Volume, 'mountpoint'>): Promise<number> {
    return dirSize(v.mountpoint);
  }

  /**
   * `volume create`: the existing volume of that name is returned when its driver and options
   * are the ones asked for (or none were given); different options are a conflict.
   */
  create(ns: string, input: VolumeInput): Promise<{ volume: Volume; created: boolean }> {
    return this.ensure(ns, input, { strict: true });
  }

  /**
   * For a container being created: the volume, made when missing (an empty name: a new
   * anonymous one), its filesystem mounted when it has mount options.
   */
  async prepare(ns: string, input: VolumeInput): Promise<{ volume: Volume; created: boolean }> {
    const anonymous = input.name === '';
    const labels = anonymous ? { ...(input.labels ?? {}), [ANONYMOUS_LABEL]: '' } : input.labels;
    const r = await this.ensure(ns, { ...input, labels }, { strict: false, mount: true });
    this.reserved.set(`${ns}/${r.volume.name}`, Date.now() + RESERVE_MS);
    return r;
  }

  private async ensure(ns: string, input: VolumeInput, how: { strict: boolean; mount?: boolean }): Promise<{ volume: Volume; created: boolean }> {
    validateNamespace(ns);
    const name = input.name || randomVolumeName();
    validateVolumeName(name);
    const driver = validateDriver(input.driver ?? '');
    const options = { ...(input.options ?? {}) };
    const labels = { ...(input.labels ?? {}) };
    validateDriverOptions(options);
    validateLabels(labels, `volume ${JSON.stringify(name)}`);
    return this.locked(ns, name, async () => {
      const existing = this.db.view((txn) => txn.get<VolumeRecord>(keys.volume(ns, name)));
      if (existing) {
        if (existing.driver !== driver) throw alreadyExists(`create ${name}: volume ${name} already exists with driver ${existing.driver}`);
        if (how.strict && Object.keys(options).length > 0 && !sameOptions(options, existing.options)) {
          throw alreadyExists(`create ${name}: volume ${name} already exists with different options`);
        }
        if (how.mount && needsMount(existing.options)) await mountVolume(name, existing.options, existing.mountpoint);
        return { volume: this.get(ns, name), created: false };
      }
      const mountpoint = this.dataDir(ns, name);
      await mkdir(this.root, { recursive: true, mode: 0o701 });
      await mkdir(mountpoint, { recursive: true, mode: 0o755 });
      if (how.mount && needsMount(options)) {
        try {
          await mountVolume(name, options, mountpoint);
        } catch (err) {
          await removeTree(dirname(mountpoint)).catch(() => undefined);
          throw err;
        }
      }
      const rec: VolumeRecord = { driver, labels, options, createdAt: Date.now(), mountpoint, populated: false };
      await this.db.update((txn) => {
        ensureNamespace(txn, ns);
        txn.put(keys.volume(ns, name), rec);
      });
      this.log.info({ namespace: ns, volume: name, anonymous: isAnonymous(labels), options: Object.keys(options) }, 'volume created');
      return { volume: toVolume(name, rec), created: true };
    });
  }

  /**
   * Docker's copy-up into a volume that is empty and was never populated; `withImageRoot`
   * runs its callback with the container's new root filesystem mounted. Once a copy was made
   * the volume is never seeded again, even when emptied later (its files are its own then).
   */
  populate(ns: string, name: string, path: string, withImageRoot: <T>(fn: (root: string) => Promise<T>) => Promise<T>): Promise<PopulateResult | 'populated-before'> {
    validateNamespace(ns);
    return this.locked(ns, name, async () => {
      const rec = this.db.view((txn) => txn.get<VolumeRecord>(keys.volume(ns, name)));
      if (!rec) throw notFound(`get ${name}: no such volume`);
      if (rec.populated) return 'populated-before';
      if (needsMount(rec.options)) await mountVolume(name, rec.options, rec.mountpoint);
      const result = await withImageRoot((root) => copyUp(root, path, rec.mountpoint));
      if (result === 'copied') {
        await this.db.update((txn) => {
          const cur = txn.get<VolumeRecord>(keys.volume(ns, name));
          if (cur) txn.put(keys.volume(ns, name), { ...cur, populated: true });
        });
      }
      return result;
    });
  }

  /** Removes a volume: refused while a container uses it, unless `force`. */
  remove(ns: string, name: string, opts: { force?: boolean } = {}): Promise<void> {
    validateNamespace(ns);
    return this.locked(ns, name, async () => {
      const rec = await this.db.update((txn) => {
        const rec = txn.get<VolumeRecord>(keys.volume(ns, name));
        if (!rec) throw notFound(`get ${name}: no such volume`);
        const users = volumeUsers(txn, ns).get(name) ?? [];
        if (users.length > 0 && !opts.force) throw failedPrecondition(`remove ${name}: volume is in use - [${users.join(' ')}]`);
        txn.remove(keys.volume(ns, name));
        return rec;
      });
      await this.destroy(ns, name, rec);
    });
  }

  /**
   * The volumes no container uses, removed: anonymous ones only unless `all`; `filters`
   * (label=, label!=) narrow them. The names removed and the bytes their files held.
   */
  async prune(ns: string, opts: { all?: boolean; filters?: string[] } = {}): Promise<{ deleted: string[]; reclaimed: number }> {
    validateNamespace(ns);
    const match = pruneFilter(opts.filters ?? []);
    const candidates = this.list(ns).filter(
      (v) => v.usedBy.length === 0 && (opts.all || isAnonymous(v.labels)) && !this.isReserved(ns, v.name) && match({ name: v.name, driver: v.driver, labels: v.labels, inUse: false }),
    );
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of candidates) {
      const size = await this.removeIfUnused(ns, v.name);
      if (size === undefined) continue;
      deleted.push(v.name);
      reclaimed += size;
    }
    return { deleted, reclaimed };
  }

  /**
   * `rm -v` and `run --rm`: those of `names` that are anonymous and that no container uses
   * any more are removed (a volume another container still mounts, through --volumes-from,
   * stays, as Docker leaves it). Returns the names removed.
   */
  async removeAnonymous(ns: string, names: string[]): Promise<string[]> {
    const removed: string[] = [];
    for (const name of names) {
      let v: Volume;
      try {
        v = this.get(ns, name);
      } catch {
        continue;
      }
      if (!isAnonymous(v.labels) || v.usedBy.length > 0) continue;
      if ((await this.removeIfUnused(ns, name)) !== undefined) removed.push(name);
    }
    return removed;
  }

  /** Removes the volume if it exists and is unused (checked in the deleting transaction); its size, or undefined when it stayed. */
  private removeIfUnused(ns: string, name: string): Promise<number | undefined> {
    return this.locked(ns, name, async () => {
      const rec = this.db.view((txn) => txn.get<VolumeRecord>(keys.volume(ns, name)));
      if (!rec) return undefined;
      const size = await dirSize(rec.mountpoint);
      const gone = await this.db.update((txn) => {
        if (!txn.has(keys.volume(ns, name)) || (volumeUsers(txn, ns).get(name) ?? []).length > 0) return false;
        txn.remove(keys.volume(ns, name));
        return true;
      });
      if (!gone) return undefined;
      await this.destroy(ns, name, rec);
      return size;
    });
  }

  /** A container naming these volumes now exists (its /containers/create event): prune may judge them by their users again. */
  release(ns: string, names: string[]): void {
    for (const name of names) this.reserved.delete(`${ns}/${name}`);
  }

  private isReserved(ns: string, name: string): boolean {
    const key = `${ns}/${name}`;
    const until = this.reserved.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.reserved.delete(key);
    return false;
  }

  /** The directory of a volume whose record is gone: its filesystem unmounted, then removed. */
  private async destroy(ns: string, name: string, rec: VolumeRecord): Promise<void> {
    this.reserved.delete(`${ns}/${name}`);
    const dir = dirname(rec.mountpoint);
    try {
      await unmountVolume(rec.mountpoint);
      await removeTree(dir);
    } catch (err) {
      this.log.warn({ err, namespace: ns, volume: name, dir }, 'volume removed, but its directory could not be');
      throw failedPrecondition(`remove ${name}: the volume's record is gone, but ${dir} could not be removed: ${(err as Error).message}`);
    }
    this.log.info({ namespace: ns, volume: name }, 'volume removed');
  }

  /**
   * After a restart (a reboot): the filesystems of volumes with mount options that containers
   * use are mounted again, so a container started later (or restarted by its policy) finds
   * its data there, not an empty directory. Failures are logged, not fatal.
   */
  async restoreMounts(): Promise<number> {
    const todo = this.db.view((txn) => {
      const out: { ns: string; name: string; rec: VolumeRecord }[] = [];
      for (const ns of txn.children(keys.namespaces())) {
        if (!txn.has(keys.namespace(ns))) continue;
        const users = volumeUsers(txn, ns);
        for (const { key, value } of txn.range<VolumeRecord>(keys.volumes(ns), 1)) {
          const name = key[key.length - 1]!;
          if (needsMount(value.options) && users.has(name)) out.push({ ns, name, rec: value });
        }
      }
      return out;
    });
    let mounted = 0;
    for (const { ns, name, rec } of todo) {
      try {
        if (await this.locked(ns, name, () => mountVolume(name, rec.options, rec.mountpoint))) mounted++;
      } catch (err) {
        this.log.warn({ err, namespace: ns, volume: name }, 'mounting a volume at start failed');
      }
    }
    return mounted;
  }
}

export { LOCAL_DRIVER };
