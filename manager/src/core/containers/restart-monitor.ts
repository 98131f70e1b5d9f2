// The restart monitor: berthd carries out the restart policies of berth containers (label
// CREATED_BY = "berth"), so they hold when no client is connected and across berthd restarts.
//
// Event-driven, unlike containerd's polling monitor: every exit of a task's own process
// (`/tasks/exit` with id = container id) is weighed by restart.ts's shouldRestart(); a restart
// waits Docker's back-off (100 ms doubling to 1 min, back to 100 ms once a run lasted 10 s),
// then looks again — the user may have stopped, started, updated or removed the container
// meanwhile — and only then deletes the exited task, counts the restart (RESTART_COUNT) and
// creates and starts a new task on the container's snapshot. The new task's stdio is empty
// (berth containers' output goes to the CRI log berthd gives them) with the old one's terminal
// setting; a `file://` log the old task had is kept, so `ctr run --log-uri` goes on appending.
//
// At berthd's start, reconcile() applies the policies to what happened while it was away: a
// task that exited (its shim kept the status), or a task that is gone altogether (the host
// rebooted: /run is empty) of a container the user wanted running.
//
// One restart per container at a time; a failed restart is logged and leaves the container
// stopped (as Docker's daemon does). Containers with AUTO_REMOVE are never restarted: their
// exit belongs to the auto-remover (Docker refuses --restart with --rm at create).

import type { Mount } from '../snapshots/types';
import type { Container } from '../metadata';
import type { ProcessInfo, Stdio, TaskManager, Tasks } from '../tasks';
import { isKind } from '../errors';
import { AUTO_REMOVE, CREATED_BY, RESTART_COUNT, RESTART_EXPLICITLY_STOPPED, RESTART_STATUS, TTY } from './labels';
import { factsFromLabels, nextDelay, shouldRestart } from './restart';

export interface RestartMonitorDeps {
  tasks: Tasks;
  namespaces(): string[];
  containers(ns: string): Container[];
  /** The container's record; throws NotFound when it is gone. */
  container(ns: string, id: string): Container;
  /** Sets (never removes) the given labels on the container's record. */
  setLabels(ns: string, id: string, labels: Record<string, string>): Promise<void>;
  /** The mounts of a snapshot (the container's rootfs). */
  mounts(ns: string, snapshotter: string, key: string): Promise<Mount[]>;
  log: {
    info(o: object, m: string): void;
    warn(o: object, m: string): void;
    error(o: object, m: string): void;
  };
  /** For tests: a clock and timers. */
  now?: () => number;
}

interface Tracked {
  /** The last back-off delay (0: no restart yet since the user's start). */
  delayMs: number;
  /** When the current task's process started (ms), if seen. */
  startedAt?: number;
  timer?: NodeJS.Timeout;
  /** A restart is scheduled or running. */
  busy: boolean;
}

const key = (ns: string, id: string) => `${ns}/${id}`;

export class RestartMonitor {
  private readonly tracked = new Map<string, Tracked>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly deps: RestartMonitorDeps) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  private track(ns: string, id: string): Tracked {
    let t = this.tracked.get(key(ns, id));
    if (!t) {
      t = { delayMs: 0, busy: false };
      this.tracked.set(key(ns, id), t);
    }
    return t;
  }

  /** A berth container's record, or undefined (gone, or not berth's). */
  private berthContainer(ns: string, id: string): Container | undefined {
    try {
      const c = this.deps.container(ns, id);
      return c.labels[CREATED_BY] === 'berth' ? c : undefined;
    } catch (err) {
      if (isKind(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** `/tasks/start` of a task's own process: the start of the run whose length resets the back-off. */
  taskStarted(ns: string, id: string): void {
    if (this.closed) return;
    if (!this.berthContainer(ns, id)) return;
    this.track(ns, id).startedAt = this.now();
  }

  /** `/tasks/exit` of a task's own process. */
  taskExited(ns: string, id: string, exitStatus: number): void {
    if (this.closed) return;
    const c = this.berthContainer(ns, id);
    if (!c) {
      this.forget(ns, id);
      return;
    }
    if (c.labels[AUTO_REMOVE] === 'true') return;
    const t = this.track(ns, id);
    if (t.busy) return;
    const facts = factsFromLabels(c.labels, exitStatus, false);
    if (!shouldRestart(facts)) {
      // The user stopped it, or the policy is done: the next start begins a new back-off.
      this.forget(ns, id);
      return;
    }
    // No restart counted since the user's start (startedLabels() zeroes it): a new back-off.
    if (facts.count === 0) t.delayMs = 0;
    const ranMs = t.startedAt === undefined ? 0 : this.now() - t.startedAt;
    t.delayMs = nextDelay(t.delayMs, ranMs);
    this.schedule(ns, id, t, t.delayMs, false);
  }

  /** At berthd's start: restart what exited (or vanished) while berthd was away, per policy. */
  async reconcile(): Promise<void> {
    for (const ns of this.deps.namespaces()) {
      for (const c of this.deps.containers(ns)) {
        if (this.closed) return;
        if (c.labels[CREATED_BY] !== 'berth' || c.labels[AUTO_REMOVE] === 'true') continue;
        const info = await this.taskInfo(this.deps.tasks.namespace(ns), c.id);
        if (info && info.status !== 'STOPPED') continue;
        // No task at all: it vanished with its state (a reboot); Docker counts that a failure.
        const exitStatus = info ? info.exitStatus : 255;
        if (!shouldRestart(factsFromLabels(c.labels, exitStatus, true))) continue;
        const t = this.track(ns, c.id);
        if (t.busy) continue;
        this.schedule(ns, c.id, t, 0, true);
      }
    }
  }

  private schedule(ns: string, id: string, t: Tracked, delayMs: number, atDaemonStart: boolean): void {
    t.busy = true;
    this.deps.log.info({ namespace: ns, container: id, delay_ms: delayMs }, 'restart scheduled');
    t.timer = setTimeout(() => {
      t.timer = undefined;
      const run = this.restart(ns, id, atDaemonStart)
        .catch((err: Error) => this.deps.log.error({ namespace: ns, container: id, err: err.message }, 'restart failed; the container stays stopped'))
        .finally(() => {
          t.busy = false;
          this.inFlight.delete(run);
        });
      this.inFlight.add(run);
    }, delayMs);
    t.timer.unref?.();
  }

  private async taskInfo(tm: TaskManager, id: string): Promise<ProcessInfo | undefined> {
    try {
      return await tm.get(id);
    } catch (err) {
      if (isKind(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** Looks again, then replaces the exited task with a new one. */
  private async restart(ns: string, id: string, atDaemonStart: boolean): Promise<void> {
    if (this.closed) return;
    const c = this.berthContainer(ns, id);
    if (!c) return this.forget(ns, id);
    const tm = this.deps.tasks.namespace(ns);
    const info = await this.taskInfo(tm, id);
    // Running again (the user started it) or gone (someone else is deleting or starting it);
    // only at berthd's start is a missing task ours to make.
    if (info ? info.status !== 'STOPPED' : !atDaemonStart) return;
    const exitStatus = info ? info.exitStatus : 255;
    const facts = factsFromLabels(c.labels, exitStatus, atDaemonStart);
    if (!shouldRestart(facts)) return this.forget(ns, id);

    if (info) {
      try {
        await tm.delete(id);
      } catch (err) {
        // Deleted or restarted by a client in between: theirs to finish.
        if (isKind(err, 'NotFound') || isKind(err, 'FailedPrecondition')) return;
        throw err;
      }
    }
    const labels: Record<string, string> = { [RESTART_COUNT]: String(facts.count + 1) };
    // An `always` container the user had stopped, started by berthd's start: running again.
    if (facts.desired !== 'running') Object.assign(labels, { [RESTART_STATUS]: 'running', [RESTART_EXPLICITLY_STOPPED]: 'false' });
    await this.deps.setLabels(ns, id, labels);

    const rootfs = c.snapshotKey ? await this.deps.mounts(ns, c.snapshotter, c.snapshotKey) : undefined;
    const stdio: Stdio = { terminal: info?.terminal ?? c.labels[TTY] === 'true' };
    if (info?.stdout.startsWith('file://')) Object.assign(stdio, { stdout: info.stdout, stderr: info.stderr });
    try {
      await tm.create(id, { ...(rootfs ? { rootfs } : {}), stdio });
    } catch (err) {
      if (isKind(err, 'AlreadyExists')) return; // a client's start won the race
      throw err;
    }
    try {
      await tm.start(id);
    } catch (err) {
      await tm.delete(id).catch(() => undefined);
      throw err;
    }
    this.deps.log.info({ namespace: ns, container: id, restart_count: facts.count + 1, exit_status: exitStatus }, 'container restarted');
  }

  private forget(ns: string, id: string): void {
    const t = this.tracked.get(key(ns, id));
    if (t?.busy) return;
    this.tracked.delete(key(ns, id));
  }

  /** Cancels scheduled restarts and waits for those under way (berthd going away). */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.tracked.values()) if (t.timer) clearTimeout(t.timer);
    await Promise.all([...this.inFlight]);
    this.tracked.clear();
  }
}

