// berth network create [-d bridge] [--subnet CIDR] [--gateway IP] [--ip-range CIDR] [--internal]
// [--label K=V]... NAME: a bridge network (CNI conflist in berthd); prints its id. Without
// --subnet berthd picks a free one from its address pools.

import type { CommandSpec } from '../command';
import { UsageError } from '../errors';
import { networkError } from '../networks/view';

export const command: CommandSpec = {
  usage: '[OPTIONS] NETWORK',
  summary: 'Create a network',
  options: [
    { long: 'driver', short: 'd', type: 'string', description: 'Driver to manage the Network', defaultText: '"bridge"' },
    { long: 'gateway', type: 'list', description: 'IPv4 Gateway for the master subnet' },
    { long: 'internal', type: 'boolean', description: 'Restrict external access to the network' },
    { long: 'ip-range', type: 'list', description: 'Allocate container ip from a sub-range' },
    { long: 'label', type: 'list', description: 'Set metadata on a network' },
    { long: 'subnet', type: 'list', description: 'Subnet in CIDR format that represents a network segment' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, parsed) {
    const one = (flag: string): string => {
      const v = parsed.list(flag);
      if (v.length > 1) throw new UsageError(`--${flag}: berth's networks take one IPv4 subnet, so one --${flag}`, ctx.commandPath);
      return v[0] ?? '';
    };
    const labels: Record<string, string> = {};
    for (const l of parsed.list('label')) {
      const eq = l.indexOf('=');
      if (eq === 0) throw new UsageError(`invalid argument "${l}" for "--label" flag: empty name`, ctx.commandPath);
      labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
    }
    const d = await ctx.daemon();
    const r = await d.networks
      .Create({ name: parsed.args[0]!, driver: parsed.string('driver') ?? 'bridge', subnet: one('subnet'), gateway: one('gateway'), ipRange: one('ip-range'), internal: parsed.bool('internal'), labels })
      .catch((err: unknown) => {
        throw networkError(err);
      });
    ctx.io.stdout.write(`${r.network?.id ?? ''}\n`);
  },
};
