// berth inspect [-f FORMAT] [--type container|image] NAME...: Docker's JSON array (4-space
// indent) of containers (containers/inspect.ts) and images (images/inspect.ts, the images
// helper's) and volumes (volumes/view.ts), or the template once per object. A name is tried as
// a container first, then as an image, then as a volume.

import type { CommandSpec } from '../command';
import { CliError, UsageError } from '../errors';
import { writeInspectDocs } from '../output/inspect';
import { inspectContainer } from '../containers/inspect';
import { listContainers, matchContainer } from '../containers/resolve';
import { containerSizes, withSizes } from '../ops/container-size';
import { grpcCode } from '../errors';
import { NOT_FOUND } from '../volumes/errors';
import { inspectDoc, type VolumeMessage } from '../volumes/view';
import type { Daemon } from '../daemon';

/** The volume `name`'s document, or undefined when there is none. */
async function inspectVolume(d: Daemon, name: string): Promise<object | undefined> {
  try {
    return inspectDoc((await d.volumes.Get({ name, size: false })).volume as VolumeMessage);
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return undefined;
    throw err;
  }
}

export const command: CommandSpec = {
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  summary: 'Return low-level information on berth objects',
  options: [
    { long: 'format', short: 'f', type: 'string', description: "Format output using a custom template: 'json' or a Go template (e.g. '{{.State.Pid}}')" },
    { long: 'type', type: 'string', description: 'Only inspect objects of the given type (container, image, volume)' },
    { long: 'size', short: 's', type: 'boolean', description: 'Display total file sizes if the type is container' },
  ],
  args: { min: 1 },
  async run(ctx, parsed) {
    const type = parsed.string('type');
    if (type !== undefined && type !== 'container' && type !== 'image' && type !== 'volume') throw new UsageError(`"${type}" is not a valid value for --type`, ctx.commandPath);
    const d = await ctx.daemon();
    const containers = type === 'image' || type === 'volume' ? [] : await listContainers(d);
    // -s: Docker's SizeRw and SizeRootFs (one System.Df for all the containers named)
    const sizeOf = parsed.bool('size') && type !== 'image' ? await containerSizes(d) : undefined;
    const docs: object[] = [];
    let status = 0;
    for (const ref of parsed.args) {
      try {
        let doc: object | undefined;
        if (type === undefined || type === 'container') {
          try {
            const c = matchContainer(containers, ref);
            doc = await inspectContainer(d, c);
            if (sizeOf) doc = withSizes(doc as Record<string, unknown>, sizeOf(c));
          } catch (err) {
            if (!(err instanceof CliError) || type === 'container') throw err;
          }
        }
        if (!doc && (type === undefined || type === 'image')) {
          const { inspectImage } = await import('../images/inspect');
          try {
            doc = await inspectImage(d, ref);
          } catch (err) {
            if (!(err instanceof CliError)) throw err;
          }
        }
        if (!doc && (type === undefined || type === 'volume')) doc = await inspectVolume(d, ref);
        if (!doc) throw new CliError(`No such object: ${ref}`);
        docs.push(doc);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        ctx.io.stderr.write(`berth: ${err.message}\n`);
        status = 1;
      }
    }
    writeInspectDocs(ctx, docs, parsed.string('format'));
    return status;
  },
};
