// berth events: berthd's events of this namespace as Docker prints them, over System.Events:
// first the recent ones berthd kept (with --since or --until: berthd keeps the last 1024 per
// namespace, in memory, since it started), then the live ones until interrupted or --until.
// An --until in the past prints the replay and ends. Each event comes with its container as
// it was then (labels, image), so a container removed or renamed since still has its name.

import type { CommandSpec } from '../command';
import { UsageError } from '../errors';
import { formatOne } from '../output/format';
import { dateOf, timestamp, unpackAny } from '../../api';
import { CREATED_BY, IMAGE_REF, NAME } from '../../core/containers/labels';
import { eventLine, matchesFilters, parseEventFilters, parseEventTime, rfc3339Nano, toDockerEvent, type ContainerFacts } from '../ops/events';

interface EventRecord {
  timestamp: { seconds: number; nanos: number } | null;
  topic: string;
  event: { typeUrl: string; value: Uint8Array } | null;
  container: { id: string; labels: Record<string, string>; image: string } | null;
  previousLabels: Record<string, string>;
}

/** A berth container's name and image as the event found it (others have no Docker event). */
function factsOf(c: EventRecord['container']): ContainerFacts | undefined {
  if (!c || c.labels[CREATED_BY] !== 'berth') return undefined;
  return { name: c.labels[NAME] ?? c.id.slice(0, 12), image: c.labels[IMAGE_REF] ?? c.image };
}

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Get real time events from the server',
  options: [
    { long: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided (container, event, type, image, label)' },
    { long: 'format', type: 'string', description: "Format the output using the given Go template, or 'json'" },
    { long: 'since', type: 'string', description: 'Show all events created since timestamp' },
    { long: 'until', type: 'string', description: 'Stream events until this timestamp' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const now = Date.now();
    const time = (flag: string): number | undefined => {
      const v = parsed.string(flag);
      if (v === undefined) return undefined;
      const t = parseEventTime(v, now);
      if (t === undefined) throw new UsageError(`invalid value for --${flag}: ${JSON.stringify(v)} is not a timestamp, a duration or a date`, ctx.commandPath);
      return t;
    };
    const since = time('since');
    const until = time('until');
    if (since !== undefined && until !== undefined && until < since) {
      throw new UsageError(`--until (${rfc3339Nano(until)}) is before --since (${rfc3339Nano(since)})`, ctx.commandPath);
    }
    let filters: Map<string, string[]>;
    try {
      filters = parseEventFilters(parsed.list('filter'));
    } catch (err) {
      throw new UsageError((err as Error).message, ctx.commandPath);
    }
    const format = parsed.string('format');
    // Docker's rule: either bound asks for the kept events (--until alone: all of them up to it)
    const replayFrom = since ?? (until !== undefined ? 0 : undefined);
    const follow = until === undefined || until > now;

    const d = await ctx.daemon();
    const stream = d.system.Events({
      ...(replayFrom !== undefined ? { since: timestamp(new Date(replayFrom)) } : {}),
      ...(until !== undefined ? { until: timestamp(new Date(until)) } : {}),
      follow,
    });
    await new Promise<void>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        process.removeListener('SIGINT', finish);
        process.removeListener('SIGTERM', finish);
        stream.cancel();
        resolve();
      };
      const timer = follow && until !== undefined ? setTimeout(finish, until - now) : undefined;
      process.once('SIGINT', finish);
      process.once('SIGTERM', finish);
      stream.on('data', (r: EventRecord) => {
        if (!r.event) return;
        let ev: Record<string, unknown>;
        try {
          ev = unpackAny<Record<string, unknown>>(r.event).message;
        } catch {
          return; // a type this client does not know
        }
        const at = dateOf(r.timestamp) ?? new Date();
        if ((since !== undefined && at.getTime() < since) || (until !== undefined && at.getTime() > until)) return;
        const facts = factsOf(r.container);
        const previous = Object.keys(r.previousLabels ?? {}).length ? r.previousLabels : undefined;
        const e = toDockerEvent(r.topic, ev, at, () => facts, previous);
        if (!e) return;
        if (!matchesFilters(e, filters, r.container?.labels)) return;
        ctx.io.stdout.write(formatOne(e, format) ?? `${eventLine(e)}\n`);
      });
      stream.on('error', (err: { code?: number }) => {
        if (err.code === 1) return; // our own cancel
        clearTimeout(timer);
        reject(err);
      });
      stream.on('end', finish);
    });
  },
};
