import { lstat, readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { NativeSnapshotter } from '../src/core/snapshots/native';
import { snapshotterConformance } from './snapshots-conformance';

snapshotterConformance('native', (root) => NativeSnapshotter.open(root), (ctx) => {
  test('native: mounts are a bind of the snapshot own copy; a child copy is independent and counts whole', async () => {
    const c = ctx();
    await c.layer('base', '', (d) => writeFile(path.join(d, 'big'), Buffer.alloc(256 * 1024, 1)));
    const mounts = await c.sn.prepare('child', 'base');
    expect(mounts).toHaveLength(1);
    expect(mounts[0]).toMatchObject({ type: 'bind', options: ['rw', 'rbind'] });
    expect(mounts[0]!.source).toMatch(new RegExp(`^${c.root}/snapshots/[0-9]+/fs$`));
    const view = await c.sn.view('v', 'base');
    expect(view[0]).toMatchObject({ type: 'bind', options: ['ro', 'rbind'] });
    expect(view[0]!.source).not.toBe(mounts[0]!.source);

    // the copy is a different inode from the parent file
    const dirs = await readdir(path.join(c.root, 'snapshots'));
    const inodes = new Set<number>();
    for (const d of dirs) inodes.add((await lstat(path.join(c.root, 'snapshots', d, 'fs', 'big'))).ino);
    expect(inodes.size).toBe(3);

    await c.withMounts(mounts, (d) => writeFile(path.join(d, 'big'), 'changed'));
    expect(await c.inView('base', async (d) => (await lstat(path.join(d, 'big'))).size)).toBe(256 * 1024);
    await c.withMounts(mounts, (d) => writeFile(path.join(d, 'big'), Buffer.alloc(256 * 1024, 2)));
    await c.sn.commit('childc', 'child');
    expect((await c.sn.usage('childc')).size).toBeGreaterThanOrEqual(256 * 1024);
  });
});
