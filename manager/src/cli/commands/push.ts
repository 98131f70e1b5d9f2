// berth push [OPTIONS] NAME[:TAG]: uploads a local image to the registry its name names
// (../registry/push.ts shows Docker's output). Without a tag: "latest", as Docker 20.10+;
// -a pushes every local tag of the repository, one after the other.

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { listImages } from '../images/resolve';
import { parseUserReference } from '../registry/pull';
import { pushImage } from '../registry/push';
import { formatReference, parseReference, repositoryOf, DEFAULT_TAG, type Reference } from '../../core/images';
import { checkPlatform } from './pull';

export const command: CommandSpec = {
  usage: '[OPTIONS] NAME[:TAG]',
  summary: 'Upload an image to a registry',
  options: [
    { long: 'all-tags', short: 'a', type: 'boolean', description: 'Push all tags of an image to the repository' },
    { long: 'platform', type: 'string', description: "Push only this platform's manifest of an index (os/arch[/variant])" },
    { long: 'quiet', short: 'q', type: 'boolean', description: 'Suppress verbose output' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, parsed) {
    const arg = parsed.args[0]!;
    const ref = parseUserReference(arg);
    if (ref.digest !== undefined) throw new CliError(`cannot push a digest reference: ${arg}`);
    const platform = checkPlatform(parsed.string('platform') ?? '', ctx.commandPath);
    const quiet = parsed.bool('quiet');
    const d = await ctx.daemon();
    let refs: Reference[];
    if (parsed.bool('all-tags')) {
      if (ref.tag !== undefined) throw new CliError(`tag can't be used with --all-tags/-a`);
      const repo = repositoryOf(ref);
      refs = (await listImages(d))
        .map((i) => {
          try {
            return parseReference(i.name);
          } catch {
            return undefined;
          }
        })
        .filter((r): r is Reference => r !== undefined && repositoryOf(r) === repo && r.tag !== undefined && r.digest === undefined)
        .sort((a, b) => a.tag!.localeCompare(b.tag!));
      if (refs.length === 0) throw new CliError(`An image does not exist locally with the tag: ${arg}`);
    } else {
      if (ref.tag === undefined) ctx.io.stdout.write(`Using default tag: ${DEFAULT_TAG}\n`);
      refs = [ref.tag === undefined ? { ...ref, tag: DEFAULT_TAG } : ref];
    }
    for (const r of refs) {
      await pushImage(d, r, { platform, env: ctx.io.env, log: ctx.log, ...(quiet ? {} : { out: ctx.io.stdout }) });
      if (quiet) ctx.io.stdout.write(`${formatReference(r)}\n`);
    }
  },
};
