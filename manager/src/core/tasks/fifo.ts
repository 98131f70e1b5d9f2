import { promises as fs, constants } from 'fs';
import { BerthError } from '@berth/runtime/dist/util/errors';

// `start` for berthd: the reader side of the exec fifo, as the runtime library's
// startContainer does it (runtime/src/lib/start.ts), but with async reads: the library's
// version blocks the thread between reads (Atomics.wait), which the CLI may do and berthd
// must not.

type Read = () => Promise<number | 'eof' | 'again'>;

const pause = (spins: number) => new Promise((r) => setTimeout(r, spins < 100 ? 1 : 10));

/**
 * Opens `fifo`, waits for the child's byte, then reads to EOF (its execve). Anything before
 * EOF is berth-init's message about what failed (a startContainer hook, execve itself).
 * `alive` tells whether the container's process still exists. Removes the fifo on success.
 */
export async function openExecFifo(fifo: string, alive: () => Promise<boolean>, what: string): Promise<void> {
  const fh = await fs.open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    const read: Read = async () => {
      try {
        const { bytesRead } = await fh.read(buf, 0, 1, null);
        return bytesRead === 1 ? buf[0]! : 'eof';
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        return 'again';
      }
    };
    // The byte: a quick program may write, exec and exit between a read and the liveness
    // check, so a dead child gets one more read before it counts as dead.
    for (let spins = 0; typeof (await read()) !== 'number'; spins++) {
      if (!(await alive())) {
        if (typeof (await read()) === 'number') break;
        throw new BerthError('ERR_INIT', `${what} exited before it could start`);
      }
      await pause(spins);
    }
    const message: number[] = [];
    for (let spins = 0; ; spins++) {
      const b = await read();
      if (b === 'eof') break;
      if (typeof b === 'number') {
        message.push(b);
        continue;
      }
      if (!(await alive()) && (await read()) === 'again') break;
      await pause(spins);
    }
    const failure = Buffer.from(message).toString('utf8').trim();
    if (failure) throw new BerthError('ERR_INIT', failure);
  } finally {
    await fh.close();
  }
  await fs.unlink(fifo);
}
