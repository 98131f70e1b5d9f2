// Pure parts of the image, system and cp commands: Docker's human units, `import -c`
// instructions, where `cp` puts things (Docker's PrepareArchiveCopy), cp's argument split,
// Go's FileMode bits, tar rebasing, and the bash completion script (run through bash).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyChanges } from '../src/cli/images/changes';
import { baseOf, planCopy, splitCpArg } from '../src/cli/files/plan';
import { ago, bytesSize, ellipsis, humanDuration, humanSize, shortId } from '../src/cli/output/units';
import { argumentKind, bashCompletion } from '../src/cli/completion';
import { goFileMode, rebaseName } from '../src/core/files';
import { reclaimable } from '../src/cli/commands/system-df';

describe("Docker's units", () => {
  it('sizes: decimal, three significant digits', () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(999)).toBe('999B');
    expect(humanSize(1000)).toBe('1kB');
    expect(humanSize(2949120)).toBe('2.95MB');
    expect(humanSize(12_345_678)).toBe('12.3MB');
    expect(humanSize(123_456_789)).toBe('123MB');
    expect(humanSize(1.5e9)).toBe('1.5GB');
    expect(bytesSize(25_273_888_768)).toBe('23.54GiB');
  });

  it('durations as go-units words, and "ago"', () => {
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(1000)).toBe('1 second');
    expect(humanDuration(45_000)).toBe('45 seconds');
    expect(humanDuration(90_000)).toBe('About a minute');
    expect(humanDuration(10 * 60_000)).toBe('10 minutes');
    expect(humanDuration(59 * 60_000 + 59_000)).toBe('59 minutes');
    expect(humanDuration(3_600_000)).toBe('About an hour');
    expect(humanDuration(5 * 3_600_000)).toBe('5 hours');
    expect(humanDuration(3 * 86_400_000)).toBe('3 days');
    expect(humanDuration(21 * 86_400_000)).toBe('3 weeks');
    expect(humanDuration(100 * 86_400_000)).toBe('3 months');
    expect(humanDuration(3 * 365 * 86_400_000)).toBe('3 years');
    const now = new Date('2024-01-10T00:00:00Z');
    expect(ago(new Date('2024-01-09T00:00:00Z'), now)).toBe('24 hours ago');
    expect(ago(undefined, now)).toBe('N/A');
  });

  it('ids and ellipsis', () => {
    expect(shortId('sha256:931f453e9232d4aa7564387029f2149e3fe451baca4c6dd54312f51f29976ee2')).toBe('931f453e9232');
    expect(ellipsis('abcdef', 6)).toBe('abcdef');
    expect(ellipsis('abcdefg', 6)).toBe('abcde…');
  });

  it('reclaimable: size and whole percent, none when nothing is used', () => {
    expect(reclaimable(1_990_000, 4_940_000)).toBe('1.99MB (40%)');
    expect(reclaimable(0, 0)).toBe('0B');
  });
});

describe('import -c: Dockerfile instructions on a config', () => {
  it('CMD and ENTRYPOINT in exec and shell form; ENTRYPOINT clears CMD', () => {
    expect(applyChanges({}, ['CMD ["a", "b"]'])).toEqual({ Cmd: ['a', 'b'] });
    expect(applyChanges({}, ['CMD echo $HOME'])).toEqual({ Cmd: ['/bin/sh', '-c', 'echo $HOME'] });
    expect(applyChanges({ Cmd: ['x'] }, ['ENTRYPOINT ["/init"]'])).toEqual({ Entrypoint: ['/init'], Cmd: null });
    expect(applyChanges({}, ['ENTRYPOINT ["/init"]', 'cmd ["--help"]'])).toEqual({ Entrypoint: ['/init'], Cmd: ['--help'] });
  });

  it('ENV and LABEL: k=v pairs with quotes, the old "k v" form, later values win', () => {
    expect(applyChanges({ Env: ['PATH=/bin', 'A=0'] }, ['ENV A=1 B="x y" C=a\\ b', 'ENV D hello world'])).toEqual({ Env: ['PATH=/bin', 'A=1', 'B=x y', 'C=a b', 'D=hello world'] });
    expect(applyChanges({}, ['LABEL a=1 "b c"=2', 'LABEL a=3'])).toEqual({ Labels: { a: '3', 'b c': '2' } });
  });

  it('EXPOSE, VOLUME, WORKDIR, USER, STOPSIGNAL, ONBUILD', () => {
    expect(applyChanges({}, ['EXPOSE 80 53/udp 8000-8001'])).toEqual({ ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8000/tcp': {}, '8001/tcp': {} } });
    expect(applyChanges({}, ['VOLUME ["/data", "/logs"]', 'VOLUME /x'])).toEqual({ Volumes: { '/data': {}, '/logs': {}, '/x': {} } });
    expect(applyChanges({}, ['WORKDIR /app', 'WORKDIR sub/../src'])).toEqual({ WorkingDir: '/app/src' });
    expect(applyChanges({}, ['USER 1000:1000', 'STOPSIGNAL SIGQUIT', 'ONBUILD RUN x'])).toEqual({ User: '1000:1000', StopSignal: 'SIGQUIT', OnBuild: ['RUN x'] });
  });

  it('refuses what Docker refuses, naming the change', () => {
    expect(() => applyChanges({}, ['RUN echo hi'])).toThrow(/invalid change "RUN echo hi": RUN is not a valid change command/);
    expect(() => applyChanges({}, ['EXPOSE http'])).toThrow(/invalid port "http"/);
    expect(() => applyChanges({}, ['ENV A="open'])).toThrow(/unterminated quote/);
    expect(() => applyChanges({}, ['WORKDIR'])).toThrow(/WORKDIR requires exactly one argument/);
  });
});

describe("cp: Docker's rules for where a copy lands", () => {
  it('splits CONTAINER:PATH, and a path starting with / or . is local', () => {
    expect(splitCpArg('web:/etc/passwd')).toEqual({ container: 'web', path: '/etc/passwd' });
    expect(splitCpArg('./a:b')).toEqual({ path: './a:b' });
    expect(splitCpArg('/tmp/x:y')).toEqual({ path: '/tmp/x:y' });
    expect(splitCpArg('file')).toEqual({ path: 'file' });
    expect(splitCpArg('-')).toEqual({ path: '-' });
  });

  it('base names: trailing slashes and "/." (contents only)', () => {
    expect(baseOf('/etc/')).toBe('etc');
    expect(baseOf('/etc/.')).toBe('.');
    expect(baseOf('f.txt')).toBe('f.txt');
    expect(baseOf('/')).toBe('/');
  });

  it('into an existing directory: inside it, under its own name (or the link name with -L)', () => {
    expect(planCopy({ base: 'dir', isDir: true }, { path: '/t', exists: true, isDir: true })).toEqual({ extractDir: '/t', from: 'dir', to: 'dir' });
    expect(planCopy({ base: '.', isDir: true }, { path: '/t', exists: true, isDir: true })).toEqual({ extractDir: '/t', from: '.', to: '.' });
    expect(planCopy({ base: 'real', isDir: false, rebaseName: 'link' }, { path: '/t', exists: true, isDir: true })).toEqual({ extractDir: '/t', from: 'real', to: 'link' });
  });

  it('over an existing file: a file replaces it; a directory cannot', () => {
    expect(planCopy({ base: 'a', isDir: false }, { path: '/t/b', exists: true, isDir: false })).toEqual({ extractDir: '/t', from: 'a', to: 'b' });
    expect(() => planCopy({ base: 'd', isDir: true }, { path: '/t/b', exists: true, isDir: false })).toThrow(/cannot copy a directory to a file/);
  });

  it('to a new name: created in the parent; "x/" must be an existing directory for a file', () => {
    expect(planCopy({ base: 'dir', isDir: true }, { path: '/t/new', exists: false, isDir: false })).toEqual({ extractDir: '/t', from: 'dir', to: 'new' });
    expect(planCopy({ base: '.', isDir: true }, { path: '/t/new/', exists: false, isDir: false })).toEqual({ extractDir: '/t', from: '.', to: 'new' });
    expect(() => planCopy({ base: 'f', isDir: false }, { path: '/t/new/', exists: false, isDir: false })).toThrow(/no such directory: \/t\/new\//);
  });

  it('rebasing tar names', () => {
    expect(rebaseName('dir', 'dir', 'new')).toBe('new');
    expect(rebaseName('dir/x/y', 'dir', 'new')).toBe('new/x/y');
    expect(rebaseName('dirx/y', 'dir', 'new')).toBe('dirx/y');
    expect(rebaseName('./a', '.', 'new')).toBe('new/a');
  });

  it("Go's FileMode bits from st_mode", () => {
    expect(goFileMode(0o040755)).toBe((0o755 | (1 << 31)) >>> 0);
    expect(goFileMode(0o120777)).toBe(0o777 | (1 << 27));
    expect(goFileMode(0o104755)).toBe(0o755 | (1 << 23));
    expect(goFileMode(0o100644)).toBe(0o644);
    expect(goFileMode(0o041777)).toBe((0o777 | (1 << 31) | (1 << 20)) >>> 0);
  });
});

describe('bash completion', () => {
  const script = bashCompletion(
    [{ long: 'host', short: 'H', type: 'string', description: '' }, { long: 'debug', short: 'D', type: 'boolean', description: '' }],
    ['image', 'rm', 'cp'],
    [
      { path: 'image', subcommands: ['ls', 'prune'], options: [], usage: '' },
      { path: 'image ls', subcommands: [], options: [{ long: 'quiet', short: 'q', type: 'boolean', description: '' }, { long: 'format', type: 'string', description: '' }], usage: '[OPTIONS] [REPOSITORY[:TAG]]' },
      { path: 'image prune', subcommands: [], options: [{ long: 'all', short: 'a', type: 'boolean', description: '' }], usage: '[OPTIONS]' },
      { path: 'rm', subcommands: [], options: [{ long: 'force', short: 'f', type: 'boolean', description: '' }], usage: '[OPTIONS] CONTAINER [CONTAINER...]' },
      { path: 'cp', subcommands: [], options: [], usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-' },
    ],
  );

  it('argument kinds from usage lines', () => {
    expect(argumentKind('[OPTIONS] CONTAINER [CONTAINER...]')).toBe('containers');
    expect(argumentKind('SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]')).toBe('images');
    expect(argumentKind('[OPTIONS] file|- [REPOSITORY[:TAG]]')).toBe('images');
    expect(argumentKind('[OPTIONS]')).toBe('none');
  });

  /** Runs the completion function on a command line (the cursor at its end) in bash. */
  function complete(line: string, fakeBerth = ''): string[] {
    const dir = mkdtempSync(join(tmpdir(), 'compl-'));
    try {
      writeFileSync(join(dir, 'c.sh'), script);
      writeFileSync(join(dir, 'berth'), `#!/bin/sh\n${fakeBerth}\n`, { mode: 0o755 });
      const words = line.split(' ');
      const prog = [
        `PATH=${dir}:$PATH`,
        `source ${dir}/c.sh`,
        `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
        `COMP_CWORD=${words.length - 1}`,
        '_berth',
        'printf "%s\\n" "${COMPREPLY[@]}"',
      ].join('\n');
      const r = spawnSync('bash', ['-c', prog], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      return r.stdout.split('\n').filter(Boolean).sort();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('completes commands, subcommands and options, skipping global options and their values', () => {
    expect(complete('berth i')).toEqual(['image']);
    expect(complete('berth -H unix:///x image ')).toEqual(['ls', 'prune']);
    expect(complete('berth image ls --')).toEqual(['--format', '--help', '--quiet']);
    expect(complete('berth image prune -')).toEqual(['--all', '--help', '-a']);
    expect(complete('berth --d')).toEqual(['--debug']);
  });

  it('asks berth for container names, with the -H given on the line', () => {
    const fake = 'if [ "$1 $2 $3" = "-H unix:///y ps" ]; then printf "web\\nworker\\n"; fi';
    expect(complete('berth -H unix:///y rm -f w', fake)).toEqual(['web', 'worker']);
  });
});
