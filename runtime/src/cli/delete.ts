import type { Command } from './commands';
import { oneId } from './util';
import { deleteContainer } from '../lib/delete';
import { BerthError } from '../util/errors';

const command: Command = {
  usage: 'delete [--force] ID',
  flags: { force: { type: 'bool', alias: ['f'] } },
  async run(ctx, flags, args) {
    const id = oneId(args, 'delete');
    try {
      await deleteContainer(ctx, id, Boolean(flags.force));
    } catch (err) {
      // runc: deleting with --force what is already gone is not an error.
      if (flags.force && err instanceof BerthError && err.code === 'ERR_NOT_FOUND') return 0;
      throw err;
    }
    return 0;
  },
};
export default command;
