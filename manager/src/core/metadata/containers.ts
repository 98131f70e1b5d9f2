// Containers: the metadata of a container (not its running state, which tasks own).

import { alreadyExists, invalidArgument, notFound } from '../errors';
import { MetadataDB, applyMapPath, copyLabels, type Txn } from './db';
import { Adaptor, labelField, parseFilters } from './filters';
import { validateIdentifier, validateKeyPart, validateLabels, validateNamespace } from './identifiers';
import { ensureNamespace } from './namespaces';
import { AnyValue, ContainerRecord, StoredAny, keys } from './schema';
import { NAME as NAME_LABEL } from '../containers/labels';

export interface Container {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options?: AnyValue };
  spec: AnyValue;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, AnyValue>;
  createdAt: Date;
  updatedAt: Date;
}

export type ContainerInput = Pick<Container, 'id' | 'runtime' | 'spec'> &
  Partial<Pick<Container, 'labels' | 'image' | 'snapshotter' | 'snapshotKey' | 'extensions'>>;

const copyAny = (a: AnyValue): AnyValue => ({ typeUrl: a.typeUrl, value: Buffer.from(a.value) });
const storeAny = (a: AnyValue): StoredAny => ({ typeUrl: a.typeUrl, value: Buffer.from(a.value).toString('base64') });
const loadAny = (a: StoredAny): AnyValue => ({ typeUrl: a.typeUrl, value: Buffer.from(a.value, 'base64') });

type Fields = Omit<Container, 'createdAt' | 'updatedAt'>;

function toRecord(c: Fields, createdAt: number, updatedAt: number): ContainerRecord {
  const extensions: Record<string, StoredAny> = {};
  for (const [k, v] of Object.entries(c.extensions)) extensions[k] = storeAny(v);
  return {
    labels: copyLabels(c.labels),
    image: c.image,
    runtime: { name: c.runtime.name, ...(c.runtime.options ? { options: storeAny(c.runtime.options) } : {}) },
    spec: storeAny(c.spec),
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    extensions,
    createdAt,
    updatedAt,
  };
}

function fromRecord(id: string, r: ContainerRecord): Container {
  const extensions: Record<string, AnyValue> = {};
  for (const [k, v] of Object.entries(r.extensions ?? {})) extensions[k] = loadAny(v);
  return {
    id,
    labels: copyLabels(r.labels),
    image: r.image,
    runtime: { name: r.runtime.name, ...(r.runtime.options ? { options: loadAny(r.runtime.options) } : {}) },
    spec: loadAny(r.spec),
    snapshotter: r.snapshotter,
    snapshotKey: r.snapshotKey,
    extensions,
    createdAt: new Date(r.createdAt),
    updatedAt: new Date(r.updatedAt),
  };
}

function normalize(c: ContainerInput): Omit<Container, 'createdAt' | 'updatedAt'> {
  const extensions: Record<string, AnyValue> = {};
  for (const [k, v] of Object.entries(c.extensions ?? {})) extensions[k] = copyAny(v);
  return {
    id: c.id,
    labels: copyLabels(c.labels),
    image: c.image ?? '',
    runtime: { name: c.runtime?.name ?? '', ...(c.runtime?.options ? { options: copyAny(c.runtime.options) } : {}) },
    spec: c.spec ? copyAny(c.spec) : (undefined as unknown as AnyValue),
    snapshotter: c.snapshotter ?? '',
    snapshotKey: c.snapshotKey ?? '',
    extensions,
  };
}

/**
 * A berth container's name (label berth/name) is unique in its namespace, as Docker's are.
 * Checked inside the write transaction (LMDB has one writer), so two concurrent creates with
 * one name cannot both succeed. A linear scan: names are read only on create and rename.
 */
function checkNameFree(txn: Txn, ns: string, id: string, labels: Record<string, string>): void {
  const name = labels[NAME_LABEL];
  if (name === undefined) return;
  for (const { key, value } of txn.range<ContainerRecord>(keys.containers(ns), 1)) {
    const other = key[key.length - 1] as string;
    if (other !== id && value.labels?.[NAME_LABEL] === name) {
      throw alreadyExists(`Conflict. The container name "/${name}" is already in use by container "${other}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
  }
}

function validateContainer(c: Omit<Container, 'createdAt' | 'updatedAt'>): void {
  validateIdentifier(c.id, 'container id');
  for (const k of Object.keys(c.extensions)) if (k === '') throw invalidArgument(`container ${JSON.stringify(c.id)}: extension keys must not be empty`);
  validateLabels(c.labels, `container ${JSON.stringify(c.id)}`);
  if (!c.runtime.name) throw invalidArgument(`container ${JSON.stringify(c.id)}: runtime.name must be set`);
  if (!c.spec || typeof c.spec.typeUrl !== 'string') throw invalidArgument(`container ${JSON.stringify(c.id)}: spec must be set`);
  if (c.snapshotKey && !c.snapshotter) {
    throw invalidArgument(`container ${JSON.stringify(c.id)}: snapshotter must be set if snapshotKey is set`);
  }
  if (c.snapshotKey) validateKeyPart(c.snapshotKey, 'snapshot key');
}

/** Filter fields: id, image, runtime.name, snapshotter, snapshotkey, labels.<key>. */
export function containerAdaptor(c: Container): Adaptor {
  return (fp) => {
    switch (fp[0]?.toLowerCase()) {
      case 'id':
        return c.id;
      case 'image':
        return c.image;
      case 'runtime':
        return fp[1]?.toLowerCase() === 'name' ? c.runtime.name : undefined;
      case 'snapshotter':
        return c.snapshotter;
      case 'snapshotkey':
        return c.snapshotKey;
      case 'labels':
        return labelField(c.labels, fp.slice(1));
    }
    return undefined;
  };
}

export class ContainerStore {
  constructor(private readonly db: MetadataDB) {}

  get(ns: string, id: string): Container {
    validateNamespace(ns);
    return this.db.view((txn) => {
      const rec = txn.get<ContainerRecord>(keys.container(ns, id));
      if (!rec) throw notFound(`container ${JSON.stringify(id)} in namespace ${JSON.stringify(ns)}`);
      return fromRecord(id, rec);
    });
  }

  list(ns: string, ...filters: string[]): Container[] {
    validateNamespace(ns);
    const filter = parseFilters(...filters);
    return this.db.view((txn) =>
      txn
        .range<ContainerRecord>(keys.containers(ns), 1)
        .map(({ key, value }) => fromRecord(key[key.length - 1] as string, value))
        .filter((c) => filter.match(containerAdaptor(c))),
    );
  }

  async create(ns: string, input: ContainerInput): Promise<Container> {
    validateNamespace(ns);
    const c = normalize(input);
    validateContainer(c);
    return this.db.update((txn) => {
      ensureNamespace(txn, ns);
      if (txn.has(keys.container(ns, c.id))) throw alreadyExists(`container ${JSON.stringify(c.id)}`);
      checkNameFree(txn, ns, c.id, c.labels);
      const now = Date.now();
      const rec = toRecord(c, now, now);
      txn.put(keys.container(ns, c.id), rec);
      return fromRecord(c.id, rec);
    });
  }

  /**
   * Field paths (containerd's): "labels", "labels.<k>", "extensions", "extensions.<k>",
   * "image", "spec", "snapshotkey". With no paths all of these are replaced, and a
   * different snapshotter or runtime name is refused (those fields are immutable).
   */
  async update(ns: string, input: ContainerInput, fieldpaths: string[] = []): Promise<Container> {
    validateNamespace(ns);
    if (!input.id) throw invalidArgument('must specify a container id');
    const c = normalize(input);
    return this.db.update((txn) => {
      const rec = txn.get<ContainerRecord>(keys.container(ns, c.id));
      if (!rec) throw notFound(`container ${JSON.stringify(c.id)}`);
      const { createdAt: _c, updatedAt: _u, ...current } = fromRecord(c.id, rec);
      const next: Fields = current;
      let paths = fieldpaths;
      if (paths.length === 0) {
        paths = ['labels', 'spec', 'extensions', 'image', 'snapshotkey'];
        if (c.snapshotter !== rec.snapshotter) throw invalidArgument(`container ${JSON.stringify(c.id)}: snapshotter field is immutable`);
        if (c.runtime.name !== rec.runtime.name) throw invalidArgument(`container ${JSON.stringify(c.id)}: runtime.name field is immutable`);
      }
      for (const p of paths) {
        const l = applyMapPath(p, 'labels', next.labels, c.labels);
        if (l) {
          next.labels = l;
          continue;
        }
        const e = applyMapPath(p, 'extensions', next.extensions, c.extensions);
        if (e) {
          next.extensions = e;
          continue;
        }
        switch (p) {
          case 'image':
            next.image = c.image;
            break;
          case 'spec':
            next.spec = c.spec;
            break;
          case 'snapshotkey':
            next.snapshotKey = c.snapshotKey;
            break;
          default:
            throw invalidArgument(`cannot update ${JSON.stringify(p)} field on ${JSON.stringify(c.id)}`);
        }
      }
      validateContainer(next);
      if (next.labels[NAME_LABEL] !== undefined && next.labels[NAME_LABEL] !== rec.labels?.[NAME_LABEL]) checkNameFree(txn, ns, c.id, next.labels);
      const updated = toRecord(next, rec.createdAt, Date.now());
      txn.put(keys.container(ns, c.id), updated);
      return fromRecord(c.id, updated);
    });
  }

  async delete(ns: string, id: string): Promise<void> {
    validateNamespace(ns);
    await this.db.update((txn) => {
      if (!txn.remove(keys.container(ns, id))) throw notFound(`container ${JSON.stringify(id)}`);
      txn.markDirty();
    });
  }
}
