// berth start [-a] [-i] CONTAINER...: starts stopped containers (a running one is left alone).
// With -a (one container): attached as run is, returning its exit status; -i attaches stdin.

import type { CommandSpec } from '../command';
import { CliError, UsageError } from '../errors';
import { eachContainer } from '../containers/each';
import { startContainer, waitExit } from '../containers/lifecycle';
import { resolveContainer } from '../containers/resolve';
import { startFailureStatus } from '../containers/start-errors';
import { TTY } from '../../core/containers/labels';
import type { AttachSession } from '../io/attach';

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Start one or more stopped containers',
  options: [
    { long: 'attach', short: 'a', type: 'boolean', description: 'Attach STDOUT/STDERR and forward signals' },
    { long: 'interactive', short: 'i', type: 'boolean', description: "Attach container's STDIN" },
    { long: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
  ],
  args: { min: 1 },
  async run(ctx, parsed) {
    const attach = parsed.bool('attach') || parsed.bool('interactive');
    if (!attach) {
      return eachContainer(ctx, parsed.args, async (d, c) => {
        await startContainer(d, c).catch((err: unknown) => {
          throw new CliError(`failed to start container ${c.id.slice(0, 12)}: ${(err as { details?: string }).details ?? (err as Error).message}`, startFailureStatus(err));
        });
      });
    }
    if (parsed.args.length > 1) throw new UsageError('you cannot start and attach multiple containers at once', ctx.commandPath);
    const d = await ctx.daemon();
    const c = await resolveContainer(d, parsed.args[0]!);
    const { attachSession } = await import('../io/attach');
    // Attached between Tasks.Create and Tasks.Start (the attach needs the task; no output is missed).
    const openSession = () =>
      attachSession(ctx, {
        containerId: c.id,
        stdin: parsed.bool('interactive'),
        tty: c.labels[TTY] === 'true',
        sigProxy: true,
        ...(parsed.has('detach-keys') ? { detachKeys: parsed.string('detach-keys')! } : {}),
      });
    let session: AttachSession | undefined;
    try {
      await startContainer(d, c, {
        beforeStart: async () => {
          session = await openSession();
          await session.ready;
        },
      });
    } catch (err) {
      session?.close();
      throw new CliError(`failed to start container ${c.id.slice(0, 12)}: ${(err as { details?: string }).details ?? (err as Error).message}`, startFailureStatus(err));
    }
    // Already running: attached to it as it is (Docker's start -a of a running container).
    session ??= await openSession();
    const exit = waitExit(d, c);
    await Promise.race([session.done, exit]);
    if (session.detached) return 0;
    const status = await exit;
    await session.done;
    return status ?? 0;
  },
};
