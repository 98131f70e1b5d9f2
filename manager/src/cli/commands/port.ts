// berth port: the container's published ports. berth publishes none until networks exist
// (a later issue), so the answer is Docker's for a container without published ports:
// nothing for the whole list, an error for a port asked by number.

import type { CommandSpec } from '../command';
import { CliError, UsageError } from '../errors';
import { resolveContainer } from '../containers/resolve';

export const command: CommandSpec = {
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  summary: 'List port mappings or a specific mapping for the container',
  options: [],
  args: { min: 1, max: 2 },
  async run(ctx, parsed) {
    const [ref, port] = parsed.args as [string, string | undefined];
    let wanted: string | undefined;
    if (port !== undefined) {
      const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(port);
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new UsageError(`Invalid port: ${port}`, ctx.commandPath);
      wanted = `${Number(m[1])}/${m[2] ?? 'tcp'}`;
    }
    // Resolved all the same: an unknown container is an error either way.
    await resolveContainer(await ctx.daemon(), ref);
    if (wanted) throw new CliError(`No public port '${wanted}' published for ${ref}`);
  },
};
