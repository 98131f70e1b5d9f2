// berth image inspect [-f FORMAT] IMAGE...: Docker's image inspect documents (images/inspect.ts)
// as a JSON array indented as Docker's, or -f's template once per image. An image that does
// not exist is reported and the others still printed (exit 1, as Docker).

import type { CommandSpec } from '../command';
import { describeError } from '../errors';
import { inspectImage } from '../images/inspect';
import { diskUsage } from '../images/inventory';
import { formatOne } from '../output/format';

/** json.MarshalIndent(v, "", "    ") with Go's HTML escaping. */
export const goIndentedJson = (v: unknown): string =>
  JSON.stringify(v, null, 4).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  summary: 'Display detailed information on one or more images',
  options: [{ long: 'format', short: 'f', type: 'string', description: "Format output using a custom template: 'json' or a Go template" }],
  args: { min: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const usage = (await diskUsage(d)).snapshots;
    const docs: Record<string, unknown>[] = [];
    let failed = false;
    for (const ref of parsed.args) {
      try {
        docs.push(await inspectImage(d, ref, usage));
      } catch (err) {
        failed = true;
        ctx.io.stderr.write(`berth: ${describeError(err, ctx.globals.host).message}\n`);
      }
    }
    const format = parsed.string('format');
    if (format) for (const doc of docs) ctx.io.stdout.write(formatOne(doc, format)!);
    else ctx.io.stdout.write(`${goIndentedJson(docs)}\n`);
    return failed ? 1 : 0;
  },
};
