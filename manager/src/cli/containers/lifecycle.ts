// A berth container's life over containerd's services: its status as Docker names it (from
// the task, else from the state berthd recorded in labels), start, stop, kill, wait and
// removal — what the commands of the same names (and run, restart) share.
//
// The restart monitor's contract (core/containers/restart.ts): start writes startedLabels()
// before the task starts, stop/kill/rm -f write stoppedLabels() before signalling, so the
// exit that follows is not taken for a crash to restart.

import { constants as os } from 'node:os';
import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import { specOf, type ContainerRecord } from './resolve';
import { AUTO_REMOVE, STATE_EXIT_CODE, STATE_FINISHED_AT, STATE_OOM_KILLED, STATE_STARTED_AT, STOP_SIGNAL, STOP_TIMEOUT, TTY } from '../../core/containers/labels';
import { startedLabels, stoppedLabels } from '../../core/containers/restart';
import { dateOf } from '../../api';

const DEADLINE_EXCEEDED = 4;
export const DEFAULT_STOP_TIMEOUT = 10;

export type DockerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead';

export interface TaskInfo {
  status: 'UNKNOWN' | 'CREATED' | 'RUNNING' | 'STOPPED' | 'PAUSED' | 'PAUSING';
  pid: number;
  exitStatus: number;
  exitedAt: Date | null;
}

export interface ContainerState {
  status: DockerStatus;
  running: boolean;
  paused: boolean;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Every task of the namespace by container id (one List for a whole `ps`). */
export async function listTasks(d: Daemon): Promise<Map<string, TaskInfo>> {
  const { tasks } = await d.tasks.List({ filter: '' });
  const out = new Map<string, TaskInfo>();
  for (const t of tasks) out.set(t.containerId || t.id, { status: t.status as TaskInfo['status'], pid: t.pid, exitStatus: t.exitStatus, exitedAt: dateOf(t.exitedAt) });
  return out;
}

export async function getTask(d: Daemon, id: string): Promise<TaskInfo | undefined> {
  try {
    const { process: p } = await d.tasks.Get({ containerId: id, execId: '' });
    if (!p) return undefined;
    return { status: p.status as TaskInfo['status'], pid: p.pid, exitStatus: p.exitStatus, exitedAt: dateOf(p.exitedAt) };
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return undefined;
    throw err;
  }
}

/** Docker's State from the task (if any) and the labels berthd wrote. */
export function stateOf(c: ContainerRecord, task: TaskInfo | undefined): ContainerState {
  const l = c.labels;
  const startedAt = l[STATE_STARTED_AT] ?? ZERO_TIME;
  const base = { startedAt, finishedAt: l[STATE_FINISHED_AT] ?? ZERO_TIME, oomKilled: l[STATE_OOM_KILLED] === 'true' };
  if (task && (task.status === 'RUNNING' || task.status === 'PAUSED' || task.status === 'PAUSING')) {
    const paused = task.status !== 'RUNNING';
    return { ...base, status: paused ? 'paused' : 'running', running: true, paused, pid: task.pid, exitCode: 0 };
  }
  if (task && task.status === 'STOPPED') {
    const finishedAt = l[STATE_FINISHED_AT] ?? task.exitedAt?.toISOString() ?? ZERO_TIME;
    return { ...base, finishedAt, status: 'exited', running: false, paused: false, pid: 0, exitCode: Number(l[STATE_EXIT_CODE] ?? task.exitStatus) };
  }
  if (l[STATE_STARTED_AT] === undefined) return { ...base, status: 'created', running: false, paused: false, pid: 0, exitCode: 0 };
  return { ...base, status: 'exited', running: false, paused: false, pid: 0, exitCode: Number(l[STATE_EXIT_CODE] ?? 0) };
}

/** Writes (or, with undefined, removes) labels of a container, leaving the others alone. */
export async function setLabels(d: Daemon, id: string, labels: Record<string, string | undefined>): Promise<void> {
  const set: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (v !== undefined) set[k] = v;
  await d.containers.Update({ container: { id, labels: set }, updateMask: { paths: Object.keys(labels).map((k) => `labels.${k}`) } });
}

/** A signal name or number as its number: "SIGTERM", "TERM", "term", "15". */
export function signalNumber(sig: string): number {
  if (/^\d+$/.test(sig)) return Number(sig);
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  const n = (os.signals as Record<string, number>)[name];
  if (n === undefined) throw new CliError(`invalid signal: ${sig}`);
  return n;
}

async function deleteTaskIfStopped(d: Daemon, id: string): Promise<void> {
  try {
    await d.tasks.Delete({ containerId: id });
  } catch (err) {
    if (grpcCode(err) !== NOT_FOUND) throw err;
  }
}

/**
 * Starts a container: a stopped task of an earlier run is deleted, a new one is created on the
 * container's snapshot with no stdio of its own (berthd gives it its log and, with -i, an
 * open stdin) and started. A running container is left as it is. `beforeStart` runs between
 * create and start (run's attach connects there, so no output is lost). `created`: the caller
 * made the container just now (run), so there is no task to look for.
 */
export async function startContainer(d: Daemon, c: ContainerRecord, opts: { beforeStart?: () => Promise<void>; created?: boolean } = {}): Promise<{ pid: number; alreadyRunning: boolean }> {
  const task = opts.created ? undefined : await getTask(d, c.id);
  if (task && (task.status === 'RUNNING' || task.status === 'PAUSED' || task.status === 'PAUSING')) {
    if (task.status !== 'RUNNING') throw new CliError(`cannot start a paused container, try unpause instead`);
    return { pid: task.pid, alreadyRunning: true };
  }
  if (task) await deleteTaskIfStopped(d, c.id);
  // Independent: the restart monitor's labels and the rootfs mounts, asked side by side.
  const [, { mounts }] = await Promise.all([setLabels(d, c.id, startedLabels()), d.snapshots.Mounts({ snapshotter: c.snapshotter, key: c.snapshotKey })]);
  const terminal = c.labels[TTY] === 'true' || specOf(c).process?.terminal === true;
  await d.tasks.Create({ containerId: c.id, rootfs: mounts, terminal, stdin: '', stdout: '', stderr: '' });
  try {
    await opts.beforeStart?.();
    const { pid } = await d.tasks.Start({ containerId: c.id, execId: '' });
    return { pid, alreadyRunning: false };
  } catch (err) {
    await d.tasks.Delete({ containerId: c.id }).catch(() => undefined);
    throw err;
  }
}

/** Waits for the task's exit; its status, or undefined when `timeoutMs` passed first. No task: the recorded exit code. */
export async function waitExit(d: Daemon, c: ContainerRecord, timeoutMs?: number): Promise<number | undefined> {
  try {
    const r = await d.tasks.Wait({ containerId: c.id, execId: '' }, timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs });
    return r.exitStatus;
  } catch (err) {
    if (grpcCode(err) === DEADLINE_EXCEEDED) return undefined;
    if (grpcCode(err) !== NOT_FOUND) throw err;
  }
  // No task (never started, or removed meanwhile): what berthd recorded.
  try {
    const { container } = await d.containers.Get({ id: c.id });
    return Number(container?.labels[STATE_EXIT_CODE] ?? 0);
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return Number(c.labels[STATE_EXIT_CODE] ?? 0);
    throw err;
  }
}

async function signal(d: Daemon, id: string, sig: number): Promise<boolean> {
  try {
    await d.tasks.Kill({ containerId: id, execId: '', signal: sig, all: false });
    return true;
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return false;
    throw err;
  }
}

export function stopSignalOf(c: ContainerRecord): number {
  return signalNumber(c.labels[STOP_SIGNAL] || 'SIGTERM');
}

export function stopTimeoutOf(c: ContainerRecord, given?: number): number {
  if (given !== undefined) return given;
  const t = Number(c.labels[STOP_TIMEOUT]);
  return c.labels[STOP_TIMEOUT] !== undefined && Number.isFinite(t) ? t : DEFAULT_STOP_TIMEOUT;
}

/**
 * Docker's stop: the stop signal, `timeout` seconds (-1: for ever) for the process to go, then
 * SIGKILL. A container that is not running is left as it is.
 */
export async function stopContainer(d: Daemon, c: ContainerRecord, timeout: number): Promise<void> {
  const task = await getTask(d, c.id);
  if (!task || task.status === 'STOPPED' || task.status === 'CREATED') {
    if (task?.status === 'CREATED') await signal(d, c.id, os.signals.SIGKILL);
    return;
  }
  await setLabels(d, c.id, stoppedLabels());
  if (task.status !== 'RUNNING') await d.tasks.Resume({ containerId: c.id }).catch(() => undefined);
  if (await signal(d, c.id, stopSignalOf(c))) {
    const exited = await waitExit(d, c, timeout < 0 ? undefined : timeout * 1000);
    if (exited !== undefined) return;
  }
  if (await signal(d, c.id, os.signals.SIGKILL)) await waitExit(d, c);
}

/** Docker's kill: a signal (SIGKILL by default) to a running container; an error if it is not. */
export async function killContainer(d: Daemon, c: ContainerRecord, sig: number, ref: string): Promise<void> {
  const task = await getTask(d, c.id);
  if (!task || task.status !== 'RUNNING') throw new CliError(`Cannot kill container: ${ref}: container ${c.id} is not running`);
  // The user's stop (restart policies leave it down); other signals (HUP to reload) are not a stop.
  if (sig === os.signals.SIGKILL || sig === stopSignalOf(c)) await setLabels(d, c.id, stoppedLabels());
  if (!(await signal(d, c.id, sig))) throw new CliError(`Cannot kill container: ${ref}: container ${c.id} is not running`);
}

/** Removes the task, the record and the writable snapshot; refused while running unless `force`. */
export async function removeContainer(d: Daemon, c: ContainerRecord, opts: { force: boolean; ref: string }): Promise<void> {
  const task = await getTask(d, c.id);
  if (task && task.status !== 'STOPPED' && task.status !== 'CREATED') {
    if (!opts.force) {
      throw new CliError(`cannot remove container "${opts.ref}": container is ${task.status === 'RUNNING' ? 'running' : 'paused'}: stop the container before removing or force remove`);
    }
    await setLabels(d, c.id, stoppedLabels());
    if (task.status !== 'RUNNING') await d.tasks.Resume({ containerId: c.id }).catch(() => undefined);
    await signal(d, c.id, os.signals.SIGKILL);
    await waitExit(d, c);
  }
  if (task) await deleteTaskIfStopped(d, c.id);
  try {
    await d.containers.Delete({ id: c.id });
  } catch (err) {
    // auto-remove (berthd) may have got there first
    if (grpcCode(err) !== NOT_FOUND) throw err;
    if (c.labels[AUTO_REMOVE] !== 'true') throw err;
  }
  if (c.snapshotKey) {
    await d.snapshots.Remove({ snapshotter: c.snapshotter, key: c.snapshotKey }).catch((err) => {
      if (grpcCode(err) !== NOT_FOUND) throw err;
    });
  }
}
