import * as grpc from '@grpc/grpc-js';
import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, promises as fs, readFileSync, rmSync } from 'fs';
import { join } from 'path';
import { Sandbox, BIN, requireRoot } from '../../e2e/test/support/env';
import { TASKS, addService, createClient, dateOf, packJsonAny, unpackAny, PROCESS_SPEC_TYPE_URL, type Client } from '../src/api';
import { Tasks } from '../src/core/tasks';
import { notFound } from '../src/core/errors';
import { tasksService } from '../src/services/tasks';

// The Tasks service over a real TaskManager, through our generated client on an in-process
// grpc-js server: what ctr's `task` commands send.

jest.setTimeout(60_000);
const NS = 'svc';

let sandbox: Sandbox;
let state: string;
let server: grpc.Server;
let client: Client<typeof TASKS>;
let tasks: Tasks;
const specs = new Map<string, any>();
const events: { topic: string; event: any }[] = [];

beforeAll(async () => {
  requireRoot();
  sandbox = new Sandbox();
  state = mkdtempSync('/tmp/bts-');
  tasks = new Tasks({
    state,
    shimBinary: join(BIN, 'berth-shim'),
    initBinary: join(BIN, 'berth-init'),
    spec: (_ns, id) => {
      // As the metadata store answers for a container it does not have.
      if (!specs.has(id)) throw notFound(`container "${id}" in namespace "${NS}": not found`);
      return specs.get(id);
    },
    publish: (_ns, topic, _type, event) => events.push({ topic, event }),
  });
  server = new grpc.Server();
  addService(server, TASKS, tasksService({ tasks }));
  const sock = join(state, 'grpc.sock');
  await new Promise<void>((res, rej) => server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  client = createClient(TASKS, sock, { namespace: NS });
});

afterAll(async () => {
  const m = tasks?.namespace(NS);
  for (const id of m?.ids() ?? []) {
    await m!.kill(id, 9, { all: true }).catch(() => undefined);
    await m!.delete(id).catch(() => undefined);
  }
  tasks?.close();
  client?.close();
  await new Promise<void>((r) => (server ? server.tryShutdown(() => r()) : r()));
  rmSync(state, { recursive: true, force: true });
  sandbox?.cleanup();
});

function container(args: string[]): { id: string; rootfs: object[] } {
  const dir = sandbox.bundle((s) => {
    s.process.args = args;
  });
  const id = sandbox.id('s');
  specs.set(id, JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  return { id, rootfs: [{ type: 'bind', source: join(dir, 'rootfs'), target: '', options: ['rbind', 'rw'] }] };
}

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: grpc.ServiceError) => e.code);

test('Create (snapshot mounts + stdio FIFOs), Start, Wait, Get, Delete; NotFound after', async () => {
  const c = container(['/bin/sh', '-c', 'echo via-grpc; exit 9']);
  const out = join(state, `${c.id}.out`);
  expect(spawnSync('mkfifo', [out]).status).toBe(0);
  const text = fs.readFile(out, 'utf8');
  const created = await client.Create({ containerId: c.id, rootfs: c.rootfs as any, stdout: out });
  expect(created.containerId).toBe(c.id);
  expect(created.pid).toBeGreaterThan(0);
  expect((await client.Get({ containerId: c.id })).process).toMatchObject({ containerId: c.id, pid: created.pid, status: 'CREATED', stdout: out });
  expect((await client.List({})).tasks.map((t) => t.containerId)).toEqual([c.id]);
  // Another namespace sees nothing.
  expect((await client.List({}, { namespace: 'other' })).tasks).toEqual([]);
  const waiting = client.Wait({ containerId: c.id });
  expect((await client.Start({ containerId: c.id })).pid).toBe(created.pid);
  const w = await waiting;
  expect(w.exitStatus).toBe(9);
  expect(Math.abs(dateOf(w.exitedAt)!.getTime() - Date.now())).toBeLessThan(10_000);
  expect(await text).toBe('via-grpc\n');
  expect((await client.Get({ containerId: c.id })).process).toMatchObject({ status: 'STOPPED', exitStatus: 9 });
  const del = await client.Delete({ containerId: c.id });
  expect(del).toMatchObject({ id: c.id, pid: created.pid, exitStatus: 9 });
  expect(await code(client.Get({ containerId: c.id }))).toBe(grpc.status.NOT_FOUND);
  expect(await code(client.Delete({ containerId: c.id }))).toBe(grpc.status.NOT_FOUND);
  expect(existsSync(join(state, 'tasks', NS, c.id))).toBe(false);
  expect(events.filter((e) => e.event.containerId === c.id).map((e) => e.topic)).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
});

test('Exec with an Any process spec, ListPids with exec details, Metrics, Pause/Resume, Update, Kill', async () => {
  const c = container(['/bin/sleep', '1000']);
  await client.Create({ containerId: c.id, rootfs: c.rootfs as any });
  await client.Start({ containerId: c.id });
  expect(await code(client.Delete({ containerId: c.id }))).toBe(grpc.status.FAILED_PRECONDITION);
  const proc = { ...specs.get(c.id).process, args: ['/bin/sleep', '1000'] };
  await client.Exec({ containerId: c.id, execId: 'x1', spec: packJsonAny(PROCESS_SPEC_TYPE_URL, proc) });
  const x = await client.Start({ containerId: c.id, execId: 'x1' });
  const pids = (await client.ListPids({ containerId: c.id })).processes;
  expect(pids).toHaveLength(2);
  const execEntry = pids.find((p) => p.pid === x.pid)!;
  expect(unpackAny(execEntry.info!)).toEqual({ name: 'containerd.runc.v1.ProcessDetails', message: { execId: 'x1' } });
  expect(pids.find((p) => p.pid !== x.pid)!.info).toBeNull();

  const m = await client.Metrics({ filters: [`id==${c.id}`] });
  expect(m.metrics).toHaveLength(1);
  expect(m.metrics[0]!.id).toBe(c.id);
  // This host's containers are in v1 hierarchies: containerd's cgroups v1 Metrics.
  const { name, message: stats } = unpackAny<any>(m.metrics[0]!.data!);
  expect(name).toBe('io.containerd.cgroups.v1.Metrics');
  expect(stats.pids.current).toBe(2);

  await client.Update({ containerId: c.id, resources: packJsonAny('types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', { pids: { limit: 50 } }) });
  const after = unpackAny<any>((await client.Metrics({ filters: [`id==${c.id}`] })).metrics[0]!.data!).message;
  expect(after.pids.limit).toBe(50);

  await client.Pause({ containerId: c.id });
  expect((await client.Get({ containerId: c.id })).process!.status).toBe('PAUSED');
  await client.Resume({ containerId: c.id });
  expect((await client.Get({ containerId: c.id })).process!.status).toBe('RUNNING');

  expect(await code(client.Checkpoint({ containerId: c.id }))).toBe(grpc.status.UNIMPLEMENTED);
  expect(await code(client.ResizePty({ containerId: c.id, width: 80, height: 24 }))).toBe(grpc.status.FAILED_PRECONDITION);

  await client.Kill({ containerId: c.id, execId: 'x1', signal: 9 });
  expect((await client.Wait({ containerId: c.id, execId: 'x1' })).exitStatus).toBe(137);
  expect((await client.DeleteProcess({ containerId: c.id, execId: 'x1' })).exitStatus).toBe(137);
  await client.Kill({ containerId: c.id, signal: 9, all: true });
  expect((await client.Wait({ containerId: c.id })).exitStatus).toBe(137);
  expect(await code(client.Kill({ containerId: c.id, signal: 9 }))).toBe(grpc.status.NOT_FOUND);
  await client.Delete({ containerId: c.id });
});

test('errors: no namespace (FailedPrecondition), no container record, duplicate create', async () => {
  const bare = createClient(TASKS, join(state, 'grpc.sock'));
  try {
    // containerd's namespaces.NamespaceRequired: FailedPrecondition.
    expect(await code(bare.List({}))).toBe(grpc.status.FAILED_PRECONDITION);
  } finally {
    bare.close();
  }
  expect(await code(client.Create({ containerId: 'nope' }))).toBe(grpc.status.NOT_FOUND);
  expect(existsSync(join(state, 'tasks', NS, 'nope'))).toBe(false);
  const c = container(['/bin/sleep', '1000']);
  await client.Create({ containerId: c.id, rootfs: c.rootfs as any });
  expect(await code(client.Create({ containerId: c.id, rootfs: c.rootfs as any }))).toBe(grpc.status.ALREADY_EXISTS);
  await client.Delete({ containerId: c.id });
});
