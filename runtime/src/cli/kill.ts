import type { Command } from './commands';
import { oneId } from './util';
import { killContainer, parseSignal } from '../lib/kill';

const command: Command = {
  usage: 'kill [--all] ID [SIGNAL]',
  flags: { all: { type: 'bool', alias: ['a'] } },
  async run(ctx, flags, args) {
    const id = oneId(args, 'kill', 2);
    await killContainer(ctx, id, parseSignal(args[1]), Boolean(flags.all));
    return 0;
  },
};
export default command;
