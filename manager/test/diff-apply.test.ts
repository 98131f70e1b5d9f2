import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { applyLayer } from '../src/core/diff';
import { ManagerError } from '../src/core/errors';
import {
  chunked,
  isRoot,
  listTree,
  makeTar,
  mountOverlay,
  removeAll,
  sha256,
  tempDir,
  TestEntry,
  treeXattrs,
  umount,
} from './fixtures/diff/helpers';

// Devices, owners and trusted.* xattrs need root: without it these tests fail, they never skip.
const d = describe;
beforeAll(() => {
  if (!isRoot) throw new Error('the diff tests need root (CI runs as root): run them with sudo');
});

let base: string;
let target: string;
let outside: string;

beforeEach(async () => {
  base = await tempDir();
  // the target sits three levels down so that "../../.." style names have somewhere to go
  target = join(base, 't1', 't2', 'root');
  outside = join(base, 'outside');
  await mkdir(target, { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'do not touch\n');
});

afterEach(async () => {
  await removeAll(base);
});

async function apply(entries: TestEntry[], overlay = false) {
  return applyLayer(chunked(await makeTar(entries)), target, { overlay });
}

/** Everything under base except the target: what no layer may change. */
const outsideView = () => listTree(base, { exclude: ['t1/t2/root'], skipRootTimes: true });

const binaryCap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

d('applyLayer: what a layer holds arrives intact', () => {
  test('modes, owners, times, devices, hardlinks, symlinks and xattrs', async () => {
    const tarBytes = await makeTar([
      { name: 'dir/', type: 'directory', mode: 0o750, uid: 1000, gid: 1001, mtime: 1_500_000_000 },
      { name: 'dir/suid', mode: 0o4755, uid: 0, gid: 0, content: 'binary', mtime: 1_500_000_100 },
      { name: 'dir/sgid', mode: 0o2711, uid: 5, gid: 6, content: 'x', mtime: 1_500_000_200 },
      { name: 'tmp/', type: 'directory', mode: 0o1777, mtime: 1_400_000_000 },
      { name: 'dir/hard', type: 'link', linkname: 'dir/suid' },
      { name: 'link', type: 'symlink', linkname: '/does/not/exist', uid: 7, gid: 8, mtime: 1_300_000_000 },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
      { name: 'fifo', type: 'fifo', mode: 0o640, uid: 3 },
      {
        name: 'ping',
        mode: 0o755,
        content: 'elf',
        pax: {
          'SCHILY.xattr.security.capability': binaryCap,
          'SCHILY.xattr.user.note': 'héllo',
          'SCHILY.xattr.trusted.overlay.redirect': '/etc',
          mtime: '1600000000.123456789',
        },
      },
    ]);
    const result = await applyLayer(chunked(tarBytes), target, { overlay: false });
    expect(result).toEqual({ diffID: sha256(tarBytes), size: tarBytes.length });

    const dir = await lstat(join(target, 'dir'));
    expect(dir.mode & 0o7777).toBe(0o750);
    expect([dir.uid, dir.gid]).toEqual([1000, 1001]);
    // set after its contents were written
    expect(dir.mtimeMs).toBe(1_500_000_000_000);

    const suid = await lstat(join(target, 'dir/suid'));
    expect(suid.mode & 0o7777).toBe(0o4755);
    expect(suid.mtimeMs).toBe(1_500_000_100_000);
    const sgid = await lstat(join(target, 'dir/sgid'));
    expect(sgid.mode & 0o7777).toBe(0o2711);
    expect([sgid.uid, sgid.gid]).toEqual([5, 6]);
    expect((await lstat(join(target, 'tmp'))).mode & 0o7777).toBe(0o1777);

    const hard = await lstat(join(target, 'dir/hard'));
    expect(hard.ino).toBe(suid.ino);
    expect(hard.nlink).toBe(2);

    const link = await lstat(join(target, 'link'));
    expect(link.isSymbolicLink()).toBe(true);
    expect(await readlink(join(target, 'link'))).toBe('/does/not/exist');
    expect([link.uid, link.gid]).toEqual([7, 8]);
    expect(link.mtimeMs).toBe(1_300_000_000_000);

    const nul = await lstat(join(target, 'dev/null'));
    expect(nul.isCharacterDevice()).toBe(true);
    expect(nul.rdev).toBe(0x103);
    expect(nul.mode & 0o7777).toBe(0o666);
    const loop = await lstat(join(target, 'dev/loop0'));
    expect(loop.isBlockDevice()).toBe(true);
    expect(loop.rdev).toBe(0x700);
    expect(loop.gid).toBe(6);
    const fifo = await lstat(join(target, 'fifo'));
    expect(fifo.isFIFO()).toBe(true);
    expect(fifo.mode & 0o7777).toBe(0o640);

    const ping = await lstat(join(target, 'ping'), { bigint: true });
    expect(Number(ping.mtimeNs - 1_600_000_000_123_456_789n)).toBeLessThan(1000); // µs-accurate at least
    expect(Number(ping.mtimeNs - 1_600_000_000_123_456_789n)).toBeGreaterThan(-1000);
    const xa = treeXattrs(target).get(join(target, 'ping'))!;
    expect(Buffer.from(xa['security.capability']!.slice(2), 'base64')).toEqual(binaryCap);
    expect(Buffer.from(xa['user.note']!.slice(2), 'base64').toString()).toBe('héllo');
    // overlayfs's own xattrs are never taken from a layer
    const all = execFileSync('getfattr', ['-h', '--absolute-names', '-d', '-m', '-', join(target, 'ping')]).toString();
    expect(all).not.toContain('trusted.overlay');
  });

  test('gzip is detected and the diffID is the sha256 of the uncompressed tar', async () => {
    const tarBytes = await makeTar([{ name: 'a', content: 'a'.repeat(100_000) }]);
    const gz = gzipSync(tarBytes);
    const r1 = await applyLayer(chunked(gz, 1000), target, { overlay: false });
    expect(r1).toEqual({ diffID: sha256(tarBytes), size: tarBytes.length });
    expect(await readFile(join(target, 'a'), 'utf8')).toBe('a'.repeat(100_000));
    const r2 = await applyLayer(chunked(gz), target, { overlay: false, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    expect(r2.diffID).toBe(sha256(tarBytes));
  });

  test('the diffID covers bytes after the end-of-archive marker', async () => {
    const tarBytes = Buffer.concat([await makeTar([{ name: 'a', content: 'x' }]), Buffer.alloc(10240)]);
    expect(await applyLayer(chunked(tarBytes), target, { overlay: false })).toEqual({ diffID: sha256(tarBytes), size: tarBytes.length });
  });

  test('zstd through the zstd program', async () => {
    if (spawnSync('zstd', ['--version']).status !== 0) return;
    const tarBytes = await makeTar([{ name: 'z', content: 'zstd!' }]);
    const zst = execFileSync('zstd', ['-q', '-c'], { input: tarBytes });
    expect((await applyLayer(chunked(zst), target, { overlay: false })).diffID).toBe(sha256(tarBytes));
    expect(await readFile(join(target, 'z'), 'utf8')).toBe('zstd!');
  });

  test('a plain-tar media type is not decompressed; unknown media types are refused', async () => {
    const gz = gzipSync(await makeTar([{ name: 'a' }]));
    await expect(applyLayer(chunked(gz), target, { overlay: false, mediaType: 'application/vnd.oci.image.layer.v1.tar' })).rejects.toThrow(
      /apply layer: tar: (invalid header checksum|unexpected end of archive)/,
    );
    await expect(
      applyLayer(chunked(gz), target, { overlay: false, mediaType: 'application/vnd.oci.image.layer.v1.tar+encrypted' }),
    ).rejects.toMatchObject({ kind: 'NotImplemented' });
  });

  test('later entries replace earlier ones', async () => {
    await apply([
      { name: 'x', content: 'file' },
      { name: 'x/', type: 'directory' },
      { name: 'x/child', content: 'c' },
      { name: 'y/', type: 'directory' },
      { name: 'y/deep/z', content: 'z' },
      { name: 'y', content: 'now a file' },
      { name: 'z', content: 'old' },
      { name: 'z', type: 'symlink', linkname: 'y' },
      { name: 'w/', type: 'directory', mode: 0o700 },
      { name: 'w/keep', content: 'k' },
      { name: 'w/', type: 'directory', mode: 0o755 },
    ]);
    expect((await lstat(join(target, 'x'))).isDirectory()).toBe(true);
    expect(await readFile(join(target, 'x/child'), 'utf8')).toBe('c');
    expect(await readFile(join(target, 'y'), 'utf8')).toBe('now a file');
    expect(await readlink(join(target, 'z'))).toBe('y');
    expect((await lstat(join(target, 'w'))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(target, 'w/keep'), 'utf8')).toBe('k'); // two dirs merge
  });

  test('unicode and long names', async () => {
    const long = `${'d'.repeat(200)}/${'f'.repeat(200)}`;
    await apply([
      { name: 'ünïcödé/日本語.txt', content: 'u' },
      { name: long, content: 'long' },
    ]);
    expect(await readFile(join(target, 'ünïcödé/日本語.txt'), 'utf8')).toBe('u');
    expect(await readFile(join(target, long), 'utf8')).toBe('long');
  });
});

d('applyLayer: nothing outside the target is ever written', () => {
  async function refused(entries: TestEntry[], entryName: string, pattern?: RegExp) {
    const before = await outsideView();
    const err = await apply(entries).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ManagerError);
    expect((err as Error).message).toContain(JSON.stringify(entryName).slice(0, 200));
    if (pattern) expect((err as Error).message).toMatch(pattern);
    expect(await outsideView()).toEqual(before);
    return err as ManagerError;
  }

  test('"../" names that climb above the root are refused', async () => {
    const err = await refused([{ name: '../../../outside/secret', content: 'pwned' }], '../../../outside/secret', /escapes/);
    expect(err.kind).toBe('InvalidArgument');
    await refused([{ name: 'a/../../x', content: 'x' }], 'a/../../x');
  });

  test('absolute names land under the root', async () => {
    const before = await outsideView();
    await apply([{ name: `/${join(outside, 'secret').slice(1)}`, content: 'inside' }]);
    expect(await readFile(join(target, outside, 'secret'), 'utf8')).toBe('inside');
    expect(await outsideView()).toEqual(before);
  });

  test('a symlink to "/" in the layer resolves to the root, not the host', async () => {
    const unique = `berth-diff-test-${process.pid}-${Date.now()}`;
    const before = await outsideView();
    await apply([
      { name: 'a', type: 'symlink', linkname: '/' },
      { name: `a/etc/${unique}`, content: 'x' },
    ]);
    expect(existsSync(join('/etc', unique))).toBe(false);
    expect(await readFile(join(target, 'etc', unique), 'utf8')).toBe('x');
    expect(await outsideView()).toEqual(before);
  });

  test('an absolute symlink to a host path resolves under the root', async () => {
    const before = await outsideView();
    await apply([
      { name: 'out', type: 'symlink', linkname: outside },
      { name: 'out/secret', content: 'pwned' },
    ]);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('do not touch\n');
    expect(await readFile(join(target, outside, 'secret'), 'utf8')).toBe('pwned');
    expect(await outsideView()).toEqual(before);
  });

  test('relative symlinks that climb out are refused, also in chains', async () => {
    await refused(
      [
        { name: 'up', type: 'symlink', linkname: '..' },
        { name: 'up/x', content: 'x' },
      ],
      'up/x',
      /outside the target/,
    );
    await refused(
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/l1', type: 'symlink', linkname: '../l2' },
        { name: 'l2', type: 'symlink', linkname: 'd/../..' },
        { name: 'd/l1/outside/secret', content: 'pwned' },
      ],
      'd/l1/outside/secret',
    );
    await refused(
      [
        { name: 'rel', type: 'symlink', linkname: '../../../outside' },
        { name: 'rel/secret', content: 'pwned' },
      ],
      'rel/secret',
    );
  });

  test('a symlink loop is an error, not a hang', async () => {
    await refused(
      [
        { name: 'p', type: 'symlink', linkname: 'q' },
        { name: 'q', type: 'symlink', linkname: 'p' },
        { name: 'p/x', content: 'x' },
      ],
      'p/x',
      /too many levels/,
    );
  });

  test('a symlink replacing an extracted directory, then a write through it', async () => {
    await refused(
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/f', content: 'f' },
        { name: 'd', type: 'symlink', linkname: '../../../outside' },
        { name: 'd/secret', content: 'pwned' },
      ],
      'd/secret',
    );
    expect(await readlink(join(target, 'd'))).toBe('../../../outside');
  });

  test('a symlink already on disk (a lower layer) is not a way out', async () => {
    await symlink('../../../outside', join(target, 'lower'));
    await refused([{ name: 'lower/secret', content: 'pwned' }], 'lower/secret');
    // an entry at the symlink's own path replaces the link; the file it pointed to is untouched
    await symlink(join(outside, 'secret'), join(target, 'f'));
    const before = await outsideView();
    await apply([{ name: 'f', content: 'replaced' }]);
    expect((await lstat(join(target, 'f'))).isFile()).toBe(true);
    expect(await outsideView()).toEqual(before);
  });

  test('hardlinks to paths outside are refused', async () => {
    await refused([{ name: 'h', type: 'link', linkname: '../../../outside/secret' }], 'h', /hardlink target/);
    await refused(
      [
        { name: 's', type: 'symlink', linkname: '../../../outside' },
        { name: 'h', type: 'link', linkname: 's/secret' },
      ],
      'h',
    );
    // through an absolute symlink it resolves inside the root, where there is no such file
    await refused(
      [
        { name: 'abs', type: 'symlink', linkname: outside },
        { name: 'h2', type: 'link', linkname: 'abs/secret' },
      ],
      'h2',
      /does not exist/,
    );
    expect((await lstat(join(outside, 'secret'))).nlink).toBe(1);
  });

  test('huge names fail with an error naming the entry', async () => {
    const huge = `${'n'.repeat(300)}/file`;
    const err = await refused([{ name: huge, content: 'x' }], huge);
    expect(err.message).toMatch(/ENAMETOOLONG|name too long/i);
    const deep = Array.from({ length: 300 }, () => 'abcdefghijklmnop').join('/');
    await refused([{ name: deep, content: 'x' }], deep);
  });
});

d('applyLayer: whiteouts', () => {
  async function lowerTree(dir: string) {
    await mkdir(join(dir, 'd/sub'), { recursive: true });
    await mkdir(join(dir, 'keep'), { recursive: true });
    await writeFile(join(dir, 'a'), 'a');
    await writeFile(join(dir, 'd/x'), 'x');
    await writeFile(join(dir, 'd/sub/y'), 'y');
    await writeFile(join(dir, 'keep/z'), 'z');
  }
  const layer: TestEntry[] = [
    { name: '.wh.a' },
    { name: 'd/', type: 'directory' },
    { name: 'd/.wh..wh..opq' },
    { name: 'd/new', content: 'new' },
    { name: 'b', content: 'same layer' },
    { name: '.wh.b' },
    { name: 'keep/.wh.absent' },
    { name: '.wh..wh.plnk/1', content: 'aufs' },
  ];

  test('plain directory: whiteouts remove lower paths, opaque clears the lower contents', async () => {
    await lowerTree(target);
    await apply(layer, false);
    expect((await readdir(target)).sort()).toEqual(['b', 'd', 'keep']);
    expect(await readdir(join(target, 'd'))).toEqual(['new']);
    expect(await readFile(join(target, 'b'), 'utf8')).toBe('same layer');
    expect(await readdir(join(target, 'keep'))).toEqual(['z']);
  });

  test('opaque keeps what the same layer put there, wherever the marker is', async () => {
    await lowerTree(target);
    await apply([
      { name: 'd/', type: 'directory' },
      { name: 'd/sub/', type: 'directory' },
      { name: 'd/sub/fresh', content: 'f' },
      { name: 'd/.wh..wh..opq' },
    ]);
    expect(await readdir(join(target, 'd'))).toEqual(['sub']);
    expect(await readdir(join(target, 'd/sub'))).toEqual(['fresh']);
  });

  test('overlay: whiteout devices and the opaque xattr hide the lower layer when mounted', async () => {
    const lower = join(base, 'lower');
    const work = join(base, 'work');
    const merged = join(base, 'merged');
    await Promise.all([mkdir(lower), mkdir(work), mkdir(merged)]);
    await lowerTree(lower);
    await apply(layer, true);
    const wh = await lstat(join(target, 'a'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(treeXattrs(target).get(join(target, 'd')) ?? {}).toEqual({}); // the helper leaves out trusted.overlay.*
    expect(execFileSync('getfattr', ['-h', '--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', join(target, 'd')]).toString()).toBe('y');
    expect((await lstat(join(target, 'b'))).isFile()).toBe(true);
    mountOverlay(lower, target, work, merged);
    try {
      expect((await readdir(merged)).sort()).toEqual(['b', 'd', 'keep']);
      expect(await readdir(join(merged, 'd'))).toEqual(['new']);
      expect(await readdir(join(merged, 'keep'))).toEqual(['z']);
    } finally {
      umount(merged);
    }
  });
});

d('applyLayer: malformed archives', () => {
  test('a truncated archive is an error', async () => {
    const tarBytes = await makeTar([{ name: 'a', content: 'x'.repeat(5000) }]);
    await expect(applyLayer(chunked(tarBytes.subarray(0, 2000)), target, { overlay: false })).rejects.toThrow(/unexpected end/);
  });
  test('a missing target is a failed precondition', async () => {
    await expect(applyLayer(chunked(await makeTar([])), join(base, 'nope'), { overlay: false })).rejects.toMatchObject({
      kind: 'FailedPrecondition',
    });
  });
});
