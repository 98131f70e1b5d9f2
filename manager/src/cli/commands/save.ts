// berth save [-o FILE] IMAGE...: writes the images as one tar that is both a docker-archive
// and an OCI image layout (Docker >= 25's format), to FILE or stdout. The work is in
// ../images/save.ts and core/archive/writer.ts.

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { archiveStream, collectImages } from '../images/save';
import { writeAll, writeFileAtomic } from '../streams';

export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  description:
    'The archive is both a docker-archive (manifest.json, repositories) and an OCI image\n' +
    'layout (oci-layout, index.json, blobs/sha256/): docker load, podman load, ctr images\n' +
    'import and skopeo (docker-archive: or oci-archive:) all read it. IMAGE is a name, a\n' +
    'repository (all its tags) or an image id (saved untagged).',
  options: [{ long: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  args: { min: 1 },
  async run(ctx, parsed) {
    const output = parsed.string('output');
    if (output === undefined && ctx.io.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const d = await ctx.daemon();
    const images = await collectImages(d, parsed.args);
    const stream = archiveStream(d, images);
    if (output === undefined) await writeAll(ctx.io.stdout, stream);
    else await writeFileAtomic(output, stream);
  },
};
