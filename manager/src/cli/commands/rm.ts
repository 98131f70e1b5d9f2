// berth rm [-f] [-v] CONTAINER...: removes containers (task, record, writable snapshot);
// a running one only with -f (killed first). -v: its anonymous volumes go too, those no other
// container uses (Docker's; a volume given a name stays).

import type { CommandSpec } from '../command';
import { eachContainer } from '../containers/each';
import { removeContainer } from '../containers/lifecycle';
import { runConfigOf } from '../containers/resolve';
import { removeAnonymousVolumes } from '../volumes/prepare';

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Remove one or more containers',
  options: [
    { long: 'force', short: 'f', type: 'boolean', description: 'Force the removal of a running container (uses SIGKILL)' },
    { long: 'volumes', short: 'v', type: 'boolean', description: 'Remove anonymous volumes associated with the container' },
  ],
  args: { min: 1 },
  async run(ctx, parsed) {
    return eachContainer(ctx, parsed.args, async (d, c, ref) => {
      await removeContainer(d, c, { force: parsed.bool('force'), ref });
      if (parsed.bool('volumes')) await removeAnonymousVolumes(d, runConfigOf(c));
    });
  },
};
