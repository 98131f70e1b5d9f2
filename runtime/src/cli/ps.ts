import type { Command } from './commands';
import { containerPids, psTable } from '../lib/ps';
import { invalidArgument } from '../util/errors';

const command: Command = {
  usage: 'ps [--format table|json] ID [PS_ARGS...]',
  flags: { format: { type: 'string', alias: ['f'] } },
  async run(ctx, flags, args) {
    const [id, ...rest] = args;
    if (id === undefined) throw invalidArgument('"ps" requires a container id');
    // Flags stop at the id, so "ps ID -o pid,comm" passes -o to ps; a "--" there is only a separator.
    const psArgs = rest[0] === '--' ? rest.slice(1) : rest;
    const format = (flags.format as string | undefined) ?? 'table';
    if (format !== 'table' && format !== 'json') throw invalidArgument(`invalid format option: ${format}`);
    if (format === 'json') process.stdout.write(JSON.stringify(await containerPids(ctx, id)) + '\n');
    else process.stdout.write(await psTable(ctx, id, psArgs));
    return 0;
  },
};
export default command;
