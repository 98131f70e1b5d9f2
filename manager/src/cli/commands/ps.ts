// berth ps [-a] [-q] [-n N] [-l] [--no-trunc] [-f FILTER] [--format F]: Docker's container
// list. One Containers.List and one Tasks.List for the whole table; the state of a container
// without a task is what berthd recorded in its labels. Sizes (-s) from one System.Df.

import type { CommandSpec } from '../command';
import { UsageError } from '../errors';
import { formatList } from '../output/format';
import { listContainers, runConfigOf, specOf, type ContainerRecord } from '../containers/resolve';
import { listTasks, stateOf, type ContainerState } from '../containers/lifecycle';
import { ellipsis, humanDuration } from '../containers/humanize';
import { IMAGE_REF, NAME } from '../../core/containers/labels';
import { containerSizes, sizeText } from '../ops/container-size';
import { psPorts, type ContainerNetworkMessage } from '../networks/view';
import type { Daemon } from '../daemon';

/** berthd's network settings of the namespace's containers, by id (one call; none from an older berthd). */
async function networkSettingsById(d: Daemon): Promise<Map<string, ContainerNetworkMessage>> {
  const r = await d.networks.ListContainerSettings({}).catch(() => ({ containers: [] }));
  return new Map((r.containers as ContainerNetworkMessage[]).map((c) => [c.containerId, c]));
}

const DEFAULT_FORMAT = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
const TITLES = { ID: 'CONTAINER ID', RunningFor: 'CREATED', CreatedAt: 'CREATED AT' };
const FILTERS = new Set(['status', 'name', 'label', 'id', 'exited', 'ancestor']);
const STATUSES = new Set(['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead']);

interface Filter {
  key: string;
  value: string;
}

function parseFilters(values: string[], commandPath: string): Filter[] {
  return values.map((f) => {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): ${f}`, commandPath);
    const key = f.slice(0, eq).toLowerCase();
    const value = f.slice(eq + 1);
    if (!FILTERS.has(key)) throw new UsageError(`invalid filter '${key}'`, commandPath);
    if (key === 'status' && !STATUSES.has(value)) throw new UsageError(`invalid filter 'status=${value}'`, commandPath);
    return { key, value };
  });
}

/** Filters of one key OR together, different keys AND (Docker's rule). */
function matches(c: ContainerRecord, s: ContainerState, filters: Filter[]): boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) byKey.set(f.key, [...(byKey.get(f.key) ?? []), f.value]);
  for (const [key, values] of byKey) {
    const ok = values.some((v) => {
      switch (key) {
        case 'status':
          return s.status === v;
        case 'name':
          try {
            return new RegExp(v).test(c.name);
          } catch {
            return c.name.includes(v);
          }
        case 'id':
          return c.id.startsWith(v);
        case 'label': {
          const eq = v.indexOf('=');
          return eq === -1 ? v in c.labels : c.labels[v.slice(0, eq)] === v.slice(eq + 1);
        }
        case 'exited':
          return s.status === 'exited' && String(s.exitCode) === v;
        case 'ancestor':
          return (c.labels[IMAGE_REF] ?? '') === v || c.image === v || (runConfigOf(c)?.ImageID ?? '').replace(/^sha256:/, '').startsWith(v.replace(/^sha256:/, ''));
      }
      return false;
    });
    if (!ok) return false;
  }
  return true;
}

export function statusText(s: ContainerState, now: number): string {
  const since = (iso: string) => humanDuration(Math.max(0, now - Date.parse(iso)));
  switch (s.status) {
    case 'running':
      return `Up ${since(s.startedAt)}`;
    case 'paused':
      return `Up ${since(s.startedAt)} (Paused)`;
    case 'exited':
      return `Exited (${s.exitCode}) ${since(s.finishedAt)} ago`;
    case 'created':
      return 'Created';
    default:
      return s.status;
  }
}

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'List containers',
  options: [
    { long: 'all', short: 'a', type: 'boolean', description: 'Show all containers (default shows just running)' },
    { long: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided (status, name, label, id, exited, ancestor)' },
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
    { long: 'last', short: 'n', type: 'string', valueName: 'int', description: 'Show n last created containers (includes all states)', defaultText: '-1' },
    { long: 'latest', short: 'l', type: 'boolean', description: 'Show the latest created container (includes all states)' },
    { long: 'no-trunc', type: 'boolean', description: "Don't truncate output" },
    { long: 'quiet', short: 'q', type: 'boolean', description: 'Only display container IDs' },
    { long: 'size', short: 's', type: 'boolean', description: 'Display total file sizes' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const filters = parseFilters(parsed.list('filter'), ctx.commandPath);
    const lastText = parsed.string('last');
    if (lastText !== undefined && !/^-?\d+$/.test(lastText)) throw new UsageError(`invalid argument "${lastText}" for "-n, --last" flag`, ctx.commandPath);
    let last = lastText === undefined ? -1 : Number(lastText);
    if (parsed.bool('latest')) last = 1;
    const all = parsed.bool('all') || last > 0 || filters.some((f) => f.key === 'status' || f.key === 'exited');
    const noTrunc = parsed.bool('no-trunc');
    const d = await ctx.daemon();
    const [containers, tasks, nets] = await Promise.all([listContainers(d), listTasks(d), networkSettingsById(d)]);
    const now = Date.now();
    let rows = containers
      .map((c) => ({ c, s: stateOf(c, tasks.get(c.id)) }))
      .filter(({ s }) => all || s.status === 'running' || s.status === 'paused' || s.status === 'restarting')
      .filter(({ c, s }) => matches(c, s, filters));
    if (last > 0) rows = rows.slice(0, last);
    if (parsed.bool('quiet')) {
      ctx.io.stdout.write(rows.map(({ c }) => `${noTrunc ? c.id : c.id.slice(0, 12)}\n`).join(''));
      return;
    }
    // Docker's -s, also asked for by a --format that shows .Size (unless --size=false)
    const format = parsed.string('format');
    const sizeGiven = parsed.has('size');
    const wantSize = sizeGiven ? parsed.bool('size') : format !== undefined && /\.Size\b/.test(format);
    const sizeOf = wantSize ? await containerSizes(d) : () => undefined;
    const items = rows.map(({ c, s }) => {
      const args = specOf(c).process?.args ?? [];
      const command = args.join(' ');
      return {
        ID: noTrunc ? c.id : c.id.slice(0, 12),
        Image: c.labels[IMAGE_REF] ?? c.image,
        Command: JSON.stringify(noTrunc ? command : ellipsis(command, 20)),
        CreatedAt: c.createdAt.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
        RunningFor: `${humanDuration(Math.max(0, now - c.createdAt.getTime()))} ago`,
        // Docker's: a running container's published ports and exposed ones left unpublished
        Ports: s.status === 'running' || s.status === 'paused' ? psPorts(nets.get(c.id), Object.keys(runConfigOf(c)?.ExposedPorts ?? {})) : '',
        Status: statusText(s, now),
        State: s.status,
        Names: c.labels[NAME] ?? c.id.slice(0, 12),
        Labels: Object.entries(c.labels).filter(([k]) => !k.startsWith('berth/') && !k.startsWith('containerd.io/')).map(([k, v]) => `${k}=${v}`).join(','),
        // Docker's: a volume by its name, a bind by its host path
        Mounts: (runConfigOf(c)?.Mounts?.filter((m) => m.Type !== 'tmpfs').map((m) => m.Name || m.Source) ?? (runConfigOf(c)?.Host.Binds ?? []).map((b) => b.split(':')[0])).join(','),
        Size: sizeText(sizeOf(c)),
        Networks: nets.get(c.id)?.endpoints.map((e) => e.network).join(',') ?? (['host', 'none'].includes(runConfigOf(c)?.Host.NetworkMode ?? '') ? runConfigOf(c)!.Host.NetworkMode! : ''),
      };
    });
    const defaultFormat = wantSize ? `${DEFAULT_FORMAT}\t{{.Size}}` : DEFAULT_FORMAT;
    ctx.io.stdout.write(formatList(items, format, { defaultFormat, titles: TITLES }));
  },
};
