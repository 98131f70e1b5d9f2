// A counting semaphore: at most `n` holders at once, served in the order they asked (so the
// lower layers of an image, asked for first, download first).

export class Limit {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly n: number) {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`limit must be a positive integer, got ${n}`);
  }

  async acquire(): Promise<() => void> {
    if (this.active >= this.n) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next(); // the slot passes on as it is
      else this.active--;
    };
  }

  /** Runs fn holding a slot. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
