import { awaitExecByte, awaitExec } from '../src/lib/exec-fifo';

// Scripted reads and liveness answers, consumed in order.
function script(reads: number[], alive: boolean[]) {
  const log: string[] = [];
  return {
    log,
    readOne: () => {
      const r = reads.shift();
      if (r === undefined) throw new Error('read past the script');
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

describe('exec fifo reader', () => {
  it('gets the byte after the child opens and writes', async () => {
    const s = script([0, -1, 1], [true, true]);
    expect(await awaitExecByte(s.readOne, s.alive, s.pause)).toBe(true);
  });

  // Regression: start said "exited before it could start" for a container that had run. The
  // child wrote, exec'd and exited between our read and the liveness check; the second-chance
  // read took the byte, but the loop then read again, saw EOF, and gave up.
  it('keeps the byte a quick program left before exiting', async () => {
    const s = script([0, 1], [false]);
    expect(await awaitExecByte(s.readOne, s.alive, s.pause)).toBe(true);
    expect(s.log).toEqual(['read 0', 'alive false', 'read 1']);
  });

  it('reports a child that died without writing', async () => {
    const s = script([0, 0], [false]);
    expect(await awaitExecByte(s.readOne, s.alive, s.pause)).toBe(false);
  });

  it('waits for EOF (execve) after the byte, or for the child to die', async () => {
    const s = script([-1, -1, 0], [true, true]);
    await awaitExec(s.readOne, s.alive, s.pause);
    expect(s.log).toEqual(['read -1', 'alive true', 'pause', 'read -1', 'alive true', 'pause', 'read 0']);
    const dead = script([-1], [false]);
    await awaitExec(dead.readOne, dead.alive, dead.pause);
    expect(dead.log).toEqual(['read -1', 'alive false']);
  });
});
