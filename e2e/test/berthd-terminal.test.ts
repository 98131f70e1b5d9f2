import { existsSync, readdirSync, rmSync } from 'fs';
import { join } from 'path';
import { PrivateBerthd, CTR, usePrivateBerthd } from './support/berthd';
import type { Image } from './support/image';
import { ptySession, shellSteps, type PtySession, type PtyStep } from './support/pty';

// Terminal tasks through berthd, driven the way a person does it: Debian's ctr runs under a
// real pty (python3's pty module) of 30 rows x 100 columns; we type into it and read what it
// shows. `ctr run -t` and `ctr task exec -t` put the container's process on a pty of its own
// (berth-init makes it, berth-shim holds the master); ctr copies between the two and turns
// SIGWINCH into ResizePty, which the shim applies with TIOCSWINSZ.

let d: PrivateBerthd;
let image: Image;
usePrivateBerthd({ importImage: true }, (it) => ({ d, image } = it));

async function session(args: string[], steps: PtyStep[], timeoutMs = 20_000): Promise<PtySession> {
  return ptySession([CTR, '--address', d.address, ...args], steps, timeoutMs);
}

/**
 * ctr's FIFOs for `name` (a container or exec id) under /run/containerd/fifo/<n>/: ctr removes
 * them when its process is deleted, unless it was killed (a failed session). Removed here
 * either way; returned so a test can say there were none.
 */
function takeFifos(name: string): string[] {
  const root = '/run/containerd/fifo';
  const found: string[] = [];
  for (const dir of existsSync(root) ? readdirSync(root) : []) {
    const files = readdirSync(join(root, dir)).filter((f) => f.startsWith(`${name}-std`));
    if (!files.length) continue;
    found.push(...files.map((f) => join(root, dir, f)));
    rmSync(join(root, dir), { recursive: true, force: true });
  }
  return found;
}

/** The busybox shell's prompt as root. */

/** tty, the first size, a resize, the size again, then `exit <code>`. */
const terminalSteps = (code: number): PtyStep[] => shellSteps(code);

describe('terminal tasks through berthd', () => {
  let fifosLeft: string[] = [];
  beforeEach(() => {
    fifosLeft = [];
  });

  it('ctr run -t --rm: the shell is on a pty, sees 30x100 then a resize, and its exit code is ctr\'s', async () => {
    const s = await session(['run', '-t', '--rm', image.ref, 'tty-run', 'sh'], terminalSteps(3)).finally(() => fifosLeft.push(...takeFifos('tty-run')));
    expect({ failedStep: s.failedStep, eof: s.eof, out: s.out }).toMatchObject({ failedStep: null, eof: true });
    expect(s.out).toMatch(/\n\/dev\/pts\/\d+\n/);
    expect(s.out).toMatch(/\n30 100\n[^]*\n40 120\n/);
    expect(s.code).toBe(3);
    // --rm: nothing left of it.
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout.split('\n')).not.toContain('tty-run');
    expect(readdirSync(join(d.state, 'tasks', 'default'))).not.toContain('tty-run');
    // ctr deleted its task and removed its FIFOs: berthd's Delete answered as ctr expects.
    expect(fifosLeft).toEqual([]);
  });

  it('ctr task exec -t: a second pty in a running task, resized on its own; its exit code is ctr\'s', async () => {
    expect((await d.ctr(['run', '-d', image.ref, 'tty-exec', 'sleep', '300'])).code).toBe(0);
    try {
      const s = await session(['task', 'exec', '-t', '--exec-id', 'tty-exec-sh', 'tty-exec', 'sh'], terminalSteps(5)).finally(() =>
        fifosLeft.push(...takeFifos('tty-exec-sh')),
      );
      expect({ failedStep: s.failedStep, eof: s.eof, out: s.out }).toMatchObject({ failedStep: null, eof: true });
      expect(s.out).toMatch(/\n\/dev\/pts\/\d+\n/);
      expect(s.out).toMatch(/\n30 100\n[^]*\n40 120\n/);
      expect(s.code).toBe(5);
      expect(fifosLeft).toEqual([]);
      // The task runs on, and the exec's console socket is gone from the shim's directory.
      expect((await d.ctr(['task', 'ls'])).stdout).toMatch(/^tty-exec\s+\d+\s+RUNNING$/m);
      const shimDirs = join(d.state, 'shims', 'default', 'tty-exec');
      if (existsSync(shimDirs)) expect(readdirSync(shimDirs).filter((f) => f.startsWith('console'))).toEqual([]);
    } finally {
      await d.ctr(['task', 'kill', '-s', 'SIGKILL', 'tty-exec']);
      for (let i = 0; i < 100 && !/^tty-exec\s+\d+\s+STOPPED$/m.test((await d.ctr(['task', 'ls'])).stdout); i++) await new Promise((r) => setTimeout(r, 50));
      expect((await d.ctr(['task', 'delete', 'tty-exec'])).code).toBe(0);
      expect((await d.ctr(['containers', 'rm', 'tty-exec'])).code).toBe(0);
    }
  });
});
