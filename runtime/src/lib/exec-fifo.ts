// The reader side of the exec fifo, as a small state machine over three callbacks so the
// races in it can be tested without a container.

/** 1: got the byte; 0: EOF (no writer has the fifo open); -1: a writer has it open, no data yet. */
export type ReadOne = () => number;

/**
 * Waits for the child's byte. Returns false if the child died without writing it. A quick
 * program may write, exec and exit between a read and the liveness check: the byte then
 * still waits in the fifo, so a dead child gets one more read before it counts as dead.
 */
export async function awaitExecByte(readOne: ReadOne, alive: () => Promise<boolean>, pause: (spins: number) => void): Promise<boolean> {
  for (let spins = 0; readOne() !== 1; spins++) {
    if (!(await alive())) return readOne() === 1;
    pause(spins);
  }
  return true;
}

/**
 * berth-init keeps its write end open (close-on-exec) through the startContainer hooks until
 * execve: EOF means the user's program runs (or the child died), so poststart comes after.
 */
export async function awaitExec(readOne: ReadOne, alive: () => Promise<boolean>, pause: (spins: number) => void): Promise<void> {
  for (let spins = 0; readOne() !== 0 && (await alive()); spins++) pause(spins);
}
