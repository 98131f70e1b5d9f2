// berth volume prune [-a] [-f] [--filter label=…]: removes the volumes no container uses —
// anonymous ones only (Docker 23+), every one with -a — after asking, unless -f.

import type { CommandSpec } from '../command';
import { confirm } from '../system/prune';
import { humanSize } from '../output/units';
import { volumeError } from '../volumes/errors';

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Remove unused local volumes',
  options: [
    { long: 'all', short: 'a', type: 'boolean', description: 'Remove all unused volumes, not just anonymous ones' },
    { long: 'filter', type: 'list', description: "Provide filter values (e.g. 'label=<key>=<value>', 'label!=<key>')" },
    { long: 'force', short: 'f', type: 'boolean', description: 'Do not prompt for confirmation' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const all = parsed.bool('all');
    const warning = all
      ? 'WARNING! This will remove all local volumes not used by at least one container.'
      : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
    if (!parsed.bool('force') && !(await confirm(ctx, warning))) return;
    const d = await ctx.daemon();
    const r = await d.volumes.Prune({ all, filters: parsed.list('filter') }).catch((err: unknown) => {
      throw volumeError(err);
    });
    if (r.deleted.length) ctx.io.stdout.write(`Deleted Volumes:\n${r.deleted.join('\n')}\n\n`);
    ctx.io.stdout.write(`Total reclaimed space: ${humanSize(r.spaceReclaimed)}\n`);
  },
};
