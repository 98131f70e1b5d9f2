// berth pause: freezes every process of each container (Tasks.Pause: the cgroup freezer).

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { forEachContainer, notRunning, taskStatus } from '../ops/each';

export const command: CommandSpec = {
  usage: 'CONTAINER [CONTAINER...]',
  summary: 'Pause all processes within one or more containers',
  options: [],
  args: { min: 1 },
  run: (ctx, parsed) =>
    forEachContainer(ctx, parsed.args, async (d, c) => {
      const status = await taskStatus(d, c.id);
      if (status === 'PAUSED') throw new CliError(`Container ${c.id} is already paused`);
      if (status !== 'RUNNING') throw notRunning(c.id);
      await d.tasks.Pause({ containerId: c.id });
    }),
};
