// core/archive writing: the combined docker-archive + OCI layout, checked entry by entry, read
// back by our reader and listed by the system tar.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planImport, readArchive, writeArchive, type BlobSink, type ExportImage } from '../src/core/archive';
import { encodeHeader, endOfArchive, padding, readTar } from '../src/core/diff/tar';
import { MEDIA_TYPES, type Descriptor } from '../src/core/images';
import { hostPlatform } from '../src/core/images/platform';
import { expectKind } from './support/metadata-tmp';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice(7);

function layerTar(name: string, content: string): Buffer {
  const data = Buffer.from(content);
  return Buffer.concat([encodeHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: { sec: 0, nsec: 0 } }), data, padding(data.length), endOfArchive()]);
}

const layer0 = layerTar('a', 'first');
const layer1 = layerTar('b', 'second');
const config = Buffer.from(JSON.stringify({ architecture: hostPlatform().architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer0), sha(layer1)] } }));
const desc = (mediaType: string, b: Buffer): Descriptor => ({ mediaType, digest: sha(b), size: b.length });
const manifest = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: desc(MEDIA_TYPES.ociConfig, config), layers: [desc(MEDIA_TYPES.ociLayer, layer0), desc(MEDIA_TYPES.ociLayer, layer1)] }),
);
const blobs = new Map([layer0, layer1, config, manifest].map((b) => [sha(b), b]));

function image(names: string[]): ExportImage {
  const m = desc(MEDIA_TYPES.ociManifest, manifest);
  const c = desc(MEDIA_TYPES.ociConfig, config);
  const layers = [desc(MEDIA_TYPES.ociLayer, layer0), desc(MEDIA_TYPES.ociLayer, layer1)];
  return { names, target: m, manifest: m, config: c, layers, blobs: [m, c, ...layers] };
}

async function* source(d: Descriptor): AsyncGenerator<Buffer> {
  const b = blobs.get(d.digest)!;
  yield b.subarray(0, 10);
  yield b.subarray(10);
}

async function write(images: ExportImage[], src = source): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of writeArchive(images, src)) parts.push(c);
  return Buffer.concat(parts);
}

async function entries(tar: Buffer): Promise<{ name: string; type: string; mode: number; mtime: number; data: Buffer }[]> {
  const out = [];
  for await (const e of readTar((async function* () { yield tar; })())) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    out.push({ name: e.header.name, type: e.header.type, mode: e.header.mode, mtime: e.header.mtime.sec, data: Buffer.concat(parts) });
  }
  return out;
}

describe('writeArchive', () => {
  it('metadata first, then blobs; both formats describe the same blobs', async () => {
    const tar = await write([image(['docker.io/library/busybox:latest', 'quay.io/x/y:2'])]);
    const es = await entries(tar);
    expect(es.map((e) => e.name)).toEqual([
      'oci-layout',
      'index.json',
      'manifest.json',
      'repositories',
      'blobs/',
      'blobs/sha256/',
      ...[manifest, config, layer0, layer1].map((b) => `blobs/sha256/${hex(sha(b))}`),
    ]);
    expect(es.every((e) => (e.type === 'directory' ? e.mode === 0o755 : e.mode === 0o644))).toBe(true);
    const file = (n: string) => es.find((e) => e.name === n)!.data;
    expect(JSON.parse(file('oci-layout').toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(file('index.json').toString())).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [
        { ...desc(MEDIA_TYPES.ociManifest, manifest), annotations: { 'io.containerd.image.name': 'docker.io/library/busybox:latest', 'org.opencontainers.image.ref.name': 'latest' } },
        { ...desc(MEDIA_TYPES.ociManifest, manifest), annotations: { 'io.containerd.image.name': 'quay.io/x/y:2', 'org.opencontainers.image.ref.name': '2' } },
      ],
    });
    expect(JSON.parse(file('manifest.json').toString())).toEqual([
      { Config: `blobs/sha256/${hex(sha(config))}`, RepoTags: ['busybox:latest', 'quay.io/x/y:2'], Layers: [layer0, layer1].map((l) => `blobs/sha256/${hex(sha(l))}`) },
    ]);
    expect(JSON.parse(file('repositories').toString())).toEqual({ busybox: { latest: hex(sha(layer1)) }, 'quay.io/x/y': { '2': hex(sha(layer1)) } });
    for (const b of [manifest, config, layer0, layer1]) expect(file(`blobs/sha256/${hex(sha(b))}`).equals(b)).toBe(true);
  });

  it('is deterministic, and reads back as the same image with the same names', async () => {
    const images = [image(['docker.io/library/busybox:latest']), image(['docker.io/library/busybox:other'])];
    const a = await write(images);
    expect((await write(images)).equals(a)).toBe(true);
    const stored = new Map<string, Buffer>();
    const sink: BlobSink = {
      async put(_e, body, digest) {
        const parts: Buffer[] = [];
        for await (const c of body) parts.push(c);
        stored.set(digest(), Buffer.concat(parts));
      },
    };
    const contents = await readArchive((async function* () { yield a; })(), sink);
    const plan = await planImport(contents, async (d) => stored.get(d.digest)!);
    expect(plan.images).toHaveLength(1);
    expect(plan.images[0]).toMatchObject({ names: ['docker.io/library/busybox:latest', 'docker.io/library/busybox:other'], target: { digest: sha(manifest) } });
    expect(plan.generated).toEqual([]);
  });

  it('an image saved by id is untagged: RepoTags null, an index entry without names, no repositories', async () => {
    const es = await entries(await write([image([])]));
    expect(es.map((e) => e.name)).not.toContain('repositories');
    expect(JSON.parse(es.find((e) => e.name === 'manifest.json')!.data.toString())[0].RepoTags).toBeNull();
    expect(JSON.parse(es.find((e) => e.name === 'index.json')!.data.toString()).manifests).toEqual([desc(MEDIA_TYPES.ociManifest, manifest)]);
  });

  it('a name with only a digest has no RepoTag', async () => {
    const es = await entries(await write([image([`docker.io/library/busybox@${sha(manifest)}`])]));
    expect(JSON.parse(es.find((e) => e.name === 'manifest.json')!.data.toString())[0].RepoTags).toBeNull();
  });

  it('a blob shorter or longer than its descriptor fails the write', async () => {
    const short = async function* (d: Descriptor) {
      yield blobs.get(d.digest)!.subarray(0, 5);
    };
    await expectKind(write([image(['x:1'])], short), 'InvalidArgument', /blob sha256:\w+: the store gave 5 bytes, its descriptor says \d+/);
    const long = async function* (d: Descriptor) {
      yield Buffer.concat([blobs.get(d.digest)!, Buffer.from('extra')]);
    };
    await expectKind(write([image(['x:1'])], long), 'InvalidArgument', /the store gave more bytes/);
  });

  it('the system tar lists it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-archive-'));
    try {
      writeFileSync(join(dir, 'a.tar'), await write([image(['docker.io/library/busybox:latest'])]));
      const r = spawnSync('tar', ['-tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00 manifest\.json/);
      expect(r.stdout.trim().split('\n')).toHaveLength(10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
