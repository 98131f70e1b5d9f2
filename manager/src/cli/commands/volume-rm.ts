// berth volume rm [-f] VOLUME...: removes volumes, each name printed once gone. One a
// container uses is refused ("volume is in use - [ids]"), unless -f, which also takes ones that
// do not exist as done (Docker's). Exit 1 when any failed.

import type { CommandSpec } from '../command';
import { CliError, grpcCode } from '../errors';
import { NOT_FOUND, volumeError } from '../volumes/errors';

export const command: CommandSpec = {
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  summary: 'Remove one or more volumes',
  description: 'You cannot remove a volume that is in use by a container, unless you force it.',
  options: [{ long: 'force', short: 'f', type: 'boolean', description: 'Force the removal of one or more volumes, even in use' }],
  args: { min: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const force = parsed.bool('force');
    let status = 0;
    for (const name of parsed.args) {
      try {
        await d.volumes.Remove({ name, force }).catch((err: unknown) => {
          if (force && grpcCode(err) === NOT_FOUND) return;
          throw volumeError(err);
        });
        ctx.io.stdout.write(`${name}\n`);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        ctx.io.stderr.write(`berth: ${err.message}\n`);
        status = 1;
      }
    }
    return status;
  },
};
