// Leases: named holds on resources (content, ingests, snapshots) that garbage collection
// must keep while the lease lives. A lease expires at the RFC3339 time in its
// `containerd.io/gc.expire` label; collecting expired leases is the GC's job, not this store's.

import { alreadyExists, invalidArgument, notFound, notImplemented } from '../errors';
import { MetadataDB, Txn, copyLabels } from './db';
import { Adaptor, labelField, parseFilters } from './filters';
import { validateDigest, validateKeyPart, validateLabels, validateLeaseId, validateNamespace } from './identifiers';
import { ensureNamespace } from './namespaces';
import { LeaseRecord, keys } from './schema';

export const LABEL_GC_EXPIRE = 'containerd.io/gc.expire';

export interface Lease {
  id: string;
  labels: Record<string, string>;
  createdAt: Date;
}

export interface LeaseResource {
  id: string;
  /** "content", "ingests" or "snapshots/<snapshotter>". */
  type: string;
}

/** When the lease expires, or undefined when it has no (parsable) expiry label. */
export function leaseExpiry(lease: Pick<Lease, 'labels'>): Date | undefined {
  const v = lease.labels[LABEL_GC_EXPIRE];
  if (v === undefined) return undefined;
  const t = new Date(v);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function validateResource(r: LeaseResource): void {
  if (r.type === 'content') {
    validateDigest(r.id);
    return;
  }
  if (r.type === 'ingests') {
    if (!r.id) throw invalidArgument('lease resource: ingest ref must not be empty');
    validateKeyPart(r.id, 'ingest ref');
    return;
  }
  if (r.type.startsWith('snapshots/')) {
    if (r.type.length === 'snapshots/'.length) throw invalidArgument('lease resource: snapshotter must be named in "snapshots/<snapshotter>"');
    if (!r.id) throw invalidArgument('lease resource: snapshot key must not be empty');
    validateKeyPart(r.id, 'snapshot key');
    return;
  }
  throw notImplemented(`unsupported lease resource type ${JSON.stringify(r.type)}`);
}

const toLease = (id: string, r: LeaseRecord): Lease => ({ id, labels: copyLabels(r.labels), createdAt: new Date(r.createdAt) });

const leaseAdaptor =
  (l: Lease): Adaptor =>
  (fp) => {
    switch (fp[0]?.toLowerCase()) {
      case 'id':
        return l.id;
      case 'labels':
        return labelField(l.labels, fp.slice(1));
    }
    return undefined;
  };

/** Adds a resource to a lease inside an existing transaction (used by content commits). */
export function addLeaseResource(txn: Txn, ns: string, leaseId: string, r: LeaseResource): void {
  validateResource(r);
  if (!txn.has(keys.lease(ns, leaseId))) throw notFound(`lease ${JSON.stringify(leaseId)}`);
  txn.put(keys.leaseResource(ns, leaseId, r.type, r.id), {});
}

export class LeaseStore {
  constructor(private readonly db: MetadataDB) {}

  async create(ns: string, id: string, labels: Record<string, string> = {}): Promise<Lease> {
    validateNamespace(ns);
    validateLeaseId(id);
    validateLabels(labels, `lease ${JSON.stringify(id)}`);
    const exp = labels[LABEL_GC_EXPIRE];
    if (exp !== undefined && (!RFC3339.test(exp) || Number.isNaN(new Date(exp).getTime()))) {
      throw invalidArgument(`lease ${JSON.stringify(id)}: label ${LABEL_GC_EXPIRE}=${JSON.stringify(exp)} is not an RFC3339 time`);
    }
    return this.db.update((txn) => {
      ensureNamespace(txn, ns);
      if (txn.has(keys.lease(ns, id))) throw alreadyExists(`lease ${JSON.stringify(id)}`);
      const rec: LeaseRecord = { labels: copyLabels(labels), createdAt: Date.now() };
      txn.put(keys.lease(ns, id), rec);
      return toLease(id, rec);
    });
  }

  get(ns: string, id: string): Lease {
    validateNamespace(ns);
    return this.db.view((txn) => {
      const rec = txn.get<LeaseRecord>(keys.lease(ns, id));
      if (!rec) throw notFound(`lease ${JSON.stringify(id)}`);
      return toLease(id, rec);
    });
  }

  list(ns: string, ...filters: string[]): Lease[] {
    validateNamespace(ns);
    const filter = parseFilters(...filters);
    return this.db.view((txn) =>
      txn
        .range<LeaseRecord>(keys.leases(ns), 1)
        .map(({ key, value }) => toLease(key[key.length - 1] as string, value))
        .filter((l) => filter.match(leaseAdaptor(l))),
    );
  }

  /** Deletes the lease and its resource list (not the resources: GC decides about those). */
  async delete(ns: string, id: string): Promise<void> {
    validateNamespace(ns);
    await this.db.update((txn) => {
      if (!txn.has(keys.lease(ns, id))) throw notFound(`lease ${JSON.stringify(id)}`);
      txn.removeTree(keys.lease(ns, id));
      txn.markDirty();
    });
  }

  async addResource(ns: string, leaseId: string, r: LeaseResource): Promise<void> {
    validateNamespace(ns);
    await this.db.update((txn) => addLeaseResource(txn, ns, leaseId, r));
  }

  async deleteResource(ns: string, leaseId: string, r: LeaseResource): Promise<void> {
    validateNamespace(ns);
    validateResource(r);
    await this.db.update((txn) => {
      if (!txn.has(keys.lease(ns, leaseId))) throw notFound(`lease ${JSON.stringify(leaseId)}`);
      if (txn.remove(keys.leaseResource(ns, leaseId, r.type, r.id))) txn.markDirty();
    });
  }

  listResources(ns: string, leaseId: string): LeaseResource[] {
    validateNamespace(ns);
    return this.db.view((txn) => {
      if (!txn.has(keys.lease(ns, leaseId))) throw notFound(`lease ${JSON.stringify(leaseId)}`);
      return txn.range(keys.leaseResources(ns, leaseId), 2).map(({ key }) => ({ type: key[key.length - 2] as string, id: key[key.length - 1] as string }));
    });
  }
}
