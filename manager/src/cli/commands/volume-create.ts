// berth volume create [-d local] [--label K=V]... [-o K=V]... [NAME]: a volume (a random name
// when none is given); prints its name. Creating one that exists with the same options gives
// the same volume (Docker's).

import type { CommandSpec } from '../command';
import { UsageError } from '../errors';
import { volumeError } from '../volumes/errors';

function pairs(values: string[], flag: string, commandPath: string, needValue: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0 || (needValue && eq < 0)) throw new UsageError(`invalid argument "${v}" for "${flag}" flag: invalid key value pair format`, commandPath);
    out[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1);
  }
  return out;
}

export const command: CommandSpec = {
  usage: '[OPTIONS] [VOLUME]',
  summary: 'Create a volume',
  options: [
    { long: 'driver', short: 'd', type: 'string', description: 'Specify volume driver name', defaultText: '"local"' },
    { long: 'label', type: 'list', description: 'Set metadata for a volume' },
    { long: 'name', type: 'string', description: 'Specify volume name', hidden: true },
    { long: 'opt', short: 'o', type: 'list', description: 'Set driver specific options (type, device, o)' },
  ],
  args: { min: 0, max: 1 },
  async run(ctx, parsed) {
    const given = parsed.string('name');
    if (given !== undefined && parsed.args.length > 0) {
      throw new UsageError('conflicting options: either specify --name or provide positional arg, not both', ctx.commandPath);
    }
    const name = given ?? parsed.args[0] ?? '';
    const labels = pairs(parsed.list('label'), '--label', ctx.commandPath, false);
    const options = pairs(parsed.list('opt'), '-o, --opt', ctx.commandPath, true);
    const d = await ctx.daemon();
    const r = await d.volumes.Create({ name, driver: parsed.string('driver') ?? 'local', labels, options }).catch((err: unknown) => {
      throw volumeError(err);
    });
    ctx.io.stdout.write(`${r.volume?.name ?? name}\n`);
  },
};
