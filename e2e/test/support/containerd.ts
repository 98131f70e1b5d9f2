import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { RUNTIME, sleep, type Result } from './env';

// A PRIVATE containerd for the e2e tests, and what containerd.test.ts and podman.test.ts share:
// runtime wrappers that record their argv, a command runner with a time limit, a pty driver,
// and the leftover checks (mounts, processes, cgroups).
//
// Nothing here may look like berth to the other e2e files' leak snapshots, which match
// "berth" in mount points and cgroup paths while they run at the same time as us: temp dirs,
// the containerd namespace and container ids avoid the word.

export const RUNC = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => existsSync(p)) ?? '/usr/sbin/runc';

export interface RuntimeUnderTest {
  /** Short label used in container ids: never "berth" (see above). */
  tag: string;
  /** The real binary the wrapper execs. */
  binary: string;
}

export const RUNTIMES: RuntimeUnderTest[] = [
  { tag: 'runc', binary: RUNC },
  { tag: 'brt', binary: RUNTIME },
];

/** The argv log of a wrapper: one invocation per line, arguments separated by \x1f. */
export function readCalls(log: string): string[][] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\x1f').slice(0, -1));
}

/**
 * Writes `path`, a shell script that appends its argv to `log` and execs `binary` (with
 * `extra` arguments first). exec, so the caller sees the real runtime's pid, exit status and
 * signals, exactly as if it had run the binary itself.
 */
export function writeWrapper(path: string, binary: string, log: string, extra: string[] = []): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\037' "$@" >> ${q(log)}\nprintf '\\n' >> ${q(log)}\nexec ${[binary, ...extra].map(q).join(' ')} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/** The runtime verb of one recorded call: the first argument that is not a global flag or its value. */
export function verbOf(argv: string[]): string {
  const withValue = new Set(['--root', '--log', '--log-format', '--criu', '--rootless']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) return a;
    if (withValue.has(a)) i++;
  }
  return '';
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs a command to completion (killed after timeoutMs), with its output. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs ?? 30000} ms]`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30000);
    // Detached children (a shim, conmon) may keep our pipes open: stop waiting shortly after exit.
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolvePromise({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr });
    };
    child.on('close', finish);
    child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 200));
  });
}

// Runs argv with a pty as its stdin/stdout/stderr (40 rows x 120 columns). steps: when the
// output so far contains step[0], type step[1]. Prints {"out", "code"} as JSON.
const PTY_DRIVER = `
import os, pty, sys, select, time, json, fcntl, termios, struct, signal
argv = json.loads(sys.argv[1]); steps = json.loads(sys.argv[2]); timeout = float(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
out = b''; deadline = time.time() + timeout; i = 0; timed_out = True
while time.time() < deadline:
    if i < len(steps) and steps[i][0].encode() in out:
        os.write(fd, steps[i][1].encode()); i += 1
    r, _, _ = select.select([fd], [], [], 0.05)
    if fd in r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            timed_out = False
            break
        if not d:
            timed_out = False
            break
        out += d
if timed_out:
    os.kill(pid, signal.SIGKILL)
_, status = os.waitpid(pid, 0)
sys.stdout.write(json.dumps({'out': out.decode('utf8', 'replace'), 'code': os.waitstatus_to_exitcode(status), 'timedOut': timed_out}))
`;

export interface PtyResult {
  /** What the terminal showed, with \r removed. */
  out: string;
  code: number;
  timedOut: boolean;
}

export async function ptyRun(argv: string[], steps: [string, string][], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<PtyResult> {
  const timeout = opts.timeoutMs ?? 20000;
  const r = await run('python3', ['-c', PTY_DRIVER, JSON.stringify(argv), JSON.stringify(steps), String(timeout / 1000)], { env: opts.env, timeoutMs: timeout + 10000 });
  if (r.code !== 0) throw new Error(`pty driver failed (${r.code}): ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as PtyResult;
  return { ...parsed, out: parsed.out.replace(/\r/g, '') };
}

/** Fails with a clear message when a command the test drives is not installed. */
export function requireCommands(cmds: string[]): void {
  const missing = cmds.filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (missing.length) throw new Error(`not installed: ${missing.join(', ')} (run make deps)`);
}

export interface Leftovers {
  mounts: string[];
  processes: string[];
  cgroups: string[];
  /** Containers still in a runtime's state dir (its --root). */
  state: string[];
}

/** Entries of the state dirs (recursively one level for containerd's per-namespace dirs). */
export function stateEntries(dirs: string[]): string[] {
  const out: string[] = [];
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const e of readdirSync(d)) out.push(join(d, e));
  }
  return out;
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => l.split(' ')[4]!.replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything under dir; returns what was there. */
export function unmountAllUnder(dir: string): string[] {
  const found = mountsUnder(dir);
  for (const m of found) spawnSync('umount', ['-l', m]);
  return found;
}

/** Processes whose command line contains `needle`: "pid args". */
export function processesMatching(needle: string): string[] {
  const out: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue;
      if (args.join(' ').includes(needle)) out.push(`${p} ${args.join(' ')}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The v1 hierarchies (and the hybrid unified one) that hold a directory `name` at the top. */
export function cgroupDirs(name: string): string[] {
  const dirs: string[] = [];
  const walk = (d: string): void => {
    dirs.push(d);
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
  };
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const top = join('/sys/fs/cgroup', h, name);
    if (existsSync(top)) walk(top);
  }
  return dirs;
}

/**
 * Removes the cgroup tree `name` in every hierarchy (a parent the runtimes create and, like
 * runc, leave). Returns the directories below the top that still existed: containers'.
 */
export function removeCgroupTree(name: string): string[] {
  const dirs = cgroupDirs(name);
  const tops = new Set(readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, name)));
  const below = dirs.filter((d) => !tops.has(d) && !/\/conmon$/.test(d));
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(d);
    } catch {
      // processes still inside: reported through `below`
    }
  }
  return below;
}

/** pid of the process if it is alive (and not a zombie). */
export function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  for (let i = 0; i < ms / 20; i++) {
    if (!alive(pid)) return true;
    await sleep(20);
  }
  return !alive(pid);
}

/**
 * containerd 1.6 with everything in a temp dir: root, state, the grpc and ttrpc sockets, its
 * own config (CRI disabled, no debug or metrics listener). Containers run in namespace
 * NAMESPACE, the runtime under test is chosen per container with `ctr run --runc-binary`
 * (the runc v2 shim's BinaryName) and its state kept under our --runc-root; ctr's FIFOs go to
 * our --fifo-dir. The one thing 1.6 does not let us move: the shims' sockets, which it puts
 * in /run/containerd/s (removed by the shims when they exit; the directories by stop() if
 * they did not exist before).
 */
export class Containerd {
  static readonly NAMESPACE = 'ctr-e2e';
  readonly dir = mkdtempSync(join(tmpdir(), 'ctrd-e2e-'));
  readonly address = join(this.dir, 'containerd.sock');
  readonly runcRoot = join(this.dir, 'runc-root');
  readonly fifoDir = join(this.dir, 'fifo');
  readonly logFile = join(this.dir, 'containerd.log');
  private child?: ChildProcess;
  private readonly runDirExisted = {
    root: existsSync('/run/containerd'),
    s: existsSync('/run/containerd/s'),
    fifo: existsSync('/run/containerd/fifo'),
  };

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  static async start(): Promise<Containerd> {
    const d = new Containerd();
    try {
      await d.boot();
    } catch (err) {
      await d.stop();
      throw err;
    }
    return d;
  }

  private async boot(): Promise<void> {
    requireCommands(['containerd', 'ctr', 'containerd-shim-runc-v2', 'python3']);
    // mkdtemp's 0700 would stop a container's root in a user namespace on the way to its rootfs.
    chmodSync(this.dir, 0o711);
    for (const sub of ['root', 'state', 'wrap', 'fifo', 'runc-root']) mkdirSync(join(this.dir, sub), { recursive: true });
    const config = join(this.dir, 'config.toml');
    writeFileSync(config, privateContainerdConfig(this.dir, this.address));
    const log = openSync(this.logFile, 'a');
    this.child = spawn('containerd', ['--config', config], { stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    this.child.unref();
    for (let i = 0; i < 500; i++) {
      if (existsSync(this.address)) {
        const v = await this.ctr(['version'], { timeoutMs: 5000 });
        if (v.code === 0) return;
      }
      if (this.child.exitCode !== null) break;
      await sleep(20);
    }
    throw new Error(`containerd did not come up: ${readFileSync(this.logFile, 'utf8').slice(-2000)}`);
  }

  /** A wrapper around `binary` in our dir that logs its argv to callsLog(tag). */
  wrapper(rt: RuntimeUnderTest): string {
    return writeWrapper(join(this.dir, 'wrap', rt.tag), rt.binary, this.callsLog(rt));
  }

  callsLog(rt: RuntimeUnderTest): string {
    return join(this.dir, `calls-${rt.tag}.log`);
  }

  /** ctr --address ours -n NAMESPACE ARGS */
  ctr(args: string[], opts: RunOptions = {}): Promise<Result> {
    return run('ctr', ['--address', this.address, '-n', Containerd.NAMESPACE, ...args], opts);
  }

  ctrArgv(args: string[]): string[] {
    return ['ctr', '--address', this.address, '-n', Containerd.NAMESPACE, ...args];
  }

  /** Flags of `ctr run` that pick the runtime and keep its state and FIFOs in our dir. */
  runFlags(rt: RuntimeUnderTest): string[] {
    return ['--runc-binary', this.wrapper(rt), '--runc-root', this.runcRoot, '--fifo-dir', this.fifoDir];
  }

  /** Flags of `ctr task exec` that keep its FIFOs in our dir. */
  execFlags(): string[] {
    return ['--fifo-dir', this.fifoDir];
  }

  /** Kills and removes every task, container and image, then the namespace. */
  async removeAll(): Promise<void> {
    const tasks = await this.ctr(['task', 'ls', '-q']);
    for (const id of tasks.stdout.split('\n').filter(Boolean)) {
      await this.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      await this.ctr(['task', 'rm', '-f', id]);
    }
    const containers = await this.ctr(['containers', 'ls', '-q']);
    for (const id of containers.stdout.split('\n').filter(Boolean)) await this.ctr(['containers', 'rm', id]);
    const images = await this.ctr(['images', 'ls', '-q']);
    for (const ref of images.stdout.split('\n').filter(Boolean)) await this.ctr(['images', 'rm', '--sync', ref]);
    await this.ctr(['namespaces', 'rm', Containerd.NAMESPACE]);
  }

  /**
   * Stops containerd (by pid: SIGTERM, then SIGKILL), removes everything it had, and returns
   * what had been left behind: mounts under our dir, shims still serving our address,
   * container cgroups. Idempotent.
   */
  async stop(): Promise<Leftovers> {
    if (this.child?.pid && alive(this.child.pid)) {
      await this.removeAll().catch(() => undefined);
      process.kill(this.child.pid, 'SIGTERM');
      if (!(await waitGone(this.child.pid, 10000))) {
        process.kill(this.child.pid, 'SIGKILL');
        await waitGone(this.child.pid, 5000);
      }
    }
    // Shims outlive containerd by design; one still here serves a task we did not remove.
    const processes = processesMatching(this.address);
    for (const p of processes) {
      try {
        process.kill(Number(p.split(' ')[0]), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const mounts = unmountAllUnder(this.dir);
    const cgroups = removeCgroupTree(Containerd.NAMESPACE);
    // The shim's default runc root is used when a task's options lose our --runc-root (see
    // containerd.test.ts on --uidmap): anything there is ours and left behind.
    const defaultRoot = join('/run/containerd/runc', Containerd.NAMESPACE);
    const state = stateEntries([join(this.runcRoot, Containerd.NAMESPACE), defaultRoot]);
    rmSync(this.dir, { recursive: true, force: true });
    // The directories containerd 1.6 insists on: removed if we made them and they are empty.
    const dirs: [string, boolean][] = [
      [defaultRoot, false],
      ['/run/containerd/runc', this.runDirExisted.root],
      ['/run/containerd/s', this.runDirExisted.s],
      ['/run/containerd/fifo', this.runDirExisted.fifo],
      ['/run/containerd', this.runDirExisted.root],
    ];
    for (const [d, existed] of dirs) {
      if (!existed) {
        try {
          rmdirSync(d);
        } catch {
          // not empty: someone else's
        }
      }
    }
    return { mounts, processes, cgroups, state };
  }
}

/** The v1 cgroup directory of `pid` in one controller's hierarchy, from /proc/<pid>/cgroup. */
export function cgroupOf(pid: number, controller: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]!.split(',').includes(controller));
  if (!line) throw new Error(`no ${controller} line in /proc/${pid}/cgroup`);
  return join('/sys/fs/cgroup', controller, line.split(':')[2]!);
}

/** Runs the same scenario under runc, then berth-runtime. */
export async function both<T>(scenario: (rt: RuntimeUnderTest) => Promise<T>): Promise<[T, T]> {
  const [runc, berth] = RUNTIMES as [RuntimeUnderTest, RuntimeUnderTest];
  return [await scenario(runc), await scenario(berth)];
}

/**
 * A containerd config that touches nothing of the system's: root, state, sockets and the opt
 * plugin's dir under `dir`, CRI off, no debug or metrics listener.
 */
export function privateContainerdConfig(dir: string, address: string, level = 'info'): string {
  return [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${address}"`,
    '[ttrpc]',
    `  address = "${address}.ttrpc"`,
    '[debug]',
    '  address = ""',
    `  level = "${level}"`,
    '[metrics]',
    '  address = ""',
    // The opt plugin would make /opt/containerd/{bin,lib}.
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${join(dir, 'opt')}"`,
    '',
  ].join('\n');
}

