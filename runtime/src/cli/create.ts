import type { Command } from './commands';
import type { FlagSpec } from './args';
import { oneId } from './util';
import { createContainer, type CreateOptions } from '../lib/create';

/** Flags `create` and `run` share; the rest are accepted because runc accepts them. */
export const CREATE_FLAGS: FlagSpec = {
  bundle: { type: 'string', alias: ['b'] },
  'console-socket': { type: 'string' },
  'pid-file': { type: 'string' },
  'no-pivot': { type: 'bool' },
  'no-new-keyring': { type: 'bool' },
  'preserve-fds': { type: 'int' },
};

const command: Command = {
  usage: 'create [--bundle DIR] [--pid-file FILE] [--console-socket PATH] [--no-pivot] [--preserve-fds N] ID',
  flags: CREATE_FLAGS,
  async run(ctx, flags, args) {
    const { init } = await createContainer(ctx, createOptions(oneId(args, 'create'), flags));
    init.release();
    return 0;
  },
};
export default command;

/** The create options `create` and `run` read from the flags they share. */
export function createOptions(id: string, flags: Record<string, unknown>): CreateOptions {
  return {
    id,
    bundle: (flags.bundle as string | undefined) ?? '.',
    consoleSocket: flags['console-socket'] as string | undefined,
    pidFile: flags['pid-file'] as string | undefined,
    noPivot: Boolean(flags['no-pivot']),
    preserveFds: (flags['preserve-fds'] as number | undefined) ?? 0,
  };
}
