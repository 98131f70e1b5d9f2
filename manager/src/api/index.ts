// The wire contracts of berthd as @grpc/grpc-js services and typed clients.
//
// The schema comes from proto/ through manager/scripts/gen-proto.js, which writes
// ./generated/descriptor.ts (a protobufjs JSON descriptor) and ./generated/types.ts (types
// only). Nothing here knows a service by hand: every service in proto/ is available by its
// full name, e.g. 'containerd.services.content.v1.Content'.
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

import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { descriptor } from './generated/descriptor';
import type { MethodTypes, ServiceName, Services } from './generated/types';

export type { Services, ServiceName, MethodTypes } from './generated/types';
export { SERVICE_NAMES } from './generated/types';
/** Message and enum types by proto package, e.g. `containerd.services.content.v1.Info`. */
export type { containerd, google, io } from './generated/types';

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

/** The schema, resolved once. */
export const root: protobuf.Root = protobuf.Root.fromJSON(descriptor as unknown as protobuf.INamespace);
root.resolveAll();

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
  const t = messageType(fullName);
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
  const t = messageType(fullName);
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

/** Packs JSON (an OCI spec, for example) into an Any with the given type url. */
export function packJsonAny(typeUrl: string, value: unknown): AnyValue {
  return { typeUrl, value: Buffer.from(JSON.stringify(value)) };
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

/** Metadata naming a namespace (and optionally a lease), as containerd clients send it. */
export function callMetadata(namespace: string, lease?: string): grpc.Metadata {
  const md = new grpc.Metadata();
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
    const svc = root.lookupService(`.${name}`);
    const methods: Record<string, grpc.MethodDefinition<object, object>> = {};
    for (const m of svc.methodsArray) {
      m.resolve();
      const reqType = m.resolvedRequestType!;
      const resType = m.resolvedResponseType!;
      methods[m.name] = {
        path: `/${name}/${m.name}`,
        requestStream: !!m.requestStream,
        responseStream: !!m.responseStream,
        requestSerialize: (v: object) => toBuffer(reqType.encode(reqType.fromObject(v as Record<string, unknown>)).finish()),
        requestDeserialize: (b: Buffer) => reqType.toObject(reqType.decode(b), CONVERSION),
        responseSerialize: (v: object) => toBuffer(resType.encode(resType.fromObject(v as Record<string, unknown>)).finish()),
        responseDeserialize: (b: Buffer) => resType.toObject(resType.decode(b), CONVERSION),
        originalName: lowerFirst(m.name),
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

export type Client<S extends ServiceName> = { [K in keyof Services[S]]: ClientMethod<Services[S][K]> } & {
  /** The underlying grpc-js client (for waitForReady, getChannel, ...). */
  readonly grpc: grpc.Client;
  close(): void;
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
          raw.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, metadataFor(opts), callOptions(opts), (err, res) =>
            err ? reject(err) : resolve(res),
          );
        });
    } else if (!m.requestStream) {
      client[method] = (req: object, opts?: CallOpts) =>
        raw.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, req, metadataFor(opts), callOptions(opts));
    } else if (!m.responseStream) {
      client[method] = (opts?: CallOpts) => {
        let call!: grpc.ClientWritableStream<unknown>;
        const response = new Promise((resolve, reject) => {
          call = raw.makeClientStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, metadataFor(opts), callOptions(opts), (err, res) =>
            err ? reject(err) : resolve(res),
          );
        });
        return { call, response };
      };
    } else {
      client[method] = (opts?: CallOpts) =>
        raw.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, metadataFor(opts), callOptions(opts));
    }
  }
  return client as unknown as Client<S>;
}
