import { spawnSync } from 'child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ManagerError } from '../src/core/errors';
import { checkFifos, parseStdio, prepareLogFile } from '../src/core/tasks/stdio';

// The stdio fields of Tasks.Create/Exec: FIFO paths, file:// log URIs (ctr run --log-uri), and
// everything refused, with the field named.

function refused(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ManagerError);
    expect((err as ManagerError).kind).toBe('InvalidArgument');
    return (err as Error).message;
  }
  throw new Error('accepted');
}

async function refusedAsync(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ManagerError);
  expect((err as ManagerError).kind).toBe('InvalidArgument');
  return (err as Error).message;
}

describe('parseStdio', () => {
  test('plain absolute paths are FIFOs, as ctr makes them', () => {
    const io = { stdin: '/run/containerd/fifo/1/x-stdin', stdout: '/run/containerd/fifo/1/x-stdout', stderr: '/run/containerd/fifo/1/x-stderr' };
    expect(parseStdio({ ...io, terminal: false }, { logFile: true })).toEqual({ ...io, terminal: false });
    expect(parseStdio({ stdout: '/f/out', terminal: true }, { logFile: false })).toEqual({ stdout: '/f/out', terminal: true });
    expect(parseStdio({}, { logFile: true })).toEqual({ terminal: false });
  });

  test('ctr run --log-uri file:///path: stdout = stderr = the URI, one raw log', () => {
    const uri = 'file:///var/log/app/a.log';
    expect(parseStdio({ stdout: uri, stderr: uri }, { logFile: true })).toEqual({ logFile: '/var/log/app/a.log', logField: 'stdout', terminal: false });
    // stdin stays a FIFO beside a log; an empty stderr is the same log.
    expect(parseStdio({ stdin: '/f/in', stdout: uri }, { logFile: true })).toEqual({ stdin: '/f/in', logFile: '/var/log/app/a.log', logField: 'stdout', terminal: false });
    expect(parseStdio({ stderr: uri }, { logFile: true })).toEqual({ logFile: '/var/log/app/a.log', logField: 'stderr', terminal: false });
  });

  test('file URIs: percent-decoded, localhost allowed, a different stdout/stderr pair refused', () => {
    expect(parseStdio({ stdout: 'file:///tmp/a%20b.log', stderr: 'file://localhost/tmp/a%20b.log' }, { logFile: true }).logFile).toBe('/tmp/a b.log');
    expect(parseStdio({ stdout: 'FILE:///tmp/x.log' }, { logFile: true }).logFile).toBe('/tmp/x.log');
    expect(refused(() => parseStdio({ stdout: 'file:///a.log', stderr: 'file:///b.log' }, { logFile: true }))).toBe(
      'stderr: must be empty or the same file:// URI as stdout (one log file takes both streams)',
    );
    expect(refused(() => parseStdio({ stdout: 'file:///a.log', stderr: '/f/err' }, { logFile: true }))).toMatch(/^stderr: must be empty or the same file:\/\/ URI as stdout/);
    expect(refused(() => parseStdio({ stdout: '/f/out', stderr: 'file:///a.log' }, { logFile: true }))).toMatch(/^stdout: must be empty or the same file:\/\/ URI as stderr/);
    expect(refused(() => parseStdio({ stdout: 'file://otherhost/a.log' }, { logFile: true }))).toMatch(/^stdout: file:\/\/otherhost\/a\.log: /);
    expect(refused(() => parseStdio({ stdout: 'file:///tmp/a%2Fb' }, { logFile: true }))).toMatch(/^stdout: file:\/\/\/tmp\/a%2Fb: /);
    expect(refused(() => parseStdio({ stdout: 'file:///tmp/dir/' }, { logFile: true }))).toBe('stdout: file:///tmp/dir/ names a directory, not a file');
  });

  test('binary:// and unknown schemes are refused naming the field', () => {
    expect(refused(() => parseStdio({ stdout: 'binary:///usr/bin/logger?x=1', stderr: 'binary:///usr/bin/logger?x=1' }, { logFile: true }))).toBe('stdout: unsupported URI scheme binary');
    expect(refused(() => parseStdio({ stdout: '/f/out', stderr: 'fifo:///f/err' }, { logFile: true }))).toBe('stderr: unsupported URI scheme fifo');
    expect(refused(() => parseStdio({ stdin: 'file:///f/in' }, { logFile: true }))).toBe('stdin: unsupported URI scheme file');
    expect(refused(() => parseStdio({ stdout: 'ttrpc+unix:///run/x.sock' }, { logFile: true }))).toBe('stdout: unsupported URI scheme ttrpc+unix');
  });

  test('relative FIFO paths are refused (the shim opens nothing relative)', () => {
    expect(refused(() => parseStdio({ stdout: 'out.fifo' }, { logFile: true }))).toBe('stdout: a FIFO path must be absolute: "out.fifo"');
  });

  test('an exec takes FIFOs only: file:// is the task\'s log', () => {
    expect(refused(() => parseStdio({ stdout: 'file:///tmp/e.log', stderr: 'file:///tmp/e.log' }, { logFile: false }))).toBe(
      "stdout: file:// is only for a task's own process; an exec's output goes to FIFOs",
    );
  });
});

describe('checkFifos and prepareLogFile (a real directory)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stdio-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('FIFOs must exist and be FIFOs', async () => {
    const fifo = join(dir, 'out');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await expect(checkFifos({ stdout: fifo, stderr: fifo, terminal: false })).resolves.toBeUndefined();
    expect(await refusedAsync(checkFifos({ stdin: join(dir, 'gone'), terminal: false }))).toBe(`stdin: ${join(dir, 'gone')}: no such FIFO`);
    const file = join(dir, 'plain.log');
    writeFileSync(file, 'keep me');
    expect(await refusedAsync(checkFifos({ stdout: fifo, stderr: file, terminal: false }))).toBe(`stderr: ${file} is not a FIFO (a log file is given as file://${file})`);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  test('the log file and its missing directories are made (0755, 0644); an existing file is kept', async () => {
    const log = join(dir, 'a', 'b', 'c.log');
    await prepareLogFile({ logFile: log, logField: 'stdout', terminal: false });
    expect(statSync(join(dir, 'a', 'b')).mode & 0o777).toBe(0o755 & ~process.umask());
    expect(statSync(log).mode & 0o777).toBe(0o644 & ~process.umask());
    writeFileSync(log, 'earlier\n');
    await prepareLogFile({ logFile: log, logField: 'stdout', terminal: false });
    expect(readFileSync(log, 'utf8')).toBe('earlier\n');
    // A path through a regular file cannot be made: refused, naming the field.
    expect(await refusedAsync(prepareLogFile({ logFile: join(log, 'x.log'), logField: 'stderr', terminal: false }))).toMatch(
      new RegExp(`^stderr: file://${join(log, 'x.log')}: (EEXIST|ENOTDIR)`),
    );
    await expect(prepareLogFile({ terminal: false })).resolves.toBeUndefined();
  });
});
