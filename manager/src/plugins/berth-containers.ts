// berthd's side of Docker-style containers (the berth client's): for containers labelled
// berth/created-by=berth only,
//   - their /etc/hostname, /etc/hosts, /etc/resolv.conf (core/containers/files.ts), written on
//     /containers/create and removed on /containers/delete;
//   - their state (core/containers/state.ts): started-at, finished-at, exit code, OOM kill, as
//     labels, from the task events;
//   - `run --rm` (core/containers/autoremove.ts): removal once the container has exited.
// Name uniqueness is the container store's own (core/metadata/containers.ts).
//
// Exports `containers_root` (Introspection, `ctr plugins ls -d id==berth-containers`): the
// directory whose <namespace>/<id>/ the client's spec bind-mounts the /etc files from.

import * as path from 'node:path';
import { dateOf, packAny, unpackAny } from '../api';
import { CREATED_BY } from '../core/containers/labels';
import { autoRemove } from '../core/containers/autoremove';
import { ContainerFiles } from '../core/containers/files';
import { RUN_CONFIG_EXTENSION, parseRunConfig } from '../core/containers/run-config';
import { BERTH, StateRecorder } from '../core/containers/state';
import type { Exchange, Subscription } from '../core/events';
import type { Metadata } from '../core/metadata';
import type { Tasks } from '../core/tasks';
import type { Plugin } from '../daemon/plugin';
import { NamespacedSnapshotters } from '../services/snapshots';
import { EVENT_PLUGIN, GRPC_PLUGIN } from './grpc';
import { METADATA_PLUGIN, SNAPSHOTTER_PLUGIN, loadedSnapshotters } from './storage';

export const INTERNAL_PLUGIN = 'io.containerd.internal.v1';
export const BERTH_CONTAINERS_ID = 'berth-containers';
/** The Introspection export naming the files' root. */
export const CONTAINERS_ROOT_EXPORT = 'containers_root';

export interface BerthContainers {
  recorder: StateRecorder;
  files: ContainerFiles;
  subscription: Subscription;
}

export const berthContainersPlugin: Plugin<BerthContainers> = {
  type: INTERNAL_PLUGIN,
  id: BERTH_CONTAINERS_ID,
  requires: [METADATA_PLUGIN, EVENT_PLUGIN, `${GRPC_PLUGIN}.tasks`, SNAPSHOTTER_PLUGIN],
  async init(ctx) {
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    const exchange = ctx.get<Exchange>(EVENT_PLUGIN);
    const tasks = ctx.get<Tasks>(`${GRPC_PLUGIN}.tasks`);
    const backends = loadedSnapshotters(ctx);
    const snapshotters = new NamespacedSnapshotters(md.db, backends);
    const files = new ContainerFiles(path.join(ctx.root, 'containers'));
    ctx.exports[CONTAINERS_ROOT_EXPORT] = files.root;
    const log = ctx.log;

    const recorder = new StateRecorder({
      containers: md.containers,
      log,
      autoRemove: (ns, id) =>
        autoRemove(
          {
            containers: md.containers,
            deleteTask: async (n, i) => void (await tasks.namespace(n).delete(i)),
            removeSnapshot: (n, snapshotter, key) => snapshotters.get(n, snapshotter).remove(key),
            removeFiles: (n, i) => files.remove(n, i),
            deleted: (n, i) => void exchange.publish(n, '/containers/delete', packAny('containerd.events.ContainerDelete', { id: i })).catch(() => undefined),
            log,
          },
          ns,
          id,
        ),
    });

    const isBerth = (ns: string, id: string) => {
      try {
        return md.containers.get(ns, id);
      } catch {
        return undefined;
      }
    };

    const subscription = exchange.subscribe([], (env) => {
      // Never throw out of here: the exchange drops a subscriber that throws.
      try {
        const topic = env.topic;
        if (!topic.startsWith('/tasks/') && !topic.startsWith('/containers/')) return;
        const { message } = unpackAny<Record<string, unknown>>(env.event);
        const ns = env.namespace;
        switch (topic) {
          case '/tasks/start':
          case '/tasks/oom':
          case '/tasks/exit':
            recorder.handle(ns, topic, {
              containerId: String(message.containerId ?? ''),
              id: String(message.id ?? ''),
              exitStatus: Number(message.exitStatus ?? 0),
              exitedAt: dateOf(message.exitedAt as { seconds: number; nanos: number } | null) ?? new Date(),
            });
            return;
          case '/containers/create': {
            const id = String(message.id ?? '');
            const c = isBerth(ns, id);
            if (!c || c.labels[CREATED_BY] !== BERTH) return;
            let hostname = id.slice(0, 12);
            try {
              hostname = (JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as { hostname?: string }).hostname || hostname;
            } catch {
              // not JSON: the default hostname
            }
            const run = parseRunConfig(c.extensions[RUN_CONFIG_EXTENSION]);
            files.writeSync(ns, id, { hostname, extraHosts: run?.Host.ExtraHosts ?? [], dns: run?.Host.Dns ?? [] });
            return;
          }
          case '/containers/delete':
            void files.remove(ns, String(message.id ?? '')).catch((err: Error) => log.warn({ err }, 'removing container files failed'));
            return;
        }
      } catch (err) {
        log.warn({ err, topic: env.topic }, 'berth-containers: handling an event failed');
      }
    });
    return { recorder, files, subscription };
  },
  async close(b) {
    b.subscription.close();
    await b.recorder.idle();
  },
};
