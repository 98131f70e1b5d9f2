import { mkdtempSync, rmSync, writeFileSync, appendFileSync, renameSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { DetachMatcher, parseDetachKeys } from '../src/cli/io/detach-keys';
import { parseTimeArg, rfc3339Nano } from '../src/cli/io/timestamps';
import { LineJoiner, formatNanos, parseCriLine, timeNanos } from '../src/core/logs/cri';
import { readLog, type LogQuery } from '../src/core/logs/reader';
import { UsageError } from '../src/cli/errors';

// The pure pieces of berth's I/O: detach keys, --since/--until, the CRI log format, and the
// log reader over real files (tail, filters, a rotation while following).

describe('detach keys', () => {
  it('parses Docker\'s key syntax', () => {
    expect([...parseDetachKeys('ctrl-p,ctrl-q', 'berth attach')]).toEqual([0x10, 0x11]);
    expect([...parseDetachKeys('ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,a', 'x')]).toEqual([0, 27, 28, 29, 30, 31, 0x61]);
    expect(() => parseDetachKeys('ctrl-1', 'berth attach')).toThrow(UsageError);
    expect(() => parseDetachKeys('ctrl-p,,x', 'berth attach')).toThrow(/"" is not a key/);
  });

  it('detaches on the sequence, holds a partial one back and lets a broken one through', () => {
    const m = new DetachMatcher(Buffer.from([0x10, 0x11]));
    expect(m.feed(Buffer.from('ab\x10'))).toEqual({ pass: Buffer.from('ab'), detached: false });
    // The held ctrl-p was input after all.
    expect(m.feed(Buffer.from('c'))).toEqual({ pass: Buffer.from('\x10c'), detached: false });
    expect(m.feed(Buffer.from('\x10\x10'))).toEqual({ pass: Buffer.from('\x10'), detached: false });
    expect(m.feed(Buffer.from('\x11rest'))).toEqual({ pass: Buffer.alloc(0), detached: true });
  });
});

describe('--since / --until', () => {
  const now = new Date('2024-05-01T10:00:00.000Z');
  const ns = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;
  it('reads durations, Unix seconds and RFC 3339 times', () => {
    expect(parseTimeArg('10m', '--since', 'b', now)).toBe(ns('2024-05-01T09:50:00Z'));
    expect(parseTimeArg('1h30m', '--since', 'b', now)).toBe(ns('2024-05-01T08:30:00Z'));
    expect(parseTimeArg('1.5s', '--since', 'b', now)).toBe(ns('2024-05-01T09:59:58.500Z'));
    expect(parseTimeArg('1714557600.25', '--since', 'b', now)).toBe(ns('2024-05-01T10:00:00Z') + 250_000_000n);
    expect(parseTimeArg('2024-05-01T10:00:00.123456789Z', '--since', 'b', now)).toBe(ns('2024-05-01T10:00:00Z') + 123_456_789n);
    expect(parseTimeArg('2024-05-01T12:00:00+02:00', '--since', 'b', now)).toBe(ns('2024-05-01T10:00:00Z'));
    expect(() => parseTimeArg('soon', '--until', 'berth logs', now)).toThrow(/invalid value for --until: "soon"/);
  });

  it('prints times as Go\'s RFC3339Nano', () => {
    expect(rfc3339Nano('2024-05-01T10:00:00.120000000Z')).toBe('2024-05-01T10:00:00.12Z');
    expect(rfc3339Nano('2024-05-01T10:00:00.000000000Z')).toBe('2024-05-01T10:00:00Z');
    expect(rfc3339Nano('2024-05-01T10:00:00.123456789Z')).toBe('2024-05-01T10:00:00.123456789Z');
  });
});

describe('CRI lines', () => {
  it('parses entries and refuses what is not one', () => {
    expect(parseCriLine(Buffer.from('2024-05-01T10:00:00.000000001Z stderr P a b '))).toEqual({
      time: '2024-05-01T10:00:00.000000001Z', stream: 'stderr', partial: true, text: Buffer.from('a b '),
    });
    expect(parseCriLine(Buffer.from('2024-05-01T10:00:00.000000001Z stdout F'))!.text).toEqual(Buffer.alloc(0));
    for (const bad of ['garbage', '2024-05-01T10:00:00Z stdin F x', 'yesterday stdout F x', '2024-05-01T10:00:00Z stdout X x']) {
      expect(parseCriLine(Buffer.from(bad))).toBeUndefined();
    }
    expect(formatNanos(timeNanos('2024-05-01T10:00:00.5Z')!)).toBe('2024-05-01T10:00:00.500000000Z');
  });

  it('joins P pieces with their F, per stream', () => {
    const j = new LineJoiner();
    const e = (stream: 'stdout' | 'stderr', partial: boolean, text: string, t = '2024-05-01T10:00:00.000000001Z') => ({ time: t, stream, partial, text: Buffer.from(text) });
    expect(j.push(e('stdout', true, 'ab'))).toBeUndefined();
    expect(j.push(e('stderr', false, 'err'))!.data.toString()).toBe('err\n');
    expect(j.push(e('stdout', false, 'cd', '2024-05-01T10:00:01.000000000Z'))).toEqual({ time: '2024-05-01T10:00:00.000000001Z', stream: 'stdout', data: Buffer.from('abcd\n'), partial: false });
    j.push(e('stdout', true, 'tail'));
    expect(j.flush()).toEqual([{ time: '2024-05-01T10:00:00.000000001Z', stream: 'stdout', data: Buffer.from('tail'), partial: true }]);
  });
});

describe('readLog', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'logs-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const line = (sec: number, stream: string, tag: string, text: string) => `2024-05-01T10:00:${String(sec).padStart(2, '0')}.000000000Z ${stream} ${tag} ${text}\n`;
  const all: LogQuery = { stdout: true, stderr: true, follow: false };
  const texts = async (it: AsyncIterable<{ data: Buffer }>) => {
    const out: string[] = [];
    for await (const l of it) out.push(l.data.toString());
    return out;
  };

  it('reads the rotated file first; filters by stream and time; tails', async () => {
    const log = join(dir, 'c.log');
    writeFileSync(`${log}.1`, line(1, 'stdout', 'F', 'one') + line(2, 'stderr', 'F', 'two'));
    writeFileSync(log, line(3, 'stdout', 'P', 'thr') + line(3, 'stdout', 'F', 'ee') + 'torn line\n' + line(4, 'stdout', 'P', 'no-newline'));
    expect(await texts(readLog(log, all))).toEqual(['one\n', 'two\n', 'three\n', 'no-newline']);
    expect(await texts(readLog(log, { ...all, stderr: false }))).toEqual(['one\n', 'three\n', 'no-newline']);
    expect(await texts(readLog(log, { ...all, tail: 2 }))).toEqual(['three\n', 'no-newline']);
    expect(await texts(readLog(log, { ...all, tail: 0 }))).toEqual([]);
    const at = (sec: number) => timeNanos(`2024-05-01T10:00:0${sec}Z`)!;
    expect(await texts(readLog(log, { ...all, since: at(2), until: at(3) }))).toEqual(['two\n', 'three\n']);
    expect(await texts(readLog(join(dir, 'none.log'), all))).toEqual([]);
  });

  it('follows appends and a rotation, and ends after the last read once ended resolves', async () => {
    const log = join(dir, 'c.log');
    writeFileSync(log, line(1, 'stdout', 'F', 'before'));
    let end!: () => void;
    const ended = new Promise<void>((r) => (end = r));
    const got: string[] = [];
    const reading = (async () => {
      for await (const l of readLog(log, { ...all, follow: true }, { ended, pollMs: 10 })) got.push(l.data.toString());
    })();
    const until = async (n: number) => {
      for (let i = 0; i < 300 && got.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(1);
    appendFileSync(log, line(2, 'stdout', 'F', 'appended'));
    await until(2);
    // The shim's rotation: the file moves to .1, a new one starts.
    appendFileSync(log, line(3, 'stdout', 'F', 'last-of-old'));
    renameSync(log, `${log}.1`);
    writeFileSync(log, line(4, 'stderr', 'F', 'first-of-new') + line(5, 'stdout', 'P', 'cut'));
    end();
    await reading;
    expect(got).toEqual(['before\n', 'appended\n', 'last-of-old\n', 'first-of-new\n', 'cut']);
  });
});
