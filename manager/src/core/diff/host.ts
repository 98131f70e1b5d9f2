// The few file operations Node has no API for, done by small programs:
//   - device nodes and fifos: `mknod` (coreutils)
//   - xattrs: `getfattr` / `setfattr` (Debian package `attr`)
// Both xattr programs are run once per tree (getfattr -R) or once per layer (setfattr
// --restore), never once per file, and always with -h so a symlink is never followed.
// Callers hand over paths they have already resolved inside the target (no symlink in any
// parent), and the layer being applied is the only writer of that tree.

import { spawn } from 'node:child_process';
import { ManagerError, notImplemented } from '../errors';

export interface RunResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

export function run(cmd: string, args: string[], input?: Buffer): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        const pkg = cmd === 'mknod' ? 'coreutils' : cmd === 'zstd' ? 'zstd' : 'attr';
        reject(notImplemented(`${cmd} is not installed (Debian package ${pkg})`));
      } else reject(e);
    });
    child.stdin.on('error', () => undefined); // EPIPE if the program exits early: its exit code says why
    child.on('close', (code) =>
      resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString().trim(), code: code ?? -1 }),
    );
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

async function mustRun(cmd: string, args: string[], input?: Buffer): Promise<Buffer> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) throw new ManagerError('Internal', `${cmd} ${args.join(' ')}: ${r.stderr || `exit ${r.code}`}`);
  return r.stdout;
}

export type NodeKind = 'char' | 'block' | 'fifo';

/** Creates a device node or fifo at an absolute path (mode 0; the caller sets owner and mode). */
export async function mknod(path: string, kind: NodeKind, major = 0, minor = 0): Promise<void> {
  const args = ['-m', '0', '--', path];
  if (kind === 'fifo') args.push('p');
  else args.push(kind === 'char' ? 'c' : 'b', String(major), String(minor));
  await mustRun('mknod', args);
}

// getfattr/setfattr escape file names: backslash and non-printable bytes as \ooo (octal).
function escapePath(path: string): Buffer {
  const out: number[] = [];
  for (const b of Buffer.from(path)) {
    if (b <= 0x20 || b === 0x5c || b === 0x7f || b >= 0x80) {
      out.push(0x5c, ...Buffer.from(b.toString(8).padStart(3, '0')));
    } else out.push(b);
  }
  return Buffer.from(out);
}

function unescapePath(buf: Buffer): string {
  const out: number[] = [];
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x5c && i + 3 < buf.length + 0 && /^[0-7]{3}$/.test(buf.toString('latin1', i + 1, i + 4))) {
      out.push(parseInt(buf.toString('latin1', i + 1, i + 4), 8));
      i += 3;
    } else out.push(buf[i]!);
  }
  return Buffer.from(out).toString('utf8');
}

function decodeValue(text: string): Buffer {
  if (text.startsWith('0s')) return Buffer.from(text.slice(2), 'base64');
  if (text.startsWith('0x')) return Buffer.from(text.slice(2), 'hex');
  if (text.startsWith('"') && text.endsWith('"')) return Buffer.from(text.slice(1, -1));
  return Buffer.from(text);
}

/**
 * Every xattr in a tree, by absolute path (only paths that have any), read without following
 * symlinks. One getfattr process for the whole tree.
 */
export async function readTreeXattrs(dir: string): Promise<Map<string, Map<string, Buffer>>> {
  const r = await run('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', dir]);
  if (r.code !== 0) throw new ManagerError('Internal', `getfattr ${dir}: ${r.stderr || `exit ${r.code}`}`);
  const result = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | null = null;
  let start = 0;
  const text = r.stdout;
  while (start < text.length) {
    let end = text.indexOf(0x0a, start);
    if (end === -1) end = text.length;
    const line = text.subarray(start, end);
    start = end + 1;
    if (line.length === 0) continue;
    const FILE = Buffer.from('# file: ');
    if (line.subarray(0, FILE.length).equals(FILE)) {
      current = new Map();
      result.set(unescapePath(line.subarray(FILE.length)), current);
      continue;
    }
    const eq = line.indexOf(0x3d);
    if (current === null || eq <= 0) continue;
    current.set(line.toString('utf8', 0, eq), decodeValue(line.toString('latin1', eq + 1)));
  }
  return result;
}

/** Sets xattrs on many paths in one setfattr process, never following a symlink. */
export async function writeXattrs(entries: Iterable<[string, Map<string, Buffer>]>): Promise<void> {
  const parts: Buffer[] = [];
  for (const [path, attrs] of entries) {
    if (attrs.size === 0) continue;
    parts.push(Buffer.from('# file: '), escapePath(path), Buffer.from('\n'));
    for (const [name, value] of attrs) {
      if (!/^[\x21-\x7e]+$/.test(name) || name.includes('=')) {
        throw new ManagerError('InvalidArgument', `xattr name ${JSON.stringify(name)} on ${path} cannot be set`);
      }
      parts.push(Buffer.from(`${name}=0s${value.toString('base64')}\n`));
    }
    parts.push(Buffer.from('\n'));
  }
  if (parts.length === 0) return;
  await mustRun('setfattr', ['-h', '--restore=-'], Buffer.concat(parts));
}
