// berth network connect [--ip IP] [--alias A]... NETWORK CONTAINER: the container's next
// interface (eth1, eth2, …) on that network, at once, running or not.

import type { CommandSpec } from '../command';
import { UsageError } from '../errors';
import { resolveContainer } from '../containers/resolve';
import { networkError } from '../networks/view';
import { parseIPv4 } from '../../core/networks/ipv4';

export const command: CommandSpec = {
  usage: '[OPTIONS] NETWORK CONTAINER',
  summary: 'Connect a container to a network',
  options: [
    { long: 'alias', type: 'list', description: 'Add network-scoped alias for the container' },
    { long: 'ip', type: 'string', description: 'IPv4 address (e.g., 172.30.100.104)' },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, parsed) {
    const [network, ref] = parsed.args as [string, string];
    const ip = parsed.string('ip') ?? '';
    if (ip !== '' && parseIPv4(ip) === undefined) throw new UsageError(`invalid argument "${ip}" for "--ip" flag: invalid IPv4 address`, ctx.commandPath);
    const d = await ctx.daemon();
    const c = await resolveContainer(d, ref);
    await d.networks.Connect({ containerId: c.id, network, ipv4Address: ip, aliases: parsed.list('alias') }).catch((err: unknown) => {
      throw networkError(err);
    });
  },
};
