// berth kill [-s SIGNAL] CONTAINER...: a signal (SIGKILL by default) to running containers.

import type { CommandSpec } from '../command';
import { eachContainer } from '../containers/each';
import { killContainer, signalNumber } from '../containers/lifecycle';

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Kill one or more running containers',
  options: [{ long: 'signal', short: 's', type: 'string', description: 'Signal to send to the container', defaultText: '"KILL"' }],
  args: { min: 1 },
  async run(ctx, parsed) {
    const sig = signalNumber(parsed.string('signal') ?? 'KILL');
    return eachContainer(ctx, parsed.args, (d, c, ref) => killContainer(d, c, sig, ref));
  },
};
