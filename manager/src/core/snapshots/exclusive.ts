// One mutation at a time per snapshotter, across everything in the process that changes it.
//
// The snapshots service (services/snapshots.ts) checks its namespace records, calls the
// snapshotter, then writes the record; garbage collection (core/gc) reads the snapshotter's
// labels, sweeps the records and removes snapshots from the snapshotter. Both run their
// steps inside exclusive(snapshotter, …), so each sees the records and the snapshotter
// agree: no prepare is half done (snapshot made, record not yet written) while the
// collector looks, and no snapshot the collector is about to remove can gain a child.
// The lock is keyed by the snapshotter object itself, so every user of one instance shares
// it without passing a lock around.

import type { Snapshotter } from './types';

const tails = new WeakMap<Snapshotter, Promise<unknown>>();

/** Runs fn after every earlier exclusive() call on the same snapshotter has settled. */
export function exclusive<T>(snapshotter: Snapshotter, fn: () => Promise<T>): Promise<T> {
  const prev = tails.get(snapshotter) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  tails.set(snapshotter, tail);
  void tail.then(() => {
    if (tails.get(snapshotter) === tail) tails.delete(snapshotter);
  });
  return run;
}

/** Runs fn holding the exclusive() turn of every snapshotter given (taken in the order given). */
export function exclusiveAll<T>(snapshotters: readonly Snapshotter[], fn: () => Promise<T>): Promise<T> {
  return snapshotters.reduceRight<() => Promise<T>>((inner, s) => () => exclusive(s, inner), fn)();
}
