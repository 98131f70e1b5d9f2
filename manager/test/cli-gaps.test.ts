// The client-side parts of issue 5's last gaps: --ulimit -1 as RLIM_INFINITY (written exactly in
// the spec's JSON), the host's device nodes for --privileged, HOME from a passwd file for exec
// -u, and Docker's container sizes (ps -s, inspect -s).

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from '../src/cli/options';
import { CREATE_OPTIONS, RUN_ONLY_OPTIONS, parseRunOptions, parseUlimit, type RunOptions } from '../src/cli/containers/run-options';
import { RLIM_INFINITY, buildSpec } from '../src/cli/containers/spec';
import { containerDevices, deviceNumbers, hostDevices } from '../src/cli/containers/host-devices';
import { passwdHome } from '../src/cli/containers/user';
import { containerSizes, sizeText, withSizes } from '../src/cli/ops/container-size';
import { packJsonAny } from '../src/api';
import type { Daemon } from '../src/cli/daemon';

const PATH = 'berth run';
const ALL = [...CREATE_OPTIONS, ...RUN_ONLY_OPTIONS];
const opts = (argv: string[]): Promise<RunOptions> => parseRunOptions(parseArgs(argv, ALL, { commandPath: PATH, stopAtFirstArgument: true }), PATH, {}, { run: true });
const spec = async (argv: string[]) =>
  buildSpec({ id: 'f'.repeat(64), opts: await opts([...argv, 'img']), image: { Cmd: ['sh'] }, user: { uid: 0, gid: 0 }, filesDir: '/files', devices: [] });

describe('--ulimit with -1 (unlimited)', () => {
  test('parsed as Docker takes it; other negatives and soft above hard refused', () => {
    expect(parseUlimit('nofile=-1', PATH)).toEqual({ name: 'nofile', soft: -1, hard: -1 });
    expect(parseUlimit('nofile=-1:-1', PATH)).toEqual({ name: 'nofile', soft: -1, hard: -1 });
    expect(parseUlimit('nofile=1024:-1', PATH)).toEqual({ name: 'nofile', soft: 1024, hard: -1 });
    expect(() => parseUlimit('nofile=-1:1024', PATH)).toThrow(/soft limit must be less than or equal to hard limit: unlimited > 1024/);
    expect(() => parseUlimit('nofile=-2', PATH)).toThrow(/soft limit -2: give a number of 0 or more, or -1 for unlimited/);
  });

  test('RLIM_INFINITY in the spec, written as 2^64-1 exactly (what Go decodes into a uint64)', async () => {
    const s = await spec(['--ulimit', 'nofile=-1', '--ulimit', 'core=100:-1']);
    expect(s.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: RLIM_INFINITY, hard: RLIM_INFINITY },
      { type: 'RLIMIT_CORE', soft: 100, hard: RLIM_INFINITY },
    ]);
    const json = Buffer.from(packJsonAny('x', s).value).toString('utf8');
    expect(json).toContain('{"type":"RLIMIT_NOFILE","soft":18446744073709551615,"hard":18446744073709551615}');
    expect(json).toContain('{"type":"RLIMIT_CORE","soft":100,"hard":18446744073709551615}');
    expect(json).not.toContain('18446744073709552000');
    // every other value untouched, and the text still JSON
    expect(JSON.parse(json).process.args).toEqual(['sh']);
    expect(Buffer.from(packJsonAny('x', { a: 'text with \u0000 in it', n: 2 ** 53 }).value).toString()).toBe('{"a":"text with \\u0000 in it","n":9007199254740992}');
  });
});

describe('--privileged: the host devices', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hostdev-'));
    for (const d of ['pts', 'shm', 'net', 'fd', '.udev']) mkdirSync(join(dir, d));
    const mknod = (p: string, type: string, major: number, minor: number) => {
      const r = spawnSync('mknod', ['-m', '0640', join(dir, p), type, String(major), String(minor)]);
      if (r.status !== 0) throw new Error(`mknod: ${r.stderr}`);
    };
    mknod('loop0', 'b', 7, 0);
    mknod('null', 'c', 1, 3);
    mknod('net/tun', 'c', 10, 200);
    mknod('console', 'c', 5, 1);
    mknod('ptmx', 'c', 5, 2);
    mknod('pts/0', 'c', 136, 0);
    mknod('shm/x', 'c', 1, 3);
    mknod('.udev/x', 'c', 1, 3);
    mknod('big', 'c', 300, 70000);
    writeFileSync(join(dir, 'regular'), '');
    symlinkSync('null', join(dir, 'link'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("every char and block device, in subdirectories too, without what Docker leaves out", () => {
    const found = hostDevices(dir);
    expect(found.map((d) => d.pathInContainer)).toEqual([join(dir, 'big'), join(dir, 'loop0'), join(dir, 'net', 'tun'), join(dir, 'null')]);
    expect(found[1]).toEqual({ pathInContainer: join(dir, 'loop0'), type: 'b', major: 7, minor: 0, fileMode: 0o640, uid: 0, gid: 0, permissions: 'rwm' });
    expect(found[0]).toMatchObject({ type: 'c', major: 300, minor: 70000 });
  });

  test("dev_t numbers as glibc splits them; --device wins over the host's node at its path", () => {
    expect(deviceNumbers(0x0703)).toEqual({ major: 7, minor: 3 });
    expect(deviceNumbers((0x12345n << 32n) | 0xabcdeffn)).toEqual({ major: 0x12cde, minor: 0x3450abff });
    const mine = { pathInContainer: '/dev/null', type: 'c' as const, major: 1, minor: 7, fileMode: 0o600, uid: 0, gid: 0, permissions: 'r' };
    expect(containerDevices(false, [mine])).toEqual([mine]);
    const all = containerDevices(true, [mine]);
    expect(all.filter((d) => d.pathInContainer === '/dev/null')).toEqual([mine]);
    expect(all.length).toBeGreaterThan(1);
  });
});

describe('exec -u: HOME from the container\'s passwd', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:web:/var/www:/bin/false\nalias:x:33:33::/other:/bin/sh\nnohome:x:7:7:::/bin/sh\n';
  test('by name, by uid (the first entry), "/" when unknown or empty', () => {
    expect(passwdHome(passwd, { name: 'www' })).toBe('/var/www');
    expect(passwdHome(passwd, { name: 'alias' })).toBe('/other');
    expect(passwdHome(passwd, { uid: 33 })).toBe('/var/www');
    expect(passwdHome(passwd, { uid: 0 })).toBe('/root');
    expect(passwdHome(passwd, { uid: 1234 })).toBe('/');
    expect(passwdHome(passwd, { name: 'nohome' })).toBe('/');
    expect(passwdHome(undefined, { uid: 0 })).toBe('/');
  });
});

describe('container sizes', () => {
  const daemon = (snapshots: { snapshotter: string; key: string; parent: string; size: number }[]) => ({ system: { Df: async () => ({ content: [], snapshots }) } }) as unknown as Daemon;

  test('SizeRw is the own snapshot, SizeRootFs adds every parent', async () => {
    const sizeOf = await containerSizes(
      daemon([
        { snapshotter: 'overlayfs', key: 'c1', parent: 'l2', size: 12_288 },
        { snapshotter: 'overlayfs', key: 'l2', parent: 'l1', size: 1_000_000 },
        { snapshotter: 'overlayfs', key: 'l1', parent: '', size: 2_000_000 },
        { snapshotter: 'native', key: 'c1', parent: '', size: 5 },
      ]),
    );
    expect(sizeOf({ snapshotter: 'overlayfs', snapshotKey: 'c1' })).toEqual({ rw: 12_288, rootFs: 3_012_288 });
    expect(sizeOf({ snapshotter: 'native', snapshotKey: 'c1' })).toEqual({ rw: 5, rootFs: 5 });
    expect(sizeOf({ snapshotter: 'overlayfs', snapshotKey: 'gone' })).toBeUndefined();
    expect(sizeOf({ snapshotter: '', snapshotKey: '' })).toBeUndefined();
  });

  test("Docker's SIZE text and inspect's fields after GraphDriver", () => {
    expect(sizeText({ rw: 2, rootFs: 1_234_567 })).toBe('2B (virtual 1.23MB)');
    expect(sizeText({ rw: 0, rootFs: 0 })).toBe('0B');
    expect(sizeText(undefined)).toBe('0B');
    const doc = withSizes({ Id: 'x', HostConfig: {}, GraphDriver: {}, Mounts: [] }, { rw: 1, rootFs: 2 });
    expect(Object.keys(doc)).toEqual(['Id', 'HostConfig', 'GraphDriver', 'SizeRw', 'SizeRootFs', 'Mounts']);
    expect(doc).toMatchObject({ SizeRw: 1, SizeRootFs: 2 });
    expect(withSizes({ Id: 'x' }, undefined)).toEqual({ Id: 'x', SizeRw: 0, SizeRootFs: 0 });
  });
});
