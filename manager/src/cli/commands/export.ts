// berth export [-o FILE] CONTAINER: the container's root filesystem as a tar (Files.Export),
// to stdout (never to a terminal) or to FILE (written beside it, renamed when complete).

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { resolveContainer } from '../containers/resolve';
import { writeAll, writeFileAtomic } from '../streams';

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER',
  summary: "Export a container's filesystem as a tar archive",
  options: [{ long: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  args: { min: 1, max: 1 },
  async run(ctx, parsed) {
    const output = parsed.string('output');
    if (output === undefined && ctx.io.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const d = await ctx.daemon();
    const c = await resolveContainer(d, parsed.args[0]!);
    const stream = d.files.Export({ containerId: c.id });
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        for await (const m of stream as AsyncIterable<{ data: Buffer }>) yield m.data;
      } finally {
        stream.cancel();
      }
    }
    if (output === undefined) await writeAll(ctx.io.stdout, chunks());
    else await writeFileAtomic(output, chunks());
  },
};
