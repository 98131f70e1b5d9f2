// berthd's config: defaults, validation whose errors name the key, flags over the file.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyFlags, ConfigError, defaultConfig, loadConfig, parseConfig } from '../src/daemon/config';

describe('config', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berthd-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('has the documented defaults', () => {
    const c = defaultConfig();
    expect(c).toEqual({
      version: 1,
      root: '/var/lib/berth',
      state: '/run/berth',
      grpc: { address: '/run/berth/berthd.sock', uid: 0, gid: 0, max_recv_message_size: 16777216, max_send_message_size: 16777216 },
      log_level: 'info',
      shutdown_timeout_ms: 5000,
      disabled_plugins: [],
      required_plugins: ['io.containerd.metadata.v1.lmdb', 'io.containerd.event.v1.exchange'],
      plugins: {},
    });
    // A fresh object every time: a caller changing one must not change the next.
    c.grpc.address = '/x';
    expect(defaultConfig().grpc.address).toBe('/run/berth/berthd.sock');
  });

  it('keeps defaults for keys a file leaves out', () => {
    const c = parseConfig({ grpc: { gid: 996 }, plugins: { 'io.containerd.grpc.v1.x': { a: 1 } } });
    expect(c.grpc).toEqual({ ...defaultConfig().grpc, gid: 996 });
    expect(c.root).toBe('/var/lib/berth');
    expect(c.plugins).toEqual({ 'io.containerd.grpc.v1.x': { a: 1 } });
  });

  it.each([
    [{ roots: '/x' }, /^f: roots: unknown setting/],
    [{ grpc: { adress: '/x' } }, /^f: grpc\.adress: unknown setting \(known here: address, uid/],
    [{ root: 'relative/dir' }, /^f: root: expected an absolute path, got "relative\/dir"/],
    [{ state: 5 }, /^f: state: expected a non-empty path, got 5/],
    [{ grpc: { gid: 'docker' } }, /^f: grpc\.gid: expected an integer, got "docker"/],
    [{ grpc: { uid: -1 } }, /^f: grpc\.uid: expected 0\.\./],
    [{ grpc: [] }, /^f: grpc: expected an object, got an array/],
    [{ log_level: 'verbose' }, /^f: log_level: expected one of trace, debug, info/],
    [{ shutdown_timeout_ms: 1.5 }, /^f: shutdown_timeout_ms: expected an integer/],
    [{ disabled_plugins: 'a' }, /^f: disabled_plugins: expected an array of strings/],
    [{ plugins: { 'a.b': 3 } }, /^f: plugins\.a\.b: expected an object, got 3/],
    [{ version: 2 }, /^f: version: unsupported version 2/],
    [{ disabled_plugins: ['io.containerd.metadata.v1.lmdb'] }, /^f: required_plugins: io\.containerd\.metadata\.v1\.lmdb is both required and disabled/],
    [[], /^f: \(top level\): expected an object/],
  ])('rejects %j naming the key', (raw, message) => {
    expect(() => parseConfig(raw, 'f')).toThrow(ConfigError);
    expect(() => parseConfig(raw, 'f')).toThrow(message);
  });

  it('lets flags override the file, and validates them naming the flag', async () => {
    const file = path.join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ root: '/from/file', state: '/state/file', log_level: 'warn', grpc: { address: '/file.sock' } }));
    const c = await loadConfig(file, { root: '/from/flag', address: '/flag.sock' });
    expect(c.root).toBe('/from/flag');
    expect(c.state).toBe('/state/file');
    expect(c.grpc.address).toBe('/flag.sock');
    expect(c.log_level).toBe('warn');
    expect(() => applyFlags(defaultConfig(), { logLevel: 'loud' })).toThrow(/^command line: --log-level: expected one of/);
    expect(() => applyFlags(defaultConfig(), { state: 'x' })).toThrow(/^command line: --state: expected an absolute path/);
  });

  it('names the file when it is missing or not JSON', async () => {
    await expect(loadConfig(path.join(dir, 'missing.json'))).rejects.toThrow(/^config .*missing\.json: ENOENT/);
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{ root: nope');
    await expect(loadConfig(bad)).rejects.toThrow(/^config .*bad\.json: not valid JSON/);
  });

  it('with no file, is the defaults plus flags', async () => {
    expect(await loadConfig(undefined, {})).toEqual(defaultConfig());
  });
});
