import type { Command } from './commands';
import { listContainers } from '../lib/query';
import { invalidArgument } from '../util/errors';

const command: Command = {
  usage: 'list [--format table|json] [--quiet]',
  flags: { format: { type: 'string', alias: ['f'] }, quiet: { type: 'bool', alias: ['q'] } },
  async run(ctx, flags) {
    const format = (flags.format as string | undefined) ?? 'table';
    if (format !== 'table' && format !== 'json') throw invalidArgument(`invalid format option: ${format}`);
    const list = await listContainers(ctx);
    if (flags.quiet) {
      for (const s of list) process.stdout.write(s.id + '\n');
    } else if (format === 'json') {
      process.stdout.write(JSON.stringify(list) + '\n');
    } else {
      const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...list.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) process.stdout.write(r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]! + 3) : c)).join('') + '\n');
    }
    return 0;
  },
};
export default command;
