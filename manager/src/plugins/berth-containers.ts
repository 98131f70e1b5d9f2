// berthd's side of Docker-style containers (the berth client's): for containers labelled
// berth/created-by=berth only,
//   - their /etc/hostname, /etc/hosts, /etc/resolv.conf (core/containers/files.ts), written on
//     /containers/create and removed on /containers/delete;
//   - their state (core/containers/state.ts): started-at, finished-at, exit code, OOM kill, as
//     labels, from the task events;
//   - `run --rm` (core/containers/autoremove.ts): removal once the container has exited;
//   - `exec -d`'s processes (core/containers/detached-exec.ts): deleted once they have exited.
// Name uniqueness is the container store's own (core/metadata/containers.ts).
//
// Exports `containers_root` (Introspection, `ctr plugins ls -d id==berth-containers`): the
// directory whose <namespace>/<id>/ the client's spec bind-mounts the /etc files from.

import * as path from 'node:path';
import { dateOf, packAny, unpackAny } from '../api';
import { CREATED_BY } from '../core/containers/labels';
import { autoRemove } from '../core/containers/autoremove';
import { isDetachedExec } from '../core/containers/detached-exec';
import { ContainerFiles, etcInputOf, hostnameOf } from '../core/containers/files';
import { RUN_CONFIG_EXTENSION, parseRunConfig } from '../core/containers/run-config';
import { BERTH, StateRecorder } from '../core/containers/state';
import { ManagerError } from '../core/errors';
import type { Exchange, Subscription } from '../core/events';
import type { Metadata } from '../core/metadata';
import type { Tasks } from '../core/tasks';
import type { Plugin } from '../daemon/plugin';
import { EVENT_PLUGIN, GRPC_PLUGIN } from './grpc';
import { METADATA_PLUGIN, SNAPSHOTTER_PLUGIN, namespacedSnapshotters } from './storage';
import { VOLUMES_PLUGIN, optionalVolumes } from './volumes';
import { volumesOf } from '../core/volumes/users';

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
  // without the volume store, --rm leaves anonymous volumes (volume prune takes them)
  optionalRequires: [VOLUMES_PLUGIN],
  async init(ctx) {
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    const exchange = ctx.get<Exchange>(EVENT_PLUGIN);
    const tasks = ctx.get<Tasks>(`${GRPC_PLUGIN}.tasks`);
    const snapshotters = namespacedSnapshotters(ctx);
    const files = new ContainerFiles(path.join(ctx.root, 'containers'));
    ctx.exports[CONTAINERS_ROOT_EXPORT] = files.root;
    const log = ctx.log;
    const volumes = optionalVolumes(ctx);

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
            ...(volumes ? { removeVolumes: async (n: string, c: { extensions: Record<string, { typeUrl: string; value: Uint8Array }> }) => void (await volumes.removeAnonymous(n, volumesOf(parseRunConfig(c.extensions[RUN_CONFIG_EXTENSION])))) } : {}),
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

    /** `berth exec -d`'s process, exited: its record goes (core/containers/detached-exec.ts). */
    const forgetting = new Set<string>(); // the exit event and the sweep below may both come
    const forgetDetachedExec = (ns: string, containerId: string, execId: string) => {
      if (execId === containerId || !isDetachedExec(execId) || isBerth(ns, containerId)?.labels[CREATED_BY] !== BERTH) return;
      const key = `${ns}/${containerId}/${execId}`;
      if (forgetting.has(key)) return;
      forgetting.add(key);
      tasks
        .namespace(ns)
        .deleteProcess(containerId, execId)
        .catch((err: Error) => {
          if (!(err instanceof ManagerError && err.kind === 'NotFound')) log.warn({ err, container: containerId, exec: execId }, 'deleting a detached exec failed');
        })
        .finally(() => forgetting.delete(key));
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
            if (topic === '/tasks/exit') forgetDetachedExec(ns, String(message.containerId ?? ''), String(message.id ?? ''));
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
            const run = parseRunConfig(c.extensions[RUN_CONFIG_EXTENSION]);
            // the addresses come later: the networks plugin writes the files again after set-up
            files.writeSync(ns, id, etcInputOf(run, hostnameOf(c)));
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
    // Detached execs of the tasks recovered at this start: one that exited while berthd was away
    // may have had its exit published before this subscription; each goes once it has exited.
    for (const ns of md.namespaces.list()) {
      const tm = tasks.namespace(ns);
      for (const id of tm.ids()) {
        for (const execId of tm.execIds(id).filter(isDetachedExec)) {
          void tm.wait(id, execId).then(() => forgetDetachedExec(ns, id, execId), () => undefined);
        }
      }
    }
    return { recorder, files, subscription };
  },
  async close(b) {
    b.subscription.close();
    await b.recorder.idle();
  },
};
