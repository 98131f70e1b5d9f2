// After berthd restarts: what pulls that were running when it died left behind. Their ingests
// and committed blobs and snapshots stay under their leases (`pull-…`, expiring) for the next
// pull to reuse; their active "extract-…" snapshots — a layer half applied, which nothing can
// ever finish or commit — are removed, so they neither take space for a day nor look like
// work in progress. Run at start-up, before any pull of this process exists.

import { isKind } from '../errors';
import type { LeaseStore, NamespaceStore } from '../metadata';
import type { PullSnapshotter } from './unpack';

export const PULL_LEASE_PREFIX = 'pull-';

export async function removeInterruptedUnpacks(
  md: { namespaces: NamespaceStore; leases: LeaseStore },
  snapshotter: (ns: string, name: string) => PullSnapshotter | undefined,
): Promise<{ namespace: string; snapshotter: string; key: string }[]> {
  const removed: { namespace: string; snapshotter: string; key: string }[] = [];
  for (const ns of md.namespaces.list()) {
    for (const lease of md.leases.list(ns)) {
      if (!lease.id.startsWith(PULL_LEASE_PREFIX)) continue;
      for (const r of md.leases.listResources(ns, lease.id)) {
        if (!r.type.startsWith('snapshots/') || !r.id.startsWith('extract-')) continue;
        const name = r.type.slice('snapshots/'.length);
        const sn = snapshotter(ns, name);
        if (!sn) continue;
        try {
          if ((await sn.stat(r.id)).kind !== 'active') continue;
          await sn.remove(r.id);
          removed.push({ namespace: ns, snapshotter: name, key: r.id });
        } catch (err) {
          if (!isKind(err, 'NotFound')) throw err;
        }
        await md.leases.deleteResource(ns, lease.id, r);
      }
    }
  }
  return removed;
}
