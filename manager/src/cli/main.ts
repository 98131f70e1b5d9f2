// `berth [global options] COMMAND [options] [arguments]`: global options, finding the command
// in the table, its options and help, running it, and turning any failure into one line on
// stderr and an exit status (errors.ts). Returns the status instead of exiting, so tests
// run berth in-process with their own streams.

import type { CommandContext, CommandSpec, GlobalOptions, IO } from './command';
import { COMMANDS, aliasesOf, findCommand, type CommandEntry } from './commands';
import type { Daemon } from './daemon';
import { CliError, UsageError, describeError } from './errors';
import { createLogger, isLogLevel, LOG_LEVELS } from './log';
import { optionsHelp, parseArgs, type OptionSpec } from './options';
import { REVISION, VERSION } from '../daemon/version';

export const DEFAULT_HOST = 'unix:///run/berth/berthd.sock';
export const DEFAULT_NAMESPACE = 'default';
export const HOST_ENV = 'BERTH_HOST';
export const NAMESPACE_ENV = 'BERTH_NAMESPACE';
/** Where main() leaves the path of the command it runs ("berth image ls"). */
export const RAN_COMMAND = Symbol.for('berth.command');

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { long: 'debug', short: 'D', type: 'boolean', description: 'Enable debug mode (--log-level debug)' },
  { long: 'host', short: 'H', type: 'string', description: `Daemon socket to connect to, unix:///path ($${HOST_ENV})`, defaultText: DEFAULT_HOST },
  { long: 'log-level', short: 'l', type: 'string', description: `Set the logging level (${LOG_LEVELS.map((l) => `"${l}"`).join(', ')})`, defaultText: '"info"' },
  { long: 'namespace', type: 'string', description: `Namespace of images and containers, as ctr's -n ($${NAMESPACE_ENV})`, defaultText: `"${DEFAULT_NAMESPACE}"` },
  { long: 'version', short: 'v', type: 'boolean', description: 'Print version information and quit' },
];

/** A -H value as a grpc target; only unix sockets (berthd listens on nothing else). */
export function parseHost(value: string): string {
  if (value.startsWith('unix://')) {
    const path = value.slice('unix://'.length);
    if (!path.startsWith('/')) throw new UsageError(`invalid host ${JSON.stringify(value)}: the socket path must be absolute (unix:///path)`, 'berth');
    return value;
  }
  if (value.startsWith('/')) return `unix://${value}`;
  throw new UsageError(`invalid host ${JSON.stringify(value)}: berthd listens on a unix socket; use unix:///path`, 'berth');
}

function globalsFrom(parsed: ReturnType<typeof parseArgs>, env: IO['env']): GlobalOptions {
  const host = parseHost(parsed.string('host') ?? (env[HOST_ENV] || DEFAULT_HOST));
  const namespace = parsed.string('namespace') ?? (env[NAMESPACE_ENV] || DEFAULT_NAMESPACE);
  if (namespace === '') throw new UsageError('--namespace must not be empty', 'berth');
  const level = parsed.string('log-level') ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`unknown log level ${JSON.stringify(level)}: want one of ${LOG_LEVELS.join(', ')}`, 'berth');
  return { host, namespace, logLevel: parsed.bool('debug') ? 'debug' : level };
}

// ---- help ----

/** Names in one column across every section, as Docker aligns them. */
const NAME_WIDTH = Math.max(...COMMANDS.flatMap((c) => [c, ...(c.subcommands ?? [])]).map((e) => e.name.length)) + 3;

function commandList(entries: CommandEntry[]): string {
  const width = NAME_WIDTH;
  return entries.map((e) => `  ${e.name.padEnd(width)}${e.summary}`).join('\n');
}

export function topHelp(): string {
  const management = COMMANDS.filter((c) => c.subcommands);
  const plain = COMMANDS.filter((c) => !c.subcommands);
  return [
    'Usage:  berth [OPTIONS] COMMAND',
    '',
    "A Docker-style client for berthd (berth's container manager)",
    '',
    'Management Commands:',
    commandList(management),
    '',
    'Commands:',
    commandList(plain),
    '',
    'Global Options:',
    optionsHelp(GLOBAL_OPTIONS),
    '',
    "Run 'berth COMMAND --help' for more information on a command.",
    '',
  ].join('\n');
}

function groupHelp(path: string, entry: CommandEntry): string {
  return [`Usage:  ${path} COMMAND`, '', entry.summary, '', 'Commands:', commandList(entry.subcommands ?? []), '', `Run '${path} COMMAND --help' for more information on a command.`, ''].join('\n');
}

export function commandHelp(path: string, entry: CommandEntry, spec: CommandSpec): string {
  const aliases = aliasesOf(entry);
  const lines = [`Usage:  ${path} ${spec.usage}`, '', spec.summary];
  if (spec.description) lines.push('', spec.description);
  if (aliases.length > 1) lines.push('', 'Aliases:', `  ${aliases.join(', ')}`);
  const options = optionsHelp(spec.options);
  if (options) lines.push('', 'Options:', options);
  return lines.join('\n') + '\n';
}

// ---- running ----

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Docker's wording: `"berth save" requires at least 1 argument`. */
function checkArgumentCount(path: string, { min, max }: CommandSpec['args'], n: number): void {
  if (n >= min && (max === undefined || n <= max)) return;
  let want: string;
  if (max === min) want = min === 0 ? 'accepts no arguments' : `requires exactly ${plural(min, 'argument')}`;
  else if (n < min) want = `requires at least ${plural(min, 'argument')}`;
  else want = `accepts at most ${plural(max!, 'argument')}`;
  throw new UsageError(`"${path}" ${want}`, path);
}

/**
 * BERTH_TIMING=1: phase marks on stderr (ms since the process started), beside the per-call
 * lines of src/api's clients — where a command's time goes before, between and after its calls.
 */
function timingMarks(io: IO): (what: string) => void {
  if (io.env.BERTH_TIMING !== '1') return () => undefined;
  return (what) => io.stderr.write(`berth-timing ${performance.now().toFixed(1).padStart(8)} ms  ${what}\n`);
}

export async function main(argv: string[], io: IO): Promise<number> {
  let host = DEFAULT_HOST;
  let debug = false;
  let daemon: Daemon | undefined;
  const mark = timingMarks(io);
  mark('main: node started, berth loaded');
  try {
    const global = parseArgs(argv, GLOBAL_OPTIONS, { commandPath: 'berth', stopAtFirstArgument: true });
    if (global.bool('version')) {
      io.stdout.write(`berth version ${VERSION}, build ${REVISION}\n`);
      return 0;
    }
    let words = global.args;
    if (words[0] === 'help') words = words.slice(1).concat('--help');
    else if (global.bool('help') && words.length > 0) words = words.concat('--help');
    if (words.length === 0 || words[0] === '--help') {
      io.stdout.write(topHelp());
      return 0;
    }
    const globals = globalsFrom(global, io.env);
    host = globals.host;
    debug = globals.logLevel === 'debug';

    const found = findCommand(words);
    if (!found) throw new UsageError(`unknown command: ${JSON.stringify(words[0])}`, 'berth');
    const entry = found.path[found.path.length - 1]!;
    const path = ['berth', ...found.path.map((e) => e.name)].join(' ');
    if (!entry.load) {
      const next = found.rest[0];
      if (next === undefined || next === '--help' || next === '-h') {
        io.stdout.write(groupHelp(path, entry));
        return 0;
      }
      throw new UsageError(`unknown command: ${JSON.stringify(`${path.slice('berth '.length)} ${next}`)}`, path);
    }

    const { command } = await entry.load();
    mark(`main: ${path} loaded`);
    const parsed = parseArgs(found.rest, command.options, { commandPath: path, stopAtFirstArgument: command.stopAtFirstArgument ?? false });
    if (parsed.bool('help')) {
      io.stdout.write(commandHelp(path, entry, command));
      return 0;
    }
    checkArgumentCount(path, command.args, parsed.args.length);

    const log = createLogger(globals.logLevel, (line) => io.stderr.write(line));
    const ctx: CommandContext = {
      io,
      globals,
      log,
      commandPath: path,
      daemon: async () => {
        if (!daemon) {
          const { Daemon } = await import('./daemon');
          daemon = new Daemon(globals.host, globals.namespace);
          log.debug(`connecting to ${globals.host}, namespace ${globals.namespace}`);
        }
        return daemon;
      },
    };
    // For bin/berth's launcher (manager/scripts/berth-launcher.js): which command ran, so that
    // it keeps the compiled code of real commands only (no typo, no --help).
    (globalThis as Record<symbol, unknown>)[RAN_COMMAND] = path;
    const status = (await command.run(ctx, parsed)) ?? 0;
    mark(`main: ${path} done`);
    return status;
  } catch (err) {
    const { message, exitCode } = describeError(err, host);
    io.stderr.write(`berth: ${message}\n`);
    if (debug && !(err instanceof CliError) && err instanceof Error) io.stderr.write(`${err.stack}\n`);
    return exitCode;
  } finally {
    daemon?.close();
  }
}
