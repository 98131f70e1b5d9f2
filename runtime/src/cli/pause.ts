import type { Command } from './commands';
import { oneId } from './util';
import { pauseContainer } from '../lib/pause';

const command: Command = {
  usage: 'pause ID',
  flags: {},
  async run(ctx, _flags, args) {
    await pauseContainer(ctx, oneId(args, 'pause'));
    return 0;
  },
};
export default command;
