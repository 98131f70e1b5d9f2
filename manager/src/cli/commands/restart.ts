// berth restart [-t SECONDS] [-s SIGNAL] CONTAINER...: stop (as `stop` does) then start.

import type { CommandSpec } from '../command';
import { eachContainer } from '../containers/each';
import { startContainer } from '../containers/lifecycle';
import { STOP_OPTIONS, stopAsAsked } from './stop';

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Restart one or more containers',
  options: STOP_OPTIONS,
  args: { min: 1 },
  async run(ctx, parsed) {
    const stop = stopAsAsked(ctx, parsed);
    return eachContainer(ctx, parsed.args, async (d, c) => {
      await stop(d, c);
      await startContainer(d, c);
    });
  },
};
