// berth.system.v1.System: the facts behind `berth info` and `berth system df`, and the
// collections behind `berth system prune` / `berth image prune` (proto/berth/system/v1).
//
// Info and Df read berthd's own state (metadata, task states, snapshot directories) in one
// call each. Prune deletes nothing itself: the client removes containers and images through
// the containerd services (which publish their events and keep their rules), then asks for a
// collection here; the space freed is what core/gc's collections report (GcStats), read as
// the growth of the scheduler's totals since GcTotals was read before the deletions — a
// deletion plans a collection of its own at once, so the one Prune runs may find little left.
//
// Events replays the recent events berthd kept (core/events/history.ts: the last 1024 per
// namespace, in memory, recorded from this plugin's start) and then streams the live ones.

import { readFile } from 'node:fs/promises';
import { availableParallelism, hostname, release, totalmem } from 'node:os';
import { layoutFromMountInfo } from '@berth/runtime/dist/cgroups/layout';
import { SYSTEM, addService, dateOf, timestamp, unpackAny } from '../api';
import { failedPrecondition } from '../core/errors';
import type { GcStats } from '../core/gc';
import { hostPlatform } from '../core/images/platform';
import type { Metadata } from '../core/metadata';
import type { Tasks } from '../core/tasks';
import type { Envelope, Exchange, Subscription } from '../core/events';
import { EventHistory, type HistoryEntry } from '../core/events/history';
import { EVENTS_PLUGIN, METADATA_PLUGIN } from '../daemon/core-plugins';
import { requireNamespace, toStatus, unary } from '../daemon/grpc';
import { optionalPlugin, type Plugin, type PluginContext } from '../daemon/plugin';
import { VERSION } from '../daemon/version';
import type { GcPlugin } from '../plugins/gc';
import { SNAPSHOTTER_PLUGIN, namespacedSnapshotters } from '../plugins/storage';
import { serverUuid } from './introspection';
import { TASKS_PLUGIN } from '../plugins/tasks';
import type { NamespacedSnapshotters } from './snapshots';

const GC_PLUGIN_ID = 'io.containerd.gc.v1.scheduler';
/** The snapshotter berth unpacks images into (cli/images/unpack.ts). */
const STORAGE_DRIVER = 'overlayfs';

async function osName(): Promise<string> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const m = /^PRETTY_NAME=(?:"([^"]*)"|(.*))$/m.exec(text);
  return m ? (m[1] ?? m[2] ?? '').trim() : 'Linux';
}

/** "1" (v1 or hybrid: the runtime library uses the v1 controllers then) or "2". */
async function cgroupVersion(): Promise<string> {
  try {
    return layoutFromMountInfo(await readFile('/proc/self/mountinfo', 'utf8')).mode === 'v2' ? '2' : '1';
  } catch {
    return '';
  }
}

const statsToProto = (s: GcStats) => ({
  leases: s.leases,
  content: s.content,
  ingests: s.ingests,
  snapshots: s.snapshots,
  blobsDeleted: s.blobsDeleted,
  ingestsAborted: s.ingestsAborted,
  contentBytes: s.contentBytes,
  snapshotsRemoved: s.snapshotsRemoved,
  snapshotBytes: s.snapshotBytes,
  bytesFreed: s.bytesFreed,
  totalMs: Math.round(s.totalMs),
});

interface SystemDeps {
  ctx: PluginContext;
  md: Metadata;
  tasks: Tasks | undefined;
  snapshotters: NamespacedSnapshotters;
  gc: GcPlugin | undefined;
  uuid: string;
  history: EventHistory;
  recording: Subscription;
}

/** The container an event is about: a task event's container_id, a container event's id. */
function containerIdOf(env: Envelope): string | undefined {
  if (!env.topic.startsWith('/tasks/') && !env.topic.startsWith('/containers/')) return undefined;
  const { message } = unpackAny<{ containerId?: string; id?: string }>(env.event);
  return (env.topic.startsWith('/tasks/') ? message.containerId : message.id) || undefined;
}

/** The history of every namespace's events from now on, knowing the containers there are now. */
function recordEvents(md: Metadata, exchange: Exchange): { history: EventHistory; recording: Subscription } {
  const history = new EventHistory({
    containerIdOf,
    lookup: (ns, id) => {
      try {
        const c = md.containers.get(ns, id);
        return { labels: c.labels, image: c.image };
      } catch {
        return undefined;
      }
    },
  });
  for (const ns of md.namespaces.list()) {
    for (const c of md.containers.list(ns)) history.remember(ns, { id: c.id, labels: c.labels, image: c.image });
  }
  // berthd stopping closes the exchange: the followers' streams end with it
  const recording = exchange.subscribe([], (env) => history.record(env), () => history.close());
  return { history, recording };
}

const eventRecord = (e: HistoryEntry, replayed: boolean) => ({
  timestamp: timestamp(e.envelope.timestamp),
  topic: e.envelope.topic,
  event: e.envelope.event,
  ...(e.container ? { container: e.container } : {}),
  ...(e.previousLabels ? { previousLabels: e.previousLabels } : {}),
  replayed,
});

export const systemPlugin: Plugin<SystemDeps> = {
  type: 'io.containerd.grpc.v1',
  id: 'berth-system',
  requires: [METADATA_PLUGIN, SNAPSHOTTER_PLUGIN, EVENTS_PLUGIN],
  // without tasks every container counts as stopped; without the collector Prune is refused
  optionalRequires: [TASKS_PLUGIN, GC_PLUGIN_ID],
  async init(ctx) {
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    return {
      ctx,
      md,
      tasks: optionalPlugin<Tasks>(ctx, TASKS_PLUGIN),
      snapshotters: namespacedSnapshotters(ctx),
      gc: optionalPlugin<GcPlugin>(ctx, GC_PLUGIN_ID),
      uuid: await serverUuid(ctx.root),
      ...recordEvents(md, ctx.get<Exchange>(EVENTS_PLUGIN)),
    };
  },
  async close(deps) {
    deps.recording.close();
    deps.history.close();
  },
  register(server, deps) {
    const { ctx, md, tasks, snapshotters, gc } = deps;
    const totals = () => {
      const t = gc?.scheduler.totals();
      return { collections: t?.collections ?? 0, bytesFreed: t?.bytesFreed ?? 0 };
    };
    addService(server, SYSTEM, {
      Info: unary(async (call) => {
        const ns = requireNamespace(call);
        const counts = { running: 0, paused: 0, stopped: 0 };
        const containers = md.containers.list(ns);
        for (const c of containers) {
          const status = await tasks
            ?.namespace(ns)
            .get(c.id)
            .then((p) => p.status, () => 'STOPPED');
          if (status === 'RUNNING') counts.running++;
          else if (status === 'PAUSED') counts.paused++;
          else counts.stopped++;
        }
        const images = new Set(md.images.list(ns).map((i) => i.target.digest));
        const tasksPlugin = ctx.plugins().find((p) => `${p.type}.${p.id}` === TASKS_PLUGIN);
        return {
          id: deps.uuid,
          name: hostname(),
          serverVersion: VERSION,
          kernelVersion: release(),
          operatingSystem: await osName(),
          osType: 'linux',
          architecture: hostPlatform().architecture,
          ncpu: availableParallelism(),
          memTotal: totalmem(),
          rootDir: ctx.root,
          stateDir: ctx.state,
          storageDriver: STORAGE_DRIVER,
          snapshotters: snapshotters.names(),
          cgroupDriver: 'cgroupfs',
          cgroupVersion: await cgroupVersion(),
          runtime: 'berth-runtime',
          shimPath: tasksPlugin?.exports.shim ?? '',
          initPath: tasksPlugin?.exports.init ?? '',
          containers: containers.length,
          containersRunning: counts.running,
          containersPaused: counts.paused,
          containersStopped: counts.stopped,
          images: images.size,
          gcEnabled: gc !== undefined,
          // the shim writes CRI log lines (<log_root>/<ns>/<id>.log), not Docker's json-file
          loggingDriver: 'cri',
        };
      }),

      Df: unary(async (call) => {
        const ns = requireNamespace(call);
        const content: { digest: string; size: number }[] = [];
        await md.content.namespace(ns).walk((i) => void content.push({ digest: i.digest, size: i.size }));
        const snapshots: { snapshotter: string; key: string; parent: string; kind: string; size: number; inodes: number }[] = [];
        for (const name of snapshotters.names()) {
          const sn = snapshotters.get(ns, name);
          const infos: { name: string; parent: string; kind: string }[] = [];
          await sn.walk((i) => void infos.push({ name: i.name, parent: i.parent, kind: i.kind }));
          for (const i of infos) {
            // a snapshot removed between the walk and its usage is simply not counted
            const u = await sn.usage(i.name).catch(() => undefined);
            if (u) snapshots.push({ snapshotter: name, key: i.name, parent: i.parent, kind: i.kind, size: u.size, inodes: u.inodes });
          }
        }
        return { content, snapshots };
      }),

      Prune: unary(async () => {
        if (!gc) throw failedPrecondition('garbage collection is disabled in this berthd (plugin io.containerd.gc.v1.scheduler)');
        const stats = await gc.scheduler.scheduleAndWait();
        return { collection: statsToProto(stats), totals: totals() };
      }),

      GcTotals: unary(() => totals()),

      Events: (call) => {
        let ns: string;
        try {
          ns = requireNamespace(call);
        } catch (err) {
          call.emit('error', toStatus(err));
          return;
        }
        const since = dateOf(call.request.since);
        const until = dateOf(call.request.until);
        let done = false;
        let follower: { close(): void } | undefined;
        const finish = () => {
          if (done) return;
          done = true;
          follower?.close();
          call.end();
        };
        // The replay is read and the follower registered in one tick: no event falls between.
        const replay = since ? deps.history.entries(ns, since, until ?? undefined) : [];
        if (call.request.follow) {
          follower = deps.history.follow(ns, (e) => void (done || call.write(eventRecord(e, false))), finish);
          call.on('cancelled', () => {
            done = true;
            follower?.close();
          });
        }
        for (const e of replay) call.write(eventRecord(e, true));
        if (!call.request.follow) finish();
      },
    });
  },
};
