// The stdio fields of Tasks.Create and Tasks.Exec, read the way containerd 1.6's runc shim reads
// them (pkg/process/io.go):
//   - a value without a scheme is a FIFO the client made (ctr puts them under
//     /run/containerd/fifo/) and reads or writes itself;
//   - `file:///path` is what `ctr run --log-uri file:///path` (cio.LogURI) sends as both stdout
//     and stderr: "append the process's output to this file". containerd's shim creates the
//     directory and the file (0755, 0644) and appends both streams' raw bytes. Here berth-shim
//     writes the file (its raw log format), so the log keeps growing while berthd is down;
//   - `binary://` (a logging program the shim would run) and any other scheme are refused.
// Everything here is checked before anything is created, so a bad field costs nothing.

import { promises as fs } from 'fs';
import { dirname } from 'path';
import { fileURLToPath } from 'url';
import { invalidArgument } from '../errors';
import type { Stdio } from './manager';

/** Where a process's stdio goes, as the shim is told. */
export interface StdioPlan {
  /** FIFO paths (absolute). */
  stdin?: string;
  stdout?: string;
  stderr?: string;
  /** From file://: stdout and stderr together, raw, appended to this absolute path. */
  logFile?: string;
  /** The field that named logFile, for errors about it. */
  logField?: Field;
  terminal: boolean;
}

export type Field = 'stdin' | 'stdout' | 'stderr';

/** `scheme:` at the start, as RFC 3986 spells a scheme; an absolute path never matches. */
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

type Target = { kind: 'none' } | { kind: 'fifo'; path: string } | { kind: 'file'; path: string };

function parseField(field: Field, value: string): Target {
  if (!value) return { kind: 'none' };
  const scheme = SCHEME.exec(value)?.[1];
  if (scheme === undefined) {
    if (!value.startsWith('/')) throw invalidArgument(`${field}: a FIFO path must be absolute: ${JSON.stringify(value)}`);
    return { kind: 'fifo', path: value };
  }
  // stdin is only ever a FIFO: containerd reads no scheme there either.
  if (scheme.toLowerCase() !== 'file' || field === 'stdin') throw invalidArgument(`${field}: unsupported URI scheme ${scheme}`);
  let path: string;
  try {
    // Decodes %XX and refuses a host other than localhost (file://host/... is not ours to write).
    path = fileURLToPath(new URL(value));
  } catch (err) {
    throw invalidArgument(`${field}: ${value}: ${(err as Error).message}`);
  }
  if (path.endsWith('/')) throw invalidArgument(`${field}: ${value} names a directory, not a file`);
  return { kind: 'file', path };
}

/**
 * Checks the fields and says where each stream goes. `logFile: false` (an exec) refuses
 * file://: the shim keeps one log, the task's.
 */
export function parseStdio(stdio: Stdio, opts: { logFile: boolean }): StdioPlan {
  const stdin = parseField('stdin', stdio.stdin ?? '');
  const stdout = parseField('stdout', stdio.stdout ?? '');
  const stderr = parseField('stderr', stdio.stderr ?? '');
  const plan: StdioPlan = { terminal: !!stdio.terminal };
  if (stdin.kind === 'fifo') plan.stdin = stdin.path;
  const field: Field | undefined = stdout.kind === 'file' ? 'stdout' : stderr.kind === 'file' ? 'stderr' : undefined;
  if (field) {
    if (!opts.logFile) throw invalidArgument(`${field}: file:// is only for a task's own process; an exec's output goes to FIFOs`);
    const logFile = (field === 'stdout' ? stdout : stderr) as { path: string };
    // One file takes both streams (containerd reads stdout's URI alone and writes both there):
    // a stderr elsewhere would be merged or lost without a word, so it is refused instead.
    for (const [name, t] of [['stdout', stdout], ['stderr', stderr]] as const) {
      if (t.kind === 'fifo' || (t.kind === 'file' && t.path !== logFile.path)) {
        throw invalidArgument(`${name}: must be empty or the same file:// URI as ${field} (one log file takes both streams)`);
      }
    }
    plan.logFile = logFile.path;
    plan.logField = field;
    return plan;
  }
  if (stdout.kind === 'fifo') plan.stdout = stdout.path;
  if (stderr.kind === 'fifo') plan.stderr = stderr.path;
  return plan;
}

/**
 * The FIFOs must exist and be FIFOs: the shim opens them O_RDWR|O_NONBLOCK, which on a regular
 * file would write over it from offset 0 (a log file is asked for with file://).
 */
export async function checkFifos(plan: StdioPlan): Promise<void> {
  for (const field of ['stdin', 'stdout', 'stderr'] as const) {
    const path = plan[field];
    if (!path) continue;
    const st = await fs.stat(path).catch((err: NodeJS.ErrnoException) => {
      throw invalidArgument(`${field}: ${path}: ${err.code === 'ENOENT' ? 'no such FIFO' : err.message}`);
    });
    if (!st.isFIFO()) throw invalidArgument(`${field}: ${path} is not a FIFO (a log file is given as file://${path})`);
  }
}

/**
 * Creates the log file's directory (0755) and the file (0644) when missing, as containerd's shim
 * does, so the file's mode is not the shim's umask (0077) and a bad path fails the create here.
 */
export async function prepareLogFile(plan: StdioPlan): Promise<void> {
  const path = plan.logFile;
  if (!path) return;
  try {
    await fs.mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const fh = await fs.open(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o644);
    await fh.close();
  } catch (err) {
    throw invalidArgument(`${plan.logField ?? 'stdout'}: file://${path}: ${(err as Error).message}`);
  }
}
