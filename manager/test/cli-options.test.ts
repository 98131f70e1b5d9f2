// The CLI's option parser (Docker's/pflag's conventions) and its help text.

import { UsageError } from '../src/cli/errors';
import { optionsHelp, parseArgs, type OptionSpec } from '../src/cli/options';

const SPECS: OptionSpec[] = [
  { long: 'interactive', short: 'i', type: 'boolean', description: 'Keep STDIN open' },
  { long: 'tty', short: 't', type: 'boolean', description: 'Allocate a pseudo-TTY' },
  { long: 'name', type: 'string', description: 'Assign a name' },
  { long: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
  { long: 'output', short: 'o', type: 'string', description: 'Write to a file', valueName: 'file', defaultText: '"-"' },
  { long: 'secret', type: 'boolean', description: 'hidden one', hidden: true },
];

const parse = (argv: string[], stop = false) => parseArgs(argv, SPECS, { commandPath: 'berth x', stopAtFirstArgument: stop });

describe('parseArgs', () => {
  it('long forms: --name v, --name=v, booleans with Go spellings', () => {
    const p = parse(['--name', 'a', '--output=/tmp/x', '--tty', '--interactive=false']);
    expect(p.string('name')).toBe('a');
    expect(p.string('output')).toBe('/tmp/x');
    expect(p.bool('tty')).toBe(true);
    expect(p.has('interactive')).toBe(true);
    expect(p.bool('interactive')).toBe(false);
    expect(parse(['--tty=T']).bool('tty')).toBe(true);
    expect(parse(['--tty=0']).bool('tty')).toBe(false);
  });

  it('short forms: grouped booleans, attached and separate values, -x=v', () => {
    const p = parse(['-it', '-ofile', '-e', 'A=1', '-eB=2', '-e=C=3']);
    expect(p.bool('interactive') && p.bool('tty')).toBe(true);
    expect(p.string('output')).toBe('file');
    expect(p.list('env')).toEqual(['A=1', 'B=2', 'C=3']);
    const q = parse(['-ito', 'out']);
    expect(q.string('output')).toBe('out');
    expect(parse(['-t=false']).bool('tty')).toBe(false);
  });

  it('interleaves options and arguments by default; -- and - are arguments', () => {
    const p = parse(['img', '-o', 'f', 'img2', '--', '-t', '--name']);
    expect(p.args).toEqual(['img', 'img2', '-t', '--name']);
    expect(p.string('output')).toBe('f');
    expect(p.bool('tty')).toBe(false);
    expect(parse(['-']).args).toEqual(['-']);
  });

  it('stopAtFirstArgument leaves everything after the first argument alone (berth run -it IMG sh -c x)', () => {
    const p = parse(['-it', '--name', 'c1', 'busybox', 'sh', '-c', 'echo -t', '--tty'], true);
    expect(p.bool('interactive') && p.bool('tty')).toBe(true);
    expect(p.string('name')).toBe('c1');
    expect(p.args).toEqual(['busybox', 'sh', '-c', 'echo -t', '--tty']);
  });

  it('-h and --help are there for every command', () => {
    expect(parse(['-h']).bool('help')).toBe(true);
    expect(parse(['x', '--help']).bool('help')).toBe(true);
  });

  it.each([
    [['--nope'], /^unknown flag: --nope \(see 'berth x --help'\)$/],
    [['-x'], /^unknown shorthand flag: 'x' in -x/],
    [['-ix'], /^unknown shorthand flag: 'x' in -ix/],
    [['--name'], /^flag needs an argument: --name/],
    [['-o'], /^flag needs an argument: 'o' in -o/],
    [['--tty=maybe'], /^invalid argument "maybe" for "--tty" flag/],
  ])('%j is a usage error (exit 125)', (argv, why) => {
    let err: unknown;
    try {
      parse(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(125);
    expect((err as Error).message).toMatch(why);
  });
});

describe('optionsHelp', () => {
  it('aligns like Docker: short flag or blanks, the value name, the description, defaults; hides hidden ones', () => {
    expect(optionsHelp(SPECS)).toBe(
      [
        '  -i, --interactive   Keep STDIN open',
        '  -t, --tty           Allocate a pseudo-TTY',
        '      --name string   Assign a name',
        '  -e, --env list      Set environment variables',
        '  -o, --output file   Write to a file (default "-")',
      ].join('\n'),
    );
  });
});
