// berth network ls [-q] [--no-trunc] [-f name=|id=|driver=|label=|type=custom|builtin] [--format]:
// the networks by name, with Docker's host and none pseudo-networks.

import type { CommandSpec } from '../command';
import { formatList } from '../output/format';
import { matchesFilters, networkError, rowOf, type NetworkMessage } from '../networks/view';

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'List networks',
  options: [
    { long: 'filter', short: 'f', type: 'list', description: "Provide filter values (e.g. 'driver=bridge')" },
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
    { long: 'no-trunc', type: 'boolean', description: 'Do not truncate the output' },
    { long: 'quiet', short: 'q', type: 'boolean', description: 'Only display network IDs' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const { networks } = await d.networks.List({}).catch((err: unknown) => {
      throw networkError(err);
    });
    const filters = parsed.list('filter');
    const shown = (networks as NetworkMessage[]).filter((n) => matchesFilters(n, filters)).sort((a, b) => a.name.localeCompare(b.name));
    const noTrunc = parsed.bool('no-trunc');
    if (parsed.bool('quiet')) {
      ctx.io.stdout.write(shown.map((n) => `${noTrunc ? n.id : n.id.slice(0, 12)}\n`).join(''));
      return;
    }
    ctx.io.stdout.write(formatList(shown.map((n) => rowOf(n, noTrunc)), parsed.string('format'), { defaultFormat: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', titles: { ID: 'NETWORK ID' } }));
  },
};
