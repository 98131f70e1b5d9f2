import { promises as fs } from 'fs';
import type { ChildProcess } from 'child_process';
import type { RuntimeContext } from './context';
import { loadContainer } from './load';
import { InitProcess, type InitSpawnOptions } from './init-process';
import type { SyncChannel } from './sync-channel';
import { reap, type Launch, type Launched } from './create';
import { pidStartTime } from '../state/state';
import { loadBundle } from '../spec/load';
import { validateSpec } from '../spec/validate';
import type { NamespaceType, Process, Spec } from '../spec/types';
import { buildExecPlan, encodePlan } from '../plan/build';
import { readHostFacts } from '../plan/host-facts';
import { capabilityNumber } from '../plan/capabilities';
import { writeFileAtomic } from '../util/atomic';
import { BerthError, failedPrecondition, invalidArgument } from '../util/errors';
import { mark } from '../util/timing';

// `exec`: one more process in a running container. berth-init joins the container's
// namespaces and sets the process up as it does init (minus the mounts); the library puts it
// in the container's cgroup while it waits for `go`.

/** Changes to config.json's process that `exec`'s flags make (runc's semantics). */
export interface ProcessOverrides {
  args: string[];
  /** KEY=VALUE; a key config.json already has takes the new value. */
  env?: string[];
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Added to config.json's additionalGids. */
  additionalGids?: number[];
  /** Added to the bounding, effective and permitted sets (not inheritable, hence not ambient). */
  caps?: string[];
  noNewPrivileges?: boolean;
  /** The config's `terminal` never carries over to exec: this is false unless asked. */
  terminal?: boolean;
}

export interface ExecOptions extends InitSpawnOptions {
  id: string;
  /** A whole process (a --process file's parsed JSON), or changes to config.json's process. */
  process: { file: unknown } | { overrides: ProcessOverrides };
  consoleSocket?: string;
  /** Do not wait: stage0 exits once the process runs (`exec --detach`). */
  detach?: boolean;
  pidFile?: string;
  /** Allow exec into a frozen container: the process will be frozen too, until it is thawed. */
  ignorePaused?: boolean;
}

export interface Executed {
  /** Host pid of the new process. */
  pid: number;
  /** The berth-init session; in the foreground, `exited` is the process's exit status. */
  init: InitProcess;
}

/** Runs a process in container `id`; resolves once it has exec'd. */
export async function execContainer(ctx: RuntimeContext, opts: ExecOptions): Promise<Executed> {
  let init: InitProcess | undefined;
  const pid = await execSteps(ctx, opts, async (planText) => {
    init = InitProcess.spawn(planText, opts);
    return init.channel;
  }, () => init);
  if (opts.pidFile) await writeFileAtomic(opts.pidFile, String(pid), 0o644);
  return { pid, init: init! };
}

/**
 * exec with berth-init started by `launch` (berthd: by berth-shim's `exec`): the same checks,
 * plan and cgroup join as execContainer. The plan never asks stage0 to wait (whoever started
 * berth-init is its parent and reaps it): `detach` is implied. Resolves to the host pid once
 * the process has exec'd; the channel is closed then.
 */
export async function execContainerWith(ctx: RuntimeContext, opts: Omit<ExecOptions, 'detach' | 'pidFile' | keyof InitSpawnOptions>, launch: Launch): Promise<{ pid: number }> {
  const box: { launched?: Launched } = {};
  const pid = await execSteps(
    ctx,
    { ...opts, detach: true },
    async (planText) => (box.launched = await launch(planText)).channel,
    () => (box.launched?.stage0 ? { stage0: box.launched.stage0 } : undefined),
  );
  box.launched?.channel.close();
  return { pid };
}

async function execSteps(
  ctx: RuntimeContext,
  opts: ExecOptions,
  start: (planText: string) => Promise<SyncChannel>,
  spawned: () => { stage0: ChildProcess } | undefined,
): Promise<number> {
  const c = await loadContainer(ctx, opts.id);
  if (c.status === 'stopped') throw failedPrecondition(`cannot exec in a stopped container: ${opts.id}`);
  // Its namespaces exist, but the container's own program has not run: nothing is there yet.
  if (c.status === 'created') throw failedPrecondition(`cannot exec in a created container (start it first): ${opts.id}`);
  if (c.status === 'paused' && !opts.ignorePaused) throw failedPrecondition(`cannot exec in a paused container (use --ignore-paused to override): ${opts.id}`);

  const { spec } = await loadBundle(ctx.host, c.state.bundle);
  const proc = 'file' in opts.process ? validateProcess(spec, opts.process.file) : validateProcess(spec, applyOverrides(spec.process!, opts.process.overrides));
  if (proc.terminal && opts.detach && !opts.consoleSocket) {
    throw invalidArgument('cannot allocate a tty for a detached exec without --console-socket: nobody would hold the pty');
  }
  if (opts.consoleSocket && !proc.terminal) throw invalidArgument('--console-socket is only for a process with a terminal (--tty or process.terminal)');
  mark('state and bundle loaded, process validated');

  const [facts, joins] = await Promise.all([readHostFacts(ctx.host), namespaceJoins(c.state.pid, spec)]);
  const plan = buildExecPlan(spec, proc, { joins, facts, consoleSocket: opts.consoleSocket, preserveFds: opts.preserveFds, wait: !opts.detach });
  plan.warnings.forEach(ctx.warn);
  const planText = encodePlan(plan);
  ctx.debug(`exec plan:\n${planText}`);
  mark('host facts and namespaces read, exec plan built');

  let channel: SyncChannel | undefined;
  let pid = 0;
  let started: string | undefined;
  try {
    channel = await start(planText);
    pid = Number((await channel.expect('pid'))[1]);
    mark('berth-init joined the namespaces, cloned the process');
    started = await pidStartTime(pid);
    // stage0 opened the namespaces by /proc/<pid>: if init died meanwhile and its pid went
    // to another process, we would have joined a stranger's namespaces.
    if ((await pidStartTime(c.state.pid)) !== c.state.pidStartTime) throw new BerthError('ERR_INIT', `container ${opts.id} exited during exec`);
    // Before `go`: the process must not fork outside the container's limits.
    await c.cgroup.addProcess(pid);
    mark('init checked, process joined the cgroup');
    channel.send(['go', '']);
    await channel.expect('ready');
    await channel.expectExec();
    mark('process set up, execve done');
  } catch (err) {
    await undoExec(pid, started, channel, spawned());
    throw err;
  }
  return pid;
}

async function undoExec(pid: number, started: string | undefined, channel: SyncChannel | undefined, init: { stage0: ChildProcess } | undefined): Promise<void> {
  // The process may have failed and been reaped by stage0 already: a pid with another start
  // time is someone else's now.
  if (pid > 0 && started !== undefined && (await pidStartTime(pid)) === started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  channel?.close();
  if (init) await reap(init.stage0);
}

/** config.json's process with the exec flags applied (the caller validates the result). */
export function applyOverrides(base: Process, o: ProcessOverrides): Process {
  const p: Process = structuredClone(base);
  p.args = [...o.args];
  p.terminal = o.terminal ?? false;
  if (o.cwd !== undefined) p.cwd = o.cwd;
  if (o.env?.length) p.env = mergeEnv(p.env ?? [], o.env);
  if (o.uid !== undefined) p.user.uid = o.uid;
  if (o.gid !== undefined) p.user.gid = o.gid;
  if (o.additionalGids?.length) p.user.additionalGids = [...(p.user.additionalGids ?? []), ...o.additionalGids];
  if (o.noNewPrivileges !== undefined) p.noNewPrivileges = o.noNewPrivileges;
  if (o.caps?.length) {
    for (const cap of o.caps) {
      if (capabilityNumber(cap) === undefined) throw invalidArgument(`--cap: unknown capability ${JSON.stringify(cap)}`);
    }
    // No capabilities object means berth leaves them alone: the process has them all already.
    if (p.capabilities) {
      for (const set of ['bounding', 'effective', 'permitted'] as const) p.capabilities[set] = [...(p.capabilities[set] ?? []), ...o.caps.map((c) => c.toUpperCase())];
    }
  }
  return p;
}

/** Later values win, in the place of the first: what a shell's `export` would do. */
function mergeEnv(base: string[], extra: string[]): string[] {
  const out = [...base];
  const at = new Map(out.map((e, i) => [envKey(e), i]));
  for (const e of extra) {
    const i = at.get(envKey(e));
    if (i === undefined) {
      at.set(envKey(e), out.length);
      out.push(e);
    } else out[i] = e;
  }
  return out;
}

const envKey = (e: string) => e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('='));

/** The same rules as config.json's process: the container's spec with this process in it. */
export function validateProcess(spec: Spec, raw: unknown): Process {
  return validateSpec({ ...spec, process: raw }).process!;
}

// /proc/<pid>/ns/<name> for each spec namespace type.
const PROC_NS: Record<NamespaceType, string> = {
  pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup', time: 'time',
};

/**
 * Every namespace the container's config puts it in, as init's /proc/<pid>/ns entry — new
 * ones and joined ones alike, since the container is in both. One that is the caller's own
 * is left out: there is nothing to join, and setns refuses to re-enter one's own user ns.
 */
export async function namespaceJoins(pid: number, spec: Spec): Promise<{ type: NamespaceType; path: string }[]> {
  const joins: { type: NamespaceType; path: string }[] = [];
  for (const ns of spec.linux?.namespaces ?? []) {
    const path = `/proc/${pid}/ns/${PROC_NS[ns.type]}`;
    const [theirs, ours] = await Promise.all([
      fs.stat(path).catch(() => {
        throw failedPrecondition(`cannot join the container's ${ns.type} namespace: its process ${pid} is gone`);
      }),
      fs.stat(`/proc/self/ns/${PROC_NS[ns.type]}`).catch(() => undefined),
    ]);
    if (ours && ours.ino === theirs.ino && ours.dev === theirs.dev) continue;
    joins.push({ type: ns.type, path });
  }
  return joins;
}
