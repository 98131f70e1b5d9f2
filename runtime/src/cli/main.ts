import { parseArgs } from './args';
import { COMMANDS } from './commands';
import { cliLog, log } from './log';
import { runtimeContext, DEFAULT_ROOT } from '../lib/context';
import { invalidArgument } from '../util/errors';
import { syncHost } from '../host/sync-host';

// berth-runtime: runc's command line over the runtime library.

const GLOBAL_FLAGS = {
  root: { type: 'string' as const },
  log: { type: 'string' as const },
  'log-format': { type: 'string' as const },
  debug: { type: 'bool' as const },
  // Accepted because containerd and podman pass them; berth has no systemd driver or criu.
  'systemd-cgroup': { type: 'bool' as const },
  criu: { type: 'string' as const },
  rootless: { type: 'string' as const },
  help: { type: 'bool' as const, alias: ['h'] },
  version: { type: 'bool' as const, alias: ['v'] },
};

const VERSION = '0.1.0';
const SPEC_VERSION = '1.1.0';

function usage(): string {
  const lines = Object.entries(COMMANDS).filter(([n]) => n !== 'ls').map(([, load]) => `   ${load().usage}`);
  return `usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND [flags] [args]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const global = parseArgs(argv, GLOBAL_FLAGS);
    cliLog.file = global.flags.log as string | undefined;
    const format = (global.flags['log-format'] as string | undefined) ?? 'text';
    if (format !== 'text' && format !== 'json') throw invalidArgument(`invalid log-format: ${format}`);
    cliLog.format = format;
    cliLog.debug = Boolean(global.flags.debug);
    if (global.flags.version) {
      process.stdout.write(`berth-runtime version ${VERSION}\nspec: ${SPEC_VERSION}\n`);
      return 0;
    }
    const [name, ...rest] = global.args;
    if (!name || global.flags.help) {
      process.stdout.write(usage());
      return name ? 0 : 1;
    }
    const load = COMMANDS[name];
    if (!load) throw invalidArgument(`no such command: ${name}`);
    const command = load();
    const parsed = parseArgs(rest, command.flags);
    const ctx = runtimeContext((global.flags.root as string | undefined) ?? DEFAULT_ROOT, (m) => log('warning', m), (m) => log('debug', m), syncHost);
    return await command.run(ctx, parsed.flags, parsed.args);
  } catch (err) {
    log('error', err instanceof Error ? err.message : String(err));
    return 1;
  }
}

