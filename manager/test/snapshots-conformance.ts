// The one conformance suite every Snapshotter implementation must pass (containerd's
// snapshots/testsuite idea, written for berth). A test file calls
//   snapshotterConformance('overlayfs', (root) => OverlaySnapshotter.open(root))
// Every test gets a fresh root under a temp dir, mounts what the snapshotter returns with
// mount(8) at temp targets, and checks files through the mounts. afterEach unmounts whatever
// a test left mounted (also when it failed), fails the test if a mount under the temp dir is
// still there, closes the snapshotter and removes the temp dir.
//
// Needs root (mount, chown, mknod). Not root: the suite fails with one clear test, it does not skip.

import { execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ManagerErrorKind } from '../src/core/errors';
import { mountAll, run, unmount } from '../src/core/snapshots/mount';
import type { Info, Mount, Snapshotter } from '../src/core/snapshots/types';

export type SnapshotterFactory = (root: string) => Promise<Snapshotter>;

/** What a test can reach: the live snapshotter (re-opened by some tests) and mount helpers. */
export interface SuiteContext {
  readonly tmp: string;
  readonly root: string;
  sn: Snapshotter;
  /** mount `mounts` at a fresh temp dir, run fn on it, always unmount */
  withMounts<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T>;
  /** prepare key on parent, apply change through the mount, commit as name */
  layer(name: string, parent: string, change: (dir: string) => Promise<void>, labels?: Record<string, string>): Promise<void>;
  /** a view of `parent`, mounted, fn run on it, then removed */
  inView<T>(parent: string, fn: (dir: string) => Promise<T>): Promise<T>;
  /** the entries of <root>/snapshots */
  snapshotDirs(): Promise<string[]>;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export async function rejectsWith(p: Promise<unknown>, kind: ManagerErrorKind): Promise<void> {
  await expect(p).rejects.toMatchObject({ kind });
}

/** A readable summary of a tree: path → 'd' | 'f:<content>' | 'l:<target>' | other type. */
export async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = await lstat(p);
      if (st.isDirectory()) {
        out[r] = 'd';
        await visit(r);
      } else if (st.isSymbolicLink()) out[r] = `l:${await readlink(p)}`;
      else if (st.isFile()) out[r] = `f:${await readFile(p, 'utf8')}`;
      else if (st.isFIFO()) out[r] = 'p';
      else if (st.isCharacterDevice()) out[r] = `c:${st.rdev}`;
      else out[r] = '?';
    }
  };
  await visit('');
  return out;
}

function mountsUnder(dir: string): string[] {
  // the mount table is read synchronously in a test helper, never in daemon code
  const out = execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.replace(/\\x20/g, ' '))
    .filter((t) => t === dir || t.startsWith(dir + '/'));
}

export function snapshotterConformance(name: string, factory: SnapshotterFactory, extra?: (ctx: () => SuiteContext) => void): void {
  describe(`Snapshotter conformance: ${name}`, () => {
    if (!isRoot()) {
      test('runs as root', () => {
        throw new Error(
          `the ${name} snapshotter conformance suite needs root (it mounts, chowns and mknods); ` +
            `run jest as root (CI does) — uid is ${process.getuid?.()}`,
        );
      });
      return;
    }

    let c: SuiteContext & { mounted: string[] };

    beforeEach(async () => {
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-snap-'));
      const root = path.join(tmp, 'root');
      const mounted: string[] = [];
      const ctx = {
        tmp,
        root,
        mounted,
        sn: undefined as unknown as Snapshotter,
        async withMounts<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
          const target = await mkdtemp(path.join(tmp, 'mnt-'));
          await mountAll(mounts, target);
          mounted.push(target);
          try {
            return await fn(target);
          } finally {
            await unmount(target);
            mounted.splice(mounted.indexOf(target), 1);
          }
        },
        async layer(nm: string, parent: string, change: (dir: string) => Promise<void>, labels?: Record<string, string>) {
          const key = `${nm}-active`;
          await ctx.withMounts(await ctx.sn.prepare(key, parent), change);
          await ctx.sn.commit(nm, key, labels);
        },
        async inView<T>(parent: string, fn: (dir: string) => Promise<T>): Promise<T> {
          const key = `view-of-${parent}-${randomBytes(4).toString('hex')}`;
          try {
            return await ctx.withMounts(await ctx.sn.view(key, parent), fn);
          } finally {
            await ctx.sn.remove(key);
          }
        },
        async snapshotDirs() {
          return (await readdir(path.join(root, 'snapshots'))).sort();
        },
      };
      c = ctx;
      c.sn = await factory(root);
    });

    afterEach(async () => {
      const problems: string[] = [];
      for (const target of c.mounted.reverse()) {
        await unmount(target).catch(() => unmount(target, { lazy: true }).catch(() => undefined));
      }
      const leaked = mountsUnder(c.tmp);
      for (const m of leaked) await unmount(m, { lazy: true }).catch(() => undefined);
      if (leaked.length) problems.push(`mounts left under ${c.tmp}: ${leaked.join(', ')}`);
      await c.sn?.close().catch(() => undefined);
      await rm(c.tmp, { recursive: true, force: true });
      if (problems.length) throw new Error(problems.join('; '));
    });

    const ctx = () => c;

    test('prepare without a parent: an empty, writable root of mode 0755; mounts() repeats prepare()', async () => {
      const mounts = await c.sn.prepare('a');
      expect(await c.sn.mounts('a')).toEqual(mounts);
      await c.withMounts(mounts, async (dir) => {
        expect(await readdir(dir)).toEqual([]);
        const st = await lstat(dir);
        expect(st.mode & 0o7777).toBe(0o755);
        expect([st.uid, st.gid]).toEqual([0, 0]);
        await writeFile(path.join(dir, 'hello'), 'world');
      });
      // the data lives in the snapshot, not in the mount point
      await c.withMounts(await c.sn.mounts('a'), async (dir) => {
        expect(await readFile(path.join(dir, 'hello'), 'utf8')).toBe('world');
      });
      const info = await c.sn.stat('a');
      expect(info).toMatchObject({ name: 'a', parent: '', kind: 'active', labels: {} });
    });

    test('prepare/commit/view chain: each layer sees its parents, changes stay in their layer', async () => {
      await c.layer('c1', '', async (d) => {
        await writeFile(path.join(d, 'foo'), 'one');
        await mkdir(path.join(d, 'dir'));
        await writeFile(path.join(d, 'dir', 'bar'), 'bar');
      });
      await expect(c.sn.stat('c1-active')).rejects.toMatchObject({ kind: 'NotFound' });
      expect(await c.sn.stat('c1')).toMatchObject({ name: 'c1', parent: '', kind: 'committed' });

      await c.layer('c2', 'c1', async (d) => {
        expect(await tree(d)).toEqual({ foo: 'f:one', dir: 'd', 'dir/bar': 'f:bar' });
        await writeFile(path.join(d, 'foo'), 'two');
        await writeFile(path.join(d, 'baz'), 'baz');
        await writeFile(path.join(d, 'dir', 'bar'), 'bar2');
      });
      expect(await c.sn.stat('c2')).toMatchObject({ parent: 'c1', kind: 'committed' });

      await c.layer('c3', 'c2', async (d) => {
        await writeFile(path.join(d, 'three'), '3');
      });

      expect(await c.inView('c3', tree)).toEqual({ foo: 'f:two', baz: 'f:baz', dir: 'd', 'dir/bar': 'f:bar2', three: 'f:3' });
      expect(await c.inView('c2', tree)).toEqual({ foo: 'f:two', baz: 'f:baz', dir: 'd', 'dir/bar': 'f:bar2' });
      expect(await c.inView('c1', tree)).toEqual({ foo: 'f:one', dir: 'd', 'dir/bar': 'f:bar' });

      // two actives on one parent do not see each other
      await c.sn.prepare('x', 'c1');
      await c.sn.prepare('y', 'c1');
      await c.withMounts(await c.sn.mounts('x'), (d) => writeFile(path.join(d, 'foo'), 'x'));
      await c.withMounts(await c.sn.mounts('y'), async (d) => {
        expect(await readFile(path.join(d, 'foo'), 'utf8')).toBe('one');
      });
    });

    test('deletions in a child layer are gone in the grandchild; a re-created directory hides the old contents; renames carry over', async () => {
      await c.layer('base', '', async (d) => {
        await writeFile(path.join(d, 'a'), 'a');
        await writeFile(path.join(d, 'keep'), 'keep');
        await mkdir(path.join(d, 'd'));
        await writeFile(path.join(d, 'd', 'x'), 'x');
        await writeFile(path.join(d, 'd', 'y'), 'y');
        await mkdir(path.join(d, 'e'));
        await writeFile(path.join(d, 'e', 'z'), 'z');
        await mkdir(path.join(d, 'r'));
        await writeFile(path.join(d, 'r', 'f'), 'f');
      });
      await c.layer('child', 'base', async (d) => {
        await rm(path.join(d, 'a'));
        await rm(path.join(d, 'd'), { recursive: true });
        await rm(path.join(d, 'e', 'z'));
        // a directory of a lower layer: overlay answers rename(2) with EXDEV unless redirect_dir
        // is on, and mv(1) then copies and deletes; the result must be the same either way
        await run('mv', [path.join(d, 'r'), path.join(d, 'r2')]);
        await run('mv', [path.join(d, 'keep'), path.join(d, 'kept')]);
      });
      await c.layer('grandchild', 'child', async (d) => {
        expect(await tree(d)).toEqual({ kept: 'f:keep', e: 'd', r2: 'd', 'r2/f': 'f:f' });
        await mkdir(path.join(d, 'd'));
        await writeFile(path.join(d, 'd', 'new'), 'new');
        await writeFile(path.join(d, 'a'), 'again');
      });
      expect(await c.inView('grandchild', tree)).toEqual({
        a: 'f:again',
        kept: 'f:keep',
        d: 'd',
        'd/new': 'f:new',
        e: 'd',
        r2: 'd',
        'r2/f': 'f:f',
      });
      expect(await c.inView('child', tree)).toEqual({ kept: 'f:keep', e: 'd', r2: 'd', 'r2/f': 'f:f' });
      // and the base is untouched
      expect(await c.inView('base', (d) => tree(d))).toEqual({
        a: 'f:a',
        keep: 'f:keep',
        d: 'd',
        'd/x': 'f:x',
        'd/y': 'f:y',
        e: 'd',
        'e/z': 'f:z',
        r: 'd',
        'r/f': 'f:f',
      });
    });

    test('a view is read-only with no parent, one parent and two parents; stat says view', async () => {
      await c.layer('l1', '', (d) => writeFile(path.join(d, 'f1'), '1'));
      await c.layer('l2', 'l1', (d) => writeFile(path.join(d, 'f2'), '2'));
      for (const [key, parent, files] of [
        ['v0', '', []],
        ['v1', 'l1', ['f1']],
        ['v2', 'l2', ['f1', 'f2']],
      ] as const) {
        await c.withMounts(await c.sn.view(key, parent), async (d) => {
          expect((await readdir(d)).sort()).toEqual([...files]);
          await expect(writeFile(path.join(d, 'new'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
          if (files.length) await expect(rm(path.join(d, 'f1'))).rejects.toMatchObject({ code: 'EROFS' });
        });
        expect(await c.sn.stat(key)).toMatchObject({ kind: 'view', parent });
      }
    });

    test('owners, modes, times, xattrs, devices, fifos, symlinks and hard links of a parent layer reach the child', async () => {
      const when = new Date('2001-02-03T04:05:06Z');
      await c.layer('meta', '', async (d) => {
        await chmod(d, 0o750);
        await chown(d, 42, 43);
        await writeFile(path.join(d, 'owned'), 'owned');
        await chown(path.join(d, 'owned'), 1234, 5678);
        await chmod(path.join(d, 'owned'), 0o640);
        await writeFile(path.join(d, 'suid'), '#!/bin/sh\n');
        await chmod(path.join(d, 'suid'), 0o4755);
        await mkdir(path.join(d, 'private'), { mode: 0o700 });
        await chown(path.join(d, 'private'), 7, 8);
        await symlink('../target/of/link', path.join(d, 'sym'));
        await writeFile(path.join(d, 'hard1'), 'shared');
        await link(path.join(d, 'hard1'), path.join(d, 'hard2'));
        await run('mknod', [path.join(d, 'null'), 'c', '1', '3']);
        await run('mkfifo', [path.join(d, 'fifo')]);
        await run('setfattr', ['-n', 'user.berth', '-v', 'xattr-value', path.join(d, 'owned')]);
        await utimes(path.join(d, 'owned'), when, when);
      });
      const check = async (d: string) => {
        const root = await lstat(d);
        expect([root.mode & 0o7777, root.uid, root.gid]).toEqual([0o750, 42, 43]);
        const owned = await lstat(path.join(d, 'owned'));
        expect([owned.mode & 0o7777, owned.uid, owned.gid]).toEqual([0o640, 1234, 5678]);
        expect(owned.mtime.getTime()).toBe(when.getTime());
        expect((await lstat(path.join(d, 'suid'))).mode & 0o7777).toBe(0o4755);
        const priv = await lstat(path.join(d, 'private'));
        expect([priv.mode & 0o7777, priv.uid, priv.gid]).toEqual([0o700, 7, 8]);
        expect(await readlink(path.join(d, 'sym'))).toBe('../target/of/link');
        const h1 = await lstat(path.join(d, 'hard1'));
        const h2 = await lstat(path.join(d, 'hard2'));
        expect(h1.ino).toBe(h2.ino);
        expect(h1.nlink).toBe(2);
        const dev = await lstat(path.join(d, 'null'));
        expect(dev.isCharacterDevice()).toBe(true);
        expect(dev.rdev).toBe((1 << 8) | 3);
        expect((await lstat(path.join(d, 'fifo'))).isFIFO()).toBe(true);
        const { stdout } = await run('getfattr', ['--only-values', '-n', 'user.berth', path.join(d, 'owned')]);
        expect(stdout).toBe('xattr-value');
      };
      // through an active child, a committed child's view, and a view of the layer itself
      await c.layer('child', 'meta', async (d) => {
        await check(d);
        await writeFile(path.join(d, 'unrelated'), 'x');
      });
      await c.inView('child', check);
      await c.inView('meta', check);
    });

    test('labels: given at prepare, replaced (not inherited) at commit, changed by update as containerd does', async () => {
      await c.sn.prepare('a', '', { x: '1', y: '2' });
      const before = await c.sn.stat('a');
      expect(before.labels).toEqual({ x: '1', y: '2' });

      let info = await c.sn.update({ name: 'a', labels: { x: '9', z: '3' } }, ['labels.x']);
      expect(info.labels).toEqual({ x: '9', y: '2' });
      expect(info.created.getTime()).toBe(before.created.getTime());
      expect(info.updated.getTime()).toBeGreaterThanOrEqual(before.updated.getTime());
      expect((await c.sn.stat('a')).labels).toEqual({ x: '9', y: '2' });

      // a named label missing from info.labels is set to '' (containerd's UpdateInfo)
      info = await c.sn.update({ name: 'a', labels: {} }, ['labels.y']);
      expect(info.labels).toEqual({ x: '9', y: '' });

      // no fieldpaths, or 'labels': replace all
      info = await c.sn.update({ name: 'a', labels: { only: 'me' } });
      expect(info.labels).toEqual({ only: 'me' });
      info = await c.sn.update({ name: 'a', labels: { k: 'v' } }, ['labels']);
      expect(info.labels).toEqual({ k: 'v' });

      await rejectsWith(c.sn.update({ name: 'a', labels: {}, parent: 'p' }, ['parent']), 'InvalidArgument');
      await rejectsWith(c.sn.update({ name: 'missing', labels: {} }), 'NotFound');
      await rejectsWith(c.sn.update({ name: 'a', labels: { big: 'x'.repeat(5000) } }), 'InvalidArgument');
      await rejectsWith(c.sn.prepare('b', '', { big: 'x'.repeat(5000) }), 'InvalidArgument');
      expect((await c.sn.stat('a')).labels).toEqual({ k: 'v' });

      await c.sn.commit('c', 'a', { committed: 'yes' });
      expect((await c.sn.stat('c')).labels).toEqual({ committed: 'yes' });
      await c.sn.commit('c2', (await c.sn.prepare('a2', 'c', { gone: 'soon' }), 'a2'));
      expect((await c.sn.stat('c2')).labels).toEqual({});

      info = await c.sn.update({ name: 'c', labels: { committed: 'updated' } }, ['labels.committed']);
      expect(info).toMatchObject({ kind: 'committed', labels: { committed: 'updated' } });
      const seen: string[] = [];
      await c.sn.walk((i) => void seen.push(i.name), ['labels.committed==updated']);
      expect(seen).toEqual(['c']);
    });

    test('usage: an active is measured live; commit records blocks and inodes with hard links counted once', async () => {
      await c.sn.prepare('a');
      const empty = await c.sn.usage('a');
      expect(empty.inodes).toBe(1); // the root directory
      const MiB = 1 << 20;
      await c.withMounts(await c.sn.mounts('a'), async (d) => {
        await writeFile(path.join(d, 'big'), randomBytes(MiB));
        await link(path.join(d, 'big'), path.join(d, 'big-link'));
        await mkdir(path.join(d, 'sub'));
        await writeFile(path.join(d, 'sub', 'small'), 'small');
        // a sparse file counts the blocks it has, not its length
        await run('truncate', ['-s', '64M', path.join(d, 'sparse')]);
      });
      const live = await c.sn.usage('a');
      expect(live.inodes).toBe(5); // root, big (twice linked), sub, sub/small, sparse
      expect(live.size).toBeGreaterThanOrEqual(MiB);
      expect(live.size).toBeLessThan(MiB + 256 * 1024);

      await c.sn.commit('c', 'a');
      expect(await c.sn.usage('c')).toEqual(live);
      await rejectsWith(c.sn.usage('a'), 'NotFound');
    });

    test('stat and walk: kinds, parents, and containerd filters', async () => {
      await c.layer('c1', '', async () => undefined, { team: 'a', 'containerd.io/gc.root': 'x' });
      await c.layer('c2', 'c1', async () => undefined, { team: 'b' });
      await c.sn.prepare('a1', 'c2', { team: 'a' });
      await c.sn.view('v1', 'c1');

      const walk = async (...filters: string[]) => {
        const out: Info[] = [];
        await c.sn.walk((i) => void out.push(i), filters);
        return out.map((i) => i.name).sort();
      };
      const all: Info[] = [];
      await c.sn.walk((i) => void all.push(i));
      expect(Object.fromEntries(all.map((i) => [i.name, [i.kind, i.parent]]))).toEqual({
        c1: ['committed', ''],
        c2: ['committed', 'c1'],
        a1: ['active', 'c2'],
        v1: ['view', 'c1'],
      });
      for (const i of all) {
        expect(await c.sn.stat(i.name)).toEqual(i);
        expect(i.created).toBeInstanceOf(Date);
        expect(i.updated.getTime()).toBeGreaterThanOrEqual(i.created.getTime());
      }

      expect(await walk('labels."team"==a')).toEqual(['a1', 'c1']);
      expect(await walk('labels.team==a')).toEqual(['a1', 'c1']);
      expect(await walk('kind==committed')).toEqual(['c1', 'c2']);
      expect(await walk('kind==active')).toEqual(['a1']);
      expect(await walk('kind==committed,labels.team==a')).toEqual(['c1']);
      expect(await walk('kind==view', 'labels.team==b')).toEqual(['c2', 'v1']); // any filter matches
      expect(await walk('parent==c1')).toEqual(['c2', 'v1']);
      expect(await walk('parent')).toEqual(['a1', 'c2', 'v1']); // present: has a parent
      expect(await walk('labels."containerd.io/gc.root"')).toEqual(['c1']);
      // containerd's != has no presence check: a snapshot without the label matches too.
      expect(await walk('labels.team!=a')).toEqual(['c2', 'v1']);
      expect(await walk('name~=^c[0-9]$')).toEqual(['c1', 'c2']);
      expect(await walk('labels.team==c')).toEqual([]);
      expect(await walk('')).toEqual(['a1', 'c1', 'c2', 'v1']);
      await rejectsWith(walk('labels.team=='), 'InvalidArgument');
      await rejectsWith(walk('kind=committed'), 'InvalidArgument');
      await rejectsWith(walk('labels."unterminated==a'), 'InvalidArgument');

      let calls = 0;
      await expect(
        c.sn.walk(() => {
          calls++;
          throw new Error('stop here');
        }),
      ).rejects.toThrow('stop here');
      expect(calls).toBe(1);
    });

    test('remove: refused while children exist (views count), then active, view and committed go with their files', async () => {
      await c.layer('c1', '', (d) => writeFile(path.join(d, 'f'), '1'));
      await c.layer('c2', 'c1', (d) => writeFile(path.join(d, 'g'), '2'));
      await c.sn.prepare('a1', 'c2');
      await c.sn.view('v1', 'c1');
      expect(await c.snapshotDirs()).toHaveLength(4);

      await rejectsWith(c.sn.remove('c1'), 'FailedPrecondition');
      await rejectsWith(c.sn.remove('c2'), 'FailedPrecondition');
      // a refused remove changes nothing
      expect(await c.inView('c2', tree)).toEqual({ f: 'f:1', g: 'f:2' });

      await c.sn.remove('a1');
      await rejectsWith(c.sn.stat('a1'), 'NotFound');
      await rejectsWith(c.sn.mounts('a1'), 'NotFound');
      expect(await c.snapshotDirs()).toHaveLength(3);

      await c.sn.remove('c2');
      await rejectsWith(c.sn.remove('c1'), 'FailedPrecondition'); // v1 still uses it
      await c.sn.remove('v1');
      await c.sn.remove('c1');
      expect(await c.snapshotDirs()).toEqual([]);
      const left: string[] = [];
      await c.sn.walk((i) => void left.push(i.name));
      expect(left).toEqual([]);
      await rejectsWith(c.sn.remove('c1'), 'NotFound');

      // a removed name can be used again
      await c.sn.prepare('c1');
      expect((await c.sn.stat('c1')).kind).toBe('active');
    });

    test('errors are the ones containerd returns, and a failed call leaves no directory behind', async () => {
      await c.layer('c1', '', async () => undefined);
      await c.sn.prepare('a1', 'c1');
      await c.sn.view('v1', 'c1');
      const dirs = await c.snapshotDirs();

      await rejectsWith(c.sn.prepare('a1'), 'AlreadyExists');
      await rejectsWith(c.sn.prepare('c1'), 'AlreadyExists'); // keys and names share one namespace
      await rejectsWith(c.sn.view('v1', 'c1'), 'AlreadyExists');
      await rejectsWith(c.sn.view('a1'), 'AlreadyExists');
      await rejectsWith(c.sn.prepare('p', 'missing'), 'NotFound');
      await rejectsWith(c.sn.view('p', 'missing'), 'NotFound');
      await rejectsWith(c.sn.prepare('p', 'a1'), 'InvalidArgument'); // parent must be committed
      await rejectsWith(c.sn.prepare('p', 'v1'), 'InvalidArgument');
      await rejectsWith(c.sn.prepare(''), 'InvalidArgument');

      await rejectsWith(c.sn.commit('n', 'v1'), 'FailedPrecondition'); // a view cannot be committed
      await rejectsWith(c.sn.commit('n', 'c1'), 'FailedPrecondition'); // nor a committed one
      await rejectsWith(c.sn.commit('n', 'missing'), 'NotFound');
      await rejectsWith(c.sn.commit('c1', 'a1'), 'AlreadyExists');
      await rejectsWith(c.sn.commit('v1', 'a1'), 'AlreadyExists');
      await rejectsWith(c.sn.commit('', 'a1'), 'InvalidArgument');
      expect((await c.sn.stat('a1')).kind).toBe('active'); // failed commits left it active

      await rejectsWith(c.sn.mounts('c1'), 'FailedPrecondition');
      await rejectsWith(c.sn.mounts('missing'), 'NotFound');
      await rejectsWith(c.sn.stat('missing'), 'NotFound');
      await rejectsWith(c.sn.usage('missing'), 'NotFound');
      await rejectsWith(c.sn.remove('missing'), 'NotFound');

      expect(await c.snapshotDirs()).toEqual(dirs);
      await c.withMounts(await c.sn.mounts('a1'), (d) => writeFile(path.join(d, 'ok'), 'ok'));
    });

    test('concurrent prepares of one key: exactly one wins, the loser leaves no directory', async () => {
      const results = await Promise.allSettled([c.sn.prepare('k'), c.sn.prepare('k'), c.sn.view('k')]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ kind: 'AlreadyExists' });
      expect(await c.snapshotDirs()).toHaveLength(1);
    });

    test('re-open on the same root keeps snapshots, labels, usage, parents and files; ids are not reused', async () => {
      await c.layer('c1', '', (d) => writeFile(path.join(d, 'base'), 'base'), { l: '1' });
      await c.sn.prepare('a1', 'c1', { l: 'active' });
      await c.withMounts(await c.sn.mounts('a1'), (d) => writeFile(path.join(d, 'work'), 'in progress'));
      await c.sn.view('v1', 'c1');
      await c.sn.prepare('tmp');
      const before: Info[] = [];
      await c.sn.walk((i) => void before.push(i));
      const usage = await c.sn.usage('c1');
      const tmpDirs = await c.snapshotDirs();
      await c.sn.remove('tmp'); // the highest id
      const usedIds = new Set(tmpDirs);

      await c.sn.close();
      c.sn = await factory(c.root);

      const after: Info[] = [];
      await c.sn.walk((i) => void after.push(i));
      expect(after).toEqual(before.filter((i) => i.name !== 'tmp'));
      expect(await c.sn.usage('c1')).toEqual(usage);
      await c.withMounts(await c.sn.mounts('a1'), async (d) => {
        expect(await tree(d)).toEqual({ base: 'f:base', work: 'f:in progress' });
      });
      await c.sn.commit('c2', 'a1');
      await c.sn.prepare('new');
      const fresh = (await c.snapshotDirs()).filter((d) => !usedIds.has(d));
      expect(fresh).toHaveLength(1); // 'new' got an id never used before
      expect(await c.inView('c2', tree)).toEqual({ base: 'f:base', work: 'f:in progress' });
    });

    test('open removes the directories a crash can leave (unrecorded ids, new-*, rm-*) and keeps the rest', async () => {
      await c.layer('c1', '', (d) => writeFile(path.join(d, 'f'), 'kept'));
      const kept = await c.snapshotDirs();
      await c.sn.close();
      for (const orphan of ['999', 'new-1000', 'rm-3']) {
        await mkdir(path.join(c.root, 'snapshots', orphan, 'fs'), { recursive: true });
        await writeFile(path.join(c.root, 'snapshots', orphan, 'fs', 'junk'), 'junk');
      }
      c.sn = await factory(c.root);
      expect(await c.snapshotDirs()).toEqual(kept);
      expect(await c.inView('c1', tree)).toEqual({ f: 'f:kept' });
    });

    test('a 20-layer chain: every layer adds, changes and deletes; views at the top and the middle', async () => {
      let parent = '';
      for (let i = 1; i <= 20; i++) {
        await c.layer(`L${i}`, parent, async (d) => {
          await writeFile(path.join(d, `layer-${i}`), String(i));
          await writeFile(path.join(d, 'common'), String(i));
          if (i > 2) await rm(path.join(d, `layer-${i - 2}`));
          await mkdir(path.join(d, 'dirs', String(i)), { recursive: true });
        });
        parent = `L${i}`;
      }
      const expectAt = (n: number) => {
        const t: Record<string, string> = { common: `f:${n}`, dirs: 'd' };
        for (let i = Math.max(1, n - 1); i <= n; i++) t[`layer-${i}`] = `f:${i}`;
        for (let i = 1; i <= n; i++) t[`dirs/${i}`] = 'd';
        return t;
      };
      expect(await c.inView('L20', tree)).toEqual(expectAt(20));
      expect(await c.inView('L10', tree)).toEqual(expectAt(10));
      await c.layer('L21', 'L20', async (d) => expect(await tree(d)).toEqual(expectAt(20)));

      for (let i = 21; i >= 2; i--) expect((await c.sn.stat(`L${i}`)).parent).toBe(`L${i - 1}`);
      await rejectsWith(c.sn.remove('L10'), 'FailedPrecondition');
      for (let i = 21; i >= 1; i--) await c.sn.remove(`L${i}`);
      expect(await c.snapshotDirs()).toEqual([]);
    });

    test('close is idempotent and every later call fails', async () => {
      await c.sn.prepare('a');
      await c.sn.close();
      await c.sn.close();
      await expect(c.sn.stat('a')).rejects.toThrow();
      await expect(c.sn.prepare('b')).rejects.toThrow();
    });

    if (extra) extra(ctx);
  });
}
