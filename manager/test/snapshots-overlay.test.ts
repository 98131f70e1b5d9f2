import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { mountAll, unmount } from '../src/core/snapshots/mount';
import { OverlaySnapshotter } from '../src/core/snapshots/overlay';
import { rejectsWith, snapshotterConformance, tree } from './snapshots-conformance';

const hasIndexParam = () =>
  access('/sys/module/overlay/parameters/index').then(
    () => true,
    () => false,
  );

snapshotterConformance('overlayfs', (root) => OverlaySnapshotter.open(root), (ctx) => {
  test('overlayfs: mount shapes follow containerd (bind, ro bind of the parent, overlay nearest-first)', async () => {
    const c = ctx();
    await c.layer('l1', '', async () => undefined);
    await c.layer('l2', 'l1', async () => undefined);

    const a0 = await c.sn.prepare('a0');
    expect(a0).toEqual([{ type: 'bind', source: expect.stringMatching(/\/snapshots\/\d+\/fs$/), options: ['rw', 'rbind'] }]);
    const v0 = await c.sn.view('v0');
    expect(v0[0]).toMatchObject({ type: 'bind', options: ['ro', 'rbind'] });

    // a view of one committed layer is a read-only bind of that layer's own dir
    const v1 = await c.sn.view('v1', 'l1');
    const l1Dir = v1[0]!.source;
    expect(v1[0]).toMatchObject({ type: 'bind', options: ['ro', 'rbind'] });

    const a2 = await c.sn.prepare('a2', 'l2');
    expect(a2).toHaveLength(1);
    expect(a2[0]).toMatchObject({ type: 'overlay', source: 'overlay' });
    const opts = a2[0]!.options;
    const get = (k: string) => opts.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
    const lowers = get('lowerdir')!.split(':');
    expect(lowers).toHaveLength(2);
    expect(lowers[1]).toBe(l1Dir); // nearest parent first, the base last
    expect(get('upperdir')).toMatch(/\/snapshots\/\d+\/fs$/);
    expect(get('workdir')).toBe(get('upperdir')!.replace(/fs$/, 'work'));
    expect(opts.includes('index=off')).toBe(await hasIndexParam());

    // a view of two layers: overlay with lower dirs only
    const v2 = await c.sn.view('v2', 'l2');
    expect(v2[0]!.type).toBe('overlay');
    expect(v2[0]!.options.some((o) => o.startsWith('upperdir=') || o.startsWith('workdir='))).toBe(false);
  });

  test('overlayfs: usage of a layer counts its upper dir only; a deletion leaves a whiteout there', async () => {
    const c = ctx();
    await c.layer('base', '', (d) => writeFile(path.join(d, 'big'), Buffer.alloc(1 << 20, 1)));
    await c.layer('small', 'base', async (d) => {
      await writeFile(path.join(d, 'tiny'), 'x');
    });
    expect((await c.sn.usage('base')).size).toBeGreaterThanOrEqual(1 << 20);
    const small = await c.sn.usage('small');
    expect(small.size).toBeLessThan(64 * 1024);
    expect(small.inodes).toBe(2);
    await c.sn.prepare('del', 'small');
    const upper = (await c.sn.mounts('del'))[0]!.options.find((o) => o.startsWith('upperdir='))!.slice(9);
    await c.withMounts(await c.sn.mounts('del'), (d) => rm(path.join(d, 'big')));
    expect(await tree(upper)).toEqual({ big: 'c:0' }); // overlay's whiteout: a 0/0 char device
  });

  test('overlayfs: a 130-layer chain mounts although its lowerdir list is longer than a page', async () => {
    const c = ctx();
    let parent = '';
    for (let i = 1; i <= 130; i++) {
      const key = `k${i}`;
      await c.sn.prepare(key, parent);
      // write straight into the upper dir: this test is about the mount of the whole chain
      const m = (await c.sn.mounts(key))[0]!;
      const upper = m.type === 'bind' ? m.source : m.options.find((o) => o.startsWith('upperdir='))!.slice(9);
      await writeFile(path.join(upper, `f${i}`), String(i));
      await c.sn.commit(`L${i}`, key);
      parent = `L${i}`;
    }
    const mounts = await c.sn.prepare('top', parent);
    expect(mounts[0]!.options.join(',').length).toBeGreaterThan(4096);
    await c.withMounts(mounts, async (d) => {
      const t = await tree(d);
      expect(Object.keys(t)).toHaveLength(130);
      expect(t['f1']).toBe('f:1');
      expect(t['f130']).toBe('f:130');
    });
  });

  test('overlayfs: open on a root where overlay cannot work fails with Unavailable', async () => {
    const c = ctx();
    // a root on overlayfs itself: overlay refuses an upper dir there
    const base = path.join(c.tmp, 'ovl');
    for (const d of ['l', 'u', 'w', 'm']) await mkdir(path.join(base, d), { recursive: true });
    const m = path.join(base, 'm');
    await mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${base}/l`, `upperdir=${base}/u`, `workdir=${base}/w`] }], m);
    try {
      await rejectsWith(OverlaySnapshotter.open(path.join(m, 'root')), 'Unavailable');
      await expect(OverlaySnapshotter.open(path.join(m, 'root'))).rejects.toThrow(/overlayfs is not usable on/);
    } finally {
      await unmount(m);
    }
    await rejectsWith(OverlaySnapshotter.open(path.join(c.tmp, 'a,b')), 'InvalidArgument');
  });
});
