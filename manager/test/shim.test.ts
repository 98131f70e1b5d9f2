import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, promises as fs, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import type { Socket } from 'net';
import { Sandbox, BIN, requireRoot, sleep } from '../../e2e/test/support/env';
import { buildPlan, buildExecPlan, encodePlan } from '../../runtime/src/plan/build';
import { readHostFacts } from '../../runtime/src/plan/host-facts';
import { loadBundle } from '../../runtime/src/spec/load';
import { realHost } from '../../runtime/src/host/real-host';
import { detectLayout, openCgroup } from '../../runtime/src/cgroups';
import type { CgroupManager } from '../../runtime/src/cgroups/types';
import { withDefaultDevices } from '../../runtime/src/plan/device-rules';
import { namespaceJoins } from '../../runtime/src/lib/exec';
import type { Spec } from '../../runtime/src/spec/types';
import { startShim, ShimClient, SyncListener, initHandshake, consoleSocketPath, type StartedShim, type ShimStartOptions } from '../src/shim';

// berth-shim with real containers: berth-init, a busybox bundle, the host's cgroups. The test
// plays berthd: it listens on the sync socket, runs the handshake and opens the exec fifo.

jest.setTimeout(60_000);
const SHIM = join(BIN, 'berth-shim');
const INIT = join(BIN, 'berth-init');

let sandbox: Sandbox;
const started: Running[] = [];

beforeAll(() => {
  requireRoot();
  if (!existsSync(SHIM)) throw new Error(`${SHIM} is missing: make -C shim`);
  sandbox = new Sandbox();
});

afterAll(async () => {
  for (const c of started) await c.destroy();
  sandbox?.cleanup();
});

interface Running {
  id: string;
  shim: StartedShim;
  client: ShimClient;
  pid: number;
  spec: Spec;
  dir: string;
  log: string;
  cgroup: CgroupManager;
  destroy(): Promise<void>;
}

/** `create` + `start` through a shim, as berthd will do it. */
async function run(adjust: (spec: Spec) => void, shimOpts: Partial<ShimStartOptions> = {}, start = true): Promise<Running> {
  const bundleDir = sandbox.bundle(adjust as (s: any) => void);
  const { spec, rootfs } = await loadBundle(realHost, bundleDir);
  const id = sandbox.id('shim');
  // Short paths: unix socket names are limited to 107 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'bs-'));
  const log = join(dir, 'ctr.log');
  const sync = await SyncListener.listen(join(dir, 'sync.sock'));
  const layout = await detectLayout(realHost);
  const cgroup = await openCgroup(realHost, layout, spec.linux?.cgroupsPath, id);
  const terminal = !!spec.process?.terminal;
  const plan = buildPlan(spec, {
    bundle: bundleDir,
    rootfs,
    cgroupMounts: [],
    facts: await readHostFacts(realHost),
    execFifo: join(dir, 'exec.fifo'),
    consoleSocket: terminal ? consoleSocketPath(dir) : undefined,
  });
  let shim: StartedShim | undefined;
  let client: ShimClient | undefined;
  const c: Running = {
    id, dir, log, cgroup, spec, pid: 0, shim: undefined as any, client: undefined as any,
    async destroy() {
      if (client) {
        const st = await client.state().catch(() => undefined);
        if (st?.status === 'running') {
          await client.signal('KILL').catch(() => undefined);
          await client.wait().catch(() => undefined);
        }
        await client.shutdown().catch(() => undefined);
        client.close();
      }
      if (shim && alive(shim.pid)) process.kill(shim.pid, 'SIGKILL');
      await sync.close().catch(() => undefined);
      await cgroup.destroy().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  started.push(c);
  shim = c.shim = await startShim({ binary: SHIM, id, namespace: 'test', stateDir: dir, init: INIT, syncSocket: sync.path, logPath: log, terminal, ...shimOpts });
  client = c.client = await ShimClient.connect(dir);
  c.pid = await initHandshake(await sync.accept(), encodePlan(plan), async (pid) => {
    await cgroup.create();
    await cgroup.apply(withDefaultDevices(spec.linux?.resources, spec.linux?.devices));
    await cgroup.addProcess(pid);
    return '';
  });
  await sync.close();
  if (start) await openExecFifo(join(dir, 'exec.fifo'));
  return c;
}

/** `start`: open the exec fifo, read the child's byte, then EOF (its execve). */
async function openExecFifo(path: string): Promise<void> {
  const fh = await fs.open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    let got = 0;
    for (let i = 0; i < 2000; i++) {
      try {
        const { bytesRead } = await fh.read(buf, 0, 1, null);
        if (bytesRead === 0 && got) return;
        if (bytesRead === 1) got++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      await sleep(5);
    }
    throw new Error('the container did not exec');
  } finally {
    await fh.close();
  }
}

function alive(pid: number): boolean {
  // A zombie is gone for our purpose: here pid 1 does not reap orphans.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function ppid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function logLines(file: string): { time: string; stream: string; tag: string; text: string }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/s.exec(l);
      if (!m) throw new Error(`not a CRI log line: ${JSON.stringify(l)}`);
      return { time: m[1]!, stream: m[2]!, tag: m[3]!, text: m[4]! };
    });
}

const sh = (script: string) => (s: Spec) => {
  s.process!.args = ['/bin/sh', '-c', script];
};

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  for (let t = 0; t < ms; t += 20) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function collect(sock: Socket): { text: () => string } {
  let out = '';
  sock.on('data', (d: Buffer) => (out += d.toString('utf8')));
  sock.resume();
  return { text: () => out };
}

test('output lands in the log as CRI lines, the exit file has the status, wait returns it', async () => {
  const c = await run(sh('echo out1; echo err1 >&2; echo out2; printf partial; exit 3'));
  const exit = await c.client.wait();
  expect(exit.status).toBe(3);
  expect(readFileSync(join(c.dir, 'exit'), 'utf8')).toBe(`3 ${exit.exitedAt}\n`);
  expect(exit.exitedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  expect(await c.client.state()).toEqual({ status: 'exited', exitStatus: 3, exitedAt: exit.exitedAt });
  // Everything is in the log by the time the exit is reported.
  const lines = logLines(c.log);
  const out = lines.filter((l) => l.stream === 'stdout').map((l) => [l.tag, l.text]);
  expect(out).toEqual([['F', 'out1'], ['F', 'out2'], ['P', 'partial']]);
  expect(lines.filter((l) => l.stream === 'stderr').map((l) => [l.tag, l.text])).toEqual([['F', 'err1']]);
  for (const l of lines) expect(Math.abs(Date.parse(l.time) - Date.now())).toBeLessThan(60_000);
  // signal after the exit is refused: the pid is not ours any more.
  await expect(c.client.signal('TERM')).rejects.toThrow(/has exited/);
});

test('a line longer than the line buffer is written as P pieces and an F', async () => {
  const c = await run(sh('head -c 20000 /dev/zero | /bin/busybox tr "\\0" x; echo; echo next'));
  await c.client.wait();
  const lines = logLines(c.log).filter((l) => l.stream === 'stdout');
  expect(lines.map((l) => l.tag)).toEqual(['P', 'P', 'F', 'F']);
  expect(lines[0]!.text.length).toBe(8192);
  expect(lines.slice(0, 3).map((l) => l.text).join('')).toBe('x'.repeat(20000));
  expect(lines.at(-1)).toMatchObject({ tag: 'F', text: 'next' });
});

test('SIGKILL gives 137; the shim outlives its starter and its clients', async () => {
  const c = await run(sh('sleep 1000'));
  const shimPid = c.shim.pid;
  // The process startShim spawned has exited; the shim is not our child.
  expect(ppid(shimPid)).not.toBe(process.pid);
  // stage0 exited: the container process was reparented to the shim (the subreaper), not pid 1.
  expect(ppid(c.pid)).toBe(shimPid);
  expect(await c.client.state()).toEqual({ status: 'running', pid: c.pid });
  c.client.close();
  const again = await ShimClient.connect(c.dir);
  c.client = again;
  expect(await again.state()).toEqual({ status: 'running', pid: c.pid });
  await expect(again.shutdown()).rejects.toThrow(/running/);
  const waiting = again.wait();
  await again.signal('SIGKILL');
  const exit = await waiting;
  expect(exit.status).toBe(137);
  expect(readFileSync(join(c.dir, 'exit'), 'utf8').split(' ')[0]).toBe('137');
  expect(alive(c.pid)).toBe(false);
});

test('signal by name reaches the container process (a TERM trap exits 7)', async () => {
  const c = await run(sh('trap "exit 7" TERM; echo ready; while true; do sleep 0.05; done'));
  await until('ready', () => existsSync(c.log) && readFileSync(c.log, 'utf8').includes('ready'));
  await c.client.signal('TERM');
  expect((await c.client.wait()).status).toBe(7);
});

test('exec: another berth-init through the shim, with its own output FIFO and exit status', async () => {
  const c = await run(sh('sleep 1000'));
  const fifo = join(c.dir, 'e1.out');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  const sync = await SyncListener.listen(join(c.dir, 'e1.sock'));
  try {
    const proc = { ...c.spec.process!, args: ['/bin/sh', '-c', 'echo from-exec; echo $$ > /tmp/pid; exit 5'], terminal: false };
    const plan = buildExecPlan(c.spec, proc, { joins: await namespaceJoins(c.pid, c.spec), facts: await readHostFacts(realHost) });
    await c.client.exec('e1', sync.path, { stdout: fifo });
    const reader = fs.readFile(fifo, 'utf8'); // EOF when the shim closes its end at the stream's end
    const pid = await initHandshake(await sync.accept(), encodePlan(plan), async (p) => {
      await c.cgroup.addProcess(p);
      return '';
    }, { exec: true });
    expect(pid).toBeGreaterThan(0);
    const exit = await c.client.waitExec('e1');
    expect(exit.status).toBe(5);
    expect(readFileSync(join(c.dir, 'exec-e1.exit'), 'utf8')).toBe(`5 ${exit.exitedAt}\n`);
    expect(await c.client.stateExec('e1')).toMatchObject({ status: 'exited', exitStatus: 5 });
    expect(await reader).toBe('from-exec\n');
    // The exec's output is not the container's log; the container runs on.
    expect(existsSync(c.log) ? readFileSync(c.log, 'utf8') : '').not.toContain('from-exec');
    expect(await c.client.state()).toEqual({ status: 'running', pid: c.pid });
    await expect(c.client.exec('e1', sync.path)).rejects.toThrow(/in use/);
    await c.client.deleteExec('e1');
    expect(existsSync(join(c.dir, 'exec-e1.exit'))).toBe(false);
    await expect(c.client.stateExec('e1')).rejects.toThrow(/no exec e1/);
  } finally {
    await sync.close();
  }
});

test('terminal: the pty master comes to the shim; resize changes stty size; attach is interactive', async () => {
  const c = await run((s) => {
    s.process!.terminal = true;
    s.process!.args = ['/bin/sh', '-c', 'read a; /bin/busybox stty size; read b; /bin/busybox stty size; echo bye-$b'];
  });
  const att = await c.client.attach();
  const out = collect(att);
  await c.client.resize(30, 100);
  att.write('one\n');
  await until('30 100', () => out.text().includes('30 100'));
  await c.client.resize(41, 123);
  att.write('two\n');
  expect((await c.client.wait()).status).toBe(0);
  await until('bye', () => out.text().includes('bye-two'));
  expect(out.text()).toContain('41 123');
  // The console socket is gone once the master arrived; the log has the pty's output.
  expect(existsSync(join(c.dir, 'console.sock'))).toBe(false);
  const text = logLines(c.log).map((l) => l.text.replace(/\r$/, ''));
  expect(text).toEqual(expect.arrayContaining(['30 100', '41 123', 'bye-two']));
  att.destroy();
  await expect(ShimClient.connect(c.dir).then((x) => x.resize(1, 1).finally(() => x.close()))).resolves.toBeUndefined();
});

test('attach streams output and feeds stdin (pipes); close-stdin ends the input', async () => {
  const c = await run(sh('while read l; do echo echo:$l; echo err:$l >&2; done; exit 4'), { openStdin: true });
  const both = await c.client.attach();
  const errOnly = await c.client.attach('stderr');
  const a = collect(both);
  const b = collect(errOnly);
  both.write('hello\n');
  await until('echo', () => a.text().includes('echo:hello') && a.text().includes('err:hello'));
  await until('stderr attach', () => b.text().includes('err:hello'));
  expect(b.text()).not.toContain('echo:hello');
  // A client that goes away does not disturb the container.
  errOnly.destroy();
  both.write('again\n');
  await until('echo again', () => a.text().includes('echo:again'));
  await c.client.closeStdin();
  expect((await c.client.wait()).status).toBe(4);
  both.destroy();
});

test('attach --close-stdin: the client\'s EOF closes stdin after every byte it sent; the shim ends the output', async () => {
  const c = await run(sh('cat; echo done; echo bye >&2'), { openStdin: true });
  const att = await c.client.attach(undefined, { closeStdin: true });
  const errOnly = await c.client.attach('stderr');
  const ended = (sock: Socket) => new Promise<void>((resolve) => sock.once('end', resolve));
  const attEnded = ended(att);
  const errEnded = ended(errOnly);
  const out = collect(att);
  const err = collect(errOnly);
  // Many writes then EOF at once: nothing of it may be overtaken by the close.
  const chunk = 'x'.repeat(1000) + '\n';
  for (let i = 0; i < 50; i++) att.write(chunk);
  att.end();
  expect((await c.client.wait()).status).toBe(0);
  // EOF from the shim once stdout and stderr have ended: the output is complete.
  await attEnded;
  await errEnded;
  // (stdout and stderr are read in the order the shim polls them: 'bye' may come first)
  expect(out.text().replace('bye\n', '')).toBe(chunk.repeat(50) + 'done\n');
  expect(out.text()).toContain('bye\n');
  expect(err.text()).toBe('bye\n');
  // Attaching after the end: EOF at once.
  const late = await c.client.attach();
  const lateEnded = ended(late);
  collect(late);
  await lateEnded;
  late.destroy();
  att.destroy();
  errOnly.destroy();
});

test('attach without --close-stdin: the client\'s EOF leaves stdin open; attach-exec of an unknown exec is refused', async () => {
  const c = await run(sh('read a; echo got-$a; read b; echo got-$b'), { openStdin: true });
  const second = await c.client.attach();
  const out = collect(second);
  const first = await c.client.attach();
  first.write('one\n');
  first.end();
  await until('got-one', () => out.text().includes('got-one'));
  second.write('two\n');
  expect((await c.client.wait()).status).toBe(0);
  await until('got-two', () => out.text().includes('got-two'));
  first.destroy();
  second.destroy();
  await expect(c.client.attach(undefined, { execId: 'nope' })).rejects.toThrow(/no exec nope/);
});

test('--stdin FIFO: its writer closing is the container stdin EOF', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bsf-'));
  try {
    const fifo = join(dir, 'in');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const c = await run(sh('cat; echo done'), { stdin: fifo });
    await fs.writeFile(fifo, 'via-fifo\n'); // opens, writes, closes
    expect((await c.client.wait()).status).toBe(0);
    expect(logLines(c.log).map((l) => l.text)).toEqual(['via-fifo', 'done']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('log rotation at --log-max-size, and reopen-log', async () => {
  const c = await run(sh('i=0; while [ $i -lt 40 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done'), { logMaxSize: 1000 });
  await c.client.wait();
  const rotated = `${c.log}.1`;
  expect(existsSync(rotated)).toBe(true);
  for (const f of [c.log, rotated]) expect(readFileSync(f).length).toBeLessThanOrEqual(1000);
  const last = logLines(c.log).map((l) => l.text);
  expect(last.at(-1)).toBe('line-39-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx');
  const before = logLines(rotated).map((l) => l.text);
  // The two files together end with consecutive lines: nothing lost at the cut.
  const n = (s: string) => Number(s.split('-')[1]);
  expect(n(last[0]!)).toBe(n(before.at(-1)!) + 1);
  await fs.rename(c.log, `${c.log}.moved`);
  await c.client.reopenLog();
  expect(readFileSync(c.log, 'utf8')).toBe('');
});

test('shutdown: the shim exits and leaves no socket; the cgroup can then be destroyed', async () => {
  const c = await run((s) => {
    s.process!.terminal = true;
    s.process!.args = ['/bin/sh', '-c', 'exit 0'];
  }, {}, false);
  // Not started yet: it waits on the exec fifo, and the shim knows its pid already.
  expect(await c.client.state()).toEqual({ status: 'running', pid: c.pid });
  await c.client.signal('KILL');
  expect((await c.client.wait()).status).toBe(137);
  await c.client.shutdown();
  await until('shim gone', () => !alive(c.shim.pid));
  for (const f of ['control.sock', 'console.sock', 'shim.pid']) expect(existsSync(join(c.dir, f))).toBe(false);
  expect(existsSync(join(c.dir, 'exit'))).toBe(true);
  await c.cgroup.destroy();
  for (const dir of Object.values(c.cgroup.paths)) expect(existsSync(dir)).toBe(false);
  c.client.close();
  started.splice(started.indexOf(c), 1);
  rmSync(c.dir, { recursive: true, force: true });
});

test('a failed start is reported: bad berth-init path, relative path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bsx-'));
  try {
    const sync = await SyncListener.listen(join(dir, 's.sock'));
    await expect(startShim({ binary: SHIM, id: 'x', namespace: 'test', stateDir: dir, init: '/nonexistent/berth-init', syncSocket: sync.path })).rejects.toThrow(/nonexistent/);
    await expect(startShim({ binary: SHIM, id: 'x', namespace: 'test', stateDir: dir, init: 'berth-init', syncSocket: sync.path })).rejects.toThrow(/absolute/);
    expect(existsSync(join(dir, 'control.sock'))).toBe(false);
    expect(existsSync(join(dir, 'shim.pid'))).toBe(false);
    await sync.close();
    // Nobody listens on the sync socket: the start fails, naming it.
    await expect(startShim({ binary: SHIM, id: 'x', namespace: 'test', stateDir: dir, init: INIT, syncSocket: sync.path })).rejects.toThrow(/connect .*s\.sock/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('berth-init failing before execve: the handshake rejects and the shim records the exit', async () => {
  const bad = run((s) => {
    s.process!.args = ['/no/such/program'];
  });
  await expect(bad).rejects.toThrow(/no\/such\/program/);
  const b = started.at(-1)!;
  const exit = await b.client.wait();
  expect(exit.status).toBe(1);
  expect(await b.client.state()).toMatchObject({ status: 'exited', exitStatus: 1 });
});

test('memory: RSS <= 1.5 MB and PSS <= 0.5 MB with a running container', async () => {
  const c = await run(sh('while true; do echo tick; sleep 0.05; done'));
  await until('output', () => existsSync(c.log) && readFileSync(c.log, 'utf8').includes('tick'));
  const att = await c.client.attach();
  collect(att);
  await sleep(200);
  const rollup = readFileSync(`/proc/${c.shim.pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(rollup)![1]);
  const rss = kb('Rss');
  const pss = kb('Pss');
  // eslint-disable-next-line no-console
  console.log(`berth-shim with a running container: Rss ${rss} kB, Pss ${pss} kB`);
  expect(rss).toBeLessThanOrEqual(1536);
  expect(pss).toBeLessThanOrEqual(512);
  att.destroy();
});
