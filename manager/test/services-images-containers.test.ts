// The Images and Containers services over the metadata store, through our generated clients.

import * as grpc from '@grpc/grpc-js';
import { CONTAINERS, IMAGES, SPEC_TYPE_URL, collect, createClient, dateOf, packAny, packJsonAny, unpackAny, type Client } from '../src/api';
import { startTestServer, type TestServer } from './support/grpc-server';

jest.setTimeout(30000);

const DIGEST = `sha256:${'a'.repeat(64)}`;
const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 42, annotations: { 'org.opencontainers.image.ref.name': '1' } };

let srv: TestServer;
let images: Client<typeof IMAGES>;
let containers: Client<typeof CONTAINERS>;

beforeAll(async () => {
  srv = await startTestServer();
  images = createClient(IMAGES, srv.socket, { namespace: 'n1' });
  containers = createClient(CONTAINERS, srv.socket, { namespace: 'n1' });
});

afterAll(async () => {
  images?.close();
  containers?.close();
  await srv?.close();
});

it('Images: Create, Get, List with filters, Update by field path, Delete, events', async () => {
  const created = (await images.Create({ image: { name: 'docker.io/x/y:1', labels: { a: 'b' }, target } })).image!;
  expect(created).toMatchObject({ name: 'docker.io/x/y:1', labels: { a: 'b' }, target });
  expect(dateOf(created.createdAt)!.getTime()).toBeGreaterThan(Date.now() - 60000);
  expect((await images.Get({ name: 'docker.io/x/y:1' })).image).toEqual(created);
  await expect(images.Get({ name: 'docker.io/x/y:1' }, { namespace: 'n2' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  await expect(images.Create({ image: { name: 'docker.io/x/y:1', target } })).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });
  await expect(images.Create({ image: { name: 'no-target' } })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  await images.Create({ image: { name: 'docker.io/x/z:2', target: { ...target, digest: `sha256:${'b'.repeat(64)}` } } });
  expect((await images.List({ filters: ['labels.a==b'] })).images.map((i) => i.name)).toEqual(['docker.io/x/y:1']);
  expect((await images.List({ filters: [`target.digest==sha256:${'b'.repeat(64)}`] })).images.map((i) => i.name)).toEqual(['docker.io/x/z:2']);
  expect((await images.List({})).images).toHaveLength(2);

  const updated = (await images.Update({ image: { name: 'docker.io/x/y:1', labels: { c: 'd', a: 'ignored' }, target }, updateMask: { paths: ['labels.c'] } })).image!;
  expect(updated.labels).toEqual({ a: 'b', c: 'd' });
  expect(updated.createdAt).toEqual(created.createdAt);
  await expect(images.Update({ image: { name: 'docker.io/x/y:1', target }, updateMask: { paths: ['name'] } })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });

  await images.Delete({ name: 'docker.io/x/y:1', sync: true });
  await images.Delete({ name: 'docker.io/x/z:2' });
  await expect(images.Delete({ name: 'docker.io/x/z:2' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  const topics = srv.events.filter((e) => e.topic.startsWith('/images/'));
  expect(topics.map((e) => e.topic)).toEqual(['/images/create', '/images/create', '/images/update', '/images/delete', '/images/delete']);
  expect(unpackAny(topics[2]!.event)).toEqual({ name: 'containerd.services.images.v1.ImageUpdate', message: { name: 'docker.io/x/y:1', labels: { a: 'b', c: 'd' } } });
});

it('Containers: Create, Get, List, ListStream, Update by field path, Delete', async () => {
  const spec = { ociVersion: '1.0.2', process: { args: ['/bin/true'] } };
  const created = (await containers.Create({
    container: {
      id: 'c1',
      labels: { role: 'test' },
      image: 'docker.io/x/y:1',
      runtime: { name: 'io.containerd.runc.v2', options: packAny('containerd.runc.v1.Options', { binaryName: 'berth-runtime' }) },
      spec: packJsonAny(SPEC_TYPE_URL, spec),
      snapshotter: 'native',
      snapshotKey: 'c1',
      extensions: { ext: packAny('containerd.types.Platform', { os: 'linux', architecture: 'amd64' }) },
    },
  })).container!;
  expect(created).toMatchObject({ id: 'c1', image: 'docker.io/x/y:1', snapshotter: 'native', snapshotKey: 'c1', labels: { role: 'test' } });
  expect(JSON.parse(Buffer.from(created.spec!.value).toString())).toEqual(spec);
  expect(unpackAny(created.runtime!.options!).message).toMatchObject({ binaryName: 'berth-runtime' });
  expect((await containers.Get({ id: 'c1' })).container).toEqual(created);
  await expect(containers.Create({ container: { id: 'c1', runtime: { name: 'r' }, spec: packJsonAny(SPEC_TYPE_URL, {}) } })).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });
  await expect(containers.Create({ container: { id: 'no-spec', runtime: { name: 'r' } } })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  expect((await containers.List({ filters: ['labels.role==test'] })).containers.map((c) => c.id)).toEqual(['c1']);
  expect((await containers.List({ filters: ['labels.role==other'] })).containers).toEqual([]);
  expect((await collect(containers.ListStream({}))).map((m) => m.container!.id)).toEqual(['c1']);
  expect((await containers.List({}, { namespace: 'n2' })).containers).toEqual([]);

  const up = (await containers.Update({ container: { id: 'c1', labels: { extra: 'x' }, image: 'changed' }, updateMask: { paths: ['labels.extra'] } })).container!;
  expect(up.labels).toEqual({ role: 'test', extra: 'x' });
  expect(up.image).toBe('docker.io/x/y:1');
  // without a mask, a different snapshotter is refused (immutable)
  await expect(containers.Update({ container: { ...created, snapshotter: 'overlayfs' } })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });

  await containers.Delete({ id: 'c1' });
  await expect(containers.Get({ id: 'c1' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  expect(srv.events.filter((e) => e.topic.startsWith('/containers/')).map((e) => e.topic)).toEqual(['/containers/create', '/containers/update', '/containers/delete']);
});
