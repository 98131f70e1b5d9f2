import type { Command } from './commands';
import { oneId } from './util';
import { containerState } from '../lib/query';

const command: Command = {
  usage: 'state ID',
  flags: {},
  async run(ctx, _flags, args) {
    process.stdout.write(JSON.stringify(await containerState(ctx, oneId(args, 'state')), null, '  ') + '\n');
    return 0;
  },
};
export default command;
