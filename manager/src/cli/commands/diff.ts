// berth diff CONTAINER: the changes of the container's filesystem against its image, as
// Docker prints them ("C /etc", "A /etc/new", "D /tmp/gone"), from Files.Diff.

import type { CommandSpec } from '../command';
import { resolveContainer } from '../containers/resolve';

const LETTER: Record<string, string> = { MODIFIED: 'C', ADDED: 'A', DELETED: 'D' };

export const command: CommandSpec = {
  usage: 'CONTAINER',
  summary: "Inspect changes to files or directories on a container's filesystem",
  options: [],
  args: { min: 1, max: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const c = await resolveContainer(d, parsed.args[0]!);
    const { changes } = await d.files.Diff({ containerId: c.id });
    for (const ch of changes) ctx.io.stdout.write(`${LETTER[ch.kind] ?? '?'} ${ch.path}\n`);
  },
};
