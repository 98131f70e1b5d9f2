// berth system prune [-a] [-f]: removes stopped berth containers, then untagged images (-a:
// every image no container uses), then reports the space berthd's garbage collector freed.
// Networks, volumes and build cache come with the issues that bring them.

import type { CommandSpec } from '../command';
import { collect, confirm, gcBefore, pruneContainers, pruneImages } from '../system/prune';
import { humanSize } from '../output/units';

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Remove unused data',
  options: [
    { long: 'all', short: 'a', type: 'boolean', description: 'Remove all unused images not just dangling ones' },
    { long: 'force', short: 'f', type: 'boolean', description: 'Do not prompt for confirmation' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const all = parsed.bool('all');
    const warning = [
      'WARNING! This will remove:',
      '  - all stopped containers',
      all ? '  - all images without at least one container associated to them' : '  - all dangling images',
      '',
    ].join('\n');
    if (!parsed.bool('force') && !(await confirm(ctx, warning))) return;
    const d = await ctx.daemon();
    const before = await gcBefore(d);
    const containers = await pruneContainers(d);
    const images = await pruneImages(d, { all });
    const freed = await collect(d, before);
    if (containers.length) ctx.io.stdout.write(`Deleted Containers:\n${containers.join('\n')}\n\n`);
    if (images.length) ctx.io.stdout.write(`Deleted Images:\n${images.join('\n')}\n\n`);
    ctx.io.stdout.write(`Total reclaimed space: ${humanSize(freed)}\n`);
  },
};
