// berth network rm [-f] NETWORK...: removes networks no container is attached to (their bridge
// goes with them); each name printed once gone; -f takes a missing one as done. Exit 1 when any
// failed.

import type { CommandSpec } from '../command';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import { networkError } from '../networks/view';


export const command: CommandSpec = {
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  summary: 'Remove one or more networks',
  options: [{ long: 'force', short: 'f', type: 'boolean', description: 'Do not error if the network does not exist' }],
  args: { min: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    let status = 0;
    for (const ref of parsed.args) {
      try {
        await d.networks.Remove({ ref }).catch((err: unknown) => {
          if (grpcCode(err) === NOT_FOUND) {
            if (parsed.bool('force')) return;
            throw new CliError(`network ${ref} not found`);
          }
          throw networkError(err);
        });
        ctx.io.stdout.write(`${ref}\n`);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        ctx.io.stderr.write(`berth: ${err.message}\n`);
        status = 1;
      }
    }
    return status;
  },
};
