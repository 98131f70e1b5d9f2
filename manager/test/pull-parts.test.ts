// The pull pipeline's parts (core/pull) on real stores: platform choice, progress throttling,
// distribution-source labels, the ingest follower, and layer unpacking into a real overlayfs
// snapshotter — staged (side by side, renamed into place) and in place giving the same trees,
// and nothing committed when a check fails. The whole pipeline against a real registry is
// e2e/test/berthd-pull.test.ts.

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chainIds } from '../src/core/images';
import { openMetadata, type Metadata } from '../src/core/metadata';
import { acceptedPlatforms, appendSource, chooseManifest, hostName, parsePlatform, platformRank, ProgressTracker, sourceLabelKey, sourcesOf, Limit } from '../src/core/pull';
import { LandingBlob } from '../src/core/pull/follow';
import { unpackLayer, type PullSnapshotter } from '../src/core/pull/unpack';
import { OverlaySnapshotter, unmount, type Snapshotter } from '../src/core/snapshots';
import { NamespacedSnapshotters } from '../src/services/snapshots';
import { chunked, isRoot, listTree, makeTar, type TestEntry } from './fixtures/diff/helpers';
import { mountsBelow } from './support/grpc-server';
import { expectKind } from './support/metadata-tmp';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('platforms (containerd platforms.Only)', () => {
  test('parse normalizes names and refuses bad specs naming the argument', () => {
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/aarch64/v8')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/arm')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('linux/armhf')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('arm64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(() => parsePlatform('linux//amd64')).toThrow(/platform "linux\/\/amd64": expected os\/arch\[\/variant\]/);
    expect(() => parsePlatform('a/b/c/d')).toThrow(/platform/);
  });

  test('arm/v7 accepts v7, v6, v5 in that order; amd64 only itself', () => {
    expect(acceptedPlatforms(parsePlatform('linux/arm/v7')).map((p) => p.variant)).toEqual(['v7', 'v6', 'v5']);
    expect(platformRank({ os: 'linux', architecture: 'arm', variant: 'v6' }, parsePlatform('linux/arm/v7'))).toBe(1);
    expect(platformRank({ os: 'linux', architecture: 'arm', variant: 'v8' }, parsePlatform('linux/arm/v7'))).toBe(-1);
    expect(platformRank({ os: 'linux', architecture: 'arm64', variant: 'v8' }, parsePlatform('linux/arm64'))).toBe(0);
    expect(platformRank({ os: 'linux', architecture: '386' }, parsePlatform('linux/amd64'))).toBe(-1);
  });

  test('the best-ranked manifest wins, then index order; attestations (unknown/unknown) never match', () => {
    const d = (n: number, architecture: string, variant?: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${String(n).repeat(64)}`,
      size: 1,
      platform: { os: architecture === 'unknown' ? 'unknown' : 'linux', architecture, ...(variant ? { variant } : {}) },
    });
    const index = [d(1, 'unknown'), d(2, 'arm', 'v6'), d(3, 'amd64'), d(4, 'arm', 'v7'), d(5, 'arm64', 'v8')];
    expect(chooseManifest(index, parsePlatform('linux/amd64'))?.digest).toBe(index[2]!.digest);
    expect(chooseManifest(index, parsePlatform('linux/arm/v7'))?.digest).toBe(index[3]!.digest);
    expect(chooseManifest(index, parsePlatform('linux/arm/v6'))?.digest).toBe(index[1]!.digest);
    expect(chooseManifest(index, parsePlatform('linux/arm64'))?.digest).toBe(index[4]!.digest);
    expect(chooseManifest(index, parsePlatform('linux/s390x'))).toBeUndefined();
  });
});

describe('progress', () => {
  test('item changes are sent at most once per interval, each item in full; lines at once', async () => {
    const sent: { items: { digest: string; offset: number; status: string }[]; message: string }[] = [];
    const t = new ProgressTracker((u) => sent.push(u), 50);
    t.add({ digest: 'sha256:a', mediaType: 'x', size: 100 }, 'layer');
    for (let i = 1; i <= 100; i++) t.update('sha256:a', { status: 'downloading', offset: i });
    expect(sent).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 80));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.items).toEqual([expect.objectContaining({ digest: 'sha256:a', offset: 100, status: 'downloading', total: 100, kind: 'layer' })]);
    t.message('Retrying');
    expect(sent[1]).toEqual({ items: [], message: 'Retrying' });
    t.update('sha256:a', { status: 'unpacked', offset: 100 });
    t.update('sha256:a', { offset: 7 }); // late offsets of a finished item are dropped
    t.close();
    expect(sent[2]!.items[0]).toMatchObject({ status: 'unpacked', offset: 100 });
    t.update('sha256:a', { status: 'failed' });
    await new Promise((r) => setTimeout(r, 80));
    expect(sent).toHaveLength(3);
  });
});

describe('distribution-source labels and the limit', () => {
  test('containerd key (host without port) and sorted, duplicate-free repositories', () => {
    expect(hostName('127.0.0.1:5000')).toBe('127.0.0.1');
    expect(hostName('[::1]:5000')).toBe('::1');
    expect(sourceLabelKey('docker.io')).toBe('containerd.io/distribution.source.docker.io');
    expect(appendSource(undefined, 'b/x')).toBe('b/x');
    expect(appendSource('b/x', 'a/y')).toBe('a/y,b/x');
    expect(appendSource('a/y,b/x', 'b/x')).toBe('a/y,b/x');
    expect(sourcesOf({ 'containerd.io/distribution.source.127.0.0.1': 'a/y,b/x' }, '127.0.0.1:5000')).toEqual(['a/y', 'b/x']);
  });

  test('Limit holds at most n at once, in the order asked', async () => {
    const l = new Limit(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        l.run(async () => {
          order.push(i);
          peak = Math.max(peak, ++active);
          await new Promise((r) => setTimeout(r, 10));
          active--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('following an ingest', () => {
  let root: string;
  let md: Metadata;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'pull-follow-'));
    md = await openMetadata({ root });
  });
  afterEach(async () => {
    await md.close();
    await rm(root, { recursive: true, force: true });
  });

  test('the reader gets the resumed bytes, then each chunk as it lands, then the end', async () => {
    const data = Buffer.from('0123456789'.repeat(1000));
    const cs = md.content.namespace('default');
    const w1 = await cs.writer('layer-x', { expected: sha(data), total: data.length });
    await w1.write(data.subarray(0, 3000)); // an earlier, interrupted pull
    await w1.close();
    const w = await cs.writer('layer-x', { expected: sha(data), total: data.length });
    const landing = new LandingBlob(data.length);
    landing.advance((await w.status()).offset);
    const got: Buffer[] = [];
    const positions: number[] = [];
    const reading = (async () => {
      for await (const b of landing.read(await cs.ingestReaderAt('layer-x'), { chunkSize: 1000, onRead: (p) => positions.push(p) })) got.push(b);
    })();
    for (let off = 3000; off < data.length; off += 2500) {
      await new Promise((r) => setTimeout(r, 5));
      await w.write(data.subarray(off, off + 2500));
      landing.advance(Math.min(data.length, off + 2500));
    }
    await w.commit(data.length, sha(data));
    landing.end();
    await reading;
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(positions[0]).toBe(1000);
    expect(positions[positions.length - 1]).toBe(data.length);
  });

  test('a failed download fails the reader with its error, even while it waits', async () => {
    const cs = md.content.namespace('default');
    const w = await cs.writer('layer-y', { total: 10 });
    await w.write(Buffer.from('abc'));
    const landing = new LandingBlob(10);
    landing.advance(3);
    const reading = (async () => {
      const out: Buffer[] = [];
      for await (const b of landing.read(await cs.ingestReaderAt('layer-y'))) out.push(b);
      return out;
    })();
    await new Promise((r) => setTimeout(r, 10));
    landing.end(new Error('connection reset by the registry'));
    await expect(reading).rejects.toThrow('connection reset by the registry');
    await w.close();
  });
});

describe('unpacking layers into overlayfs snapshots', () => {
  const SN = 'overlayfs';
  beforeAll(() => {
    // overlay mounts, whiteout devices and trusted xattrs: without root this fails, never skips
    if (!isRoot) throw new Error('the unpack tests need root (CI runs as root): run them with sudo');
  });
  let root: string;
  let md: Metadata;
  let backend: Snapshotter;
  let snaps: NamespacedSnapshotters;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'pull-unpack-'));
    md = await openMetadata({ root });
    backend = await OverlaySnapshotter.open(path.join(root, 'snapshots', SN));
    snaps = new NamespacedSnapshotters(md.db, new Map([[SN, backend]]));
  });
  afterEach(async () => {
    await backend.close();
    await md.close();
    for (const m of await mountsBelow(root)) await unmount(m, { lazy: true }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  // three layers: a base, one that whites out a file and makes a dir opaque (no root entry:
  // the root keeps the base's owner and mode), one with a root entry of its own
  const LAYERS: TestEntry[][] = [
    [
      { name: './', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/hostname', content: 'base\n' },
      { name: 'etc/gone', content: 'x' },
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/a', content: 'a' },
    ],
    [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.gone' },
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory', mode: 0o700 },
      { name: 'var/cache/.wh..wh..opq' },
      { name: 'var/cache/b', content: 'b' },
      { name: 'bin/', type: 'directory' },
      { name: 'bin/tool', content: 'tool', mode: 0o755 },
      { name: 'bin/hard', type: 'link', linkname: 'bin/tool' },
    ],
    [
      { name: './', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/hostname', content: 'top\n' },
    ],
  ];

  async function unpackAll(ns: string, staged: boolean, layers: Buffer[], diffIds?: string[]): Promise<string[]> {
    const sn = snaps.get(ns, SN) as PullSnapshotter;
    await md.leases.create(ns, 'l');
    const ids = diffIds ?? layers.map((l) => sha(l));
    const chain = chainIds(ids);
    const done: Promise<unknown>[] = [];
    for (const [i, layer] of layers.entries()) {
      const gz = gzipSync(layer);
      done.push(
        unpackLayer({
          sn,
          lease: 'l',
          chainId: chain[i]!,
          parent: i === 0 ? '' : chain[i - 1]!,
          parentCommitted: i === 0 ? Promise.resolve() : done[i - 1]!.then(() => undefined),
          bytes: chunked(gz, 3000),
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          diffId: ids[i]!,
          blobCommitted: Promise.resolve(),
          downloadFailure: () => undefined,
          staged,
          what: `layer ${i}`,
        }),
      );
    }
    const settled = await Promise.allSettled(done);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return chain;
  }

  /** Each committed snapshot's own directory, listed. */
  async function trees(ns: string, chain: string[]): Promise<Record<string, string>[]> {
    const sn = snaps.get(ns, SN);
    const mounts = await sn.view(`view-${Math.random()}`, chain[chain.length - 1]!, {});
    const lower = mounts[0]!.options.find((o) => o.startsWith('lowerdir='))!.slice('lowerdir='.length).split(':').reverse();
    const listed = await Promise.all(lower.map((dir) => listTree(dir, { skipRootTimes: true })));
    // an overlay whiteout (a 0/0 character device) is made when applied: its time is now
    for (const t of listed) for (const [k, v] of Object.entries(t)) if (/"rdev":0\b/.test(v)) t[k] = v.replace(/"mtimeMs":\d+,/, '');
    return listed;
  }

  test('staged and in-place unpacking commit the same snapshots', async () => {
    const layers = await Promise.all(LAYERS.map((l) => makeTar(l)));
    const inPlace = await unpackAll('seq', false, layers);
    const staged = await unpackAll('staged', true, layers);
    expect(staged).toEqual(inPlace);
    const a = await trees('seq', inPlace);
    const b = await trees('staged', staged);
    expect(b).toEqual(a);
    // what the layers say: the root owner of layer 1 is inherited from layer 0, layer 2 sets its own
    expect(JSON.parse(a[1]!['.']!)).toMatchObject({ uid: 7, gid: 8, mode: (0o40750).toString(8) });
    expect(JSON.parse(a[2]!['.']!)).toMatchObject({ uid: 0, gid: 0, mode: (0o40755).toString(8) });
    expect(JSON.parse(a[1]!['etc/gone']!).rdev).toBe(0); // an overlay whiteout
    expect(JSON.parse(a[1]!['var/cache']!).xattrs).toBeUndefined(); // overlay's own (opaque) are left out of listings
    for (const ns of ['seq', 'staged']) {
      const infos: { name: string; kind: string; labels: Record<string, string> }[] = [];
      await snaps.get(ns, SN).walk((i) => void infos.push(i));
      expect(infos.filter((i) => i.kind === 'committed').map((i) => i.name).sort()).toEqual([...inPlace].sort());
      expect(infos.filter((i) => i.kind !== 'committed' && !i.name.startsWith('view-'))).toEqual([]);
      for (const i of infos.filter((x) => x.kind === 'committed')) expect(i.labels['containerd.io/snapshot.ref']).toBe(i.name);
    }
  });

  test('a diffID that does not match, or a blob that fails to verify: nothing committed, nothing left', async () => {
    const layers = await Promise.all(LAYERS.slice(0, 2).map((l) => makeTar(l)));
    const wrong = [sha(layers[0]!), sha(Buffer.from('not this'))];
    await expectKind(unpackAll('bad', true, layers, wrong), 'FailedPrecondition', /layer 1: unpacks to sha256:[0-9a-f]{64}, but the image config's rootfs.diff_ids entry is/);
    const left: { name: string; kind: string }[] = [];
    await snaps.get('bad', SN).walk((i) => void left.push(i));
    expect(left.map((i) => [i.name, i.kind])).toEqual([[sha(layers[0]!), 'committed']]);

    const sn = snaps.get('bad2', SN) as PullSnapshotter;
    await md.leases.create('bad2', 'l');
    const notVerified = Promise.reject(new Error('layer 0: the downloaded bytes are not the blob'));
    notVerified.catch(() => undefined); // awaited by the unpacker only before its commit
    const err = await unpackLayer({
      sn,
      lease: 'l',
      chainId: sha(layers[0]!),
      parent: '',
      parentCommitted: Promise.resolve(),
      bytes: chunked(layers[0]!),
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      diffId: sha(layers[0]!),
      blobCommitted: notVerified,
      downloadFailure: () => undefined,
      staged: false,
      what: 'layer 0',
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe('layer 0: the downloaded bytes are not the blob');
    const none: unknown[] = [];
    await snaps.get('bad2', SN).walk((i) => void none.push(i));
    expect(none).toEqual([]);
  });
});
