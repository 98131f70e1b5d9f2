// berth exec [-d] [-i] [-t] [-e K=V] [--env-file F] [-w DIR] [-u USER[:GROUP]] [--privileged]
// CONTAINER COMMAND [ARG...]: another process in a running container (Tasks.Exec with the
// container's process as the base), attached through berthd (berth.io.v1.IO/Attach) unless
// -d. berth exits with the process's status; 126 when it cannot be run, 127 when not found,
// as Docker's.

import { randomBytes } from 'crypto';
import { readFileSync } from 'fs';
import { readFile } from 'fs/promises';
import { capabilityNumber, maskHas } from '@berth/runtime/dist/plan/capabilities';
import { PROCESS_SPEC_TYPE_URL, packJsonAny } from '../../api';
import type { CommandSpec } from '../command';
import { ALL_CAPS } from '../containers/spec';
import { resolveContainer, specOf } from '../containers/resolve';
import { containerEtcFiles, passwdHome, resolveUser, type EtcFilesReader } from '../containers/user';
import { parseEnvLines, resolveEnv } from '../containers/run-options';
import { CliError, UsageError, isGrpcError } from '../errors';
import { attachSession } from '../io/attach';
import { DETACHED_EXEC_PREFIX } from '../../core/containers/detached-exec';

/** The container's /etc files read at most once per exec (the user and HOME both need them). */
function onceReader(read: EtcFilesReader): EtcFilesReader {
  let files: ReturnType<EtcFilesReader> | undefined;
  return () => (files ??= read());
}

interface ProcessSpec {
  terminal?: boolean;
  user?: { uid: number; gid: number; additionalGids?: number[] };
  args?: string[];
  env?: string[];
  cwd?: string;
  capabilities?: Record<string, string[]>;
  [k: string]: unknown;
}

/**
 * -u NAME|UID[:GROUP|GID]: resolved as runc resolves an exec's user, in the container's own
 * /etc/passwd and /etc/group as they are now (read through berthd: the client has no access to
 * the container's files). A user that does not exist there cannot run anything: Docker's 126.
 */
async function execUser(files: EtcFilesReader, user: string): Promise<NonNullable<ProcessSpec['user']>> {
  try {
    const r = await resolveUser(user, files);
    return { uid: r.uid, gid: r.gid, ...(r.additionalGids.length ? { additionalGids: r.additionalGids } : {}) };
  } catch (err) {
    if (err instanceof CliError) throw new CliError(`OCI runtime exec failed: ${err.message}`, 126);
    throw err;
  }
}

/**
 * HOME for the process when its environment has none (the container's and -e's): the user's
 * home in the container's /etc/passwd, "/" when it has no entry — what runc gives an exec
 * (Docker's `exec -u nobody` sees HOME=/home or /nonexistent, not root's). PATH stays the
 * container's.
 */
async function homeEnv(env: string[], files: EtcFilesReader, user: string | undefined, uid: number): Promise<string[]> {
  if (env.some((e) => e.startsWith('HOME='))) return [];
  const name = user?.split(':')[0];
  return [`HOME=${passwdHome((await files()).passwd, name && !/^\d+$/.test(name) ? { name } : { uid })}`];
}

/**
 * --privileged: every capability there is — that the host's bounding set has (as Docker's
 * GetAllCapabilities): a capability the host withholds cannot be given (capset fails). berth
 * runs beside berthd, whose shims start the process with the same bounding set as root here.
 */
function privilegedCaps(): string[] {
  const bounding = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return ALL_CAPS.filter((c) => {
    const n = capabilityNumber(c);
    return n !== undefined && (bounding === undefined || maskHas(bounding, n));
  });
}

/** Docker's codes for a process that could not be started: 127 not found, 126 not runnable. */
function startFailure(err: unknown): CliError {
  const msg = isGrpcError(err) ? err.details : (err as Error).message;
  const notFound = /no such file|not found|ENOENT/i.test(msg);
  return new CliError(`OCI runtime exec failed: ${msg}`, notFound ? 127 : 126);
}

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  summary: 'Execute a command in a running container',
  options: [
    { long: 'detach', short: 'd', type: 'boolean', description: 'Detached mode: run command in the background' },
    { long: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    { long: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
    { long: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
    { long: 'interactive', short: 'i', type: 'boolean', description: 'Keep STDIN open even if not attached' },
    { long: 'privileged', type: 'boolean', description: 'Give extended privileges to the command' },
    { long: 'tty', short: 't', type: 'boolean', description: 'Allocate a pseudo-TTY' },
    { long: 'user', short: 'u', type: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { long: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  ],
  args: { min: 2 },
  stopAtFirstArgument: true,
  async run(ctx, parsed) {
    const path = ctx.commandPath;
    const [ref, ...cmd] = parsed.args;
    const workdir = parsed.string('workdir');
    if (workdir !== undefined && !workdir.startsWith('/')) throw new UsageError(`the working directory ${JSON.stringify(workdir)} is invalid: it needs to be an absolute path`, path);
    const env: string[] = [];
    for (const f of parsed.list('env-file')) env.push(...parseEnvLines(await readFile(f, 'utf8'), ctx.io.env));
    for (const e of parsed.list('env')) env.push(...resolveEnv(e, ctx.io.env));

    const d = await ctx.daemon();
    const c = await resolveContainer(d, ref!);
    const task = await d.tasks.Get({ containerId: c.id, execId: '' }).catch(() => undefined);
    const status = task?.process?.status;
    if (status === 'PAUSED') throw new CliError(`container ${c.id} is paused, unpause the container before exec`);
    if (status !== 'RUNNING') throw new CliError(`container ${c.id} is not running`);

    const user = parsed.string('user');
    const base = ((specOf(c) as { process?: ProcessSpec }).process ?? {}) as ProcessSpec;
    const tty = parsed.bool('tty');
    const files = onceReader(containerEtcFiles(d, c.id));
    const procUser = user ? await execUser(files, user) : base.user;
    // Later entries win in the runtime, as Docker's exec env overrides the container's.
    const procEnv = [...(base.env ?? []), ...env];
    if (user) procEnv.push(...(await homeEnv(procEnv, files, user, procUser?.uid ?? 0)));
    const proc: ProcessSpec = {
      ...base,
      terminal: tty,
      args: cmd,
      env: procEnv,
      cwd: workdir ?? base.cwd ?? '/',
      ...(procUser ? { user: procUser } : {}),
    };
    if (parsed.bool('privileged')) {
      const all = privilegedCaps();
      proc.capabilities = { bounding: all, effective: all, permitted: all, inheritable: all, ambient: [] };
    }
    // 128 random bits: unique enough, and short enough for the shim's console-<id>.sock path
    // under a long --state (Docker's 64 hex characters would not fit there).
    // A detached exec's id tells berthd to delete its record once it exits (nobody waits for it).
    const execId = `${parsed.bool('detach') ? DETACHED_EXEC_PREFIX : ''}${randomBytes(16).toString('hex')}`;
    await d.tasks.Exec({ containerId: c.id, execId, terminal: tty, stdin: '', stdout: '', stderr: '', spec: packJsonAny(PROCESS_SPEC_TYPE_URL, proc) });
    const forget = () => d.tasks.DeleteProcess({ containerId: c.id, execId }).catch(() => undefined);

    if (parsed.bool('detach')) {
      await d.tasks.Start({ containerId: c.id, execId }).catch(async (err) => {
        await forget();
        throw startFailure(err);
      });
      return 0;
    }

    const stdin = parsed.bool('interactive');
    const session = await attachSession(ctx, {
      containerId: c.id,
      execId,
      stdin,
      tty,
      sigProxy: false,
      ...(parsed.string('detach-keys') !== undefined ? { detachKeys: parsed.string('detach-keys')! } : {}),
    });
    try {
      await session.ready;
      await d.tasks.Start({ containerId: c.id, execId }).catch(async (err) => {
        session.close();
        await forget();
        throw startFailure(err);
      });
      await session.done;
    } finally {
      session.close();
    }
    if (session.detached) return 0;
    const exit = await d.tasks.Wait({ containerId: c.id, execId });
    await forget();
    return exit.exitStatus;
  },
};
