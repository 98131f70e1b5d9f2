// berth system prune [-a] [-f] [--volumes]: removes stopped berth containers, with --volumes
// then the anonymous volumes no container uses (Docker 23+: named ones stay), then untagged
// images (-a: every image no container uses), and reports the space freed: the volumes' files
// and what berthd's garbage collector freed. Networks and build cache come with their issues.

import type { CommandSpec } from '../command';
import { collect, confirm, gcBefore, pruneContainers, pruneImages } from '../system/prune';
import { humanSize } from '../output/units';
import { volumeError } from '../volumes/errors';

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Remove unused data',
  options: [
    { long: 'all', short: 'a', type: 'boolean', description: 'Remove all unused images not just dangling ones' },
    { long: 'force', short: 'f', type: 'boolean', description: 'Do not prompt for confirmation' },
    { long: 'volumes', type: 'boolean', description: 'Prune anonymous volumes' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const all = parsed.bool('all');
    const warning = [
      'WARNING! This will remove:',
      '  - all stopped containers',
      ...(parsed.bool('volumes') ? ['  - all anonymous volumes not used by at least one container'] : []),
      all ? '  - all images without at least one container associated to them' : '  - all dangling images',
      '',
    ].join('\n');
    if (!parsed.bool('force') && !(await confirm(ctx, warning))) return;
    const d = await ctx.daemon();
    const before = await gcBefore(d);
    const containers = await pruneContainers(d);
    const volumes = parsed.bool('volumes')
      ? await d.volumes.Prune({ all: false, filters: [] }).catch((err: unknown) => {
          throw volumeError(err);
        })
      : { deleted: [], spaceReclaimed: 0 };
    const images = await pruneImages(d, { all });
    const freed = (await collect(d, before)) + volumes.spaceReclaimed;
    if (containers.length) ctx.io.stdout.write(`Deleted Containers:\n${containers.join('\n')}\n\n`);
    if (volumes.deleted.length) ctx.io.stdout.write(`Deleted Volumes:\n${volumes.deleted.join('\n')}\n\n`);
    if (images.length) ctx.io.stdout.write(`Deleted Images:\n${images.join('\n')}\n\n`);
    ctx.io.stdout.write(`Total reclaimed space: ${humanSize(freed)}\n`);
  },
};
