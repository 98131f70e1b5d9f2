// berth wait CONTAINER...: blocks until each container stops, then prints its exit code.

import type { CommandSpec } from '../command';
import { eachContainer } from '../containers/each';
import { waitExit } from '../containers/lifecycle';

export const command: CommandSpec = {
  usage: 'CONTAINER [CONTAINER...]',
  summary: 'Block until one or more containers stop, then print their exit codes',
  options: [],
  args: { min: 1 },
  async run(ctx, parsed) {
    return eachContainer(ctx, parsed.args, async (d, c) => String((await waitExit(d, c)) ?? 0));
  },
};
