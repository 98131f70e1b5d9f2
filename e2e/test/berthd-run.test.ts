import { existsSync, readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { PrivateBerthd, usePrivateBerthd } from './support/berthd';
import type { Image } from './support/image';

// Debian's own ctr (containerd 1.6) against berthd: import an image with no registry, then
// run containers through berthd's content, images, snapshots, diff, containers and tasks
// services — the container runs under berth-shim, set up by the runtime library in-process.

let d: PrivateBerthd;
let image: Image;
usePrivateBerthd({ importImage: false }, (it) => ({ d, image } = it));

describe('ctr against berthd', () => {
  it('imports an image tarball and unpacks it into snapshots', async () => {
    const r = await d.ctr(['images', 'import', image.tar]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await d.ctr(['images', 'ls', '-q'])).stdout.split('\n')).toContain(image.ref);
    expect((await d.ctr(['snapshots', 'ls'])).stdout).toMatch(/Committed/);
  });

  it('runs a container: output, exit code, removal', async () => {
    const hi = await d.ctr(['run', '--rm', image.ref, 'hi-1', 'echo', 'hello from berthd']);
    expect(hi).toMatchObject({ code: 0, stdout: 'hello from berthd\n' });
    const three = await d.ctr(['run', '--rm', image.ref, 'exit-3', 'sh', '-c', 'exit 3']);
    expect([three.code, three.stderr]).toEqual([3, '']);
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
  });

  it('runs detached: task ls, exec, kill, delete, containers info and rm', async () => {
    expect((await d.ctr(['run', '-d', image.ref, 'web', 'sleep', '300'])).code).toBe(0);
    const ls = await d.ctr(['task', 'ls']);
    expect(ls.stdout).toMatch(/^web\s+\d+\s+RUNNING$/m);
    const ex = await d.ctr(['task', 'exec', '--exec-id', 'e1', 'web', 'sh', '-c', 'echo from-exec; exit 4']);
    expect(ex).toMatchObject({ code: 4, stdout: 'from-exec\n' });
    const info = JSON.parse((await d.ctr(['containers', 'info', 'web'])).stdout);
    expect(info.Image).toBe(image.ref);
    expect((await d.ctr(['task', 'kill', '-s', 'SIGKILL', 'web'])).code).toBe(0);
    for (let i = 0; i < 100 && !/STOPPED/.test((await d.ctr(['task', 'ls'])).stdout); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await d.ctr(['task', 'ls'])).stdout).toMatch(/^web\s+\d+\s+STOPPED$/m);
    const del = await d.ctr(['task', 'delete', 'web']);
    expect(del.code).toBe(0);
    // ctr's own note about the status it collected (containerd gives the same).
    expect(del.stderr).toMatch(/task web exit with non-zero exit code 137/);
    expect((await d.ctr(['containers', 'rm', 'web'])).code).toBe(0);
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
  });

  it('ctr events shows a task\'s events in order: create, start, exit, delete', async () => {
    const { spawn } = await import('child_process');
    const { CTR } = await import('./support/berthd');
    const events = spawn(CTR, ['--address', d.address, 'events'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    events.stdout.on('data', (b) => (out += b));
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect((await d.ctr(['run', '--rm', image.ref, 'ev-1', 'true'])).code).toBe(0);
      for (let i = 0; i < 50 && !/\/tasks\/delete/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    } finally {
      events.kill('SIGKILL');
    }
    // `<date> <time> <zone> UTC <namespace> <topic> <event JSON>`
    const lines = out.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[5]?.startsWith('/tasks/') && f.slice(6).join(' ').includes('"ev-1"'));
    expect(lines.map((f) => f[5])).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    // The exit carries the real exit time, not protobuf's zero.
    const exit = JSON.parse(lines[2]!.slice(6).join(' '));
    expect(Date.now() - new Date(exit.exited_at).getTime()).toBeLessThan(60_000);
  });

  it('keeps containers across a berthd SIGKILL; one that died meanwhile reports its real exit code', async () => {
    expect((await d.ctr(['run', '-d', image.ref, 'keep', 'sleep', '300'])).code).toBe(0);
    expect((await d.ctr(['run', '-d', image.ref, 'dies', 'sh', '-c', 'read x; exit 42'])).code).toBe(0);
    const pidOf = async (id: string) => Number(/^\S+\s+(\d+)/m.exec((await d.ctr(['task', 'ls'])).stdout.split('\n').find((l) => l.startsWith(id + ' ')) ?? '')?.[1]);
    const keepPid = await pidOf('keep');
    const diesPid = await pidOf('dies');
    expect(keepPid).toBeGreaterThan(0);
    expect(diesPid).toBeGreaterThan(0);

    expect(await d.stop('SIGKILL')).toBe(137);
    // While berthd is down: one container keeps running, the other ends with its own status.
    process.kill(diesPid, 'SIGKILL');
    expect(() => process.kill(keepPid, 0)).not.toThrow();
    await d.start();

    const ls = (await d.ctr(['task', 'ls'])).stdout;
    expect(ls).toMatch(new RegExp(`^keep\\s+${keepPid}\\s+RUNNING$`, 'm'));
    expect(ls).toMatch(/^dies\s+\d+\s+STOPPED$/m);
    const del = await d.ctr(['task', 'delete', 'dies']);
    expect(del.code).toBe(0);
    expect(del.stderr).toMatch(/exit code 137/);
    // The running one is still under control after the restart.
    expect((await d.ctr(['task', 'kill', '-s', 'SIGKILL', 'keep'])).code).toBe(0);
    for (let i = 0; i < 100 && !/^keep\s+\d+\s+STOPPED$/m.test((await d.ctr(['task', 'ls'])).stdout); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await d.ctr(['task', 'delete', 'keep'])).code).toBe(0);
    for (const id of ['keep', 'dies']) expect((await d.ctr(['containers', 'rm', id])).code).toBe(0);
  });

  it('shows its stores through ctr: content, snapshots tree, leases', async () => {
    // The image's manifest, config and layer (plus an index, for an OCI layout import).
    const blobs = (await d.ctr(['content', 'ls'])).stdout.split('\n').filter((l) => /^sha256:[0-9a-f]{64}\s+\d/.test(l));
    expect(blobs.length).toBeGreaterThanOrEqual(3);
    expect((await d.ctr(['snapshots', 'tree'])).stdout).toMatch(/sha256:[0-9a-f]{64}/);
    expect((await d.ctr(['leases', 'create', '--id', 'keep-me'])).code).toBe(0);
    expect((await d.ctr(['leases', 'ls'])).stdout).toMatch(/^keep-me\s/m);
    expect((await d.ctr(['leases', 'rm', 'keep-me'])).code).toBe(0);
  });

  it('100 run --rm cycles leave no mount, cgroup, shim, task state or berthd fd behind', async () => {
    const berthdPid = d.child!.pid!;
    const fds = () => readdirSync(`/proc/${berthdPid}/fd`).length;
    const shims = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'berth-shim' && !/^State:\s+Z/m.test(readFileSync(`/proc/${p}/status`, 'utf8'));
      } catch {
        return false;
      }
    }).length;
    const mounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(d.dir)).length;
    // One cycle first: whatever berthd opens once (a client connection's buffers) is open now.
    expect((await d.ctr(['run', '--rm', image.ref, 'warm', 'true'])).code).toBe(0);
    const before = { fds: fds(), shims: shims(), mounts: mounts() };
    for (let i = 0; i < 100; i++) {
      const r = await d.ctr(['run', '--rm', image.ref, `cycle-${i}`, 'true']);
      if (r.code !== 0) throw new Error(`cycle ${i}: ${r.stderr}`);
    }
    expect({ fds: fds() - before.fds <= 2, shims: shims(), mounts: mounts() }).toEqual({ fds: true, shims: before.shims, mounts: before.mounts });
    expect(readdirSync(join(d.state, 'tasks', 'default'))).toEqual([]);
    expect(existsSync('/sys/fs/cgroup/memory/default/cycle-99')).toBe(false);
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
  }, 180_000);
});

