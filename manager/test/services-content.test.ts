// The Content service over the namespaced content store, through our generated client.

import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { CONTENT, collect, createClient, unpackAny, type Client } from '../src/api';
import { startTestServer, type TestServer } from './support/grpc-server';

jest.setTimeout(30000);

const BLOB = Buffer.from('berth content service test blob: 0123456789abcdefghijklmnopqrstuvwxyz');
const DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let srv: TestServer;
let content: Client<typeof CONTENT>;

beforeAll(async () => {
  srv = await startTestServer();
  content = createClient(CONTENT, srv.socket, { namespace: 'ns1' });
});

afterAll(async () => {
  content?.close();
  await srv?.close();
});

type WriteResponse = { action: string; offset: number; total: number; digest: string; startedAt: unknown };

/** Runs a Write stream: sends each request after the previous response; returns responses or the error. */
async function writeStream(reqs: object[], opts: { lease?: string; namespace?: string } = {}): Promise<{ responses: WriteResponse[]; error?: grpc.ServiceError }> {
  const w = content.Write(opts);
  const responses: WriteResponse[] = [];
  let waiting: (() => void) | null = null;
  let error: grpc.ServiceError | undefined;
  const ended = new Promise<void>((res) => {
    w.on('data', (r: WriteResponse) => {
      responses.push(r);
      waiting?.();
    });
    w.on('end', res);
    w.on('error', (e: grpc.ServiceError) => {
      error = e;
      waiting?.();
      res();
    });
  });
  for (const r of reqs) {
    const n = responses.length;
    w.write(r);
    await new Promise<void>((res) => {
      waiting = res;
      if (responses.length > n || error) res();
    });
    if (error) break;
  }
  w.end();
  await ended;
  return { responses, ...(error ? { error } : {}) };
}

it('refuses a call without a namespace', async () => {
  const bare = createClient(CONTENT, srv.socket);
  try {
    await expect(bare.Info({ digest: DIGEST })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
  } finally {
    bare.close();
  }
});

it('Write: STAT, WRITE, COMMIT under a lease, one response each, digests of the bytes so far', async () => {
  await srv.md.leases.create('ns1', 'l1');
  const { responses, error } = await writeStream(
    [
      { action: 'STAT', ref: 'r1', total: BLOB.length, expected: DIGEST },
      { action: 'WRITE', ref: 'r1', offset: 0, data: BLOB.subarray(0, 10) },
      { action: 'COMMIT', ref: 'r1', offset: 10, data: BLOB.subarray(10), total: BLOB.length, expected: DIGEST, labels: { 'test/l': 'v' } },
    ],
    { lease: 'l1' },
  );
  expect(error).toBeUndefined();
  expect(responses.map((r) => [r.action, r.offset])).toEqual([
    ['STAT', 0],
    ['WRITE', 10],
    ['COMMIT', BLOB.length],
  ]);
  expect(responses[0]!.digest).toBe(sha(Buffer.alloc(0)));
  expect(responses[0]!.total).toBe(BLOB.length);
  expect(responses[0]!.startedAt).not.toBeNull();
  expect(responses[1]!.digest).toBe(sha(BLOB.subarray(0, 10)));
  expect(responses[2]!.digest).toBe(DIGEST);

  const info = (await content.Info({ digest: DIGEST })).info!;
  expect(info).toMatchObject({ digest: DIGEST, size: BLOB.length, labels: { 'test/l': 'v' } });
  expect(srv.md.leases.listResources('ns1', 'l1')).toEqual([{ type: 'content', id: DIGEST }]);
  // another namespace does not see it
  await expect(content.Info({ digest: DIGEST }, { namespace: 'ns2' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  // writing it again in the same namespace: AlreadyExists
  const again = await writeStream([{ action: 'STAT', ref: 'r1b', expected: DIGEST, total: BLOB.length }]);
  expect(again.error?.code).toBe(grpc.status.ALREADY_EXISTS);
});

it('Read: from an offset (response offsets count from it), and a bounded size', async () => {
  const chunks = await collect(content.Read({ digest: DIGEST, offset: 5 }));
  expect(chunks[0]!.offset).toBe(0);
  expect(Buffer.concat(chunks.map((c) => Buffer.from(c.data)))).toEqual(BLOB.subarray(5));
  const part = await collect(content.Read({ digest: DIGEST, offset: 3, size: 4 }));
  expect(Buffer.concat(part.map((c) => Buffer.from(c.data)))).toEqual(BLOB.subarray(3, 7));
  await expect(collect(content.Read({ digest: DIGEST, offset: BLOB.length + 1 }))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  await expect(collect(content.Read({ digest: sha(Buffer.from('nope')) }))).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
});

it('Update by field path and List with filters', async () => {
  const up = await content.Update({ info: { digest: DIGEST, labels: { 'test/x': '1', 'test/l': 'ignored' } }, updateMask: { paths: ['labels.test/x'] } });
  expect(up.info!.labels).toEqual({ 'test/l': 'v', 'test/x': '1' });
  const all = (await collect(content.List({}))).flatMap((r) => r.info);
  expect(all.map((i) => i.digest)).toEqual([DIGEST]);
  expect((await collect(content.List({ filters: ['labels."test/x"==1'] }))).flatMap((r) => r.info)).toHaveLength(1);
  expect((await collect(content.List({ filters: ['labels."test/x"==2'] }))).flatMap((r) => r.info)).toHaveLength(0);
});

it('a partial write is resumable: Status, ListStatuses, wrong offset, restart at 0, Abort', async () => {
  const data = Buffer.from('partial data for a resumable ingest');
  const first = await writeStream([{ action: 'WRITE', ref: 'r2', offset: 0, data: data.subarray(0, 7), total: data.length }]);
  expect(first.error).toBeUndefined();
  const st = (await content.Status({ ref: 'r2' })).status!;
  expect(st).toMatchObject({ ref: 'r2', offset: 7, total: data.length });
  expect((await content.ListStatuses({ filters: ['ref==r2'] })).statuses.map((s) => s.ref)).toEqual(['r2']);
  expect((await content.ListStatuses({ filters: ['ref==other'] })).statuses).toEqual([]);

  const bad = await writeStream([{ action: 'WRITE', ref: 'r2', offset: 3, data: data.subarray(3) }]);
  expect(bad.error?.code).toBe(grpc.status.OUT_OF_RANGE);

  const resumed = await writeStream([
    { action: 'STAT', ref: 'r2' },
    { action: 'WRITE', ref: 'r2', offset: 7, data: data.subarray(7, 9) },
  ]);
  expect(resumed.responses.map((r) => r.offset)).toEqual([7, 9]);
  expect(resumed.responses[1]!.digest).toBe(sha(data.subarray(0, 9)));
  // offset 0 on a non-empty ingest restarts it
  const restarted = await writeStream([{ action: 'WRITE', ref: 'r2', offset: 0, data: data.subarray(0, 2) }]);
  expect(restarted.responses[0]!.offset).toBe(2);
  expect(restarted.responses[0]!.digest).toBe(sha(data.subarray(0, 2)));

  await content.Abort({ ref: 'r2' });
  await expect(content.Status({ ref: 'r2' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
});

it('COMMIT with a wrong expected digest fails and keeps the ingest', async () => {
  const data = Buffer.from('mismatch');
  const r = await writeStream([{ action: 'COMMIT', ref: 'r3', offset: 0, data, total: data.length, expected: sha(Buffer.from('other')) }]);
  expect(r.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
  expect((await content.Status({ ref: 'r3' })).status!.offset).toBe(data.length);
  await content.Abort({ ref: 'r3' });
});

it('Delete removes the blob and publishes /content/delete', async () => {
  await content.Delete({ digest: DIGEST });
  await expect(content.Info({ digest: DIGEST })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  await expect(content.Delete({ digest: DIGEST })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  const ev = srv.events.filter((e) => e.topic === '/content/delete');
  expect(ev).toHaveLength(1);
  expect(ev[0]!.namespace).toBe('ns1');
  expect(unpackAny(ev[0]!.event)).toEqual({ name: 'containerd.events.ContentDelete', message: { digest: DIGEST } });
});
