// The Snapshots service (namespaced keys over the native and overlayfs snapshotters) and the
// Diff service (Apply into snapshots, Diff of two mount sets), through our generated clients.

import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { DIFF, SNAPSHOTS, collect, createClient, type Client } from '../src/api';
import { readBlob, writeBlob } from '../src/core/content';
import { keys } from '../src/core/metadata';
import { mountsBelow, startTestServer, type TestServer } from './support/grpc-server';

jest.setTimeout(60000);

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

type Entry = { name: string; type?: 'file' | 'directory'; body?: string };

async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((res) => pack.on('end', res));
  for (const e of entries) {
    if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory', mode: 0o755 });
    else pack.entry({ name: e.name, mode: 0o644 }, e.body ?? '');
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

let srv: TestServer;
let snaps: Client<typeof SNAPSHOTS>;
let diff: Client<typeof DIFF>;
let layer1: Buffer; // gzip
let layer1Tar: Buffer;
let layer2: Buffer; // plain tar, whites out etc/gone

beforeAll(async () => {
  srv = await startTestServer();
  snaps = createClient(SNAPSHOTS, srv.socket, { namespace: 'a' });
  diff = createClient(DIFF, srv.socket, { namespace: 'a' });
  layer1Tar = await makeTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/hello', body: 'hello from layer 1\n' },
    { name: 'etc/gone', body: 'to be whited out\n' },
  ]);
  layer1 = gzipSync(layer1Tar);
  layer2 = await makeTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/.wh.gone' },
    { name: 'etc/new', body: 'layer 2\n' },
  ]);
  const store = srv.md.content.namespace('a');
  await writeBlob(store, 'l1', layer1, { digest: sha(layer1), size: layer1.length });
  await writeBlob(store, 'l2', layer2, { digest: sha(layer2), size: layer2.length });
});

afterAll(async () => {
  snaps?.close();
  diff?.close();
  const dir = srv?.dir;
  await srv?.close();
  if (dir) expect(await mountsBelow(dir)).toEqual([]);
});

it('the same key in two namespaces is two snapshots; records live in meta.lmdb', async () => {
  const a = await snaps.Prepare({ snapshotter: 'native', key: 'k', labels: { who: 'a' } });
  const b = await snaps.Prepare({ snapshotter: 'native', key: 'k', labels: { who: 'b' } }, { namespace: 'b' });
  expect(a.mounts[0]!.source).not.toBe(b.mounts[0]!.source);
  expect((await snaps.Stat({ snapshotter: 'native', key: 'k' })).info).toMatchObject({ name: 'k', kind: 'ACTIVE', labels: { who: 'a' } });
  expect((await snaps.Stat({ snapshotter: 'native', key: 'k' }, { namespace: 'b' })).info!.labels).toEqual({ who: 'b' });
  const rec = srv.md.db.view((t) => t.get<{ backendKey: string }>(keys.snapshot('a', 'native', 'k')));
  expect(rec!.backendKey).toMatch(/^a\/[0-9a-f]+\/k$/);
  await expect(snaps.Prepare({ snapshotter: 'native', key: 'k' })).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });
  await snaps.Remove({ snapshotter: 'native', key: 'k' }, { namespace: 'b' });
  await expect(snaps.Stat({ snapshotter: 'native', key: 'k' }, { namespace: 'b' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  // a's is untouched
  expect((await snaps.Mounts({ snapshotter: 'native', key: 'k' })).mounts).toEqual(a.mounts);
  await snaps.Remove({ snapshotter: 'native', key: 'k' });
  await expect(snaps.Prepare({ snapshotter: 'nope', key: 'x' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
});

it('native: Apply, Commit, a child on top, whiteouts as deletions, Diff, List, Usage, Update, Remove order', async () => {
  await srv.md.leases.create('a', 'lease1');
  const m1 = (await snaps.Prepare({ snapshotter: 'native', key: 'extract-1' }, { lease: 'lease1' })).mounts;
  const applied = (await diff.Apply({ diff: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer1), size: layer1.length }, mounts: m1 })).applied!;
  expect(applied).toMatchObject({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer1Tar), size: layer1Tar.length });
  expect(await readFile(path.join(m1[0]!.source, 'etc/hello'), 'utf8')).toBe('hello from layer 1\n');
  await snaps.Commit({ snapshotter: 'native', name: 'layer1', key: 'extract-1', labels: { l: '1' } }, { lease: 'lease1' });
  await expect(snaps.Stat({ snapshotter: 'native', key: 'extract-1' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  expect(srv.md.leases.listResources('a', 'lease1')).toEqual(
    expect.arrayContaining([
      { type: 'snapshots/native', id: 'extract-1' },
      { type: 'snapshots/native', id: 'layer1' },
    ]),
  );

  const m2 = (await snaps.Prepare({ snapshotter: 'native', key: 'extract-2', parent: 'layer1' })).mounts;
  await diff.Apply({ diff: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer2), size: layer2.length }, mounts: m2 });
  expect((await readdir(path.join(m2[0]!.source, 'etc'))).sort()).toEqual(['hello', 'new']);
  expect((await snaps.Stat({ snapshotter: 'native', key: 'extract-2' })).info).toMatchObject({ parent: 'layer1', kind: 'ACTIVE' });

  // Diff of the committed parent (as a view) and the active child: the layer that makes one the other
  const v = (await snaps.View({ snapshotter: 'native', key: 'view-1', parent: 'layer1' })).mounts;
  await writeFile(path.join(m2[0]!.source, 'etc', 'extra'), 'written by hand\n');
  const d = (await diff.Diff({ left: v, right: m2, ref: 'diff-ref', labels: { made: 'by-test' } })).diff!;
  expect(d.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
  const blob = await readBlob(srv.md.content.namespace('a'), { digest: d.digest });
  expect(sha(blob)).toBe(d.digest);
  expect(blob.length).toBe(d.size);
  const names: string[] = [];
  const extract = tarStream.extract();
  extract.on('entry', (h, s, next) => {
    names.push(h.name);
    s.resume();
    s.on('end', next);
  });
  await new Promise<void>((res, rej) => {
    extract.on('finish', res);
    extract.on('error', rej);
    extract.end(gunzipSync(blob));
  });
  expect(names.map((n) => n.replace(/^\.\//, '').replace(/\/$/, '')).sort()).toEqual(['etc', 'etc/.wh.gone', 'etc/extra', 'etc/new']);
  const info = await srv.md.content.namespace('a').info(d.digest);
  expect(info.labels).toMatchObject({ made: 'by-test', 'containerd.io/uncompressed': expect.stringMatching(/^sha256:/) });

  const listed = (await collect(snaps.List({ snapshotter: 'native' }))).flatMap((r) => r.info);
  expect(listed.map((i) => [i.name, i.kind, i.parent]).sort()).toEqual([
    ['extract-2', 'ACTIVE', 'layer1'],
    ['layer1', 'COMMITTED', ''],
    ['view-1', 'VIEW', 'layer1'],
  ]);
  expect((await collect(snaps.List({ snapshotter: 'native', filters: ['kind==committed'] }))).flatMap((r) => r.info).map((i) => i.name)).toEqual(['layer1']);
  expect((await snaps.Usage({ snapshotter: 'native', key: 'layer1' })).size).toBeGreaterThan(0);
  const up = await snaps.Update({ snapshotter: 'native', info: { name: 'layer1', labels: { x: 'y', l: 'dropped' } }, updateMask: { paths: ['labels.x'] } });
  expect(up.info).toMatchObject({ name: 'layer1', labels: { l: '1', x: 'y' } });

  await expect(snaps.Remove({ snapshotter: 'native', key: 'layer1' })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
  await snaps.Remove({ snapshotter: 'native', key: 'view-1' });
  await snaps.Remove({ snapshotter: 'native', key: 'extract-2' });
  await snaps.Remove({ snapshotter: 'native', key: 'layer1' });
  expect((await collect(snaps.List({ snapshotter: 'native' }))).flatMap((r) => r.info)).toEqual([]);
  expect(srv.events.filter((e) => e.namespace === 'a' && e.topic.startsWith('/snapshot/')).map((e) => e.topic)).toEqual(
    expect.arrayContaining(['/snapshot/prepare', '/snapshot/commit', '/snapshot/remove']),
  );
});

it('overlayfs: the second layer goes into the upper dir with overlay whiteouts', async () => {
  const overlay = srv.plugins.find((p) => p.id === 'overlayfs')!;
  if (overlay.status !== 'ok') {
    console.warn(`overlayfs snapshotter not available here: ${overlay.error?.message}`);
    return;
  }
  const m1 = (await snaps.Prepare({ snapshotter: 'overlayfs', key: 'o-1' })).mounts;
  expect(m1[0]!.type).toBe('bind');
  await diff.Apply({ diff: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer1), size: layer1.length }, mounts: m1 });
  await snaps.Commit({ snapshotter: 'overlayfs', name: 'o-layer1', key: 'o-1' });
  const m2 = (await snaps.Prepare({ snapshotter: 'overlayfs', key: 'o-2', parent: 'o-layer1' })).mounts;
  expect(m2[0]!.type).toBe('overlay');
  const upper = m2[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
  await diff.Apply({ diff: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer2), size: layer2.length }, mounts: m2 });
  const wh = await lstat(path.join(upper, 'etc', 'gone'));
  expect(wh.isCharacterDevice()).toBe(true);
  expect(wh.rdev).toBe(0);
  expect(await readFile(path.join(upper, 'etc', 'new'), 'utf8')).toBe('layer 2\n');
  // Diff through temp mounts of an overlay: left = the parent (bind), right = the overlay
  const v = (await snaps.View({ snapshotter: 'overlayfs', key: 'o-view', parent: 'o-layer1' })).mounts;
  const d = (await diff.Diff({ left: v, right: m2, mediaType: 'application/vnd.oci.image.layer.v1.tar' })).diff!;
  expect(d.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
  const tar = (await readBlob(srv.md.content.namespace('a'), { digest: d.digest })).toString('latin1');
  expect(tar).toContain('etc/.wh.gone');
  expect(tar).toContain('etc/new');
  expect(await mountsBelow(srv.dir)).toEqual([]);
  for (const k of ['o-view', 'o-2', 'o-layer1']) await snaps.Remove({ snapshotter: 'overlayfs', key: k });
});

it('Apply of a blob the namespace does not have is NOT_FOUND; an unknown media type NOT_IMPLEMENTED', async () => {
  const m = (await snaps.Prepare({ snapshotter: 'native', key: 'bad' })).mounts;
  await expect(diff.Apply({ diff: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer2), size: layer2.length }, mounts: m }, { namespace: 'b' })).rejects.toMatchObject({
    code: grpc.status.NOT_FOUND,
  });
  await expect(diff.Diff({ left: [], right: m, mediaType: 'application/x-nope' })).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
  await snaps.Remove({ snapshotter: 'native', key: 'bad' });
});
