import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { BERTH_IMAGES, createClient, type Client } from '../../manager/src/api';
import { usePrivateBerthd, type PrivateBerthd } from './support/berthd';
import type { Image } from './support/image';
import {
  TEST_PASSWORD, TEST_USER, ociLayout, pushTestImage, skopeoCacheGuard, skopeoInspect, startFlakyProxy, startRegistry,
  type FlakyProxy, type ProxiedRequest, type TestRegistry,
} from './support/registry';

// berthd's push pipeline (berth.images.v1 Push) against Debian's docker-registry: an image
// imported with ctr goes to a new repository and skopeo reads it back with the same digest;
// a second push uploads nothing (HEAD finds every blob); a push to another repository of the
// same registry mounts the blobs from where they came (distribution-source labels); a pulled
// image pushed elsewhere mounts too; auth, a missing image and platforms of an index.
// Pushes go through the flaky proxy, whose request log shows what berthd sent.

let d: PrivateBerthd;
let image: Image;
usePrivateBerthd({ importImage: true }, (it) => ({ d, image } = it));

let dir: string;
let reg: TestRegistry;
let proxy: FlakyProxy;
let images: Client<typeof BERTH_IMAGES>;
let restoreCache: () => void;

beforeAll(async () => {
  restoreCache = skopeoCacheGuard();
  dir = mkdtempSync(join(tmpdir(), 'pushtest-'));
  reg = await startRegistry();
  proxy = await startFlakyProxy(reg);
  images = createClient(BERTH_IMAGES, d.address, { namespace: 'default' });
}, 60_000);

afterAll(async () => {
  images?.close();
  await proxy?.close();
  await reg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  restoreCache?.();
});

interface Item {
  digest: string;
  kind: string;
  status: string;
  offset: number;
  total: number;
}
interface Progress {
  items: Item[];
  message: string;
  image: { name: string; digest: string; mediaType: string; size: number } | null;
}

function call(method: 'Push' | 'Pull', req: Record<string, unknown>, namespace?: string): Promise<{ messages: Progress[]; image?: NonNullable<Progress['image']>; error?: ServiceError }> {
  const stream = images[method](req as never, namespace ? { namespace } : {}) as unknown as ClientReadableStream<Progress>;
  const messages: Progress[] = [];
  return new Promise((resolve) => {
    stream.on('data', (m: Progress) => messages.push(m));
    stream.on('error', (error: ServiceError) => resolve({ messages, error }));
    stream.on('end', () => resolve({ messages, image: messages[messages.length - 1]?.image ?? undefined }));
  });
}

async function pushed(req: Record<string, unknown>, namespace?: string) {
  const r = await call('Push', req, namespace);
  if (r.error || !r.image) throw new Error(`push ${JSON.stringify(req)}: ${r.error?.message ?? 'no image in the last message'}`);
  return r as typeof r & { image: NonNullable<Progress['image']> };
}

function finalItems(messages: Progress[]): Map<string, Item> {
  const out = new Map<string, Item>();
  for (const m of messages) for (const i of m.items) out.set(i.digest, i);
  return out;
}

/** What the registry was asked to store: upload sessions, chunks, blob PUTs and manifest PUTs. */
const writes = (reqs: ProxiedRequest[]) => reqs.filter((r) => r.method !== 'GET' && r.method !== 'HEAD').map((r) => `${r.method} ${r.path.replace(/\?.*$/, '').replace(/uploads\/[^/]+$/, 'uploads/<id>')}`);

describe('berthd pushes to a registry (berth.images.v1)', () => {
  it('pushes an imported image to a new repository; skopeo reads it with the same digest', async () => {
    proxy.reset();
    const dest = `${proxy.host}/pushed/busybox:1`;
    const r = await pushed({ reference: image.ref, destination: dest });
    expect(r.image).toMatchObject({ name: dest, digest: image.manifestDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    expect(r.messages[0]!.message).toBe(`The push refers to repository [${proxy.host}/pushed/busybox]`);
    expect(r.messages[r.messages.length - 1]!.message).toBe(`1: digest: ${image.manifestDigest} size: ${r.image.size}`);
    const items = [...finalItems(r.messages).values()].map((i) => [i.kind, i.status]).sort();
    expect(items).toEqual([['config', 'done'], ['layer', 'done'], ['manifest', 'done']]);
    // blobs first (POST + PUT each), the manifest last, under the tag
    const w = writes(proxy.requests);
    expect(w[w.length - 1]).toBe('PUT /v2/pushed/busybox/manifests/1');
    expect(w.filter((x) => x.startsWith('POST /v2/pushed/busybox/blobs/uploads/'))).toHaveLength(2);
    const inspected = JSON.parse(await skopeoInspect(`${reg.host}/pushed/busybox:1`));
    expect(inspected.Digest).toBe(image.manifestDigest);
  });

  it('a second push uploads nothing: every blob is found with HEAD', async () => {
    proxy.reset();
    const r = await pushed({ reference: image.ref, destination: `${proxy.host}/pushed/busybox:1` });
    expect(r.image.digest).toBe(image.manifestDigest);
    expect(writes(proxy.requests)).toEqual(['PUT /v2/pushed/busybox/manifests/1']);
    expect(proxy.requests.filter((q) => q.method === 'HEAD' && q.path.includes('/blobs/'))).toHaveLength(2);
    expect([...finalItems(r.messages).values()].filter((i) => i.kind !== 'manifest').map((i) => i.status)).toEqual(['exists', 'exists']);
  });

  it('another repository of the same registry: the blobs are mounted from where they were pushed', async () => {
    proxy.reset();
    const r = await pushed({ reference: image.ref, destination: `${proxy.host}/copies/busybox:2` });
    expect(r.image.digest).toBe(image.manifestDigest);
    const mounts = proxy.requests.filter((q) => q.method === 'POST').map((q) => new URL(q.path, 'http://x'));
    expect(mounts).toHaveLength(2);
    for (const u of mounts) expect([u.pathname, u.searchParams.get('from')]).toEqual(['/v2/copies/busybox/blobs/uploads/', 'pushed/busybox']);
    expect(writes(proxy.requests).filter((x) => !x.startsWith('POST'))).toEqual(['PUT /v2/copies/busybox/manifests/2']);
    expect([...finalItems(r.messages).values()].filter((i) => i.kind !== 'manifest').map((i) => i.status)).toEqual(['mounted', 'mounted']);
    expect(JSON.parse(await skopeoInspect(`${reg.host}/copies/busybox:2`)).Digest).toBe(image.manifestDigest);
  });

  it('a pulled image pushed to another repository is mounted from the one it was pulled from; its uncompressed layer pulls back', async () => {
    const layout = ociLayout(image, join(dir, 'layout'));
    const digest = await pushTestImage(reg, layout, 'origin/busybox:1'); // skopeo gzips the layer
    const src = `${proxy.host}/origin/busybox:1`;
    const pulled = await call('Pull', { reference: src }, 'pulled');
    expect(pulled.image?.digest).toBe(digest);
    proxy.reset();
    const r = await pushed({ reference: src, destination: `${proxy.host}/moved/busybox:1` }, 'pulled');
    expect(r.image.digest).toBe(digest);
    const from = proxy.requests.filter((q) => q.method === 'POST').map((q) => new URL(q.path, 'http://x').searchParams.get('from'));
    expect(from).toEqual(['origin/busybox', 'origin/busybox']);
    expect(JSON.parse(await skopeoInspect(`${reg.host}/moved/busybox:1`)).Digest).toBe(digest);

    // the imported image's layer is an uncompressed tar: berthd pulls that kind too
    const back = await call('Pull', { reference: `${proxy.host}/pushed/busybox:1` }, 'uncompressed');
    expect(back.image?.digest).toBe(image.manifestDigest);
    const run = await d.ctr(['run', '--rm', `${proxy.host}/pushed/busybox:1`, 'pushed-back', 'echo', 'round trip'], { namespace: 'uncompressed' });
    expect([run.code, run.stdout]).toEqual([0, 'round trip\n']);
  });

  it('a registry that wants credentials: refused without, pushed with them', async () => {
    const locked = await startRegistry({ auth: 'basic' });
    try {
      const dest = `${locked.host}/private/busybox:1`;
      const denied = await call('Push', { reference: image.ref, destination: dest });
      expect(denied.error?.code).toBe(7);
      expect(denied.error?.details).toContain(`access denied for ${locked.host}/private/busybox`);
      const ok = await pushed({ reference: image.ref, destination: dest, auth: { username: TEST_USER, password: TEST_PASSWORD } });
      expect(ok.image.digest).toBe(image.manifestDigest);
      expect(JSON.parse(await skopeoInspect(dest, { creds: `${TEST_USER}:${TEST_PASSWORD}` })).Digest).toBe(image.manifestDigest);
    } finally {
      await locked.stop();
    }
  });

  it('an image that is not there, and bad requests, are named', async () => {
    const missing = await call('Push', { reference: 'nothing-here:1', destination: `${proxy.host}/x/y:1` });
    expect([missing.error?.code, missing.error?.details]).toEqual([5, expect.stringContaining('An image does not exist locally with the tag: nothing-here:1')]);
    const empty = await call('Push', { reference: '' });
    expect([empty.error?.code, empty.error?.details]).toEqual([3, expect.stringContaining('reference: must not be empty')]);
  });
});
