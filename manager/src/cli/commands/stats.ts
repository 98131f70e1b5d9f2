// berth stats: live resource use of containers from Tasks.Metrics (the cgroup figures),
// redrawn every second like Docker's (the screen cleared first when stdout is a terminal),
// until interrupted; --no-stream prints one table, from two samples half a second apart (CPU %
// needs two). Without arguments: every running berth container (-a: every one), followed as
// they come and go; with arguments: those, shown with zeros while not running.

import { totalmem } from 'node:os';
import type { CommandSpec } from '../command';
import type { Daemon } from '../daemon';
import { formatList } from '../output/format';
import { listContainers, matchContainer, type ContainerRecord } from '../containers/resolve';
import { unpackAny, dateOf } from '../../api';
import { STATS_FORMAT, STATS_TITLES, sampleOf, statsRow, type Sample } from '../ops/stats';

const INTERVAL_MS = 1000;
const NO_STREAM_GAP_MS = 500;

interface Target {
  ref: string;
  id: string;
  name: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The samples berthd gives for these ids (running tasks only), by id. */
async function sample(d: Daemon, ids: string[]): Promise<Map<string, Sample>> {
  const out = new Map<string, Sample>();
  if (!ids.length) return out;
  const { metrics } = await d.tasks.Metrics({ filters: ids.map((id) => `id==${id}`) });
  for (const m of metrics) {
    if (!m.data?.value) continue;
    const { name, message } = unpackAny<Record<string, unknown>>(m.data);
    out.set(m.id, sampleOf(name, message, dateOf(m.timestamp)?.getTime() ?? Date.now()));
  }
  return out;
}

async function runningIds(d: Daemon): Promise<Set<string>> {
  const { tasks } = await d.tasks.List({});
  return new Set(tasks.filter((t) => t.status === 'RUNNING' || t.status === 'PAUSED').map((t) => t.containerId));
}

/** The containers to show now: the named ones, or all (running unless -a). */
async function targets(d: Daemon, refs: string[], all: boolean): Promise<Target[]> {
  const records = await listContainers(d);
  const asTarget = (c: ContainerRecord, ref: string): Target => ({ ref, id: c.id, name: c.name });
  if (refs.length) return refs.map((r) => asTarget(matchContainer(records, r), r));
  const running = all ? undefined : await runningIds(d);
  return records.filter((c) => !running || running.has(c.id)).map((c) => asTarget(c, c.id));
}

export const command: CommandSpec = {
  usage: '[OPTIONS] [CONTAINER...]',
  summary: 'Display a live stream of container(s) resource usage statistics',
  options: [
    { long: 'all', short: 'a', type: 'boolean', description: 'Show all containers (default shows just running)' },
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
    { long: 'no-stream', type: 'boolean', description: 'Disable streaming stats and only pull the first result' },
    { long: 'no-trunc', type: 'boolean', description: "Don't truncate output" },
  ],
  args: { min: 0 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const format = parsed.string('format');
    const noTrunc = parsed.bool('no-trunc');
    const hostMemory = totalmem();
    const render = (list: Target[], cur: Map<string, Sample>, prev: Map<string, Sample>) =>
      formatList(list.map((t) => statsRow(t, cur.get(t.id), prev.get(t.id), hostMemory, noTrunc)), format, { defaultFormat: STATS_FORMAT, titles: STATS_TITLES });

    let list = await targets(d, parsed.args, parsed.bool('all'));
    let prev = await sample(d, list.map((t) => t.id));
    if (parsed.bool('no-stream')) {
      await sleep(NO_STREAM_GAP_MS);
      ctx.io.stdout.write(render(list, await sample(d, list.map((t) => t.id)), prev));
      return;
    }
    let stopped = false;
    const stop = () => void (stopped = true);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      while (!stopped) {
        await sleep(INTERVAL_MS);
        if (stopped) break;
        if (!parsed.args.length) list = await targets(d, [], parsed.bool('all'));
        const cur = await sample(d, list.map((t) => t.id));
        // A terminal gets the table redrawn in place, as Docker does; a pipe gets one after another.
        if (ctx.io.stdout.isTTY) ctx.io.stdout.write('\x1b[2J\x1b[H');
        ctx.io.stdout.write(render(list, cur, prev));
        prev = cur;
      }
    } finally {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
    }
  },
};
