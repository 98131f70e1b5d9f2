import { execFileSync } from 'node:child_process';
import { chmod, chown, link, lstat, mkdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { applyLayer, computeDiff, LayerDiff } from '../src/core/diff';
import { chunked, isRoot, listTree, mountOverlay, removeAll, sha256, tempDir, umount } from './fixtures/diff/helpers';

// Devices, owners and trusted.* xattrs need root: without it these tests fail, they never skip.
const d = describe;
beforeAll(() => {
  if (!isRoot) throw new Error('the diff tests need root (CI runs as root): run them with sudo');
});

let base: string;
let lower: string;
let upper: string;
let work: string;
let merged: string;

async function collect(diff: LayerDiff): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of diff.stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function entriesOf(tarBytes: Buffer): Promise<tar.Header[]> {
  const out: tar.Header[] = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      out.push(e.header);
      e.resume();
    }
  })();
  ex.end(tarBytes);
  await done;
  return out;
}

/** A copy of the lower tree (cp -a keeps owners, modes, times, xattrs). */
function copyLower(to: string): void {
  execFileSync('cp', ['-a', lower, to]);
}

const T = 1_650_000_000;

beforeEach(async () => {
  base = await tempDir();
  lower = join(base, 'lower');
  upper = join(base, 'upper');
  work = join(base, 'work');
  merged = join(base, 'merged');
  await Promise.all([mkdir(upper), mkdir(work), mkdir(merged)]);
  for (const dir of ['etc', 'bin', 'home/u', 'var/cache/sub', 'opt/gone/deep', 'srv/wasdir', 'keep']) {
    await mkdir(join(lower, dir), { recursive: true });
  }
  const files: Record<string, string> = {
    'etc/conf': 'v1\n',
    'etc/old': 'old\n',
    'etc/wasfile': 'file\n',
    'bin/tool': '#!/bin/sh\n',
    'var/cache/a': 'a',
    'var/cache/sub/b': 'b',
    'opt/gone/deep/x': 'x',
    'srv/wasdir/y': 'y',
    'keep/same': 'same',
  };
  for (const [p, c] of Object.entries(files)) await writeFile(join(lower, p), c);
  await symlink('conf', join(lower, 'etc/conf.link'));
  // fixed times everywhere in the lower tree, deepest first
  for (const p of [...Object.keys(files), 'etc', 'bin', 'home/u', 'home', 'var/cache/sub', 'var/cache', 'var', 'opt/gone/deep', 'opt/gone', 'opt', 'srv/wasdir', 'srv', 'keep']) {
    await utimes(join(lower, p), T, T);
  }
  mountOverlay(lower, upper, work, merged);
});

afterEach(async () => {
  umount(merged);
  await removeAll(base);
});

/** What a container does: every kind of change, made through the overlay mount. */
async function changeThroughOverlay(): Promise<void> {
  const m = (p: string) => join(merged, p);
  await writeFile(m('etc/conf'), 'v2\n');
  execFileSync('setfattr', ['-n', 'user.note', '-v', 'hello', m('etc/conf')]);
  await chmod(m('bin/tool'), 0o4755);
  await chown(m('home/u'), 1000, 1000);
  await rm(m('etc/old'));
  await rm(m('var/cache'), { recursive: true });
  await mkdir(m('var/cache'));
  await writeFile(m('var/cache/new'), 'new');
  await rm(m('opt/gone'), { recursive: true });
  await rm(m('etc/wasfile'));
  await mkdir(m('etc/wasfile'));
  await writeFile(m('etc/wasfile/child'), 'c');
  await rm(m('srv/wasdir'), { recursive: true });
  await writeFile(m('srv/wasdir'), 'now a file');
  await mkdir(m('new'));
  await writeFile(m('new/file'), Buffer.alloc(70_000, 7));
  await link(m('new/file'), m('new/file2'));
  await symlink('../etc/conf', m('new/link'));
  execFileSync('mknod', [m('new/fifo'), 'p']);
  execFileSync('mknod', [m('new/null'), 'c', '1', '3']);
  execFileSync('setfattr', ['-n', 'user.bin', '-v', '0sgP8AAQ==', m('new/file')]); // 80 ff 00 01
  await writeFile(m(`new/${'long-'.repeat(40)}ünï`), 'long');
}

d('computeDiff of an overlay upper dir', () => {
  test('re-applied onto the lower, it gives the overlay view (plain and overlay targets), gzip and not', async () => {
    await changeThroughOverlay();
    const view = await listTree(merged, { skipRootTimes: true });
    umount(merged);

    const plain = computeDiff(lower, upper, { mode: 'overlay' });
    const plainBytes = await collect(plain);
    const digests = await plain.done;
    expect(digests).toEqual({
      diffID: sha256(plainBytes),
      uncompressedSize: plainBytes.length,
      digest: sha256(plainBytes),
      size: plainBytes.length,
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
    });

    const names = (await entriesOf(plainBytes)).map((h) => h.name);
    expect(names).toEqual(expect.arrayContaining(['etc/.wh.old', 'opt/.wh.gone', 'var/cache/', 'var/cache/.wh..wh..opq', 'new/file2']));
    expect(names).not.toContain('keep/same');
    const hdrs = await entriesOf(plainBytes);
    expect(hdrs.find((h) => h.name === 'new/file2')).toMatchObject({ type: 'link', linkname: 'new/file' });

    const gz = computeDiff(lower, upper, { mode: 'overlay', compression: 'gzip' });
    const gzBytes = await collect(gz);
    const gzDigests = await gz.done;
    expect(gunzipSync(gzBytes)).toEqual(plainBytes); // same tar, deterministic
    expect(gzDigests).toMatchObject({ diffID: sha256(plainBytes), digest: sha256(gzBytes), size: gzBytes.length });
    expect(gzDigests.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');

    // onto a plain copy of the lower
    const copy = join(base, 'copy');
    copyLower(copy);
    const applied = await applyLayer(chunked(gzBytes), copy, { overlay: false });
    expect(applied).toEqual({ diffID: sha256(plainBytes), size: plainBytes.length });
    expect(await listTree(copy, { skipRootTimes: true })).toEqual(view);

    // as a fresh overlay upper over the lower
    const upper2 = join(base, 'upper2');
    const work2 = join(base, 'work2');
    const merged2 = join(base, 'merged2');
    await Promise.all([mkdir(upper2), mkdir(work2), mkdir(merged2)]);
    await applyLayer(chunked(plainBytes), upper2, { overlay: true });
    mountOverlay(lower, upper2, work2, merged2);
    try {
      expect(await listTree(merged2, { skipRootTimes: true })).toEqual(view);
    } finally {
      umount(merged2);
    }
  });

  test('binary xattr values survive the round trip', async () => {
    await changeThroughOverlay();
    umount(merged);
    const bytes = await collect(computeDiff(lower, upper, { mode: 'overlay' }));
    const copy = join(base, 'copy');
    copyLower(copy);
    await applyLayer(chunked(bytes), copy, { overlay: false });
    const value = execFileSync('getfattr', ['-h', '--absolute-names', '--only-values', '-n', 'user.bin', join(copy, 'new/file')]);
    expect(value).toEqual(Buffer.from([0x80, 0xff, 0x00, 0x01]));
    expect((await lstat(join(copy, 'new/file'))).ino).toBe((await lstat(join(copy, 'new/file2'))).ino);
  });
});

d('computeDiff comparing two trees', () => {
  test('lower vs the merged view re-applies to the same tree, deterministically', async () => {
    await changeThroughOverlay();
    const view = await listTree(merged, { skipRootTimes: true });
    const a = computeDiff(lower, merged, { mode: 'compare' });
    const bytes = await collect(a);
    expect((await a.done).diffID).toBe(sha256(bytes));
    expect(await collect(computeDiff(lower, merged, { mode: 'compare' }))).toEqual(bytes);

    const hdrs = await entriesOf(bytes);
    const names = hdrs.map((h) => h.name);
    expect(names).toEqual(expect.arrayContaining(['etc/.wh.old', 'opt/.wh.gone', 'etc/conf', 'bin/tool', 'home/u/']));
    expect(names).not.toContain('keep/same');
    expect(names).not.toContain('etc/conf.link');
    expect(names.filter((n) => n.startsWith('opt/gone/'))).toEqual([]); // one whiteout for the whole dir

    const copy = join(base, 'copy');
    copyLower(copy);
    await applyLayer(chunked(bytes), copy, { overlay: false });
    expect(await listTree(copy, { skipRootTimes: true })).toEqual(view);
  });

  test('a same-size rewrite with an unchanged whole-second mtime is still found', async () => {
    umount(merged);
    const other = join(base, 'other');
    copyLower(other);
    await writeFile(join(other, 'keep/same'), 'SAME');
    await utimes(join(other, 'keep/same'), T, T);
    const bytes = await collect(computeDiff(lower, other, { mode: 'compare' }));
    const hdrs = await entriesOf(bytes);
    // the unchanged parent comes along, so that applying restores its times
    expect(hdrs.map((h) => h.name)).toEqual(['keep/', 'keep/same']);
    const copy = join(base, 'copy');
    copyLower(copy);
    await applyLayer(chunked(bytes), copy, { overlay: false });
    expect(await readFile(join(copy, 'keep/same'), 'utf8')).toBe('SAME');
    expect((await lstat(join(copy, 'keep'))).mtimeMs).toBe(T * 1000);
  });

  test('identical trees give an empty layer', async () => {
    umount(merged);
    const other = join(base, 'other');
    copyLower(other);
    const bytes = await collect(computeDiff(lower, other, { mode: 'compare' }));
    expect(bytes).toEqual(Buffer.alloc(1024));
  });
});
