import type { Command } from './commands';
import { oneId } from './util';
import { startContainer } from '../lib/start';

const command: Command = {
  usage: 'start ID',
  flags: {},
  async run(ctx, _flags, args) {
    await startContainer(ctx, oneId(args, 'start'));
    return 0;
  },
};
export default command;
