// core/archive reading and planning: docker-archive (Docker ≤24 layout with links, skopeo's),
// OCI layout, Docker ≥25's combined form; gzip; and the archives that must be refused.
// Tars are built here byte by byte (core/diff/tar's writer), blobs go to a memory sink.

import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { planImport, readArchive, type ArchiveContents, type BlobSink, type SinkEntry } from '../src/core/archive';
import { encodeHeader, endOfArchive, padding } from '../src/core/diff/tar';
import { MEDIA_TYPES, type Descriptor } from '../src/core/images';
import { hostPlatform } from '../src/core/images/platform';
import { expectKind } from './support/metadata-tmp';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice(7);

type Entry = { name: string; data?: Buffer | string; link?: string; hardlink?: string; dir?: boolean };

/** A tar of the entries, in order. */
function tarOf(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const base = { name: e.name, mode: 0o644, uid: 0, gid: 0, mtime: { sec: 0, nsec: 0 } };
    if (e.dir) parts.push(encodeHeader({ ...base, type: 'directory', mode: 0o755, size: 0 }));
    else if (e.link !== undefined) parts.push(encodeHeader({ ...base, type: 'symlink', size: 0, linkname: e.link }));
    else if (e.hardlink !== undefined) parts.push(encodeHeader({ ...base, type: 'link', size: 0, linkname: e.hardlink }));
    else {
      const data = Buffer.from(e.data ?? '');
      parts.push(encodeHeader({ ...base, type: 'file', size: data.length }), data, padding(data.length));
    }
  }
  parts.push(endOfArchive());
  return Buffer.concat(parts);
}

async function* chunks(b: Buffer, size = 777): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

class MemorySink implements BlobSink {
  readonly blobs = new Map<string, Buffer>();
  readonly entries: SinkEntry[] = [];
  async put(entry: SinkEntry, body: AsyncIterable<Buffer>, digest: () => string): Promise<void> {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c);
    this.entries.push(entry);
    this.blobs.set(digest(), Buffer.concat(parts));
  }
  read = async (d: Descriptor): Promise<Buffer> => {
    const b = this.blobs.get(d.digest);
    if (!b) throw new Error(`no blob ${d.digest}`);
    return b;
  };
}

async function load(tar: Buffer): Promise<{ sink: MemorySink; contents: ArchiveContents }> {
  const sink = new MemorySink();
  const contents = await readArchive(chunks(tar), sink);
  return { sink, contents };
}

// ---- a two-layer image ----

const layer0 = tarOf([{ name: 'etc/', dir: true }, { name: 'etc/hello', data: 'hello\n' }]);
const layer1 = tarOf([{ name: 'etc/world', data: 'world\n' }]);
const layer1gz = gzipSync(layer1);
const host = hostPlatform();
const config = Buffer.from(
  JSON.stringify({ architecture: host.architecture, os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [sha(layer0), sha(layer1)] } }),
);

function ociManifest(layers: { data: Buffer; mediaType: string }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: sha(l.data), size: l.data.length })),
    }),
  );
}
const manifest = ociManifest([
  { data: layer0, mediaType: MEDIA_TYPES.ociLayer },
  { data: layer1gz, mediaType: MEDIA_TYPES.ociLayerGzip },
]);
const blobEntries = (...bs: Buffer[]): Entry[] => bs.map((b) => ({ name: `blobs/sha256/${hex(sha(b))}`, data: b }));
const index = (manifests: object[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests }));
const layout = { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' };

describe('docker-archive', () => {
  // Docker ≤24: <id>/layer.tar, <id>/json, <id>/VERSION, <config hex>.json; a layer linked from another directory
  const legacy = tarOf([
    { name: 'aaaa/', dir: true },
    { name: `${'1'.repeat(64)}/layer.tar`, data: layer0 },
    { name: `${'1'.repeat(64)}/json`, data: '{}' },
    { name: `${'1'.repeat(64)}/VERSION`, data: '1.0' },
    { name: `${'2'.repeat(64)}/layer.tar`, link: `../${'3'.repeat(64)}/layer.tar` },
    { name: `${'3'.repeat(64)}/layer.tar`, data: layer1gz },
    { name: `${hex(sha(config))}.json`, data: config },
    {
      name: 'manifest.json',
      data: JSON.stringify([{ Config: `${hex(sha(config))}.json`, RepoTags: ['busybox:latest', 'docker.io/me/app:1'], Layers: [`${'1'.repeat(64)}/layer.tar`, `./${'2'.repeat(64)}/layer.tar`] }]),
    },
    { name: 'repositories', data: '{}' },
  ]);

  it('reads layers through links, makes an OCI manifest with the layers as they are, names normalised', async () => {
    const { sink, contents } = await load(legacy);
    // per-layer json/VERSION are not blobs; the three real files are
    expect(sink.entries.map((e) => e.path).sort()).toEqual([`${'1'.repeat(64)}/layer.tar`, `${'3'.repeat(64)}/layer.tar`, `${hex(sha(config))}.json`].sort());
    expect(contents.files.get(`${'3'.repeat(64)}/layer.tar`)).toMatchObject({ digest: sha(layer1gz), size: layer1gz.length, compression: 'gzip' });
    const plan = await planImport(contents, sink.read);
    expect(plan.images).toHaveLength(1);
    const [img] = plan.images;
    expect(img!.names).toEqual(['docker.io/library/busybox:latest', 'docker.io/me/app:1']);
    expect(plan.generated).toHaveLength(1);
    const made = JSON.parse(plan.generated[0]!.bytes.toString());
    expect(made).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha(config), size: config.length },
      layers: [
        { mediaType: MEDIA_TYPES.ociLayer, digest: sha(layer0), size: layer0.length },
        { mediaType: MEDIA_TYPES.ociLayerGzip, digest: sha(layer1gz), size: layer1gz.length },
      ],
    });
    // the same bytes an OCI image of these blobs has (key order and compact JSON as Go writes)
    expect(plan.generated[0]!.bytes.equals(manifest)).toBe(true);
    expect(img!.target).toMatchObject({ mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest), size: manifest.length, platform: { os: 'linux', architecture: host.architecture } });
    expect(img!.config.digest).toBe(sha(config));
    expect(plan.childLabels.get(sha(manifest))).toEqual({
      'containerd.io/gc.ref.content.config': sha(config),
      'containerd.io/gc.ref.content.l.0': sha(layer0),
      'containerd.io/gc.ref.content.l.1': sha(layer1gz),
    });
  });

  it('a whole-archive gzip is read the same (docker load accepts compressed archives)', async () => {
    const { sink, contents } = await load(gzipSync(legacy));
    const plan = await planImport(contents, sink.read);
    expect(plan.images[0]!.target.digest).toBe(sha(manifest));
  });

  it('untagged (RepoTags null) loads with no names', async () => {
    const tar = tarOf([
      { name: 'l0.tar', data: layer0 },
      { name: 'l1.tar', data: layer1 },
      { name: 'c.json', data: config },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: null, Layers: ['l0.tar', 'l1.tar'] }]) },
    ]);
    const { sink, contents } = await load(tar);
    const plan = await planImport(contents, sink.read);
    expect(plan.images[0]!.names).toEqual([]);
  });

  it('an uncompressed layer that is not its diff_id is refused, naming the entry', async () => {
    const bad = Buffer.from(layer0);
    bad[600] = bad[600]! ^ 1;
    const tar = tarOf([
      { name: 'l0.tar', data: bad },
      { name: 'l1.tar', data: layer1 },
      { name: 'c.json', data: config },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['l0.tar', 'l1.tar'] }]) },
    ]);
    const { sink, contents } = await load(tar);
    await expectKind(planImport(contents, sink.read), 'InvalidArgument', /manifest\.json\[0\]\.Layers\[0\] "l0\.tar": content is sha256:\w+, but the config's rootfs\.diff_ids\[0\] is/);
  });

  it.each([
    ['a missing layer file', [{ Config: 'c.json', RepoTags: [], Layers: ['nope.tar'] }], /Layers\[0\]: "nope\.tar" is not in the archive/],
    ['a dangling link', [{ Config: 'c.json', RepoTags: [], Layers: ['link.tar'] }], /Layers\[0\]: "link\.tar" is not in the archive/],
    ['a bad tag', [{ Config: 'c.json', RepoTags: ['Bad:Name'], Layers: ['l0.tar', 'l0.tar'] }], /RepoTags\[0\]: invalid reference "Bad:Name"/],
    ['more layers than diff_ids', [{ Config: 'c.json', RepoTags: [], Layers: ['l0.tar'] }], /1 layers, but its config lists 2 diff_ids/],
    ['a manifest.json that is not a list', { Config: 'c.json' }, /manifest\.json: expected an array/],
    ['Layers missing', [{ Config: 'c.json' }], /manifest\.json\[0\]\.Layers: must be an array/],
  ])('refuses %s', async (_what, mf, why) => {
    const tar = tarOf([
      { name: 'l0.tar', data: layer0 },
      { name: 'link.tar', link: 'gone.tar' },
      { name: 'c.json', data: config },
      { name: 'manifest.json', data: JSON.stringify(mf) },
    ]);
    const { sink, contents } = await load(tar);
    await expectKind(planImport(contents, sink.read), 'InvalidArgument', why);
  });
});

describe('OCI image layout', () => {
  const tarWith = (idx: Buffer, ...blobs: Buffer[]) => tarOf([layout, { name: 'index.json', data: idx }, { name: 'blobs/', dir: true }, ...blobEntries(...blobs)]);

  it('names from io.containerd.image.name, else org.opencontainers.image.ref.name read as a reference; blobs by digest', async () => {
    const idx = index([
      { mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest), size: manifest.length, annotations: { 'io.containerd.image.name': 'docker.io/library/busybox:1', 'org.opencontainers.image.ref.name': '1' } },
      { mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'test' } },
      { mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1+build' } },
    ]);
    const { sink, contents } = await load(tarWith(idx, layer0, layer1gz, config, manifest));
    expect(sink.entries.every((e) => e.expected === sha(sink.blobs.get(e.expected!)!))).toBe(true);
    const plan = await planImport(contents, sink.read);
    expect(plan.generated).toEqual([]);
    expect(plan.images).toHaveLength(1);
    expect(plan.images[0]!.names).toEqual(['docker.io/library/busybox:1', 'docker.io/library/test:latest']);
    expect(plan.images[0]!.layers.map((l) => l.digest)).toEqual([sha(layer0), sha(layer1gz)]);
    expect(plan.warnings).toEqual([expect.stringMatching(/manifests\[2\]: annotation org\.opencontainers\.image\.ref\.name: invalid reference "v1\+build".*loaded untagged/)]);
  });

  it('an index target: the host platform is chosen, other platforms may be missing', async () => {
    const other = { os: 'linux', architecture: host.architecture === 'amd64' ? 'arm64' : 'amd64' };
    const inner = index([
      { mediaType: MEDIA_TYPES.ociManifest, digest: sha('elsewhere'), size: 999, platform: other },
      { mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest), size: manifest.length, platform: { os: 'linux', architecture: host.architecture, ...(host.variant ? { variant: host.variant } : {}) } },
    ]);
    const idx = index([{ mediaType: MEDIA_TYPES.ociIndex, digest: sha(inner), size: inner.length, annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1' } }]);
    const { sink, contents } = await load(tarWith(idx, inner, manifest, config, layer0, layer1gz));
    const plan = await planImport(contents, sink.read);
    expect(plan.images[0]).toMatchObject({ names: ['docker.io/library/multi:1'], target: { digest: sha(inner) }, manifest: { digest: sha(manifest) } });
    expect(plan.childLabels.get(sha(inner))).toEqual({ 'containerd.io/gc.ref.content.m.0': sha('elsewhere'), 'containerd.io/gc.ref.content.m.1': sha(manifest) });
  });

  it('an index without this platform is refused', async () => {
    const inner = index([{ mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest), size: manifest.length, platform: { os: 'windows', architecture: 'amd64' } }]);
    const idx = index([{ mediaType: MEDIA_TYPES.ociIndex, digest: sha(inner), size: inner.length }]);
    const { sink, contents } = await load(tarWith(idx, inner, manifest, config, layer0, layer1gz));
    await expectKind(planImport(contents, sink.read), 'InvalidArgument', /has no linux\/\w+.* image in the archive/);
  });

  it('a blob whose bytes are not its name is refused while streaming, naming the entry; nothing after it is read', async () => {
    const bad = Buffer.from(layer1gz);
    bad[bad.length - 20] = bad[bad.length - 20]! ^ 0xff;
    const tar = tarOf([layout, { name: `blobs/sha256/${hex(sha(layer1gz))}`, data: bad }, ...blobEntries(config)]);
    const sink = new MemorySink();
    await expectKind(readArchive(chunks(tar), sink), 'InvalidArgument', new RegExp(`archive entry "blobs/sha256/${hex(sha(layer1gz))}": content is sha256:\\w+, not the digest its name says`));
    expect(sink.blobs.size).toBe(0);
  });

  it.each([
    ['a blob the manifest needs is missing', () => tarWith(index([{ mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest), size: manifest.length }]), manifest, config, layer0), /layers\[1\]: blob sha256:\w+ is not in the archive/],
    ['a descriptor size that is wrong', () => tarWith(index([{ mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest), size: manifest.length + 1 }]), manifest, config, layer0, layer1gz), /is \d+ bytes in the archive .*the descriptor says/],
    ['an unsupported layout version', () => tarOf([{ name: 'oci-layout', data: '{"imageLayoutVersion":"2.0.0"}' }, { name: 'index.json', data: index([]) }]), /imageLayoutVersion "2\.0\.0" is not supported/],
    ['index.json that is not JSON', () => tarOf([layout, { name: 'index.json', data: '{' }]), /index\.json: not valid JSON/],
    ['a bad digest in index.json', () => tarOf([layout, { name: 'index.json', data: index([{ mediaType: MEDIA_TYPES.ociManifest, digest: 'md5:x', size: 1 }]) }]), /index\.json\.manifests\[0\]\.digest: "md5:x" is not a sha256 digest/],
    ['neither manifest.json nor index.json', () => tarOf([{ name: 'hello', data: 'x' }]), /neither manifest\.json .* nor index\.json/],
  ])('refuses %s', async (_what, make, why) => {
    const { sink, contents } = await load(make());
    await expectKind(planImport(contents, sink.read), 'InvalidArgument', why);
  });
});

describe("Docker ≥25's combined archive", () => {
  it('the OCI index is used, and manifest.json RepoTags of the same config add names', async () => {
    const idx = index([{ mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest), size: manifest.length, annotations: { 'io.containerd.image.name': 'docker.io/library/busybox:latest', 'org.opencontainers.image.ref.name': 'latest' } }]);
    const tar = tarOf([
      ...blobEntries(layer0, layer1gz, config, manifest),
      { name: 'index.json', data: idx },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `blobs/sha256/${hex(sha(config))}`, RepoTags: ['busybox:latest', 'busybox:extra'], Layers: [`blobs/sha256/${hex(sha(layer0))}`, `blobs/sha256/${hex(sha(layer1gz))}`] }]) },
      layout,
      { name: 'repositories', data: '{}' },
    ]);
    const { sink, contents } = await load(tar);
    const plan = await planImport(contents, sink.read);
    expect(plan.generated).toEqual([]);
    expect(plan.images).toHaveLength(1);
    expect(plan.images[0]!.names).toEqual(['docker.io/library/busybox:latest', 'docker.io/library/busybox:extra']);
    expect(plan.images[0]!.target.digest).toBe(sha(manifest));
  });
});

describe('archives that are not archives', () => {
  it.each([
    ['empty input', Buffer.alloc(0), /archive is empty/],
    ['text', Buffer.from('hello world\n'), /archive: tar: unexpected end of archive/],
    ['512 bytes of garbage', Buffer.alloc(512, 0x41), /archive: tar: bad checksum field/],
    ['a truncated blob', tarOf([layout, ...blobEntries(layer0)]).subarray(0, 1536 + 300), new RegExp(`archive entry "blobs/sha256/${hex(sha(layer0))}": tar: unexpected end of archive`)],
    ['a path that leaves the archive', tarOf([{ name: '../evil', data: 'x' }]), /archive entry "\.\.\/evil": path leaves the archive/],
    ['a broken gzip', gzipSync(tarOf([layout])).subarray(0, 30), /gzip/],
  ])('%s', async (_what, bytes, why) => {
    await expectKind(readArchive(chunks(bytes), new MemorySink()), 'InvalidArgument', why);
  });

  it('a truncation between entries names the entry before', async () => {
    const whole = tarOf([layout, ...blobEntries(layer0)]);
    await expectKind(readArchive(chunks(whole.subarray(0, 1024 + 100)), new MemorySink()), 'InvalidArgument', /archive, after entry "oci-layout": tar: unexpected end of archive/);
  });

  it('hard links resolve from the archive root', async () => {
    const tar = tarOf([
      { name: 'dir/l0.tar', data: layer0 },
      { name: 'other/l.tar', hardlink: 'dir/l0.tar' },
      { name: 'l1.tar', data: layer1 },
      { name: 'c.json', data: config },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['other/l.tar', 'l1.tar'] }]) },
    ]);
    const { sink, contents } = await load(tar);
    const plan = await planImport(contents, sink.read);
    expect(plan.images[0]!.layers[0]!.digest).toBe(sha(layer0));
  });
});
