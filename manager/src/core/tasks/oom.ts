// /tasks/oom for one task. The task's berth-shim counts the OOM kills in the container's memory
// cgroup (shim/PROTOCOL.md "OOM": an eventfd on cgroup v1, inotify on memory.events on v2) and
// answers `wait-oom` when the count moves; this publishes one event per kill counted.
//
// Why the shim and not berthd: Node cannot wait on the eventfd cgroup v1 notifies through, and
// polling memory.oom_control from here would cost a timer per container and still be late. The
// shim already sits in a poll loop beside the container and outlives berthd restarts.
//
// Order: the exit path calls flush() before it publishes a process's /tasks/exit. The kernel
// reports an OOM kill before it sends the SIGKILL, and the shim takes that report in before it
// records the exit, so the /tasks/oom of an OOM-killed init comes before its /tasks/exit.

import { ShimClient } from '../../shim';

export class OomWatch {
  /** Kills counted by the shim that have been published (or were there before we started). */
  private published = 0;
  private waiter?: ShimClient;
  private closed = false;

  private constructor(
    private readonly shimDir: string,
    private readonly onOom: () => void,
  ) {}

  /**
   * Has the shim watch the memory cgroup `dir` (harmless if it does already: after a berthd
   * restart), then publishes every kill counted from now on.
   */
  static async start(client: ShimClient, shimDir: string, dir: string, onOom: () => void): Promise<OomWatch> {
    await client.oomWatch(dir);
    const w = new OomWatch(shimDir, onOom);
    // Kills counted while berthd was away were nobody's to hear; do not replay them late.
    w.published = await client.oomCount();
    void w.loop();
    return w;
  }

  /** `wait-oom` on a connection of its own, for as long as the shim and this watch live. */
  private async loop(): Promise<void> {
    try {
      this.waiter = await ShimClient.connect(this.shimDir);
      while (!this.closed) this.advance(await this.waiter.waitOom(this.published));
    } catch {
      // The shim exited (its task was deleted) or close() cut the connection: no more counts.
    } finally {
      this.waiter?.close();
    }
  }

  /** Publishes whatever the shim has counted so far; the exit path awaits it. */
  async flush(client: ShimClient): Promise<void> {
    this.advance(await client.oomCount());
  }

  /** Synchronous, so the loop and flush() never publish the same kill twice. */
  private advance(count: number): void {
    while (!this.closed && this.published < count) {
      this.published++;
      this.onOom();
    }
  }

  close(): void {
    this.closed = true;
    this.waiter?.close();
  }
}
