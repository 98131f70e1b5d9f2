import type { Command } from './commands';
import { CREATE_FLAGS, createOptions } from './create';
import { oneId } from './util';
import { createContainer } from '../lib/create';
import { startContainer } from '../lib/start';
import { deleteContainer } from '../lib/delete';
import { mark } from '../util/timing';
import type { ChildProcess } from 'child_process';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/**
 * A foreground stage0 waits for the container and forwards what it is sent; we send it what
 * we get (a terminal's ^C and window changes reach our process group, not its). Returns the
 * function that stops forwarding.
 */
export function forwardSignals(stage0: ChildProcess): () => void {
  const forward = (sig: NodeJS.Signals) => stage0.kill(sig);
  for (const s of FORWARDED) process.on(s, forward);
  return () => {
    for (const s of FORWARDED) process.off(s, forward);
  };
}

const command: Command = {
  usage: 'run [--bundle DIR] [--detach] [--keep] [--pid-file FILE] [--console-socket PATH] [--no-pivot] [--preserve-fds N] ID',
  flags: { ...CREATE_FLAGS, detach: { type: 'bool', alias: ['d'] }, keep: { type: 'bool' } },
  async run(ctx, flags, args) {
    const id = oneId(args, 'run');
    const detach = Boolean(flags.detach);
    const { init } = await createContainer(ctx, { ...createOptions(id, flags), foreground: !detach });
    if (detach) {
      init.release();
      await startContainer(ctx, id);
      return 0;
    }
    const stop = forwardSignals(init.stage0);
    try {
      await startContainer(ctx, id);
    } catch (err) {
      await deleteContainer(ctx, id, true).catch(() => undefined);
      throw err;
    }
    const status = await init.exited;
    mark(`container exited with ${status}`);
    stop();
    if (!flags.keep) await deleteContainer(ctx, id, true);
    return status;
  },
};
export default command;

