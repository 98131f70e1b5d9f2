// berth inspect [-f FORMAT] [--type container|image] NAME...: Docker's JSON array (4-space
// indent) of containers (containers/inspect.ts) and images (images/inspect.ts, the images
// helper's), or the template once per object. A name is tried as a container first.

import type { CommandSpec } from '../command';
import { CliError, UsageError } from '../errors';
import { formatOne } from '../output/format';
import { inspectContainer } from '../containers/inspect';
import { listContainers, matchContainer } from '../containers/resolve';

export const command: CommandSpec = {
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  summary: 'Return low-level information on berth objects',
  options: [
    { long: 'format', short: 'f', type: 'string', description: "Format output using a custom template: 'json' or a Go template (e.g. '{{.State.Pid}}')" },
    { long: 'type', type: 'string', description: 'Only inspect objects of the given type (container, image)' },
    { long: 'size', short: 's', type: 'boolean', description: 'Display total file sizes if the type is container (not computed: 0)' },
  ],
  args: { min: 1 },
  async run(ctx, parsed) {
    const type = parsed.string('type');
    if (type !== undefined && type !== 'container' && type !== 'image') throw new UsageError(`"${type}" is not a valid value for --type`, ctx.commandPath);
    const d = await ctx.daemon();
    const containers = type === 'image' ? [] : await listContainers(d);
    const docs: object[] = [];
    let status = 0;
    for (const ref of parsed.args) {
      try {
        let doc: object | undefined;
        if (type !== 'image') {
          try {
            doc = await inspectContainer(d, matchContainer(containers, ref));
          } catch (err) {
            if (!(err instanceof CliError) || type === 'container') throw err;
          }
        }
        if (!doc) {
          const { inspectImage } = await import('../images/inspect');
          try {
            doc = await inspectImage(d, ref);
          } catch (err) {
            if (err instanceof CliError) throw new CliError(`No such object: ${ref}`);
            throw err;
          }
        }
        docs.push(doc);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        ctx.io.stderr.write(`berth: ${err.message}\n`);
        status = 1;
      }
    }
    const format = parsed.string('format');
    if (format !== undefined && format !== '') for (const doc of docs) ctx.io.stdout.write(formatOne(doc, format)!);
    else ctx.io.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
    return status;
  },
};
