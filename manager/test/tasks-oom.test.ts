import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { createServer, type Server, type Socket } from 'net';
import { join } from 'path';
import { Sandbox, BIN, requireRoot, sleep } from '../../e2e/test/support/env';
import { decodeLine, encodeLine } from '../../runtime/src/plan/codec';
import { Tasks, type TaskManager, type TaskManagerOptions } from '../src/core/tasks';
import { OomWatch } from '../src/core/tasks/oom';
import type { Mount } from '../src/core/snapshots/types';
import { ShimClient } from '../src/shim';

// /tasks/oom from TaskManager with real containers in this machine's v1 memory cgroup: berth-shim
// counts the kernel's OOM notifications, berthd publishes them, and an OOM-killed process's
// /tasks/oom comes before its /tasks/exit.

jest.setTimeout(60_000);
const SHIM = join(BIN, 'berth-shim');
const INIT = join(BIN, 'berth-init');
const NS = 'oom';
const LIMIT = 16 * 1024 * 1024;
/** Doubles a shell variable until the memory cgroup's limit stops it. */
const HOG = 'x=a; while true; do x=$x$x; done';

let sandbox: Sandbox;
let state: string;
const specs = new Map<string, unknown>();
const events: { topic: string; event: any }[] = [];
const managers: Tasks[] = [];

const options = (): TaskManagerOptions => ({
  state,
  shimBinary: SHIM,
  initBinary: INIT,
  spec: (_ns, id) => specs.get(id),
  publish: (_ns, topic, _type, event) => events.push({ topic, event }),
});

function manager(): TaskManager {
  const t = new Tasks(options());
  managers.push(t);
  return t.namespace(NS);
}

beforeAll(() => {
  requireRoot();
  if (!existsSync(SHIM)) throw new Error(`${SHIM} is missing: make build`);
  sandbox = new Sandbox();
  state = mkdtempSync('/tmp/bo-');
});

afterAll(async () => {
  const tm = managers.length ? managers[managers.length - 1]!.namespace(NS) : undefined;
  for (const id of tm?.ids() ?? []) {
    await tm!.kill(id, 9, { all: true }).catch(() => undefined);
    await tm!.delete(id).catch(() => undefined);
  }
  for (const t of managers) t.close();
  rmSync(state, { recursive: true, force: true });
  sandbox?.cleanup();
});

/** A container whose memory cgroup is limited to 16 MiB. */
function container(script: string): { id: string; rootfs: Mount[] } {
  const dir = sandbox.bundle((s) => {
    s.process.args = ['/bin/sh', '-c', script];
    s.linux.resources = { ...(s.linux.resources ?? {}), memory: { limit: LIMIT } };
  });
  const id = sandbox.id('o');
  specs.set(id, JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  return { id, rootfs: [{ type: 'bind', source: join(dir, 'rootfs'), target: '', options: ['rbind', 'rw'] }] };
}

const topics = (id: string) => events.filter((e) => e.event.containerId === id).map((e) => (e.topic === '/tasks/exit' ? `/tasks/exit ${e.event.id}` : e.topic));

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  for (let t = 0; t < ms; t += 20) {
    if (f()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function oomKills(tm: TaskManager, id: string): Promise<number> {
  return tm.cgroup(id).then((cg) => Number(/oom_kill (\d+)/.exec(readFileSync(join(cg.paths['memory']!, 'memory.oom_control'), 'utf8'))![1]));
}

test('an OOM-killed init: /tasks/oom, then /tasks/exit with 137', async () => {
  const tm = manager();
  const c = container(HOG);
  await tm.create(c.id, { rootfs: c.rootfs });
  await tm.start(c.id);
  const exit = await tm.wait(c.id);
  expect(exit.exitStatus).toBe(137);
  expect(await oomKills(tm, c.id)).toBe(1);
  // The shim's side of the order: it had counted the kill before it recorded the exit.
  const shim = await ShimClient.connect(tm.shimDir(c.id));
  expect(await shim.oomCount()).toBe(1);
  shim.close();
  expect(topics(c.id)).toEqual(['/tasks/create', '/tasks/start', '/tasks/oom', `/tasks/exit ${c.id}`]);
  await tm.delete(c.id);
  // Removing the cgroup signals the eventfd too: that is not an OOM.
  expect(topics(c.id)).toEqual(['/tasks/create', '/tasks/start', '/tasks/oom', `/tasks/exit ${c.id}`, '/tasks/delete']);
});

test('a child OOM-killed while init lives on: /tasks/oom, the task keeps running', async () => {
  const tm = manager();
  const c = container(`(${HOG}); exec sleep 1000`);
  const { pid } = await tm.create(c.id, { rootfs: c.rootfs });
  await tm.start(c.id);
  await until('/tasks/oom', () => topics(c.id).includes('/tasks/oom'));
  // The shell saw its subshell die and went on to its next command.
  await until('init to go on', () => readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x001000\x00');
  expect((await tm.get(c.id)).status).toBe('RUNNING');
  expect(await oomKills(tm, c.id)).toBe(1);
  await tm.kill(c.id, 9);
  expect((await tm.wait(c.id)).exitStatus).toBe(137);
  // One kill, one event; the init's own SIGKILL is no OOM.
  expect(topics(c.id)).toEqual(['/tasks/create', '/tasks/start', '/tasks/oom', `/tasks/exit ${c.id}`]);
  await tm.delete(c.id);
});

test('after a berthd restart: the recovered task still reports OOM kills (here of an exec)', async () => {
  const first = manager();
  const c = container('exec sleep 1000');
  await first.create(c.id, { rootfs: c.rootfs });
  await first.start(c.id);
  managers[managers.length - 1]!.close(); // berthd goes away; the shim stays

  const tm = manager();
  expect(await tm.recover()).toContain(c.id);
  const proc = { ...(specs.get(c.id) as any).process, args: ['/bin/sh', '-c', HOG] };
  await tm.exec(c.id, 'hog', proc);
  await tm.start(c.id, 'hog');
  expect((await tm.wait(c.id, 'hog')).exitStatus).toBe(137);
  expect((await tm.get(c.id)).status).toBe('RUNNING');
  expect(topics(c.id).slice(2)).toEqual(['/tasks/exec-added', '/tasks/exec-started', '/tasks/oom', '/tasks/exit hog']);
  await tm.kill(c.id, 9);
  await tm.wait(c.id);
  await tm.delete(c.id);
});

describe('OomWatch against a stand-in control socket', () => {
  // Speaks the three OOM requests; `hold` keeps wait-oom replies back, as a slow connection
  // would, so the exit path's flush() is seen to publish on its own.
  let dir: string;
  let server: Server;
  let count = 0;
  let hold = false;
  const waiting: { sock: Socket; after: number }[] = [];
  const answer = () => {
    if (hold) return;
    for (const w of waiting.splice(0)) {
      if (count > w.after) w.sock.write(encodeLine(['ok', count]));
      else waiting.push(w);
    }
  };
  const setCount = (n: number) => {
    count = n;
    answer();
  };

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/bow-');
    server = createServer((sock) => {
      let buf = '';
      sock.on('error', () => undefined);
      sock.on('close', () => waiting.splice(0, waiting.length, ...waiting.filter((w) => w.sock !== sock)));
      sock.on('data', (d) => {
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const [cmd, arg] = decodeLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (cmd === 'oom-watch') sock.write(encodeLine(['ok']));
          else if (cmd === 'oom') sock.write(encodeLine(['ok', count]));
          else if (cmd === 'wait-oom') {
            waiting.push({ sock, after: Number(arg) });
            answer();
          }
        }
      });
    });
    await new Promise<void>((r) => server.listen(join(dir, 'control.sock'), r));
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  test('one event per kill, whether the waiter or flush() hears of it first; none after close', async () => {
    const client = await ShimClient.connect(dir);
    const heard: number[] = [];
    const w = await OomWatch.start(client, dir, '/sys/fs/cgroup/memory/x', () => heard.push(count));
    await until('the waiter to ask', () => waiting.length === 1);

    hold = true;
    count = 1;
    await w.flush(client); // the exit path: the kill is published before the exit
    expect(heard).toEqual([1]);
    hold = false;
    answer(); // the waiter's late reply: no second event
    await sleep(50);
    expect(heard).toEqual([1]);

    setCount(2);
    await until('the waiter to hear', () => heard.length === 2);
    w.close();
    await until('the waiter to hang up', () => waiting.length === 0);
    setCount(3);
    await w.flush(client).catch(() => undefined);
    expect(heard).toEqual([1, 2]);
    client.close();
  });

  test('after a restart, kills counted before it are not replayed', async () => {
    setCount(5);
    const client = await ShimClient.connect(dir);
    const heard: number[] = [];
    const w = await OomWatch.start(client, dir, '/sys/fs/cgroup/memory/x', () => heard.push(count));
    await w.flush(client);
    expect(heard).toEqual([]);
    setCount(6);
    await until('the waiter to hear', () => heard.length === 1);
    w.close();
    client.close();
  });
});
