// berth stop [-t SECONDS] [-s SIGNAL] CONTAINER...: the stop signal (--stop-signal, the
// image's StopSignal, else SIGTERM), then SIGKILL after the timeout (-t, --stop-timeout, 10 s).

import type { CommandContext, CommandSpec } from '../command';
import type { Daemon } from '../daemon';
import type { OptionSpec, ParsedArgs } from '../options';
import type { ContainerRecord } from '../containers/resolve';
import { UsageError } from '../errors';
import { eachContainer } from '../containers/each';
import { stopContainer, stopTimeoutOf } from '../containers/lifecycle';
import { STOP_SIGNAL } from '../../core/containers/labels';

export function timeoutOption(value: string | undefined, commandPath: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`invalid argument "${value}" for "-t, --time" flag: strconv.ParseInt: parsing "${value}": invalid syntax`, commandPath);
  return Number(value);
}

/** -t and -s, shared with restart. */
export const STOP_OPTIONS: OptionSpec[] = [
  { long: 'time', short: 't', type: 'string', valueName: 'int', description: 'Seconds to wait before killing the container' },
  { long: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' },
];

/** Stops one container as -t/-s say (stop, and restart's first half). */
export function stopAsAsked(ctx: CommandContext, parsed: ParsedArgs): (d: Daemon, c: ContainerRecord) => Promise<void> {
  const time = timeoutOption(parsed.string('time'), ctx.commandPath);
  const sig = parsed.string('signal');
  return (d, c) => stopContainer(d, sig ? { ...c, labels: { ...c.labels, [STOP_SIGNAL]: sig } } : c, stopTimeoutOf(c, time));
}

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Stop one or more running containers',
  options: STOP_OPTIONS,
  args: { min: 1 },
  async run(ctx, parsed) {
    return eachContainer(ctx, parsed.args, stopAsAsked(ctx, parsed));
  },
};
