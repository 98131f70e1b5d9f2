// Work run one item at a time per key, in the order asked; a failed item does not stop the
// next. The one per-key lock of berthd: a container's network set-up, connects and teardown
// (core/networks), a volume's changes (core/volumes), a blob digest's writes
// (core/metadata/content.ts), the layer applier's creations per directory (core/diff).

export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn, fn);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves when everything queued under `key` so far has settled. */
  async idle(key?: string): Promise<void> {
    if (key !== undefined) {
      await this.tails.get(key);
      return;
    }
    while (this.tails.size) await Promise.all([...this.tails.values()]);
  }
}
