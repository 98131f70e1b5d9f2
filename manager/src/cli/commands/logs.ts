// berth logs [-f] [--tail N] [--since T] [--until T] [-t] CONTAINER: the container's output as
// its shim logged it (berth.io.v1.IO/Logs), stdout to stdout and stderr to stderr, as Docker's.

import type { ClientReadableStream } from '@grpc/grpc-js';
import type { CommandSpec } from '../command';
import { resolveContainer } from '../containers/resolve';
import { UsageError } from '../errors';
import { parseTimeArg, rfc3339Nano } from '../io/timestamps';

interface LogEntry {
  time: string;
  stream: string;
  data: Buffer;
  partial: boolean;
}

const toTimestamp = (ns: bigint) => ({ seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) });

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER',
  summary: 'Fetch the logs of a container',
  options: [
    { long: 'follow', short: 'f', type: 'boolean', description: 'Follow log output' },
    { long: 'since', type: 'string', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { long: 'tail', short: 'n', type: 'string', description: 'Number of lines to show from the end of the logs', defaultText: '"all"' },
    { long: 'timestamps', short: 't', type: 'boolean', description: 'Show timestamps' },
    { long: 'until', type: 'string', description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { long: 'details', type: 'boolean', description: 'Show extra details provided to logs (none: berth logs no attributes)' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, parsed) {
    const path = ctx.commandPath;
    const tailText = parsed.string('tail') ?? 'all';
    let tail = -1;
    if (tailText !== 'all') {
      if (!/^-?\d+$/.test(tailText)) throw new UsageError(`invalid value for --tail: ${JSON.stringify(tailText)} (a number or "all")`, path);
      tail = Math.max(-1, Number(tailText));
    }
    const since = parsed.string('since');
    const until = parsed.string('until');
    const d = await ctx.daemon();
    const c = await resolveContainer(d, parsed.args[0]!);
    const stream = d.io.Logs({
      containerId: c.id,
      follow: parsed.bool('follow'),
      tail,
      ...(since !== undefined ? { since: toTimestamp(parseTimeArg(since, '--since', path)) } : {}),
      ...(until !== undefined ? { until: toTimestamp(parseTimeArg(until, '--until', path)) } : {}),
      stdout: true,
      stderr: true,
    }) as unknown as ClientReadableStream<LogEntry>;
    const timestamps = parsed.bool('timestamps');
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (e: LogEntry) => {
        const out = e.stream === 'stderr' ? ctx.io.stderr : ctx.io.stdout;
        const text = timestamps ? Buffer.concat([Buffer.from(`${rfc3339Nano(e.time)} `), e.data]) : e.data;
        if (!out.write(text)) {
          stream.pause();
          out.once('drain', () => stream.resume());
        }
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
  },
};
