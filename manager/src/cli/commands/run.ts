// berth run [OPTIONS] IMAGE [COMMAND] [ARG...]: create (containers/create.ts) and start.
//
//   -d       start, print the id, return
//   else     attach first (io/attach.ts; stdin with -i, a terminal with -t), start once
//            berthd's relay is connected (no output lost), print the output until it ends and
//            return the container's exit status (Docker's); the detach keys leave it running.
//            With --rm, berthd removes the container after the exit; run returns once it has.
// A process that cannot be started gives 127 (not found) or 126 (cannot be invoked).

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { asDaemonError, createContainer } from '../containers/create';
import { removeContainer, startContainer, waitExit } from '../containers/lifecycle';
import { CREATE_OPTIONS, RUN_ONLY_OPTIONS, parseRunOptions } from '../containers/run-options';
import { startFailureStatus } from '../containers/start-errors';
import type { Daemon } from '../daemon';
import type { AttachSession } from '../io/attach';

const NOT_FOUND = 5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until berthd's auto-remove has taken the record (Docker's client waits for "removed" too). */
async function waitRemoved(d: Daemon, id: string, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      await d.containers.Get({ id });
    } catch (err) {
      if ((err as { code?: number }).code === NOT_FOUND) return;
      throw err;
    }
    await sleep(20);
  }
}

export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create and run a new container from an image',
  options: [...CREATE_OPTIONS, ...RUN_ONLY_OPTIONS].sort((a, b) => a.long.localeCompare(b.long)),
  args: { min: 1 },
  stopAtFirstArgument: true,
  async run(ctx, parsed) {
    const opts = await parseRunOptions(parsed, ctx.commandPath, ctx.io.env, { run: true });
    const { io } = ctx;
    const attachStdin = !opts.detach && opts.interactive && (opts.attach.length === 0 || opts.attach.includes('stdin'));
    if (attachStdin && opts.tty && !io.stdin.isTTY) throw new CliError('the input device is not a TTY');
    const d = await ctx.daemon();
    const c = await createContainer(d, opts, ctx.globals.namespace).catch(asDaemonError);

    const failStart = async (err: unknown): Promise<never> => {
      if (opts.rm) await removeContainer(d, c, { force: true, ref: c.id }).catch(() => undefined);
      const message = (err as { details?: string; message?: string }).details ?? (err as Error).message;
      throw new CliError(`failed to start container ${c.id.slice(0, 12)}: ${message}`, startFailureStatus(err));
    };

    if (opts.detach) {
      await startContainer(d, c).catch(failStart);
      io.stdout.write(`${c.id}\n`);
      return 0;
    }

    const { attachSession } = await import('../io/attach');
    const streams = opts.attach.length ? opts.attach.filter((s): s is 'stdout' | 'stderr' => s !== 'stdin') : (['stdout', 'stderr'] as const);
    // The attach needs the task (berthd connects to its shim), and the task must not run
    // before the attach is connected: between Tasks.Create and Tasks.Start.
    let session: AttachSession | undefined;
    try {
      await startContainer(d, c, {
        beforeStart: async () => {
          session = await attachSession(ctx, { containerId: c.id, stdin: attachStdin, tty: opts.tty, sigProxy: opts.sigProxy, streams: [...streams] });
          await session.ready;
        },
      }).catch(failStart);
    } catch (err) {
      session?.close();
      throw err;
    }
    if (!session) throw new CliError('internal error: no attach session');
    const exit = waitExit(d, c);
    await Promise.race([session.done, exit]);
    if (session.detached) return 0;
    const status = await exit;
    await session.done;
    if (opts.rm) await waitRemoved(d, c.id);
    return status ?? 0;
  },
};
