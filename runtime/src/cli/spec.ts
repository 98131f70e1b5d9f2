import { promises as fs } from 'fs';
import { join } from 'path';
import type { Command } from './commands';
import { defaultSpec } from '../spec/default';
import { alreadyExists } from '../util/errors';

const command: Command = {
  usage: 'spec [--bundle DIR] [--rootless]',
  flags: { bundle: { type: 'string', alias: ['b'] }, rootless: { type: 'bool' } },
  async run(_ctx, flags) {
    const path = join((flags.bundle as string | undefined) ?? '.', 'config.json');
    const spec = defaultSpec(Boolean(flags.rootless), process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    try {
      await fs.writeFile(path, JSON.stringify(spec, null, '\t') + '\n', { flag: 'wx', mode: 0o666 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`file ${path} exists: remove it first`);
      throw err;
    }
    return 0;
  },
};
export default command;
