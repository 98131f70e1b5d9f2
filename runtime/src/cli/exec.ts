import { readFileSync } from 'fs';
import { isAbsolute } from 'path';
import type { Command } from './commands';
import { log } from './log';
import { forwardSignals } from './run';
import { execContainer, type ProcessOverrides } from '../lib/exec';
import { invalidArgument } from '../util/errors';

// runc's exec command line: flags before the id, then the command and its arguments
// verbatim (`exec ID sh -c ...`: "-c" belongs to sh). With --process the file is the whole
// process, so the flags that would change it are refused rather than silently dropped.

/** runc's status for a failed exec, so a caller can tell it from the process's own 1. */
const EXEC_FAILED = 255;

const PROCESS_FLAGS = ['env', 'cwd', 'user', 'additional-gids', 'cap', 'no-new-privs', 'tty'] as const;

const command: Command = {
  usage: 'exec [--process FILE] [--tty] [--console-socket PATH] [--detach] [--pid-file FILE] [--env K=V]... [--cwd DIR] [--user UID[:GID]] [--additional-gids GID]... [--cap CAP]... [--no-new-privs] [--preserve-fds N] [--ignore-paused] ID [COMMAND [ARG...]]',
  flags: {
    'console-socket': { type: 'string' },
    cwd: { type: 'string' },
    env: { type: 'strings', alias: ['e'] },
    tty: { type: 'bool', alias: ['t'] },
    user: { type: 'string', alias: ['u'] },
    'additional-gids': { type: 'strings', alias: ['g'] },
    process: { type: 'string', alias: ['p'] },
    detach: { type: 'bool', alias: ['d'] },
    'pid-file': { type: 'string' },
    'process-label': { type: 'string' },
    apparmor: { type: 'string' },
    'no-new-privs': { type: 'bool' },
    cap: { type: 'strings', alias: ['c'] },
    'preserve-fds': { type: 'int' },
    'ignore-paused': { type: 'bool' },
  },
  async run(ctx, flags, args) {
    try {
      return await execCommand(ctx, flags, args);
    } catch (err) {
      log('error', err instanceof Error ? err.message : String(err));
      return EXEC_FAILED;
    }
  },
};
export default command;

const execCommand: Command['run'] = async (ctx, flags, args) => {
  const [id, ...rest] = args;
  if (!id) throw invalidArgument('"exec" requires a container id');
  // `exec ID -- cmd` as docker users type it: the separator is not the command.
  const cmd = rest[0] === '--' ? rest.slice(1) : rest;
  // berth has no LSM support: say so instead of pretending the label was applied.
  if (flags['process-label'] !== undefined) ctx.warn('--process-label is ignored: berth does not apply SELinux labels');
  if (flags.apparmor !== undefined) ctx.warn('--apparmor is ignored: berth does not apply AppArmor profiles');
  const preserveFds = (flags['preserve-fds'] as number | undefined) ?? 0;
  if (preserveFds < 0) throw invalidArgument('--preserve-fds must not be negative');

  let proc: { file: unknown } | { overrides: ProcessOverrides };
  const file = flags.process as string | undefined;
  if (file !== undefined) {
    if (cmd.length) throw invalidArgument('exec: give either --process or a command, not both');
    const parsed = readProcessFile(file);
    // conmon runs `exec --process FILE --detach --tty --console-socket S` for `podman exec -t`
    // (runc ignores --tty there): a --tty that agrees with the file's terminal changes nothing.
    const agrees = (f: string) => f === 'tty' && flags.tty === true && (parsed as { terminal?: unknown } | null)?.terminal === true;
    const given = PROCESS_FLAGS.filter((f) => flags[f] !== undefined && !agrees(f));
    if (given.length) throw invalidArgument(`--${given[0]} cannot be used with --process: the file is the whole process`);
    proc = { file: parsed };
  } else {
    if (!cmd.length) throw invalidArgument('exec: a command is required (or --process FILE)');
    proc = { overrides: overrides(flags, cmd) };
  }

  const detach = Boolean(flags.detach);
  const { init } = await execContainer(ctx, {
    id,
    process: proc,
    consoleSocket: flags['console-socket'] as string | undefined,
    detach,
    pidFile: flags['pid-file'] as string | undefined,
    ignorePaused: Boolean(flags['ignore-paused']),
    preserveFds,
  });
  if (detach) {
    init.release();
    return 0;
  }
  const stop = forwardSignals(init.stage0);
  const status = await init.exited;
  stop();
  return status;
};

function readProcessFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw invalidArgument(`--process: cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`--process: ${path}: invalid JSON: ${(err as Error).message}`);
  }
}

/** The flags as changes to config.json's process; each error names its flag. */
export function overrides(flags: Record<string, unknown>, args: string[]): ProcessOverrides {
  const o: ProcessOverrides = { args, terminal: Boolean(flags.tty) };
  const env = flags.env as string[] | undefined;
  if (env) {
    for (const e of env) if (!/^[^=]+=/.test(e)) throw invalidArgument(`--env ${JSON.stringify(e)}: must have the form KEY=VALUE`);
    o.env = env;
  }
  const cwd = flags.cwd as string | undefined;
  if (cwd !== undefined) {
    if (!isAbsolute(cwd)) throw invalidArgument(`--cwd ${JSON.stringify(cwd)}: must be an absolute path`);
    o.cwd = cwd;
  }
  const user = flags.user as string | undefined;
  if (user !== undefined) Object.assign(o, parseUser(user));
  const gids = flags['additional-gids'] as string[] | undefined;
  if (gids) o.additionalGids = gids.map((g) => id(g, '--additional-gids'));
  if (flags.cap) o.caps = flags.cap as string[];
  if (flags['no-new-privs'] !== undefined) o.noNewPrivileges = Boolean(flags['no-new-privs']);
  return o;
}

/** UID[:GID], numbers only: there is no /etc/passwd lookup in the container (runc neither). */
export function parseUser(s: string): { uid: number; gid?: number } {
  const [uid, gid, ...more] = s.split(':');
  if (more.length) throw invalidArgument(`--user ${JSON.stringify(s)}: expected UID[:GID]`);
  const out: { uid: number; gid?: number } = { uid: id(uid!, '--user uid') };
  if (gid !== undefined) out.gid = id(gid, '--user gid');
  return out;
}

function id(s: string, what: string): number {
  if (!/^\d+$/.test(s) || Number(s) > 0xffffffff) throw invalidArgument(`${what} ${JSON.stringify(s)}: not a number from 0 to 4294967295`);
  return Number(s);
}
