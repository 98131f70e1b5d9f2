// berth unpause: thaws each paused container (Tasks.Resume).

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { forEachContainer, taskStatus } from '../ops/each';

export const command: CommandSpec = {
  usage: 'CONTAINER [CONTAINER...]',
  summary: 'Unpause all processes within one or more containers',
  options: [],
  args: { min: 1 },
  run: (ctx, parsed) =>
    forEachContainer(ctx, parsed.args, async (d, c) => {
      if ((await taskStatus(d, c.id)) !== 'PAUSED') throw new CliError(`Container ${c.id} is not paused`);
      await d.tasks.Resume({ containerId: c.id });
    }),
};
