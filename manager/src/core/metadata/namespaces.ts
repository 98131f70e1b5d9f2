// Namespaces: the first level below "v1". Every other store keys its records under one.

import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../errors';
import { MetadataDB, Txn, applyMapPath, copyLabels } from './db';
import { validateLabels, validateNamespace } from './identifiers';
import { NAMESPACE_CHILDREN, NamespaceRecord, keys } from './schema';

export interface Namespace {
  name: string;
  labels: Record<string, string>;
  createdAt: Date;
}

const toNamespace = (name: string, r: NamespaceRecord): Namespace => ({ name, labels: copyLabels(r.labels), createdAt: new Date(r.createdAt) });

/** Creates the namespace record if missing; every store's create calls this in its txn. */
export function ensureNamespace(txn: Txn, ns: string): void {
  validateNamespace(ns);
  if (!txn.has(keys.namespace(ns))) txn.put(keys.namespace(ns), { labels: {}, createdAt: Date.now() } satisfies NamespaceRecord);
}

export class NamespaceStore {
  constructor(private readonly db: MetadataDB) {}

  async create(name: string, labels: Record<string, string> = {}): Promise<Namespace> {
    validateNamespace(name);
    validateLabels(labels, `namespace ${JSON.stringify(name)}`);
    return this.db.update((txn) => {
      if (txn.has(keys.namespace(name))) throw alreadyExists(`namespace ${JSON.stringify(name)}`);
      const rec: NamespaceRecord = { labels: copyLabels(labels), createdAt: Date.now() };
      txn.put(keys.namespace(name), rec);
      return toNamespace(name, rec);
    });
  }

  list(): string[] {
    return this.db.view((txn) => txn.children(keys.namespaces()).filter((ns) => txn.has(keys.namespace(ns))));
  }

  get(name: string): Namespace {
    validateNamespace(name);
    return this.db.view((txn) => {
      const rec = txn.get<NamespaceRecord>(keys.namespace(name));
      if (!rec) throw notFound(`namespace ${JSON.stringify(name)}`);
      return toNamespace(name, rec);
    });
  }

  labels(name: string): Record<string, string> {
    return this.get(name).labels;
  }

  /** Sets one label; an empty value removes it (what `ctr namespaces label` does). */
  async setLabel(name: string, key: string, value: string): Promise<void> {
    validateNamespace(name);
    await this.db.update((txn) => {
      const rec = txn.get<NamespaceRecord>(keys.namespace(name));
      if (!rec) throw notFound(`namespace ${JSON.stringify(name)}`);
      const labels = copyLabels(rec.labels);
      if (value === '') delete labels[key];
      else labels[key] = value;
      validateLabels(labels, `namespace ${JSON.stringify(name)}`);
      txn.put(keys.namespace(name), { ...rec, labels });
    });
  }

  /** Updates labels with field paths ("labels", "labels.<key>"); no paths replaces them. */
  async update(name: string, labels: Record<string, string>, fieldpaths: string[] = []): Promise<Namespace> {
    validateNamespace(name);
    return this.db.update((txn) => {
      const rec = txn.get<NamespaceRecord>(keys.namespace(name));
      if (!rec) throw notFound(`namespace ${JSON.stringify(name)}`);
      let next = copyLabels(rec.labels);
      for (const p of fieldpaths.length ? fieldpaths : ['labels']) {
        const applied = applyMapPath(p, 'labels', next, labels);
        if (!applied) throw invalidArgument(`cannot update ${JSON.stringify(p)} field on namespace ${JSON.stringify(name)}`);
        next = applied;
      }
      validateLabels(next, `namespace ${JSON.stringify(name)}`);
      const updated = { ...rec, labels: next };
      txn.put(keys.namespace(name), updated);
      return toNamespace(name, updated);
    });
  }

  /** Deletes an empty namespace; one that still holds anything is refused (FailedPrecondition). */
  async delete(name: string): Promise<void> {
    validateNamespace(name);
    await this.db.update((txn) => {
      if (!txn.has(keys.namespace(name))) throw notFound(`namespace ${JSON.stringify(name)}`);
      const left = txn.children(keys.namespace(name)).map((k) => NAMESPACE_CHILDREN[k] ?? k);
      if (left.length > 0) {
        throw failedPrecondition(`namespace ${JSON.stringify(name)} must be empty, but it still has ${left.join(', ')}`);
      }
      txn.remove(keys.namespace(name));
    });
  }
}
