// berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]: another name for an image (Docker's tag).
// A name that pointed at another image moves; that image stays, untagged.

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { tagImage } from '../images/records';
import { findImages } from '../images/resolve';
import { formatReference, parseNormalized } from '../../core/images';

export const command: CommandSpec = {
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  options: [],
  args: { min: 2, max: 2 },
  async run(ctx, parsed) {
    const [source, target] = parsed.args as [string, string];
    let ref;
    try {
      ref = parseNormalized(target);
    } catch (err) {
      throw new CliError(`invalid reference format: ${(err as Error).message}`);
    }
    if (ref.digest !== undefined) throw new CliError(`refusing to create a tag with a digest reference: ${target}`);
    const d = await ctx.daemon();
    const [found] = await findImages(d, source);
    await tagImage(d, formatReference(ref), found!.target);
  },
};
