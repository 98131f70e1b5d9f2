import type { Command } from './commands';
import { features } from '../lib/features';
import { invalidArgument } from '../util/errors';

const command: Command = {
  usage: 'features',
  flags: {},
  async run(_ctx, _flags, args) {
    if (args.length > 0) throw invalidArgument(`"features" takes no arguments, got ${args.length}`);
    // Indented like runc's, for a person reading it; callers parse it either way.
    process.stdout.write(JSON.stringify(features(), null, 4) + '\n');
    return 0;
  },
};
export default command;
