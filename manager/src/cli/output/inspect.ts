// Docker's inspect output, shared by `inspect`, `network inspect` and `volume inspect`: the
// objects looked up one by one (a failure is one error line and exit status 1, the others
// still shown), then printed as a JSON array indented by 4, or the template once per object.

import type { CommandContext } from '../command';
import { CliError } from '../errors';
import { formatOne } from './format';

export function writeInspectDocs(ctx: CommandContext, docs: object[], format: string | undefined): void {
  if (format !== undefined && format !== '') for (const doc of docs) ctx.io.stdout.write(formatOne(doc, format)!);
  else ctx.io.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
}

/**
 * Looks each reference up with `lookup`; `explain` turns a failure into the CliError to show
 * (anything else it returns is thrown as it is). Returns the documents and the exit status.
 */
export async function inspectEach(ctx: CommandContext, refs: string[], lookup: (ref: string) => Promise<object>, explain: (err: unknown, ref: string) => unknown): Promise<{ docs: object[]; status: number }> {
  const docs: object[] = [];
  let status = 0;
  for (const ref of refs) {
    try {
      docs.push(await lookup(ref));
    } catch (err) {
      const e = explain(err, ref);
      if (!(e instanceof CliError)) throw e;
      ctx.io.stderr.write(`berth: ${e.message}\n`);
      status = 1;
    }
  }
  return { docs, status };
}
