// The CRI log format the shim writes, one entry per line:
//
//   <RFC 3339 time with nanoseconds> <stdout|stderr> <F|P> <text>
//
// F ends a line of output (its "\n" is not in the text); P is a piece of a longer line (or the
// end of a stream that had no final "\n"). Text is bytes, not necessarily UTF-8, so lines are
// handled as Buffers.

export type LogStream = 'stdout' | 'stderr';

export interface CriEntry {
  /** As written: 2024-05-01T10:00:00.123456789Z. */
  time: string;
  stream: LogStream;
  partial: boolean;
  text: Buffer;
}

/** One line of output as a reader sees it: the pieces of a P… F run joined, "\n" included. */
export interface LogLine {
  /** The time of its first piece. */
  time: string;
  stream: LogStream;
  data: Buffer;
  /** No "\n" at its end: the stream ended (or the log was cut) inside the line. */
  partial: boolean;
}

const SPACE = 0x20;

/** Parses one line (without its "\n"); undefined for a line that is not a CRI entry. */
export function parseCriLine(line: Buffer): CriEntry | undefined {
  const a = line.indexOf(SPACE);
  const b = a < 0 ? -1 : line.indexOf(SPACE, a + 1);
  if (b < 0) return undefined;
  const stream = line.toString('latin1', a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = line.toString('latin1', b + 1, b + 2);
  if (tag !== 'F' && tag !== 'P') return undefined;
  // "<tag>" alone is an empty line's entry; else one space before the text.
  if (line.length > b + 2 && line[b + 2] !== SPACE) return undefined;
  const time = line.toString('latin1', 0, a);
  if (timeNanos(time) === undefined) return undefined;
  return { time, stream, partial: tag === 'P', text: line.subarray(Math.min(line.length, b + 3)) };
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

/** Nanoseconds since the epoch of an RFC 3339 time (any precision up to ns); undefined if malformed. */
export function timeNanos(time: string): bigint | undefined {
  const m = RFC3339.exec(time);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** RFC 3339 with nanoseconds, UTC, for a time in nanoseconds since the epoch. */
export function formatNanos(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

/** Joins P pieces with the F that ends them, per stream. */
export class LineJoiner {
  private readonly pending = new Map<LogStream, { time: string; parts: Buffer[] }>();

  /** The line this entry completes, if it does. */
  push(e: CriEntry): LogLine | undefined {
    const p = this.pending.get(e.stream);
    if (e.partial) {
      if (p) p.parts.push(e.text);
      else this.pending.set(e.stream, { time: e.time, parts: [e.text] });
      return undefined;
    }
    this.pending.delete(e.stream);
    const parts = p ? [...p.parts, e.text] : [e.text];
    return { time: p?.time ?? e.time, stream: e.stream, data: Buffer.concat([...parts, Buffer.from('\n')]), partial: false };
  }

  /** What is left unfinished, oldest first (the end of the log). */
  flush(): LogLine[] {
    const out = [...this.pending.entries()].map(([stream, p]) => ({ time: p.time, stream, data: Buffer.concat(p.parts), partial: true }));
    this.pending.clear();
    return out.sort((x, y) => (x.time < y.time ? -1 : x.time > y.time ? 1 : 0));
  }
}
