// berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
//          [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH
// Docker's cp: files and directories both ways, modes and times preserved; "-" is a tar on
// stdout/stdin; -a keeps owners (to a container: the container's user); -L follows a symlink
// at the source. The work is in ../files/copy.ts and plan.ts.

import type { CommandSpec } from '../command';
import { CliError, UsageError } from '../errors';
import { copyFromContainer, copyToContainer } from '../files/copy';
import { splitCpArg } from '../files/plan';
import { resolveContainer } from '../containers/resolve';
import { humanSize } from '../output/units';
import { readStreamChunks } from '../streams';

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  summary: 'Copy files/folders between a container and the local filesystem',
  description:
    'Use \'-\' as the source to read a tar archive from stdin and extract it to a directory\n' +
    "destination in a container. Use '-' as the destination to stream a tar archive of a\n" +
    'container source to stdout.',
  options: [
    { long: 'archive', short: 'a', type: 'boolean', description: 'Archive mode (copy all uid/gid information)' },
    { long: 'follow-link', short: 'L', type: 'boolean', description: 'Always follow symbol link in SRC_PATH' },
    { long: 'quiet', short: 'q', type: 'boolean', description: 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached' },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, parsed) {
    const [srcArg, dstArg] = parsed.args as [string, string];
    const src = splitCpArg(srcArg);
    const dst = splitCpArg(dstArg);
    if (src.container !== undefined && dst.container !== undefined) throw new UsageError('copying between containers is not supported', ctx.commandPath);
    if (src.container === undefined && dst.container === undefined) throw new UsageError('must specify at least one container source', ctx.commandPath);
    const opts = { followLink: parsed.bool('follow-link'), archive: parsed.bool('archive') };
    const d = await ctx.daemon();
    let bytes: number;
    let where: string;
    if (src.container !== undefined) {
      if (!src.path) throw new CliError('source path cannot be empty');
      const c = await resolveContainer(d, src.container);
      if (dst.path === '-' && ctx.io.stdout.isTTY) throw new CliError('cowardly refusing to write a tar archive to a terminal: redirect it');
      bytes = await copyFromContainer(d, { id: c.id, name: src.container }, src.path, dst.path, opts, ctx.io.stdout);
      where = dst.path;
    } else {
      if (!dst.path) throw new CliError('destination path cannot be empty');
      const c = await resolveContainer(d, dst.container!);
      bytes = await copyToContainer(d, { id: c.id, name: dst.container! }, src.path, dst.path, opts, readStreamChunks(ctx.io.stdin));
      where = `${dst.container}:${dst.path}`;
    }
    const stderr = ctx.io.stderr as { isTTY?: boolean };
    if (!parsed.bool('quiet') && stderr.isTTY && dst.path !== '-') ctx.io.stderr.write(`Successfully copied ${humanSize(bytes)} to ${where}\n`);
  },
};
