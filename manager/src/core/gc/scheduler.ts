// When collections run: containerd 1.6's gc/scheduler, on timers instead of a goroutine.
//
// Inputs: mutated(dirty) after every metadata update (MetadataDB.onMutation; dirty when it
// deleted something), and scheduleAndWait() from callers that must see a collection finish
// (images.Delete and leases.Delete with `sync`). The rules, as containerd's:
//   - a request (scheduleAndWait) plans a collection `schedule_delay_ms` from now, earlier
//     than any already planned;
//   - deletion_threshold N > 0: N deletions since the last collection do the same;
//   - otherwise a deletion (with deletion_threshold 0, or any once a collection has run),
//     or mutation_threshold M > 0 updates of any kind, plan one when none is planned: before
//     the first collection `schedule_delay_ms` from now, after it once `interval` has passed
//     since the last one;
//   - interval keeps the metadata pause near pause_threshold of the time: avg/threshold −
//     avg over the collections so far (at least 100 ms; 1 s while pause_threshold is 0);
//   - startup_delay_ms after start the first collection runs (0: none until something asks).
// One difference: containerd re-arms its timer every interval and skips the collection when
// nothing happened; here nothing is planned while nothing happens (no wake-ups when idle),
// and a collection runs no later than containerd's would.
// Collections run off the request path (from the timer), one at a time. A change made while
// a collection runs is judged after it: counted unless it committed before the collection's
// metadata transaction (which has then seen it). A request made while one runs waits for
// the next one, which is planned at once.

import { failedPrecondition, invalidArgument } from '../errors';
import type { GcStats } from './collector';

export interface SchedulerConfig {
  pauseThreshold: number;
  deletionThreshold: number;
  mutationThreshold: number;
  scheduleDelayMs: number;
  startupDelayMs: number;
}

/** The plugin config section's keys and defaults (containerd's, delays in ms). */
export const SCHEDULER_DEFAULTS = {
  pause_threshold: 0.02,
  deletion_threshold: 0,
  mutation_threshold: 100,
  schedule_delay_ms: 0,
  startup_delay_ms: 100,
};

/** Validates a config section (defaults already applied); errors name the key. */
export function parseSchedulerConfig(raw: Record<string, unknown>): SchedulerConfig {
  const known = Object.keys(SCHEDULER_DEFAULTS);
  for (const k of Object.keys(raw)) if (!known.includes(k)) throw invalidArgument(`gc scheduler: unknown setting ${JSON.stringify(k)} (known: ${known.join(', ')})`);
  const num = (k: keyof typeof SCHEDULER_DEFAULTS, integer: boolean, max: number): number => {
    const v = raw[k] ?? SCHEDULER_DEFAULTS[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < 0 || v > max) {
      throw invalidArgument(`gc scheduler: ${k}: expected ${integer ? 'an integer' : 'a number'} in 0..${max}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  return {
    // containerd caps it at 0.5: beyond that collections would be planned back to back
    pauseThreshold: num('pause_threshold', false, 0.5),
    deletionThreshold: num('deletion_threshold', true, Number.MAX_SAFE_INTEGER),
    mutationThreshold: num('mutation_threshold', true, Number.MAX_SAFE_INTEGER),
    scheduleDelayMs: num('schedule_delay_ms', true, 24 * 3600 * 1000),
    startupDelayMs: num('startup_delay_ms', true, 24 * 3600 * 1000),
  };
}

/**
 * The shortest wait between planned collections. containerd has none, but measures pauses in
 * nanoseconds; a sub-millisecond pause here would plan the next collection at once, and a
 * burst of deletions (`ctr run --rm` in a loop) would each get a collection of their own.
 */
const MIN_INTERVAL_MS = 100;

export interface SchedulerLog {
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

interface Waiter {
  resolve(s: GcStats): void;
  reject(e: unknown): void;
}

interface Event {
  at: number;
  /** an update (true) or a request (false) */
  mutation: boolean;
  dirty: boolean;
}

/** Totals since start, for reports (later: `berth system prune`). */
export interface GcTotals {
  collections: number;
  bytesFreed: number;
  last?: GcStats;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private nextAt: number | undefined;
  /** When the metadata transaction of the last collection ran, and when that collection ended. */
  private lastMarkedAt: number | undefined;
  private lastEndedAt: number | undefined;
  private interval = 1000;
  private gcTimeMs = 0;
  private collections = 0;
  private bytesFreed = 0;
  private lastStats: GcStats | undefined;
  private triggered = false;
  private deletions = 0;
  private mutations = 0;
  private waiters: Waiter[] = [];
  private running: Promise<void> | undefined;
  /** Events that arrived while a collection ran, judged after it. */
  private held: Event[] = [];
  private closed = false;

  constructor(
    private readonly collector: { collect(): Promise<GcStats> },
    private readonly cfg: SchedulerConfig,
    private readonly log?: SchedulerLog,
  ) {}

  /** Plans the start-up collection. */
  start(): void {
    if (this.cfg.startupDelayMs > 0) this.schedule(this.cfg.startupDelayMs);
  }

  /** MetadataDB.onMutation's listener. */
  mutated(dirty: boolean): void {
    this.event({ at: Date.now(), mutation: true, dirty });
  }

  /** Plans a collection now and resolves with its stats when it has run. */
  scheduleAndWait(): Promise<GcStats> {
    if (this.closed) return Promise.reject(failedPrecondition('garbage collector is stopped'));
    const p = new Promise<GcStats>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.event({ at: Date.now(), mutation: false, dirty: false });
    return p;
  }

  totals(): GcTotals {
    return { collections: this.collections, bytesFreed: this.bytesFreed, ...(this.lastStats ? { last: this.lastStats } : {}) };
  }

  /** Stops planning; waits for a running collection; pending requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    await this.running;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(failedPrecondition('garbage collector stopped before collecting'));
  }

  private event(e: Event): void {
    if (this.closed) return;
    if (this.running) {
      this.held.push(e);
      return;
    }
    if (e.mutation && this.lastMarkedAt !== undefined && e.at < this.lastMarkedAt) return; // already seen
    if (e.dirty) this.deletions++;
    if (e.mutation) this.mutations++;
    else this.triggered = true;
    const { deletionThreshold: dt, mutationThreshold: mt, scheduleDelayMs: delay } = this.cfg;
    if (this.triggered || (dt > 0 && this.deletions >= dt)) {
      if (this.nextAt === undefined || this.nextAt > Date.now() + delay) this.schedule(delay);
      return;
    }
    if (this.nextAt !== undefined) return;
    const byMutations = mt > 0 && this.mutations >= mt;
    if (this.lastEndedAt === undefined) {
      if ((dt === 0 && this.deletions > 0) || byMutations) this.schedule(delay);
    } else if (this.deletions > 0 || byMutations) {
      this.schedule(Math.max(0, this.lastEndedAt + this.interval - Date.now()));
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = undefined;
  }

  private schedule(ms: number): void {
    this.clearTimer();
    if (this.closed) return;
    this.nextAt = Date.now() + ms;
    this.timer = setTimeout(() => this.due(), ms);
    this.timer.unref(); // a planned collection never keeps the process alive
  }

  private due(): void {
    this.timer = undefined;
    this.nextAt = undefined;
    this.running = this.run().finally(() => {
      this.running = undefined;
      const held = this.held;
      this.held = [];
      for (const e of held) this.event(e);
    });
  }

  private async run(): Promise<void> {
    const waiters = this.waiters;
    this.waiters = [];
    let stats: GcStats;
    try {
      stats = await this.collector.collect();
    } catch (err) {
      this.log?.error({ err }, 'garbage collection failed');
      // containerd: try again after the usual wait plus a second (what made this one due,
      // deletions or a request, is still counted)
      this.lastEndedAt = Date.now();
      this.schedule(this.interval + 1000);
      for (const w of waiters) w.reject(err);
      return;
    }
    this.collections++;
    this.gcTimeMs += stats.metaMs;
    this.bytesFreed += stats.bytesFreed;
    this.lastStats = stats;
    this.triggered = false;
    this.deletions = 0;
    this.mutations = 0;
    this.lastMarkedAt = stats.markedAt;
    this.lastEndedAt = Date.now();
    if (this.cfg.pauseThreshold > 0) {
      const avg = this.gcTimeMs / this.collections;
      this.interval = Math.max(MIN_INTERVAL_MS, Math.round(avg / this.cfg.pauseThreshold - avg));
    }
    const removed = stats.leases + stats.content + stats.ingests + stats.snapshots + stats.blobsDeleted + stats.ingestsAborted + stats.snapshotsRemoved;
    const summary = {
      leases: stats.leases,
      content: stats.content,
      ingests: stats.ingests,
      snapshots: stats.snapshots,
      blobs_deleted: stats.blobsDeleted,
      ingests_aborted: stats.ingestsAborted,
      snapshots_removed: stats.snapshotsRemoved,
      content_bytes: stats.contentBytes,
      snapshot_bytes: stats.snapshotBytes,
      bytes_freed: stats.bytesFreed,
      meta_ms: Math.round(stats.metaMs * 10) / 10,
      total_ms: Math.round(stats.totalMs * 10) / 10,
    };
    if (removed > 0) this.log?.info(summary, 'garbage collected');
    else this.log?.debug(summary, 'garbage collection: nothing to collect');
    for (const w of waiters) w.resolve(stats);
  }
}
