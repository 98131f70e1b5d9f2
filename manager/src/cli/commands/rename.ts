// berth rename CONTAINER NEW_NAME: berthd refuses a name another container has.

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { normalizeName } from '../containers/names';
import { setLabels } from '../containers/lifecycle';
import { resolveContainer } from '../containers/resolve';
import { NAME } from '../../core/containers/labels';

export const command: CommandSpec = {
  usage: 'CONTAINER NEW_NAME',
  summary: 'Rename a container',
  options: [],
  args: { min: 2, max: 2 },
  async run(ctx, parsed) {
    const [ref, wanted] = parsed.args as [string, string];
    let name: string;
    try {
      name = normalizeName(wanted);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    const d = await ctx.daemon();
    const c = await resolveContainer(d, ref);
    if (c.labels[NAME] === name) throw new CliError(`Renaming a container with the same name as its current name`);
    await setLabels(d, c.id, { [NAME]: name });
  },
};
