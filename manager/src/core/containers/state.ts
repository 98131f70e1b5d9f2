// What berthd records about a berth container as its task lives and dies (Docker's State):
// task events in, label writes on the container record out.
//
//   /tasks/start  (init)  STATE_STARTED_AT = now; exit code, OOM and error of the last run cleared
//   /tasks/oom            remembered until the exit (the kernel's OOM kill comes first)
//   /tasks/exit   (init)  STATE_FINISHED_AT, STATE_EXIT_CODE, STATE_OOM_KILLED; then, for
//                         AUTO_REMOVE=true, the removal (autoremove.ts)
//
// Only containers labelled CREATED_BY=berth are touched; ctr's are left as containerd leaves
// them. Writes for one container are made one after another, in event order (a fast
// start→exit must not leave started-at written after finished-at). The stopped task is not
// deleted here: a client may still be draining its output, and `start`/`rm`/the restart
// monitor delete it when they need to.

import type { ContainerStore } from '../metadata';
import { AUTO_REMOVE, CREATED_BY, STATE_ERROR, STATE_EXIT_CODE, STATE_FINISHED_AT, STATE_OOM_KILLED, STATE_STARTED_AT } from './labels';

export const BERTH = 'berth';

/** A task event as the recorder needs it (decoded from containerd.events.Task*). */
export interface TaskEvent {
  containerId: string;
  /** TaskExit's process id: the container id for the init process, else an exec id. */
  id?: string;
  exitStatus?: number;
  exitedAt?: Date;
}

export interface StateRecorderDeps {
  containers: ContainerStore;
  /** Called after the exit of an AUTO_REMOVE container has been recorded. */
  autoRemove?(ns: string, id: string): Promise<void>;
  log: { warn(o: object, m: string): void; debug(o: object, m: string): void };
  now?: () => Date;
}

export class StateRecorder {
  /** ns/id of containers whose current run was OOM-killed. */
  private readonly oomKilled = new Set<string>();
  /** The last write queued per container, so the next one follows it. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly deps: StateRecorderDeps) {}

  /** Resolves when every write queued so far has been made (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  handle(ns: string, topic: string, ev: TaskEvent): void {
    const key = `${ns}/${ev.containerId}`;
    switch (topic) {
      case '/tasks/start':
        this.oomKilled.delete(key);
        this.enqueue(ns, ev.containerId, () => this.started(ns, ev.containerId));
        return;
      case '/tasks/oom':
        this.oomKilled.add(key);
        return;
      case '/tasks/exit': {
        if (ev.id && ev.id !== ev.containerId) return; // an exec's exit
        const oom = this.oomKilled.delete(key);
        this.enqueue(ns, ev.containerId, () => this.exited(ns, ev, oom));
        return;
      }
    }
  }

  private enqueue(ns: string, id: string, work: () => Promise<void>): void {
    const key = `${ns}/${id}`;
    const next = (this.queues.get(key) ?? Promise.resolve())
      .then(work)
      .catch((err: Error) => this.deps.log.warn({ err, namespace: ns, container: id }, 'recording container state failed'))
      .finally(() => {
        if (this.queues.get(key) === next) this.queues.delete(key);
      });
    this.queues.set(key, next);
  }

  /** The labels of a berth container, or undefined (not ours, or gone). */
  private berthLabels(ns: string, id: string): Record<string, string> | undefined {
    try {
      const c = this.deps.containers.get(ns, id);
      return c.labels[CREATED_BY] === BERTH ? c.labels : undefined;
    } catch {
      return undefined;
    }
  }

  private async write(ns: string, id: string, set: Record<string, string>, clear: string[]): Promise<void> {
    const labels = { ...set };
    const paths = [...Object.keys(set), ...clear].map((k) => `labels.${k}`);
    // Only label paths are applied; the other fields of the input are not read.
    await this.deps.containers.update(ns, { id, labels, runtime: { name: '' }, spec: undefined as never }, paths);
  }

  private async started(ns: string, id: string): Promise<void> {
    if (!this.berthLabels(ns, id)) return;
    const now = (this.deps.now ?? (() => new Date()))();
    await this.write(ns, id, { [STATE_STARTED_AT]: now.toISOString() }, [STATE_EXIT_CODE, STATE_OOM_KILLED, STATE_ERROR]);
  }

  private async exited(ns: string, ev: TaskEvent, oom: boolean): Promise<void> {
    const labels = this.berthLabels(ns, ev.containerId);
    if (!labels) return;
    const finished = ev.exitedAt && !Number.isNaN(ev.exitedAt.getTime()) ? ev.exitedAt : new Date();
    await this.write(
      ns,
      ev.containerId,
      { [STATE_FINISHED_AT]: finished.toISOString(), [STATE_EXIT_CODE]: String(ev.exitStatus ?? 0), ...(oom ? { [STATE_OOM_KILLED]: 'true' } : {}) },
      oom ? [] : [STATE_OOM_KILLED],
    );
    this.deps.log.debug({ namespace: ns, container: ev.containerId, exitCode: ev.exitStatus }, 'container exited');
    if (labels[AUTO_REMOVE] === 'true' && this.deps.autoRemove) await this.deps.autoRemove(ns, ev.containerId);
  }
}
