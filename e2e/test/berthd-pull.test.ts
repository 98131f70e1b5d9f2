import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { spawnSync } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { BERTH_IMAGES, createClient, type Client } from '../../manager/src/api';
import { usePrivateBerthd, type PrivateBerthd } from './support/berthd';
import { until } from './support/berth-cli';
import { multiPlatformImage, type MultiPlatformImage } from './support/fixtures';
import type { Image } from './support/image';
import {
  TEST_PASSWORD, TEST_USER, ociLayout, pushTestImage, skopeoCacheGuard, skopeoPush, startFlakyProxy, startRegistry,
  type FlakyProxy, type TestRegistry,
} from './support/registry';

// berthd's pull pipeline (berth.images.v1 Pull, Login) against Debian's docker-registry filled
// by skopeo: images run with ctr afterwards; digests pinned; platforms chosen from an index;
// a corrupted blob refused with nothing committed; downloads cut by a flaky proxy resumed —
// within one pull, and after berthd is killed mid-pull; 404 and 401 named; login checked.
// Pulls go through the flaky proxy (its request log shows what berthd asked for); skopeo
// pushes to the registry itself.

let d: PrivateBerthd;
let image: Image;
usePrivateBerthd({ importImage: false }, (it) => ({ d, image } = it));

let dir: string;
let layout: string;
let reg: TestRegistry;
let proxy: FlakyProxy;
let images: Client<typeof BERTH_IMAGES>;
let restoreCache: () => void;
let multi: MultiPlatformImage;

beforeAll(async () => {
  restoreCache = skopeoCacheGuard();
  dir = mkdtempSync(join(tmpdir(), 'pulltest-'));
  layout = ociLayout(image, join(dir, 'layout'));
  reg = await startRegistry();
  proxy = await startFlakyProxy(reg);
  images = createClient(BERTH_IMAGES, d.address, { namespace: 'default' });
}, 60_000);

afterAll(async () => {
  images?.close();
  await proxy?.close();
  await reg?.stop();
  multi?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
  restoreCache?.();
});

interface Item {
  digest: string;
  mediaType: string;
  kind: string;
  status: string;
  offset: number;
  total: number;
  resumed: number;
}
interface Progress {
  items: Item[];
  message: string;
  image: { name: string; digest: string; mediaType: string; size: number; configDigest: string; chainId: string } | null;
}
interface PullOutcome {
  messages: Progress[];
  image?: NonNullable<Progress['image']>;
  error?: ServiceError;
  ms: number;
}

/** One Pull call, its messages collected (onMessage sees each as it comes). */
function pull(req: Record<string, unknown>, opts: { namespace?: string; onMessage?: (m: Progress) => void } = {}): Promise<PullOutcome> {
  const t0 = Date.now();
  const stream = images.Pull(req as never, opts.namespace ? { namespace: opts.namespace } : {}) as unknown as ClientReadableStream<Progress>;
  const messages: Progress[] = [];
  return new Promise((resolve) => {
    stream.on('data', (m: Progress) => {
      messages.push(m);
      opts.onMessage?.(m);
    });
    stream.on('error', (error: ServiceError) => resolve({ messages, error, ms: Date.now() - t0 }));
    stream.on('end', () => resolve({ messages, image: messages[messages.length - 1]?.image ?? undefined, ms: Date.now() - t0 }));
  });
}

async function pulled(req: Record<string, unknown>, namespace?: string): Promise<PullOutcome & { image: NonNullable<Progress['image']> }> {
  const r = await pull(req, namespace ? { namespace } : {});
  if (r.error || !r.image) throw new Error(`pull ${JSON.stringify(req)}: ${r.error?.message ?? 'no image in the last message'}`);
  return r as PullOutcome & { image: NonNullable<Progress['image']> };
}

/** The last state of each item. */
function finalItems(messages: Progress[]): Map<string, Item> {
  const out = new Map<string, Item>();
  for (const m of messages) for (const i of m.items) out.set(i.digest, i);
  return out;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** `ctr content ls` as digest → labels. */
async function contentLabels(namespace = 'default'): Promise<Map<string, Record<string, string>>> {
  const r = await d.ctr(['content', 'ls'], { namespace });
  expect(r.code).toBe(0);
  const out = new Map<string, Record<string, string>>();
  for (const line of r.stdout.split('\n').slice(1).filter(Boolean)) {
    // DIGEST SIZE AGE LABELS: the age has spaces ("3 seconds"), labels none
    const f = line.trim().split(/\s+/);
    const last = f[f.length - 1]!;
    out.set(f[0]!, Object.fromEntries(last.includes('=') ? last.split(',').map((kv) => kv.split('=') as [string, string]) : []));
  }
  return out;
}

/** `ctr snapshots ls` as [key, kind] pairs. */
async function snapshots(namespace = 'default'): Promise<[string, string][]> {
  const r = await d.ctr(['snapshots', 'ls'], { namespace });
  expect(r.code).toBe(0);
  return r.stdout.split('\n').slice(1).filter(Boolean).map((l) => {
    const f = l.trim().split(/\s+/);
    return [f[0]!, f[f.length - 1]!];
  });
}

const blobGets = (path: RegExp = /\/blobs\/sha256:/) => proxy.requests.filter((r) => r.method === 'GET' && path.test(r.path));

/**
 * An OCI layout of one gzip layer holding `size` random bytes (so no two tests share a blob,
 * and a cut at byte N is a cut at byte N of the blob): its layer's digest and size.
 */
function randomImage(name: string, size: number, compression: 'gzip' | 'zstd' = 'gzip'): { layout: string; layer: { digest: string; size: number }; config: string } {
  const base = join(dir, name);
  const rootfs = join(base, 'rootfs');
  const out = join(base, 'layout');
  const blobs = join(out, 'blobs', 'sha256');
  mkdirSync(rootfs, { recursive: true });
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(rootfs, 'data'), randomBytes(size));
  const tarFile = join(base, 'layer.tar');
  const t = spawnSync('tar', ['-cf', tarFile, '--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-C', rootfs, '.']);
  if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
  const tar = readFileSync(tarFile);
  const gz = spawnSync(compression, compression === 'gzip' ? ['-n', '-1', '-c', tarFile] : ['-q', '-c', tarFile], { maxBuffer: size * 2 + (1 << 20) }).stdout as Buffer;
  const put = (b: Buffer) => {
    const dg = sha256(b);
    writeFileSync(join(blobs, dg.slice(7)), b);
    return dg;
  };
  const layer = { digest: put(gz), size: gz.length };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }));
  const configDigest = put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: `application/vnd.oci.image.layer.v1.tar+${compression}`, ...layer }],
    }),
  );
  const md = put(manifest);
  writeFileSync(join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(out, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }),
  );
  rmSync(rootfs, { recursive: true, force: true });
  return { layout: out, layer, config: configDigest };
}

/** Where docker-registry keeps a blob's bytes. */
const registryBlob = (r: TestRegistry, digest: string) => join(r.dir, 'storage', 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');

describe('berthd pulls from a registry (berth.images.v1)', () => {
  let busyboxDigest: string;

  it('pulls an image skopeo pushed, unpacks it as containerd would, and ctr runs it', async () => {
    busyboxDigest = await pushTestImage(reg, layout, 'e2e/busybox:1');
    const ref = `${proxy.host}/e2e/busybox:1`;
    const r = await pulled({ reference: ref });
    expect(r.image).toMatchObject({ name: ref, digest: busyboxDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    expect(r.image.chainId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.messages[0]!.message).toBe(`Resolving ${ref}`);
    const items = finalItems(r.messages);
    const kinds = [...items.values()].map((i) => [i.kind, i.status]).sort();
    expect(kinds).toEqual([['config', 'done'], ['layer', 'unpacked'], ['manifest', 'done']]);
    const layer = [...items.values()].find((i) => i.kind === 'layer')!;
    expect(layer.offset).toBe(layer.total);

    // containerd's labels: what the collector follows, and where each blob came from
    const labels = await contentLabels();
    const manifestLabels = labels.get(busyboxDigest)!;
    expect(manifestLabels['containerd.io/gc.ref.content.config']).toBe(r.image.configDigest);
    expect(manifestLabels['containerd.io/gc.ref.content.l.0']).toBe(layer.digest);
    expect(labels.get(r.image.configDigest)!['containerd.io/gc.ref.snapshot.overlayfs']).toBe(r.image.chainId);
    expect(labels.get(layer.digest)!['containerd.io/uncompressed']).toBe(r.image.chainId); // one layer: chain id = diffID
    for (const dg of [busyboxDigest, r.image.configDigest, layer.digest]) expect(labels.get(dg)!['containerd.io/distribution.source.127.0.0.1']).toBe('e2e/busybox');
    expect(await snapshots()).toEqual([[r.image.chainId, 'Committed']]);
    // the pull's lease is gone: the record holds everything now
    expect((await d.ctr(['leases', 'ls', '-q'])).stdout.trim()).toBe('');
    expect((await d.ctr(['images', 'ls', '-q'])).stdout.trim().split('\n')).toEqual([ref]);

    const run = await d.ctr(['run', '--rm', ref, 'pulled-1', 'echo', 'hello from a pulled image']);
    expect([run.code, run.stdout, run.stderr]).toEqual([0, 'hello from a pulled image\n', '']);
    expect(await snapshots()).toEqual([[r.image.chainId, 'Committed']]); // ctr found it unpacked
    console.log(`pull of the busybox image (${layer.total} bytes gzip) from an empty store: ${r.ms} ms`);
  });

  it('a second pull fetches no blob: everything is in the content store and unpacked', async () => {
    proxy.reset();
    const r = await pulled({ reference: `${proxy.host}/e2e/busybox:1` });
    expect(r.image.digest).toBe(busyboxDigest);
    expect([...finalItems(r.messages).values()].map((i) => i.status)).toEqual(['exists', 'exists', 'exists']);
    expect(blobGets()).toEqual([]);
  });

  it('skip_unpack fetches only; a later pull unpacks the stored blobs without fetching them', async () => {
    const ref = `${proxy.host}/e2e/busybox:1`;
    const fetchOnly = await pulled({ reference: ref, skipUnpack: true }, 'skip');
    expect(fetchOnly.image.chainId).toBe('');
    expect([...finalItems(fetchOnly.messages).values()].map((i) => i.status)).toEqual(['done', 'done', 'done']);
    expect(await snapshots('skip')).toEqual([]);
    proxy.reset();
    const r = await pulled({ reference: ref }, 'skip');
    const layer = [...finalItems(r.messages).values()].find((i) => i.kind === 'layer')!;
    const statuses = r.messages.flatMap((m) => m.items.filter((i) => i.digest === layer.digest).map((i) => i.status));
    expect(statuses[statuses.length - 1]).toBe('unpacked');
    expect(statuses).not.toContain('downloading');
    expect(statuses).not.toContain('exists');
    expect(blobGets()).toEqual([]);
    expect(await snapshots('skip')).toEqual([[r.image.chainId, 'Committed']]);
  });

  it('pulls a Docker schema 2 image, and a zstd one, into another namespace', async () => {
    const v2 = await pushTestImage(reg, layout, 'e2e/busybox:v2s2', { format: 'v2s2' });
    const r = await pulled({ reference: `${proxy.host}/e2e/busybox:v2s2` }, 'other');
    expect(r.image).toMatchObject({ digest: v2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
    const run = await d.ctr(['run', '--rm', `${proxy.host}/e2e/busybox:v2s2`, 'pulled-v2s2', 'echo', 'schema 2 ok'], { namespace: 'other' });
    expect([run.code, run.stdout]).toEqual([0, 'schema 2 ok\n']);
    // zstd (the zstd program: Node 20's zlib has none); skopeo keeps a compressed layer as it is
    const img = randomImage('zstd', 200_000, 'zstd');
    const zstd = await skopeoPush(`oci:${img.layout}:latest`, `${reg.host}/e2e/zstd:1`, { extra: ['--dest-tls-verify=false'] });
    const z = await pulled({ reference: `${proxy.host}/e2e/zstd:1` }, 'other');
    expect(z.image.digest).toBe(zstd);
    const layer = finalItems(z.messages).get(img.layer.digest)!;
    expect(layer).toMatchObject({ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', status: 'unpacked' });
    expect(await snapshots('other')).toContainEqual([z.image.chainId, 'Committed']);
  });

  it('digest-pinned: the record is name@digest; a digest the registry does not have is NotFound', async () => {
    const ref = `${proxy.host}/e2e/busybox@${busyboxDigest}`;
    const r = await pulled({ reference: ref }, 'pinned');
    expect(r.image).toMatchObject({ name: ref, digest: busyboxDigest });
    const missing = `${proxy.host}/e2e/busybox@sha256:${'0'.repeat(64)}`;
    const bad = await pull({ reference: missing }, { namespace: 'pinned' });
    expect(bad.error?.code).toBe(5);
    expect(bad.error?.details).toContain(`sha256:${'0'.repeat(64)}`);
    expect((await d.ctr(['images', 'ls', '-q'], { namespace: 'pinned' })).stdout.trim()).toBe(ref);
  });

  it("the labels hold: a collection keeps a pulled image whole, and takes all of it once it is removed", async () => {
    const ref = `${proxy.host}/e2e/busybox@${busyboxDigest}`;
    expect((await d.ctr(['leases', 'ls', '-q'], { namespace: 'pinned' })).stdout.trim()).toBe('');
    expect((await d.ctr(['leases', 'create', '--id', 'gc-probe'], { namespace: 'pinned' })).code).toBe(0);
    expect((await d.ctr(['leases', 'rm', '--sync', 'gc-probe'], { namespace: 'pinned' })).code).toBe(0);
    expect([...(await contentLabels('pinned')).keys()]).toHaveLength(3);
    expect(await snapshots('pinned')).toHaveLength(1);
    const rm = await d.ctr(['images', 'rm', '--sync', ref], { namespace: 'pinned' });
    expect([rm.code, rm.stderr]).toEqual([0, '']);
    expect([...(await contentLabels('pinned')).keys()]).toEqual([]);
    expect(await snapshots('pinned')).toEqual([]);
  });

  it('an index: linux/amd64 by default, --platform picks the other, a platform it lacks is named', async () => {
    multi = multiPlatformImage();
    // skopeo gzips the layers on the way: the manifests and the index get new digests, the configs keep theirs
    const indexDigest = await skopeoPush(multi.ociRef, `${reg.host}/e2e/multi:1`, { extra: ['--all', '--dest-tls-verify=false'] });
    const ref = `${proxy.host}/e2e/multi:1`;
    const amd = await pulled({ reference: ref }, 'multi-amd');
    expect(amd.image).toMatchObject({ digest: indexDigest, mediaType: 'application/vnd.oci.image.index.v1+json', configDigest: multi.platforms['linux/amd64']!.config });
    const kinds = [...finalItems(amd.messages).values()].map((i) => i.kind).sort();
    expect(kinds).toEqual(['config', 'index', 'layer', 'manifest']);
    const arm = await pulled({ reference: ref, platform: 'linux/arm64' }, 'multi-arm');
    expect(arm.image).toMatchObject({ digest: indexDigest, configDigest: multi.platforms['linux/arm64']!.config });
    const armManifest = [...finalItems(arm.messages).values()].find((i) => i.kind === 'manifest')!.digest;
    expect(arm.image.chainId).not.toBe(amd.image.chainId);
    // the index's gc label names the one manifest that was fetched
    const idx = (await contentLabels('multi-arm')).get(indexDigest)!;
    expect(idx['containerd.io/gc.ref.content.m.0']).toBe(armManifest);
    expect(await snapshots('multi-arm')).toEqual([[arm.image.chainId, 'Committed']]);
    // both platforms pulled into one namespace: the index holds both manifests, a collection keeps both
    const both = await pulled({ reference: ref, platform: 'linux/arm64' }, 'multi-amd');
    expect(both.image.configDigest).toBe(multi.platforms['linux/arm64']!.config);
    const amdManifest = [...finalItems(amd.messages).values()].find((i) => i.kind === 'manifest')!.digest;
    const held = (await contentLabels('multi-amd')).get(indexDigest)!;
    expect([held['containerd.io/gc.ref.content.m.0'], held['containerd.io/gc.ref.content.m.1']]).toEqual([amdManifest, armManifest]);
    expect((await d.ctr(['leases', 'create', '--id', 'gc-probe'], { namespace: 'multi-amd' })).code).toBe(0);
    expect((await d.ctr(['leases', 'rm', '--sync', 'gc-probe'], { namespace: 'multi-amd' })).code).toBe(0);
    expect((await snapshots('multi-amd')).map(([k]) => k).sort()).toEqual([amd.image.chainId, arm.image.chainId].sort());
    const none = await pull({ reference: ref, platform: 'linux/s390x' }, { namespace: 'multi-none' });
    expect(none.error?.code).toBe(5);
    expect(none.error?.details).toMatch(/no match for platform linux\/s390x in index sha256:[0-9a-f]{64} \(it has linux\/amd64, linux\/arm64\/v8\)/);
    // nothing was fetched that a retry could use: no lease is left behind
    expect((await d.ctr(['leases', 'ls', '-q'], { namespace: 'multi-none' })).stdout.trim()).toBe('');
    const badPlatform = await pull({ reference: ref, platform: 'linux//x' }, { namespace: 'multi-none' });
    expect(badPlatform.error?.code).toBe(3);
    expect(badPlatform.error?.details).toContain('platform "linux//x"');
  });

  it('a corrupted blob is refused, naming the layer; nothing of it is committed', async () => {
    const img = randomImage('corrupt', 300_000);
    await skopeoPush(`oci:${img.layout}:latest`, `${reg.host}/e2e/corrupt:1`, { extra: ['--dest-tls-verify=false'] });
    const file = registryBlob(reg, img.layer.digest);
    const bytes = readFileSync(file);
    bytes[150_000] ^= 0xff;
    writeFileSync(file, bytes);
    const ref = `${proxy.host}/e2e/corrupt:1`;
    const r = await pull({ reference: ref }, { namespace: 'corrupt' });
    expect(r.error?.code).toBe(9);
    expect(r.error?.details).toContain(`${ref}: layer 0 (${img.layer.digest}, application/vnd.oci.image.layer.v1.tar+gzip): the downloaded bytes are not the blob`);
    expect(finalItems(r.messages).get(img.layer.digest)?.status).toBe('failed');
    expect((await d.ctr(['images', 'ls', '-q'], { namespace: 'corrupt' })).stdout.trim()).toBe('');
    expect((await contentLabels('corrupt')).has(img.layer.digest)).toBe(false);
    expect(await snapshots('corrupt')).toEqual([]);
    expect((await d.ctr(['content', 'active'], { namespace: 'corrupt' })).stdout.split('\n').filter(Boolean)).toHaveLength(1); // the header: its ingest is gone too
  });

  it('a body cut mid-layer is fetched again from where it stopped (Range), within the same pull', async () => {
    const img = randomImage('cut', 1_500_000);
    await skopeoPush(`oci:${img.layout}:latest`, `${reg.host}/e2e/cut:1`, { extra: ['--dest-tls-verify=false'] });
    proxy.reset();
    proxy.cutNext(1, 400_000, new RegExp(img.layer.digest));
    const r = await pulled({ reference: `${proxy.host}/e2e/cut:1` }, 'cut');
    // the proxy cuts the connection after sending 400000 bytes; what reached berthd is not asked for again
    const gets = blobGets(new RegExp(img.layer.digest));
    expect(gets.map((g) => g.fault ?? '')).toEqual(['cut', '']);
    expect(gets[0]!.range).toBeUndefined();
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(400_000);
    expect(r.messages.some((m) => m.message.startsWith('Retrying (1) in ') && m.message.includes(`resuming ${img.layer.digest} at byte ${from}`))).toBe(true);
    expect(finalItems(r.messages).get(img.layer.digest)).toMatchObject({ status: 'unpacked', offset: img.layer.size });
  });

  it('berthd killed mid-pull: only the ingest and leased parts are left, and the next pull resumes the ingest', async () => {
    const img = randomImage('killed', 2_000_000);
    await skopeoPush(`oci:${img.layout}:latest`, `${reg.host}/e2e/killed:1`, { extra: ['--dest-tls-verify=false'] });
    const ref = `${proxy.host}/e2e/killed:1`;
    proxy.reset();
    proxy.cutNext(1, 700_000, new RegExp(img.layer.digest));
    let killed: Promise<number> | undefined;
    const first = await pull({ reference: ref }, {
      namespace: 'killed',
      onMessage: (m) => {
        if (!killed && m.message.startsWith('Retrying')) {
          proxy.failNext(1000, 503, /\/blobs\//); // hold the retries off until berthd is gone
          // killed once the unpacker has its snapshot (it follows the ingest: under load it may
          // not have started yet when the cut comes), so there is a half-applied one to clean up
          killed = until('the pull\'s active snapshot', async () => (await snapshots('killed')).some(([, kind]) => kind === 'Active'), 20_000).then(() => d.stop('SIGKILL'));
        }
      },
    });
    expect(await killed).toBe(137);
    expect(first.error).toBeDefined();
    proxy.reset();
    await d.start();
    expect(d.log()).toContain('removed the active snapshot of an interrupted pull');
    images.close();
    images = createClient(BERTH_IMAGES, d.address, { namespace: 'default' });
    // what the dead pull left: its ingest and its lease, no image; its half-applied snapshot
    // was removed when berthd started again
    const active = (await d.ctr(['content', 'active'], { namespace: 'killed' })).stdout;
    expect(active).toContain(`layer-${img.layer.digest}`);
    expect((await d.ctr(['leases', 'ls', '-q'], { namespace: 'killed' })).stdout.trim()).toMatch(/^pull-/);
    expect((await d.ctr(['images', 'ls', '-q'], { namespace: 'killed' })).stdout.trim()).toBe('');
    expect(await snapshots('killed')).toEqual([]);

    const again = await pulled({ reference: ref }, 'killed');
    const layer = finalItems(again.messages).get(img.layer.digest)!;
    expect(layer).toMatchObject({ status: 'unpacked', offset: img.layer.size });
    // what had reached the ingest (berthd writes in pieces of up to 256 KiB) was not fetched again
    expect(layer.resumed).toBeGreaterThan(0);
    expect(layer.resumed).toBeLessThanOrEqual(700_000);
    expect(again.messages.some((m) => m.message === `Resuming layer ${img.layer.digest.slice(0, 19)}… at ${layer.resumed} of ${img.layer.size} bytes`)).toBe(true);
    expect(blobGets(new RegExp(img.layer.digest)).map((g) => g.range)).toEqual([`bytes=${layer.resumed}-`]);
    expect((await d.ctr(['content', 'active'], { namespace: 'killed' })).stdout.split('\n').filter(Boolean)).toHaveLength(1);
  }, 90_000);

  it('two pulls of one image at once: one downloads, the other waits for it; a cancelled pull stops and leaves its ingest', async () => {
    const img = randomImage('twice', 1_000_000);
    await skopeoPush(`oci:${img.layout}:latest`, `${reg.host}/e2e/twice:1`, { extra: ['--dest-tls-verify=false'] });
    proxy.reset();
    const ref = `${proxy.host}/e2e/twice:1`;
    const [a, b] = await Promise.all([pulled({ reference: ref }, 'twice'), pulled({ reference: ref }, 'twice')]);
    expect(a.image.chainId).toBe(b.image.chainId);
    expect(blobGets(new RegExp(img.layer.digest))).toHaveLength(1);
    expect(await snapshots('twice')).toEqual([[a.image.chainId, 'Committed']]);

    const other = randomImage('cancelled', 1_000_000);
    await skopeoPush(`oci:${other.layout}:latest`, `${reg.host}/e2e/cancelled:1`, { extra: ['--dest-tls-verify=false'] });
    proxy.reset();
    proxy.cutNext(1, 300_000, new RegExp(other.layer.digest));
    const logFrom = d.log().length;
    const stream = images.Pull({ reference: `${proxy.host}/e2e/cancelled:1` } as never, { namespace: 'cancel' }) as unknown as ClientReadableStream<Progress>;
    const ended = new Promise<ServiceError>((resolve) => {
      stream.on('data', (m: Progress) => {
        if (m.message.startsWith('Retrying')) {
          proxy.failNext(1000, 503, /\/blobs\//);
          stream.cancel();
        }
      });
      stream.on('error', resolve);
    });
    expect((await ended).code).toBe(1); // CANCELLED
    const logged = () => d.log().slice(logFrom);
    for (let i = 0; i < 50 && !logged().includes('"pull failed"'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(logged()).toMatch(/"err":"the client cancelled the call","msg":"pull failed"/);
    expect((await d.ctr(['content', 'active'], { namespace: 'cancel' })).stdout).toContain(`layer-${other.layer.digest}`);
    expect(await snapshots('cancel')).toEqual([]);
    proxy.reset();
    const again = await pulled({ reference: `${proxy.host}/e2e/cancelled:1` }, 'cancel');
    expect(finalItems(again.messages).get(other.layer.digest)!.resumed).toBeGreaterThan(0);
  });

  it('404 and 401 name the image; credentials get through basic auth; login says so', async () => {
    const missing = await pull({ reference: `${proxy.host}/e2e/nothing:1` });
    expect(missing.error?.code).toBe(5);
    expect(missing.error?.details).toContain(`${proxy.host}/e2e/nothing:1`);
    expect(missing.error?.details).toContain('manifest unknown');

    const locked = await startRegistry({ auth: 'basic' });
    try {
      await pushTestImage(locked, layout, 'private/busybox:1');
      const ref = `${locked.host}/private/busybox:1`;
      const denied = await pull({ reference: ref }, { namespace: 'auth' });
      expect(denied.error?.code).toBe(7);
      expect(denied.error?.details).toContain(`pull access denied for ${locked.host}/private/busybox`);
      const ok = await pulled({ reference: ref, auth: { username: TEST_USER, password: TEST_PASSWORD } }, 'auth');
      expect(ok.image.name).toBe(ref);

      expect(await images.Login({ server: locked.host, auth: { username: TEST_USER, password: TEST_PASSWORD } })).toEqual({ status: 'Login Succeeded', identityToken: '' });
      const wrong = await images.Login({ server: locked.host, auth: { username: TEST_USER, password: 'nope' } }).catch((e: ServiceError) => e);
      expect((wrong as ServiceError).code).toBe(7);
      expect((wrong as ServiceError).details).toContain('unauthorized: incorrect username or password');
    } finally {
      await locked.stop();
    }
  });

  it('bearer tokens: a pull with credentials, login right and wrong', async () => {
    const tokened = await startRegistry({ auth: 'token' });
    try {
      await pushTestImage(tokened, layout, 'tok/busybox:1');
      const ref = `${tokened.host}/tok/busybox:1`;
      expect((await pull({ reference: ref }, { namespace: 'token' })).error?.code).toBe(7);
      const ok = await pulled({ reference: ref, auth: { username: TEST_USER, password: TEST_PASSWORD } }, 'token');
      expect(ok.image.name).toBe(ref);
      expect((await images.Login({ server: tokened.host, auth: { username: TEST_USER, password: TEST_PASSWORD } })).status).toBe('Login Succeeded');
      const wrong = await images.Login({ server: tokened.host, auth: { username: TEST_USER, password: 'nope' } }).catch((e: ServiceError) => e);
      expect((wrong as ServiceError).code).toBe(7);
    } finally {
      await tokened.stop();
    }
  });

  it("the plugin's config: hosts_dir maps a whole registry to a loopback mirror; an unknown key fails the plugin, naming it", async () => {
    const hostsDir = join(dir, 'certs.d');
    mkdirSync(join(hostsDir, 'registry.example.test'), { recursive: true });
    writeFileSync(
      join(hostsDir, 'registry.example.test', 'hosts.toml'),
      `server = "https://registry.example.test"\n[host."http://${proxy.host}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    const restart = async (section: Record<string, unknown>) => {
      const file = join(dir, 'berthd-images.json');
      writeFileSync(file, JSON.stringify({ plugins: { 'io.containerd.grpc.v1.tasks': { log_root: d.logRoot }, 'io.containerd.grpc.v1.berth-images': section } }));
      await d.stop();
      await d.start(['-c', file]);
      images.close();
      images = createClient(BERTH_IMAGES, d.address, { namespace: 'default' });
    };
    await restart({ foo: 1 });
    const plugins = await d.ctr(['plugins', 'ls', 'id==berth-images']);
    expect(plugins.stdout).toMatch(/io\.containerd\.grpc\.v1\s+berth-images\s+-\s+error/);
    expect(d.log()).toContain('foo: unknown key (known: hosts_dir, max_concurrent_downloads');

    await restart({ hosts_dir: hostsDir, max_concurrent_downloads: 1 });
    proxy.reset();
    const ref = 'registry.example.test/e2e/busybox:1';
    const r = await pulled({ reference: ref }, 'mirrored');
    expect(r.image).toMatchObject({ name: ref, digest: busyboxDigest });
    // the mirror was asked, with containerd's ?ns=<registry>
    expect(proxy.requests.some((q) => q.path.startsWith('/v2/e2e/busybox/manifests/1?ns=registry.example.test'))).toBe(true);
    const labels = (await contentLabels('mirrored')).get(busyboxDigest)!;
    expect(labels['containerd.io/distribution.source.registry.example.test']).toBe('e2e/busybox');
    await restart({});
  });

  it('bad requests name the field', async () => {
    const empty = await pull({ reference: '' });
    expect([empty.error?.code, empty.error?.details]).toEqual([3, expect.stringContaining('reference: must not be empty')]);
    const upper = await pull({ reference: 'Busybox' });
    expect([upper.error?.code, upper.error?.details]).toEqual([3, expect.stringContaining('invalid reference "Busybox"')]);
    const sn = await pull({ reference: `${proxy.host}/e2e/busybox:1`, snapshotter: 'zfs' });
    expect([sn.error?.code, sn.error?.details]).toEqual([3, expect.stringContaining('snapshotter not loaded: "zfs"')]);
  });
});
