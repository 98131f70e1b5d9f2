// The wire contracts of berthd as @grpc/grpc-js services and typed clients.
//
// The schema comes from proto/ through manager/scripts/gen-proto.js, which writes
// ./generated/codecs.ts (every message's encode/decode/fromObject/toObject, precompiled from
// protobufjs's own generators, and every service's methods), ./generated/descriptor.ts
// (protobufjs JSON, by proto package) and ./generated/types.ts (types only). Nothing here knows
// a service by hand: every service in proto/ is available by its full name, e.g.
// 'containerd.services.content.v1.Content'.
//
// Start-up matters: every `berth` command is a new process. So encode, decode and the service
// definitions use ./codec.ts (plain objects over the precompiled functions: no reflection tree,
// no code generated at run time), the protobufjs reflection `root` is built only when someone
// looks into it (package by package), grpc-js is loaded only by what needs it (berthd, the
// grpc-js client), and the CLI's client is ./http2-client.ts.
//
// Messages cross this boundary as plain objects:
//   decoded (what handlers receive and clients get back): protobufjs toObject with CONVERSION:
//     every scalar present (default '' / 0 / false), 64-bit integers as numbers, enums as their
//     names, bytes as Buffer, repeated as arrays, maps as objects, absent messages as null.
//   encoded (what handlers return and clients send): any subset of fields (the `I...` types);
//     64-bit integers as number or decimal string, enums as name or number.
//
// Server:   server.addService(serviceDefinition(CONTENT), impl)  with  impl: ServiceImpl<typeof CONTENT>
// Client:   const c = createClient(VERSION, 'unix:///run/berth/berthd.sock', { namespace: 'default' });
//           const v = await c.Version({});  c.close();
// CLI:      const conn = new Http2Connection('unix:///run/berth/berthd.sock');
//           const c = createServiceClient(VERSION, conn, { namespace: 'default' });  ...  conn.close();
//           the same methods over ./http2-client.ts, without loading @grpc/grpc-js at all.

import type * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { bidiCall, clientStreamCall, serverStreamCall, unaryCall, type CallSpec, type Http2Connection } from './http2-client';
import { messageCodecOf, serviceMethods, setReflectionRoot } from './codec';
import { schemaPackages, type SchemaPackage } from './generated/descriptor';
import type { MethodTypes, ServiceName, Services } from './generated/types';

export { Http2Connection, type CallError, type CallStatus } from './http2-client';
export type { Services, ServiceName, MethodTypes } from './generated/types';
export { SERVICE_NAMES } from './generated/types';
/** Message and enum types by proto package, e.g. `containerd.services.content.v1.Info`. */
export type { berth, containerd, google, io } from './generated/types';

/** gRPC metadata key that carries the namespace of a call (containerd's). */
export const NAMESPACE_METADATA_KEY = 'containerd-namespace';
/** gRPC metadata key that carries the lease a call's new resources are added to. */
export const LEASE_METADATA_KEY = 'containerd-lease';
/** The namespace ctr and containerd use when none is given. */
export const DEFAULT_NAMESPACE = 'default';

// Service names, for use as arguments (and their literal types).
export const VERSION = 'containerd.services.version.v1.Version' as const;
export const NAMESPACES = 'containerd.services.namespaces.v1.Namespaces' as const;
export const CONTENT = 'containerd.services.content.v1.Content' as const;
export const IMAGES = 'containerd.services.images.v1.Images' as const;
export const SNAPSHOTS = 'containerd.services.snapshots.v1.Snapshots' as const;
export const CONTAINERS = 'containerd.services.containers.v1.Containers' as const;
export const TASKS = 'containerd.services.tasks.v1.Tasks' as const;
export const DIFF = 'containerd.services.diff.v1.Diff' as const;
export const LEASES = 'containerd.services.leases.v1.Leases' as const;
export const EVENTS = 'containerd.services.events.v1.Events' as const;
export const INTROSPECTION = 'containerd.services.introspection.v1.Introspection' as const;
/** berth's own: attach and logs (proto/berth/io/v1/io.proto). */
export const BERTH_IO = 'berth.io.v1.IO' as const;
// berth's own services (proto/berth/)
export const SYSTEM = 'berth.system.v1.System' as const;
export const FILES = 'berth.files.v1.Files' as const;
/** berth's own: top (proto/berth/containers/v1/containers.proto). */
export const BERTH_CONTAINERS = 'berth.containers.v1.Containers' as const;
/** berth's own: named and anonymous volumes (proto/berth/volumes/v1/volumes.proto). */
export const VOLUMES = 'berth.volumes.v1.Volumes' as const;
/** berth's own: networks and containers' network settings (proto/berth/networks/v1/networks.proto). */
export const NETWORKS = 'berth.networks.v1.Networks' as const;
/** berth's own: registry pull, push and login (proto/berth/images/v1/images.proto). */
export const BERTH_IMAGES = 'berth.images.v1.Images' as const;

/** Type url containerd (and ctr) put on a container's OCI runtime spec. */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
/** Type url of an OCI process spec (Tasks.Exec). */
export const PROCESS_SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

/** How decoded messages are turned into plain objects (see the header). */
export const CONVERSION: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

/**
 * A Root that adds a proto package (with the packages its types refer to, then resolveAll) when
 * a lookup by full name first reaches into it — or, for a namespace such as '.containerd', every
 * package under it. The answers are those of the whole schema built at once: a package's
 * references resolve inside its dependency closure (gen-proto.js splitByPackage), and what is
 * not in the schema is still null / an error. Internal lookups of protobufjs (resolving field
 * types) stay inside the packages already added.
 */
class SchemaRoot extends protobuf.Root {
  /** Names already answered for, so a repeated lookup costs one Set probe. */
  private readonly looked = new Set<string>();
  private readonly added = new Set<string>();
  private packages?: Record<string, SchemaPackage>;

  override lookup(path: string | string[], filterTypes?: unknown, parentAlreadyChecked?: boolean): protobuf.ReflectionObject | null {
    // At the root every path is absolute: '.a.b', 'a.b' and ['a', 'b'] all mean a.b.
    const name = typeof path === 'string' ? (path.startsWith('.') ? path.slice(1) : path) : path.filter((p) => p !== '').join('.');
    if (!this.looked.has(name)) this.addPackagesFor(name);
    return (super.lookup as (p: string | string[], f?: unknown, c?: boolean) => protobuf.ReflectionObject | null)(path, filterTypes, parentAlreadyChecked);
  }

  /** Adds the packages `name` is in or over ('' is the whole schema), and their dependencies. */
  private addPackagesFor(name: string): void {
    const packages = (this.packages ??= schemaPackages());
    const wanted = Object.keys(packages).filter((p) => name === '' || name === p || name.startsWith(`${p}.`) || p.startsWith(`${name}.`));
    const missing = new Set<string>();
    for (const p of wanted) for (const q of [p, ...packages[p]!.deps]) if (!this.added.has(q)) missing.add(q);
    if (missing.size) {
      for (const p of missing) {
        this.define(p).addJSON(packages[p]!.nested as Record<string, protobuf.AnyNestedObject>);
        this.added.add(p);
      }
      this.resolveAll();
    }
    this.looked.add(name);
  }
}

/**
 * The schema as protobufjs reflection: every message, enum and service of proto/, by full name
 * ('.containerd.types.Mount'). encode, decode and the service definitions below do not use it
 * (./codec.ts), so a client process never builds it.
 */
export const root: protobuf.Root = new SchemaRoot();
setReflectionRoot(root);

const typeCache = new Map<string, protobuf.Type>();

/** The protobufjs type of a message by full name ('containerd.types.Descriptor'). */
export function messageType(fullName: string): protobuf.Type {
  let t = typeCache.get(fullName);
  if (!t) {
    t = root.lookupType(fullName.startsWith('.') ? fullName : `.${fullName}`);
    typeCache.set(fullName, t);
  }
  return t;
}

function toBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** Encodes a plain object (any subset of fields) as the message `fullName`. */
export function encode(fullName: string, value: object): Buffer {
  const t = messageCodecOf(fullName);
  return toBuffer(t.encode(t.fromObject(withTimestamps(value) as Record<string, unknown>)).finish());
}

/**
 * Core code speaks Date; protobufjs takes a google.protobuf.Timestamp only as
 * {seconds, nanos} and encodes a Date silently as zero (1970). Convert at this one edge.
 */
function withTimestamps(value: unknown): unknown {
  if (value instanceof Date) return timestamp(value);
  if (Array.isArray(value)) return value.map(withTimestamps);
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withTimestamps(v)]));
  }
  return value;
}

/** Decodes bytes of message `fullName` into a plain object (CONVERSION). */
export function decode<T = Record<string, unknown>>(fullName: string, bytes: Uint8Array): T {
  const t = messageCodecOf(fullName);
  return t.toObject(t.decode(bytes), CONVERSION) as T;
}

export interface AnyValue {
  typeUrl: string;
  value: Uint8Array;
}

/** Packs a message into a google.protobuf.Any the way containerd's typeurl does: the url is the bare full name. */
export function packAny(fullName: string, value: object): AnyValue {
  return { typeUrl: fullName, value: encode(fullName, value) };
}

/**
 * 2^64 - 1 (RLIM_INFINITY in an OCI spec's rlimits) as a JS number is 2^64, which JSON.stringify
 * writes as 18446744073709552000: Go's uint64 decoding (ctr, containerd) refuses that. Any such
 * number is written as 18446744073709551615 instead (through a placeholder no real string can be).
 */
const UINT64_MAX_TEXT = '18446744073709551615';
const UINT64_MAX_PLACEHOLDER = '\u0000uint64-max\u0000';

/** Packs JSON (an OCI spec, for example) into an Any with the given type url. */
export function packJsonAny(typeUrl: string, value: unknown): AnyValue {
  let big = false;
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (v !== 2 ** 64) return v;
    big = true;
    return UINT64_MAX_PLACEHOLDER;
  });
  return { typeUrl, value: Buffer.from(big ? text.split(JSON.stringify(UINT64_MAX_PLACEHOLDER)).join(UINT64_MAX_TEXT) : text) };
}

/** The message name an Any carries: the part of its type url after the last '/'. */
export function anyMessageName(any: { typeUrl: string }): string {
  return any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1);
}

/** Decodes an Any whose payload is a message in our schema. Throws if the type is unknown. */
export function unpackAny<T = Record<string, unknown>>(any: { typeUrl: string; value: Uint8Array }): { name: string; message: T } {
  const name = anyMessageName(any);
  return { name, message: decode<T>(name, any.value) };
}

export interface TimestampValue {
  seconds: number;
  nanos: number;
}

/** A google.protobuf.Timestamp for a Date (millisecond precision) or for now. */
export function timestamp(date: Date = new Date()): TimestampValue {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
}

/** The Date of a decoded google.protobuf.Timestamp (null for an absent one). */
export function dateOf(ts: { seconds: number | string; nanos: number } | null | undefined): Date | null {
  if (!ts) return null;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6));
}

/**
 * @grpc/grpc-js, loaded when first needed (berthd's server, createClient): a `berth` command
 * talks through http2-client.ts and never pays for loading it.
 */
function grpcJs(): typeof import('@grpc/grpc-js') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
}

/** Metadata naming a namespace (and optionally a lease), as containerd clients send it. */
export function callMetadata(namespace: string, lease?: string): grpc.Metadata {
  const md = new (grpcJs().Metadata)();
  md.set(NAMESPACE_METADATA_KEY, namespace);
  if (lease) md.set(LEASE_METADATA_KEY, lease);
  return md;
}

/** The namespace of an incoming call ('' when the client sent none). */
export function namespaceOf(call: { metadata: grpc.Metadata }): string {
  const v = call.metadata.get(NAMESPACE_METADATA_KEY)[0];
  return v === undefined ? '' : String(v);
}

/** The lease of an incoming call ('' when none). */
export function leaseOf(call: { metadata: grpc.Metadata }): string {
  const v = call.metadata.get(LEASE_METADATA_KEY)[0];
  return v === undefined ? '' : String(v);
}

// ---- typed service definitions ----

type Req<M> = M extends MethodTypes<infer R, any, any, any, any, any> ? R : never;
type ReqIn<M> = M extends MethodTypes<any, infer R, any, any, any, any> ? R : never;
type Res<M> = M extends MethodTypes<any, any, infer R, any, any, any> ? R : never;
type ResIn<M> = M extends MethodTypes<any, any, any, infer R, any, any> ? R : never;

/** The grpc-js handler for one method: receives decoded requests, sends `I...` responses. */
export type Handler<M> = M extends MethodTypes<any, any, any, any, infer CS, infer SS>
  ? CS extends true
    ? SS extends true
      ? grpc.handleBidiStreamingCall<Req<M>, ResIn<M>>
      : grpc.handleClientStreamingCall<Req<M>, ResIn<M>>
    : SS extends true
      ? grpc.handleServerStreamingCall<Req<M>, ResIn<M>>
      : grpc.handleUnaryCall<Req<M>, ResIn<M>>
  : never;

/** An implementation of service S for server.addService: one handler per method (proto names). */
export type ServiceImpl<S extends ServiceName> = { [K in keyof Services[S]]: Handler<Services[S][K]> };

const definitions = new Map<string, grpc.ServiceDefinition>();

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/**
 * The grpc-js service definition of a service in proto/: method paths
 * '/<package>.<Service>/<Method>', (de)serializers and streaming flags. Keys are the proto
 * method names; originalName is the lowerCamel form, so generic clients have both.
 */
export function serviceDefinition<S extends ServiceName>(name: S): grpc.ServiceDefinition<ServiceImpl<S>> {
  let def = definitions.get(name);
  if (!def) {
    const table = serviceMethods(name);
    if (!table) throw new Error(`no such service: ${name}`);
    const methods: Record<string, grpc.MethodDefinition<object, object>> = {};
    for (const [method, [request, response, requestStream, responseStream]] of Object.entries(table)) {
      const reqType = messageCodecOf(request);
      const resType = messageCodecOf(response);
      methods[method] = {
        path: `/${name}/${method}`,
        requestStream,
        responseStream,
        requestSerialize: (v: object) => toBuffer(reqType.encode(reqType.fromObject(v)).finish()),
        requestDeserialize: (b: Buffer) => reqType.toObject(reqType.decode(b), CONVERSION),
        responseSerialize: (v: object) => toBuffer(resType.encode(resType.fromObject(v)).finish()),
        responseDeserialize: (b: Buffer) => resType.toObject(resType.decode(b), CONVERSION),
        originalName: lowerFirst(method),
      };
    }
    def = methods as grpc.ServiceDefinition;
    definitions.set(name, def);
  }
  return def as unknown as grpc.ServiceDefinition<ServiceImpl<S>>;
}

/** Registers an implementation of service S on a grpc-js server. */
export function addService<S extends ServiceName>(server: grpc.Server, name: S, impl: ServiceImpl<S>): void {
  server.addService(serviceDefinition(name), impl as unknown as grpc.UntypedServiceImplementation);
}

// ---- typed clients ----

export interface CallOpts {
  /** Overrides the client's namespace for this call. */
  namespace?: string;
  lease?: string;
  metadata?: grpc.Metadata;
  deadline?: grpc.Deadline;
}

/** A client-streaming call: write requests, end(), then await response. */
export interface ClientStreamingCall<ReqI, R> {
  call: grpc.ClientWritableStream<ReqI>;
  response: Promise<R>;
}

/** Client method for one RPC: unary calls return a promise, streaming ones the grpc-js stream. */
export type ClientMethod<M> = M extends MethodTypes<any, any, any, any, infer CS, infer SS>
  ? CS extends true
    ? SS extends true
      ? (opts?: CallOpts) => grpc.ClientDuplexStream<ReqIn<M>, Res<M>>
      : (opts?: CallOpts) => ClientStreamingCall<ReqIn<M>, Res<M>>
    : SS extends true
      ? (request: ReqIn<M>, opts?: CallOpts) => grpc.ClientReadableStream<Res<M>>
      : (request: ReqIn<M>, opts?: CallOpts) => Promise<Res<M>>
  : never;

/** The methods of service S (proto names), whichever transport carries them. */
export type ServiceClient<S extends ServiceName> = { [K in keyof Services[S]]: ClientMethod<Services[S][K]> } & {
  close(): void;
};

/** A ServiceClient over grpc-js (createClient). */
export type Client<S extends ServiceName> = ServiceClient<S> & {
  /** The underlying grpc-js client (for waitForReady, getChannel, ...). */
  readonly grpc: grpc.Client;
};

export interface ClientOptions {
  /** Namespace sent with every call unless a call says otherwise. */
  namespace?: string;
  lease?: string;
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Share one channel among several clients (e.g. client.grpc of another client). */
  channelOverride?: grpc.Channel;
}

/** Normalizes a socket path to a grpc target ('unix:///path'); other targets pass as they are. */
export function grpcTarget(address: string): string {
  return address.startsWith('/') ? `unix://${address}` : address;
}

/** Reads a server stream to its end, collecting every message. */
export function collect<T>(stream: grpc.ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on('data', (m: T) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

/**
 * A promise-based client of service S at `address` (a socket path or a grpc target).
 * Method names are the proto names: client.Version({}), client.List({filters: []}).
 */
export function createClient<S extends ServiceName>(name: S, address: string, options: ClientOptions = {}): Client<S> {
  const def = serviceDefinition(name) as unknown as grpc.ServiceDefinition;
  const grpc = grpcJs();
  const Ctor = grpc.makeGenericClientConstructor(def, name);
  const raw = new Ctor(grpcTarget(address), options.credentials ?? grpc.credentials.createInsecure(), {
    ...(options.channelOptions ?? {}),
    ...(options.channelOverride ? { channelOverride: options.channelOverride } : {}),
  });
  const metadataFor = (opts: CallOpts = {}): grpc.Metadata => {
    const md = opts.metadata ? opts.metadata.clone() : new grpc.Metadata();
    const ns = opts.namespace ?? options.namespace;
    const lease = opts.lease ?? options.lease;
    if (ns && md.get(NAMESPACE_METADATA_KEY).length === 0) md.set(NAMESPACE_METADATA_KEY, ns);
    if (lease && md.get(LEASE_METADATA_KEY).length === 0) md.set(LEASE_METADATA_KEY, lease);
    return md;
  };
  const callOptions = (opts: CallOpts = {}): grpc.CallOptions => (opts.deadline !== undefined ? { deadline: opts.deadline } : {});
  const client: Record<string, unknown> = {
    grpc: raw,
    close: () => raw.close(),
  };
  for (const [method, m] of Object.entries(def)) {
    if (!m.requestStream && !m.responseStream) {
      client[method] = (req: object, opts?: CallOpts) =>
        new Promise((resolve, reject) => {
          const done = CLIENT_TIMING ? timingStart(m.path) : undefined;
          raw.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, metadataFor(opts), callOptions(opts), (err, res) => {
            done?.(err);
            return err ? reject(err) : resolve(res);
          });
        });
    } else if (!m.requestStream) {
      client[method] = (req: object, opts?: CallOpts) =>
        timedStream(m.path, raw.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, req, metadataFor(opts), callOptions(opts)));
    } else if (!m.responseStream) {
      client[method] = (opts?: CallOpts) => {
        let call!: grpc.ClientWritableStream<unknown>;
        const response = new Promise((resolve, reject) => {
          call = raw.makeClientStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, metadataFor(opts), callOptions(opts), (err, res) =>
            err ? reject(err) : resolve(res),
          );
        });
        return { call: timedStream(m.path, call), response };
      };
    } else {
      client[method] = (opts?: CallOpts) =>
        timedStream(m.path, raw.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, metadataFor(opts), callOptions(opts)));
    }
  }
  return client as unknown as Client<S>;
}

export interface ServiceClientOptions {
  /** Namespace sent with every call unless a call says otherwise. */
  namespace?: string;
  lease?: string;
}

/**
 * A client of service S over an Http2Connection (./http2-client.ts): createClient's methods
 * and call shapes without grpc-js — what a short-lived process wants. Several clients share
 * one connection; close() of a client is a no-op, the connection's owner closes it.
 */
export function createServiceClient<S extends ServiceName>(name: S, connection: Http2Connection, options: ServiceClientOptions = {}): ServiceClient<S> {
  const def = serviceDefinition(name) as unknown as grpc.ServiceDefinition;
  const headersFor = (opts: CallOpts = {}): Record<string, string> => {
    const headers: Record<string, string> = {};
    if (opts.metadata) {
      for (const [k, v] of Object.entries(opts.metadata.getMap())) headers[k] = Buffer.isBuffer(v) ? v.toString('base64') : String(v);
    }
    const ns = opts.namespace ?? options.namespace;
    const lease = opts.lease ?? options.lease;
    if (ns && headers[NAMESPACE_METADATA_KEY] === undefined) headers[NAMESPACE_METADATA_KEY] = ns;
    if (lease && headers[LEASE_METADATA_KEY] === undefined) headers[LEASE_METADATA_KEY] = lease;
    return headers;
  };
  const specFor = (m: grpc.MethodDefinition<object, unknown>, opts: CallOpts = {}): CallSpec => ({
    path: m.path,
    serialize: m.requestSerialize,
    deserialize: m.responseDeserialize,
    headers: headersFor(opts),
    ...(opts.deadline !== undefined ? { deadline: opts.deadline instanceof Date ? opts.deadline.getTime() : opts.deadline } : {}),
  });
  const client: Record<string, unknown> = { close: () => undefined };
  for (const [method, m] of Object.entries(def)) {
    if (!m.requestStream && !m.responseStream) {
      client[method] = (req: object, opts?: CallOpts) => {
        const done = CLIENT_TIMING ? timingStart(m.path) : undefined;
        const p = unaryCall(connection, specFor(m, opts), req);
        if (done) p.then(() => done(), (err: { code?: number }) => done(err));
        return p;
      };
    } else if (!m.requestStream) {
      client[method] = (req: object, opts?: CallOpts) => timedStream(m.path, serverStreamCall(connection, specFor(m, opts), req));
    } else if (!m.responseStream) {
      client[method] = (opts?: CallOpts) => {
        const c = clientStreamCall(connection, specFor(m, opts));
        return { call: timedStream(m.path, c.call), response: c.response };
      };
    } else {
      client[method] = (opts?: CallOpts) => timedStream(m.path, bidiCall(connection, specFor(m, opts)));
    }
  }
  return client as unknown as ServiceClient<S>;
}

// BERTH_TIMING=1 in a client (as in berthd, whose lines say how long it served each call): each
// call's start (ms since the process started) and how long it took to answer as this side saw
// it, on stderr — where a client's time goes between its own work, the wire and berthd.
const CLIENT_TIMING = process.env.BERTH_TIMING === '1';

function timingStart(path: string): (err?: { code?: number } | null) => void {
  const t0 = performance.now();
  return (err) => {
    const end = err ? ` (status ${err.code ?? '?'})` : '';
    process.stderr.write(`berth-timing ${t0.toFixed(1).padStart(8)} ms +${(performance.now() - t0).toFixed(1).padStart(6)} ms  ${path} client${end}\n`);
  };
}

/** A streaming call, with its timing line written when its status arrives (BERTH_TIMING=1). */
function timedStream<T extends { once(event: 'status', l: (s: { code: number }) => void): unknown }>(path: string, call: T): T {
  if (CLIENT_TIMING) {
    const done = timingStart(path);
    call.once('status', (s) => done(s.code === 0 /* OK */ ? null : s));
  }
  return call;
}
