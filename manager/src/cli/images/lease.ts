// Leases around multi-step image work. Everything a load writes (blobs, ingests, snapshots)
// is added to a lease until the image records that reference it exist, so a garbage
// collection running meanwhile never takes half an import. The lease expires by itself
// (containerd.io/gc.expire) if berth dies before deleting it; on failure it is deleted and
// what it held becomes collectable.

import { randomBytes } from 'node:crypto';
import type { Daemon } from '../daemon';
import { LABEL_GC_EXPIRE } from '../../core/images';

/** containerd's client leases expire after 24 h by default; a load never takes that long. */
const LEASE_TTL_MS = 24 * 60 * 60 * 1000;

export async function withLease<T>(d: Daemon, purpose: string, fn: (lease: string) => Promise<T>): Promise<T> {
  const id = `berth-${purpose}-${Date.now()}-${randomBytes(4).toString('hex')}`;
  await d.leases.Create({ id, labels: { [LABEL_GC_EXPIRE]: new Date(Date.now() + LEASE_TTL_MS).toISOString() } });
  try {
    return await fn(id);
  } finally {
    await d.leases.Delete({ id, sync: false }).catch(() => undefined);
  }
}
