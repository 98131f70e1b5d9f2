// A container's files as it sees them (core/files/view.ts, resolve.ts, extract.ts, pack.ts with
// mounts): on real directories, a rootfs with two bind mounts over it (one read-only, one a
// single file), as berthd's files service gets them from a container's spec.

import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerView, extractInView, followLinks, locate, mountsBelow, packPath, readOnlyReason, resolveInRoot, statPath, type ContainerView } from '../src/core/files';
import { encodeHeader, endOfArchive, padding, readTar } from '../src/core/diff/tar';

let dir: string;
let rootfs: string;
let data: string;
let conf: string;
let hostsFile: string;
let view: ContainerView;

/** A tar of files (name → contents) and directories (name ending in /). */
async function* tarOf(entries: [string, string?][]): AsyncGenerator<Buffer> {
  const mtime = { sec: 1_700_000_000, nsec: 0 };
  for (const [name, body] of entries) {
    if (name.endsWith('/')) {
      yield encodeHeader({ name, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime, linkname: '', devmajor: 0, devminor: 0 });
      continue;
    }
    const b = Buffer.from(body ?? '');
    yield encodeHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: b.length, mtime, linkname: '', devmajor: 0, devminor: 0 });
    yield b;
    yield padding(b.length);
  }
  yield endOfArchive();
}

async function names(source: AsyncIterable<Buffer>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(source)) out.push(e.header.name);
  return out;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fview-'));
  rootfs = join(dir, 'rootfs');
  data = join(dir, 'host-data');
  conf = join(dir, 'host-conf');
  hostsFile = join(dir, 'hosts');
  for (const d of [join(rootfs, 'etc'), join(rootfs, 'data'), join(rootfs, 'srv', 'conf'), join(rootfs, 'tmp'), join(data, 'sub'), conf]) mkdirSync(d, { recursive: true });
  writeFileSync(join(rootfs, 'etc', 'hosts'), 'image hosts\n');
  writeFileSync(join(rootfs, 'data', 'hidden'), 'under the mount\n');
  writeFileSync(join(data, 'sub', 'f'), 'on the host\n');
  writeFileSync(join(conf, 'c.ini'), 'x=1\n');
  writeFileSync(hostsFile, 'berthd hosts\n');
  symlinkSync('/data/sub', join(rootfs, 'tmp', 'to-data'));
  symlinkSync('../../..', join(data, 'up'));
  view = await containerView(rootfs, {
    root: { readonly: false },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: [] },
      { destination: '/etc/hosts', type: 'bind', source: hostsFile, options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/data', type: 'bind', source: data, options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/srv/conf/', source: conf, options: ['rbind', 'ro'] },
    ],
  });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the container view', () => {
  test('bind mounts only, each path where the container sees it', () => {
    expect(view.mounts.map((m) => [m.destination.join('/'), m.readonly])).toEqual([['etc/hosts', false], ['data', false], ['srv/conf', true]]);
    expect(locate(view, ['data', 'sub', 'f'])).toMatchObject({ root: data, rel: ['sub', 'f'], host: join(data, 'sub', 'f') });
    expect(locate(view, ['data'])).toMatchObject({ root: data, rel: [], host: data });
    expect(locate(view, ['database'])).toMatchObject({ root: rootfs, rel: ['database'] });
    expect(locate(view, ['etc', 'passwd']).root).toBe(rootfs);
    expect(readOnlyReason(view, locate(view, ['srv', 'conf', 'x']))).toBe('mounted volume is marked read-only');
    expect(readOnlyReason(view, locate(view, ['srv']))).toBeUndefined();
    expect(readOnlyReason({ ...view, readonlyRootfs: true }, locate(view, ['srv']))).toBe('container rootfs is marked read-only');
    expect([...mountsBelow(view, ['srv'])]).toEqual([['conf', conf]]);
    expect([...mountsBelow(view, [])].map(([k]) => k)).toEqual(['etc/hosts', 'data', 'srv/conf']);
  });

  test('paths and symlinks resolve across mounts, never above "/"', async () => {
    expect((await resolveInRoot(view, '/data/sub/f')).host).toBe(join(data, 'sub', 'f'));
    expect((await resolveInRoot(view, '/etc/hosts')).host).toBe(hostsFile);
    // a link in the rootfs into a mount
    const viaLink = await followLinks(view, await resolveInRoot(view, '/tmp/to-data'));
    expect(viaLink).toMatchObject({ containerPath: '/data/sub', host: join(data, 'sub') });
    expect((await resolveInRoot(view, '/tmp/to-data/f')).host).toBe(join(data, 'sub', 'f'));
    // a link in a mount climbing up: the container's "/" (the rootfs), not the host's
    const up = await followLinks(view, await resolveInRoot(view, '/data/up'));
    expect(up).toMatchObject({ containerPath: '/', host: rootfs });
    expect((await resolveInRoot(view, '/data/up/etc/hosts')).host).toBe(hostsFile);
    await expect(resolveInRoot(view, '/nope/x')).rejects.toThrow(/does not exist/);
    expect((await statPath(view, '/data/sub/f')).size).toBe('on the host\n'.length);
    expect((await statPath(view, '/tmp/to-data')).linkTarget).toBe('/data/sub');
  });
});

describe('copying out and in', () => {
  test('a directory holding mounts is packed with what is mounted there', async () => {
    const r = await resolveInRoot(view, '/');
    const listed = await names(packPath(r.host, { name: '.', mountsBelow: mountsBelow(view, []) }));
    expect(listed).toEqual(expect.arrayContaining(['./data/sub/f', './data/up', './etc/hosts', './srv/conf/c.ini']));
    expect(listed).not.toContain('./data/hidden');
    const hosts = [];
    for await (const e of readTar(packPath(r.host, { name: '.', mountsBelow: mountsBelow(view, []) }))) {
      if (e.header.name !== './etc/hosts') continue;
      for await (const c of e.body) hosts.push(c);
    }
    expect(Buffer.concat(hosts).toString()).toBe('berthd hosts\n');
  });

  test('entries land where the container sees them: rootfs and mount sources, in one tar', async () => {
    await extractInView(view, [], tarOf([['tmp/a', 'rootfs file'], ['data/', undefined], ['data/new/', undefined], ['data/new/b', 'in the mount'], ['srv/c', 'rootfs again']]), { noOverwriteDirNonDir: true });
    expect(readFileSync(join(rootfs, 'tmp', 'a'), 'utf8')).toBe('rootfs file');
    expect(readFileSync(join(data, 'new', 'b'), 'utf8')).toBe('in the mount');
    expect(existsSync(join(rootfs, 'data', 'new'))).toBe(false);
    expect(readFileSync(join(rootfs, 'srv', 'c'), 'utf8')).toBe('rootfs again');
    // into the mount itself, through the link that leads there
    const dest = await followLinks(view, await resolveInRoot(view, '/tmp/to-data'));
    await extractInView(view, [...dest.dir, dest.base], tarOf([['g', 'via link']]), { noOverwriteDirNonDir: true, owner: { uid: 0, gid: 0 } });
    expect(readFileSync(join(data, 'sub', 'g'), 'utf8')).toBe('via link');
    // an entry under a link in the mount that leads out of it is refused (each run is confined
    // to its own root), and nothing is written outside
    await expect(extractInView(view, ['data'], tarOf([['up/escaped', 'stays inside']]), { noOverwriteDirNonDir: true })).rejects.toThrow(/leads outside the target directory/);
    expect(lstatSync(join(data, 'up')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(data, 'up'))).toBe('../../..');
    expect(existsSync(join(dir, '..', 'escaped'))).toBe(false);
    expect(existsSync(join(rootfs, 'escaped'))).toBe(false);
  });

  test('a read-only mount, or the rootfs of a --read-only container, is refused', async () => {
    await expect(extractInView(view, ['srv', 'conf'], tarOf([['x', '1']]), { noOverwriteDirNonDir: true })).rejects.toThrow('mounted volume is marked read-only');
    await expect(extractInView(view, ['srv'], tarOf([['conf/x', '1']]), { noOverwriteDirNonDir: true })).rejects.toThrow('mounted volume is marked read-only');
    expect(existsSync(join(conf, 'x'))).toBe(false);
    const ro = { ...view, readonlyRootfs: true };
    await expect(extractInView(ro, ['tmp'], tarOf([['x', '1']]), { noOverwriteDirNonDir: true })).rejects.toThrow('container rootfs is marked read-only');
    await extractInView(ro, ['data'], tarOf([['ok', '1']]), { noOverwriteDirNonDir: true });
    expect(readFileSync(join(data, 'ok'), 'utf8')).toBe('1');
  });
});
