// A blob's bytes as they land in the content store, for the unpacker that runs beside the
// download. The downloader writes each chunk to the ingest and then says how far it got
// (advance); the unpacker reads the ingest's data file up to there and waits for more. The
// bytes travel through the page cache, so an unpacker that falls behind costs no memory, and a
// resumed ingest's first bytes (written by an earlier, interrupted pull) are read the same way.

import type { ReaderAt } from '../content';

export class LandingBlob {
  private landed = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Bytes 0..n are in the data file. */
  advance(n: number): void {
    if (n <= this.landed) return;
    this.landed = n;
    this.notify();
  }

  /** No more bytes will come: all of them (no error) or the download failed. */
  end(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    this.notify();
  }

  get failed(): Error | undefined {
    return this.error;
  }

  /**
   * Bytes 0..size in order, from `reader` (the ingest's data, or the committed blob), as they
   * land; `onRead` sees the position after each chunk. Closes the reader at the end.
   */
  async *read(reader: ReaderAt, opts: { chunkSize?: number; onRead?: (pos: number) => void } = {}): AsyncGenerator<Buffer> {
    const chunkSize = opts.chunkSize ?? 1 << 20;
    let pos = 0;
    try {
      while (pos < this.size) {
        if (this.error) throw this.error;
        if (pos >= this.landed) {
          if (this.ended) throw this.error ?? new Error(`blob ended at ${this.landed} of ${this.size} bytes`);
          await new Promise<void>((resolve) => this.wake.push(resolve));
          continue;
        }
        const buf = Buffer.allocUnsafe(Math.min(chunkSize, this.landed - pos));
        const n = await reader.readAt(buf, pos);
        if (n === 0) throw new Error(`blob data ends at ${pos} bytes, ${this.landed} were written`);
        pos += n;
        opts.onRead?.(pos);
        yield n === buf.length ? buf : buf.subarray(0, n);
      }
    } finally {
      await reader.close();
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }
}
