import type { Command } from './commands';
import { oneId } from './util';
import { resumeContainer } from '../lib/pause';

const command: Command = {
  usage: 'resume ID',
  flags: {},
  async run(ctx, _flags, args) {
    await resumeContainer(ctx, oneId(args, 'resume'));
    return 0;
  },
};
export default command;
