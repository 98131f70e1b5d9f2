// Reading a container's CRI log the way `docker logs` shows it: the rotated file, then the
// current one; lines filtered by stream and time; the last N; and with `follow`, what the shim
// appends afterwards (across a rotation) until the process has exited and the file is read to
// its end.

import { promises as fs } from 'fs';
import { LineJoiner, parseCriLine, timeNanos, type LogLine, type LogStream } from './cri';
import { rotatedLogPath } from './path';

export interface LogQuery {
  stdout: boolean;
  stderr: boolean;
  /** Only the last N lines of what is there when reading starts (undefined: all). */
  tail?: number;
  /** Nanoseconds since the epoch: lines at or after since, at or before until. */
  since?: bigint;
  until?: bigint;
  follow: boolean;
}

export interface FollowControl {
  /** Resolves once nothing more will be written (the process exited); follow ends at the file's end then. */
  ended: Promise<void>;
  /** Stops reading at once (the client went away). */
  signal?: AbortSignal;
  /** How often to look for new output (ms). */
  pollMs?: number;
}

const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

/** Splits bytes into lines, keeping an unfinished last line for the next chunk. */
class LineSplitter {
  private rest: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    const data = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
      lines.push(data.subarray(start, nl));
      start = nl + 1;
    }
    this.rest = Buffer.from(data.subarray(start));
    return lines;
  }
}

/** An open file read from a position on: what was appended since the last read. */
class FileCursor {
  private pos = 0;
  private readonly splitter = new LineSplitter();

  private constructor(
    readonly handle: fs.FileHandle,
    readonly ino: number,
  ) {}

  static async open(path: string): Promise<FileCursor | undefined> {
    const handle = await fs.open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!handle) return undefined;
    return new FileCursor(handle, (await handle.stat()).ino);
  }

  /** Complete lines appended since the last call. */
  async read(): Promise<Buffer[]> {
    const lines: Buffer[] = [];
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await this.handle.read(buf, 0, CHUNK, this.pos);
      if (bytesRead === 0) return lines;
      this.pos += bytesRead;
      lines.push(...this.splitter.push(buf.subarray(0, bytesRead)));
    }
  }

  close(): Promise<void> {
    return this.handle.close().catch(() => undefined);
  }
}

function wanted(q: LogQuery, line: LogLine): boolean {
  if (!(line.stream === 'stdout' ? q.stdout : q.stderr)) return false;
  if (q.since === undefined && q.until === undefined) return true;
  const t = timeNanos(line.time)!;
  return (q.since === undefined || t >= q.since) && (q.until === undefined || t <= q.until);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });

/**
 * The lines of the log at `path` for the query. A log that does not exist (a container that
 * never ran) has no lines. With `follow`, `control` says when to stop.
 */
export async function* readLog(path: string, q: LogQuery, control?: FollowControl): AsyncGenerator<LogLine> {
  const joiner = new LineJoiner();
  const lines = (raw: Buffer[]): LogLine[] => {
    const out: LogLine[] = [];
    for (const l of raw) {
      const e = parseCriLine(l);
      if (!e) continue; // not ours (a torn write after a crash): skipped, as Docker's reader does
      const line = joiner.push(e);
      if (line && wanted(q, line)) out.push(line);
    }
    return out;
  };
  const pastUntil = (l: LogLine) => q.until !== undefined && timeNanos(l.time)! > q.until;

  // The current file is opened first: a rotation between the two opens would otherwise make
  // us read the same lines twice (the rotated file, then it again under the current name).
  let current = await FileCursor.open(path);
  const rotated = await FileCursor.open(rotatedLogPath(path));
  let backlog: LogLine[] = [];
  try {
    if (rotated) backlog.push(...lines(await rotated.read()));
  } finally {
    await rotated?.close();
  }
  try {
    if (current) backlog.push(...lines(await current.read()));
    const following = q.follow && control !== undefined;
    if (!following) backlog.push(...joiner.flush().filter((l) => wanted(q, l)));
    if (q.tail !== undefined) backlog = q.tail <= 0 ? [] : backlog.slice(-q.tail);
    for (const l of backlog) yield l;
    if (!following) return;

    let ended = false;
    void control.ended.then(() => (ended = true));
    const pollMs = control.pollMs ?? 100;
    for (;;) {
      if (control.signal?.aborted) return;
      const finalRead = ended; // the exit was known before this read: it gets everything
      let fresh: LogLine[] = current ? lines(await current.read()) : [];
      // A rotation: the rest of the old file (read above), then the new one from its start.
      const now = await fs.stat(path).catch(() => undefined);
      if (now && (!current || now.ino !== current.ino)) {
        const next = await FileCursor.open(path);
        if (next) {
          await current?.close();
          current = next;
          fresh = fresh.concat(lines(await current.read()));
        }
      }
      if (finalRead) fresh = fresh.concat(joiner.flush().filter((l) => wanted(q, l)));
      for (const l of fresh) {
        if (pastUntil(l)) return;
        yield l;
      }
      if (finalRead) return;
      if (q.until !== undefined && BigInt(Date.now()) * 1_000_000n > q.until) return;
      await Promise.race([sleep(pollMs, control.signal), control.ended]);
    }
  } finally {
    await current?.close();
  }
}

export type { LogLine, LogStream };
