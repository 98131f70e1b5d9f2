import { invalidArgument } from '../util/errors';

// runc's command line (urfave/cli v1 over Go's flag package): `-flag` and `--flag` are the
// same, values come as `--flag v` or `--flag=v`, and flags stop at the first positional
// argument or at `--`. A hand-written parser because this runs on every container start and
// a general one costs more to load than the whole of this file (see runtime/README.md).

export type FlagType = 'bool' | 'string' | 'int' | 'strings';

export interface FlagSpec {
  [name: string]: { type: FlagType; alias?: string[] };
}

export interface Parsed {
  flags: Record<string, string | boolean | number | string[]>;
  args: string[];
}

export function parseArgs(argv: readonly string[], spec: FlagSpec, stopAtPositional = true): Parsed {
  const byName = new Map<string, string>();
  for (const [name, f] of Object.entries(spec)) {
    byName.set(name, name);
    for (const a of f.alias ?? []) byName.set(a, name);
  }
  const flags: Parsed['flags'] = {};
  const args: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      if (stopAtPositional) break;
      args.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const rawName = eq >= 0 ? body.slice(0, eq) : body;
    const name = byName.get(rawName);
    if (!name) throw invalidArgument(`flag provided but not defined: -${rawName}`);
    const type = spec[name]!.type;
    if (type === 'bool') {
      flags[name] = eq >= 0 ? body.slice(eq + 1) !== 'false' : true;
      continue;
    }
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw invalidArgument(`flag needs an argument: -${rawName}`);
      value = argv[++i]!;
    }
    if (type === 'int') {
      if (!/^-?\d+$/.test(value)) throw invalidArgument(`invalid value ${JSON.stringify(value)} for flag -${rawName}: not an integer`);
      flags[name] = Number(value);
    } else if (type === 'strings') {
      flags[name] = [...((flags[name] as string[] | undefined) ?? []), value];
    } else flags[name] = value;
  }
  args.push(...argv.slice(i));
  return { flags, args };
}
