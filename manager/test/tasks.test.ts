import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, promises as fs, readFileSync, readdirSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Sandbox, BIN, requireRoot, sleep } from '../../e2e/test/support/env';
import { Tasks, type TaskManager, type TaskManagerOptions } from '../src/core/tasks';
import type { Mount } from '../src/core/snapshots/types';

// TaskManager with real containers: a busybox rootfs bind-mounted as the task's rootfs, one
// berth-shim per task, the host's cgroups (v1 here).

jest.setTimeout(60_000);
const SHIM = join(BIN, 'berth-shim');
const INIT = join(BIN, 'berth-init');
const NS = 'tt';

let sandbox: Sandbox;
let state: string;
let fifos: string;
const specs = new Map<string, unknown>();
let events: { ns: string; topic: string; type: string; event: any }[] = [];
let tasks: Tasks;
let tm: TaskManager;

const options = (): TaskManagerOptions => ({
  state,
  shimBinary: SHIM,
  initBinary: INIT,
  spec: (_ns, id) => {
    const s = specs.get(id);
    if (!s) throw new Error(`no container ${id}`);
    return s;
  },
  publish: (ns, topic, type, event) => events.push({ ns, topic, type, event }),
});

beforeAll(() => {
  requireRoot();
  if (!existsSync(SHIM)) throw new Error(`${SHIM} is missing: make build`);
  sandbox = new Sandbox();
  // Short: unix socket paths under it must stay below 108 bytes.
  state = mkdtempSync('/tmp/bt-');
  fifos = mkdtempSync(join(tmpdir(), 'btf-'));
  tasks = new Tasks(options());
  tm = tasks.namespace(NS);
});

afterAll(async () => {
  // Whatever a failed test left: kill, wait, delete.
  for (const m of [tm, ...extraManagers]) {
    for (const id of m?.ids() ?? []) {
      await m.kill(id, 9, { all: true }).catch(() => undefined);
      await m.delete(id).catch(() => undefined);
    }
  }
  tasks?.close();
  for (const m of extraManagers) m.close();
  const left = existsSync(state) ? spawnSync('find', [state], { encoding: 'utf8' }).stdout : '';
  rmSync(state, { recursive: true, force: true });
  rmSync(fifos, { recursive: true, force: true });
  sandbox?.cleanup();
  expect(left.split('\n').filter((l) => /shim.pid|rootfs$/.test(l))).toEqual([]);
});

const extraManagers: TaskManager[] = [];

/** A container record: the bundle's spec adjusted; the rootfs to bind-mount. */
function container(script: string | string[], adjust: (s: any) => void = () => undefined): { id: string; rootfs: Mount[] } {
  const dir = sandbox.bundle((s) => {
    s.process.args = Array.isArray(script) ? script : ['/bin/sh', '-c', script];
    adjust(s);
  });
  const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const id = sandbox.id('t');
  specs.set(id, spec);
  return { id, rootfs: [{ type: 'bind', source: join(dir, 'rootfs'), target: '', options: ['rbind', 'rw'] }] };
}

function fifo(name: string): string {
  const p = join(fifos, name);
  expect(spawnSync('mkfifo', [p]).status).toBe(0);
  return p;
}

const topics = (id: string) => events.filter((e) => e.event.containerId === id).map((e) => e.topic);

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, ms = 5000): Promise<T> {
  for (let t = 0; t < ms; t += 20) {
    const v = await f();
    if (v !== undefined && v !== false) return v as T;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(dir));
}

test('create, start, wait: the exit code; stdout and stderr through FIFOs; the runtime CLI sees it', async () => {
  const c = container('echo out-$((1+2)); echo err >&2; read x; exit 3');
  const out = fifo(`${c.id}.out`);
  const err = fifo(`${c.id}.err`);
  const inp = fifo(`${c.id}.in`);
  const outText = fs.readFile(out, 'utf8');
  const errText = fs.readFile(err, 'utf8');
  const { pid } = await tm.create(c.id, { rootfs: c.rootfs, stdio: { stdin: inp, stdout: out, stderr: err } });
  expect(pid).toBeGreaterThan(0);
  expect(await tm.get(c.id)).toMatchObject({ containerId: c.id, id: c.id, pid, status: 'CREATED', stdout: out, terminal: false });
  // The runtime CLI over berthd's state sees the same container.
  const listed = spawnSync(join(BIN, 'berth-runtime'), ['--root', join(state, 'runtime', NS), 'state', c.id], { encoding: 'utf8' });
  expect(JSON.parse(listed.stdout)).toMatchObject({ id: c.id, pid, status: 'created' });
  expect(mountsUnder(join(state, 'tasks', NS, c.id))).toEqual([join(state, 'tasks', NS, c.id, 'rootfs')]);

  expect(await tm.start(c.id)).toEqual({ pid });
  expect((await tm.get(c.id)).status).toBe('RUNNING');
  await expect(tm.start(c.id)).rejects.toThrow(/already started/);
  await fs.writeFile(inp, 'go\n');
  const exit = await tm.wait(c.id);
  expect(exit).toMatchObject({ pid, exitStatus: 3 });
  expect(Math.abs(exit.exitedAt.getTime() - Date.now())).toBeLessThan(10_000);
  expect(await tm.get(c.id)).toMatchObject({ status: 'STOPPED', exitStatus: 3 });
  expect(await outText).toBe('out-3\n');
  expect(await errText).toBe('err\n');
  const del = await tm.delete(c.id);
  expect(del.exitStatus).toBe(3);
  expect(topics(c.id)).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
  const ev = events.filter((e) => e.event.containerId === c.id);
  expect(ev.map((e) => e.type)).toEqual(['containerd.events.TaskCreate', 'containerd.events.TaskStart', 'containerd.events.TaskExit', 'containerd.events.TaskDelete']);
  expect(ev[0]!.event).toMatchObject({ pid, bundle: join(state, 'tasks', NS, c.id), io: { stdout: out } });
  expect(ev[2]!.event).toMatchObject({ id: c.id, pid, exitStatus: 3 });
  expect(ev[3]!.event).toMatchObject({ pid, exitStatus: 3 });
  await expect(tm.get(c.id)).rejects.toThrow(/not found/);
});

test('events stay in order for a process that exits before start returns (true)', async () => {
  for (let i = 0; i < 3; i++) {
    const c = container(['/bin/true']);
    await tm.create(c.id, { rootfs: c.rootfs });
    await tm.start(c.id);
    expect((await tm.wait(c.id)).exitStatus).toBe(0);
    await tm.delete(c.id);
    expect(topics(c.id)).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
  }
});

test('kill: a signal to init (TERM trap exits 7), SIGKILL gives 137, kill after exit is NotFound', async () => {
  const c = container('trap "exit 7" TERM; while true; do sleep 0.05; done');
  await tm.create(c.id, { rootfs: c.rootfs });
  await tm.start(c.id);
  await sleep(100);
  await tm.kill(c.id, 15);
  expect((await tm.wait(c.id)).exitStatus).toBe(7);
  await expect(tm.kill(c.id, 9)).rejects.toThrow(/exited/);
  await tm.delete(c.id);

  const d = container('sleep 1000');
  await tm.create(d.id, { rootfs: d.rootfs });
  await tm.start(d.id);
  await expect(tm.delete(d.id)).rejects.toThrow(/must be stopped/);
  await tm.kill(d.id, 9);
  expect((await tm.wait(d.id)).exitStatus).toBe(137);
  await tm.delete(d.id);
});

test('kill --all reaches every process of the cgroup', async () => {
  // No pid namespace: killing init would not take its children with it.
  const c = container('sleep 1000 & sleep 1000 & wait', (s) => {
    s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'pid');
  });
  const { pid } = await tm.create(c.id, { rootfs: c.rootfs });
  await tm.start(c.id);
  const pids = await until('3 pids', async () => {
    const p = await tm.pids(c.id);
    return p.length === 3 && p;
  });
  expect(pids.map((p) => p.pid)).toContain(pid);
  await tm.kill(c.id, 9, { all: true });
  expect((await tm.wait(c.id)).exitStatus).toBe(137);
  for (const p of pids) await until(`pid ${p.pid} gone`, () => !alive(p.pid));
  await tm.delete(c.id);
});

test('exec: its own stdout FIFO and exit status; exec events; DeleteProcess', async () => {
  const c = container('sleep 1000');
  await tm.create(c.id, { rootfs: c.rootfs });
  await expect(tm.exec(c.id, 'bad id!', {})).rejects.toThrow(/exec id/);
  await tm.start(c.id);
  const out = fifo(`${c.id}.e1`);
  const text = fs.readFile(out, 'utf8');
  const spec = specs.get(c.id) as any;
  await tm.exec(c.id, 'e1', { ...spec.process, args: ['/bin/sh', '-c', 'echo in-exec; exit 5'] }, { stdout: out });
  await expect(tm.exec(c.id, 'e1', spec.process)).rejects.toThrow(/already exists/);
  expect(await tm.get(c.id, 'e1')).toMatchObject({ id: 'e1', status: 'CREATED', pid: 0 });
  // A Wait that arrives before the Start (ctr task exec sends it from a goroutine) waits.
  const early = tm.wait(c.id, 'e1');
  const { pid } = await tm.start(c.id, 'e1');
  expect(pid).toBeGreaterThan(0);
  expect(await early).toMatchObject({ pid, exitStatus: 5 });
  const exit = await tm.wait(c.id, 'e1');
  expect(exit).toMatchObject({ pid, exitStatus: 5 });
  expect(await text).toBe('in-exec\n');
  expect(await tm.get(c.id, 'e1')).toMatchObject({ status: 'STOPPED', exitStatus: 5 });
  // The task runs on.
  expect((await tm.get(c.id)).status).toBe('RUNNING');
  expect((await tm.deleteProcess(c.id, 'e1')).exitStatus).toBe(5);
  await expect(tm.get(c.id, 'e1')).rejects.toThrow(/not found/);
  // A Wait on an exec that is deleted without ever starting ends with that delete.
  await tm.exec(c.id, 'never', spec.process);
  const orphan = tm.wait(c.id, 'never');
  await tm.deleteProcess(c.id, 'never');
  expect(await orphan).toMatchObject({ exitStatus: 0 });
  // A long-running exec shows in pids with its exec id, and kill reaches it.
  await tm.exec(c.id, 'e2', { ...spec.process, args: ['/bin/sleep', '1000'] });
  const e2 = await tm.start(c.id, 'e2');
  expect(await tm.pids(c.id)).toEqual(expect.arrayContaining([{ pid: e2.pid, execId: 'e2' }]));
  await tm.kill(c.id, 9, { execId: 'e2' });
  expect((await tm.wait(c.id, 'e2')).exitStatus).toBe(137);
  await tm.kill(c.id, 9);
  await tm.wait(c.id);
  await tm.delete(c.id);
  const t = events.filter((e) => e.event.containerId === c.id).map((e) => `${e.topic}:${e.event.execId ?? (e.event.id === c.id ? '' : e.event.id ?? '')}`);
  expect(t).toEqual([
    '/tasks/create:',
    '/tasks/start:',
    '/tasks/exec-added:e1',
    '/tasks/exec-started:e1',
    '/tasks/exit:e1',
    '/tasks/delete:e1',
    '/tasks/exec-added:never',
    '/tasks/delete:never',
    '/tasks/exec-added:e2',
    '/tasks/exec-started:e2',
    '/tasks/exit:e2',
    '/tasks/exit:',
    '/tasks/delete:',
  ]);
});

test('pause and resume freeze the cgroup; pids; metrics; update', async () => {
  const c = container('while true; do sleep 0.05; done');
  const { pid } = await tm.create(c.id, { rootfs: c.rootfs });
  await expect(tm.pause(c.id)).rejects.toThrow(/not running/);
  await tm.start(c.id);
  await tm.pause(c.id);
  expect((await tm.get(c.id)).status).toBe('PAUSED');
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  expect(st).toMatch(/State:\s+[SD]/);
  await tm.resume(c.id);
  expect((await tm.get(c.id)).status).toBe('RUNNING');
  expect((await tm.pids(c.id)).map((p) => p.pid)).toContain(pid);
  const m = await tm.metrics(c.id);
  expect(Number(m.pids.current)).toBeGreaterThanOrEqual(1);
  expect(Number(m.memory.usage.usage)).toBeGreaterThan(0);
  expect(Number(m.cpu.usage.total)).toBeGreaterThan(0);
  const merged = await tm.update(c.id, { pids: { limit: 77 } });
  expect(merged.pids).toEqual({ limit: 77 });
  expect(Number((await tm.metrics(c.id)).pids.limit)).toBe(77);
  expect(topics(c.id)).toEqual(['/tasks/create', '/tasks/start', '/tasks/paused', '/tasks/resumed']);
  await tm.kill(c.id, 9);
  await tm.wait(c.id);
  await tm.delete(c.id);
});

test('delete of a created task kills it; delete leaves no mount, cgroup, shim, dir', async () => {
  const c = container('sleep 1000');
  const { pid } = await tm.create(c.id, { rootfs: c.rootfs });
  const runtimeState = JSON.parse(readFileSync(join(state, 'runtime', NS, c.id, 'state.json'), 'utf8'));
  const shimDir = tm.shimDir(c.id);
  const shimPid = Number(readFileSync(join(shimDir, 'shim.pid'), 'utf8'));
  expect(alive(shimPid)).toBe(true);
  const cgroupDirs = Object.values(runtimeState.cgroupPaths) as string[];
  expect(cgroupDirs.length).toBeGreaterThan(0);
  for (const d of cgroupDirs) expect(existsSync(d)).toBe(true);
  const exit = await tm.delete(c.id);
  expect(exit.exitStatus).toBe(137);
  expect(alive(pid)).toBe(false);
  expect(alive(shimPid)).toBe(false);
  for (const d of cgroupDirs) expect(existsSync(d)).toBe(false);
  expect(mountsUnder(state)).toEqual([]);
  for (const d of [shimDir, tm.bundleDir(c.id), join(state, 'runtime', NS, c.id)]) expect(existsSync(d)).toBe(false);
  // Never started: no TaskStart; exit before delete.
  expect(topics(c.id)).toEqual(['/tasks/create', '/tasks/exit', '/tasks/delete']);
});

test('a bad spec fails create and leaves nothing behind', async () => {
  const c = container(['/no/such/program']);
  await tm.create(c.id, { rootfs: c.rootfs }).then(
    () => tm.start(c.id),
  ).then(
    () => {
      throw new Error('expected a failure');
    },
    (err: Error) => expect(err.message).toMatch(/no\/such\/program/),
  );
  // Whether create or start reported it: after delete nothing remains.
  if (tm.ids().includes(c.id)) await tm.delete(c.id);
  expect(mountsUnder(state)).toEqual([]);
  expect(existsSync(tm.bundleDir(c.id))).toBe(false);
  expect(existsSync(tm.shimDir(c.id))).toBe(false);
  expect(existsSync(join(state, 'runtime', NS, c.id))).toBe(false);
});

test('long ids get a short hashed shim dir', () => {
  const long = 'x'.repeat(70);
  const dir = tm.shimDir(long);
  expect(dir).toMatch(new RegExp(`^${state}/s/[0-9a-f]{12}$`));
  expect(`${dir}/console-${'e'.repeat(64)}.sock`.length).toBeLessThan(108);
  expect(tm.shimDir('short')).toBe(join(state, 'shims', NS, 'short'));
});

test('recover: after berthd "dies", a running task is found running and an exited one has its exit code', async () => {
  const a = container('sleep 1000');
  const b = container('read x; exit 42');
  const bIn = fifo(`${b.id}.in`);
  await tm.create(a.id, { rootfs: a.rootfs });
  await tm.start(a.id);
  const { pid: bPid } = await tm.create(b.id, { rootfs: b.rootfs, stdio: { stdin: bIn } });
  await tm.start(b.id);
  // berthd goes away: the shims keep running.
  tasks.close();
  events = [];
  const shimA = Number(readFileSync(join(tm.shimDir(a.id), 'shim.pid'), 'utf8'));
  expect(alive(shimA)).toBe(true);
  // b exits while nobody watches.
  await fs.writeFile(bIn, 'x\n');
  await until('b exit file', () => existsSync(join(tm.shimDir(b.id), 'exit')));

  tasks = new Tasks(options());
  tm = tasks.namespace(NS);
  expect(await tasks.recover()).toEqual({ [NS]: [a.id, b.id].sort() });
  expect(await tm.get(a.id)).toMatchObject({ status: 'RUNNING' });
  expect(await tm.get(b.id)).toMatchObject({ status: 'STOPPED', exitStatus: 42, pid: bPid });
  expect((await tm.wait(b.id)).exitStatus).toBe(42);
  await tm.kill(a.id, 9);
  expect((await tm.wait(a.id)).exitStatus).toBe(137);
  await tm.delete(a.id);
  expect((await tm.delete(b.id)).exitStatus).toBe(42);
  expect(alive(shimA)).toBe(false);
  expect(readdirSync(join(state, 'tasks', NS))).toEqual([]);
  expect(mountsUnder(state)).toEqual([]);
});
