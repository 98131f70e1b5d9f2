// berth volume ls [-q] [-f KEY=VALUE]... [--format]: Docker's volume list, by name. Filters
// (berthd applies them): dangling=true|false, name=, label=KEY[=VALUE], driver=.

import type { CommandSpec } from '../command';
import { formatList } from '../output/format';
import { volumeError } from '../volumes/errors';
import { rowOf, type VolumeMessage } from '../volumes/view';

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'List volumes',
  options: [
    { long: 'filter', short: 'f', type: 'list', description: "Provide filter values (e.g. 'dangling=true', 'name=x', 'label=k=v', 'driver=local')" },
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
    { long: 'quiet', short: 'q', type: 'boolean', description: 'Only display volume names' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const format = parsed.string('format');
    // sizes are a walk of every volume: only when the template asks for them
    const size = format !== undefined && format.includes('.Size');
    const { volumes } = await d.volumes.List({ filters: parsed.list('filter'), size }).catch((err: unknown) => {
      throw volumeError(err);
    });
    const sorted = (volumes as VolumeMessage[]).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (parsed.bool('quiet')) {
      ctx.io.stdout.write(sorted.map((v) => `${v.name}\n`).join(''));
      return;
    }
    ctx.io.stdout.write(formatList(sorted.map(rowOf), format, { defaultFormat: 'table {{.Driver}}\t{{.Name}}', titles: { Name: 'VOLUME NAME' } }));
  },
};
