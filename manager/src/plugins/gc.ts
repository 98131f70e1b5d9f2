// The garbage collector plugin, containerd's `io.containerd.gc.v1.scheduler`: core/gc's
// Collector over the metadata store, its content store and the loaded snapshotters, run by
// core/gc's Scheduler.
//
// It ties itself to the metadata the services already use: MetadataDB.onMutation tells the
// scheduler about every update (deletions plan a collection), and attachCollector lets
// images.Delete / leases.Delete with `sync` wait for one (MetadataDB.requestCollection)
// without a plugin dependency. So a daemon (or a test server) without this plugin keeps
// everything and answers `sync` at once.
//
// Config (section `io.containerd.gc.v1.scheduler`), containerd's keys with delays in ms:
//   pause_threshold 0.02, deletion_threshold 0, mutation_threshold 100,
//   schedule_delay_ms 0, startup_delay_ms 100 (see core/gc/scheduler.ts).

import type { Metadata } from '../core/metadata';
import { Collector, Scheduler, SCHEDULER_DEFAULTS, parseSchedulerConfig } from '../core/gc';
import type { Plugin } from '../daemon/plugin';
import { METADATA_PLUGIN, SNAPSHOTTER_PLUGIN, loadedSnapshotters } from './storage';

export const GC_PLUGIN = 'io.containerd.gc.v1';

export interface GcPlugin {
  collector: Collector;
  scheduler: Scheduler;
  detach(): void;
}

export const gcSchedulerPlugin: Plugin<GcPlugin> = {
  type: GC_PLUGIN,
  id: 'scheduler',
  requires: [METADATA_PLUGIN, SNAPSHOTTER_PLUGIN],
  defaults: { ...SCHEDULER_DEFAULTS },
  async init(ctx) {
    const cfg = parseSchedulerConfig(ctx.config);
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    const snapshotters = loadedSnapshotters(ctx);
    const collector = new Collector({ db: md.db, content: md.content, snapshotters, log: ctx.log });
    const scheduler = new Scheduler(collector, cfg, ctx.log);
    Object.assign(ctx.exports, {
      PauseThreshold: String(cfg.pauseThreshold),
      DeletionThreshold: String(cfg.deletionThreshold),
      MutationThreshold: String(cfg.mutationThreshold),
      ScheduleDelay: `${cfg.scheduleDelayMs}ms`,
      StartupDelay: `${cfg.startupDelayMs}ms`,
    });
    const off = md.db.onMutation((dirty) => scheduler.mutated(dirty));
    const detach = md.db.attachCollector(scheduler);
    scheduler.start();
    return {
      collector,
      scheduler,
      detach: () => {
        off();
        detach();
      },
    };
  },
  async close(gc) {
    gc.detach();
    await gc.scheduler.close();
  },
};
