// berth image prune [-a] [-f]: removes untagged images (-a: every image no container uses),
// then reports the space berthd's garbage collector freed (system/prune.ts).

import type { CommandSpec } from '../command';
import { collect, confirm, gcBefore, pruneImages } from '../system/prune';
import { humanSize } from '../output/units';

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Remove unused images',
  options: [
    { long: 'all', short: 'a', type: 'boolean', description: 'Remove all unused images, not just dangling ones' },
    { long: 'force', short: 'f', type: 'boolean', description: 'Do not prompt for confirmation' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const all = parsed.bool('all');
    const warning = all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.';
    if (!parsed.bool('force') && !(await confirm(ctx, warning))) return;
    const d = await ctx.daemon();
    const before = await gcBefore(d);
    const lines = await pruneImages(d, { all });
    const freed = await collect(d, before);
    if (lines.length) ctx.io.stdout.write(`Deleted Images:\n${lines.join('\n')}\n\n`);
    ctx.io.stdout.write(`Total reclaimed space: ${humanSize(freed)}\n`);
  },
};
