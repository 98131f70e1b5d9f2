import { createHash } from 'crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Readable } from 'stream';
import { closeIdleConnections, createResolver, login, type Descriptor, type Resolver, type ResolverOptions, type ResolverTuning } from '../../manager/src/core/registry';
import { buildImage, type Image } from './support/image';
import {
  makeTlsMaterial, ociLayout, pushTestImage, registryCreds, skopeoCacheGuard, skopeoInspect, startFlakyProxy, startRegistry,
  TEST_PASSWORD, TEST_USER, type FlakyProxy, type TestRegistry,
} from './support/registry';

// The registry client (manager/src/core/registry) against Debian's docker-registry on
// 127.0.0.1, filled by skopeo: plain HTTP (Docker's insecure loopback treatment), HTTPS with a
// CA made here, basic auth, bearer tokens from a token server in this process, a flaky proxy
// that cuts bodies and answers 5xx, hosts.toml mirrors. Then pushes read back by skopeo.

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const GOARCH = process.arch === 'x64' ? 'amd64' : process.arch;

let image: Image;
let dir: string;
let layout: string;
let restoreCache: () => void;
const toStop: Array<{ stop(): Promise<void> } | { close(): Promise<void> }> = [];

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Rejection → the error, for assertions on kind and message. */
async function failure(p: Promise<unknown>): Promise<{ kind?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { kind?: string; message: string };
  }
  throw new Error('expected a failure, got success');
}

function resolver(opts: ResolverOptions & ResolverTuning = {}): Resolver {
  return createResolver({ retries: 3, retryBaseMs: 10, ...opts });
}

async function registry(opts: Parameters<typeof startRegistry>[0] = {}): Promise<TestRegistry> {
  const r = await startRegistry(opts);
  toStop.push(r);
  return r;
}

async function proxy(reg: TestRegistry): Promise<FlakyProxy> {
  const p = await startFlakyProxy(reg);
  toStop.push(p);
  return p;
}

/** A manifest as stored (plain-HTTP registry without auth). */
async function getRaw(reg: TestRegistry, name: string, ref: string): Promise<{ bytes: Buffer; desc: Descriptor }> {
  const res = await fetch(`${reg.url}/v2/${name}/manifests/${ref}`, { headers: { accept: [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(', ') } });
  if (res.status !== 200) throw new Error(`GET ${name}:${ref}: ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  return { bytes, desc: { mediaType: res.headers.get('content-type')!, digest: sha256(bytes), size: bytes.length } };
}

/** Stores a manifest document by hand (the index types skopeo does not make from one image). */
async function putRaw(reg: TestRegistry, name: string, ref: string, mediaType: string, bytes: Buffer): Promise<void> {
  const res = await fetch(`${reg.url}/v2/${name}/manifests/${ref}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: bytes });
  if (res.status !== 201) throw new Error(`PUT ${name}:${ref}: ${res.status} ${await res.text()}`);
}

/** The test image's own blobs from its OCI layout. */
function layoutBlobs(): { manifest: Buffer; config: Buffer; layer: Buffer; manifestDesc: Descriptor; configDesc: Descriptor; layerDesc: Descriptor } {
  const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.slice(7)));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifestDesc = index.manifests[0] as Descriptor;
  const manifest = blob(manifestDesc.digest);
  const m = JSON.parse(manifest.toString());
  return { manifest, config: blob(m.config.digest), layer: blob(m.layers[0].digest), manifestDesc: { mediaType: OCI_MANIFEST, digest: manifestDesc.digest, size: manifestDesc.size }, configDesc: m.config, layerDesc: m.layers[0] };
}

beforeAll(() => {
  restoreCache = skopeoCacheGuard();
  image = buildImage();
  dir = mkdtempSync(join(tmpdir(), 'regclient-'));
  layout = ociLayout(image, join(dir, 'layout'));
});

afterAll(async () => {
  for (const s of toStop.reverse()) await ('stop' in s ? s.stop() : s.close());
  closeIdleConnections();
  image?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
  restoreCache?.();
});

describe('the test registry (support/registry.ts)', () => {
  for (const mode of [{}, { tls: true }, { auth: 'basic' as const }, { auth: 'token' as const, tls: true }]) {
    test(`takes a skopeo push and serves it back: ${JSON.stringify(mode)}`, async () => {
      const reg = await startRegistry(mode);
      try {
        const digest = await pushTestImage(reg, layout, 'smoke/busybox:1');
        const out = JSON.parse(await skopeoInspect(`${reg.host}/smoke/busybox:1`, { certDir: reg.tls?.certDir, creds: registryCreds(reg) }));
        expect(out.Digest).toBe(digest);
        if (mode.auth === 'token') expect(reg.tokenServer!.requests.some((r) => r.account === TEST_USER && r.status === 200)).toBe(true);
      } finally {
        await reg.stop();
      }
      // stopped: its dir is gone
      expect(() => statSync(reg.dir)).toThrow();
    });
  }
});

describe('plain HTTP registry on loopback (insecure by default)', () => {
  let reg: TestRegistry;
  const docs: Record<string, { bytes: Buffer; desc: Descriptor }> = {};

  beforeAll(async () => {
    reg = await registry();
    await pushTestImage(reg, layout, 'img/busybox:oci');
    await pushTestImage(reg, layout, 'img/busybox:docker', { format: 'v2s2' });
    docs.oci = await getRaw(reg, 'img/busybox', 'oci');
    docs.docker = await getRaw(reg, 'img/busybox', 'docker');
    const platform = { os: 'linux', architecture: GOARCH };
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...docs.oci.desc, platform }] }));
    const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [{ ...docs.docker.desc, platform }] }));
    await putRaw(reg, 'img/busybox', 'index', OCI_INDEX, index);
    await putRaw(reg, 'img/busybox', 'list', DOCKER_LIST, list);
    docs.index = { bytes: index, desc: { mediaType: OCI_INDEX, digest: sha256(index), size: index.length } };
    docs.list = { bytes: list, desc: { mediaType: DOCKER_LIST, digest: sha256(list), size: list.length } };
  });

  test('resolves a tag of each manifest media type (OCI manifest and index, Docker manifest and list)', async () => {
    const r = resolver();
    for (const [tag, doc] of Object.entries({ oci: docs.oci!, docker: docs.docker!, index: docs.index!, list: docs.list! })) {
      const got = await r.resolve(`${reg.host}/img/busybox:${tag}`);
      expect(got).toEqual({ name: `${reg.host}/img/busybox:${tag}`, desc: { mediaType: doc.desc.mediaType, digest: doc.desc.digest, size: doc.desc.size } });
    }
    expect([docs.oci!.desc.mediaType, docs.docker!.desc.mediaType, docs.index!.desc.mediaType, docs.list!.desc.mediaType]).toEqual([OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST]);
  });

  test('resolves by digest, and fetchBytes gives the verified documents', async () => {
    const r = resolver();
    const ref = `${reg.host}/img/busybox@${docs.docker!.desc.digest}`;
    const got = await r.resolve(ref);
    expect(got.name).toBe(ref);
    expect(got.desc).toEqual(docs.docker!.desc);
    const f = r.fetcher(ref);
    expect(await f.fetchBytes(got.desc)).toEqual(docs.docker!.bytes);
    const manifest = JSON.parse(docs.docker!.bytes.toString());
    const config = await f.fetchBytes(manifest.config);
    expect(JSON.parse(config.toString()).rootfs.diff_ids).toHaveLength(1);
    // the index leads to the manifest
    const index = JSON.parse((await r.fetcher(`${reg.host}/img/busybox:index`).fetchBytes(docs.index!.desc)).toString());
    expect(index.manifests[0].digest).toBe(docs.oci!.desc.digest);
  });

  test('a pinned digest the registry answers with other bytes is rejected', async () => {
    // Tamper with the stored manifest: same length, other bytes (a size digit changed).
    await pushTestImage(reg, layout, 'tamper/busybox:1');
    const { bytes, desc } = await getRaw(reg, 'tamper/busybox', '1');
    const dataFile = join(reg.dir, 'storage', 'docker', 'registry', 'v2', 'blobs', 'sha256', desc.digest.slice(7, 9), desc.digest.slice(7), 'data');
    const text = bytes.toString();
    const m = /"size":(\d)/.exec(text)!;
    const changed = text.replace(m[0], `"size":${(Number(m[1]) + 1) % 10}`);
    writeFileSync(dataFile, changed);
    const err = await failure(resolver().resolve(`${reg.host}/tamper/busybox@${desc.digest}`));
    expect(err.kind).toBe('FailedPrecondition');
    expect(err.message).toContain(`${reg.host}/tamper/busybox@${desc.digest}: the registry's manifest does not match the reference: its digest is ${sha256(Buffer.from(changed))}`);
    // and fetchBytes refuses it too
    const err2 = await failure(resolver().fetcher(`${reg.host}/tamper/busybox:1`).fetchBytes(desc));
    expect(err2.message).toContain('content digest mismatch');
  });

  test('404s are NotFound naming the reference or blob, with the registry\'s words', async () => {
    const r = resolver();
    const err = await failure(r.resolve(`${reg.host}/img/busybox:nope`));
    expect(err.kind).toBe('NotFound');
    expect(err.message).toBe(`manifest for ${reg.host}/img/busybox:nope not found: manifest unknown: manifest unknown`);
    const missing = `sha256:${'0'.repeat(64)}`;
    const err2 = await failure(r.fetcher(`${reg.host}/img/busybox:oci`).fetch({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: missing, size: 10 }));
    expect(err2.kind).toBe('NotFound');
    expect(err2.message).toContain(`blob ${missing} in ${reg.host}/img/busybox not found: blob unknown`);
    const err3 = await failure(r.resolve(`${reg.host}/no/such:1`));
    expect(err3.kind).toBe('NotFound');
  });

  test('fetches a layer whole and from an offset (Range)', async () => {
    const manifest = JSON.parse(docs.oci!.bytes.toString());
    const layer: Descriptor = manifest.layers[0];
    const f = resolver().fetcher(`${reg.host}/img/busybox:oci`);
    const whole = await readAll((await f.fetch(layer)).stream);
    expect(sha256(whole)).toBe(layer.digest);
    expect(whole.length).toBe(layer.size);
    const part = await f.fetch(layer, { offset: 1000 });
    expect(part.offset).toBe(1000);
    // (Buffer.equals: jest's deep equality takes seconds on a megabyte)
    expect((await readAll(part.stream)).equals(whole.subarray(1000))).toBe(true);
  });

  test('a body cut mid-way is resumed with a Range from the byte reached', async () => {
    const p = await proxy(reg);
    const manifest = JSON.parse(docs.oci!.bytes.toString());
    const layer: Descriptor = manifest.layers[0];
    const retries: string[] = [];
    const f = resolver({ onRetry: (what) => retries.push(what) }).fetcher(`${p.host}/img/busybox:oci`);
    p.cutNext(2, 4096);
    const fetched = await f.fetch(layer);
    expect(fetched.offset).toBe(0);
    const bytes = await readAll(fetched.stream);
    expect(sha256(bytes)).toBe(layer.digest);
    const gets = p.requests.filter((r) => r.method === 'GET' && r.path.includes(layer.digest));
    expect(gets.map((g) => [g.range, g.fault])).toEqual([
      [undefined, 'cut'],
      ['bytes=4096-', 'cut'],
      ['bytes=8192-', undefined],
    ]);
    expect(retries).toEqual([`resuming ${layer.digest} at byte 4096`, `resuming ${layer.digest} at byte 8192`]);
  });

  test('a server that ignores Range: offset 0 is reported, and a resumed body skips what was delivered', async () => {
    const p = await proxy(reg);
    p.ignoreRange(true);
    const layer: Descriptor = JSON.parse(docs.oci!.bytes.toString()).layers[0];
    const f = resolver().fetcher(`${p.host}/img/busybox:oci`);
    const part = await f.fetch(layer, { offset: 1000 });
    expect(part.offset).toBe(0);
    expect(sha256(await readAll(part.stream))).toBe(layer.digest);
    p.cutNext(1, 5000);
    const cut = await f.fetch(layer);
    expect(sha256(await readAll(cut.stream))).toBe(layer.digest);
    expect(p.requests.slice(-2).map((r) => [r.range, r.status, r.fault])).toEqual([
      [undefined, 200, 'cut'],
      ['bytes=5000-', 200, undefined],
    ]);
  });

  test('localhost is a loopback registry too', async () => {
    const port = reg.host.split(':')[1];
    const got = await resolver().resolve(`localhost:${port}/img/busybox:oci`);
    expect(got).toEqual({ name: `localhost:${port}/img/busybox:oci`, desc: docs.oci!.desc });
  });

  test('5xx answers are retried with backoff; too many give Unavailable with the status', async () => {
    const p = await proxy(reg);
    const retries: Array<[string, number]> = [];
    p.failNext(2, 503, /manifests/);
    const got = await resolver({ onRetry: (what, n) => retries.push([what, n]) }).resolve(`${p.host}/img/busybox:oci`);
    expect(got.desc.digest).toBe(docs.oci!.desc.digest);
    expect(retries.map(([w, n]) => [w.split(' ')[0], n])).toEqual([['HEAD', 1], ['HEAD', 2]]);
    expect(p.requests.filter((r) => r.fault === 'fail')).toHaveLength(2);
    p.reset();
    p.failNext(100, 500, /manifests/);
    const err = await failure(resolver({ retries: 2 }).resolve(`${p.host}/img/busybox:oci`));
    expect(err.kind).toBe('Unavailable');
    expect(err.message).toMatch(/500 Internal Server Error: unavailable: flaky proxy: made-up failure/);
    p.reset();
    // 4xx (other than 401/429) is never retried
    const before = p.requests.length;
    await failure(resolver().resolve(`${p.host}/img/busybox:nope`));
    expect(p.requests.length - before).toBe(2); // HEAD, then GET for the registry's words
  });

  test('blob GETs follow redirects (to storage)', async () => {
    const p = await proxy(reg);
    p.redirectBlobs(true);
    const manifest = JSON.parse(docs.docker!.bytes.toString());
    const bytes = await resolver().fetcher(`${p.host}/img/busybox:docker`).fetchBytes(manifest.config);
    expect(sha256(bytes)).toBe(manifest.config.digest);
    expect(p.requests.map((r) => [r.method, r.path.replace(/sha256:[0-9a-f]+/, 'D'), r.status])).toEqual([
      ['GET', '/v2/img/busybox/blobs/D', 307],
      ['GET', '/_storage/v2/img/busybox/blobs/D', 200],
    ]);
  });

  test('push: exists, monolithic and chunked uploads, manifest; skopeo reads it back', async () => {
    const { manifest, config, layer, manifestDesc, configDesc, layerDesc } = layoutBlobs();
    const p = await proxy(reg);
    const ref = `${p.host}/pushed/busybox:v1`;
    const pusher = resolver().pusher(ref);
    expect(await pusher.exists(layerDesc)).toBe(false);
    const progress: number[] = [];
    await pusher.upload(layerDesc, async (offset) => Readable.from([layer.subarray(offset)]), { onProgress: (n) => progress.push(n) });
    expect(progress[progress.length - 1]).toBe(layer.length);
    expect(await pusher.exists(layerDesc)).toBe(true);
    const chunks: number[] = [];
    await pusher.upload(configDesc, async (offset) => Readable.from([config.subarray(offset)]), { chunkSize: 100, onProgress: (n) => chunks.push(n) });
    expect(chunks[chunks.length - 1]).toBe(config.length);
    const patches = p.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(Math.ceil(config.length / 100));
    await pusher.putManifest(manifestDesc, manifest, 'v1');
    expect(await pusher.exists(manifestDesc)).toBe(true);
    const raw = await skopeoInspect(`${reg.host}/pushed/busybox:v1`, { raw: true });
    expect(sha256(Buffer.from(raw))).toBe(manifestDesc.digest);
    const inspected = JSON.parse(await skopeoInspect(`${reg.host}/pushed/busybox:v1`));
    expect(inspected.Digest).toBe(manifestDesc.digest);
    expect(inspected.Layers).toEqual([layerDesc.digest]);
  });

  test('a chunked upload that breaks asks the session how much arrived and goes on', async () => {
    const { config, configDesc } = layoutBlobs();
    const p = await proxy(reg);
    const pusher = resolver().pusher(`${p.host}/resumed/busybox:v1`);
    const opened: number[] = [];
    // the third PATCH fails: bytes 0-199 arrived
    let patches = 0;
    const original = p.failNext;
    original(0);
    const body = async (offset: number) => {
      opened.push(offset);
      return Readable.from([config.subarray(offset)]);
    };
    const uploading = pusher.upload(configDesc, body, {
      chunkSize: 100,
      onProgress: (n) => {
        if (++patches === 2 && n === 200) p.failNext(1, 500, /^PATCH /);
      },
    });
    await uploading;
    expect(opened).toEqual([0, 200]);
    const seq = p.requests.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.status}`);
    expect(seq.slice(0, 5)).toEqual(['POST 202', 'PATCH 202', 'PATCH 202', 'PATCH 500', 'GET 204']);
    expect(seq[seq.length - 1]).toBe('PUT 201');
    expect(await resolver().pusher(`${reg.host}/resumed/busybox:v1`).exists(configDesc)).toBe(true);
  });

  test('cross-repository mount: 201 when the source has the blob; 202 leaves a session the upload uses', async () => {
    const { layer, layerDesc } = layoutBlobs();
    const p = await proxy(reg);
    const pusher = resolver().pusher(`${p.host}/mounted/busybox:v1`);
    expect(await pusher.mount(layerDesc, `${p.host}/pushed/busybox`)).toBe(true);
    expect(await pusher.exists(layerDesc)).toBe(true);
    const other = resolver().pusher(`${p.host}/mounted2/busybox:v1`);
    expect(await other.mount(layerDesc, 'nothing/here')).toBe(false);
    p.reset();
    await other.upload(layerDesc, async (o) => Readable.from([layer.subarray(o)]));
    // no new session: the mount's 202 Location was used
    expect(p.requests.map((r) => r.method)).toEqual(['PUT']);
    expect(await other.exists(layerDesc)).toBe(true);
  });
});

describe('basic auth', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await registry({ auth: 'basic' });
    await pushTestImage(reg, layout, 'private/busybox:1');
  });

  test('anonymous and wrong passwords are refused with a clear PermissionDenied', async () => {
    const err = await failure(resolver().resolve(`${reg.host}/private/busybox:1`));
    expect(err.kind).toBe('PermissionDenied');
    expect(err.message).toBe(`pull access denied for ${reg.host}/private/busybox, repository does not exist or may require 'berth login': unauthorized: authentication required`);
    const err2 = await failure(resolver({ credentials: () => ({ username: TEST_USER, password: 'wrong' }) }).resolve(`${reg.host}/private/busybox:1`));
    expect(err2.kind).toBe('PermissionDenied');
  });

  test('the right credentials (asked for by host) resolve and fetch', async () => {
    const hostsAsked: string[] = [];
    const r = resolver({ credentials: (h) => (hostsAsked.push(h), { username: TEST_USER, password: TEST_PASSWORD }) });
    const got = await r.resolve(`${reg.host}/private/busybox:1`);
    const manifest = JSON.parse((await r.fetcher(got.name).fetchBytes(got.desc)).toString());
    const layer = await readAll((await r.fetcher(got.name).fetch(manifest.layers[0])).stream);
    expect(sha256(layer)).toBe(manifest.layers[0].digest);
    expect(new Set(hostsAsked)).toEqual(new Set([reg.host]));
  });

  test('login checks the password', async () => {
    await expect(login(reg.host, { credentials: { username: TEST_USER, password: TEST_PASSWORD } })).resolves.toEqual({});
    const err = await failure(login(reg.host, { credentials: { username: TEST_USER, password: 'nope' } }));
    expect(err.kind).toBe('PermissionDenied');
    expect(err.message).toMatch(new RegExp(`^${reg.host}: unauthorized: incorrect username or password`));
  });
});

describe('bearer tokens', () => {
  let reg: TestRegistry;
  let layerDesc: Descriptor;
  const creds = () => ({ username: TEST_USER, password: TEST_PASSWORD });
  beforeAll(async () => {
    reg = await registry({ auth: 'token' });
    await pushTestImage(reg, layout, 'tok/busybox:1');
    await pushTestImage(reg, layout, 'tok/other:1');
    await pushTestImage(reg, layout, 'tok/refresh:1');
  });

  test('anonymous pulls are refused when the token server grants nothing', async () => {
    const err = await failure(resolver().resolve(`${reg.host}/tok/busybox:1`));
    expect(err.kind).toBe('PermissionDenied');
    expect(err.message).toContain(`pull access denied for ${reg.host}/tok/busybox`);
    const err2 = await failure(resolver({ credentials: () => ({ username: TEST_USER, password: 'bad' }) }).resolve(`${reg.host}/tok/busybox:1`));
    expect(err2.kind).toBe('PermissionDenied');
    expect(err2.message).toBe(`${reg.host}: unauthorized: incorrect username or password (unauthorized: bad credentials)`);
  });

  test('one token per scope, reused across requests and resolvers, asked with the credentials', async () => {
    const ts = reg.tokenServer!;
    const before = ts.requests.length;
    const r = resolver({ credentials: creds });
    const got = await r.resolve(`${reg.host}/tok/busybox:1`);
    const f = r.fetcher(got.name);
    const manifest = JSON.parse((await f.fetchBytes(got.desc)).toString());
    layerDesc = manifest.layers[0];
    // parallel fetches share one token request
    await Promise.all([f.fetchBytes(manifest.config), readAll((await f.fetch(layerDesc)).stream), readAll((await f.fetch(layerDesc, { offset: 10 })).stream)]);
    await resolver({ credentials: creds }).resolve(`${reg.host}/tok/busybox:1`);
    const mine = ts.requests.slice(before);
    expect(mine).toEqual([{ method: 'GET', account: TEST_USER, scopes: ['repository:tok/busybox:pull'], status: 200 }]);
    // another repository: another scope, another token
    await r.resolve(`${reg.host}/tok/other:1`);
    expect(ts.requests.slice(before).map((q) => q.scopes)).toEqual([['repository:tok/busybox:pull'], ['repository:tok/other:pull']]);
  });

  test('a token the registry refuses is dropped and a new one fetched', async () => {
    const ts = reg.tokenServer!;
    const before = ts.requests.length;
    let issued = 0;
    // The first token for tok/refresh carries no access: the registry answers 401 to it.
    ts.setGrant((_account, _type, name, actions) => (name !== 'tok/refresh' || issued++ > 0 ? actions : []));
    try {
      const got = await resolver({ credentials: creds }).resolve(`${reg.host}/tok/refresh:1`);
      expect(got.desc.mediaType).toBe(OCI_MANIFEST);
    } finally {
      ts.setGrant(undefined);
    }
    expect(ts.requests.slice(before).map((q) => [q.scopes, q.status])).toEqual([
      [['repository:tok/refresh:pull'], 200],
      [['repository:tok/refresh:pull'], 200],
    ]);
    // a registry token (sent as it is) that the registry refuses is not retried
    const err = await failure(resolver({ credentials: () => ({ registryToken: 'not-a-jwt' }) }).resolve(`${reg.host}/tok/refresh:1`));
    expect(err.kind).toBe('PermissionDenied');
  });

  test('push asks for pull,push and a mount also for the source repository', async () => {
    const ts = reg.tokenServer!;
    const before = ts.requests.length;
    const pusher = resolver({ credentials: creds }).pusher(`${reg.host}/tok/copy:1`);
    expect(await pusher.mount(layerDesc, 'tok/busybox')).toBe(true);
    expect(ts.requests.slice(before).map((q) => q.scopes.sort())).toContainEqual(['repository:tok/busybox:pull', 'repository:tok/copy:pull,push']);
    expect(await pusher.exists(layerDesc)).toBe(true);
  });

  test('login gets a refresh token, which then works as an identity token (OAuth2 POST)', async () => {
    const ts = reg.tokenServer!;
    const res = await login(reg.host, { credentials: creds() });
    expect(res.identityToken).toMatch(/^[0-9a-f]{32}$/);
    const before = ts.requests.length;
    const got = await resolver({ credentials: () => ({ identityToken: res.identityToken }) }).resolve(`${reg.host}/tok/busybox:1`);
    expect(got.desc.mediaType).toBe(OCI_MANIFEST);
    expect(ts.requests.slice(before)).toEqual([{ method: 'POST', grantType: 'refresh_token', account: TEST_USER, scopes: ['repository:tok/busybox:pull'], status: 200 }]);
    const err = await failure(login(reg.host, { credentials: { username: TEST_USER, password: 'bad' } }));
    expect(err.kind).toBe('PermissionDenied');
    expect(err.message).toContain('incorrect username or password');
  });
});

describe('HTTPS with a test CA, and hosts.toml', () => {
  let reg: TestRegistry;
  let hostsDir: string;
  beforeAll(async () => {
    reg = await registry({ tls: true });
    await pushTestImage(reg, layout, 'tls/busybox:1');
    hostsDir = join(dir, 'certs.d');
  });

  const writeHosts = (host: string, text: string, files: Record<string, string> = {}) => {
    const d = join(hostsDir, host);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'hosts.toml'), text);
    for (const [name, from] of Object.entries(files)) copyFileSync(from, join(d, name));
  };

  test('without a hosts.toml, a loopback registry is used without verification (Docker\'s insecure default)', async () => {
    const got = await resolver().resolve(`${reg.host}/tls/busybox:1`);
    expect(got.desc.mediaType).toBe(OCI_MANIFEST);
  });

  test('hosts.toml with the CA (relative path) verifies; a wrong CA is refused with a clear error', async () => {
    writeHosts(reg.host, `server = "https://${reg.host}"\nca = "ca.crt"\n`, { 'ca.crt': reg.tls!.caFile });
    const got = await resolver({ hostsDir }).resolve(`${reg.host}/tls/busybox:1`);
    const bytes = await resolver({ hostsDir }).fetcher(got.name).fetchBytes(got.desc);
    expect(sha256(bytes)).toBe(got.desc.digest);

    const wrong = makeTlsMaterial(join(dir, 'wrong-ca'), 'wrong');
    writeHosts(reg.host, `server = "https://${reg.host}"\nca = "ca.crt"\n`, { 'ca.crt': wrong.caFile });
    const err = await failure(resolver({ hostsDir }).resolve(`${reg.host}/tls/busybox:1`));
    expect(err.kind).toBe('FailedPrecondition');
    expect(err.message).toMatch(new RegExp(`TLS certificate of ${reg.host.replace(/\./g, '\\.')} not trusted \\(\\w+: .+\\): set its CA with ca = "…" \\(or skip_verify = true\\) in ${hostsDir}/${reg.host}/hosts.toml`));

    // an explicit file without a CA: verification against the system's CAs fails too
    writeHosts(reg.host, `server = "https://${reg.host}"\n`);
    expect((await failure(resolver({ hostsDir }).resolve(`${reg.host}/tls/busybox:1`))).kind).toBe('FailedPrecondition');
    writeHosts(reg.host, `server = "https://${reg.host}"\nskip_verify = true\n`);
    expect((await resolver({ hostsDir }).resolve(`${reg.host}/tls/busybox:1`)).desc.digest).toBe(got.desc.digest);
    rmSync(join(hostsDir, reg.host), { recursive: true, force: true });
  });

  test('client certificates from hosts.toml (client = [[cert, key]]) for a registry that demands them', async () => {
    const mtls = await registry({ tls: true, clientAuth: true });
    await pushTestImage(mtls, layout, 'mtls/busybox:1');
    writeHosts(mtls.host, `server = "https://${mtls.host}"\nca = "ca.crt"\n`, { 'ca.crt': mtls.tls!.caFile });
    const err = await failure(resolver({ hostsDir }).resolve(`${mtls.host}/mtls/busybox:1`));
    expect(err.kind).toBe('Unavailable');
    expect(err.message).toMatch(new RegExp(`^HEAD https://${mtls.host.replace(/\./g, '\\.')}/v2/mtls/busybox/manifests/1: ${mtls.host.replace(/\./g, '\\.')} refused the TLS handshake \\(bad certificate\\): it wants a client certificate it trusts: set client = `));
    writeHosts(mtls.host, `server = "https://${mtls.host}"\nca = "ca.crt"\nclient = [["client.cert", "client.key"]]\n`, {
      'ca.crt': mtls.tls!.caFile, 'client.cert': mtls.tls!.clientCertFile, 'client.key': mtls.tls!.clientKeyFile,
    });
    const got = await resolver({ hostsDir }).resolve(`${mtls.host}/mtls/busybox:1`);
    expect(got.desc.mediaType).toBe(OCI_MANIFEST);
    rmSync(join(hostsDir, mtls.host), { recursive: true, force: true });
  });

  test('a mirror is tried first (with ?ns=), the server when the mirror lacks the tag', async () => {
    const mirror = await registry();
    const mirrorProxy = await proxy(mirror);
    const serverProxy = await proxy(reg);
    await pushTestImage(mirror, layout, 'tls/busybox:1');
    // the server's name is the proxy's; it speaks TLS with the registry's certificate
    writeHosts(
      serverProxy.host,
      `server = "https://${serverProxy.host}"\nca = "ca.crt"\n[host."http://${mirrorProxy.host}"]\ncapabilities = ["pull", "resolve"]\n[host."http://${mirrorProxy.host}".header]\nx-mirror-test = ["a", "b"]\n`,
      { 'ca.crt': reg.tls!.caFile },
    );
    const r = resolver({ hostsDir });
    const got = await r.resolve(`${serverProxy.host}/tls/busybox:1`);
    const manifest = JSON.parse((await r.fetcher(got.name).fetchBytes(got.desc)).toString());
    await readAll((await r.fetcher(got.name).fetch(manifest.layers[0])).stream);
    expect(serverProxy.requests).toEqual([]);
    expect(mirrorProxy.requests.length).toBeGreaterThan(0);
    expect(mirrorProxy.requests.every((q) => q.path.endsWith(`?ns=${encodeURIComponent(serverProxy.host)}`))).toBe(true);
    // the host's headers from hosts.toml went along
    expect(mirrorProxy.requests.every((q) => q.headers['x-mirror-test'] === 'a, b')).toBe(true);

    // a tag only the server has
    await pushTestImage(reg, layout, 'tls/busybox:server-only');
    const got2 = await resolver({ hostsDir }).resolve(`${serverProxy.host}/tls/busybox:server-only`);
    expect(got2.desc.mediaType).toBe(OCI_MANIFEST);
    expect(mirrorProxy.requests.filter((q) => q.path.includes('server-only')).map((q) => q.status)).toEqual([404, 404]);
    expect(serverProxy.requests.filter((q) => q.path.includes('server-only')).map((q) => q.status)).toEqual([200]);
  });

  test('a whole registry (registry.k8s.io) mapped to a loopback mirror, with override_path', async () => {
    const mirror = await registry();
    await pushTestImage(mirror, layout, 'k8s/pause:3.9');
    writeHosts('registry.k8s.io', `server = "https://registry.k8s.io"\n[host."http://${mirror.host}/v2/k8s"]\ncapabilities = ["pull", "resolve"]\noverride_path = true\n`);
    const r = resolver({ hostsDir });
    const got = await r.resolve('registry.k8s.io/pause:3.9');
    expect(got.name).toBe('registry.k8s.io/pause:3.9');
    const manifest = JSON.parse((await r.fetcher(got.name).fetchBytes(got.desc)).toString());
    const layer = await readAll((await r.fetcher(got.name).fetch(manifest.layers[0])).stream);
    expect(sha256(layer)).toBe(manifest.layers[0].digest);
    // the mirror has no push capability: pushes go to the server only
    expect(readdirSync(join(hostsDir, 'registry.k8s.io'))).toEqual(['hosts.toml']);
  });
});
