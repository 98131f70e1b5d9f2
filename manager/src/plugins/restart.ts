// The restart plugin (containerd's `io.containerd.internal.v1.restart`): core/containers'
// RestartMonitor fed with the exchange's task events, acting through the tasks plugin's
// Tasks, the metadata store and the snapshotters. It starts after the tasks plugin has
// recovered the tasks a previous berthd left, subscribes to `/tasks/start` and `/tasks/exit`,
// then reconciles in the background (berthd does not wait for those restarts to serve).

import { unpackAny } from '../api';
import type { Exchange, Subscription } from '../core/events';
import type { Metadata } from '../core/metadata';
import type { Tasks } from '../core/tasks';
import { RestartMonitor } from '../core/containers/restart-monitor';
import type { Plugin } from '../daemon/plugin';
import { EVENT_PLUGIN, GRPC_PLUGIN } from './grpc';
import { METADATA_PLUGIN, SNAPSHOTTER_PLUGIN, namespacedSnapshotters } from './storage';

export const INTERNAL_PLUGIN = 'io.containerd.internal.v1';

interface RestartPlugin {
  monitor: RestartMonitor;
  subscription: Subscription;
}

export const restartPlugin: Plugin<RestartPlugin> = {
  type: INTERNAL_PLUGIN,
  id: 'restart',
  requires: [METADATA_PLUGIN, EVENT_PLUGIN, SNAPSHOTTER_PLUGIN, `${GRPC_PLUGIN}.tasks`],
  capabilities: ['no', 'always', 'on-failure', 'unless-stopped'],
  async init(ctx) {
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    const exchange = ctx.get<Exchange>(EVENT_PLUGIN);
    const tasks = ctx.get<Tasks>(`${GRPC_PLUGIN}.tasks`);
    const snapshotters = namespacedSnapshotters(ctx);
    const monitor = new RestartMonitor({
      tasks,
      namespaces: () => md.namespaces.list(),
      containers: (ns) => md.containers.list(ns),
      container: (ns, id) => md.containers.get(ns, id),
      setLabels: async (ns, id, labels) => {
        const c = md.containers.get(ns, id);
        await md.containers.update(ns, { ...c, labels: { ...c.labels, ...labels } }, Object.keys(labels).map((k) => `labels.${k}`));
      },
      mounts: (ns, snapshotter, key) => snapshotters.get(ns, snapshotter).mounts(key),
      log: ctx.log,
    });
    // Only a task's own process (id = container id) matters; execs exit without consequence.
    const subscription = exchange.subscribe(['topic=="/tasks/exit"', 'topic=="/tasks/start"'], (env) => {
      try {
        const ev = unpackAny<{ containerId: string; id?: string; exitStatus?: number }>(env.event).message;
        if (env.topic === '/tasks/start') monitor.taskStarted(env.namespace, ev.containerId);
        else if (ev.id === ev.containerId) monitor.taskExited(env.namespace, ev.containerId, ev.exitStatus ?? 0);
      } catch (err) {
        // Not thrown back: the exchange would drop this subscriber, and every later restart.
        ctx.log.error({ err: (err as Error).message, topic: env.topic }, 'restart monitor: event not handled');
      }
    });
    monitor.reconcile().catch((err: Error) => ctx.log.error({ err: err.message }, 'restart reconcile failed'));
    return { monitor, subscription };
  },
  async close(p) {
    p.subscription.close();
    await p.monitor.close();
  },
};
