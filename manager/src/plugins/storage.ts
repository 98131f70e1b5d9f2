// The storage plugins of berthd: the content store, the snapshotters and the walking
// differ (the metadata store, meta.lmdb, is daemon/core-plugins.ts's metadataPlugin). Their instances are what the gRPC plugins
// (./grpc.ts) serve.
//
// On disk, under --root: meta.lmdb, content/ (blobs and ingests), snapshots/<id>/ (each
// snapshotter's own metadata.lmdb and snapshot dirs). Temporary mounts of the differ go
// under --state/tmpmounts.
//
// Order differs from containerd in one place: containerd's metadata plugin requires the
// content plugin (the metadata store wraps the local blob store). Here openMetadata() opens
// both, so the content plugin requires the metadata plugin and hands out its namespaced view.

import * as path from 'node:path';
import { isKind } from '../core/errors';
import type { Metadata, MetadataContentStore } from '../core/metadata';
import { METADATA_PLUGIN } from '../daemon/core-plugins';
import { NativeSnapshotter, OverlaySnapshotter, type Snapshotter } from '../core/snapshots';
import { skipPlugin } from '../daemon/registry';
import type { Plugin } from '../daemon/plugin';
import { WalkingDiffer } from '../services/diff';
import { NamespacedSnapshotters } from '../services/snapshots';
import type { PluginContext } from '../daemon/plugin';

export { METADATA_PLUGIN };
export const CONTENT_PLUGIN = 'io.containerd.content.v1';
export const SNAPSHOTTER_PLUGIN = 'io.containerd.snapshotter.v1';
export const DIFFER_PLUGIN = 'io.containerd.differ.v1';

export const contentPlugin: Plugin<MetadataContentStore> = {
  type: CONTENT_PLUGIN,
  id: 'content',
  requires: [METADATA_PLUGIN],
  async init(ctx) {
    ctx.exports.root = path.join(ctx.root, 'content');
    return ctx.get<Metadata>(METADATA_PLUGIN).content;
  },
};

export const overlayfsPlugin: Plugin<Snapshotter> = {
  type: SNAPSHOTTER_PLUGIN,
  id: 'overlayfs',
  requires: [],
  async init(ctx) {
    const root = path.join(ctx.root, 'snapshots', 'overlayfs');
    ctx.exports.root = root;
    try {
      return await OverlaySnapshotter.open(root);
    } catch (err) {
      // no overlay here (a root on overlayfs, an old kernel): the snapshotter does not apply
      if (isKind(err, 'Unavailable')) throw skipPlugin((err as Error).message);
      throw err;
    }
  },
  close: (s) => s.close(),
};

export const nativePlugin: Plugin<Snapshotter> = {
  type: SNAPSHOTTER_PLUGIN,
  id: 'native',
  requires: [],
  async init(ctx) {
    const root = path.join(ctx.root, 'snapshots', 'native');
    ctx.exports.root = root;
    return NativeSnapshotter.open(root);
  },
  close: (s) => s.close(),
};

export const walkingDifferPlugin: Plugin<WalkingDiffer> = {
  type: DIFFER_PLUGIN,
  id: 'walking',
  requires: [METADATA_PLUGIN],
  async init(ctx) {
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    return new WalkingDiffer((ns) => md.content.namespace(ns), path.join(ctx.state, 'tmpmounts'));
  },
};

/** Every snapshotter plugin that started, by id (a skipped or failed one is absent). */
export function loadedSnapshotters(ctx: PluginContext): Map<string, Snapshotter> {
  const out = new Map<string, Snapshotter>();
  for (const p of ctx.plugins()) {
    if (p.type === SNAPSHOTTER_PLUGIN && p.status === 'ok') out.set(p.id, ctx.get<Snapshotter>(`${SNAPSHOTTER_PLUGIN}.${p.id}`));
  }
  return out;
}

/** The loaded snapshotters as each namespace sees them (services/snapshots.ts). */
export function namespacedSnapshotters(ctx: PluginContext): NamespacedSnapshotters {
  return new NamespacedSnapshotters(ctx.get<Metadata>(METADATA_PLUGIN).db, loadedSnapshotters(ctx));
}
