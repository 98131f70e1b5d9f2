// src/api/http2-client.ts (what bin/berth talks to berthd with) beside grpc-js's client
// (createClient), against one real grpc-js server on a unix socket: every scenario is run
// through both and must give the same answers, the same errors and the same stream events.

import * as grpc from '@grpc/grpc-js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import * as net from 'net';
import { tmpdir } from 'os';
import { join } from 'path';
import {
  CONTENT,
  EVENTS,
  FILES,
  Http2Connection,
  TASKS,
  VERSION,
  addService,
  collect,
  createClient,
  createServiceClient,
  leaseOf,
  namespaceOf,
  type ServiceImpl,
  type ServiceName,
  type ServiceClient,
} from '../src/api';

let dir = '';
let sock = '';
let server: grpc.Server;
const seen: { ns: string; lease: string }[] = [];
const blobs = new Map<string, Buffer>();
let subscribers = 0;
let cancelledSubscribers = 0;

const fail = (code: grpc.status, details: string) => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });

const version: ServiceImpl<typeof VERSION> = {
  Version: (call, cb) => {
    seen.push({ ns: namespaceOf(call), lease: leaseOf(call) });
    cb(null, { version: 'v-test', revision: 'r1' });
  },
};

const content: ServiceImpl<typeof CONTENT> = {
  Info: (call, cb) => {
    if (call.request.digest === 'sha256:slow') return; // never answers: deadlines
    if (call.request.digest === 'sha256:later') return void setTimeout(() => cb(null, { info: { digest: 'later', size: 1 } }), 300);
    const b = blobs.get(call.request.digest);
    if (!b) return cb(fail(grpc.status.NOT_FOUND, `content digest ${call.request.digest}: not found`));
    return cb(null, { info: { digest: call.request.digest, size: b.length, labels: { ns: namespaceOf(call) } } });
  },
  Update: (_call, cb) => cb(fail(grpc.status.UNIMPLEMENTED, 'no update here')),
  List: (call) => {
    // many small messages: flow control and ordering
    for (let i = 0; i < 3000; i++) call.write({ info: [{ digest: `sha256:${i}`, size: i }] });
    call.end();
  },
  Delete: (_call, cb) => cb(fail(grpc.status.FAILED_PRECONDITION, 'in use: 100% "quoted"\nsecond line')),
  Read: (call) => {
    const b = blobs.get(call.request.digest);
    if (!b) return void call.emit('error', fail(grpc.status.NOT_FOUND, 'no such blob'));
    // one message per 3 MiB, the whole blob in a few large messages
    for (let off = 0; off < b.length; off += 3 << 20) call.write({ offset: off, data: b.subarray(off, off + (3 << 20)) });
    call.end();
  },
  Status: (_call, cb) => cb(fail(grpc.status.UNIMPLEMENTED, 'no')),
  ListStatuses: (_call, cb) => cb(fail(grpc.status.UNIMPLEMENTED, 'no')),
  Write: (call) => {
    const parts: Buffer[] = [];
    call.on('data', (req) => {
      if (req.data.length) parts.push(Buffer.from(req.data));
      const size = parts.reduce((n, p) => n + p.length, 0);
      if (req.action === 'COMMIT') {
        blobs.set(req.expected, Buffer.concat(parts));
        call.write({ action: 'COMMIT', offset: size, total: req.total, digest: req.expected });
        call.end();
      } else {
        call.write({ action: req.action, offset: size });
      }
    });
  },
  Abort: (_call, cb) => cb(fail(grpc.status.UNIMPLEMENTED, 'no')),
};

const events: Partial<ServiceImpl<typeof EVENTS>> = {
  Subscribe: (call) => {
    subscribers++;
    call.write({ topic: '/first', namespace: 'n' });
    call.on('cancelled', () => cancelledSubscribers++);
  },
};

const files: Partial<ServiceImpl<typeof FILES>> = {
  CopyTo: (call, cb) => {
    let bytes = 0;
    let id = '';
    call.on('data', (req) => {
      id ||= req.containerId;
      bytes += req.data.length;
    });
    // CopyToResponse is empty: what arrived goes back in the trailers' metadata
    call.on('end', () => {
      const md = new grpc.Metadata();
      md.set('received', `${id}:${bytes}`);
      cb(null, {}, md);
    });
  },
};

async function startServer(): Promise<void> {
  server = new grpc.Server();
  addService(server, VERSION, version);
  addService(server, CONTENT, content);
  addService(server, EVENTS, events as ServiceImpl<typeof EVENTS>);
  addService(server, FILES, files as ServiceImpl<typeof FILES>);
  await new Promise<void>((res, rej) => server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
}

const stopServer = () => new Promise<void>((res) => server.tryShutdown(() => res()));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'api-h2-'));
  sock = join(dir, 'api.sock');
  await startServer();
});

afterAll(async () => {
  await stopServer();
  rmSync(dir, { recursive: true, force: true });
});

type Make = <S extends ServiceName>(name: S, opts?: { namespace?: string; lease?: string }) => ServiceClient<S>;

/** Both clients, each with a close() of everything it opened. */
function transports(target: () => string): [string, () => { make: Make; close(): void }][] {
  return [
    [
      'grpc-js',
      () => {
        const made: { close(): void }[] = [];
        return {
          make: (name, opts) => {
            const c = createClient(name, target(), { ...opts, channelOptions: { 'grpc.max_receive_message_length': 16 << 20 } });
            made.push(c);
            return c;
          },
          close: () => made.forEach((c) => c.close()),
        };
      },
    ],
    [
      'http2',
      () => {
        const conn = new Http2Connection(target(), { maxReceiveMessageLength: 16 << 20 });
        return { make: (name, opts) => createServiceClient(name, conn, opts), close: () => conn.close() };
      },
    ],
  ];
}

/** The fields of a failure both clients must agree on. */
const failure = (err: unknown) => {
  const e = err as { code: number; details: string; message: string };
  return { code: e.code, details: e.details, message: e.message };
};

/** Runs a scenario through both clients and returns both results. */
async function both<T>(target: () => string, scenario: (make: Make) => Promise<T>): Promise<{ grpcJs: T; http2: T }> {
  const out: Record<string, T> = {};
  for (const [name, open] of transports(target)) {
    const t = open();
    try {
      out[name] = await scenario(t.make);
    } finally {
      t.close();
    }
  }
  return { grpcJs: out['grpc-js']!, http2: out.http2! };
}

const here = () => sock;

describe('the http2 client answers as grpc-js does', () => {
  it('unary: the namespace and lease of the client, a per-call namespace wins', async () => {
    seen.length = 0;
    const r = await both(here, async (make) => {
      const c = make(VERSION, { namespace: 'ns1', lease: 'l1' });
      return [await c.Version({}), await c.Version({}, { namespace: 'ns2' })];
    });
    expect(r.http2).toEqual(r.grpcJs);
    expect(r.http2[0]).toEqual({ version: 'v-test', revision: 'r1' });
    expect(seen).toEqual([
      { ns: 'ns1', lease: 'l1' },
      { ns: 'ns2', lease: 'l1' },
      { ns: 'ns1', lease: 'l1' },
      { ns: 'ns2', lease: 'l1' },
    ]);
  });

  it('unary errors: code, details (percent-decoded, several lines) and message', async () => {
    const r = await both(here, async (make) => {
      const c = make(CONTENT, { namespace: 'n' });
      const errs = [];
      for (const call of [() => c.Info({ digest: 'sha256:none' }), () => c.Delete({ digest: 'x' }), () => c.Update({})]) errs.push(await call().then(() => 'no error', failure));
      // a service the server does not have at all
      errs.push(await make(TASKS, { namespace: 'n' }).Get({ containerId: 'x' }).then(() => 'no error', failure));
      return errs;
    });
    expect(r.http2).toEqual(r.grpcJs);
    expect(r.http2[0]).toEqual({ code: 5, details: 'content digest sha256:none: not found', message: '5 NOT_FOUND: content digest sha256:none: not found' });
    expect(r.http2[1]).toMatchObject({ code: 9, details: 'in use: 100% "quoted"\nsecond line' });
    expect(r.http2[3]).toMatchObject({ code: 12 });
  });

  it('a request that cannot be encoded fails the call (INTERNAL), nothing is sent', async () => {
    const r = await both(here, async (make) => failure(await make(CONTENT).Update({ info: 'not a message' as never }).catch((e) => e)));
    expect(r.http2).toEqual(r.grpcJs);
    expect(r.http2.code).toBe(13);
    expect(r.http2.details).toMatch(/^Request message serialization failure: /);
  });

  it('bidi (Write), server streams (Read of 10 MiB in 3 MiB messages, List of 3000 messages read slowly)', async () => {
    const blob = Buffer.alloc(10 << 20);
    for (let i = 0; i < blob.length; i += 4096) blob[i] = i % 251;
    const r = await both(here, async (make) => {
      const c = make(CONTENT, { namespace: 'n' });
      const w = c.Write();
      const responses: unknown[] = [];
      const done = new Promise<void>((res, rej) => {
        w.on('data', (m) => responses.push(m));
        w.on('end', res);
        w.on('error', rej);
      });
      w.write({ action: 'STAT', ref: 'r' });
      // 1 MiB messages (grpc-js's server takes 4 MiB at most)
      for (let off = 0; off < blob.length - (1 << 20); off += 1 << 20) w.write({ action: 'WRITE', ref: 'r', offset: off, data: blob.subarray(off, off + (1 << 20)) });
      w.write({ action: 'COMMIT', ref: 'r', offset: blob.length - (1 << 20), data: blob.subarray(blob.length - (1 << 20)), total: blob.length, expected: 'sha256:big' });
      w.end();
      await done;
      const read = await collect(c.Read({ digest: 'sha256:big' }));
      const list = c.List({});
      const got: number[] = [];
      for await (const m of list) {
        got.push((m as { info: { size: number }[] }).info[0]!.size);
        if (got.length % 500 === 0) await new Promise((res) => setTimeout(res, 20)); // a slow reader
      }
      return { responses, readSizes: read.map((m) => m.data.length), same: Buffer.concat(read.map((m) => Buffer.from(m.data))).equals(blob), got: got.length, ordered: got.every((v, i) => v === i) };
    });
    expect(r.http2).toEqual(r.grpcJs);
    expect(r.http2).toMatchObject({ readSizes: [3 << 20, 3 << 20, 3 << 20, 1 << 20], same: true, got: 3000, ordered: true });
  });

  it('bidi: the call ends when the server ends it, though this side never ended (attach with stdin open)', async () => {
    const r = await both(here, async (make) => {
      const w = make(CONTENT).Write();
      const got: string[] = [];
      const over = new Promise<void>((res) => {
        w.on('data', (m: { action: string }) => got.push(m.action));
        w.on('end', () => got.push('end'));
        w.on('status', (st: { code: number }) => (got.push(`status ${st.code}`), res()));
      });
      w.write({ action: 'COMMIT', ref: 'r2', offset: 0, data: Buffer.from('x'), total: 1, expected: 'sha256:x' });
      await over;
      await new Promise((res) => setImmediate(res));
      return got;
    });
    expect(r.http2).toEqual(r.grpcJs);
    expect(r.http2).toEqual(['COMMIT', 'status 0', 'end']); // grpc-js's order: status at once, 'end' on the next tick
  });

  it('a stream that fails: error, then status, after the messages before it', async () => {
    const r = await both(here, async (make) => {
      const s = make(CONTENT).Read({ digest: 'sha256:none' });
      const seenEvents: string[] = [];
      await new Promise<void>((res) => {
        s.on('data', () => seenEvents.push('data'));
        s.on('error', (e: Error & { code: number }) => seenEvents.push(`error ${e.code}`));
        s.on('status', (st: { code: number }) => {
          seenEvents.push(`status ${st.code}`);
          res();
        });
      });
      return seenEvents;
    });
    expect(r.http2).toEqual(r.grpcJs);
    expect(r.http2).toEqual(['error 5', 'status 5']);
  });

  it('client streaming (CopyTo): the response once the request stream ends', async () => {
    const r = await both(here, async (make) => {
      const { call, response } = make(FILES, { namespace: 'n' }).CopyTo();
      call.write({ containerId: 'c1', path: '/', data: Buffer.alloc(70000, 1) });
      call.write({ data: Buffer.alloc(5, 1) });
      call.end();
      return response;
    });
    expect(r.http2).toEqual(r.grpcJs);
    expect(r.http2).toEqual({});
  });

  it('cancel(): 1 CANCELLED as an error then status; the server sees the cancellation', async () => {
    subscribers = 0;
    cancelledSubscribers = 0;
    const r = await both(here, async (make) => {
      const s = make(EVENTS).Subscribe({ filters: [] });
      const got: string[] = [];
      const first = new Promise<void>((res) => s.once('data', (m: { topic: string }) => (got.push(m.topic), res())));
      const ended = new Promise<void>((res) => {
        s.on('error', (e: Error & { code: number; details: string }) => got.push(`error ${e.code} ${e.details}`));
        s.on('status', (st: { code: number }) => (got.push(`status ${st.code}`), res()));
      });
      await first;
      s.cancel();
      await ended;
      return got;
    });
    expect(r.http2).toEqual(r.grpcJs);
    expect(r.http2).toEqual(['/first', 'error 1 Cancelled on client', 'status 1']);
    for (let i = 0; i < 50 && cancelledSubscribers < 2; i++) await new Promise((res) => setTimeout(res, 20));
    expect([subscribers, cancelledSubscribers]).toEqual([2, 2]);
  });

  it('a deadline: 4 DEADLINE_EXCEEDED when berthd does not answer in time', async () => {
    const r = await both(here, async (make) => {
      const t0 = Date.now();
      const err = failure(await make(CONTENT).Info({ digest: 'sha256:slow' }, { deadline: Date.now() + 200 }).catch((e) => e));
      return { code: err.code, waited: Date.now() - t0 >= 190 };
    });
    expect(r.http2).toEqual(r.grpcJs);
    expect(r.http2).toEqual({ code: 4, waited: true });
  });
});

describe('the connection', () => {
  it('reports a missing socket and a refused one as UNAVAILABLE naming the errno', async () => {
    const missing = join(dir, 'none.sock');
    const r = await both(() => missing, async (make) => failure(await make(VERSION).Version({}).catch((e) => e)));
    expect(r.http2.code).toBe(14);
    expect(r.grpcJs.code).toBe(14);
    expect(r.http2.details).toMatch(/^No connection established\. Last error: .*ENOENT/);
    expect(r.grpcJs.details).toMatch(/ENOENT/);

    // a unix socket file nobody listens on
    const dead = join(dir, 'dead.sock');
    const srv = net.createServer();
    await new Promise<void>((res) => srv.listen(dead, res));
    await new Promise<void>((res) => srv.close(() => res()));
    if (!existsSync(dead)) writeFileSync(dead, '');
    const conn = new Http2Connection(dead);
    try {
      const e = failure(await createServiceClient(VERSION, conn).Version({}).catch((x) => x));
      expect(e.code).toBe(14);
      expect(e.details).toMatch(/ECONNREFUSED/);
    } finally {
      conn.close();
    }
  });

  it('connects again after berthd restarted', async () => {
    const conn = new Http2Connection(sock);
    try {
      const c = createServiceClient(VERSION, conn);
      expect(await c.Version({})).toMatchObject({ version: 'v-test' });
      await stopServer();
      const down = failure(await c.Version({}).catch((e) => e));
      expect(down.code).toBe(14);
      await startServer();
      expect(await c.Version({})).toMatchObject({ version: 'v-test' });
    } finally {
      conn.close();
    }
  });

  it('refuses a message larger than its limit (RESOURCE_EXHAUSTED, as grpc-js)', async () => {
    const big = Buffer.alloc(2 << 20, 7);
    blobs.set('sha256:2m', big);
    const conn = new Http2Connection(sock, { maxReceiveMessageLength: 1 << 20 });
    const viaGrpc = createClient(CONTENT, sock, { channelOptions: { 'grpc.max_receive_message_length': 1 << 20 } });
    try {
      const a = await collect(createServiceClient(CONTENT, conn).Read({ digest: 'sha256:2m' })).catch(failure);
      const b = await collect(viaGrpc.Read({ digest: 'sha256:2m' })).catch(failure);
      expect(a).toMatchObject({ code: 8 });
      expect(b).toMatchObject({ code: 8 });
      // the message: the 2 MiB of data, its field tag and length, and the offset field
      expect((a as { details: string }).details).toMatch(/^Received message larger than max \(2097159 vs\. 1048576\)/);
    } finally {
      conn.close();
      viaGrpc.close();
    }
  });

  it('carries thousands of calls on one session: finished streams are ended, not reset', async () => {
    // node's server closes a session that resets too many streams (its rapid-reset guard); a
    // client that reset each finished stream failed after ~1000 calls with 13 INTERNAL.
    const conn = new Http2Connection(sock);
    try {
      const c = createServiceClient(VERSION, conn);
      for (let i = 0; i < 2500; i++) await c.Version({});
      const w = createServiceClient(CONTENT, conn).Write();
      const over = new Promise((res) => w.on('status', res));
      w.resume();
      w.write({ action: 'COMMIT', ref: 'r3', offset: 0, data: Buffer.from('y'), total: 1, expected: 'sha256:y' });
      await over; // the server ended it while this side was still open
      expect(await c.Version({})).toMatchObject({ version: 'v-test' });
    } finally {
      conn.close();
    }
  }, 60_000);

  it('holds the process while a call is open, and not after (nobody needs to close it)', async () => {
    // a process of its own: src/api bundled, one call, no close()
    const esbuild = require('esbuild') as typeof import('esbuild');
    const script = join(dir, 'child.js');
    await esbuild.build({
      stdin: {
        contents: `import { CONTENT, Http2Connection, createServiceClient } from ${JSON.stringify(join(__dirname, '..', 'src', 'api'))};
          const t0 = Date.now();
          const conn = new Http2Connection(${JSON.stringify(sock)});
          createServiceClient(CONTENT, conn).Info({ digest: 'sha256:later' }).then((r) => console.log('answered', r.info.digest, Date.now() - t0 >= 290), (e) => console.log('failed', e.code));`,
        resolveDir: __dirname,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      outfile: script,
      logLevel: 'silent',
    });
    const child = require('child_process').spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    const code = await new Promise((res) => child.on('exit', res));
    expect({ code, out }).toEqual({ code: 0, out: 'answered later true\n' });
  }, 30_000);

  it('takes no new calls once closed', async () => {
    const conn = new Http2Connection(sock);
    conn.close();
    await expect(createServiceClient(VERSION, conn).Version({})).rejects.toThrow(/closed/);
  });
});
