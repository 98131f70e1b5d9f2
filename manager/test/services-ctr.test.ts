// Debian's containerd 1.6 `ctr` against the storage services, in-process: content ls, images
// import (without and with unpack: diff Apply + snapshots Prepare/Commit), images ls/rm,
// snapshots prepare/ls/tree/rm, containers create/ls/info/rm. Needs root (mounts) and ctr.

import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import { mountsBelow, startTestServer, type TestServer } from './support/grpc-server';

jest.setTimeout(120000);

const NAME = 'docker.io/library/berth-svc-test:1';
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice('sha256:'.length);
const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

async function tarOf(entries: { name: string; body?: Buffer | string; type?: 'directory' }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((res) => pack.on('end', res));
  for (const e of entries) {
    if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory', mode: 0o755, mtime: new Date(0) });
    else pack.entry({ name: e.name, mode: 0o644, mtime: new Date(0) }, e.body ?? '');
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A one-layer OCI image layout as a tar, named NAME through io.containerd.image.name. */
async function buildArchive(file: string): Promise<{ layer: string; config: string; manifest: string; index: string }> {
  const layer = await tarOf([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/berth-test', body: 'from the image layer\n' },
    { name: 'bin/', type: 'directory' },
  ]);
  const config = Buffer.from(
    JSON.stringify({
      architecture: GOARCH[process.arch] ?? process.arch,
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [sha(layer)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
    }),
  );
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha(manifest),
          size: manifest.length,
          annotations: { 'io.containerd.image.name': NAME, 'org.opencontainers.image.ref.name': '1' },
        },
      ],
    }),
  );
  const archive = await tarOf([
    { name: 'oci-layout', body: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', body: index },
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    ...[layer, config, manifest].map((b) => ({ name: `blobs/sha256/${hex(sha(b))}`, body: b })),
  ]);
  await new Promise<void>((res, rej) => {
    const out = createWriteStream(file);
    out.on('error', rej);
    out.end(archive, () => res());
  });
  return { layer: sha(layer), config: sha(config), manifest: sha(manifest), index: sha(index) };
}

let srv: TestServer;
let archive = '';
let digests: { layer: string; config: string; manifest: string; index: string };

const ctr = (...args: string[]) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile('ctr', ['--address', srv.socket, '--timeout', '30s', '-n', 't', ...args], { encoding: 'utf8', timeout: 60000 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });

const ok = async (...args: string[]) => {
  const r = await ctr(...args);
  if (r.status !== 0) throw new Error(`ctr ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};

/** Rows of a ctr table, header dropped, split on runs of blanks. */
const rows = (out: string) =>
  out
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => l.trim().split(/\s+/));

beforeAll(async () => {
  if (spawnSync('sh', ['-c', 'command -v ctr']).status !== 0) throw new Error('ctr is not installed (make deps)');
  srv = await startTestServer();
  archive = path.join(srv.dir, 'image.tar');
  digests = await buildArchive(archive);
});

afterAll(async () => {
  const dir = srv?.dir;
  await srv?.close();
  if (dir) expect(await mountsBelow(dir)).toEqual([]);
});

it('content ls is empty; images import --no-unpack stores the blobs and the image; images rm', async () => {
  expect(rows(await ok('content', 'ls'))).toEqual([]);
  await ok('images', 'import', '--no-unpack', archive);
  const listed = rows(await ok('images', 'ls'));
  expect(listed.map((r) => [r[0], r[2]])).toEqual([[NAME, digests.manifest]]);
  const blobs = rows(await ok('content', 'ls')).map((r) => r[0]);
  // ctr stores the archive's index.json too (its gc labels name the manifest)
  expect(blobs.sort()).toEqual([digests.layer, digests.config, digests.manifest, digests.index].sort());
  // the blob reads back through Content.Read
  const layerBytes = await new Promise<Buffer>((resolve, reject) => {
    execFile('ctr', ['--address', srv.socket, '-n', 't', 'content', 'get', digests.layer], { encoding: 'buffer' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
  expect(sha(layerBytes)).toBe(digests.layer);
  await ok('images', 'rm', NAME);
  expect(rows(await ok('images', 'ls'))).toEqual([]);
  // no snapshot was made
  expect(rows(await ok('snapshots', '--snapshotter', 'native', 'ls'))).toEqual([]);
});

it('snapshots --snapshotter native prepare / ls / tree / rm', async () => {
  await ok('snapshots', '--snapshotter', 'native', 'prepare', 'ctr-snap');
  expect(rows(await ok('snapshots', '--snapshotter', 'native', 'ls'))).toEqual([['ctr-snap', 'Active']]);
  expect(await ok('snapshots', '--snapshotter', 'native', 'tree')).toContain('ctr-snap');
  await ok('snapshots', '--snapshotter', 'native', 'rm', 'ctr-snap');
  expect(rows(await ok('snapshots', '--snapshotter', 'native', 'ls'))).toEqual([]);
});

/** The fs dirs of a snapshotter's snapshots on disk. */
async function fsDirs(snapshotter: string): Promise<string[]> {
  const base = path.join(srv.root, 'snapshots', snapshotter, 'snapshots');
  return (await readdir(base)).map((id) => path.join(base, id, 'fs'));
}

for (const snapshotter of ['native', 'overlayfs']) {
  it(`images import with unpack (${snapshotter}): the layer is applied and committed as its chain id; containers create/ls/info/rm`, async () => {
    if (srv.plugins.find((p) => p.id === snapshotter)!.status !== 'ok') {
      console.warn(`${snapshotter} not available here`);
      return;
    }
    await ok('images', 'import', '--snapshotter', snapshotter, archive);
    // one layer: its chain id is its diff id
    const snaps = rows(await ok('snapshots', '--snapshotter', snapshotter, 'ls'));
    expect(snaps).toEqual([[digests.layer, 'Committed']]);
    const dirs = await fsDirs(snapshotter);
    expect(dirs).toHaveLength(1);
    expect(await readFile(path.join(dirs[0]!, 'etc', 'berth-test'), 'utf8')).toBe('from the image layer\n');

    await ok('containers', 'create', '--snapshotter', snapshotter, NAME, 'ctr-c1');
    expect(rows(await ok('containers', 'ls')).map((r) => [r[0], r[1]])).toEqual([['ctr-c1', NAME]]);
    const info = JSON.parse(await ok('containers', 'info', 'ctr-c1'));
    expect(info).toMatchObject({ ID: 'ctr-c1', Image: NAME, Snapshotter: snapshotter, SnapshotKey: 'ctr-c1', Runtime: { Name: 'io.containerd.runc.v2' } });
    expect(info.Spec.process.env).toEqual(expect.arrayContaining(['PATH=/bin']));
    expect(rows(await ok('snapshots', '--snapshotter', snapshotter, 'ls')).sort()).toEqual([
      ['ctr-c1', digests.layer, 'Active'],
      [digests.layer, 'Committed'],
    ].sort());
    await ok('containers', 'rm', 'ctr-c1');
    expect(rows(await ok('containers', 'ls'))).toEqual([]);
    // ctr c rm removes the container's snapshot too
    expect(rows(await ok('snapshots', '--snapshotter', snapshotter, 'ls'))).toEqual([[digests.layer, 'Committed']]);

    await ok('images', 'rm', NAME);
    await ok('snapshots', '--snapshotter', snapshotter, 'rm', digests.layer);
    expect(await fsDirs(snapshotter)).toEqual([]);
    for (const d of Object.values(digests)) await ok('content', 'rm', d);
    expect(rows(await ok('content', 'ls'))).toEqual([]);
    expect(await mountsBelow(srv.dir)).toEqual([]);
  });
}
