import { openSync, readSync, closeSync, unlinkSync, constants } from 'fs';
import type { RuntimeContext } from './context';
import { loadContainer } from './load';
import { toOciState, pidStartTime } from '../state/state';
import { runHooks } from '../hooks/run';
import { mark } from '../util/timing';
import { awaitExecByte, awaitExec } from './exec-fifo';
import { failedPrecondition, errnoCode, BerthError } from '../util/errors';

/**
 * The start half: open the exec fifo for reading, which lets the blocked child finish its
 * open, write its byte and exec. Opening non-blocking and polling keeps a dead container
 * from hanging `start` forever (a blocking open would wait for a writer that never comes).
 */
export async function startContainer(ctx: RuntimeContext, id: string): Promise<void> {
  const c = await loadContainer(ctx, id);
  if (c.status !== 'created') throw failedPrecondition(`cannot start a container that is ${c.status}: ${id}`);
  const fifo = ctx.store.execFifo(id);
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    const shared = new Int32Array(new SharedArrayBuffer(4));
    const read = (): number | 'eof' | 'again' => {
      try {
        return readSync(fd, buf, 0, 1, null) === 1 ? buf[0]! : 'eof';
      } catch (err) {
        if (errnoCode(err) !== 'EAGAIN') throw err;
        return 'again';
      }
    };
    const alive = async () => (await pidStartTime(c.state.pid)) === c.state.pidStartTime;
    const pause = (spins: number) => Atomics.wait(shared, 0, 0, spins < 100 ? 1 : 10);
    if (!(await awaitExecByte(read, alive, pause))) throw new BerthError('ERR_INIT', `container ${id} exited before it could start`);
    const failure = await awaitExec(read, alive, pause);
    // The spec: a failing startContainer hook is an error and the container is stopped (the
    // child has exited by now; delete removes what is left).
    if (failure) throw new BerthError('ERR_INIT', failure);
  } finally {
    closeSync(fd);
  }
  unlinkSync(fifo);
  mark('started (exec fifo opened)');
  const running = JSON.stringify(toOciState(c.state, 'running'));
  // poststart failures are logged, not fatal: the process is already running (spec).
  await runHooks('poststart', c.state.hooks?.poststart, running).catch((e: Error) => ctx.warn(e.message));
}
