import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { join } from 'path';
import { BIN, requireRoot } from '../../e2e/test/support/env';
import { ShimClient, SyncListener, startShim, type StartedShim } from '../src/shim';

// berth-shim's OOM requests (shim/PROTOCOL.md "OOM") on a shim whose berth-init never gets a
// plan: no container is needed to count. A cgroup v2 memory cgroup is watched through inotify on
// memory.events, so a plain directory with that file stands in for one here (this host's memory
// controller is v1; tasks-oom.test.ts covers v1's eventfd with real OOM kills).

jest.setTimeout(30_000);
const SHIM = join(BIN, 'berth-shim');
const INIT = join(BIN, 'berth-init');

let dir: string;
let cgroup: string;
let sync: SyncListener;
let shim: StartedShim;
let client: ShimClient;
const extra: ShimClient[] = [];

const events = (oomKill: number) => `low 0\nhigh 0\nmax 4\noom ${oomKill}\noom_kill ${oomKill}\n`;

beforeAll(async () => {
  requireRoot();
  if (!existsSync(SHIM)) throw new Error(`${SHIM} is missing: make build`);
  dir = mkdtempSync('/tmp/bso-');
  cgroup = join(dir, 'cg');
  mkdirSync(cgroup);
  // Kills before the watch are not counted.
  writeFileSync(join(cgroup, 'memory.events'), events(3));
  sync = await SyncListener.listen(join(dir, 'sync.sock'));
  shim = await startShim({ binary: SHIM, id: 'oom', namespace: 'test', stateDir: dir, init: INIT, syncSocket: sync.path });
  client = await ShimClient.connect(dir);
});

afterAll(async () => {
  for (const c of extra) c.close();
  // berth-init sees its sync connection close and exits; then the shim may shut down.
  await sync?.close();
  if (client) {
    await client.wait().catch(() => undefined);
    await client.shutdown().catch(() => undefined);
    client.close();
  }
  if (shim) {
    try {
      process.kill(shim.pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

async function connect(): Promise<ShimClient> {
  const c = await ShimClient.connect(dir);
  extra.push(c);
  return c;
}

test('oom-watch refuses a relative path and a directory that is no memory cgroup', async () => {
  await expect(client.oomWatch('cg')).rejects.toThrow(/must be absolute/);
  await expect(client.oomWatch(dir)).rejects.toThrow(/neither memory.oom_control \(cgroup v1\) nor memory.events \(cgroup v2\)/);
  await expect(client.request(['oom-watch'])).rejects.toThrow(/usage: oom-watch/);
  await expect(client.request(['wait-oom', 'x'])).rejects.toThrow(/usage: wait-oom/);
});

test('counts oom_kill increases of memory.events from the watch on; wait-oom answers when it moves', async () => {
  expect(await client.oomCount()).toBe(0);
  await client.oomWatch(cgroup);
  expect(await client.oomCount()).toBe(0);

  const waiter = await connect();
  const first = waiter.waitOom(0);
  // A connection blocked in wait-oom holds nobody else up.
  expect(await client.oomCount()).toBe(0);
  writeFileSync(join(cgroup, 'memory.events'), events(4));
  expect(await first).toBe(1);

  // Two kills between looks: the count says so.
  const second = waiter.waitOom(1);
  writeFileSync(join(cgroup, 'memory.events'), events(6));
  expect(await second).toBe(3);
  expect(await client.oomCount()).toBe(3);
  // Already past: at once.
  expect(await waiter.waitOom(2)).toBe(3);
  // Another counter moving is no kill.
  const third = waiter.waitOom(3);
  writeFileSync(join(cgroup, 'memory.events'), 'low 1\nhigh 2\nmax 9\noom 6\noom_kill 6\n');
  const settled = await Promise.race([third.then(() => 'answered'), new Promise((r) => setTimeout(() => r('pending'), 300))]);
  expect(settled).toBe('pending');
  writeFileSync(join(cgroup, 'memory.events'), events(7));
  expect(await third).toBe(4);
});

test('oom-watch again: the same cgroup is no change (berthd restarted), another one is refused', async () => {
  await client.oomWatch(cgroup);
  expect(await client.oomCount()).toBe(4);
  await expect(client.oomWatch(join(dir, 'other'))).rejects.toThrow(/already watching/);
});

test('closing a connection cancels its wait-oom; the shim serves on', async () => {
  const c = await connect();
  const pending = c.waitOom(100).catch((e: Error) => e.message);
  c.close();
  expect(await pending).toMatch(/closed/);
  expect(await client.oomCount()).toBe(4);
});
