// The client side of registries: Docker's progress display (terminal and not), the
// credentials file (Docker's config.json shape, modes, key forms), following berthd's Progress
// stream, and reading a password without echo. berthd's side and the real registry are
// exercised end to end in e2e/test/berth-registry.test.ts.

import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { CliError } from '../src/cli/errors';
import { createLogger } from '../src/cli/log';
import { ProgressView, formatProgress, progressSize } from '../src/cli/output/progress';
import {
  configDir,
  configKey,
  configPath,
  findCredentials,
  readConfig,
  registryHost,
  removeCredentials,
  setCredentials,
  writeConfig,
  DOCKER_HUB_KEY,
} from '../src/cli/registry/config-file';
import { promptSecret, readAllStdin } from '../src/cli/registry/prompt';
import { followTransfer, statusText } from '../src/cli/registry/transfer';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

describe('progress display', () => {
  it('sizes as Docker prints them (4 significant digits, decimal units)', () => {
    expect([progressSize(0), progressSize(999), progressSize(1234), progressSize(15_555_344), progressSize(2e9)]).toEqual(['0B', '999B', '1.234kB', '15.56MB', '2GB']);
  });

  it("a bar, the numbers padded as Go's %8v, and the speed", () => {
    expect(formatProgress({ current: 0, total: 100 }, { barWidth: 10 })).toBe('[>          ]       0B/100B');
    expect(formatProgress({ current: 50, total: 100 }, { barWidth: 10 })).toBe('[=====>     ]      50B/100B');
    expect(formatProgress({ current: 100, total: 100 }, { barWidth: 10, bytesPerSecond: 2_500_000 })).toBe('[==========>]     100B/100B  2.5MB/s');
    // no total: the bytes alone; no room: no bar
    expect(formatProgress({ current: 1234, total: 0 }, { barWidth: 10 })).toBe(' 1.234kB');
    expect(formatProgress({ current: 1, total: 2 }, { barWidth: 0 })).toBe('      1B/2B');
  });

  it('not on a terminal: one line per status change, none for bytes alone', () => {
    const out = new Capture();
    const view = new ProgressView(out, { tty: false });
    view.line('latest: Pulling from library/busybox');
    view.update('aaaaaaaaaaaa', 'Pulling fs layer');
    view.update('bbbbbbbbbbbb', 'Pulling fs layer');
    view.update('aaaaaaaaaaaa', 'Downloading', { current: 1, total: 10 });
    view.update('aaaaaaaaaaaa', 'Downloading', { current: 5, total: 10 });
    view.update('aaaaaaaaaaaa', 'Pull complete');
    view.update('bbbbbbbbbbbb', 'Already exists');
    view.line('Digest: sha256:x');
    expect(out.text).toBe(
      [
        'latest: Pulling from library/busybox',
        'aaaaaaaaaaaa: Pulling fs layer',
        'bbbbbbbbbbbb: Pulling fs layer',
        'aaaaaaaaaaaa: Downloading',
        'aaaaaaaaaaaa: Pull complete',
        'bbbbbbbbbbbb: Already exists',
        'Digest: sha256:x',
        '',
      ].join('\n'),
    );
    expect(view.statuses()).toEqual(new Map([['aaaaaaaaaaaa', 'Pull complete'], ['bbbbbbbbbbbb', 'Already exists']]));
  });

  it('on a terminal: each item keeps its line, redrawn in place with the cursor moved up and back', () => {
    const out = new Capture();
    let now = 0;
    const view = new ProgressView(out, { tty: true, columns: 120, now: () => now });
    view.update('aaaaaaaaaaaa', 'Waiting');
    view.update('bbbbbbbbbbbb', 'Waiting');
    expect(out.text).toBe('aaaaaaaaaaaa: Waiting\nbbbbbbbbbbbb: Waiting\n');
    out.text = '';
    now = 1000;
    view.update('aaaaaaaaaaaa', 'Downloading', { current: 0, total: 1000 });
    // the first of two lines: up 2, clear, draw, back down 2
    expect(out.text).toBe(`\x1b[2A\r\x1b[2Kaaaaaaaaaaaa: Downloading [>${' '.repeat(50)}]       0B/1kB\r\x1b[2B`);
    out.text = '';
    now = 1050; // within the redraw interval and the same status: nothing
    view.update('aaaaaaaaaaaa', 'Downloading', { current: 100, total: 1000 });
    expect(out.text).toBe('');
    now = 3000; // 2 s after it began, 500 bytes: 250 B/s
    view.update('aaaaaaaaaaaa', 'Downloading', { current: 500, total: 1000 });
    expect(out.text).toBe(`\x1b[2A\r\x1b[2Kaaaaaaaaaaaa: Downloading [${'='.repeat(25)}>${' '.repeat(25)}]     500B/1kB  250B/s\r\x1b[2B`);
    out.text = '';
    view.update('bbbbbbbbbbbb', 'Pull complete');
    expect(out.text).toBe('\x1b[1A\r\x1b[2Kbbbbbbbbbbbb: Pull complete\r\x1b[1B');
    // a free line ends the block: a known item seen again starts a new one below
    out.text = '';
    view.line('Digest: sha256:x');
    view.update('aaaaaaaaaaaa', 'Pull complete');
    expect(out.text).toBe('Digest: sha256:x\naaaaaaaaaaaa: Pull complete\n');
  });

  it('on a narrow terminal: a shorter bar, and lines cut so that none wraps', () => {
    const out = new Capture();
    const view = new ProgressView(out, { tty: true, columns: 30 });
    view.update('aaaaaaaaaaaa', 'Downloading', { current: 5, total: 10 });
    expect(out.text).toBe('aaaaaaaaaaaa: Downloading    \n');
    const wide = new Capture();
    new ProgressView(wide, { tty: true, columns: 100 }).update('aaaaaaaaaaaa', 'Downloading', { current: 5, total: 10 });
    expect(wide.text).toMatch(/^aaaaaaaaaaaa: Downloading \[={20}>={0} {20}\] +5B\/10B\n$/);
  });
});

describe('credentials file', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'cli-reg-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lives in $BERTH_CONFIG, else ~/.berth', () => {
    expect(configPath({ BERTH_CONFIG: '/x/y', HOME: '/h' })).toBe('/x/y/config.json');
    expect(configDir({ HOME: '/h' })).toBe('/h/.berth');
  });

  it('server names reduce to the registry host; Docker Hub has Docker’s key', () => {
    expect(registryHost('https://127.0.0.1:5000/v2/')).toBe('127.0.0.1:5000');
    expect(registryHost('http://Registry.Example.com')).toBe('registry.example.com');
    for (const hub of ['docker.io', 'index.docker.io', 'https://index.docker.io/v1/', 'registry-1.docker.io']) expect(registryHost(hub)).toBe('docker.io');
    expect(configKey('docker.io')).toBe(DOCKER_HUB_KEY);
    expect(configKey('localhost:5000')).toBe('localhost:5000');
  });

  it('is written 0600 in a 0700 directory, whatever the umask and the old file’s mode; other keys are kept', async () => {
    const file = join(dir, 'conf', 'config.json');
    const old = process.umask(0);
    try {
      await writeConfig(file, setCredentials({ credsStore: 'x', auths: {} } as never, '127.0.0.1:5000', { username: 'u', password: 'p:w', identityToken: '' }));
    } finally {
      process.umask(old);
    }
    expect(statSync(join(dir, 'conf')).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const json = JSON.parse(readFileSync(file, 'utf8'));
    expect(json).toEqual({ credsStore: 'x', auths: { '127.0.0.1:5000': { auth: Buffer.from('u:p:w').toString('base64') } } });
    chmodSync(file, 0o644);
    await writeConfig(file, await readConfig(file));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // no temp file left beside it
    expect(require('node:fs').readdirSync(join(dir, 'conf'))).toEqual(['config.json']);
  });

  it('reads every key form Docker has written; writing one form replaces the others', async () => {
    const auth = (s: string) => Buffer.from(s).toString('base64');
    const config = {
      auths: {
        'https://index.docker.io/v1/': { auth: auth('hub:one') },
        'http://127.0.0.1:5000': { auth: auth('old:x') },
        'localhost:6000': { username: 'sep', password: 'arate' },
      },
    };
    expect(findCredentials(config, 'docker.io')).toEqual({ username: 'hub', password: 'one', identityToken: '' });
    expect(findCredentials(config, '127.0.0.1:5000')).toEqual({ username: 'old', password: 'x', identityToken: '' });
    expect(findCredentials(config, 'localhost:6000')).toEqual({ username: 'sep', password: 'arate', identityToken: '' });
    expect(findCredentials(config, 'elsewhere:1')).toBeUndefined();
    const next = setCredentials(config, '127.0.0.1:5000', { username: 'new', password: '', identityToken: 'refresh' });
    expect(Object.keys(next.auths!).sort()).toEqual(['127.0.0.1:5000', 'https://index.docker.io/v1/', 'localhost:6000']);
    expect(next.auths!['127.0.0.1:5000']).toEqual({ auth: auth('new:'), identitytoken: 'refresh' });
    const { config: after, removed } = removeCredentials(next, 'index.docker.io');
    expect(removed).toBe(true);
    expect(Object.keys(after.auths!).sort()).toEqual(['127.0.0.1:5000', 'localhost:6000']);
    expect(removeCredentials(after, 'docker.io').removed).toBe(false);
  });

  it('a file that is not JSON, or an auth without ":", fails naming the file', async () => {
    const file = join(dir, 'config.json');
    expect(await readConfig(file)).toEqual({});
    writeFileSync(file, '{nope');
    await expect(readConfig(file)).rejects.toThrow(`${file}: not valid JSON`);
    expect(() => findCredentials({ auths: { 'h:1': { auth: Buffer.from('nocolon').toString('base64') } } }, 'h:1', file)).toThrow(/config.json: auths\["h:1"\]: invalid auth/);
  });
});

describe('following a transfer', () => {
  const log = createLogger('fatal', () => undefined);
  const layer = (digest: string, status: string, offset = 0, total = 0) => ({ digest: `sha256:${digest.repeat(64)}`, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', kind: 'layer', status, offset, total, resumed: 0 });

  it('layers only, in Docker’s words; a late message cannot undo a final state; the result is the last message’s image', async () => {
    const stream = new EventEmitter();
    const out = new Capture();
    const view = new ProgressView(out, { tty: false });
    const done = followTransfer(stream as never, 'pull', { view, log });
    const image = { name: 'docker.io/library/x:1', digest: 'sha256:m', mediaType: 'm', size: 1, configDigest: 'sha256:c', chainId: 'sha256:t' };
    stream.emit('data', { items: [{ ...layer('a', 'resolving'), kind: 'manifest' }, layer('a', 'resolving'), layer('b', 'exists')], message: 'Resolving docker.io/library/x:1', image: null });
    stream.emit('data', { items: [layer('a', 'downloading', 10, 100)], message: '', image: null });
    stream.emit('data', { items: [layer('a', 'verifying'), layer('a', 'unpacked'), layer('a', 'downloading', 100, 100)], message: 'Retrying layer a (2/5)', image: null });
    stream.emit('data', { items: [layer('a', 'done')], message: '', image });
    stream.emit('end');
    await expect(done).resolves.toEqual(image);
    expect(out.text).toBe(
      ['aaaaaaaaaaaa: Pulling fs layer', 'bbbbbbbbbbbb: Already exists', 'aaaaaaaaaaaa: Downloading', 'Retrying layer a (2/5)', 'aaaaaaaaaaaa: Verifying Checksum', 'aaaaaaaaaaaa: Pull complete', ''].join('\n'),
    );
  });

  it('push words', () => {
    expect(['resolving', 'uploading', 'exists', 'done'].map((status) => statusText('push', { status }))).toEqual(['Preparing', 'Pushing', 'Layer already exists', 'Pushed']);
    expect(statusText('pull', { status: 'done' }, { unpack: false })).toBe('Download complete');
  });

  it("berthd's error: exit 1, one line; a stream that ends without a result fails too", async () => {
    const failing = new EventEmitter();
    const p = followTransfer(failing as never, 'pull', { log });
    failing.emit('error', Object.assign(new Error('5 NOT_FOUND: x'), { code: 5, details: 'pull 127.0.0.1:1/x:1: manifest unknown\n(404)' }));
    await expect(p).rejects.toMatchObject({ message: 'error from berthd: pull 127.0.0.1:1/x:1: manifest unknown; (404)', exitCode: 1 });
    // UNAVAILABLE after berthd answered is its verdict on the registry; before, berthd is not there
    const unreachable = new EventEmitter();
    const u = followTransfer(unreachable as never, 'pull', { log });
    unreachable.emit('metadata', {});
    unreachable.emit('error', Object.assign(new Error('14 UNAVAILABLE'), { code: 14, details: 'HEAD https://127.0.0.1:1/v2/x/manifests/latest: connect ECONNREFUSED' }));
    await expect(u).rejects.toMatchObject({ message: 'error from berthd: HEAD https://127.0.0.1:1/v2/x/manifests/latest: connect ECONNREFUSED', exitCode: 1 });
    const noDaemon = new EventEmitter();
    const n = followTransfer(noDaemon as never, 'pull', { log });
    const down = Object.assign(new Error('14 UNAVAILABLE'), { code: 14, details: 'No connection established' });
    noDaemon.emit('error', down);
    await expect(n).rejects.toBe(down);
    const empty = new EventEmitter();
    const q = followTransfer(empty as never, 'push', { log });
    empty.emit('end');
    await expect(q).rejects.toBeInstanceOf(CliError);
  });
});

describe('reading a password', () => {
  const tty = () => {
    const input = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode: (r: boolean) => void; raw: boolean[] };
    input.isTTY = true;
    input.raw = [];
    input.setRawMode = (r: boolean) => void input.raw.push(r);
    return input;
  };

  it('in raw mode, without echo, with backspace; the terminal is restored after', async () => {
    const input = tty();
    const out = new Capture();
    const answer = promptSecret(input, out, 'Password: ');
    input.write('sekr');
    input.write('x\x7fet\r');
    expect(await answer).toBe('sekret');
    expect(out.text).toBe('Password: \n');
    expect(input.raw).toEqual([true, false]);
  });

  it('^C cancels; not a terminal is an error', async () => {
    const input = tty();
    const answer = promptSecret(input, new Capture(), 'Password: ');
    input.write('ab\x03');
    await expect(answer).rejects.toThrow('login canceled');
    await expect(promptSecret(new PassThrough(), new Capture(), 'Password: ')).rejects.toThrow('non TTY device');
  });

  it('--password-stdin: everything, without the trailing newline', async () => {
    const input = new PassThrough();
    input.end('pa ss\n');
    expect(await readAllStdin(input)).toBe('pa ss');
  });
});
