// berth load [-i FILE] [-q]: loads the images of a docker-archive or OCI layout tar (or both
// in one), from FILE or stdin, and prints "Loaded image: NAME" for each name (or "Loaded image
// ID: ID" for an untagged image) as `docker load` does. The work is in ../images/load.ts.

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { loadImages } from '../images/load';
import { openFileChunks, readStreamChunks } from '../streams';
import { familiarName } from '../../core/images';

function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Load an image from a tar archive or STDIN',
  description:
    'Reads docker-archives (docker save, skopeo docker-archive:), OCI image layout tars\n' +
    '(skopeo oci-archive:, ctr images export) and both in one (Docker >= 25, berth save);\n' +
    'uncompressed, gzip or zstd. Layers are unpacked into the overlayfs snapshotter.',
  options: [
    { long: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN' },
    { long: 'quiet', short: 'q', type: 'boolean', description: 'Suppress the load output' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const { io } = ctx;
    const input = parsed.string('input');
    if (input === undefined && io.stdin.isTTY) throw new CliError('requested load from stdin, but stdin is empty');
    const file = input === undefined ? undefined : await openFileChunks(input);
    try {
      const source = file ? file.chunks : readStreamChunks(io.stdin);
      const progress = !parsed.bool('quiet') && io.stdout.isTTY === true;
      const d = await ctx.daemon();
      const loaded = await loadImages(d, source, {
        log: ctx.log,
        onBlob: (entry, stored) => {
          ctx.log.debug(`${stored ? 'stored' : 'already had'} ${entry.path} (${entry.size} bytes)`);
          if (progress) io.stdout.write(`Loading ${entry.path} ${humanSize(entry.size)}${stored ? '' : ' (already present)'}\n`);
        },
      });
      for (const img of loaded) {
        if (img.names.length === 0) io.stdout.write(`Loaded image ID: ${img.id}\n`);
        for (const name of img.names) io.stdout.write(`Loaded image: ${familiarName(name)}\n`);
      }
    } finally {
      await file?.close();
    }
  },
};
