// The reader side of the exec fifo, as a small state machine over three callbacks so the
// races in it can be tested without a container. The callbacks may be synchronous (the CLI
// reads with readSync and sleeps with Atomics.wait) or asynchronous (berthd must not block).

type MaybePromise<T> = T | Promise<T>;

/** One byte read; 'eof' when no writer has the fifo open; 'again' when one has, with no data yet. */
export type ReadByte = () => MaybePromise<number | 'eof' | 'again'>;
type Pause = (spins: number) => MaybePromise<unknown>;

/**
 * Waits for the child's byte. Returns false if the child died without writing it. A quick
 * program may write, exec and exit between a read and the liveness check: the byte then
 * still waits in the fifo, so a dead child gets one more read before it counts as dead.
 */
export async function awaitExecByte(read: ReadByte, alive: () => Promise<boolean>, pause: Pause): Promise<boolean> {
  for (let spins = 0; typeof (await read()) !== 'number'; spins++) {
    if (!(await alive())) return typeof (await read()) === 'number';
    await pause(spins);
  }
  return true;
}

/**
 * berth-init keeps its write end open (close-on-exec) through the startContainer hooks until
 * execve: EOF means the user's program runs (or the child died), so poststart comes after.
 * Anything written before EOF is berth-init's message about what failed on the way.
 */
export async function awaitExec(read: ReadByte, alive: () => Promise<boolean>, pause: Pause): Promise<string> {
  const message: number[] = [];
  for (let spins = 0; ; spins++) {
    const b = await read();
    if (b === 'eof') break;
    if (typeof b === 'number') {
      message.push(b);
      continue;
    }
    // A dead child with no writer left reads as EOF on the next round.
    if (!(await alive()) && (await read()) === 'again') break;
    await pause(spins);
  }
  return Buffer.from(message).toString('utf8').trim();
}
