// berth.volumes.v1.Volumes (proto/berth/volumes/v1/volumes.proto): a thin adapter over
// core/volumes' VolumeStore (plugin io.containerd.internal.v1.volumes). Populate mounts the
// container's snapshot read-only under <state>/volumes/ for the copy and unmounts it after.

import { mkdir, mkdtemp, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { VOLUMES, addService, timestamp, type ServiceImpl } from '../api';
import { invalidArgument } from '../core/errors';
import { mountAll, unmount } from '../core/snapshots';
import type { Volume, VolumeStore } from '../core/volumes';
import { METADATA_PLUGIN } from '../daemon/core-plugins';
import { requireNamespace, unary } from '../daemon/grpc';
import type { Plugin } from '../daemon/plugin';
import { VOLUMES_PLUGIN, type Volumes } from '../plugins/volumes';
import { SNAPSHOTTER_PLUGIN, namespacedSnapshotters } from '../plugins/storage';
import type { NamespacedSnapshotters } from './snapshots';

interface VolumesDeps {
  store: VolumeStore;
  snapshotters: NamespacedSnapshotters;
  /** berthd --state: where snapshots are mounted for a copy-up. */
  state: string;
  log: { info(o: object, m: string): void };
}

async function toProto(store: VolumeStore, v: Volume, withSize: boolean) {
  return {
    name: v.name,
    driver: v.driver,
    labels: v.labels,
    options: v.options,
    createdAt: timestamp(v.createdAt),
    mountpoint: v.mountpoint,
    usedBy: v.usedBy,
    size: withSize ? await store.size(v) : -1,
  };
}

/** Runs fn with the snapshot mounted read-only at a directory of its own. */
async function withSnapshotRoot<T>(deps: VolumesDeps, ns: string, snapshotter: string, key: string, fn: (root: string) => Promise<T>): Promise<T> {
  const mounts = await deps.snapshotters.get(ns, snapshotter).mounts(key);
  const base = join(deps.state, 'volumes');
  await mkdir(base, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(base, 'populate-'));
  try {
    await mountAll(mounts.map((m) => ({ ...m, options: [...m.options, 'ro'] })), dir);
    try {
      return await fn(dir);
    } finally {
      await unmount(dir, { recursive: true });
    }
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

export function volumesService(deps: VolumesDeps): ServiceImpl<typeof VOLUMES> {
  const { store } = deps;
  return {
    Create: unary(async (call) => {
      const ns = requireNamespace(call);
      const { name, driver, labels, options } = call.request;
      const r = await store.create(ns, { name, driver, labels, options });
      return { volume: await toProto(store, r.volume, false), created: r.created };
    }),

    Get: unary(async (call) => {
      const ns = requireNamespace(call);
      if (!call.request.name) throw invalidArgument('name is required');
      return { volume: await toProto(store, store.get(ns, call.request.name), call.request.size) };
    }),

    List: unary(async (call) => {
      const ns = requireNamespace(call);
      const volumes = store.list(ns, call.request.filters);
      return { volumes: await Promise.all(volumes.map((v) => toProto(store, v, call.request.size))) };
    }),

    Remove: unary(async (call) => {
      const ns = requireNamespace(call);
      if (!call.request.name) throw invalidArgument('name is required');
      await store.remove(ns, call.request.name, { force: call.request.force });
      return {};
    }),

    Prune: unary(async (call) => {
      const ns = requireNamespace(call);
      const { deleted, reclaimed } = await store.prune(ns, { all: call.request.all, filters: call.request.filters });
      return { deleted, spaceReclaimed: reclaimed };
    }),

    Prepare: unary(async (call) => {
      const ns = requireNamespace(call);
      const { name, driver, labels, options } = call.request;
      const r = await store.prepare(ns, { name, driver, labels, options });
      return { volume: await toProto(store, r.volume, false), created: r.created };
    }),

    Populate: unary(async (call) => {
      const ns = requireNamespace(call);
      const { name, snapshotter, snapshotKey, path } = call.request;
      if (!name) throw invalidArgument('name is required');
      if (!snapshotter || !snapshotKey) throw invalidArgument('snapshotter and snapshot_key are required');
      if (!path.startsWith('/')) throw invalidArgument(`path ${JSON.stringify(path)} must be absolute`);
      const result = await store.populate(ns, name, path, (fn) => withSnapshotRoot(deps, ns, snapshotter, snapshotKey, fn));
      if (result === 'copied') deps.log.info({ namespace: ns, volume: name, path }, 'volume populated from the image');
      return { copied: result === 'copied' };
    }),
  };
}

export const volumesServicePlugin: Plugin<VolumesDeps> = {
  type: 'io.containerd.grpc.v1',
  id: 'berth-volumes',
  requires: [METADATA_PLUGIN, SNAPSHOTTER_PLUGIN, VOLUMES_PLUGIN],
  async init(ctx) {
    return { store: ctx.get<Volumes>(VOLUMES_PLUGIN).store, snapshotters: namespacedSnapshotters(ctx), state: ctx.state, log: ctx.log };
  },
  register(server, deps) {
    addService(server, VOLUMES, volumesService(deps));
  },
};
