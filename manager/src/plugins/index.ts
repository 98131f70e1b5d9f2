// berthd's storage-side plugins (they require daemon/core-plugins.ts's metadata and events
// plugins), in a start order that satisfies their requires (the registry orders them anyway).
import type { Plugin } from '../daemon/plugin';
import { containersGrpcPlugin, contentGrpcPlugin, diffGrpcPlugin, imagesGrpcPlugin, snapshotsGrpcPlugin } from './grpc';
import { contentPlugin, nativePlugin, overlayfsPlugin, walkingDifferPlugin } from './storage';

export * from './storage';
export * from './grpc';

export const STORAGE_PLUGINS: Plugin<any>[] = [
  contentPlugin,
  overlayfsPlugin,
  nativePlugin,
  walkingDifferPlugin,
  contentGrpcPlugin,
  imagesGrpcPlugin,
  snapshotsGrpcPlugin,
  diffGrpcPlugin,
  containersGrpcPlugin,
];
