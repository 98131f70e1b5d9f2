// berth volume inspect [-f FORMAT] VOLUME...: Docker's JSON array (4-space indent) or the
// template once per volume; a volume that does not exist is one line on stderr, exit 1.

import type { CommandSpec } from '../command';
import { CliError, grpcCode } from '../errors';
import { inspectEach, writeInspectDocs } from '../output/inspect';
import { NOT_FOUND, volumeError } from '../volumes/errors';
import { inspectDoc, type VolumeMessage } from '../volumes/view';

export const command: CommandSpec = {
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  summary: 'Display detailed information on one or more volumes',
  options: [{ long: 'format', short: 'f', type: 'string', description: "Format output using a custom template: 'json' or a Go template" }],
  args: { min: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const { docs, status } = await inspectEach(
      ctx,
      parsed.args,
      async (name) => inspectDoc((await d.volumes.Get({ name, size: false })).volume as VolumeMessage),
      (err, name) => (grpcCode(err) === NOT_FOUND ? new CliError(`no such volume: ${name}`) : volumeError(err)),
    );
    writeInspectDocs(ctx, docs, parsed.string('format'));
    return status;
  },
};
