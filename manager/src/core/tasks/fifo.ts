import { promises as fs, constants } from 'fs';
import { BerthError } from '@berth/runtime/dist/util/errors';
import { awaitExec, awaitExecByte } from '@berth/runtime/dist/lib/exec-fifo';

// `start` for berthd: the runtime library's exec-fifo state machine (runtime/src/lib/
// exec-fifo.ts, shared with `berth-runtime start`) over asynchronous reads and pauses: the
// CLI blocks its thread between reads (Atomics.wait), which berthd must not.

const pause = (spins: number) => new Promise((r) => setTimeout(r, spins < 100 ? 1 : 10));

/**
 * Opens `fifo`, waits for the child's byte, then reads to EOF (its execve); a message before
 * EOF (a failed startContainer hook, execve itself) becomes the error. `alive` tells whether
 * the container's process still exists. Removes the fifo on success.
 */
export async function openExecFifo(fifo: string, alive: () => Promise<boolean>, what: string): Promise<void> {
  const fh = await fs.open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    const read = async (): Promise<number | 'eof' | 'again'> => {
      try {
        const { bytesRead } = await fh.read(buf, 0, 1, null);
        return bytesRead === 1 ? buf[0]! : 'eof';
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        return 'again';
      }
    };
    if (!(await awaitExecByte(read, alive, pause))) throw new BerthError('ERR_INIT', `${what} exited before it could start`);
    const failure = await awaitExec(read, alive, pause);
    if (failure) throw new BerthError('ERR_INIT', failure);
  } finally {
    await fh.close();
  }
  await fs.unlink(fifo);
}
