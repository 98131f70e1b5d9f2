import { awaitExecByte, awaitExec, type ReadByte } from '../src/lib/exec-fifo';

// Scripted reads and liveness answers, consumed in order.
function script(reads: ReturnType<ReadByte>[], alive: boolean[]) {
  const log: string[] = [];
  return {
    log,
    read: () => {
      if (reads.length === 0) throw new Error('read past the script');
      const r = reads.shift()!;
      log.push(`read ${r}`);
      return r;
    },
    alive: async () => {
      const a = alive.shift();
      if (a === undefined) throw new Error('alive past the script');
      log.push(`alive ${a}`);
      return a;
    },
    pause: () => log.push('pause'),
  };
}

const ZERO = 0x30;

describe('exec fifo reader', () => {
  it('gets the byte after the child opens and writes', async () => {
    const s = script(['eof', 'again', ZERO], [true, true]);
    expect(await awaitExecByte(s.read, s.alive, s.pause)).toBe(true);
  });

  // Regression: start said "exited before it could start" for a container that had run. The
  // child wrote, exec'd and exited between our read and the liveness check; the second-chance
  // read took the byte, but the loop then read again, saw EOF, and gave up.
  it('keeps the byte a quick program left before exiting', async () => {
    const s = script(['eof', ZERO], [false]);
    expect(await awaitExecByte(s.read, s.alive, s.pause)).toBe(true);
    expect(s.log).toEqual(['read eof', 'alive false', `read ${ZERO}`]);
  });

  it('reports a child that died without writing', async () => {
    const s = script(['eof', 'eof'], [false]);
    expect(await awaitExecByte(s.read, s.alive, s.pause)).toBe(false);
  });

  it('waits for EOF (execve) after the byte and reports no failure', async () => {
    const s = script(['again', 'again', 'eof'], [true, true]);
    expect(await awaitExec(s.read, s.alive, s.pause)).toBe('');
    expect(s.log).toEqual(['read again', 'alive true', 'pause', 'read again', 'alive true', 'pause', 'read eof']);
  });

  it('returns the message berth-init wrote before dying (a failed startContainer hook)', async () => {
    const msg = [...Buffer.from('startContainer hook #0 failed\n')];
    const s = script(['again', ...msg, 'eof'], [true]);
    expect(await awaitExec(s.read, s.alive, s.pause)).toBe('startContainer hook #0 failed');
  });

  it('stops waiting when the child is gone', async () => {
    const s = script(['again', 'again'], [false]);
    expect(await awaitExec(s.read, s.alive, s.pause)).toBe('');
  });
});

describe('exec fifo reader with asynchronous reads (berthd)', () => {
  it('runs the same state machine over promises, including the quick-exit race', async () => {
    const reads: ('eof' | 'again' | number)[] = ['eof', 0x30, 'again', 'eof'];
    const alive = [false];
    const read = async () => reads.shift()!;
    const pauses: number[] = [];
    expect(await awaitExecByte(read, async () => alive.shift()!, async (n) => void pauses.push(n))).toBe(true);
    expect(await awaitExec(read, async () => true, async (n) => void pauses.push(n))).toBe('');
    expect(reads).toEqual([]);
    expect(pauses).toEqual([0]);
  });
});
