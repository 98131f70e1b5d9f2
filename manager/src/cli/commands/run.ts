// berth run [OPTIONS] IMAGE [COMMAND] [ARG...]: create (containers/create.ts) and start.
//
//   -d       start, print the id, return
//   else     attach first (io/attach.ts; stdin with -i, a terminal with -t), start once
//            berthd's relay is connected (no output lost), print the output until it ends and
//            return the container's exit status (Docker's); the detach keys leave it running.
//            With --rm, berthd removes the container after the exit; run returns once it has.
// A process that cannot be started gives 127 (not found) or 126 (cannot be invoked).

import type { CommandSpec } from '../command';
import { CliError, NOT_FOUND } from '../errors';
import { asDaemonError, createContainer } from '../containers/create';
import { removeContainer, startContainer, waitExit } from '../containers/lifecycle';
import { ensureImage } from '../registry/ensure-image';
import { CREATE_OPTIONS, RUN_ONLY_OPTIONS, parseRunOptions } from '../containers/run-options';
import { startFailureStatus } from '../containers/start-errors';
import { runConfigOf } from '../containers/resolve';
import { removeAnonymousVolumes } from '../volumes/prepare';
import type { Daemon } from '../daemon';
import { unpackAny } from '../../api';
import type { AttachSession } from '../io/attach';


/**
 * Waits for berthd's auto-remove to take the record (Docker's client waits for "removed" too):
 * the /containers/delete event, subscribed before the container starts so it cannot be missed.
 * `removed()` is called once the exit is known; from then a slow Get covers an event stream that
 * failed, and after 10 s it stops waiting (the exit status is known already). `cancel` ends it.
 */
function watchRemoval(d: Daemon, namespace: string, id: string): { removed(): Promise<void>; cancel(): void } {
  const stream = d.events.Subscribe({ filters: [`namespace==${JSON.stringify(namespace)},topic=="/containers/delete"`] });
  let seen = false;
  let notify: (() => void) | undefined;
  stream.on('data', (env: { event: { typeUrl: string; value: Uint8Array } | null }) => {
    try {
      if (env.event && unpackAny<{ id?: string }>(env.event).message.id === id) {
        seen = true;
        notify?.();
      }
    } catch {
      // an event type this client does not know
    }
  });
  stream.on('error', () => undefined); // cancel() ends it with an error; the poll covers a real one
  return {
    async removed() {
      const giveUpAt = Date.now() + 10_000;
      const event = new Promise<void>((r) => (notify = r));
      try {
        while (!seen && Date.now() < giveUpAt) {
          try {
            await d.containers.Get({ id });
          } catch (err) {
            if ((err as { code?: number }).code === NOT_FOUND) return;
            throw err;
          }
          await Promise.race([event, new Promise((r) => setTimeout(r, 250))]);
        }
      } finally {
        stream.cancel();
      }
    },
    cancel: () => stream.cancel(),
  };
}

export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create and run a new container from an image',
  // by code point, not localeCompare: the first localeCompare of a process sets up ICU's
  // collator (~7 ms of every `berth run`); option names are ASCII, so the order is the same
  options: [...CREATE_OPTIONS, ...RUN_ONLY_OPTIONS].sort((a, b) => (a.long < b.long ? -1 : a.long > b.long ? 1 : 0)),
  args: { min: 1 },
  stopAtFirstArgument: true,
  async run(ctx, parsed) {
    const opts = await parseRunOptions(parsed, ctx.commandPath, ctx.io.env, { run: true });
    const { io } = ctx;
    const attachStdin = !opts.detach && opts.interactive && (opts.attach.length === 0 || opts.attach.includes('stdin'));
    if (attachStdin && opts.tty && !io.stdin.isTTY) throw new CliError('the input device is not a TTY');
    const d = await ctx.daemon();
    const local = await ensureImage(ctx, d, opts.image, opts.pull);
    const c = await createContainer(d, opts, ctx.globals.namespace, local).catch(asDaemonError);

    const failStart = async (err: unknown): Promise<never> => {
      // --rm: as berthd's auto-remove would have, anonymous volumes included
      if (opts.rm) await removeContainer(d, c, { force: true, ref: c.id }).then(() => removeAnonymousVolumes(d, runConfigOf(c))).catch(() => undefined);
      const message = (err as { details?: string; message?: string }).details ?? (err as Error).message;
      throw new CliError(`failed to start container ${c.id.slice(0, 12)}: ${message}`, startFailureStatus(err));
    };

    if (opts.detach) {
      await startContainer(d, c, { created: true }).catch(failStart);
      io.stdout.write(`${c.id}\n`);
      return 0;
    }

    // Subscribed before the start: the removal may follow the exit at once.
    const removal = opts.rm ? watchRemoval(d, ctx.globals.namespace, c.id) : undefined;
    const { attachSession } = await import('../io/attach');
    const streams = opts.attach.length ? opts.attach.filter((s): s is 'stdout' | 'stderr' => s !== 'stdin') : (['stdout', 'stderr'] as const);
    // The attach needs the task (berthd connects to its shim), and the task must not run
    // before the attach is connected: between Tasks.Create and Tasks.Start.
    let session: AttachSession | undefined;
    try {
      await startContainer(d, c, {
        created: true,
        beforeStart: async () => {
          session = await attachSession(ctx, { containerId: c.id, stdin: attachStdin, tty: opts.tty, sigProxy: opts.sigProxy, streams: [...streams] });
          await session.ready;
        },
      }).catch(failStart);
    } catch (err) {
      session?.close();
      removal?.cancel();
      throw err;
    }
    if (!session) throw new CliError('internal error: no attach session');
    const exit = waitExit(d, c);
    await Promise.race([session.done, exit]);
    if (session.detached) {
      removal?.cancel();
      return 0;
    }
    const status = await exit;
    await session.done;
    await removal?.removed();
    return status ?? 0;
  },
};
