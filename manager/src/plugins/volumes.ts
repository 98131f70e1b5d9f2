// The volume store plugin (`io.containerd.internal.v1.volumes`): core/volumes' VolumeStore over
// berthd's metadata, with the volumes under <root>/volumes. Its init mounts again the
// filesystems of volumes with mount options that containers use (after a reboot), before the
// tasks and restart plugins start containers. It follows `/containers/create` to end the
// prune protection of the volumes a new container names (VolumeStore.release). Used by the
// berth.volumes.v1 service (services/berth-volumes.ts) and by `run --rm`'s auto-remove
// (plugins/berth-containers.ts).
//
// Exports `root` (Introspection, `ctr plugins ls -d id==volumes`).

import * as path from 'node:path';
import { unpackAny } from '../api';
import { RUN_CONFIG_EXTENSION, parseRunConfig } from '../core/containers/run-config';
import type { Exchange, Subscription } from '../core/events';
import type { Metadata } from '../core/metadata';
import { VolumeStore, volumesOf } from '../core/volumes';
import { optionalPlugin, type Plugin, type PluginContext } from '../daemon/plugin';
import { EVENT_PLUGIN } from './grpc';
import { METADATA_PLUGIN } from './storage';

export const VOLUMES_PLUGIN_TYPE = 'io.containerd.internal.v1';
export const VOLUMES_PLUGIN_ID = 'volumes';
/** `type.id`, for requires and ctx.get. */
export const VOLUMES_PLUGIN = `${VOLUMES_PLUGIN_TYPE}.${VOLUMES_PLUGIN_ID}`;

export interface Volumes {
  store: VolumeStore;
  subscription: Subscription;
}

export const volumesPlugin: Plugin<Volumes> = {
  type: VOLUMES_PLUGIN_TYPE,
  id: VOLUMES_PLUGIN_ID,
  requires: [METADATA_PLUGIN, EVENT_PLUGIN],
  async init(ctx) {
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    const store = new VolumeStore(md.db, path.join(ctx.root, 'volumes'), ctx.log);
    ctx.exports.root = store.root;
    const mounted = await store.restoreMounts();
    if (mounted > 0) ctx.log.info({ mounted }, 'volume filesystems mounted again');
    const subscription = ctx.get<Exchange>(EVENT_PLUGIN).subscribe(['topic=="/containers/create"'], (env) => {
      // never throw out of here: the exchange drops a subscriber that throws
      try {
        const id = String(unpackAny<{ id?: string }>(env.event).message.id ?? '');
        const c = md.containers.get(env.namespace, id);
        store.release(env.namespace, volumesOf(parseRunConfig(c.extensions[RUN_CONFIG_EXTENSION])));
      } catch {
        // gone already, or not a container with a run config: nothing reserved for it
      }
    });
    return { store, subscription };
  },
  async close(v) {
    v.subscription.close();
  },
};

/** The volume store when its plugin started, else undefined (for plugins that use it optionally). */
export function optionalVolumes(ctx: PluginContext): VolumeStore | undefined {
  return optionalPlugin<Volumes>(ctx, VOLUMES_PLUGIN)?.store;
}
