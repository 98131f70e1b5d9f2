// Command-line options with Docker's (pflag's) conventions, and the help text made from them.
//
//   --name value, --name=value, -n value, -nvalue, -n=value, -abc (booleans together),
//   --flag, --flag=false (Go's boolean spellings), repeatable list options (-e A -e B),
//   `--` ends the options, `-` alone is an argument.
//
// By default options and arguments may be interleaved (`berth save img -o f`), as pflag
// allows. With stopAtFirstArgument the first argument ends the options: everything after it
// is left as it is, for commands whose arguments are another command line
// (`berth run -it IMG sh -c 'x'`) — and for the global options, which stop at the command.
//
// Why not yargs: it costs tens of milliseconds to load (every `berth` invocation would pay),
// and its conventions (camel-case aliases, `--no-x` negation, number coercion, dotted keys)
// differ from Docker's in ways users of Docker's command line would notice.

import { UsageError } from './errors';

export type OptionType = 'boolean' | 'string' | 'list';

export interface OptionSpec {
  long: string;
  short?: string;
  type: OptionType;
  description: string;
  /** The value's name in help: "--input string". */
  valueName?: string;
  /** Shown in help as (default …); the parser does not apply it. */
  defaultText?: string;
  hidden?: boolean;
}

export interface ParseSettings {
  stopAtFirstArgument?: boolean;
  /** For error messages: "berth load". */
  commandPath: string;
}

/** The options given (by long name) and the arguments, in order. */
export class ParsedArgs {
  constructor(
    readonly values: Map<string, string | boolean | string[]>,
    readonly args: string[],
  ) {}

  has(name: string): boolean {
    return this.values.has(name);
  }

  bool(name: string): boolean {
    return this.values.get(name) === true;
  }

  string(name: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  list(name: string): string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : [];
  }
}

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

function parseBool(value: string, flag: string, commandPath: string): boolean {
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new UsageError(`invalid argument ${JSON.stringify(value)} for "${flag}" flag: expected true or false`, commandPath);
}

/** Parses argv against `specs` (plus -h/--help, which every command has). */
export function parseArgs(argv: string[], specs: OptionSpec[], settings: ParseSettings): ParsedArgs {
  const { commandPath } = settings;
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  if (!byLong.has('help')) byLong.set('help', HELP_OPTION);
  if (!byShort.has('h')) byShort.set('h', HELP_OPTION);
  const values = new Map<string, string | boolean | string[]>();
  const args: string[] = [];

  const set = (spec: OptionSpec, value: string | boolean) => {
    if (spec.type === 'list') values.set(spec.long, [...((values.get(spec.long) as string[] | undefined) ?? []), value as string]);
    else values.set(spec.long, value);
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`, commandPath);
      if (spec.type === 'boolean') {
        set(spec, eq === -1 ? true : parseBool(a.slice(eq + 1), `--${name}`, commandPath));
      } else if (eq !== -1) {
        set(spec, a.slice(eq + 1));
      } else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`, commandPath);
        set(spec, argv[++i]!);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // a group of short flags: booleans, then at most one that takes the rest (or the next argument)
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const spec = byShort.get(c);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${c}' in ${a}`, commandPath);
        const rest = a.slice(j + 1);
        if (spec.type === 'boolean') {
          if (rest.startsWith('=')) {
            set(spec, parseBool(rest.slice(1), `-${c}`, commandPath));
            break;
          }
          set(spec, true);
          continue;
        }
        if (rest !== '') set(spec, rest.startsWith('=') ? rest.slice(1) : rest);
        else if (i + 1 < argv.length) set(spec, argv[++i]!);
        else throw new UsageError(`flag needs an argument: '${c}' in -${c}`, commandPath);
        break;
      }
      continue;
    }
    args.push(a);
    if (settings.stopAtFirstArgument) {
      args.push(...argv.slice(i + 1));
      break;
    }
  }
  return new ParsedArgs(values, args);
}

export const HELP_OPTION: OptionSpec = { long: 'help', short: 'h', type: 'boolean', description: 'Print usage', hidden: true };

/** The "Options:" block of a help text, aligned as Docker's (cobra's) is. */
export function optionsHelp(specs: OptionSpec[]): string {
  const shown = specs.filter((s) => !s.hidden);
  const left = shown.map((s) => {
    const value = s.type === 'boolean' ? '' : ` ${s.valueName ?? (s.type === 'list' ? 'list' : 'string')}`;
    return `${s.short ? `  -${s.short}, ` : '      '}--${s.long}${value}`;
  });
  const width = Math.max(0, ...left.map((l) => l.length));
  return shown
    .map((s, i) => `${left[i]!.padEnd(width)}   ${s.description}${s.defaultText !== undefined ? ` (default ${s.defaultText})` : ''}`)
    .join('\n');
}
