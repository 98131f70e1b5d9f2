// berth's CLI in-process (main() with its own streams) against a real in-process berthd
// (test/support/grpc-server: real LMDB, content store, overlayfs snapshots, differ): version,
// load of docker-archives and OCI layouts, save, their failures and exit statuses.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { CONTENT, IMAGES, LEASES, SNAPSHOTS, collect, createClient, type Client } from '../src/api';
import { main } from '../src/cli/main';
import { readArchive, type BlobSink } from '../src/core/archive';
import { encodeHeader, endOfArchive, padding } from '../src/core/diff/tar';
import { MEDIA_TYPES, chainIds } from '../src/core/images';
import { hostPlatform } from '../src/core/images/platform';
import { STORAGE_PLUGINS } from '../src/plugins';
import { versionPlugin } from '../src/services/version';
import { mountsBelow, startTestServer, type TestServer } from './support/grpc-server';

jest.setTimeout(60000);

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice(7);

type Entry = { name: string; data?: Buffer | string; link?: string; dir?: boolean };
function tarOf(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const base = { name: e.name, mode: e.dir ? 0o755 : 0o644, uid: 0, gid: 0, mtime: { sec: 0, nsec: 0 } };
    if (e.dir) parts.push(encodeHeader({ ...base, type: 'directory', size: 0 }));
    else if (e.link !== undefined) parts.push(encodeHeader({ ...base, type: 'symlink', size: 0, linkname: e.link }));
    else {
      const data = Buffer.from(e.data ?? '');
      parts.push(encodeHeader({ ...base, type: 'file', size: data.length }), data, padding(data.length));
    }
  }
  parts.push(endOfArchive());
  return Buffer.concat(parts);
}

// A two-layer image: the second layer gzip-compressed and deleting nothing, adding a file.
const layer0 = tarOf([{ name: 'etc/', dir: true }, { name: 'etc/hello', data: 'hello from layer 0\n' }]);
const layer1 = tarOf([{ name: 'etc/', dir: true }, { name: 'etc/world', data: 'world from layer 1\n' }]);
const layer1gz = gzipSync(layer1);
const config = Buffer.from(JSON.stringify({ architecture: hostPlatform().architecture, os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [sha(layer0), sha(layer1)] } }));
const chain = chainIds([sha(layer0), sha(layer1)]);

function dockerArchive(tags: string[] | null, layers: Buffer[] = [layer0, layer1gz], cfg = config): Buffer {
  return tarOf([
    { name: `${'1'.repeat(64)}/layer.tar`, data: layers[0]! },
    { name: `${'2'.repeat(64)}/layer.tar`, link: `../${'3'.repeat(64)}/layer.tar` },
    { name: `${'3'.repeat(64)}/layer.tar`, data: layers[1]! },
    { name: `${hex(sha(cfg))}.json`, data: cfg },
    { name: 'manifest.json', data: JSON.stringify([{ Config: `${hex(sha(cfg))}.json`, RepoTags: tags, Layers: [`${'1'.repeat(64)}/layer.tar`, `${'2'.repeat(64)}/layer.tar`] }]) },
  ]);
}

const ociManifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha(config), size: config.length },
    layers: [
      { mediaType: MEDIA_TYPES.ociLayer, digest: sha(layer0), size: layer0.length },
      { mediaType: MEDIA_TYPES.ociLayerGzip, digest: sha(layer1gz), size: layer1gz.length },
    ],
  }),
);
function ociArchive(refName: string, blobs: Buffer[] = [layer0, layer1gz, config, ociManifest]): Buffer {
  const index = JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: sha(ociManifest), size: ociManifest.length, annotations: { 'org.opencontainers.image.ref.name': refName } }] });
  return tarOf([{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: 'index.json', data: index }, ...blobs.map((b) => ({ name: `blobs/sha256/${hex(sha(b))}`, data: b }))]);
}

let srv: TestServer;
let host = '';
let images: Client<typeof IMAGES>;
let content: Client<typeof CONTENT>;
let snapshots: Client<typeof SNAPSHOTS>;
let leases: Client<typeof LEASES>;

interface Run {
  code: number;
  stdout: Buffer;
  out: string;
  err: string;
}

async function berth(args: string[], opts: { stdin?: Buffer; stdinTTY?: boolean; stdoutTTY?: boolean; env?: Record<string, string> } = {}): Promise<Run> {
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  const stdout = new PassThrough() as PassThrough & { isTTY?: boolean };
  const stderr = new PassThrough();
  if (opts.stdinTTY) stdin.isTTY = true;
  if (opts.stdoutTTY) stdout.isTTY = true;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  stdin.end(opts.stdin ?? Buffer.alloc(0));
  const code = await main(['-H', host, ...args], { stdin, stdout, stderr, env: opts.env ?? {} });
  const stdoutBuf = Buffer.concat(out);
  return { code, stdout: stdoutBuf, out: stdoutBuf.toString(), err: Buffer.concat(err).toString() };
}

const imageNames = async () => (await images.List({ filters: [] })).images.map((i) => i.name).sort();
const labelsOf = async (digest: string) => (await content.Info({ digest })).info!.labels;
const snapshotList = async () => (await collect(snapshots.List({ snapshotter: 'overlayfs', filters: [] }))).flatMap((r) => r.info);

beforeAll(async () => {
  srv = await startTestServer([...STORAGE_PLUGINS, versionPlugin]);
  host = `unix://${srv.socket}`;
  const opts = { namespace: 'default' };
  images = createClient(IMAGES, srv.socket, opts);
  content = createClient(CONTENT, srv.socket, opts);
  snapshots = createClient(SNAPSHOTS, srv.socket, opts);
  leases = createClient(LEASES, srv.socket, opts);
});

afterAll(async () => {
  for (const c of [images, content, snapshots, leases]) c?.close();
  const dir = srv?.dir;
  await srv?.close();
  if (dir) expect(await mountsBelow(dir)).toEqual([]);
});

afterEach(async () => {
  // every load ends its lease, whatever happened
  expect((await leases.List({ filters: [] })).leases).toEqual([]);
});

describe('berth version', () => {
  it('prints client and server', async () => {
    const r = await berth(['version']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Client:\n Version: {11}v\d+\.\d+\.\d+\n Git commit: {8}\S+\n Node\.js: {11}v\d+/);
    expect(r.out).toMatch(/\nServer:\n Version: {11}v\d+\.\d+\.\d+\n Git commit: {8}\S+\n Address: {11}unix:\/\/\//);
    expect((await berth(['version', '--format', '{{.Server.Address}}'])).out).toBe(`${host}\n`);
    expect(JSON.parse((await berth(['version', '-f', 'json'])).out).Client.Os).toBe('linux');
  });

  it('without berthd: the client part, then a one-line hint, exit 125', async () => {
    const missing = path.join(srv.dir, 'nothing-here.sock');
    const r = await berth(['-H', `unix://${missing}`, 'version']);
    expect(r.code).toBe(125);
    expect(r.out).toMatch(/^Client:/);
    expect(r.out).not.toMatch(/Server:/);
    expect(r.err).toBe(`berth: cannot connect to berthd at unix://${missing} (no such socket): is berthd running? Start it with 'berthd' or 'systemctl start berthd'\n`);
  });
});

describe('berth load', () => {
  it('a docker-archive: blobs, unpacked snapshots by chain id, containerd labels, the record; Loaded image', async () => {
    const r = await berth(['load'], { stdin: dockerArchive(['busybox:latest', 'me/app:1']) });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe('Loaded image: busybox:latest\nLoaded image: me/app:1\n');
    expect(await imageNames()).toEqual(['docker.io/library/busybox:latest', 'docker.io/me/app:1']);
    const { image } = await images.Get({ name: 'docker.io/library/busybox:latest' });
    expect(image!.target).toMatchObject({ mediaType: MEDIA_TYPES.ociManifest, digest: sha(ociManifest), size: ociManifest.length });

    // the labels containerd's importer and unpacker leave, so GC keeps what the image needs
    expect(await labelsOf(sha(ociManifest))).toEqual({
      'containerd.io/gc.ref.content.config': sha(config),
      'containerd.io/gc.ref.content.l.0': sha(layer0),
      'containerd.io/gc.ref.content.l.1': sha(layer1gz),
    });
    expect(await labelsOf(sha(config))).toEqual({ 'containerd.io/gc.ref.snapshot.overlayfs': chain[1] });
    expect(await labelsOf(sha(layer0))).toEqual({ 'containerd.io/uncompressed': sha(layer0) });
    expect(await labelsOf(sha(layer1gz))).toEqual({ 'containerd.io/uncompressed': sha(layer1) });

    const snaps = await snapshotList();
    expect(snaps.map((s) => [s.name, s.parent, s.kind]).sort()).toEqual([
      [chain[0], '', 'COMMITTED'],
      [chain[1], chain[0], 'COMMITTED'],
    ].sort());
    expect(snaps.find((s) => s.name === chain[1])!.labels).toEqual({ 'containerd.io/snapshot.ref': chain[1] });

    // the unpacked files: a view of the top snapshot has both layers as lower dirs
    const { mounts } = await snapshots.View({ snapshotter: 'overlayfs', key: 'check-view', parent: chain[1]!, labels: {} });
    try {
      const lower = mounts[0]!.options.find((o) => o.startsWith('lowerdir='))!.slice('lowerdir='.length).split(':');
      expect(lower).toHaveLength(2);
      expect(await readFile(path.join(lower[0]!, 'etc', 'world'), 'utf8')).toBe('world from layer 1\n');
      expect(await readFile(path.join(lower[1]!, 'etc', 'hello'), 'utf8')).toBe('hello from layer 0\n');
    } finally {
      await snapshots.Remove({ snapshotter: 'overlayfs', key: 'check-view' });
    }
  });

  it('an OCI layout from -i (ref.name "test"): same blobs and snapshots, reused; named like docker tag', async () => {
    const file = path.join(srv.dir, 'oci.tar');
    writeFileSync(file, ociArchive('test'));
    const before = (await snapshotList()).length;
    const r = await berth(['load', '-i', file]);
    expect(r).toMatchObject({ code: 0, out: 'Loaded image: test:latest\n', err: '' });
    expect((await images.Get({ name: 'docker.io/library/test:latest' })).image!.target!.digest).toBe(sha(ociManifest));
    expect((await snapshotList()).length).toBe(before);
  });

  it('an untagged image: Loaded image ID (the config digest), kept under a dangling name until it gets a name', async () => {
    const cfg = Buffer.from(config.toString().replace('"sh"', '"true"'));
    const r = await berth(['load'], { stdin: dockerArchive(null, [layer0, layer1gz], cfg) });
    expect(r).toMatchObject({ code: 0, out: `Loaded image ID: ${sha(cfg)}\n` });
    const dangling = (await imageNames()).filter((n) => n.startsWith('berth-dangling@'));
    expect(dangling).toHaveLength(1);
    const r2 = await berth(['load', '-q'], { stdin: dockerArchive(['named:1'], [layer0, layer1gz], cfg) });
    expect(r2).toMatchObject({ code: 0, out: 'Loaded image: named:1\n' });
    expect((await imageNames()).filter((n) => n.startsWith('berth-dangling@'))).toEqual([]);
    await images.Delete({ name: 'docker.io/library/named:1', sync: false });
  });

  it('a blob that is not what its name says: exit 1, the entry named, no record, nothing active', async () => {
    const bad = Buffer.from(layer1gz);
    bad[bad.length - 10] = bad[bad.length - 10]! ^ 0xff;
    const tar = ociArchive('broken');
    const at = tar.indexOf(layer1gz);
    bad.copy(tar, at);
    const names = await imageNames();
    const r = await berth(['load'], { stdin: tar });
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(`berth: archive entry "blobs/sha256/${hex(sha(layer1gz))}": content is ${sha(bad)}, not the digest its name says\n`);
    expect(await imageNames()).toEqual(names);
    expect((await content.ListStatuses({ filters: [] })).statuses).toEqual([]);
  });

  it('a gzip layer that is not its diff_id: refused before unpacking (even with its snapshots present), no record', async () => {
    const wrong = tarOf([{ name: 'etc/', dir: true }, { name: 'etc/world', data: 'not what the config says\n' }]);
    const other = gzipSync(wrong);
    const cfg = Buffer.from(config.toString().replace('"sh"', '"ls"'));
    const names = await imageNames();
    const snaps = (await snapshotList()).map((s) => s.name).sort();
    const r = await berth(['load'], { stdin: dockerArchive(['wrong:diff'], [layer0, other], cfg) });
    expect(r.code).toBe(1);
    expect(r.err).toBe(`berth: manifest.json[0].Layers[1] "${'3'.repeat(64)}/layer.tar": uncompressed content is ${sha(wrong)}, but the config's rootfs.diff_ids[1] is ${sha(layer1)}\n`);
    expect(await imageNames()).toEqual(names);
    expect((await snapshotList()).map((s) => s.name).sort()).toEqual(snaps);
  });

  it('a gzip layer that is not valid gzip: refused before unpacking, naming the entry', async () => {
    const fresh = tarOf([{ name: 'new/', dir: true }, { name: 'new/file', data: 'x'.repeat(5000) }]);
    const cut = gzipSync(fresh).subarray(0, 40);
    const cfg = Buffer.from(JSON.stringify({ architecture: hostPlatform().architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer0), sha(fresh)] } }));
    const names = await imageNames();
    const r = await berth(['load'], { stdin: dockerArchive(['cut:1'], [layer0, cut], cfg) });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: manifest\.json\[0\]\.Layers\[1\] "3{64}\/layer\.tar": not valid gzip \(unexpected end of file\)\n$/);
    expect(await imageNames()).toEqual(names);
  });

  it('a zstd layer (checked only when unpacked) with the wrong diff id: refused at unpack, no record, no snapshot left', async () => {
    const fresh = tarOf([{ name: 'zz/', dir: true }, { name: 'zz/file', data: 'zstd layer\n' }]);
    const zst = spawnSync('zstd', ['-q', '-c'], { input: fresh });
    expect(zst.status).toBe(0);
    const claimed = sha('something else');
    const cfg = Buffer.from(JSON.stringify({ architecture: hostPlatform().architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer0), claimed] } }));
    const names = await imageNames();
    const snaps = (await snapshotList()).map((s) => s.name).sort();
    const r = await berth(['load'], { stdin: dockerArchive(['zstd:1'], [layer0, zst.stdout], cfg) });
    expect(r.code).toBe(1);
    expect(r.err).toBe(`berth: zstd:1: layer 1 (${sha(zst.stdout)}) unpacks to ${sha(fresh)}, but the config's rootfs.diff_ids[1] is ${claimed}\n`);
    expect(await imageNames()).toEqual(names);
    expect((await snapshotList()).map((s) => s.name).sort()).toEqual(snaps);
  });

  it('a truncated archive and a non-archive are refused (exit 1)', async () => {
    const names = await imageNames();
    const whole = dockerArchive(['trunc:1']);
    const r = await berth(['load'], { stdin: whole.subarray(0, 700) });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: archive entry "1{64}\/layer\.tar": tar: unexpected end of archive\n$/);
    const r2 = await berth(['load'], { stdin: Buffer.from('{"not":"a tar"}'.repeat(100)) });
    expect(r2.code).toBe(1);
    expect(r2.err).toMatch(/^berth: archive: tar: /);
    expect(await imageNames()).toEqual(names);
  });

  it('usage: no arguments; stdin a terminal is refused like docker; a missing file', async () => {
    const r = await berth(['load', 'extra']);
    expect(r).toMatchObject({ code: 125, err: `berth: "berth load" accepts no arguments (see 'berth load --help')\n` });
    expect(await berth(['load'], { stdinTTY: true })).toMatchObject({ code: 1, err: 'berth: requested load from stdin, but stdin is empty\n' });
    const missing = await berth(['load', '-i', path.join(srv.dir, 'nope.tar')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^berth: ENOENT: no such file or directory, open '.*nope\.tar'\n$/);
  });
});

describe('berth save', () => {
  it('-o FILE and stdout give the same bytes; the archive reads back with both formats', async () => {
    const file = path.join(srv.dir, 'saved.tar');
    const r = await berth(['save', '-o', file, 'busybox', 'me/app:1']);
    expect(r).toMatchObject({ code: 0, out: '', err: '' });
    const viaStdout = await berth(['save', 'busybox', 'me/app:1']);
    expect(viaStdout.code).toBe(0);
    const saved = readFileSync(file);
    expect(viaStdout.stdout.equals(saved)).toBe(true);

    const files = new Map<string, Buffer>();
    const sink: BlobSink = {
      async put(entry, body) {
        const parts: Buffer[] = [];
        for await (const c of body) parts.push(c);
        files.set(entry.path, Buffer.concat(parts));
      },
    };
    const contents = await readArchive((async function* () { yield saved; })(), sink);
    expect(JSON.parse(contents.metadata.get('manifest.json')!.toString())).toEqual([
      { Config: `blobs/sha256/${hex(sha(config))}`, RepoTags: ['busybox:latest', 'me/app:1'], Layers: [`blobs/sha256/${hex(sha(layer0))}`, `blobs/sha256/${hex(sha(layer1gz))}`] },
    ]);
    expect(JSON.parse(contents.metadata.get('index.json')!.toString()).manifests.map((m: { digest: string; annotations: Record<string, string> }) => [m.digest, m.annotations['io.containerd.image.name']])).toEqual([
      [sha(ociManifest), 'docker.io/library/busybox:latest'],
      [sha(ociManifest), 'docker.io/me/app:1'],
    ]);
    expect([...files.keys()].sort()).toEqual([ociManifest, config, layer0, layer1gz].map((b) => `blobs/sha256/${hex(sha(b))}`).sort());
  });

  it('round trip: remove the image, load what save wrote, same target', async () => {
    const file = path.join(srv.dir, 'round.tar');
    expect((await berth(['save', '-o', file, 'busybox:latest'])).code).toBe(0);
    await images.Delete({ name: 'docker.io/library/busybox:latest', sync: false });
    const r = await berth(['load', '-i', file]);
    expect(r).toMatchObject({ code: 0, out: 'Loaded image: busybox:latest\n' });
    expect((await images.Get({ name: 'docker.io/library/busybox:latest' })).image!.target!.digest).toBe(sha(ociManifest));
  });

  it('by image id (a prefix of the config digest): saved untagged', async () => {
    const r = await berth(['save', hex(sha(config)).slice(0, 12)]);
    expect(r.code).toBe(0);
    const contents = await readArchive((async function* () { yield r.stdout; })(), { async put(_e, body) { for await (const _ of body) void _; } });
    expect(JSON.parse(contents.metadata.get('manifest.json')!.toString())[0].RepoTags).toBeNull();
  });

  it('refuses a terminal, an unknown image, no arguments; a failed save leaves no file', async () => {
    expect(await berth(['save', 'busybox'], { stdoutTTY: true })).toMatchObject({ code: 1, err: 'berth: cowardly refusing to save to a terminal. Use the -o flag or redirect\n' });
    const file = path.join(srv.dir, 'never.tar');
    expect(await berth(['save', '-o', file, 'nope:1'])).toMatchObject({ code: 1, err: 'berth: no such image: nope:1\n' });
    expect(existsSync(file)).toBe(false);
    expect(await berth(['save'])).toMatchObject({ code: 125, err: `berth: "berth save" requires at least 1 argument (see 'berth save --help')\n` });
  });
});

describe('berth itself', () => {
  it('help: top level, command, management command; aliases', async () => {
    const top = await berth(['--help']);
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/^Usage: {2}berth \[OPTIONS\] COMMAND\n/);
    expect(top.out).toMatch(/\n {2}load +Load an image from a tar archive or STDIN\n/);
    const load = await berth(['image', 'load', '--help']);
    expect(load.out).toMatch(/^Usage: {2}berth image load \[OPTIONS\]\n\nLoad an image/);
    expect(load.out).toMatch(/\nAliases:\n {2}berth image load, berth load\n/);
    expect(load.out).toMatch(/\n {2}-i, --input string {3}Read from tar archive file, instead of STDIN\n/);
    expect((await berth(['help', 'save'])).out).toMatch(/^Usage: {2}berth save \[OPTIONS\] IMAGE \[IMAGE\.\.\.\]/);
    expect((await berth(['image'])).out).toMatch(/^Usage: {2}berth image COMMAND\n\nManage images\n\nCommands:\n {2}load/);
  });

  it.each([
    [['frobnicate'], `berth: unknown command: "frobnicate" (see 'berth --help')\n`],
    [['image', 'frob'], `berth: unknown command: "image frob" (see 'berth image --help')\n`],
    [['--nope', 'version'], `berth: unknown flag: --nope (see 'berth --help')\n`],
    [['-H', 'tcp://1.2.3.4:2375', 'version'], `berth: invalid host "tcp://1.2.3.4:2375": berthd listens on a unix socket; use unix:///path (see 'berth --help')\n`],
    [['--log-level', 'loud', 'version'], `berth: unknown log level "loud": want one of debug, info, warn, error, fatal (see 'berth --help')\n`],
    [['version', '--format', '{{.Nope}}'], `berth: template: {{.Nope}}: can't evaluate field Nope\n`],
  ])('%j fails in one line', async (args, err) => {
    const r = await berth(args);
    expect(r.err).toBe(err);
    expect(r.code).toBe(args[0] === 'version' ? 1 : 125);
  });

  it('BERTH_HOST and BERTH_NAMESPACE are read; -H wins over BERTH_HOST', async () => {
    const missing = `unix://${path.join(srv.dir, 'env.sock')}`;
    const stdin = Buffer.alloc(0);
    const viaEnv = await main(['version'], { stdin: new PassThrough().end(stdin), stdout: new PassThrough(), stderr: new PassThrough(), env: { BERTH_HOST: host } });
    expect(viaEnv).toBe(0);
    const r = await berth(['version'], { env: { BERTH_HOST: missing } }); // berth() passes -H itself
    expect(r.code).toBe(0);
    // another namespace sees none of default's images
    const other = await berth(['save', 'busybox'], { env: { BERTH_NAMESPACE: 'elsewhere' } });
    expect(other).toMatchObject({ code: 1, err: 'berth: no such image: busybox\n' });
    expect((await berth(['--namespace', 'default', 'save', 'busybox'])).code).toBe(0);
  });

  it('-v prints the version and quits', async () => {
    expect((await berth(['-v'])).out).toMatch(/^berth version v\d+\.\d+\.\d+, build \S+\n$/);
  });
});
