// Tasks: the running state of containers (containerd's task service semantics), over the
// runtime library in-process and one berth-shim per container. No Node process per container:
// the shim starts berth-init, berthd runs the handshake over the shim's sync socket.
//
// On disk, under berthd --state (/run/berth):
//   runtime/<ns>/<id>/         the runtime library's state (state.json, exec.fifo): so
//                              `berth-runtime --root /run/berth/runtime/<ns> list` shows them
//   tasks/<ns>/<id>/           the bundle: config.json, rootfs/ (mounted), task.json (ours)
//   shims/<ns>/<id>/           the shim's DIR (shim.pid, control.sock, exit files); s/<hash of
//                              ns/id> when that path would make socket names too long (a
//                              terminal exec's console-<64-char id>.sock must fit in 107 bytes)
//
// Events (optional publish): /tasks/create → /tasks/start → /tasks/exit → /tasks/delete, and
// exec-added, exec-started, paused, resumed, oom (oom.ts). An exit is never published before the
// start of the same process: a process that exits before start's reply has its exit queued; nor
// before the /tasks/oom of the kill that ended it.

import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import { dirname, join } from 'path';
import { runtimeContext, type RuntimeContext } from '@berth/runtime/dist/lib/context';
import { createContainerWith, type Launch } from '@berth/runtime/dist/lib/create';
import { execContainerWith } from '@berth/runtime/dist/lib/exec';
import { deleteContainer } from '@berth/runtime/dist/lib/delete';
import { loadContainer } from '@berth/runtime/dist/lib/load';
import { pauseContainer, resumeContainer } from '@berth/runtime/dist/lib/pause';
import { updateContainer } from '@berth/runtime/dist/lib/update';
import { readContainerStats } from '@berth/runtime/dist/cgroups';
import { warmMigration } from '@berth/runtime/dist/cgroups/prime';
import type { ContainerStats } from '@berth/runtime/dist/cgroups/stats-types';
import { pidStartTime, toOciState } from '@berth/runtime/dist/state/state';
import { runHooks } from '@berth/runtime/dist/hooks/run';
import { realHost } from '@berth/runtime/dist/host/real-host';
import type { LinuxResources, Spec } from '@berth/runtime/dist/spec/types';
import { BerthError } from '@berth/runtime/dist/util/errors';
import { ShimClient, SyncListener, consoleSocketPath, startShim, type ShimExit } from '../../shim';
import { mountAll, unmount } from '../snapshots/mount';
import type { Mount } from '../snapshots/types';
import { ManagerError, alreadyExists, failedPrecondition, invalidArgument, notFound } from '../errors';
import { connectAttach, type AttachOptions, type AttachedStreams } from './attach';
import { openExecFifo } from './fifo';
import { OomWatch } from './oom';
import { checkFifos, parseStdio, prepareLogFile } from './stdio';

export type TaskStatus = 'CREATED' | 'RUNNING' | 'STOPPED' | 'PAUSED';

export interface Stdio {
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
}

export interface ProcessInfo extends Required<Stdio> {
  containerId: string;
  /** '' for the init process, else the exec id. */
  id: string;
  pid: number;
  status: TaskStatus;
  exitStatus: number;
  exitedAt?: Date;
}

export interface ExitInfo {
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

/** An event for the exchange: containerd's topic and message type (containerd.events.*). */
export type TaskPublish = (namespace: string, topic: string, type: string, event: object) => void;

export interface TaskManagerOptions {
  /** berthd --state (/run/berth). */
  state: string;
  shimBinary: string;
  initBinary: string;
  /** The container's OCI spec (parsed config.json) from its metadata record. */
  spec(namespace: string, id: string): Promise<unknown> | unknown;
  publish?: TaskPublish;
  warn?: (msg: string) => void;
  /** The container log the shim writes (CRI format); none when absent. A file:// stdout
   *  (stdio.ts) takes its place: that log is raw. */
  logPath?(namespace: string, id: string): string | undefined;
  /**
   * For a task created with empty stdin, stdout and stderr: what the container's own record
   * asks for instead (berth containers: the CRI log, and stdin kept open for attach clients).
   * Its logPath overrides logPath above; none: as without this option.
   */
  defaultIo?(namespace: string, id: string): DefaultIo | undefined | Promise<DefaultIo | undefined>;
  /** Bytes before the shim rotates a CRI log (berth-shim --log-max-size); none: never. */
  logMaxSize?: number;
}

export interface DefaultIo {
  logPath?: string;
  openStdin?: boolean;
}

export interface CreateTaskOptions {
  /** Mounted, in order, at the bundle's rootfs; none: the spec's root.path is used as it is. */
  rootfs?: Mount[];
  stdio?: Stdio;
}

/** What task.json in the bundle keeps, so a restarted berthd finds the task again. */
interface TaskRecord {
  id: string;
  namespace: string;
  shimDir: string;
  pid: number;
  stdio: Required<Stdio>;
  rootfsMounted: boolean;
  execs: Record<string, { pid: number; stdio: Required<Stdio> }>;
}

interface Proc {
  id: string;
  pid: number;
  stdio: Required<Stdio>;
  /** The exec's process spec until it is started. */
  spec?: unknown;
  started: 'no' | 'starting' | 'yes';
  startDone?: Promise<void>;
  exit?: ExitInfo;
  /** Resolves once the exit is known and published. */
  exited: Promise<ExitInfo>;
  setExited(e: ExitInfo): void;
  /** An exec's attach clients waiting for its start: connected before its plan is sent. */
  pendingAttach?: PendingAttach[];
}

interface PendingAttach {
  opts: AttachOptions;
  resolve(s: AttachedStreams): void;
  reject(err: Error): void;
}

/** An attach in progress: `connected` once the shim connections exist (an exec's: at its start). */
export interface Attachment {
  /** Whether the process has a terminal (its output is all one stream). */
  terminal: boolean;
  connected: Promise<AttachedStreams>;
  /** Gives up a pending attach (the client went away before the exec started). */
  cancel(): void;
}

interface Task {
  record: TaskRecord;
  bundle: string;
  client: ShimClient;
  init: Proc;
  execs: Map<string, Proc>;
  /** Connections blocked in `wait`, closed by close(). */
  waiters: Set<ShimClient>;
  deleting?: boolean;
  syncCount: number;
  /** Publishes /tasks/oom from the shim's count; absent when the shim could not watch. */
  oom?: OomWatch;
}

const PROC_SPEC_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
export { PROC_SPEC_URL };

const SOCKET_MAX = 107;
/** The longest name the shim puts in its DIR: console-<64-char exec id>.sock. */
const LONGEST_SOCKET_NAME = 'console-'.length + 64 + '.sock'.length;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exists = (p: string) => fs.access(p).then(() => true, () => false);

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function newProc(id: string, pid: number, stdio: Required<Stdio>): Proc {
  const d = deferred<ExitInfo>();
  return { id, pid, stdio, started: 'no', exited: d.promise, setExited: d.resolve };
}

function fullStdio(s: Stdio = {}): Required<Stdio> {
  return { stdin: s.stdin ?? '', stdout: s.stdout ?? '', stderr: s.stderr ?? '', terminal: !!s.terminal };
}

/** Runtime library errors (BerthError codes) as the manager's containerd-style errors. */
function translate(err: unknown): unknown {
  if (!(err instanceof BerthError)) return err;
  const kind = ({
    ERR_NOT_FOUND: 'NotFound',
    ERR_ALREADY_EXISTS: 'AlreadyExists',
    ERR_INVALID_ARGUMENT: 'InvalidArgument',
    ERR_INVALID_CONFIG: 'InvalidArgument',
    ERR_FAILED_PRECONDITION: 'FailedPrecondition',
  } as Record<string, ManagerError['kind']>)[err.code] ?? 'Internal';
  return new ManagerError(kind, err.message);
}

async function guard<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw translate(err);
  }
}

/** The tasks of one namespace. */
export class TaskManager {
  private readonly tasks = new Map<string, Task>();
  private readonly creating = new Set<string>();
  readonly ctx: RuntimeContext;
  readonly runtimeRoot: string;

  constructor(
    private readonly opts: TaskManagerOptions,
    readonly namespace: string,
  ) {
    this.runtimeRoot = join(opts.state, 'runtime', namespace);
    this.ctx = runtimeContext(this.runtimeRoot, (m) => opts.warn?.(m));
  }

  bundleDir(id: string): string {
    return join(this.opts.state, 'tasks', this.namespace, id);
  }

  /** DIR of the shim: shims/<ns>/<id>, or s/<hash> when socket paths in it would be too long. */
  shimDir(id: string): string {
    const plain = join(this.opts.state, 'shims', this.namespace, id);
    if (plain.length + 1 + LONGEST_SOCKET_NAME <= SOCKET_MAX) return plain;
    return join(this.opts.state, 's', createHash('sha256').update(`${this.namespace}/${id}`).digest('hex').slice(0, 12));
  }

  private publish(topic: string, type: string, event: object): void {
    try {
      this.opts.publish?.(this.namespace, topic, type, event);
    } catch (err) {
      this.opts.warn?.(`publishing ${topic}: ${(err as Error).message}`);
    }
  }

  private task(id: string): Task {
    const t = this.tasks.get(id);
    if (!t || t.deleting) throw notFound(`task ${id} not found`);
    return t;
  }

  private proc(t: Task, execId?: string): Proc {
    if (!execId) return t.init;
    const p = t.execs.get(execId);
    if (!p) throw notFound(`process ${execId} of task ${t.record.id} not found`);
    return p;
  }

  // ---- create ----

  async create(id: string, opts: CreateTaskOptions = {}): Promise<{ pid: number }> {
    if (this.tasks.has(id) || this.creating.has(id)) throw alreadyExists(`task ${id} already exists`);
    this.creating.add(id);
    try {
      return await this.doCreate(id, opts);
    } finally {
      this.creating.delete(id);
    }
  }

  private async doCreate(id: string, opts: CreateTaskOptions): Promise<{ pid: number }> {
    // Pays the kernel's RCU wait for cgroup migrations now, while the bundle is made, rather
    // than when the process joins its cgroup (runtime cgroups/prime.ts).
    const releaseWarm = warmMigration(this.ctx.host);
    try {
      return await this.createTask(id, opts);
    } finally {
      releaseWarm();
    }
  }

  private async createTask(id: string, opts: CreateTaskOptions): Promise<{ pid: number }> {
    const spec = structuredClone(await this.opts.spec(this.namespace, id)) as Spec;
    if (!spec || typeof spec !== 'object') throw invalidArgument(`container ${id} has no spec`);
    const stdio = fullStdio(opts.stdio);
    // Before anything exists: a bad stdio field (stdio.ts) costs nothing to refuse.
    const io = parseStdio(stdio, { logFile: true });
    await checkFifos(io);
    await prepareLogFile(io);
    const plain = !stdio.stdin && !stdio.stdout && !stdio.stderr;
    const defaults = plain ? await this.opts.defaultIo?.(this.namespace, id) : undefined;
    // The shim opens (creates) the log; its directory is ours to make.
    if (defaults?.logPath) await fs.mkdir(dirname(defaults.logPath), { recursive: true, mode: 0o755 });
    const bundle = this.bundleDir(id);
    const shimDir = this.shimDir(id);
    await fs.mkdir(join(bundle, '..'), { recursive: true, mode: 0o711 });
    try {
      await fs.mkdir(bundle, { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`task ${id} already exists (${bundle})`);
      throw err;
    }
    const rootfs = join(bundle, 'rootfs');
    let mounted = false;
    // The rootfs mount (a fork of mount(8)) runs while the bundle is written and the shim
    // starts: berth-init needs it only after "go", and the launch below waits for it first.
    let mounting: Promise<void> | undefined;
    let shimPid = 0;
    let client: ShimClient | undefined;
    let listener: SyncListener | undefined;
    let created = false;
    try {
      if (opts.rootfs?.length) {
        const layers = opts.rootfs;
        await fs.mkdir(rootfs, { mode: 0o755 });
        mounting = mountAll(layers, rootfs).then(() => void (mounted = true));
        mounting.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        spec.root = { ...(spec.root ?? {}), path: 'rootfs' } as Spec['root'];
      }
      if (spec.process) spec.process.terminal = stdio.terminal;
      await fs.writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      await fs.rm(shimDir, { recursive: true, force: true });
      await fs.mkdir(shimDir, { recursive: true, mode: 0o700 });
      const record: TaskRecord = { id, namespace: this.namespace, shimDir, pid: 0, stdio, rootfsMounted: mounting !== undefined, execs: {} };
      await this.writeRecord(bundle, record);

      const launch: Launch = async (planText) => {
        listener = await SyncListener.listen(join(shimDir, 'sync.sock'));
        const shim = await startShim({
          binary: this.opts.shimBinary,
          id,
          namespace: this.namespace,
          stateDir: shimDir,
          init: this.opts.initBinary,
          syncSocket: listener.path,
          // A file:// stdio URI is the client's log, raw like containerd's; else the
          // configured CRI log, if any.
          ...(io.logFile ? { logPath: io.logFile, logFormat: 'raw' as const } : { logPath: defaults?.logPath ?? this.opts.logPath?.(this.namespace, id) }),
          ...(this.opts.logMaxSize ? { logMaxSize: this.opts.logMaxSize } : {}),
          openStdin: !!defaults?.openStdin,
          stdin: io.stdin,
          stdout: io.stdout,
          stderr: io.stderr,
          terminal: io.terminal,
        });
        shimPid = shim.pid;
        client = await ShimClient.connect(shimDir);
        const channel = await listener.accept();
        channel.write(planText);
        await mounting;
        return { channel };
      };
      const { state } = await guard(() =>
        createContainerWith(this.ctx, { id, bundle, consoleSocket: stdio.terminal ? consoleSocketPath(shimDir) : undefined }, launch),
      );
      created = true;
      record.pid = state.pid;
      await this.writeRecord(bundle, record);
      const task: Task = { record, bundle, client: client!, init: newProc('', state.pid, stdio), execs: new Map(), waiters: new Set(), syncCount: 0 };
      task.oom = await this.watchOom(task, state.cgroupVersion, state.cgroupPaths);
      this.tasks.set(id, task);
      this.watch(task, task.init);
      this.publish('/tasks/create', 'containerd.events.TaskCreate', {
        containerId: id,
        bundle,
        rootfs: opts.rootfs ?? [],
        io: stdio,
        pid: state.pid,
      });
      return { pid: state.pid };
    } catch (err) {
      // Undo: the shim (it has recorded the child's exit by now), the runtime state, the
      // rootfs and the dirs.
      if (client) {
        await client.signal('KILL').catch(() => undefined);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([client.wait().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 2000)))]);
        clearTimeout(timer);
        await this.shutdownShim(client, shimPid);
      } else if (shimPid) process.kill(shimPid, 'SIGKILL');
      await mounting?.catch(() => undefined);
      if (created) await deleteContainer(this.ctx, id, true).catch(() => undefined);
      if (mounted) await unmount(rootfs, { recursive: true }).catch((e: Error) => this.opts.warn?.(`cleanup: ${e.message}`));
      await fs.rm(bundle, { recursive: true, force: true });
      await fs.rm(shimDir, { recursive: true, force: true });
      throw err;
    } finally {
      await listener?.close().catch(() => undefined);
    }
  }

  private async writeRecord(bundle: string, record: TaskRecord): Promise<void> {
    const tmp = join(bundle, `.task.json.${process.pid}`);
    await fs.writeFile(tmp, JSON.stringify(record));
    await fs.rename(tmp, join(bundle, 'task.json'));
  }

  /** Waits on the shim for the process's exit; publishes it once its start (if any) is out. */
  private watch(t: Task, p: Proc): void {
    void (async () => {
      let exit: ShimExit | undefined;
      let waiter: ShimClient | undefined;
      try {
        waiter = await ShimClient.connect(t.record.shimDir);
        t.waiters.add(waiter);
        const [status, exitedAt] = await waiter.request(p.id ? ['wait-exec', p.id] : ['wait']);
        exit = { status: Number(status), exitedAt: exitedAt! };
      } catch {
        // Closed by close() (berthd going away), or the shim died: read what it left.
        if (!waiter || t.waiters.has(waiter)) exit = await this.exitFile(t.record.shimDir, p.id);
        else return;
      } finally {
        if (waiter) {
          t.waiters.delete(waiter);
          waiter.close();
        }
      }
      if (!exit) return;
      const info: ExitInfo = { pid: p.pid, exitStatus: exit.status, exitedAt: parseTime(exit.exitedAt) };
      if (p.started === 'starting') await p.startDone;
      // The OOM kill that ended it, if one did, is published first (oom.ts).
      await t.oom?.flush(t.client).catch(() => undefined);
      p.exit = info;
      this.publish('/tasks/exit', 'containerd.events.TaskExit', {
        containerId: t.record.id,
        id: p.id || t.record.id,
        pid: p.pid,
        exitStatus: info.exitStatus,
        exitedAt: info.exitedAt,
      });
      p.setExited(info);
    })();
  }

  /** OOM events of a task from its shim's count; none (with a warning) if the shim cannot watch. */
  private async watchOom(t: Task, version: 1 | 2, paths: Record<string, string>): Promise<OomWatch | undefined> {
    const dir = version === 2 ? paths[''] : paths['memory'];
    if (!dir) return undefined;
    const id = t.record.id;
    const publish = () => this.publish('/tasks/oom', 'containerd.events.TaskOOM', { containerId: id });
    return OomWatch.start(t.client, t.record.shimDir, dir, publish).catch((e: Error) => {
      this.opts.warn?.(`task ${id}: no OOM events: ${e.message}`);
      return undefined;
    });
  }

  /** The exit the shim recorded in DIR (exit, exec-<id>.exit); 255 when there is none. */
  private async exitFile(shimDir: string, execId: string): Promise<ShimExit> {
    const text = await fs.readFile(join(shimDir, execId ? `exec-${execId}.exit` : 'exit'), 'utf8').catch(() => '');
    const [status, at] = text.trim().split(' ');
    if (status === undefined || status === '' || !at) return { status: 255, exitedAt: new Date().toISOString() };
    return { status: Number(status), exitedAt: at };
  }

  // ---- start ----

  async start(id: string, execId?: string): Promise<{ pid: number }> {
    const t = this.task(id);
    const p = this.proc(t, execId);
    if (p.started !== 'no') throw failedPrecondition(`${execId ? `process ${execId}` : `task ${id}`} is already started`);
    p.started = 'starting';
    const done = deferred<void>();
    p.startDone = done.promise;
    try {
      if (execId) await this.startExec(t, p);
      else await this.startInit(t, p);
      p.started = 'yes';
      if (execId) this.publish('/tasks/exec-started', 'containerd.events.TaskExecStarted', { containerId: id, execId, pid: p.pid });
      else this.publish('/tasks/start', 'containerd.events.TaskStart', { containerId: id, pid: p.pid });
      return { pid: p.pid };
    } catch (err) {
      p.started = execId ? 'no' : 'yes';
      throw translate(err);
    } finally {
      done.resolve();
    }
  }

  private async startInit(t: Task, _p: Proc): Promise<void> {
    const c = await loadContainer(this.ctx, t.record.id);
    if (c.status !== 'created') throw failedPrecondition(`cannot start task ${t.record.id}: it is ${c.status}`);
    const alive = async () => (await pidStartTime(c.state.pid)) === c.state.pidStartTime;
    await openExecFifo(this.ctx.store.execFifo(t.record.id), alive, `task ${t.record.id}`);
    // poststart failures are logged, not fatal (spec): the process runs.
    await runHooks('poststart', c.state.hooks?.poststart, JSON.stringify(toOciState(c.state, 'running'))).catch((e: Error) => this.opts.warn?.(e.message));
  }

  private async startExec(t: Task, p: Proc): Promise<void> {
    const listener = await SyncListener.listen(join(t.record.shimDir, `x${t.syncCount++}.sock`));
    try {
      const consoleSocket = p.stdio.terminal ? consoleSocketPath(t.record.shimDir, p.id) : undefined;
      if (consoleSocket && consoleSocket.length > SOCKET_MAX) throw invalidArgument(`exec id ${p.id} is too long for a terminal exec's socket path`);
      const pending = p.pendingAttach ?? [];
      p.pendingAttach = undefined;
      const launch: Launch = async (planText) => {
        await t.client.exec(p.id, listener.path, {
          terminal: p.stdio.terminal,
          stdin: p.stdio.stdin || undefined,
          openStdin: !p.stdio.stdin && pending.some((a) => a.opts.stdin),
          stdout: p.stdio.stdout || undefined,
          stderr: p.stdio.stderr || undefined,
          attachable: pending.length > 0,
        });
        // berth-init waits for the plan: attached now, the clients miss no output.
        for (const a of pending) {
          await connectAttach(t.client, p.stdio.terminal, a.opts, p.id).then(a.resolve, a.reject);
        }
        const channel = await listener.accept();
        channel.write(planText);
        return { channel };
      };
      const proc = { ...(p.spec as object), terminal: p.stdio.terminal };
      let pid: number;
      try {
        ({ pid } = await execContainerWith(this.ctx, { id: t.record.id, process: { file: proc }, consoleSocket }, launch));
      } catch (err) {
        for (const a of pending) a.reject(translate(err) as Error);
        // The shim may have recorded a failed exec: it has an exit; forget it so the id can be reused.
        await t.client.deleteExec(p.id).catch(() => undefined);
        throw err;
      }
      p.pid = pid;
      t.record.execs[p.id] = { pid, stdio: p.stdio };
      await this.writeRecord(t.bundle, t.record);
      this.watch(t, p);
    } finally {
      await listener.close().catch(() => undefined);
    }
  }

  // ---- exec ----

  /** Registers a process to run in the task (Start with its exec id runs it). */
  async exec(id: string, execId: string, processSpec: unknown, stdio: Stdio = {}): Promise<void> {
    // First, so that every check after it and the registration run without a pause between.
    await checkFifos(parseStdio(stdio, { logFile: false }));
    const t = this.task(id);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(execId)) throw invalidArgument(`exec id ${JSON.stringify(execId)}: 1-64 of [A-Za-z0-9_.-]`);
    if (t.execs.has(execId)) throw alreadyExists(`process ${execId} already exists in task ${id}`);
    if (t.init.exit) throw failedPrecondition(`task ${id} has exited`);
    if (!processSpec || typeof processSpec !== 'object') throw invalidArgument('exec: a process spec is required');
    const p = newProc(execId, 0, fullStdio(stdio));
    p.spec = processSpec;
    t.execs.set(execId, p);
    this.publish('/tasks/exec-added', 'containerd.events.TaskExecAdded', { containerId: id, execId });
  }

  // ---- signals, io ----

  async kill(id: string, signal: number, opts: { execId?: string; all?: boolean } = {}): Promise<void> {
    const t = this.task(id);
    const p = this.proc(t, opts.execId);
    if (p.exit) throw notFound(`process ${p.id || id} has already exited`);
    if (opts.execId) {
      if (p.started !== 'yes') throw failedPrecondition(`process ${opts.execId} is not started`);
      await t.client.signalExec(opts.execId, signal).catch(shimGone(p.id));
      return;
    }
    if (opts.all) {
      const c = await guard(() => loadContainer(this.ctx, id));
      // A frozen task would not act on the signal until thawed; containerd leaves that to the caller.
      for (const pid of await c.cgroup.pids().catch(() => [] as number[])) {
        try {
          process.kill(pid, signal);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      }
      return;
    }
    await t.client.signal(signal).catch(shimGone(id));
  }

  async resizePty(id: string, width: number, height: number, execId?: string): Promise<void> {
    const t = this.task(id);
    this.proc(t, execId);
    if (execId) await t.client.resizeExec(execId, height, width).catch(asPrecondition);
    else await t.client.resize(height, width).catch(asPrecondition);
  }

  /**
   * Connects to a process's output and input in its shim (attach.ts). The task's own process:
   * at once, in any state (an exited one's connections just end). An exec: only before its
   * start, which connects it before the process can write anything.
   */
  attach(id: string, opts: AttachOptions & { execId?: string }): Attachment {
    const t = this.task(id);
    const p = this.proc(t, opts.execId);
    const terminal = p.stdio.terminal;
    if (!opts.execId) return { terminal, connected: connectAttach(t.client, terminal, opts), cancel: () => undefined };
    if (p.started !== 'no') throw failedPrecondition(`process ${opts.execId} is already started: an exec is attached before its start`);
    let entry!: PendingAttach;
    const connected = new Promise<AttachedStreams>((resolve, reject) => (entry = { opts, resolve, reject }));
    (p.pendingAttach ??= []).push(entry);
    const cancel = () => {
      const list = p.pendingAttach;
      if (list?.includes(entry)) list.splice(list.indexOf(entry), 1);
      entry.reject(failedPrecondition('attach cancelled'));
    };
    connected.catch(() => undefined); // the caller may have gone; not an unhandled rejection
    return { terminal, connected, cancel };
  }

  async closeIO(id: string, opts: { execId?: string; stdin?: boolean } = {}): Promise<void> {
    const t = this.task(id);
    this.proc(t, opts.execId);
    if (!opts.stdin) return;
    if (opts.execId) await t.client.closeStdinExec(opts.execId).catch(asPrecondition);
    else await t.client.closeStdin().catch(asPrecondition);
  }

  // ---- wait, delete ----

  async wait(id: string, execId?: string): Promise<ExitInfo> {
    const t = this.task(id);
    const p = this.proc(t, execId);
    // An exec created but not started is waited for, as containerd's shim does: ctr's
    // `task exec` sends its Wait from a goroutine that often beats its Start to berthd.
    return p.exited;
  }

  async delete(id: string): Promise<ExitInfo> {
    const t = this.task(id);
    const status = await this.status(t, t.init);
    if (status === 'RUNNING' || status === 'PAUSED') throw failedPrecondition(`task ${id} must be stopped before deletion: ${status.toLowerCase()}`);
    t.deleting = true;
    try {
      if (status === 'CREATED') await t.client.signal('KILL').catch(() => undefined);
      const exit = await t.init.exited;
      t.oom?.close();
      // Once the exit is known, the shim, the cgroup and the rootfs mount are independent:
      // undo them side by side (each waits on the kernel or a process, not on the others).
      await Promise.all([
        this.shimPid(t.record.shimDir).then((pid) => this.shutdownShim(t.client, pid)),
        // Kills what is left in the cgroup (a container without its own pid namespace),
        // removes the cgroup and the runtime state, runs poststop hooks.
        guard(() => deleteContainer(this.ctx, id, true)).catch((e: Error) => {
          if (!(e instanceof ManagerError && e.kind === 'NotFound')) throw e;
        }),
        t.record.rootfsMounted
          ? unmount(join(t.bundle, 'rootfs'), { recursive: true }).catch((e: Error) => this.opts.warn?.(`unmount: ${e.message}`))
          : undefined,
      ]);
      await fs.rm(t.bundle, { recursive: true, force: true });
      await fs.rm(t.record.shimDir, { recursive: true, force: true });
      this.tasks.delete(id);
      this.publish('/tasks/delete', 'containerd.events.TaskDelete', {
        containerId: id,
        pid: exit.pid,
        exitStatus: exit.exitStatus,
        exitedAt: exit.exitedAt,
        id,
      });
      return exit;
    } catch (err) {
      t.deleting = false;
      throw err;
    }
  }

  async deleteProcess(id: string, execId: string): Promise<ExitInfo> {
    const t = this.task(id);
    const p = this.proc(t, execId);
    let exit = p.exit;
    if (!exit) {
      if (p.started === 'yes') throw failedPrecondition(`process ${execId} must be stopped before deletion`);
      exit = { pid: 0, exitStatus: 0, exitedAt: new Date(0) };
      p.setExited(exit); // a Wait that came before a Start that never happened ends here
    } else {
      await t.client.deleteExec(execId).catch(() => undefined);
    }
    for (const a of p.pendingAttach?.splice(0) ?? []) a.reject(notFound(`process ${execId} was deleted`));
    t.execs.delete(execId);
    if (t.record.execs[execId]) {
      delete t.record.execs[execId];
      await this.writeRecord(t.bundle, t.record);
    }
    this.publish('/tasks/delete', 'containerd.events.TaskDelete', { containerId: id, pid: exit.pid, exitStatus: exit.exitStatus, exitedAt: exit.exitedAt, id: execId });
    return exit;
  }

  private async shimPid(shimDir: string): Promise<number> {
    return Number((await fs.readFile(join(shimDir, 'shim.pid'), 'utf8').catch(() => '0')).trim()) || 0;
  }

  /** `shutdown`, then waits until the shim process is gone (SIGKILL after 2 s). */
  private async shutdownShim(client: ShimClient, pid: number): Promise<void> {
    const started = pid ? await pidStartTime(pid) : undefined;
    await client.shutdown().catch(() => undefined);
    client.close();
    if (!started) return;
    for (let i = 0; i < 400; i++) {
      if ((await pidStartTime(pid)) !== started) return;
      if (i === 200) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await sleep(10);
    }
  }

  // ---- state ----

  private async status(t: Task, p: Proc): Promise<TaskStatus> {
    if (p.exit) return 'STOPPED';
    if (p.id) {
      if (p.started !== 'yes') return 'CREATED';
      const s = await t.client.stateExec(p.id).catch(() => undefined);
      return s?.status === 'running' ? 'RUNNING' : s?.status === 'created' ? 'CREATED' : 'STOPPED';
    }
    const c = await loadContainer(this.ctx, t.record.id).catch(() => undefined);
    switch (c?.status) {
      case 'created':
      case 'creating':
        return 'CREATED';
      case 'running':
        return 'RUNNING';
      case 'paused':
        return 'PAUSED';
      default:
        return 'STOPPED';
    }
  }

  private async info(t: Task, p: Proc): Promise<ProcessInfo> {
    const status = await this.status(t, p);
    let exit = p.exit;
    // Exited, but the watcher has not been told yet: the shim knows.
    if (status === 'STOPPED' && !exit) {
      const s = await (p.id ? t.client.stateExec(p.id) : t.client.state()).catch(() => undefined);
      if (s?.status === 'exited') exit = { pid: p.pid, exitStatus: s.exitStatus, exitedAt: parseTime(s.exitedAt) };
    }
    return {
      containerId: t.record.id,
      // containerd names the init process after its container (ctr task ls prints this).
      id: p.id || t.record.id,
      pid: p.pid,
      status,
      ...p.stdio,
      exitStatus: exit?.exitStatus ?? 0,
      ...(exit ? { exitedAt: exit.exitedAt } : {}),
    };
  }

  async get(id: string, execId?: string): Promise<ProcessInfo> {
    const t = this.task(id);
    return this.info(t, this.proc(t, execId));
  }

  async list(): Promise<ProcessInfo[]> {
    // Side by side: each status is a few file reads, and `berth ps` lists every task.
    const out = await Promise.all([...this.tasks.values()].filter((t) => !t.deleting).map((t) => this.info(t, t.init)));
    return out.sort((a, b) => (a.containerId < b.containerId ? -1 : 1));
  }

  ids(): string[] {
    return [...this.tasks.keys()];
  }

  /** The exec ids a task holds (running, exited or not yet started). */
  execIds(id: string): string[] {
    return [...this.task(id).execs.keys()];
  }

  // ---- cgroup operations ----

  async pause(id: string): Promise<void> {
    this.task(id);
    await guard(() => pauseContainer(this.ctx, id));
    this.publish('/tasks/paused', 'containerd.events.TaskPaused', { containerId: id });
  }

  async resume(id: string): Promise<void> {
    this.task(id);
    await guard(() => resumeContainer(this.ctx, id));
    this.publish('/tasks/resumed', 'containerd.events.TaskResumed', { containerId: id });
  }

  /** Every pid in the task's cgroup, with the exec id of those that are exec processes. */
  async pids(id: string): Promise<{ pid: number; execId?: string }[]> {
    const t = this.task(id);
    const c = await guard(() => loadContainer(this.ctx, id));
    const byPid = new Map([...t.execs.values()].filter((p) => p.pid && !p.exit).map((p) => [p.pid, p.id]));
    return (await c.cgroup.pids()).sort((a, b) => a - b).map((pid) => (byPid.has(pid) ? { pid, execId: byPid.get(pid)! } : { pid }));
  }

  async update(id: string, resources: LinuxResources): Promise<LinuxResources> {
    this.task(id);
    return guard(() => updateContainer(this.ctx, id, resources));
  }

  /** The cgroup version and paths the task's runtime state recorded (Tasks.Metrics reads them). */
  async cgroup(id: string): Promise<{ version: 1 | 2; paths: Record<string, string> }> {
    this.task(id);
    const c = await guard(() => loadContainer(this.ctx, id));
    return { version: c.state.cgroupVersion, paths: c.state.cgroupPaths };
  }

  /** The cgroup statistics `runc events --stats` reports (64-bit counters as bigint). */
  async metrics(id: string): Promise<ContainerStats> {
    this.task(id);
    const c = await guard(() => loadContainer(this.ctx, id));
    return readContainerStats(realHost, c.state.cgroupVersion, c.state.cgroupPaths);
  }

  // ---- restart ----

  /**
   * Rebuilds the task table from tasks/<ns>/*\/task.json after a berthd restart: a live shim
   * (its control socket answers) is reconnected and watched; a dead one's exit file gives the
   * exit status. Returns the ids found.
   */
  async recover(): Promise<string[]> {
    const dir = join(this.opts.state, 'tasks', this.namespace);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    const found: string[] = [];
    for (const id of names.sort()) {
      if (this.tasks.has(id)) continue;
      const bundle = join(dir, id);
      let record: TaskRecord;
      try {
        record = JSON.parse(await fs.readFile(join(bundle, 'task.json'), 'utf8')) as TaskRecord;
      } catch {
        continue;
      }
      if (!record.pid) continue; // a create that never finished
      const client = await ShimClient.connect(record.shimDir).catch(() => undefined);
      const t: Task = {
        record,
        bundle,
        client: client ?? deadClient(record.shimDir),
        init: newProc('', record.pid, record.stdio),
        execs: new Map(),
        waiters: new Set(),
        syncCount: 0,
      };
      const fifo = await exists(this.ctx.store.execFifo(id));
      t.init.started = fifo ? 'no' : 'yes';
      for (const [execId, e] of Object.entries(record.execs ?? {})) {
        const p = newProc(execId, e.pid, e.stdio);
        p.started = 'yes';
        t.execs.set(execId, p);
      }
      this.tasks.set(id, t);
      found.push(id);
      if (client) {
        const c = await loadContainer(this.ctx, id).catch(() => undefined);
        if (c) t.oom = await this.watchOom(t, c.state.cgroupVersion, c.state.cgroupPaths);
        this.watch(t, t.init);
        for (const p of t.execs.values()) this.watch(t, p);
      } else {
        for (const p of [t.init, ...t.execs.values()]) {
          const e = await this.exitFile(record.shimDir, p.id);
          p.exit = { pid: p.pid, exitStatus: e.status, exitedAt: parseTime(e.exitedAt) };
          p.setExited(p.exit);
        }
      }
    }
    return found;
  }

  /** Forgets every task without touching them (their shims keep running): berthd going away. */
  close(): void {
    for (const t of this.tasks.values()) {
      const ws = [...t.waiters];
      t.waiters.clear();
      for (const w of ws) w.close();
      t.oom?.close();
      t.client.close();
    }
    this.tasks.clear();
  }
}

function parseTime(rfc3339: string): Date {
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? new Date() : d;
}

const shimGone = (id: string) => (err: Error) => {
  if (/exited|no exec|not started|closed/.test(err.message)) throw notFound(`process ${id} has already exited: ${err.message}`);
  throw err;
};

const asPrecondition = (err: Error) => {
  throw failedPrecondition(err.message);
};

/** A client for a shim that is gone: every request fails. */
function deadClient(shimDir: string): ShimClient {
  const fail = () => Promise.reject(failedPrecondition(`the shim of ${shimDir} is gone`));
  return new Proxy({} as ShimClient, {
    get: (_t, name) => (name === 'close' ? () => undefined : fail),
  });
}

/** The task managers of every namespace, made as they are first used. */
export class Tasks {
  private readonly managers = new Map<string, TaskManager>();

  constructor(readonly opts: TaskManagerOptions) {}

  namespace(ns: string): TaskManager {
    let m = this.managers.get(ns);
    if (!m) {
      m = new TaskManager(this.opts, ns);
      this.managers.set(ns, m);
    }
    return m;
  }

  /** recover() in every namespace that has tasks on disk. */
  async recover(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const ns of await fs.readdir(join(this.opts.state, 'tasks')).catch(() => [] as string[])) {
      out[ns] = await this.namespace(ns).recover();
    }
    return out;
  }

  close(): void {
    for (const m of this.managers.values()) m.close();
    this.managers.clear();
  }
}
