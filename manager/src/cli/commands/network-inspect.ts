// berth network inspect [-f FORMAT] NETWORK...: Docker's NetworkResource array (4-space indent)
// or the template per network; the containers shown are this namespace's.

import type { CommandSpec } from '../command';
import { CliError, grpcCode } from '../errors';
import { formatOne } from '../output/format';
import { inspectDoc, networkError, type NetworkMessage } from '../networks/view';

const NOT_FOUND = 5;

export const command: CommandSpec = {
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  summary: 'Display detailed information on one or more networks',
  options: [{ long: 'format', short: 'f', type: 'string', description: "Format output using a custom template: 'json' or a Go template" }],
  args: { min: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const docs: object[] = [];
    let status = 0;
    for (const ref of parsed.args) {
      try {
        const { network } = await d.networks.Get({ ref });
        docs.push(inspectDoc(network as NetworkMessage));
      } catch (err) {
        const e = grpcCode(err) === NOT_FOUND ? new CliError(`network ${ref} not found`) : networkError(err);
        if (!(e instanceof CliError)) throw e;
        ctx.io.stderr.write(`berth: ${e.message}\n`);
        status = 1;
      }
    }
    const format = parsed.string('format');
    if (format !== undefined && format !== '') for (const doc of docs) ctx.io.stdout.write(formatOne(doc, format)!);
    else ctx.io.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
    return status;
  },
};
