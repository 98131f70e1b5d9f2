import type { RuntimeContext } from './context';
import { loadContainer } from './load';
import { readContainerStats, readOomKillCount } from '../cgroups';
import type { ContainerStats } from '../cgroups/stats-types';
import { pidStartTime } from '../state/state';
import { failedPrecondition } from '../util/errors';

// `events`: runc's event stream, one JSON object per line —
//   {"type":"stats","id":ID,"data":STATS} every interval, and
//   {"type":"oom","id":ID} each time the OOM killer kills a process in the container.
// runc waits on an eventfd (v1) or inotify (v2) for OOMs; Node can do neither, so the kill
// counter is polled often (OOM_POLL_MS) while stats come at the caller's interval.

export interface ContainerEvent {
  type: 'stats' | 'oom';
  id: string;
  data?: ContainerStats;
}

export const OOM_POLL_MS = 100;

/**
 * JSON as Go's encoder writes it for these types: compact, undefined members left out, and
 * bigint counters printed exactly (JSON.stringify refuses bigints and would round past 2^53).
 */
export function encodeJson(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(encodeJson).join(',')}]`;
  if (typeof value === 'object') {
    const members = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${encodeJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function encodeEvent(e: ContainerEvent): string {
  return encodeJson(e) + '\n';
}

/** Where events come from; the CLI reads the container's cgroup, tests pass their own. */
export interface EventSource {
  stats(): Promise<ContainerStats>;
  /** The OOM-kill counter, undefined when it cannot be read (no counter, cgroup gone). */
  oomKills(): Promise<number | undefined>;
  running(): Promise<boolean>;
}

export interface WatchOptions {
  intervalMs: number;
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  warn?: (msg: string) => void;
}

/**
 * Emits stats every interval and an oom event per new OOM kill, until the container stops.
 * The counter is read once more after the container is seen stopped, so the kill that ended
 * it is still reported.
 */
export async function watchEvents(id: string, source: EventSource, emit: (e: ContainerEvent) => void, opts: WatchOptions): Promise<void> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  const poll = opts.pollMs ?? OOM_POLL_MS;
  let kills = (await source.oomKills()) ?? 0;
  let nextStats = now() + opts.intervalMs;
  for (;;) {
    await sleep(Math.max(0, Math.min(poll, nextStats - now())));
    const running = await source.running();
    const count = await source.oomKills();
    if (count !== undefined) {
      for (; kills < count; kills++) emit({ type: 'oom', id });
      kills = count;
    }
    if (!running) return;
    if (now() >= nextStats) {
      try {
        emit({ type: 'stats', id, data: await source.stats() });
      } catch (err) {
        opts.warn?.(`stats: ${(err as Error).message}`);
      }
      // A slow read must not make the next events come in a burst.
      nextStats = Math.max(nextStats + opts.intervalMs, now());
    }
  }
}

/** The container's cgroup as an event source; refuses a stopped container as runc does. */
export async function containerEventSource(ctx: RuntimeContext, id: string): Promise<EventSource> {
  const c = await loadContainer(ctx, id);
  if (c.status === 'stopped') throw failedPrecondition(`container with id ${id} is not running`);
  const { cgroupVersion: version, cgroupPaths: paths, pid, pidStartTime: started } = c.state;
  return {
    stats: () => readContainerStats(ctx.host, version, paths),
    oomKills: () => readOomKillCount(ctx.host, version, paths),
    running: async () => (await pidStartTime(pid)) === started,
  };
}
