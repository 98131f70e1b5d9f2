// berth top: the container's processes as the host's ps shows them (berth.containers.v1 Top:
// berthd runs ps, as Docker's daemon does). Options after the container go to ps (`berth top
// web aux`, `berth top web -o pid,comm`); none means -ef.

import type { CommandSpec } from '../command';
import { tabwrite } from '../output/tabwriter';
import { resolveContainer } from '../containers/resolve';

export const command: CommandSpec = {
  usage: 'CONTAINER [ps OPTIONS]',
  summary: 'Display the running processes of a container',
  options: [],
  args: { min: 1 },
  stopAtFirstArgument: true,
  async run(ctx, parsed) {
    const [ref, ...psArgs] = parsed.args as [string, ...string[]];
    const d = await ctx.daemon();
    const c = await resolveContainer(d, ref);
    const r = await d.berthContainers.Top({ containerId: c.id, psArgs: psArgs.join(' ') });
    // Docker's layout: minimum width 20, padding 3.
    const lines = [r.titles.join('\t'), ...r.processes.map((p) => p.fields.join('\t'))];
    ctx.io.stdout.write(tabwrite(lines.join('\n') + '\n', { minWidth: 20, padding: 3 }));
  },
};
