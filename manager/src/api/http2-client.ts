// A gRPC client straight over node:http2, for short-lived processes (the `berth` CLI).
//
// Why not @grpc/grpc-js, which berthd serves with: a `berth` command is a new process each
// time, and grpc-js's channel (name resolution, load balancing, subchannels, a stack of call
// filters and retries) costs ~8 ms to load and ~0.5 ms per call that a CLI talking to one local
// unix socket never needs. This speaks the same wire protocol (gRPC over HTTP/2: the 5-byte
// message prefix, `grpc-status`/`grpc-message` trailers, `grpc-timeout`) to one socket and gives
// callers what grpc-js's generic client gives them, so code written against `Client<S>` (src/api)
// runs unchanged:
//   unary          a promise; a failure is an Error with grpc-js's message ("5 NOT_FOUND: …"),
//                  `code`, `details` and `metadata`
//   server stream  an object-mode Readable with cancel(): messages, then 'end', then 'status';
//                  a failure is 'error' (after any messages) then 'status'; cancel() ends it
//                  with 1 CANCELLED, as grpc-js does
//   client stream  an object-mode Writable (write, end, cancel) and the response promise
//   bidi           an object-mode Duplex with both
// Not here: TLS, compression (berthd never compresses unless asked), retries, keepalive.
// A session that failed or was closed by berthd (a restart) is replaced for the next call.

import * as http2 from 'node:http2';
import * as net from 'node:net';
import { Duplex, Readable, Writable } from 'node:stream';

/** grpc status codes by number (grpc's status.proto), for messages as grpc-js writes them. */
const STATUS = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'] as const;
const OK = 0;
const CANCELLED = 1;
const UNKNOWN = 2;
const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;
const PERMISSION_DENIED = 7;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const UNAVAILABLE = 14;

/** The metadata of a status or of response headers; grpc-js's Metadata reduced to reading. */
export class ReceivedMetadata {
  constructor(private readonly map: Record<string, string | Buffer> = {}) {}
  get(key: string): (string | Buffer)[] {
    const v = this.map[key.toLowerCase()];
    return v === undefined ? [] : [v];
  }
  getMap(): Record<string, string | Buffer> {
    return { ...this.map };
  }
}

export interface CallStatus {
  code: number;
  details: string;
  metadata: ReceivedMetadata;
}

/** The error of a failed call, shaped as grpc-js's (callErrorFromStatus). */
export type CallError = Error & CallStatus;

function callError(status: CallStatus): CallError {
  return Object.assign(new Error(`${status.code} ${STATUS[status.code] ?? 'UNKNOWN'}: ${status.details}`), status);
}

/** Response headers that are not metadata (HTTP/2 and gRPC's own). */
const RESERVED_HEADERS = new Set(['content-type', 'grpc-status', 'grpc-message', 'grpc-encoding', 'grpc-accept-encoding', 'te', 'user-agent', 'date']);

function metadataOf(headers: http2.IncomingHttpHeaders): ReceivedMetadata {
  const map: Record<string, string | Buffer> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith(':') || RESERVED_HEADERS.has(k) || v === undefined) continue;
    const value = Array.isArray(v) ? v.join(',') : String(v);
    map[k] = k.endsWith('-bin') ? Buffer.from(value, 'base64') : value;
  }
  return new ReceivedMetadata(map);
}

function statusOf(headers: http2.IncomingHttpHeaders): CallStatus | undefined {
  const code = headers['grpc-status'];
  if (code === undefined) return undefined;
  let details = String(headers['grpc-message'] ?? '');
  try {
    details = decodeURIComponent(details);
  } catch {
    // not percent-encoded after all: as received
  }
  return { code: Number(code), details, metadata: metadataOf(headers) };
}

/** grpc-js's mapping of an HTTP status other than 200 (mapHttpStatusCode). */
function httpStatus(code: number): CallStatus {
  const grpcCode = code === 400 ? INTERNAL : code === 401 ? 16 : code === 403 ? PERMISSION_DENIED : code === 404 ? UNIMPLEMENTED : [429, 502, 503, 504].includes(code) ? UNAVAILABLE : UNKNOWN;
  return { code: grpcCode, details: `Received HTTP status code ${code}`, metadata: new ReceivedMetadata() };
}

/** grpc-js's mapping of a stream reset without a gRPC status (subchannel-call.ts). */
function resetStatus(rstCode: number): CallStatus {
  const c = http2.constants;
  const [code, details] =
    rstCode === c.NGHTTP2_REFUSED_STREAM ? [UNAVAILABLE, 'Stream refused by server']
    : rstCode === c.NGHTTP2_CANCEL ? [CANCELLED, 'Call cancelled']
    : rstCode === c.NGHTTP2_ENHANCE_YOUR_CALM ? [RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded']
    : rstCode === c.NGHTTP2_INADEQUATE_SECURITY ? [PERMISSION_DENIED, 'Protocol not secure enough']
    : rstCode === c.NGHTTP2_INTERNAL_ERROR ? [INTERNAL, `Received RST_STREAM with code ${rstCode} (Internal server error)`]
    : rstCode === c.NGHTTP2_NO_ERROR ? [INTERNAL, `Received RST_STREAM with code ${rstCode} (Call ended without gRPC status)`]
    : [INTERNAL, `Received RST_STREAM with code ${rstCode}`];
  return { code, details, metadata: new ReceivedMetadata() };
}

/** A deadline as grpc-timeout's value: the largest unit that keeps it under 10^8 (grpc-js's). */
function timeoutHeader(deadlineMs: number): string {
  const ms = Math.max(deadlineMs - Date.now(), 0);
  for (const [unit, factor] of [['m', 1], ['S', 1000], ['M', 60_000], ['H', 3_600_000]] as const) {
    if (ms / factor < 1e8) return `${Math.ceil(ms / factor)}${unit}`;
  }
  throw new Error('Deadline is too far in the future');
}

export interface ConnectionOptions {
  /** Largest message accepted from berthd (grpc.max_receive_message_length; default 4 MiB as grpc-js). */
  maxReceiveMessageLength?: number;
  /** Largest message sent (grpc.max_send_message_length; default unlimited as grpc-js). */
  maxSendMessageLength?: number;
}

/** Callbacks of one call, the shape of grpc-js's InterceptingListener. */
interface Listener {
  onMetadata(metadata: ReceivedMetadata): void;
  /** Returns false when the consumer wants no more for now (the call pauses until resume()). */
  onMessage(message: unknown): boolean;
  onStatus(status: CallStatus): void;
}

/**
 * One HTTP/2 session to a gRPC server on a unix socket (or host:port), made on the first call
 * and again after it failed or the server closed it. The socket keeps the process alive only
 * while a call is open, as grpc-js's channel does.
 */
export class Http2Connection {
  /** The session new calls go on; one that failed or was closed is replaced. */
  private current?: Session;
  private closed = false;
  readonly maxReceive: number;
  readonly maxSend: number;

  constructor(
    /** 'unix:///path' or a path; 'host:port' for TCP. */
    readonly target: string,
    options: ConnectionOptions = {},
  ) {
    this.maxReceive = options.maxReceiveMessageLength ?? 4 * 1024 * 1024;
    this.maxSend = options.maxSendMessageLength ?? -1;
  }

  private connect(): Session {
    const target = this.target.startsWith('unix://') ? this.target.slice('unix://'.length) : this.target;
    const socketPath = target.startsWith('/') ? target : undefined;
    const h2 = http2.connect(socketPath ? 'http://localhost' : `http://${target}`, {
      ...(socketPath ? { createConnection: () => net.connect(socketPath) } : {}),
      // as grpc-js: no session memory limit (node degrades badly when it is reached)
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    });
    const session: Session = { h2, active: 0 };
    h2.on('error', (err: Error) => {
      session.error = err;
    });
    // A server going away (berthd stopping) keeps its streams; new calls get a new session.
    const forget = () => {
      if (this.current === session) this.current = undefined;
    };
    h2.on('goaway', forget);
    h2.on('close', forget);
    h2.unref();
    return session;
  }

  /** Starts a call: the request's HTTP/2 stream and its message framing. */
  start(path: string, headers: Record<string, string>, deadline: number | undefined, listener: Listener): Http2Call {
    if (this.closed) throw new Error('the connection to berthd was closed');
    if (!this.current || this.current.h2.closed || this.current.h2.destroyed) this.current = this.connect();
    const session = this.current;
    const req: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      ':authority': 'localhost',
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    };
    if (deadline !== undefined) req['grpc-timeout'] = timeoutHeader(deadline);
    // The session's socket holds the process only while one of its calls is open.
    if (session.active++ === 0) session.h2.ref();
    return new Http2Call(this, session, session.h2.request(req), deadline, listener, () => {
      if (--session.active === 0 && !session.h2.destroyed) session.h2.unref();
    });
  }

  /** No new calls; calls in progress finish (grpc-js's Client#close). */
  close(): void {
    this.closed = true;
    this.current?.h2.close();
    this.current = undefined;
  }
}

/** An HTTP/2 session, its calls in flight and why it failed (for UNAVAILABLE's details). */
interface Session {
  h2: http2.ClientHttp2Session;
  active: number;
  error?: Error;
}

/** One call on a session: frames out, frames in, and exactly one final status. */
export class Http2Call {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** The length of the message being received, once its prefix is in. */
  private expected?: number;
  private trailerStatus?: CallStatus;
  /** The stream's own error: a session that never connected cancels its streams with the cause. */
  private streamError?: Error & { cause?: unknown };
  private done = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly conn: Http2Connection,
    private readonly session: Session,
    private readonly stream: http2.ClientHttp2Stream,
    deadline: number | undefined,
    private readonly listener: Listener,
    private readonly onEnd: () => void,
  ) {
    if (deadline !== undefined) {
      this.timer = setTimeout(() => this.cancel(DEADLINE_EXCEEDED, 'Deadline exceeded'), Math.min(Math.max(deadline - Date.now(), 1), 2147483647));
    }
    stream.on('response', (headers) => {
      const status = headers[':status'];
      if (status !== 200) {
        this.trailerStatus = statusOf(headers) ?? httpStatus(Number(status));
        return;
      }
      // Trailers-only (an error before any message): the status is in the headers.
      const inHeaders = statusOf(headers);
      if (inHeaders) this.trailerStatus = inHeaders;
      else if (!this.done) this.listener.onMetadata(metadataOf(headers));
    });
    stream.on('trailers', (trailers) => {
      this.trailerStatus = statusOf(trailers) ?? { code: UNKNOWN, details: 'No status received', metadata: metadataOf(trailers) };
    });
    stream.on('data', (chunk: Buffer) => this.receive(chunk));
    // Reported through 'close': with the session's error (or the cause of this one), or the reset code.
    stream.on('error', (err: Error) => {
      this.streamError = err;
    });
    // The server is done (its status came in the trailers): the call is over even when this
    // side is still open (a bidi call whose stdin never ended), as in grpc-js; that side is
    // then ended too. Ended, not reset: a server counts resets (node's rapid-reset guard
    // closes a session that sends too many), and this stream finished cleanly.
    stream.on('end', () => {
      if (!this.trailerStatus || this.done) return;
      this.finish(this.bufferedBytes || this.expected !== undefined ? { code: INTERNAL, details: 'Received a truncated message', metadata: new ReceivedMetadata() } : this.trailerStatus);
      if (!stream.writableEnded && !stream.destroyed) stream.end();
    });
    stream.on('close', () => {
      if (this.trailerStatus) return this.finish(this.bufferedBytes || this.expected !== undefined ? { code: INTERNAL, details: 'Received a truncated message', metadata: new ReceivedMetadata() } : this.trailerStatus);
      const cause = this.streamError?.cause;
      // (by shape: under jest, node's errors come from another realm than Error)
      const failure = typeof (cause as Error | undefined)?.message === 'string' ? (cause as Error) : this.session.error;
      if (failure && (stream.rstCode === undefined || stream.rstCode === http2.constants.NGHTTP2_CANCEL || stream.rstCode === http2.constants.NGHTTP2_INTERNAL_ERROR)) {
        // grpc-js's words, so a caller can tell ENOENT, ECONNREFUSED or EACCES apart
        return this.finish({ code: UNAVAILABLE, details: `No connection established. Last error: ${failure.message}`, metadata: new ReceivedMetadata() });
      }
      if (this.session.h2.destroyed && stream.rstCode === http2.constants.NGHTTP2_CANCEL) return this.finish({ code: UNAVAILABLE, details: 'Connection dropped', metadata: new ReceivedMetadata() });
      return this.finish(resetStatus(stream.rstCode ?? http2.constants.NGHTTP2_INTERNAL_ERROR));
    });
  }

  /** Splits the byte stream into gRPC messages: 1 byte compressed flag, 4 bytes length, message. */
  private receive(chunk: Buffer): void {
    if (this.done) return;
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    for (;;) {
      if (this.expected === undefined) {
        if (this.bufferedBytes < 5) return;
        const head = this.take(5);
        if (head[0] !== 0) return this.cancel(INTERNAL, 'Received a compressed message, but compression was not asked for');
        const length = head.readUInt32BE(1);
        if (this.conn.maxReceive >= 0 && length > this.conn.maxReceive) return this.cancel(RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs. ${this.conn.maxReceive})`);
        this.expected = length;
      }
      if (this.bufferedBytes < this.expected) return;
      const message = this.take(this.expected);
      this.expected = undefined;
      let more: boolean;
      try {
        more = this.listener.onMessage(message);
      } catch (err) {
        return this.cancel(INTERNAL, `Response message parsing error: ${(err as Error).message}`);
      }
      if (this.done) return;
      if (!more) this.stream.pause();
    }
  }

  /** The next n buffered bytes (joined only when a message spans chunks). */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0); // an empty message (every field at its default)
    let out: Buffer;
    const first = this.buffered[0]!;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.buffered.shift();
      else this.buffered[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.buffered);
      out = all.subarray(0, n);
      this.buffered = all.length > n ? [all.subarray(n)] : [];
    }
    this.bufferedBytes -= n;
    return out;
  }

  /** Sends one serialized message (the caller serializes: its errors are its own). */
  write(message: Buffer, cb: (err?: Error | null) => void): void {
    if (this.done) return cb();
    if (this.conn.maxSend >= 0 && message.length > this.conn.maxSend) {
      this.cancel(RESOURCE_EXHAUSTED, `Sent message larger than max (${message.length} vs. ${this.conn.maxSend})`);
      return cb();
    }
    const head = Buffer.allocUnsafe(5);
    head[0] = 0;
    head.writeUInt32BE(message.length, 1);
    this.stream.write(Buffer.concat([head, message]), (err) => cb(this.done ? null : err));
  }

  /** No more messages from this side. */
  halfClose(): void {
    if (!this.done) this.stream.end();
  }

  resume(): void {
    if (!this.done) this.stream.resume();
  }

  /** Ends the call at once with this status (grpc-js's cancelWithStatus). */
  cancel(code: number, details: string): void {
    if (this.done) return;
    this.finish({ code, details, metadata: new ReceivedMetadata() });
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  private finish(status: CallStatus): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.buffered = [];
    this.bufferedBytes = 0;
    this.expected = undefined;
    this.onEnd();
    this.listener.onStatus(status);
  }
}

// ---- the four call shapes, as grpc-js's generic client gives them ----

type Serialize = (value: object) => Buffer;
type Deserialize = (bytes: Buffer) => unknown;

export interface CallSpec {
  path: string;
  serialize: Serialize;
  deserialize: Deserialize;
  headers: Record<string, string>;
  deadline?: number;
}

function serializeOrFail(call: Http2Call, serialize: Serialize, value: object): Buffer | undefined {
  try {
    return serialize(value);
  } catch (err) {
    call.cancel(INTERNAL, `Request message serialization failure: ${(err as Error).message}`);
    return undefined;
  }
}

/** What to do with the one response of a unary or client-streaming call. */
function singleResponse(spec: CallSpec, done: (err: CallError | null, res?: unknown) => void, emitter: { emit(e: string, ...a: unknown[]): boolean }): Listener {
  let response: unknown;
  let got = false;
  let callRef: Http2Call | undefined;
  const listener: Listener & { bind(c: Http2Call): void } = {
    bind: (c) => (callRef = c),
    onMetadata: (md) => void emitter.emit('metadata', md),
    onMessage: (bytes) => {
      if (got) {
        callRef?.cancel(UNIMPLEMENTED, 'Too many responses received');
        return true;
      }
      response = spec.deserialize(bytes as Buffer);
      got = true;
      return true;
    },
    onStatus: (status) => {
      if (status.code !== OK) done(callError(status));
      else if (!got) done(callError({ code: UNIMPLEMENTED, details: 'No message received', metadata: status.metadata }));
      else done(null, response);
      emitter.emit('status', status);
    },
  };
  return listener;
}

export function unaryCall(conn: Http2Connection, spec: CallSpec, request: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const emitter = { emit: () => true };
    const listener = singleResponse(spec, (err, res) => (err ? reject(err) : resolve(res)), emitter) as Listener & { bind(c: Http2Call): void };
    const call = conn.start(spec.path, spec.headers, spec.deadline, listener);
    listener.bind(call);
    const bytes = serializeOrFail(call, spec.serialize, request);
    if (!bytes) return;
    call.write(bytes, () => undefined);
    call.halfClose();
  });
}

/** A server-streaming call's stream: an object-mode Readable, as grpc-js's ClientReadableStream. */
export class ServerStream extends Readable {
  call?: Http2Call;
  constructor() {
    super({ objectMode: true });
  }
  override _read(): void {
    this.call?.resume();
  }
  cancel(): void {
    this.call?.cancel(CANCELLED, 'Cancelled on client');
  }
  getPeer(): string {
    return 'berthd';
  }
}

/** Listener of a call whose responses go to a stream (grpc-js's onReceiveStatus order). */
function streamingResponses(spec: CallSpec, stream: Readable | Duplex): Listener {
  return {
    onMetadata: (md) => void stream.emit('metadata', md),
    onMessage: (bytes) => stream.push(spec.deserialize(bytes as Buffer)),
    onStatus: (status) => {
      stream.push(null);
      if (status.code !== OK) stream.emit('error', callError(status));
      stream.emit('status', status);
    },
  };
}

export function serverStreamCall(conn: Http2Connection, spec: CallSpec, request: object): ServerStream {
  const stream = new ServerStream();
  const call = conn.start(spec.path, spec.headers, spec.deadline, streamingResponses(spec, stream));
  stream.call = call;
  const bytes = serializeOrFail(call, spec.serialize, request);
  if (bytes) {
    call.write(bytes, () => undefined);
    call.halfClose();
  }
  return stream;
}

/** A client-streaming call's request side: an object-mode Writable with cancel(). */
export class ClientStream extends Writable {
  call?: Http2Call;
  constructor(private readonly serialize: Serialize) {
    super({ objectMode: true });
  }
  override _write(value: object, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const bytes = serializeOrFail(this.call!, this.serialize, value);
    if (!bytes) return cb();
    this.call!.write(bytes, cb);
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.call!.halfClose();
    cb();
  }
  cancel(): void {
    this.call?.cancel(CANCELLED, 'Cancelled on client');
  }
  getPeer(): string {
    return 'berthd';
  }
}

export function clientStreamCall(conn: Http2Connection, spec: CallSpec): { call: ClientStream; response: Promise<unknown> } {
  const stream = new ClientStream(spec.serialize);
  let settle!: (err: CallError | null, res?: unknown) => void;
  const response = new Promise((resolve, reject) => {
    settle = (err, res) => (err ? reject(err) : resolve(res));
  });
  const listener = singleResponse(spec, (err, res) => settle(err, res), stream) as Listener & { bind(c: Http2Call): void };
  stream.call = conn.start(spec.path, spec.headers, spec.deadline, listener);
  listener.bind(stream.call);
  return { call: stream, response };
}

/** A bidi call's stream: an object-mode Duplex with cancel(). */
export class BidiStream extends Duplex {
  call?: Http2Call;
  constructor(private readonly serialize: Serialize) {
    super({ objectMode: true });
  }
  override _read(): void {
    this.call?.resume();
  }
  override _write(value: object, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const bytes = serializeOrFail(this.call!, this.serialize, value);
    if (!bytes) return cb();
    this.call!.write(bytes, cb);
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.call!.halfClose();
    cb();
  }
  cancel(): void {
    this.call?.cancel(CANCELLED, 'Cancelled on client');
  }
  getPeer(): string {
    return 'berthd';
  }
}

export function bidiCall(conn: Http2Connection, spec: CallSpec): BidiStream {
  const stream = new BidiStream(spec.serialize);
  stream.call = conn.start(spec.path, spec.headers, spec.deadline, streamingResponses(spec, stream));
  return stream;
}
