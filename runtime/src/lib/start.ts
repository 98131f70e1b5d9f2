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
    // 1: the byte; 0: EOF (no writer has it open); -1: a writer has it open, no data yet.
    const readOne = (): number => {
      try {
        return readSync(fd, buf, 0, 1, null);
      } catch (err) {
        if (errnoCode(err) !== 'EAGAIN') throw err;
        return -1;
      }
    };
    const alive = async () => (await pidStartTime(c.state.pid)) === c.state.pidStartTime;
    const pause = (spins: number) => Atomics.wait(shared, 0, 0, spins < 100 ? 1 : 10);
    if (!(await awaitExecByte(readOne, alive, pause))) throw new BerthError('ERR_INIT', `container ${id} exited before it could start`);
    await awaitExec(readOne, alive, pause);
  } finally {
    closeSync(fd);
  }
  unlinkSync(fifo);
  mark('started (exec fifo opened)');
  const running = JSON.stringify(toOciState(c.state, 'running'));
  // poststart failures are logged, not fatal: the process is already running (spec).
  await runHooks('poststart', c.state.hooks?.poststart, running).catch((e: Error) => ctx.warn(e.message));
}
