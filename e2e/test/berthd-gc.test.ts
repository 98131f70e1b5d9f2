import { readdirSync } from 'fs';
import { join } from 'path';
import { PrivateBerthd, usePrivateBerthd } from './support/berthd';
import type { Image } from './support/image';

// berthd's garbage collector under Debian's ctr (containerd 1.6): what `ctr images import`
// stores stays while the image does (ctr's gc.ref labels tie manifest, config, layers and
// unpacked snapshots to it), and `ctr images rm --sync` answers once all of it is gone —
// records, blob files and snapshot directories.

let d: PrivateBerthd;
let image: Image;
usePrivateBerthd({ importImage: false }, (it) => ({ d, image } = it));

const lines = (s: string) => s.split('\n').slice(1).filter(Boolean);
const dirEntries = (p: string) => {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
};

describe('garbage collection in berthd', () => {
  it('ctr plugins ls lists the gc scheduler', async () => {
    const r = await d.ctr(['plugins', 'ls', 'type==io.containerd.gc.v1']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).map((l) => l.trim().split(/\s+/))).toEqual([['io.containerd.gc.v1', 'scheduler', '-', 'ok']]);
  });

  it('ctr images import, then images rm --sync: content and snapshots are gone', async () => {
    const imported = await d.ctr(['images', 'import', image.tar]);
    expect([imported.code, imported.stderr]).toEqual([0, '']);
    // ctr dropped its import lease; a synchronous collection now must keep everything the
    // image refers to
    expect((await d.ctr(['leases', 'create', '--id', 'gc-probe'])).code).toBe(0);
    expect((await d.ctr(['leases', 'rm', '--sync', 'gc-probe'])).code).toBe(0);
    const blobs = lines((await d.ctr(['content', 'ls'])).stdout);
    expect(blobs.length).toBeGreaterThanOrEqual(3); // manifest, config, layer (+ the layout's index)
    expect((await d.ctr(['snapshots', 'ls'])).stdout).toMatch(/^sha256:[0-9a-f]{64}\s+Committed\s*$/m);
    const blobDir = join(d.root, 'content', 'blobs', 'sha256');
    const snapshotDir = join(d.root, 'snapshots', 'overlayfs', 'snapshots');
    expect(dirEntries(blobDir)).toHaveLength(blobs.length);
    expect(dirEntries(snapshotDir).length).toBeGreaterThanOrEqual(1);

    const rm = await d.ctr(['images', 'rm', '--sync', image.ref]);
    expect([rm.code, rm.stderr]).toEqual([0, '']);
    expect((await d.ctr(['images', 'ls', '-q'])).stdout.trim()).toBe('');
    expect(lines((await d.ctr(['content', 'ls'])).stdout)).toEqual([]);
    expect(lines((await d.ctr(['snapshots', 'ls'])).stdout)).toEqual([]);
    expect(dirEntries(blobDir)).toEqual([]);
    expect(dirEntries(snapshotDir)).toEqual([]);
    // berthd logged what it collected, with the bytes freed
    const collected = d
      .log()
      .split('\n')
      .filter((l) => l.includes('"garbage collected"'))
      .map((l) => JSON.parse(l) as { blobs_deleted: number; snapshots_removed: number; bytes_freed: number });
    expect(collected.some((c) => c.blobs_deleted === blobs.length && c.snapshots_removed >= 1 && c.bytes_freed > 0)).toBe(true);
  });
});
