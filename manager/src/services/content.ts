// containerd.services.content.v1.Content over the namespaced content store
// (core/metadata/content.ts): a thin adapter, as containerd's contentserver is.
//
// Every call names its namespace in the `containerd-namespace` metadata (FailedPrecondition
// without one, as containerd 1.6's namespaces.NamespaceRequired); a `containerd-lease` is passed
// to the writer, which records the ingest and the committed blob as lease resources in the
// same transaction as the records themselves.
//
// Behaviour that clients depend on, as containerd 1.6 has it:
//   Read    streams the blob from `offset`, `size` bytes (0: to the end), in 1 MiB messages
//           whose `offset` counts from the requested offset (containerd 1.6 numbers them
//           from 0 whatever was asked; ctr and the Go client ignore it; we match the wire).
//   Write   one response per request. The first request opens (or resumes) the ingest of
//           its ref, with its expected digest and total; STAT answers offset, total, the
//           digest of the bytes so far and the ingest's times; WRITE and COMMIT check that a
//           non-zero offset is the current one (OutOfRange otherwise), restart the ingest
//           for offset 0 on a non-empty one, write the data, and answer the new offset and
//           digest; COMMIT then verifies and commits with the labels. The writer is closed
//           (the ingest kept, resumable) when the client ends the stream without committing.
//   List    server stream, up to 100 infos per message.
//
// Also here (exported for the storage services of this folder): streaming and publishing
// helpers over daemon/grpc.ts's server edge.

import * as grpc from '@grpc/grpc-js';
import { CONTENT, leaseOf, packAny, timestamp, type AnyValue, type ServiceImpl } from '../api';
import { ManagerError, invalidArgument } from '../core/errors';
import type { ContentStore, Info, Status, Writer } from '../core/content';
import { requireNamespace, toStatus, unary } from '../daemon/grpc';

// ---- shared helpers of the services ----

/** Publishes an event on the daemon's exchange (optional: services work without one). */
export type Publish = (namespace: string, topic: string, event: AnyValue) => void | Promise<void>;

/** Packs and publishes, never failing the call that caused the event. */
export function emit(publish: Publish | undefined, log: { warn(o: object, m: string): void } | undefined, ns: string, topic: string, type: string, msg: object): void {
  if (!publish) return;
  try {
    Promise.resolve(publish(ns, topic, packAny(type, msg))).catch((err) => log?.warn({ err, topic }, 'publishing an event failed'));
  } catch (err) {
    log?.warn({ err, topic }, 'publishing an event failed');
  }
}

/** The server edge is daemon/grpc.ts's: the same statuses and namespace rule as every service. */
export const toServiceError = toStatus;
export { requireNamespace, unary };

/** A server-streaming handler from an async function that writes to the call. */
export function serverStream<Req, Res>(fn: (call: grpc.ServerWritableStream<Req, Res>) => Promise<void>): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    fn(call).then(
      () => call.end(),
      (err) => call.emit('error', toServiceError(err)),
    );
  };
}

/** Writes one message, waiting for the stream to drain when grpc-js asks to. */
export function send<Res>(call: grpc.ServerWritableStream<unknown, Res> | grpc.ServerDuplexStream<unknown, Res>, msg: Res): Promise<void> {
  return new Promise((resolve) => {
    if (call.write(msg)) resolve();
    else call.once('drain', resolve);
  });
}

/** The paths of a FieldMask (decoded; null when absent). */
export const maskPaths = (m: { paths: string[] } | null | undefined): string[] => m?.paths ?? [];

// ---- content ----

export interface ContentServiceDeps {
  /** The content store namespace `ns` sees. */
  store(ns: string): ContentStore;
  publish?: Publish;
  log?: { warn(o: object, m: string): void };
}

const infoToProto = (i: Info) => ({ digest: i.digest, size: i.size, createdAt: timestamp(i.createdAt), updatedAt: timestamp(i.updatedAt), labels: i.labels });

const statusToProto = (s: Status) => ({
  ref: s.ref,
  offset: s.offset,
  total: s.total,
  expected: s.expected ?? '',
  startedAt: timestamp(s.startedAt),
  updatedAt: timestamp(s.updatedAt),
});

const READ_CHUNK = 1 << 20;
const LIST_BATCH = 100;

export function contentService(deps: ContentServiceDeps): ServiceImpl<typeof CONTENT> {
  const storeOf = (call: { metadata: grpc.Metadata }) => deps.store(requireNamespace(call));
  return {
    Info: unary(async (call) => ({ info: infoToProto(await storeOf(call).info(call.request.digest)) })),

    Update: unary(async (call) => {
      const info = call.request.info;
      if (!info) throw invalidArgument('info must be set');
      const updated = await storeOf(call).update({ digest: info.digest, labels: info.labels }, maskPaths(call.request.updateMask));
      return { info: infoToProto(updated) };
    }),

    List: serverStream(async (call) => {
      const store = storeOf(call);
      let batch: Info[] = [];
      const flush = async () => {
        if (batch.length) await send(call, { info: batch.map(infoToProto) });
        batch = [];
      };
      await store.walk(async (info) => {
        batch.push(info);
        if (batch.length >= LIST_BATCH) await flush();
      }, ...call.request.filters);
      await flush();
    }),

    Delete: unary(async (call) => {
      const ns = requireNamespace(call);
      await deps.store(ns).delete(call.request.digest);
      emit(deps.publish, deps.log, ns, '/content/delete', 'containerd.events.ContentDelete', { digest: call.request.digest });
      return {};
    }),

    Read: serverStream(async (call) => {
      const { digest, offset, size } = call.request;
      const ra = await storeOf(call).readerAt({ digest });
      try {
        if (offset < 0 || offset > ra.size) throw invalidArgument(`read offset ${offset} is outside of ${digest} (${ra.size} bytes)`);
        const end = size <= 0 || offset + size > ra.size ? ra.size : offset + size;
        for (let pos = offset; pos < end; ) {
          const buf = Buffer.alloc(Math.min(READ_CHUNK, end - pos));
          const n = await ra.readAt(buf, pos);
          if (n === 0) break;
          await send(call, { offset: pos - offset, data: buf.subarray(0, n) });
          pos += n;
        }
      } finally {
        await ra.close();
      }
    }),

    Status: unary(async (call) => ({ status: statusToProto(await storeOf(call).status(call.request.ref)) })),

    ListStatuses: unary(async (call) => ({ statuses: (await storeOf(call).listStatuses(...call.request.filters)).map(statusToProto) })),

    Abort: unary(async (call) => {
      await storeOf(call).abort(call.request.ref);
      return {};
    }),

    Write: (call) => {
      void writeSession(deps, call).then(
        () => call.end(),
        // grpc-js sends the status of an 'error' event and ends the call (destroy would not)
        (err) => call.emit('error', toServiceError(err)),
      );
    },
  };
}

type WriteCall = Parameters<ServiceImpl<typeof CONTENT>['Write']>[0];
type WriteRequest = WriteCall extends grpc.ServerDuplexStream<infer R, unknown> ? R : never;

/**
 * The messages of a client stream (Write here, berth.files CopyTo) one at a time, in order,
 * with backpressure. Not the stream's own async iterator: that destroys the whole duplex when
 * the client's side ends, and a destroyed grpc-js call never sends its responses' status.
 * `what` names the call in the error a client's cancel gives ("write", "copy").
 */
export function streamRequests<R>(call: grpc.ServerReadableStream<R, unknown> | grpc.ServerDuplexStream<R, unknown>, what: string): AsyncIterable<R> {
  const queue: R[] = [];
  let ended = false;
  let failed: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  call.on('data', (r: R) => {
    queue.push(r);
    if (queue.length > 16) call.pause();
    notify();
  });
  call.on('end', () => {
    ended = true;
    notify();
  });
  call.on('cancelled', () => {
    failed = new ManagerError('Aborted', `${what} cancelled by the client`);
    notify();
  });
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (failed) throw failed;
        const next = queue.shift();
        if (next !== undefined) {
          if (queue.length <= 4) call.resume();
          yield next;
          continue;
        }
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
      }
    },
  };
}

async function writeSession(deps: ContentServiceDeps, call: WriteCall): Promise<void> {
  const ns = requireNamespace(call);
  const store = deps.store(ns);
  const lease = leaseOf(call);
  let w: Writer | null = null;
  let ref = '';
  let expected = '';
  let total = 0;
  let committed = false;
  try {
    for await (const req of streamRequests<WriteRequest>(call, 'write')) {
      if (committed) continue; // nothing more to do; containerd answers nothing new either
      if (!w) {
        if (!req.ref) throw invalidArgument('first message must have a reference');
        ref = req.ref;
        expected = req.expected;
        total = req.total;
        w = await store.writer(ref, { ...(expected ? { expected } : {}), ...(total > 0 ? { total } : {}), ...(lease ? { lease } : {}) });
      } else if (req.ref && req.ref !== ref) {
        throw invalidArgument(`write ref ${JSON.stringify(req.ref)} differs from the stream's ${JSON.stringify(ref)}`);
      }
      if (req.expected) expected = req.expected;
      if (req.total > 0) total = req.total;

      const ws = await w.status();
      const msg: Record<string, unknown> = { action: req.action, offset: ws.offset };
      if (req.action === 'STAT') {
        Object.assign(msg, { total: total || ws.total, digest: w.digest(), startedAt: timestamp(ws.startedAt), updatedAt: timestamp(ws.updatedAt) });
      } else {
        let offset = ws.offset;
        if (req.offset > 0 && req.offset !== ws.offset) {
          throw Object.assign(toServiceError(new Error(`write @${req.offset} must occur at current offset ${ws.offset}`)), { code: grpc.status.OUT_OF_RANGE });
        }
        if (req.offset === 0 && ws.offset > 0) {
          await w.truncate(0);
          offset = 0;
        }
        if (req.data.length > 0) {
          await w.write(req.data, offset);
          offset += req.data.length;
        }
        msg.offset = offset;
        msg.total = total;
        if (req.action === 'COMMIT') {
          await w.commit(total, expected || undefined, { labels: req.labels });
          committed = true;
        }
        msg.digest = w.digest();
      }
      await send(call, msg);
    }
  } finally {
    if (w && !committed) await w.close().catch(() => undefined);
  }
}
