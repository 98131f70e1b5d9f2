import type { Command } from './commands';
import { oneId } from './util';
import { containerEventSource, encodeEvent, watchEvents } from '../lib/events';
import { invalidArgument } from '../util/errors';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A Go duration (what runc's --interval takes), in milliseconds: "5s", "500ms", "1m30s",
 * "1.5h", a leading sign, or a bare "0". Anything else is an error naming the flag.
 */
export function parseGoDuration(text: string, flag: string): number {
  const bad = () => invalidArgument(`invalid value ${JSON.stringify(text)} for flag -${flag}: time: invalid duration ${JSON.stringify(text)}`);
  const m = /^([-+]?)(.*)$/.exec(text)!;
  const body = m[2]!;
  if (body === '0') return 0;
  if (body === '') throw bad();
  let ms = 0;
  let rest = body;
  while (rest !== '') {
    const part = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!part) throw bad();
    ms += Number(part[1]) * UNIT_MS[part[2]!]!;
    rest = rest.slice(part[0].length);
  }
  return m[1] === '-' ? -ms : ms;
}

const command: Command = {
  usage: 'events [--stats] [--interval 5s] ID',
  flags: { stats: { type: 'bool' }, interval: { type: 'string' } },
  async run(ctx, flags, args) {
    const id = oneId(args, 'events');
    const intervalMs = parseGoDuration((flags.interval as string | undefined) ?? '5s', 'interval');
    if (!(intervalMs > 0)) throw invalidArgument('duration interval must be greater than 0');
    const source = await containerEventSource(ctx, id);
    if (flags.stats) {
      process.stdout.write(encodeEvent({ type: 'stats', id, data: await source.stats() }));
      return 0;
    }
    // A reader that went away (events | head) ends the stream quietly.
    process.stdout.on('error', () => process.exit(0));
    await watchEvents(id, source, (e) => process.stdout.write(encodeEvent(e)), { intervalMs, warn: ctx.warn });
    return 0;
  },
};
export default command;
