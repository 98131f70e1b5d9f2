// Docker's way with commands over several containers (stop a b c, rm a b): each is tried,
// the ones that worked are printed as the user named them, each failure is one line on
// stderr, and the exit status is 1 if any failed.

import type { CommandContext } from '../command';
import type { Daemon } from '../daemon';
import { describeError } from '../errors';
import { resolveContainer, type ContainerRecord } from './resolve';

export async function eachContainer(
  ctx: CommandContext,
  refs: string[],
  fn: (d: Daemon, c: ContainerRecord, ref: string) => Promise<string | void>,
): Promise<number> {
  const d = await ctx.daemon();
  let status = 0;
  for (const ref of refs) {
    try {
      const out = await fn(d, await resolveContainer(d, ref), ref);
      ctx.io.stdout.write(`${out ?? ref}\n`);
    } catch (err) {
      const { message, exitCode } = describeError(err, ctx.globals.host);
      // berthd unreachable: the others would fail the same way
      if (exitCode === 125 && /cannot connect|permission denied connecting/.test(message)) throw err;
      ctx.io.stderr.write(`berth: ${message}\n`);
      status = 1;
    }
  }
  return status;
}
