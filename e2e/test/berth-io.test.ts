import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { requireRoot, sleep, BIN } from './support/env';
import { PrivateBerthd } from './support/berthd';
import { run } from './support/containerd';
import { buildImage, type Image } from './support/image';
import { ptySession as runOnPty, shellSteps, SHELL_PROMPT as PROMPT, type PtySession, type PtyStep } from './support/pty';
import { BERTH_IO, SNAPSHOTS, TASKS, createClient, type Client } from '../../manager/src/api';

// berth's I/O: the CRI log berthd's shims write for berth containers and `berth logs`; the
// berth.io.v1 Attach stream (before a task's start, like `run`; stdin closing as Docker's
// StdinOnce); `berth attach` and `berth exec`, -it driven through a real pty (python3's pty
// module): raw mode on berth's terminal, window size, ctrl-c reaching the process, detach keys.
//
// Containers are made the way berth's client makes them, without its `run`: a record carrying
// the berth labels (ctr containers create --label …, which also prepares the snapshot), then
// Tasks.Create over gRPC with EMPTY stdio, then Tasks.Start.

const BERTH = join(BIN, 'berth');
let d: PrivateBerthd;
let image: Image;
let tasks: Client<typeof TASKS>;
let snapshots: Client<typeof SNAPSHOTS>;
let io: Client<typeof BERTH_IO>;

beforeAll(async () => {
  requireRoot();
  image = buildImage();
  d = new PrivateBerthd();
  await d.start();
  const imported = await d.ctr(['images', 'import', image.tar]);
  if (imported.code !== 0) throw new Error(`import: ${imported.stderr}`);
  const opts = { namespace: 'default' };
  tasks = createClient(TASKS, d.address, opts);
  snapshots = createClient(SNAPSHOTS, d.address, opts);
  io = createClient(BERTH_IO, d.address, opts);
}, 60_000);

afterAll(async () => {
  try {
    for (const c of [tasks, snapshots, io]) c?.close();
    await d?.cleanup();
  } finally {
    image?.cleanup();
  }
});

interface Made {
  tty?: boolean;
  stdinOpen?: boolean;
  start?: boolean;
}

/** A berth container with a created (and, by default, started) task of empty stdio. */
async function container(id: string, args: string[], opts: Made = {}): Promise<void> {
  const labels = ['--label', 'berth/created-by=berth'];
  if (opts.tty) labels.push('--label', 'berth/tty=true');
  if (opts.stdinOpen) labels.push('--label', 'berth/stdin-open=true');
  const r = await d.ctr(['containers', 'create', ...labels, ...(opts.tty ? ['--tty'] : []), image.ref, id, ...(args.some((a) => a.startsWith('-')) ? ['--'] : []), ...args]);
  if (r.code !== 0) throw new Error(`ctr containers create ${id}: ${r.stderr}`);
  const { mounts } = await snapshots.Mounts({ snapshotter: 'overlayfs', key: id });
  await tasks.Create({ containerId: id, rootfs: mounts, terminal: !!opts.tty, stdin: '', stdout: '', stderr: '' });
  if (opts.start !== false) await tasks.Start({ containerId: id });
}

/** Kills, deletes the task and the container (and with it its log). */
async function remove(id: string): Promise<void> {
  await tasks.Kill({ containerId: id, signal: 9 }).catch(() => undefined);
  await tasks.Wait({ containerId: id }).catch(() => undefined);
  await tasks.Delete({ containerId: id }).catch(() => undefined);
  await d.ctr(['containers', 'rm', id]);
}

function berth(args: string[], input?: string) {
  return run(BERTH, ['-H', `unix://${d.address}`, ...args], { timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) });
}

async function exitOf(id: string): Promise<number> {
  return (await tasks.Wait({ containerId: id })).exitStatus;
}

const logPath = (id: string) => join(d.logRoot, 'default', `${id}.log`);

describe('the CRI log and berth logs', () => {
  const id = 'io-logs';
  afterAll(() => remove(id));

  it('berth containers get <log_root>/<ns>/<id>.log; logs splits stdout and stderr; -f ends with the process', async () => {
    await container(id, ['sh', '-c', 'echo out1; echo err1 >&2; for i in 1 2 3; do echo tick-$i; sleep 0.3; done; printf tail-no-newline']);
    // -f follows what comes after it started, and ends once the process has exited.
    const followed = await berth(['logs', '-f', id]);
    expect(followed.code).toBe(0);
    expect(followed.stdout).toBe('out1\ntick-1\ntick-2\ntick-3\ntail-no-newline');
    expect(followed.stderr).toBe('err1\n');
    expect(await exitOf(id)).toBe(0);
    // The file is the shim's CRI log.
    const lines = readFileSync(logPath(id), 'utf8').split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) F (out1|err1)$/);
  });

  it('--tail, -t, --since and --until', async () => {
    const tail = await berth(['logs', '--tail', '2', id]);
    expect(tail.stdout).toBe('tick-3\ntail-no-newline');
    expect(tail.stderr).toBe('');
    expect((await berth(['logs', '-n', '0', id])).stdout).toBe('');
    const stamped = await berth(['logs', '-t', id]);
    // Go's RFC3339Nano: trailing zeros of the fraction dropped.
    expect(stamped.stdout.split('\n')[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z out1$/);
    const entries = readFileSync(logPath(id), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
    const tick2 = entries.find((e) => e[3] === 'tick-2')![0]!;
    // --since the time of tick-2 (inclusive), --until it (inclusive).
    expect((await berth(['logs', '--since', tick2, id])).stdout).toBe('tick-2\ntick-3\ntail-no-newline');
    expect((await berth(['logs', '--until', tick2, id])).stdout).toBe('out1\ntick-1\ntick-2\n');
    expect((await berth(['logs', '--since', '1h', id])).stdout).toContain('out1');
    expect((await berth(['logs', '--until', '1h', id])).stdout).toBe('');
    const bad = await berth(['logs', '--since', 'yesterday', id]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^berth: invalid value for --since: "yesterday"/);
  });

  it('the log survives a new task (a restart appends) and goes with the container', async () => {
    await tasks.Delete({ containerId: id });
    const { mounts } = await snapshots.Mounts({ snapshotter: 'overlayfs', key: id });
    await tasks.Create({ containerId: id, rootfs: mounts, stdin: '', stdout: '', stderr: '' });
    await tasks.Start({ containerId: id });
    await exitOf(id);
    expect((await berth(['logs', id])).stdout).toBe('out1\ntick-1\ntick-2\ntick-3\ntail-no-newline' + 'out1\ntick-1\ntick-2\ntick-3\ntail-no-newline');
    await tasks.Delete({ containerId: id });
    expect(existsSync(logPath(id))).toBe(true);
    expect((await d.ctr(['containers', 'rm', id])).code).toBe(0);
    for (let i = 0; i < 50 && existsSync(logPath(id)); i++) await sleep(20);
    expect(existsSync(logPath(id))).toBe(false);
  });

  it('ctr containers (not berth) get no log and no Logs', async () => {
    expect((await d.ctr(['run', '--rm', image.ref, 'io-ctr', 'echo', 'hi'])).code).toBe(0);
    expect(existsSync(logPath('io-ctr'))).toBe(false);
    const r = await berth(['logs', 'io-ctr']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^berth: .*io-ctr/);
  });
});

/** Opens an Attach call and collects its answers; resolves `ready` on the first ready. */
function openAttach(open: Record<string, unknown>) {
  const call = io.Attach();
  let stdout = '';
  let stderr = '';
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const ended = new Promise<void>((resolve, reject) => {
    call.on('data', (m: { ready: boolean; stdout: Buffer; stderr: Buffer }) => {
      if (m.ready) readyResolve();
      stdout += m.stdout.toString();
      stderr += m.stderr.toString();
    });
    call.on('end', () => resolve());
    call.on('error', reject);
  });
  call.write({ open });
  return { call, ready, ended, out: () => ({ stdout, stderr }) };
}

describe('berth.io.v1 Attach', () => {
  it('before the start (as run does): all the output, stdin closed at the end of the input (StdinOnce)', async () => {
    const id = 'io-attach-run';
    await container(id, ['sh', '-c', 'echo first; cat; echo err >&2; exit 7'], { stdinOpen: true, start: false });
    try {
      const a = openAttach({ containerId: id, stdin: true, stdout: true, stderr: true, closeStdin: true });
      await a.ready;
      await tasks.Start({ containerId: id });
      a.call.write({ stdin: Buffer.from('line one\n') });
      a.call.write({ stdin: Buffer.from('line two\n') });
      a.call.end();
      await a.ended;
      expect(a.out()).toEqual({ stdout: 'first\nline one\nline two\n', stderr: 'err\n' });
      expect(await exitOf(id)).toBe(7);
    } finally {
      await remove(id);
    }
  });

  it('an exec attached before its start gets its output from the first byte; unknown containers are NotFound', async () => {
    const id = 'io-attach-exec';
    await container(id, ['sleep', '300']);
    try {
      const spec = { args: ['sh', '-c', 'echo exec-out; echo exec-err >&2; exit 4'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } };
      await tasks.Exec({ containerId: id, execId: 'x1', spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) } });
      const a = openAttach({ containerId: id, execId: 'x1', stdout: true, stderr: true });
      await a.ready;
      await tasks.Start({ containerId: id, execId: 'x1' });
      await a.ended;
      expect(a.out()).toEqual({ stdout: 'exec-out\n', stderr: 'exec-err\n' });
      expect((await tasks.Wait({ containerId: id, execId: 'x1' })).exitStatus).toBe(4);
      await tasks.DeleteProcess({ containerId: id, execId: 'x1' });
      const missing = openAttach({ containerId: 'nope', stdout: true });
      await expect(missing.ended).rejects.toThrow(/task nope not found/);
    } finally {
      await remove(id);
    }
  });
});

describe('berth exec', () => {
  const id = 'io-exec';
  beforeAll(() => container(id, ['sleep', '300'], { stdinOpen: true }));
  afterAll(() => remove(id));

  it('runs a command: output, exit status, 127 for a missing command, stdin with -i', async () => {
    const hi = await berth(['exec', id, 'sh', '-c', 'echo hi; echo oops >&2']);
    expect(hi).toMatchObject({ code: 0, stdout: 'hi\n', stderr: 'oops\n' });
    expect((await berth(['exec', id, 'sh', '-c', 'exit 3'])).code).toBe(3);
    const missing = await berth(['exec', id, 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/^berth: .*no-such-command/);
    const cat = await berth(['exec', '-i', id, 'cat'], 'piped through\n');
    expect(cat).toMatchObject({ code: 0, stdout: 'piped through\n' });
    // Without -i stdin is not the process's: cat sees EOF at once.
    expect(await berth(['exec', id, 'cat'], 'ignored\n')).toMatchObject({ code: 0, stdout: '' });
  });

  it('-e, --env-file, -w, -u, --privileged, -d', async () => {
    const envFile = join(d.dir, 'exec.env');
    require('fs').writeFileSync(envFile, '# comment\nFROM_FILE=yes\n');
    const r = await berth(['exec', '-e', 'A=1', '--env-file', envFile, '-w', '/tmp', '-u', '65534:65534', id, 'sh', '-c', 'echo $A $FROM_FILE; pwd; id -u; id -g']);
    expect(r).toMatchObject({ code: 0, stdout: '1 yes\n/tmp\n65534\n65534\n' });
    const capEff = async (extra: string[]) => {
      const r = await berth(['exec', ...extra, id, 'grep', 'CapEff', '/proc/self/status']);
      const m = /CapEff:\s+([0-9a-f]+)/.exec(r.stdout);
      if (!m) throw new Error(`no CapEff: ${JSON.stringify(r)}`);
      return m[1]!;
    };
    const plain = await capEff([]);
    const privileged = await capEff(['--privileged']);
    expect(BigInt(`0x${privileged}`)).toBeGreaterThan(BigInt(`0x${plain}`));
    expect(BigInt(`0x${privileged}`) & (1n << 21n)).toBe(1n << 21n); // CAP_SYS_ADMIN
    const detached = await berth(['exec', '-d', id, 'sh', '-c', 'sleep 0.2; touch /tmp/from-detached']);
    expect(detached).toMatchObject({ code: 0, stdout: '' });
    let seen = false;
    for (let i = 0; i < 50 && !seen; i++) {
      seen = (await berth(['exec', id, 'test', '-e', '/tmp/from-detached'])).code === 0;
      if (!seen) await sleep(100);
    }
    expect(seen).toBe(true);
    expect((await berth(['exec', '-w', 'relative', id, 'true'])).code).toBe(125);
  });

  it('refuses a container that is not running', async () => {
    const stopped = 'io-exec-stopped';
    await container(stopped, ['true']);
    try {
      await exitOf(stopped);
      const r = await berth(['exec', stopped, 'true']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/is not running/);
    } finally {
      await remove(stopped);
    }
  });
});

// ---- terminals: berth under a real pty ----

async function ptySession(args: string[], steps: PtyStep[], timeoutMs = 20_000): Promise<PtySession> {
  return runOnPty([BERTH, '-H', `unix://${d.address}`, ...args], steps, timeoutMs);
}


describe('terminals through a pty', () => {
  it('berth exec -it: raw mode while attached, the pty size and a resize, ctrl-c reaches the process, exit code', async () => {
    const id = 'io-exec-tty';
    await container(id, ['sleep', '300']);
    try {
      const s = await ptySession(['exec', '-it', id, 'sh'], shellSteps(5, { ctrlC: true, checkRaw: true }));
      expect({ failedStep: s.failedStep, eof: s.eof, out: s.out }).toEqual({ failedStep: null, eof: true, out: expect.any(String) });
      expect(s.raw.attached).toBe(true);
      expect(s.code).toBe(5);
      // The exec is gone from berthd; the container runs on.
      expect((await tasks.Get({ containerId: id })).process!.status).toBe('RUNNING');
    } finally {
      await remove(id);
    }
  });

  it('berth attach: a tty container: typing reaches its shell; ctrl-p ctrl-q detaches (exit 0, terminal restored), it runs on', async () => {
    const id = 'io-attach-tty';
    await container(id, ['sh'], { tty: true, stdinOpen: true });
    try {
      const s = await ptySession(['attach', id], [
        // The shell printed its prompt before we came: ask for a new one.
        ['until', '\n', PROMPT],
        ['termios', 'attached'],
        ['until', 'stty size\n', '\\n30 100\\r*\\n'],
        ['send', 'echo hello-$((6*7))\n'],
        ['expect', 'hello-42'],
        ['send', '\x10\x11'],
      ]);
      expect({ failedStep: s.failedStep, eof: s.eof, out: s.out }).toMatchObject({ failedStep: null, eof: true });
      expect(s.raw.attached).toBe(true);
      expect(s.code).toBe(0);
      expect((await tasks.Get({ containerId: id })).process!.status).toBe('RUNNING');
      // Attach again: the same shell, and its exit is berth's exit.
      const again = await ptySession(['attach', id], [
        ['until', '\n', PROMPT],
        ['send', 'exit 9\n'],
      ]);
      expect({ failedStep: again.failedStep, eof: again.eof }).toEqual({ failedStep: null, eof: true });
      expect(again.code).toBe(9);
      expect(await exitOf(id)).toBe(9);
      const stopped = await berth(['attach', id]);
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toBe('berth: You cannot attach to a stopped container, start it first\n');
    } finally {
      await remove(id);
    }
  });

  it('berth attach without a tty: --detach-keys; --sig-proxy sends ctrl-c\'s SIGINT to the process', async () => {
    const id = 'io-attach-sig';
    await container(id, ['sh', '-c', 'trap "echo got-INT; exit 3" INT; while true; do echo tick; sleep 0.2; done'], { stdinOpen: true });
    try {
      // Not a tty container: berth's terminal stays cooked, so the key goes with a newline.
      const detach = await ptySession(['attach', '--detach-keys', 'ctrl-x', id], [
        ['expect', 'tick'],
        ['termios', 'attached'],
        ['send', '\x18\n'],
      ]);
      expect({ failedStep: detach.failedStep, eof: detach.eof }).toEqual({ failedStep: null, eof: true });
      expect(detach.raw.attached).toBe(false);
      expect(detach.code).toBe(0);
      expect((await tasks.Get({ containerId: id })).process!.status).toBe('RUNNING');
      // The pty turns ctrl-c into SIGINT for berth, which sends it on to the process.
      const s = await ptySession(['attach', id], [
        ['expect', 'tick'],
        ['send', '\x03'],
        ['expect', 'got-INT'],
      ]);
      expect({ failedStep: s.failedStep, eof: s.eof }).toEqual({ failedStep: null, eof: true });
      expect(s.code).toBe(3);
    } finally {
      await remove(id);
    }
  });
});
