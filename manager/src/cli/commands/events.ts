// berth events: berthd's events (the Events service's stream, this namespace only) as Docker
// prints them, until interrupted or --until. berthd keeps no history of events (containerd's
// exchange does not), so --since can only hold back what is older than it among the events
// that arrive from now on; --until in the past ends at once.

import type { CommandSpec } from '../command';
import type { Daemon } from '../daemon';
import { UsageError } from '../errors';
import { formatOne } from '../output/format';
import { listContainers, fromProto } from '../containers/resolve';
import { dateOf, unpackAny } from '../../api';
import { CREATED_BY, IMAGE_REF, NAME } from '../../core/containers/labels';
import { eventLine, matchesFilters, parseEventFilters, parseEventTime, toDockerEvent, type ContainerFacts } from '../ops/events';

/** Names, images and labels of berth containers, kept current as events arrive. */
class ContainerCache {
  private readonly facts = new Map<string, ContainerFacts & { labels: Record<string, string> }>();
  constructor(private readonly d: Daemon) {}

  async load(): Promise<void> {
    for (const c of await listContainers(this.d)) this.facts.set(c.id, { name: c.name, image: c.labels[IMAGE_REF] ?? c.image, labels: c.labels });
  }

  /** Reads a container that was created or updated (a destroyed one stays known until its event is out). */
  async refresh(id: string): Promise<void> {
    try {
      const { container } = await this.d.containers.Get({ id });
      if (!container) return;
      const c = fromProto(container as never);
      if (c.labels[CREATED_BY] !== 'berth') return;
      this.facts.set(id, { name: c.name, image: c.labels[IMAGE_REF] ?? c.image, labels: c.labels });
    } catch {
      // deleted meanwhile: the events that name it still have what we knew
    }
  }

  /** The labels an update event carries: the container as of that event (not as of now). */
  update(id: string, labels: Record<string, string>): void {
    const c = this.facts.get(id);
    if (c) this.facts.set(id, { ...c, name: labels[NAME] ?? c.name, labels });
  }

  get(id: string) {
    return this.facts.get(id);
  }
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
    let filters: Map<string, string[]>;
    try {
      filters = parseEventFilters(parsed.list('filter'));
    } catch (err) {
      throw new UsageError((err as Error).message, ctx.commandPath);
    }
    const format = parsed.string('format');
    if (until !== undefined && until <= now) return;

    const d = await ctx.daemon();
    const cache = new ContainerCache(d);
    await cache.load();
    const stream = d.events.Subscribe({ filters: [`namespace==${JSON.stringify(ctx.globals.namespace)}`] });
    let queue = Promise.resolve();
    await new Promise<void>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        process.removeListener('SIGINT', finish);
        process.removeListener('SIGTERM', finish);
        stream.cancel();
        queue.then(resolve, reject);
      };
      const timer = until !== undefined ? setTimeout(finish, until - now) : undefined;
      process.once('SIGINT', finish);
      process.once('SIGTERM', finish);
      stream.on('data', (env: { timestamp: { seconds: number; nanos: number } | null; topic: string; event: { typeUrl: string; value: Uint8Array } | null }) => {
        // In order: a create's details are read before its line is printed.
        queue = queue.then(async () => {
          if (!env.event) return;
          let ev: Record<string, unknown>;
          try {
            ev = unpackAny<Record<string, unknown>>(env.event).message;
          } catch {
            return; // a type this client does not know
          }
          const at = dateOf(env.timestamp) ?? new Date();
          if ((since !== undefined && at.getTime() < since) || (until !== undefined && at.getTime() > until)) return;
          const previous = env.topic === '/containers/update' ? cache.get(String(ev.id ?? ''))?.labels : undefined;
          if (env.topic === '/containers/create') await cache.refresh(String(ev.id ?? ''));
          if (env.topic === '/containers/update') cache.update(String(ev.id ?? ''), (ev.labels ?? {}) as Record<string, string>);
          const e = toDockerEvent(env.topic, ev, at, (id) => cache.get(id), previous);
          if (!e) return;
          if (!matchesFilters(e, filters, cache.get(e.Actor.ID)?.labels)) return;
          ctx.io.stdout.write(formatOne(e, format) ?? `${eventLine(e)}\n`);
        });
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
