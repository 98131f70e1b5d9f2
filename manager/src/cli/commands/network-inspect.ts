// berth network inspect [-f FORMAT] NETWORK...: Docker's NetworkResource array (4-space indent)
// or the template per network; the containers shown are this namespace's.

import type { CommandSpec } from '../command';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import { inspectEach, writeInspectDocs } from '../output/inspect';
import { inspectDoc, networkError, type NetworkMessage } from '../networks/view';


export const command: CommandSpec = {
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  summary: 'Display detailed information on one or more networks',
  options: [{ long: 'format', short: 'f', type: 'string', description: "Format output using a custom template: 'json' or a Go template" }],
  args: { min: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const { docs, status } = await inspectEach(
      ctx,
      parsed.args,
      async (ref) => inspectDoc((await d.networks.Get({ ref })).network as NetworkMessage),
      (err, ref) => (grpcCode(err) === NOT_FOUND ? new CliError(`network ${ref} not found`) : networkError(err)),
    );
    writeInspectDocs(ctx, docs, parsed.string('format'));
    return status;
  },
};
