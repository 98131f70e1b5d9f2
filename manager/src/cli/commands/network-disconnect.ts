// berth network disconnect [-f] NETWORK CONTAINER: the container's interface on that network goes
// (CNI DEL: its address and rules with it). -f: not being connected is no error.

import type { CommandSpec } from '../command';
import { grpcCode, NOT_FOUND } from '../errors';
import { resolveContainer } from '../containers/resolve';
import { networkError } from '../networks/view';


export const command: CommandSpec = {
  usage: '[OPTIONS] NETWORK CONTAINER',
  summary: 'Disconnect a container from a network',
  options: [{ long: 'force', short: 'f', type: 'boolean', description: 'Force the container to disconnect from a network' }],
  args: { min: 2, max: 2 },
  async run(ctx, parsed) {
    const [network, ref] = parsed.args as [string, string];
    const d = await ctx.daemon();
    const c = await resolveContainer(d, ref);
    await d.networks.Disconnect({ containerId: c.id, network }).catch((err: unknown) => {
      if (parsed.bool('force') && grpcCode(err) === NOT_FOUND) return;
      throw networkError(err);
    });
  },
};
