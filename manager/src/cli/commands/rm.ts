// berth rm [-f] [-v] CONTAINER...: removes containers (task, record, writable snapshot);
// a running one only with -f (killed first). -v: anonymous volumes go too (berth has none yet).

import type { CommandSpec } from '../command';
import { eachContainer } from '../containers/each';
import { removeContainer } from '../containers/lifecycle';

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Remove one or more containers',
  options: [
    { long: 'force', short: 'f', type: 'boolean', description: 'Force the removal of a running container (uses SIGKILL)' },
    { long: 'volumes', short: 'v', type: 'boolean', description: 'Remove anonymous volumes associated with the container' },
  ],
  args: { min: 1 },
  async run(ctx, parsed) {
    return eachContainer(ctx, parsed.args, (d, c, ref) => removeContainer(d, c, { force: parsed.bool('force'), ref }));
  },
};
