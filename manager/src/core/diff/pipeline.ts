// Several file operations of a layer in flight at once, each after the ones it depends on.
//
// Unpacking one entry takes several syscalls, each a round trip to libuv's thread pool; done
// one after the other, a layer of thousands of small files spends most of its time waiting
// for those round trips. So the applier starts an entry's operation and goes on parsing the
// tar while it runs. Operations are keyed by the (real, relative) path they create; one that
// must come after another (a file after its directory, a hardlink after its target) names
// that path and starts once the operation there has ended. The applier only hands in
// operations whose order it has made sure of this way; anything else waits for `drain()`.
//
// A failed operation never rejects a promise anyone awaits: the failure is kept, operations
// not yet started are skipped, and `drain()` throws it once everything in flight has ended.
// Of several failures the one of the earliest entry wins, so the error names the same entry
// whatever the timing was.

export class OpPipeline {
  /** path → the operation on it still in flight */
  private readonly byPath = new Map<string, Promise<void>>();
  private readonly running = new Set<Promise<void>>();
  private waiter: (() => void) | null = null;
  private failure: { seq: number; error: unknown } | null = null;
  private seq = 0;
  private bytes = 0;

  constructor(
    /** operations in flight at most */
    private readonly maxOps: number,
    /** bytes held by operations in flight (buffered file data) at most, unless only one is */
    private readonly maxBytes: number,
  ) {}

  get failed(): boolean {
    return this.failure !== null;
  }

  /** Resolves once there is room for one more operation holding `bytes`. */
  async slot(bytes: number): Promise<void> {
    while (this.running.size >= this.maxOps || (this.running.size > 0 && this.bytes + bytes > this.maxBytes)) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /**
   * Starts `op` once the operations in flight on the paths in `after` have ended; until it
   * ends, it is the operation on `path`. `bytes` counts against the buffered-bytes limit.
   */
  run(path: string, after: string[], bytes: number, op: () => Promise<void>): Promise<void> {
    const seq = this.seq++;
    const deps: Promise<void>[] = [];
    for (const a of after) {
      const d = this.byPath.get(a);
      if (d) deps.push(d);
    }
    const begin = deps.length === 0 ? Promise.resolve() : deps.length === 1 ? deps[0]! : Promise.all(deps);
    this.bytes += bytes;
    const ended = (): void => {
      this.running.delete(p);
      this.bytes -= bytes;
      if (this.byPath.get(path) === p) this.byPath.delete(path);
      const w = this.waiter;
      this.waiter = null;
      w?.();
    };
    const p: Promise<void> = begin
      .then(() => (this.failure ? undefined : op()))
      .then(ended, (e: unknown) => {
        if (!this.failure || seq < this.failure.seq) this.failure = { seq, error: e };
        ended();
      });
    this.running.add(p);
    this.byPath.set(path, p);
    return p;
  }

  /** Waits for everything in flight; throws the earliest failure, if any. */
  async drain(): Promise<void> {
    await this.settle();
    if (this.failure) throw this.failure.error;
  }

  /** Waits for everything in flight, failed or not. */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  /** The earliest failure, once settled. */
  get error(): unknown {
    return this.failure?.error;
  }
}
