// What the container commands of the "ops" group share: acting on several containers as Docker
// does (each named container in turn, its name echoed on success, an error line per failure,
// exit 1 if any failed), and reading a task's status.

import type { CommandContext } from '../command';
import type { Daemon } from '../daemon';
import { CliError, describeError, grpcCode, NOT_FOUND } from '../errors';
import { listContainers, matchContainer, type ContainerRecord } from '../containers/resolve';


/** Runs `fn` for each reference; prints the reference when it succeeds. Returns the exit status. */
export async function forEachContainer(ctx: CommandContext, refs: string[], fn: (d: Daemon, c: ContainerRecord) => Promise<void>): Promise<number> {
  const d = await ctx.daemon();
  const all = await listContainers(d);
  let failed = false;
  for (const ref of refs) {
    try {
      await fn(d, matchContainer(all, ref));
      ctx.io.stdout.write(`${ref}\n`);
    } catch (err) {
      failed = true;
      ctx.io.stderr.write(`berth: ${describeError(err, ctx.globals.host).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

/** The task's status (RUNNING, PAUSED, STOPPED, CREATED, ...), or undefined without a task. */
export async function taskStatus(d: Daemon, id: string): Promise<string | undefined> {
  try {
    const { process } = await d.tasks.Get({ containerId: id });
    return process?.status;
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return undefined;
    throw err;
  }
}

/** Docker's "Container <id> is not running" (exit 1). */
export const notRunning = (id: string) => new CliError(`Container ${id} is not running`);
