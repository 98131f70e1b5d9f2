// berth import [OPTIONS] file|- [REPOSITORY[:TAG]]: a root filesystem tarball (from a file, or
// stdin with "-"; plain, gzip or zstd) becomes a one-layer image; -c applies Dockerfile
// instructions to its config, -m sets its history comment. Prints the image id, as Docker.
// The work is in ../images/import.ts.

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { importImage } from '../images/import';
import { openFileChunks, readStreamChunks } from '../streams';
import { formatReference, parseNormalized } from '../../core/images';

export const command: CommandSpec = {
  usage: '[OPTIONS] file|- [REPOSITORY[:TAG]]',
  summary: 'Import the contents from a tarball to create a filesystem image',
  options: [
    { long: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)' },
    { long: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
    { long: 'platform', type: 'string', description: 'Set platform (only this host\'s is supported)', hidden: true },
  ],
  args: { min: 1, max: 2 },
  async run(ctx, parsed) {
    const [src, repo] = parsed.args as [string, string | undefined];
    if (/^https?:\/\//.test(src)) throw new CliError(`importing from a URL is not supported: ${src} (download it and import the file)`);
    let name: string | undefined;
    if (repo !== undefined) {
      let ref;
      try {
        ref = parseNormalized(repo);
      } catch (err) {
        throw new CliError(`invalid reference format: ${(err as Error).message}`);
      }
      if (ref.digest !== undefined) throw new CliError(`refusing to create a tag with a digest reference: ${repo}`);
      name = formatReference(ref);
    }
    if (src === '-' && ctx.io.stdin.isTTY) throw new CliError('requested import from stdin, but stdin is a terminal');
    const file = src === '-' ? undefined : await openFileChunks(src);
    try {
      const d = await ctx.daemon();
      const id = await importImage(d, file ? file.chunks : readStreamChunks(ctx.io.stdin), {
        ...(name ? { name } : {}),
        changes: parsed.list('change'),
        // Docker's CLI sends a file's contents as the request body, so its comment says "-" too
        message: parsed.string('message') || 'Imported from -',
      });
      ctx.io.stdout.write(`${id}\n`);
    } finally {
      await file?.close();
    }
  },
};
