// berth rmi [-f] IMAGE...: removes names and images as Docker does (images/records.ts has the
// rules). Each argument is handled on its own: a failure is reported and the rest go on;
// the exit status is 1 when any failed.

import type { CommandSpec } from '../command';
import { describeError } from '../errors';
import { inventory } from '../images/inventory';
import { containerUses, removeImage } from '../images/records';
import { findImages } from '../images/resolve';

export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  summary: 'Remove one or more images',
  options: [
    { long: 'force', short: 'f', type: 'boolean', description: 'Force removal of the image' },
    { long: 'no-prune', type: 'boolean', description: 'Do not delete untagged parents (berth has none: accepted for compatibility)' },
  ],
  args: { min: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const force = parsed.bool('force');
    let failed = false;
    for (const arg of parsed.args) {
      try {
        const [found] = await findImages(d, arg);
        const images = await inventory(d, { usage: new Map() }); // sizes are not needed here
        const img = images.find((i) => i.target.digest === found!.target.digest);
        if (!img) throw new Error(`no such image: ${arg}`);
        const lines = await removeImage(d, arg, img, found!.names[0], { force, containers: await containerUses(d) });
        for (const l of lines) ctx.io.stdout.write(`${l}\n`);
      } catch (err) {
        failed = true;
        ctx.io.stderr.write(`berth: ${describeError(err, ctx.globals.host).message}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};
