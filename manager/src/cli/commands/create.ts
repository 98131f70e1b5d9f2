// berth create [OPTIONS] IMAGE [COMMAND] [ARG...]: a container made as `run` makes it, not
// started; prints its id.

import type { CommandSpec } from '../command';
import { asDaemonError, createContainer } from '../containers/create';
import { ensureImage } from '../registry/ensure-image';
import { CREATE_OPTIONS, parseRunOptions } from '../containers/run-options';

export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create a new container',
  options: CREATE_OPTIONS,
  args: { min: 1 },
  stopAtFirstArgument: true,
  async run(ctx, parsed) {
    const opts = await parseRunOptions(parsed, ctx.commandPath, ctx.io.env, { run: false });
    const d = await ctx.daemon();
    const local = await ensureImage(ctx, d, opts.image, opts.pull);
    const c = await createContainer(d, opts, ctx.globals.namespace, local).catch(asDaemonError);
    ctx.io.stdout.write(`${c.id}\n`);
  },
};
