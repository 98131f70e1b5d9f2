// berth network prune [-f]: removes every user network no container is attached to, after
// Docker's prompt (-f skips it).

import type { CommandSpec } from '../command';
import { confirm } from '../system/prune';
import { networkError } from '../networks/view';

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Remove all unused networks',
  options: [{ long: 'force', short: 'f', type: 'boolean', description: 'Do not prompt for confirmation' }],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    if (!parsed.bool('force') && !(await confirm(ctx, 'WARNING! This will remove all custom networks not used by at least one container.'))) return;
    const d = await ctx.daemon();
    const { removed } = await d.networks.Prune({}).catch((err: unknown) => {
      throw networkError(err);
    });
    if (removed.length) ctx.io.stdout.write(`Deleted Networks:\n${removed.join('\n')}\n`);
  },
};
