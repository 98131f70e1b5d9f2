import { parseArgs } from '../src/cli/args';

const spec = {
  bundle: { type: 'string' as const, alias: ['b'] },
  detach: { type: 'bool' as const, alias: ['d'] },
  'preserve-fds': { type: 'int' as const },
  env: { type: 'strings' as const, alias: ['e'] },
};

describe('runc-style argument parsing', () => {
  it('accepts one and two dashes, = and separate values', () => {
    const p = parseArgs(['-bundle', '/b', '--detach', '--preserve-fds=2', 'id1'], spec);
    expect(p.flags).toEqual({ bundle: '/b', detach: true, 'preserve-fds': 2 });
    expect(p.args).toEqual(['id1']);
  });
  it('resolves aliases and repeats', () => {
    const p = parseArgs(['-b', 'x', '-e', 'A=1', '--env', 'B=2', 'id'], spec);
    expect(p.flags.bundle).toBe('x');
    expect(p.flags.env).toEqual(['A=1', 'B=2']);
  });
  it('stops at the first positional argument', () => {
    const p = parseArgs(['id', '--detach', 'KILL'], spec);
    expect(p.flags).toEqual({});
    expect(p.args).toEqual(['id', '--detach', 'KILL']);
  });
  it('stops at --', () => {
    expect(parseArgs(['--detach', '--', '-x'], spec).args).toEqual(['-x']);
  });
  it('names an unknown flag', () => {
    expect(() => parseArgs(['--nope'], spec)).toThrow('flag provided but not defined: -nope');
  });
  it('names a flag whose value is missing or not a number', () => {
    expect(() => parseArgs(['--bundle'], spec)).toThrow('flag needs an argument: -bundle');
    expect(() => parseArgs(['--preserve-fds', 'x'], spec)).toThrow(/preserve-fds: not an integer/);
  });
  it('reads --flag=false for booleans', () => {
    expect(parseArgs(['--detach=false'], spec).flags.detach).toBe(false);
  });
});
