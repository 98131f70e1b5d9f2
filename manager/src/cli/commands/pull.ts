// berth pull [OPTIONS] NAME[:TAG|@DIGEST]: berthd pulls the image from its registry and unpacks
// it (berth.images.v1.Images/Pull); this shows Docker's progress output (../registry/pull.ts)
// and prints the full name last. -q prints the name only. Failures: berthd's error on one
// line, exit 1.

import type { CommandSpec } from '../command';
import { UsageError } from '../errors';
import { pullImage } from '../registry/pull';

/** "os/arch[/variant]": checked here so that a typo fails before any network work. */
export function checkPlatform(value: string, commandPath: string): string {
  if (value !== '' && !/^[a-z0-9_]+\/[a-z0-9_]+(\/[a-z0-9_.]+)?$/i.test(value)) {
    throw new UsageError(`invalid argument "${value}" for "--platform" flag: want os/arch[/variant], e.g. linux/amd64`, commandPath);
  }
  return value.toLowerCase();
}

export const command: CommandSpec = {
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  summary: 'Download an image from a registry',
  description:
    'Registries on 127.0.0.0/8 and localhost are used over plain HTTP, as Docker treats them.\n' +
    "Credentials come from 'berth login' ($BERTH_CONFIG/config.json, else ~/.berth/config.json).",
  options: [
    { long: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable (os/arch[/variant])' },
    { long: 'quiet', short: 'q', type: 'boolean', description: 'Suppress verbose output' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, parsed) {
    const platform = checkPlatform(parsed.string('platform') ?? '', ctx.commandPath);
    const quiet = parsed.bool('quiet');
    const d = await ctx.daemon();
    const result = await pullImage(d, parsed.args[0]!, { platform, env: ctx.io.env, log: ctx.log, ...(quiet ? {} : { out: ctx.io.stdout }) });
    ctx.io.stdout.write(`${result.name}\n`);
  },
};
