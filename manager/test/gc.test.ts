// Garbage collection (core/gc's Collector) over the real stores: LMDB metadata, the content
// store on disk and the overlayfs snapshotter on a temp dir, with images imported the way
// ctr does it (blobs and unpacked layers under a lease, gc.ref labels on the manifest and
// config, then the image record, then the lease dropped). Needs root (overlay mounts).

import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import { writeBlob, type ContentStore } from '../src/core/content';
import { Collector, type GcStats } from '../src/core/gc';
import { keys, openMetadata, type IngestRecord, type Metadata } from '../src/core/metadata';
import { OverlaySnapshotter, unmount, type Info, type Snapshotter } from '../src/core/snapshots';
import { WalkingDiffer } from '../src/services/diff';
import { NamespacedSnapshotters } from '../src/services/snapshots';
import { mountsBelow } from './support/grpc-server';

jest.setTimeout(60000);

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const NS = 'gc';
const SN = 'overlayfs';
const LABEL_SNAP = `containerd.io/gc.ref.snapshot.${SN}`;

async function layerTar(files: Record<string, string>): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((res) => pack.on('end', res));
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, body);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

interface World {
  root: string;
  md: Metadata;
  overlay: Snapshotter;
  snaps: NamespacedSnapshotters;
  differ: WalkingDiffer;
  collector: Collector;
  store(ns?: string): ContentStore;
}

let w: World;

async function openWorld(wrap: (s: Snapshotter) => Snapshotter = (s) => s): Promise<World> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'gc-test-'));
  const md = await openMetadata({ root });
  const overlay = wrap(await OverlaySnapshotter.open(path.join(root, 'snapshots', SN)));
  const backends = new Map([[SN, overlay]]);
  return {
    root,
    md,
    overlay,
    snaps: new NamespacedSnapshotters(md.db, backends),
    differ: new WalkingDiffer((ns) => md.content.namespace(ns), path.join(root, 'tmpmounts')),
    collector: new Collector({ db: md.db, content: md.content, snapshotters: backends }),
    store: (ns = NS) => md.content.namespace(ns),
  };
}

async function closeWorld(x: World | undefined): Promise<void> {
  if (!x) return;
  await x.overlay.close();
  await x.md.close();
  for (const m of await mountsBelow(x.root)) await unmount(m, { lazy: true }).catch(() => undefined);
  await rm(x.root, { recursive: true, force: true });
}

beforeEach(async () => {
  w = await openWorld();
});

afterEach(async () => {
  await closeWorld(w);
});

interface Imported {
  manifest: string;
  config: string;
  layers: string[];
  /** chain ids: the committed snapshots' keys, base first */
  chain: string[];
}

/**
 * What `ctr images import` does: blobs and the unpacked layers under a lease (the layers
 * applied by the walking differ into overlay snapshots committed as their chain ids), the
 * manifest labelled with gc.ref.content.* of its children and the config with the
 * gc.ref.snapshot of the top layer; then, unless `keepLease`, the image record and the
 * lease's removal.
 */
async function importImage(name: string | null, layerFiles: Record<string, string>[], opts: { ns?: string; lease?: string; keepLease?: boolean } = {}): Promise<Imported> {
  const ns = opts.ns ?? NS;
  const lease = opts.lease ?? `import-${Math.random().toString(16).slice(2)}`;
  await w.md.leases.create(ns, lease);
  const store = w.store(ns);
  const layers: string[] = [];
  const chain: string[] = [];
  let parent = '';
  for (const [i, files] of layerFiles.entries()) {
    const tar = await layerTar(files);
    const digest = sha(tar);
    await writeBlob(store, `layer-${digest}`, tar, { digest, size: tar.length }, { lease });
    layers.push(digest);
    const id = i === 0 ? digest : sha(`${parent} ${digest}`);
    const key = `extract-${i}-${id}`;
    const mounts = await w.snaps.get(ns, SN).prepare(key, parent, {}, lease);
    await w.differ.apply(ns, { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: tar.length }, mounts);
    await w.snaps.get(ns, SN).commit(id, key, {}, lease);
    chain.push(id);
    parent = id;
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers } }));
  const cfgDigest = sha(config);
  await writeBlob(store, `config-${cfgDigest}`, config, { digest: cfgDigest, size: config.length }, { lease, labels: chain.length ? { [LABEL_SNAP]: parent } : {} });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: { digest: cfgDigest, size: config.length },
      layers: layers.map((d) => ({ digest: d })),
    }),
  );
  const mDigest = sha(manifest);
  const mLabels: Record<string, string> = { 'containerd.io/gc.ref.content.config': cfgDigest };
  layers.forEach((d, i) => (mLabels[`containerd.io/gc.ref.content.l.${i}`] = d));
  await writeBlob(store, `manifest-${mDigest}`, manifest, { digest: mDigest, size: manifest.length }, { lease, labels: mLabels });
  if (name) await w.md.images.create(ns, { name, target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: mDigest, size: manifest.length } });
  if (!opts.keepLease) await w.md.leases.delete(ns, lease);
  return { manifest: mDigest, config: cfgDigest, layers, chain };
}

async function blobDigests(ns = NS): Promise<string[]> {
  const out: string[] = [];
  await w.store(ns).walk((i) => void out.push(i.digest));
  return out.sort();
}

async function blobFiles(): Promise<string[]> {
  return (await readdir(path.join(w.root, 'content', 'blobs', 'sha256')).catch(() => [] as string[])).map((h) => `sha256:${h}`).sort();
}

async function snapshotKeys(ns = NS): Promise<string[]> {
  const out: string[] = [];
  await w.snaps.get(ns, SN).walk((i) => void out.push(i.name));
  return out.sort();
}

async function backendSnapshots(): Promise<Info[]> {
  const out: Info[] = [];
  await w.overlay.walk((i) => void out.push(i));
  return out;
}

const snapshotDirs = () => readdir(path.join(w.root, 'snapshots', SN, 'snapshots'));

const all = (i: Imported) => [i.manifest, i.config, ...i.layers].sort();

describe('an imported image', () => {
  it('keeps its content and snapshots; deleting it collects them, records and files', async () => {
    const img = await importImage('docker.io/library/gc:1', [{ 'etc/one': '1\n' }, { 'etc/two': '2\n' }]);
    const first = await w.collector.collect();
    expect(first).toMatchObject({ leases: 0, content: 0, snapshots: 0, blobsDeleted: 0, snapshotsRemoved: 0 });
    expect(await blobDigests()).toEqual(all(img));
    expect(await snapshotKeys()).toEqual([...img.chain].sort());
    expect(await snapshotDirs()).toHaveLength(2);

    await w.md.images.delete(NS, 'docker.io/library/gc:1');
    const stats = await w.collector.collect();
    expect(stats).toMatchObject({ content: 4, snapshots: 2, blobsDeleted: 4, snapshotsRemoved: 2, ingests: 0, leases: 0 });
    expect(stats.contentBytes).toBeGreaterThan(2048); // two layer tars at least
    expect(stats.snapshotBytes).toBeGreaterThan(0);
    expect(stats.bytesFreed).toBe(stats.contentBytes + stats.snapshotBytes);
    expect(await blobDigests()).toEqual([]);
    expect(await blobFiles()).toEqual([]);
    expect(await snapshotKeys()).toEqual([]);
    expect(await backendSnapshots()).toEqual([]);
    expect(await snapshotDirs()).toEqual([]);
  });

  it('shares blob files between namespaces: a file goes only when no namespace records it', async () => {
    const a = await importImage('img:a', [{ f: 'shared layer\n' }]);
    await importImage('img:b', [{ f: 'shared layer\n' }], { ns: 'other' });
    expect(await blobFiles()).toEqual(all(a));
    await w.md.images.delete(NS, 'img:a');
    const s1 = await w.collector.collect();
    expect(s1).toMatchObject({ content: 3, blobsDeleted: 0, snapshots: 1, snapshotsRemoved: 1 });
    expect(await blobDigests()).toEqual([]);
    expect(await blobFiles()).toEqual(all(a)); // namespace "other" still records them
    expect(await snapshotKeys('other')).toEqual(a.chain);
    await w.md.images.delete('other', 'img:b');
    expect(await w.collector.collect()).toMatchObject({ content: 3, blobsDeleted: 3, snapshotsRemoved: 1 });
    expect(await blobFiles()).toEqual([]);
  });
});

describe('leases', () => {
  it('a lease holds what it lists (and what that refers to) until it is deleted', async () => {
    const img = await importImage(null, [{ a: 'a\n' }, { b: 'b\n' }], { lease: 'pull', keepLease: true });
    expect(await w.collector.collect()).toMatchObject({ content: 0, snapshots: 0 });
    expect(await blobDigests()).toEqual(all(img));
    expect(await snapshotKeys()).toEqual([...img.chain].sort());
    await w.md.leases.delete(NS, 'pull');
    expect(await w.collector.collect()).toMatchObject({ content: 4, snapshots: 2, blobsDeleted: 4, snapshotsRemoved: 2 });
    expect(await blobFiles()).toEqual([]);
    expect(await snapshotDirs()).toEqual([]);
  });

  it('an expired lease is dropped and what only it held is collected; an unexpired one keeps its resources', async () => {
    const past = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const future = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await w.md.leases.create(NS, 'old', { 'containerd.io/gc.expire': past });
    await w.md.leases.create(NS, 'new', { 'containerd.io/gc.expire': future });
    const oldBlob = Buffer.from('held by an expired lease');
    const newBlob = Buffer.from('held by a live lease');
    await writeBlob(w.store(), 'o', oldBlob, { digest: sha(oldBlob), size: oldBlob.length }, { lease: 'old' });
    await writeBlob(w.store(), 'n', newBlob, { digest: sha(newBlob), size: newBlob.length }, { lease: 'new' });
    await w.snaps.get(NS, SN).prepare('old-snap', '', {}, 'old');

    const stats = await w.collector.collect();
    expect(stats).toMatchObject({ leases: 1, content: 1, blobsDeleted: 1, contentBytes: oldBlob.length, snapshots: 1, snapshotsRemoved: 1 });
    expect(w.md.leases.list(NS).map((l) => l.id)).toEqual(['new']);
    expect(await blobDigests()).toEqual([sha(newBlob)]);
    expect(await snapshotKeys()).toEqual([]);
  });

  it('a flat lease holds its resources but not what their labels refer to; a snapshot keeps its parents', async () => {
    const img = await importImage(null, [{ a: '1' }, { b: '2' }], { lease: 'pull', keepLease: true });
    await w.md.leases.create(NS, 'flat', { 'containerd.io/gc.flat': '' });
    await w.md.leases.addResource(NS, 'flat', { type: 'content', id: img.manifest });
    // the manifest and config refer to the layers and the top snapshot through labels, which
    // a flat lease does not follow
    await w.md.leases.addResource(NS, 'flat', { type: 'content', id: img.config });
    await w.md.leases.delete(NS, 'pull');
    const stats = await w.collector.collect();
    expect(stats).toMatchObject({ content: 2, snapshots: 2 }); // the two layers; both snapshots
    expect(await blobDigests()).toEqual([img.manifest, img.config].sort());
    expect(await snapshotKeys()).toEqual([]);

    // a snapshot held flat still keeps its parents
    const again = await importImage(null, [{ c: '3' }, { d: '4' }], { lease: 'pull2', keepLease: true });
    await w.md.leases.addResource(NS, 'flat', { type: `snapshots/${SN}`, id: again.chain[1]! });
    await w.md.leases.delete(NS, 'pull2');
    await w.collector.collect();
    expect(await snapshotKeys()).toEqual([...again.chain].sort());
  });

  it('an ingest lives while its lease does, or until it expires when unleased', async () => {
    await w.md.leases.create(NS, 'up');
    const leased = await w.store().writer('leased-ref', { lease: 'up' });
    await leased.write(Buffer.from('partial, leased'));
    await leased.close();
    const free = await w.store().writer('free-ref');
    await free.write(Buffer.from('partial, unleased'));
    await free.close();
    const stale = await w.store().writer('stale-ref');
    await stale.write(Buffer.from('partial, unleased, old'));
    await stale.close();
    // a day later for this one: its expiry (set when its writer opened) has passed
    const rec = w.md.db.view((t) => t.get<IngestRecord>(keys.ingest(NS, 'stale-ref')))!;
    expect(rec.expiresAt).toBeGreaterThan(Date.now());
    expect(w.md.db.view((t) => t.get<IngestRecord>(keys.ingest(NS, 'leased-ref')))!.expiresAt).toBeUndefined();
    await w.md.db.update((t) => t.put(keys.ingest(NS, 'stale-ref'), { ...rec, expiresAt: Date.now() - 1 }));

    const s1 = await w.collector.collect();
    expect(s1).toMatchObject({ ingests: 1, ingestsAborted: 1, contentBytes: 'partial, unleased, old'.length });
    expect((await w.store().listStatuses()).map((s) => s.ref).sort()).toEqual(['free-ref', 'leased-ref']);
    expect(await w.md.content.backend.listStatuses()).toHaveLength(2);

    await w.md.leases.delete(NS, 'up');
    expect(await w.collector.collect()).toMatchObject({ ingests: 1, ingestsAborted: 1 });
    expect((await w.store().listStatuses()).map((s) => s.ref)).toEqual(['free-ref']);
  });

  it('an ingest whose writer is still open keeps its data; the next collection takes it once closed', async () => {
    await w.md.leases.create(NS, 'up');
    const open = await w.store().writer('busy', { lease: 'up' });
    await open.write(Buffer.from('still writing'));
    await w.md.leases.delete(NS, 'up');
    expect(await w.collector.collect()).toMatchObject({ ingests: 1, ingestsAborted: 0 });
    await open.write(Buffer.from(' more'));
    await open.close();
    expect(await w.md.content.backend.listStatuses()).toHaveLength(1);
    await w.md.images.create(NS, { name: 'x', target: { mediaType: 'm', digest: sha('nothing'), size: 1 } });
    await w.md.images.delete(NS, 'x');
    expect(await w.collector.collect()).toMatchObject({ ingestsAborted: 0 }); // no content record went: no content sweep
    // a content record going makes the content side dirty: the orphaned ingest is aborted
    const b = Buffer.from('unreferenced');
    await writeBlob(w.store(), 'u', b, { digest: sha(b), size: b.length });
    expect(await w.collector.collect()).toMatchObject({ content: 1, blobsDeleted: 1, ingestsAborted: 1 });
    expect(await w.md.content.backend.listStatuses()).toEqual([]);
  });
});

describe('references', () => {
  it('follows gc.ref.content labels (bare, .name, /name), not look-alikes; gc.root keeps a blob', async () => {
    const put = async (body: string, labels: Record<string, string> = {}) => {
      const b = Buffer.from(body);
      await writeBlob(w.store(), body, b, { digest: sha(b), size: b.length }, { labels });
      return sha(b);
    };
    const bare = await put('bare');
    const dotted = await put('dotted');
    const slashed = await put('slashed');
    const lookalike = await put('lookalike');
    const deep = await put('deep');
    const viaDotted = await put('via-dotted', { 'containerd.io/gc.ref.content.next': deep });
    const root = await put('root', {
      'containerd.io/gc.root': 'yes',
      'containerd.io/gc.ref.content': bare,
      'containerd.io/gc.ref.content.m.0': dotted,
      'containerd.io/gc.ref.content/x': slashed,
      'containerd.io/gc.ref.contentX': lookalike,
      'containerd.io/gc.ref.content.l.1': viaDotted,
    });
    const stray = await put('stray');
    expect(await w.collector.collect()).toMatchObject({ content: 2, blobsDeleted: 2 });
    expect(await blobDigests()).toEqual([bare, dotted, slashed, deep, viaDotted, root].sort());
    expect((await blobDigests()).includes(stray)).toBe(false);
  });

  it('follows gc.ref.snapshot.<snapshotter>[/name] labels from images, blobs and snapshots; gc.root keeps a snapshot', async () => {
    const sn = w.snaps.get(NS, SN);
    await w.md.leases.create(NS, 'setup');
    for (const k of ['base', 'other', 'kept-by-image', 'kept-by-snapshot', 'rooted', 'loose']) {
      await sn.prepare(`${k}-a`, '', {}, 'setup');
      await sn.commit(k, `${k}-a`, k === 'rooted' ? { 'containerd.io/gc.root': '' } : k === 'other' ? { [`${LABEL_SNAP}/n`]: 'kept-by-snapshot' } : {}, 'setup');
    }
    await sn.prepare('child', 'base', {}, 'setup');
    const b = Buffer.from('cfg');
    await writeBlob(w.store(), 'cfg', b, { digest: sha(b), size: b.length }, { labels: { 'containerd.io/gc.root': '', [LABEL_SNAP]: 'child', [`${LABEL_SNAP}/second`]: 'other' } });
    await w.md.images.create(NS, { name: 'i', target: { mediaType: 'm', digest: sha('none'), size: 0 }, labels: { [LABEL_SNAP]: 'kept-by-image' } });
    await w.md.leases.delete(NS, 'setup');
    expect(await w.collector.collect()).toMatchObject({ snapshots: 1, snapshotsRemoved: 1 });
    expect(await snapshotKeys()).toEqual(['base', 'child', 'kept-by-image', 'kept-by-snapshot', 'other', 'rooted']);
  });

  it('a container keeps its snapshot and the parents; deleting the container collects it', async () => {
    const img = await importImage('img', [{ a: '1' }, { b: '2' }]);
    await w.md.leases.create(NS, 'run');
    await w.snaps.get(NS, SN).prepare('ctr-1', img.chain[1]!, {}, 'run');
    await w.md.containers.create(NS, { id: 'ctr-1', runtime: { name: 'io.containerd.runc.v2' }, spec: { typeUrl: 't', value: Buffer.from('{}') }, snapshotter: SN, snapshotKey: 'ctr-1', image: 'img' });
    await w.md.leases.delete(NS, 'run');
    await w.md.images.delete(NS, 'img');
    const s1 = await w.collector.collect();
    // the blobs go (nothing refers to them but the image), the snapshots stay
    expect(s1).toMatchObject({ content: 4, snapshots: 0 });
    expect(await snapshotKeys()).toEqual(['ctr-1', ...img.chain].sort());
    await w.md.containers.delete(NS, 'ctr-1');
    expect(await w.collector.collect()).toMatchObject({ snapshots: 3, snapshotsRemoved: 3 });
    expect(await snapshotDirs()).toEqual([]);
  });
});

describe('consistency with concurrent changes', () => {
  /** An overlay snapshotter whose walk() (the collector's first step) waits for `gate`. */
  function gatedWorld(): { gate: () => void; walking: Promise<void>; open: () => Promise<World> } {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const walking = new Promise<void>((r) => (started = r));
    let armed = true;
    const wrap = (s: Snapshotter): Snapshotter =>
      new Proxy(s, {
        get(target, prop, receiver) {
          if (prop === 'walk') {
            return async (...args: Parameters<Snapshotter['walk']>) => {
              if (armed) {
                armed = false;
                started();
                await gate;
              }
              return target.walk(...args);
            };
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    return { gate: () => release(), walking, open: () => openWorld(wrap) };
  }

  it('an image created, a lease taken, a blob committed and a snapshot prepared while a collection runs survive it', async () => {
    await closeWorld(w);
    const g = gatedWorld();
    w = await g.open();
    await importImage('old', [{ a: 'x' }]);
    await w.md.images.delete(NS, 'old'); // garbage now: the collection below removes it

    const gc = w.collector.collect();
    await g.walking; // the collector holds the snapshotter and waits in its first step
    await w.md.leases.create(NS, 'fresh');
    const b = Buffer.from('new blob');
    await writeBlob(w.store(), 'nb', b, { digest: sha(b), size: b.length }, { lease: 'fresh' });
    await w.md.images.create(NS, { name: 'new', target: { mediaType: 'm', digest: sha(b), size: b.length } });
    const prepared = w.snaps.get(NS, SN).prepare('during-gc', '', {}, 'fresh');
    // the prepare waits for the collector's turn on the snapshotter
    expect(await Promise.race([prepared.then(() => 'done'), new Promise((r) => setTimeout(() => r('waiting'), 100))])).toBe('waiting');
    g.gate();
    const stats: GcStats = await gc;
    await prepared;
    expect(stats).toMatchObject({ content: 3, snapshots: 1 }); // the old image only
    expect(await blobDigests()).toEqual([sha(b)]);
    expect(await snapshotKeys()).toEqual(['during-gc']);
    expect(w.md.images.list(NS).map((i) => i.name)).toEqual(['new']);
    expect(w.md.leases.list(NS).map((l) => l.id)).toEqual(['fresh']);
    expect(await blobFiles()).toEqual([sha(b)]);
    // and they stay, being referenced
    expect(await w.collector.collect()).toMatchObject({ content: 0, snapshots: 0 });
    expect(await snapshotKeys()).toEqual(['during-gc']);
  });

  it('a prepare in flight (snapshot made, record not yet written) when a collection starts is recorded before the collector looks', async () => {
    await closeWorld(w);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let inPrepare!: () => void;
    const preparing = new Promise<void>((r) => (inPrepare = r));
    w = await openWorld(
      (s) =>
        new Proxy(s, {
          get(target, prop, receiver) {
            if (prop === 'prepare') {
              return async (...args: Parameters<Snapshotter['prepare']>) => {
                const mounts = await target.prepare(...args);
                inPrepare(); // the backend snapshot exists; the service writes its record next
                await gate;
                return mounts;
              };
            }
            const v = Reflect.get(target, prop, receiver);
            return typeof v === 'function' ? v.bind(target) : v;
          },
        }),
    );
    await w.md.leases.create(NS, 'l');
    const prepared = w.snaps.get(NS, SN).prepare('slow', '', {}, 'l');
    await preparing;
    const gc = w.collector.collect(); // first collection: sweeps every unrecorded snapshot
    await new Promise((r) => setTimeout(r, 100));
    release();
    await prepared;
    const stats = await gc;
    expect(stats).toMatchObject({ snapshots: 0, snapshotsRemoved: 0 });
    expect(await snapshotKeys()).toEqual(['slow']);
    expect(await backendSnapshots()).toHaveLength(1);
  });
});

describe('after a crash', () => {
  it('the first collection removes blob files, ingests and snapshots that no record names', async () => {
    const kept = await importImage('kept', [{ k: 'kept' }]);
    // what a crash can leave: a blob moved into place but never recorded, an ingest nobody
    // records, a snapshot made but never recorded
    const orphan = Buffer.from('orphan blob');
    const bw = await w.md.content.backend.writer('orphan');
    await bw.write(orphan);
    await bw.commit(orphan.length, sha(orphan));
    const iw = await w.md.content.backend.writer('x/orphan-ingest');
    await iw.write(Buffer.from('half'));
    await iw.close();
    await w.overlay.prepare('gc/0000/orphan-snapshot');
    expect(await blobFiles()).toContain(sha(orphan));

    const stats = await w.collector.collect();
    expect(stats).toMatchObject({ content: 0, snapshots: 0, blobsDeleted: 1, ingestsAborted: 1, snapshotsRemoved: 1 });
    expect(await blobFiles()).toEqual(all(kept));
    expect(await w.md.content.backend.listStatuses()).toEqual([]);
    expect((await backendSnapshots()).map((i) => i.name)).toEqual(await (async () => {
      const ref = w.md.db.view((t) => t.get<{ backendKey: string }>(keys.snapshot(NS, SN, kept.chain[0]!)));
      return [ref!.backendKey];
    })());
    // later collections with nothing dirty leave the stores alone
    expect(await w.collector.collect()).toMatchObject({ blobsDeleted: 0, snapshotsRemoved: 0, ingestsAborted: 0 });
  });
});
