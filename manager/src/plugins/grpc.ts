// The gRPC plugins of the storage side (io.containerd.grpc.v1): content, images, snapshots,
// diff, containers. Each takes its store from a storage plugin (./storage.ts) and the events
// exchange from `io.containerd.event.v1`, whose instance must have
// `publish(namespace, topic, event: google.protobuf.Any)`; events are best effort (a failed
// publish is logged, the call still succeeds).

import type { Server } from '@grpc/grpc-js';
import { CONTAINERS, CONTENT, DIFF, IMAGES, SNAPSHOTS, addService } from '../api';
import type { Metadata } from '../core/metadata';
import type { Plugin, PluginContext } from '../daemon/plugin';
import { containersService } from '../services/containers';
import { contentService, type Publish } from '../services/content';
import { diffService, type WalkingDiffer } from '../services/diff';
import { imagesService } from '../services/images';
import { NamespacedSnapshotters, snapshotsService } from '../services/snapshots';
import { DIFFER_PLUGIN, METADATA_PLUGIN, SNAPSHOTTER_PLUGIN, loadedSnapshotters } from './storage';

export const GRPC_PLUGIN = 'io.containerd.grpc.v1';
export { EVENTS_PLUGIN as EVENT_PLUGIN } from '../daemon/core-plugins';
import { EVENTS_PLUGIN as EVENT_PLUGIN } from '../daemon/core-plugins';

/** The publisher of the events plugin, or undefined when it has none. */
export function publisherOf(ctx: PluginContext): Publish | undefined {
  const ex = ctx.get<{ publish?: Publish } | undefined>(EVENT_PLUGIN);
  if (!ex || typeof ex.publish !== 'function') {
    ctx.log.warn('the events plugin has no publish(namespace, topic, event): no events from this service');
    return undefined;
  }
  return (ns, topic, event) => ex.publish!(ns, topic, event);
}

/** A registered service: the impl is built at init, added to the server at register. */
interface Registered {
  add(server: Server): void;
}

function grpcPlugin(id: string, requires: string[], build: (ctx: PluginContext) => Registered): Plugin<Registered> {
  return {
    type: GRPC_PLUGIN,
    id,
    requires,
    async init(ctx) {
      return build(ctx);
    },
    register: (server, r) => r.add(server),
  };
}

export const contentGrpcPlugin = grpcPlugin('content', [METADATA_PLUGIN, EVENT_PLUGIN], (ctx) => {
  const md = ctx.get<Metadata>(METADATA_PLUGIN);
  const impl = contentService({ store: (ns) => md.content.namespace(ns), publish: publisherOf(ctx), log: ctx.log });
  return { add: (server) => addService(server, CONTENT, impl) };
});

export const imagesGrpcPlugin = grpcPlugin('images', [METADATA_PLUGIN, EVENT_PLUGIN], (ctx) => {
  const md = ctx.get<Metadata>(METADATA_PLUGIN);
  const impl = imagesService({ images: md.images, collect: () => md.db.requestCollection(), publish: publisherOf(ctx), log: ctx.log });
  return { add: (server) => addService(server, IMAGES, impl) };
});

export const containersGrpcPlugin = grpcPlugin('containers', [METADATA_PLUGIN, EVENT_PLUGIN], (ctx) => {
  const impl = containersService({ containers: ctx.get<Metadata>(METADATA_PLUGIN).containers, publish: publisherOf(ctx), log: ctx.log });
  return { add: (server) => addService(server, CONTAINERS, impl) };
});

export const snapshotsGrpcPlugin = grpcPlugin('snapshots', [METADATA_PLUGIN, SNAPSHOTTER_PLUGIN, EVENT_PLUGIN], (ctx) => {
  const backends = loadedSnapshotters(ctx);
  const snapshotters = new NamespacedSnapshotters(ctx.get<Metadata>(METADATA_PLUGIN).db, backends);
  const impl = snapshotsService({ snapshotters, publish: publisherOf(ctx), log: ctx.log });
  return { add: (server) => addService(server, SNAPSHOTS, impl) };
});

export const diffGrpcPlugin = grpcPlugin('diff', [DIFFER_PLUGIN], (ctx) => {
  const impl = diffService({ differ: ctx.get<WalkingDiffer>(`${DIFFER_PLUGIN}.walking`) });
  return { add: (server) => addService(server, DIFF, impl) };
});
