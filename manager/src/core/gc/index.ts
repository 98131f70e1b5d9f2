// Garbage collection of content and snapshots, as containerd 1.6 does it: mark.ts (what is
// reachable, in one metadata transaction), collector.ts (one collection: records, then
// files), scheduler.ts (when collections run). The labels it reads are in labels.ts.

import type { MetadataDB } from '../metadata/db';
import type { GcStats } from './collector';

export * from './labels';
export { markAndSweep, type MarkInput, type SweepResult } from './mark';
export { Collector, type CollectorOptions, type GcLog, type GcStats } from './collector';
export { Scheduler, SCHEDULER_DEFAULTS, parseSchedulerConfig, type GcTotals, type SchedulerConfig, type SchedulerLog } from './scheduler';

/**
 * Asks the collector attached to `db` (the GC plugin's scheduler) for a collection and
 * waits for it: its stats, or undefined when berthd runs without a collector.
 */
export async function collectAndWait(db: MetadataDB): Promise<GcStats | undefined> {
  return (await db.requestCollection()) as GcStats | undefined;
}
