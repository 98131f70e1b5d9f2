// `run --rm`: once a berth container labelled AUTO_REMOVE=true has exited (and state.ts has
// recorded it), berthd removes it as `berth rm -v` would — the task, the container record, its
// writable snapshot, its per-container files and its anonymous volumes (Docker's --rm takes
// those too) — whether or not a client is still there
// (Docker's daemon does the same: the client may have detached or died).
//
// Each step tolerates what is already gone (a client's `rm` may race with it), so running
// it twice is harmless; a step that fails is logged and the rest still run.

import { isKind } from '../errors';
import type { Container, ContainerStore } from '../metadata';

export interface AutoRemoveDeps {
  containers: ContainerStore;
  /** Deletes the container's task (its shim, cgroup and rootfs mount); NotFound when there is none. */
  deleteTask(ns: string, id: string): Promise<void>;
  /** Removes a snapshot; NotFound when there is none. */
  removeSnapshot(ns: string, snapshotter: string, key: string): Promise<void>;
  /** Removes what berthd keeps beside the record (files.ts). */
  removeFiles(ns: string, id: string): Promise<void>;
  /** Removes the anonymous volumes the (deleted) container used that nobody else uses. */
  removeVolumes?(ns: string, container: Container): Promise<void>;
  /** Tells the rest of berthd (events) that the container is gone. */
  deleted?(ns: string, id: string): void;
  log: { warn(o: object, m: string): void; info(o: object, m: string): void };
}

const tolerateNotFound = (err: unknown): void => {
  if (!isKind(err, 'NotFound')) throw err;
};

export async function autoRemove(deps: AutoRemoveDeps, ns: string, id: string): Promise<void> {
  const step = async (what: string, f: () => Promise<void>): Promise<void> => {
    try {
      await f().catch(tolerateNotFound);
    } catch (err) {
      deps.log.warn({ err, namespace: ns, container: id }, `auto-remove: ${what} failed`);
    }
  };
  let record;
  try {
    record = deps.containers.get(ns, id);
  } catch (err) {
    tolerateNotFound(err);
    return; // removed by someone else already
  }
  await step('deleting the task', () => deps.deleteTask(ns, id));
  let removed = false;
  await step('deleting the container record', async () => {
    await deps.containers.delete(ns, id);
    removed = true;
  });
  if (record.snapshotKey) await step('removing the snapshot', () => deps.removeSnapshot(ns, record.snapshotter, record.snapshotKey));
  await step('removing its files', () => deps.removeFiles(ns, id));
  if (removed && deps.removeVolumes) await step('removing its anonymous volumes', () => deps.removeVolumes!(ns, record));
  if (removed) {
    deps.deleted?.(ns, id);
    deps.log.info({ namespace: ns, container: id }, 'auto-removed container');
  }
}
