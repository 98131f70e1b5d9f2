import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { spawn } from 'child_process';
import { StateStore, deriveStatus, pidStartTime, toOciState, type StoredState } from '../src/state/state';

let root: string;
beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'berth-state-'))));
afterEach(() => rmSync(root, { recursive: true, force: true }));

const record = async (pid: number, id = 'c1'): Promise<StoredState> => ({
  ociVersion: '1.1.0', id, pid, pidStartTime: (await pidStartTime(pid)) ?? '', bundle: '/b', rootfs: '/b/rootfs',
  created: '2026-01-01T00:00:00.000Z', owner: '', cgroupVersion: 1, cgroupPaths: {},
});

describe('state store', () => {
  it('refuses a second container with the same id', async () => {
    const store = new StateStore(root);
    await store.reserve('c1');
    await expect(store.reserve('c1')).rejects.toThrow('container with id c1 already exists');
  });
  it('writes atomically and reads back; lists only complete records', async () => {
    const store = new StateStore(root);
    await store.reserve('c1');
    await store.reserve('half');
    await store.write(await record(process.pid));
    expect((await store.read('c1')).pid).toBe(process.pid);
    expect(await store.list()).toEqual(['c1']);
    await expect(store.read('nope')).rejects.toThrow('container nope does not exist');
  });
  it('rejects unsafe ids before touching the disk', async () => {
    await expect(new StateStore(root).reserve('../escape')).rejects.toThrow(/invalid container id/);
    expect(existsSync(join(root, '..', 'escape'))).toBe(false);
  });
});

describe('status derivation', () => {
  const thawed = async () => 'THAWED' as const;
  it('is created while the exec fifo exists, running after, paused when frozen', async () => {
    const s = await record(process.pid);
    const fifo = join(root, 'exec.fifo');
    writeFileSync(fifo, '');
    expect(await deriveStatus(s, fifo, thawed)).toBe('created');
    rmSync(fifo);
    expect(await deriveStatus(s, fifo, thawed)).toBe('running');
    expect(await deriveStatus(s, fifo, async () => 'FROZEN')).toBe('paused');
  });
  it('is stopped when the process is gone', async () => {
    const child = spawn('sleep', ['10']);
    const exited = new Promise((r) => child.on('exit', r));
    const s = await record(child.pid!);
    expect(s.pidStartTime).not.toBe('');
    child.kill('SIGKILL');
    await exited;
    expect(await deriveStatus(s, join(root, 'none'), thawed)).toBe('stopped');
  });
  it('is stopped when the pid was reused by another process (start time differs)', async () => {
    const s = { ...(await record(process.pid)), pidStartTime: '1' };
    expect(await deriveStatus(s, join(root, 'none'), thawed)).toBe('stopped');
  });
  it('prints pid 0 for a stopped container, and runc fields in order', async () => {
    const s = await record(process.pid);
    const o = toOciState({ ...s, annotations: { a: 'b' } }, 'stopped');
    expect(Object.keys(o)).toEqual(['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'owner', 'annotations']);
    expect(o.pid).toBe(0);
  });
});
