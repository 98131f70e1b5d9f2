// applyLayer keeps many entries in flight at once (core/diff/pipeline.ts): these tests check
// that what depends on what still happens in order. The oracle for a whole generated layer is
// the same entries applied one per applyLayer call, where nothing is ever in flight.
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyLayer } from '../src/core/diff';
import { ManagerError } from '../src/core/errors';
import { chunked, isRoot, listTree, makeTar, removeAll, tempDir, TestEntry } from './fixtures/diff/helpers';

beforeAll(() => {
  if (!isRoot) throw new Error('the diff tests need root (CI runs as root): run them with sudo');
});

let base: string;
beforeEach(async () => {
  base = await tempDir();
});
afterEach(async () => {
  await removeAll(base);
});

async function dir(name: string): Promise<string> {
  const d = join(base, name);
  await mkdir(d, { recursive: true });
  return d;
}

/** A deterministic pseudo-random sequence (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A layer that makes the pipeline's ordering matter: files in directories made just before,
 * hardlinks to files still being written (in the same and in other directories), the same
 * path written twice, files replaced by directories and directories (with contents) by files
 * or symlinks, a directory entry after its own contents, a write through a symlink, a file
 * big enough to be streamed, fifos, setuid modes with owners.
 */
function generatedLayer(seed: number): TestEntry[] {
  const rnd = random(seed);
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
  const entries: TestEntry[] = [];
  const dirs: string[] = [];
  const files: string[] = [];
  const modes = [0o644, 0o755, 0o4755, 0o2755, 0o600, 0o6711];
  const ids = [0, 1000, 65534];
  let t = 1_500_000_000;
  const content = (i: number) => Buffer.alloc(Math.floor(rnd() * 3) === 0 ? 0 : Math.floor(rnd() * 40_000), `entry ${i} `);
  const file = (name: string, i: number): TestEntry => ({ name, content: content(i), mode: pick(modes), uid: pick(ids), gid: pick(ids), mtime: t++ });
  const under = (path: string) => (p: string) => p === path || p.startsWith(`${path}/`);
  const forget = (path: string) => {
    for (const list of [dirs, files]) for (let k = list.length - 1; k >= 0; k--) if (under(path)(list[k]!)) list.splice(k, 1);
  };

  for (let d = 0; d < 8; d++) {
    entries.push({ name: `t${d}/`, type: 'directory', mode: pick([0o755, 0o700, 0o2775]), uid: pick(ids), gid: pick(ids), mtime: t++ });
    dirs.push(`t${d}`);
  }
  for (let i = 0; i < 500; i++) {
    const r = rnd();
    if (r < 0.55 || files.length < 5) {
      const name = `${pick(dirs)}/f${i}`;
      entries.push(file(name, i));
      files.push(name);
    } else if (r < 0.65) {
      const name = `${pick(dirs)}/d${i}`;
      entries.push({ name: `${name}/`, type: 'directory', mode: pick([0o755, 0o750]), uid: pick(ids), gid: pick(ids), mtime: t++ });
      dirs.push(name);
    } else if (r < 0.78) {
      // often to the file just written: still in flight
      const target = rnd() < 0.5 ? files[files.length - 1]! : pick(files);
      const name = `${pick(dirs)}/h${i}`;
      entries.push({ name, type: 'link', linkname: target });
      files.push(name);
    } else if (r < 0.84) {
      entries.push({ name: `${pick(dirs)}/s${i}`, type: 'symlink', linkname: `../target-${i}`, uid: pick(ids), mtime: t++ });
    } else if (r < 0.92) {
      // the same path again: a new file, or a symlink, in its place
      const name = pick(files);
      if (rnd() < 0.7) entries.push(file(name, i));
      else {
        entries.push({ name, type: 'symlink', linkname: `elsewhere-${i}`, mtime: t++ });
        forget(name);
      }
    } else if (r < 0.96 && files.length > 5) {
      // a file becomes a directory with a file in it
      const name = pick(files);
      forget(name);
      entries.push({ name: `${name}/`, type: 'directory', mode: 0o711, mtime: t++ }, file(`${name}/inside${i}`, i));
      dirs.push(name);
      files.push(`${name}/inside${i}`);
    } else if (dirs.some((d) => d.includes('/'))) {
      // a directory (whatever is in it, perhaps still being written) becomes a file; the
      // top directories stay, so that there is always somewhere to write
      const name = pick(dirs.filter((d) => d.includes('/')));
      forget(name);
      entries.push(file(name, i));
      files.push(name);
    }
  }
  const top = 't3';
  entries.push(
    // a directory entry after its own contents: merges, takes the new mode and time
    { name: `${top}/`, type: 'directory', mode: 0o750, uid: 1000, gid: 1000, mtime: t++ },
    // a write through a symlink to a directory of the layer
    { name: 'via', type: 'symlink', linkname: top },
    { name: 'via/through', content: 'through a link' },
    { name: 'big', content: Buffer.alloc(5 << 20, 'big'), mode: 0o4755, uid: 1000 },
    { name: `${top}/big-link`, type: 'link', linkname: 'big' },
    { name: 'big-after', content: 'after the big one' },
    { name: `${top}/fifo`, type: 'fifo', mode: 0o640, uid: 7 },
  );
  return entries;
}

/** listTree without directories' times: the one-entry-per-layer oracle touches them per entry. */
async function treeWithoutDirTimes(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [p, json] of Object.entries(await listTree(root))) {
    const d = JSON.parse(json) as Record<string, unknown>;
    if (String(d.mode).startsWith('4')) delete d.mtimeMs;
    out[p] = JSON.stringify(d);
  }
  return out;
}

describe('applyLayer: entries in flight keep their order', () => {
  test.each([1, 2, 3])('a generated layer (seed %i) gives what one entry at a time gives', async (seed) => {
    const entries = generatedLayer(seed);
    const pipelined = await dir('pipelined');
    const oracle = await dir('oracle');
    await applyLayer(chunked(await makeTar(entries), 3000), pipelined, { overlay: false });
    for (const e of entries) await applyLayer(chunked(await makeTar([e])), oracle, { overlay: false });

    const got = await treeWithoutDirTimes(pipelined);
    expect(got).toEqual(await treeWithoutDirTimes(oracle));
    expect(Object.keys(got).length).toBeGreaterThan(300);
    // directories' times: the last entry's for that path, although files went in after it
    const lastTime = new Map<string, number>();
    for (const e of entries) if (e.type === 'directory') lastTime.set(e.name.replace(/\/$/, ''), e.mtime!);
    let checked = 0;
    for (const [name, mtime] of lastTime) {
      const st = await lstat(join(pipelined, name)).catch(() => null);
      if (!st?.isDirectory()) continue; // replaced later
      expect([name, st.mtimeMs]).toEqual([name, mtime * 1000]);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });

  test('setuid survives the owner change of a file written while others are in flight', async () => {
    const target = await dir('t');
    const entries: TestEntry[] = [{ name: 'bin/', type: 'directory' }];
    for (let i = 0; i < 100; i++) entries.push({ name: `bin/p${i}`, content: `#${i}`, mode: 0o4755, uid: 1000 + i, gid: 50 });
    await applyLayer(chunked(await makeTar(entries)), target, { overlay: true });
    for (let i = 0; i < 100; i++) {
      const st = await lstat(join(target, `bin/p${i}`));
      expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o4755, 1000 + i, 50]);
    }
  });

  test('an error names the earliest failing entry, and nothing is written after the call fails', async () => {
    const target = await dir('t');
    const entries: TestEntry[] = [{ name: 'd/', type: 'directory' }];
    for (let i = 0; i < 50; i++) entries.push({ name: `d/ok${i}`, content: 'x'.repeat(i * 100) });
    const first = `d/${'a'.repeat(300)}`; // ENAMETOOLONG, found only when the file is created
    entries.push({ name: first, content: 'x' });
    for (let i = 50; i < 100; i++) entries.push({ name: `d/ok${i}`, content: 'y' });
    entries.push({ name: `d/${'b'.repeat(300)}`, content: 'x' });
    for (let i = 100; i < 300; i++) entries.push({ name: `d/ok${i}`, content: 'z' });

    const err = await applyLayer(chunked(await makeTar(entries)), target, { overlay: false }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ManagerError);
    expect((err as ManagerError).kind).toBe('InvalidArgument');
    expect((err as Error).message).toContain(`apply layer: entry ${JSON.stringify(first)}`);
    const after = await readdir(join(target, 'd'));
    await new Promise((r) => setTimeout(r, 200));
    expect((await readdir(join(target, 'd'))).sort()).toEqual(after.sort());
    expect(after.length).toBeLessThan(300);
  });

  test('a truncated archive fails only once what was in flight has ended', async () => {
    const target = await dir('t');
    const entries: TestEntry[] = [{ name: 'd/', type: 'directory' }];
    for (let i = 0; i < 400; i++) entries.push({ name: `d/f${i}`, content: 'x'.repeat(1000 + i) });
    const tarBytes = await makeTar(entries);
    await expect(applyLayer(chunked(tarBytes.subarray(0, tarBytes.length - 3000)), target, { overlay: false })).rejects.toThrow(
      /unexpected end/,
    );
    const after = await readdir(join(target, 'd'));
    expect(after.length).toBeGreaterThan(300);
    await new Promise((r) => setTimeout(r, 200));
    expect((await readdir(join(target, 'd'))).sort()).toEqual(after.sort());
    // every file that is there is complete: none was cut off by the failure
    for (const name of after) expect((await lstat(join(target, 'd', name))).size).toBe(1000 + Number(name.slice(1)));
  });

  test('lower-layer paths in the way of fresh entries are replaced, never followed', async () => {
    const target = await dir('t1/t2/root');
    const outside = await dir('outside');
    await mkdir(join(target, 'd/was-dir/sub'), { recursive: true });
    await writeFile(join(target, 'd/was-dir/sub/f'), 'lower');
    await writeFile(join(target, 'd/was-file'), 'lower');
    await symlink('../../../../outside', join(target, 'd/was-link'));
    await symlink('../../../../outside/secret', join(target, 'd/file-link'));
    await writeFile(join(outside, 'secret'), 'do not touch\n');

    await applyLayer(
      chunked(
        await makeTar([
          { name: 'd/', type: 'directory' },
          { name: 'd/was-dir', content: 'now a file' },
          { name: 'd/was-file/', type: 'directory', mode: 0o700 },
          { name: 'd/was-file/in', content: 'in' },
          { name: 'd/was-link/', type: 'directory' },
          { name: 'd/was-link/secret', content: 'pwned' },
          { name: 'd/file-link', content: 'replaced' },
          { name: 'd/new', type: 'link', linkname: 'd/was-dir' },
        ]),
      ),
      target,
      { overlay: false },
    );
    expect(await readFile(join(target, 'd/was-dir'), 'utf8')).toBe('now a file');
    expect((await lstat(join(target, 'd/was-file'))).mode & 0o7777).toBe(0o700);
    expect(await readFile(join(target, 'd/was-file/in'), 'utf8')).toBe('in');
    expect((await lstat(join(target, 'd/was-link'))).isDirectory()).toBe(true);
    expect(await readFile(join(target, 'd/was-link/secret'), 'utf8')).toBe('pwned');
    expect((await lstat(join(target, 'd/file-link'))).isFile()).toBe(true);
    expect((await lstat(join(target, 'd/new'))).ino).toBe((await lstat(join(target, 'd/was-dir'))).ino);
    expect(await readdir(outside)).toEqual(['secret']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('do not touch\n');
    await expect(readlink(join(target, 'd/was-link'))).rejects.toThrow(/EINVAL/);
  });

  test('a hardlink to a file of this layer that a later entry removed is refused clearly', async () => {
    const target = await dir('t');
    const err = await applyLayer(
      chunked(
        await makeTar([
          { name: 'a/', type: 'directory' },
          { name: 'a/f', content: 'f' },
          { name: 'a', content: 'a file now' },
          { name: 'a/', type: 'directory' },
          { name: 'h', type: 'link', linkname: 'a/f' },
        ]),
      ),
      target,
      { overlay: false },
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/entry "h": hardlink target "a\/f" does not exist/);
  });
});
