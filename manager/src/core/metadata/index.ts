// The metadata module: one MetadataDB (meta.lmdb) and the stores over it.

import { LocalContentStore } from '../content/local';
import { MetadataContentStore } from './content';
import { ContainerStore } from './containers';
import { MetadataDB } from './db';
import type { OpenOptions } from './db';
import { ImageStore } from './images';
import { LeaseStore } from './leases';
import { NamespaceStore } from './namespaces';

export * from './schema';
export { MetadataDB, Txn, prefixRange } from './db';
export type { OpenOptions, MutationListener, CollectionRequester, UpdateOptions } from './db';
export { parseFilters } from './filters';
export type { Filter, Adaptor } from './filters';
export { validateNamespace, validateIdentifier, validateLabels, validateDigest, isDigest } from './identifiers';
export { NamespaceStore, ensureNamespace } from './namespaces';
export type { Namespace } from './namespaces';
export { ImageStore } from './images';
export type { Image, ImageInput } from './images';
export { ContainerStore } from './containers';
export type { Container, ContainerInput } from './containers';
export { LeaseStore, LABEL_GC_EXPIRE, leaseExpiry, addLeaseResource } from './leases';
export type { Lease, LeaseResource } from './leases';
export { MetadataContentStore } from './content';

export interface Metadata {
  db: MetadataDB;
  namespaces: NamespaceStore;
  images: ImageStore;
  containers: ContainerStore;
  leases: LeaseStore;
  /** content.namespace(ns) is the content store namespace ns sees. */
  content: MetadataContentStore;
  close(): Promise<void>;
}

/** Opens <root>/meta.lmdb (migrating it) and the shared content store under <root>/content. */
export async function openMetadata(opts: OpenOptions): Promise<Metadata> {
  const db = await MetadataDB.open(opts);
  return {
    db,
    namespaces: new NamespaceStore(db),
    images: new ImageStore(db),
    containers: new ContainerStore(db),
    leases: new LeaseStore(db),
    content: new MetadataContentStore(db, new LocalContentStore(opts.root)),
    close: () => db.close(),
  };
}
