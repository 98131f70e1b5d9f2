// One berthd per root: the exclusive pid file, live owners refused, stale ones taken over.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquirePidLock, LockedError, processAlive } from '../src/daemon/lock';

describe('pid lock', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berthd-lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const bootId = async () => (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();

  it('writes our pid and boot id, refuses a second taker while held, and releases', async () => {
    const file = path.join(dir, 'berthd.pid');
    const lock = await acquirePidLock(file);
    expect(await readFile(file, 'utf8')).toBe(`${process.pid}\n${await bootId()}\n`);
    const err = await acquirePidLock(file).catch((e) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect(err.message).toBe(`another berthd (pid ${process.pid}) holds ${file}: only one berthd may use a root at a time`);
    await lock.release();
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    (await acquirePidLock(file)).release();
  });

  it('refuses when another live process holds it', async () => {
    const file = path.join(dir, 'berthd.pid');
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(file, `${child.pid}\n${await bootId()}\n`);
      await expect(acquirePidLock(file)).rejects.toThrow(`another berthd (pid ${child.pid})`);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('takes over the file of a dead process', async () => {
    const file = path.join(dir, 'berthd.pid');
    const child = spawn('true', [], { stdio: 'ignore' });
    await new Promise((r) => child.once('exit', r));
    expect(await processAlive(child.pid!)).toBe(false);
    await writeFile(file, `${child.pid}\n${await bootId()}\n`);
    const reasons: string[] = [];
    const lock = await acquirePidLock(file, (why) => reasons.push(why));
    expect(reasons).toEqual([`pid ${child.pid} is gone`]);
    expect((await readFile(file, 'utf8')).split('\n')[0]).toBe(String(process.pid));
    await lock.release();
  });

  it('takes over a file from before the last boot even if its pid is alive now', async () => {
    const file = path.join(dir, 'berthd.pid');
    // pid 1 is certainly alive; the boot id says the file is from another boot.
    await writeFile(file, '1\n00000000-0000-0000-0000-000000000000\n');
    const reasons: string[] = [];
    const lock = await acquirePidLock(file, (why) => reasons.push(why));
    expect(reasons[0]).toMatch(/before the last boot by pid 1/);
    await lock.release();
  });

  it('takes over an unreadable file, and release() leaves a file that is no longer ours', async () => {
    const file = path.join(dir, 'berthd.pid');
    await writeFile(file, 'garbage');
    const lock = await acquirePidLock(file);
    await writeFile(file, '12345\n');
    await lock.release();
    expect(await readFile(file, 'utf8')).toBe('12345\n');
  });
});
