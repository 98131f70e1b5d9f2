// berth volume inspect [-f FORMAT] VOLUME...: Docker's JSON array (4-space indent) or the
// template once per volume; a volume that does not exist is one line on stderr, exit 1.

import type { CommandSpec } from '../command';
import { CliError, grpcCode } from '../errors';
import { formatOne } from '../output/format';
import { NOT_FOUND, volumeError } from '../volumes/errors';
import { inspectDoc, type VolumeMessage } from '../volumes/view';

export const command: CommandSpec = {
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  summary: 'Display detailed information on one or more volumes',
  options: [{ long: 'format', short: 'f', type: 'string', description: "Format output using a custom template: 'json' or a Go template" }],
  args: { min: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const docs: object[] = [];
    let status = 0;
    for (const name of parsed.args) {
      try {
        const { volume } = await d.volumes.Get({ name, size: false });
        docs.push(inspectDoc(volume as VolumeMessage));
      } catch (err) {
        const e = grpcCode(err) === NOT_FOUND ? new CliError(`no such volume: ${name}`) : volumeError(err);
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
