// bin/berth's launcher (scripts/berth-launcher.js) and its link step (scripts/link-berth.js),
// on a small stand-in bundle in a temp dir: what it runs, when it writes a code cache, when it
// reads one and when it refuses one. The real client on top of it is covered by the e2e tests
// (every bin/berth there goes through the launcher).

import { spawnSync } from 'child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

const SCRIPTS = join(__dirname, '..', 'scripts');

// Reports like src/cli/main.ts does (REPORT), prints what it sees, exits with EXIT.
const BUNDLE = `#!/usr/bin/env node
"use strict";
if (process.env.REPORT !== 'none') globalThis[Symbol.for('berth.command')] = process.env.REPORT || 'berth run';
const work = (n) => { let s = 0; for (let i = 0; i < n; i++) s += i % 7; return s; };
process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), file: __filename, dir: __dirname, sum: work(1000), version: VERSION }) + '\\n');
process.exitCode = Number(process.env.EXIT || 0);
`;

let dir = '';
let bin = '';
let cache = '';

/** esbuild's output stand-in through link-berth.js, as the Makefile does. */
function link(version: string): void {
  const out = join(dir, `bundle.${version}.tmp`);
  writeFileSync(out, BUNDLE.replace('VERSION', JSON.stringify(version)));
  const r = spawnSync(process.execPath, [join(SCRIPTS, 'link-berth.js'), out, bin], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

function berth(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(join(bin, 'berth'), args, { encoding: 'utf8', env: { ...process.env, BERTH_CODE_CACHE: cache, BERTH_TIMING: '1', ...env } });
  const how = /code cache (hit|miss|rejected|off)/.exec(r.stderr)?.[1];
  return { status: r.status, out: r.stdout ? JSON.parse(r.stdout) : undefined, stderr: r.stderr, how };
}

const cacheFiles = () => (existsSync(cache) ? readdirSync(cache).sort() : []);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'launcher-'));
  bin = join(dir, 'bin');
  cache = join(dir, 'cache');
  require('fs').mkdirSync(bin);
  link('one');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('link-berth.js', () => {
  it('writes the bundle with its sha256 as the last line and the launcher, executable', () => {
    const text = readFileSync(join(bin, 'berth.js'), 'utf8');
    const m = /\/\/# berth-bundle sha256=([0-9a-f]{64})\n$/.exec(text)!;
    expect(m).not.toBeNull();
    const body = text.slice(0, m.index);
    expect(require('crypto').createHash('sha256').update(body).digest('hex')).toBe(m[1]);
    expect(statSync(join(bin, 'berth')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(bin, 'berth'), 'utf8')).toBe(readFileSync(join(SCRIPTS, 'berth-launcher.js'), 'utf8'));
  });

  it('leaves an unchanged bundle alone (its mtime is part of what a cache is checked against)', () => {
    const before = statSync(join(bin, 'berth.js')).mtimeMs;
    utimesSync(join(bin, 'berth.js'), new Date(1000), new Date(1000));
    link('one');
    expect(statSync(join(bin, 'berth.js')).mtimeMs).toBe(1000);
    link('two');
    expect(statSync(join(bin, 'berth.js')).mtimeMs).not.toBe(1000);
    expect(before).toBeGreaterThan(1000);
  });
});

describe('the launcher', () => {
  it('runs the bundle as node would run it as the main script', () => {
    const r = berth(['run', '--rm', 'x']);
    expect(r.status).toBe(0);
    expect(r.out).toEqual({ argv: ['run', '--rm', 'x'], file: join(bin, 'berth.js'), dir: bin, sum: 2997, version: 'one' });
  });

  it('passes the exit status through and explains a missing bundle', () => {
    expect(berth(['run'], { EXIT: '3' }).status).toBe(3);
    rmSync(join(bin, 'berth.js'));
    const r = spawnSync(join(bin, 'berth'), ['version'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^berth: cannot read the client's code .*berth\.js: ENOENT.*make build/);
  });

  it('writes a cache after a successful command, private to the user, and starts from it next time', () => {
    expect(berth(['-H', 'unix:///x', '--namespace', 'n', 'run', 'img']).how).toBe('miss');
    const files = cacheFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{16}-run-[0-9a-f]{8}\.cache$/);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    expect(statSync(join(cache, files[0]!)).mode & 0o777).toBe(0o600);
    const again = berth(['run', 'other']);
    expect(again.how).toBe('hit');
    expect(again.out.argv).toEqual(['run', 'other']);
    expect(cacheFiles()).toEqual(files);
  });

  it('keeps a management command under both words', () => {
    expect(berth(['image', 'ls'], { REPORT: 'berth image ls' }).how).toBe('miss');
    expect(cacheFiles()[0]).toMatch(/-image-ls-/);
    expect(berth(['image', 'ls', '-q'], { REPORT: 'berth image ls' }).how).toBe('hit');
  });

  it('writes nothing for a failed command, a command berth did not run, or with BERTH_CODE_CACHE=off', () => {
    berth(['run'], { EXIT: '1' });
    berth(['nonsense'], { REPORT: 'none' });
    berth(['run', '--help'], { REPORT: 'none' });
    berth(['ps'], { REPORT: 'berth run' }); // argv and what ran disagree
    expect(cacheFiles()).toEqual([]);
    expect(berth(['run'], { BERTH_CODE_CACHE: 'off' }).how).toBe('off');
    expect(cacheFiles()).toEqual([]);
  });

  it('never runs the code of another bundle: a rebuilt one gets its own cache, the old one goes', () => {
    berth(['run']);
    const old = cacheFiles();
    link('two');
    const r = berth(['run']);
    expect(r.how).toBe('miss');
    expect(r.out.version).toBe('two');
    const now = cacheFiles();
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(old[0]);
    expect(berth(['run']).how).toBe('hit');
  });

  it('does not use a cache once the bundle file changed in place, even with the same trailer', () => {
    berth(['run']);
    // Same length, same trailer, other code: only the size+mtime in the cache header tells.
    const file = join(bin, 'berth.js');
    writeFileSync(file, readFileSync(file, 'utf8').replace('% 7', '% 9'));
    const r = berth(['run']);
    expect(r.how).toBe('miss');
    expect(r.out.sum).toBe(3996);
    expect(berth(['run']).how).toBe('hit');
    expect(berth(['run']).out.sum).toBe(3996);
  });

  it('keeps one cache per node set-up (flags change the code V8 accepts)', () => {
    berth(['run']);
    const r = spawnSync(process.execPath, ['--stack-size=2000', join(bin, 'berth'), 'run'], { encoding: 'utf8', env: { ...process.env, BERTH_CODE_CACHE: cache, BERTH_TIMING: '1' } });
    expect(r.stderr).toMatch(/code cache miss/);
    expect(cacheFiles()).toHaveLength(2);
    expect(berth(['run']).how).toBe('hit');
  });

  it('ignores a cache others could have written, and survives a corrupt one', () => {
    berth(['run']);
    const f = join(cache, cacheFiles()[0]!);
    chmodSync(f, 0o622);
    expect(berth(['run']).how).toBe('miss');
    rmSync(f);
    berth(['run']);
    chownSync(f, 65534, 65534);
    expect(berth(['run']).how).toBe('miss');
    rmSync(f);
    berth(['run']);
    chmodSync(cache, 0o777);
    expect(berth(['run']).how).toBe('miss');
    chmodSync(cache, 0o700);
    // V8's data damaged (V8 would crash on it): the CRC-32 in the header refuses it, the
    // command runs from source.
    rmSync(f);
    berth(['run']);
    const data = readFileSync(f);
    const header = data.indexOf(10) + 1;
    for (let i = header + 16; i < data.length; i += 7) data[i] ^= 0x5a;
    writeFileSync(f, data);
    const r = berth(['run']);
    expect(r.status).toBe(0);
    expect(r.out.sum).toBe(2997);
    expect(r.how).toBe('miss');
  });

  it('compiles from source, without rewriting, when V8 refuses a cache made for this set-up', () => {
    berth(['run']);
    const f = join(cache, cacheFiles()[0]!);
    // A valid header and CRC over data V8 refuses (its own sanity check: magic, version, flags).
    const header = readFileSync(f).subarray(0, readFileSync(f).indexOf(10)).toString('latin1');
    const bogus = Buffer.alloc(64, 0);
    writeFileSync(f, Buffer.concat([Buffer.from(`${require('zlib').crc32(bogus).toString(16)} ${header.slice(header.indexOf(' ') + 1)}\n`), bogus]));
    const before = statSync(f).mtimeMs;
    const r = berth(['run']);
    expect(r.how).toBe('rejected');
    expect(r.out.sum).toBe(2997);
    expect(statSync(f).mtimeMs).toBe(before);
  });
});

describe('the client bundle (src/cmd/berth.ts)', () => {
  it('does not carry @grpc/grpc-js: bin/berth talks through src/api/http2-client.ts', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const esbuild = require('esbuild') as typeof import('esbuild');
    const r = await esbuild.build({
      entryPoints: [join(__dirname, '..', 'src', 'cmd', 'berth.ts')],
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: join(dir, 'berth.js'),
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    // what ends up in the output (src/api's lazy require of grpc-js is tree-shaken away)
    const inputs = Object.keys(Object.values(r.metafile!.outputs)[0]!.inputs);
    expect(inputs.filter((i) => i.includes('@grpc/grpc-js'))).toEqual([]);
    expect(inputs.some((i) => i.endsWith('api/http2-client.ts'))).toBe(true);
    expect(inputs.some((i) => i.endsWith('api/generated/codecs.ts'))).toBe(true);
  });
});
