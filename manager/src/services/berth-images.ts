// berth.images.v1.Images (proto/berth/images/v1/images.proto): berthd's registry work for
// `berth pull`, `berth push` and `berth login`, over core/pull, core/push and the registry
// client (core/registry). The client sends the registry's credentials with each call; berthd
// keeps none.
//
//   Pull   streams Progress (items as they change, ~10 a second; lines) and ends with the
//          image; publishes /images/create or /images/update as the Images service does
//   Push   streams Progress, ends with the pushed target
//   Login  checks credentials against the registry: "Login Succeeded", or PermissionDenied
//          "unauthorized: incorrect username or password"
//
// A call the client cancels (ctrl-C) aborts the work; an interrupted pull's bytes stay in the
// content store under its lease, so the next Pull resumes them.
//
// Plugin `io.containerd.grpc.v1.berth-images`, config (berthd.json `plugins` section):
//   hosts_dir                 /etc/berth/certs.d   containerd's <dir>/<host>/hosts.toml
//   max_concurrent_downloads  3                    layers fetched at once per pull
//   max_concurrent_uploads    3                    blobs pushed at once per push
//   upload_chunk_size         0                    bytes per PATCH of an upload; 0 = one PUT
//   lease_expiry_seconds      86400                how long an interrupted pull's parts are kept
//   staged_unpack             true                 overlayfs: unpack layers side by side

import type * as grpc from '@grpc/grpc-js';
import { isAbsolute } from 'node:path';
import { BERTH_IMAGES, addService, type ServiceImpl } from '../api';
import { invalidArgument } from '../core/errors';
import type { Metadata } from '../core/metadata';
import { parseNormalized, parseReference } from '../core/images';
import { pull, parsePlatform, removeInterruptedUnpacks, type ProgressUpdate, type PullResult } from '../core/pull';
import { push, type PushResult } from '../core/push';
import { createResolver, login } from '../core/registry';
import type { Credentials, Resolver, ResolverOptions } from '../core/registry/types';
import { METADATA_PLUGIN } from '../daemon/core-plugins';
import type { Plugin, PluginContext } from '../daemon/plugin';
import { SNAPSHOTTER_PLUGIN, namespacedSnapshotters } from '../plugins/storage';
import { emit, requireNamespace, send, serverStream, unary, type Publish } from './content';
import type { NamespacedSnapshotters } from './snapshots';
import { EVENTS_PLUGIN } from '../daemon/core-plugins';
import { publisherOf } from '../plugins/grpc';

export interface BerthImagesConfig {
  hostsDir: string;
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  uploadChunkSize: number;
  leaseExpirySeconds: number;
  stagedUnpack: boolean;
}

/** What the service needs of the registry client (core/registry), a seam for tests. */
export interface RegistryApi {
  resolver(opts: ResolverOptions): Resolver;
  /** Throws PermissionDenied ("unauthorized: incorrect username or password") for credentials the registry refuses. */
  login(server: string, credentials: Credentials | undefined, opts: Pick<ResolverOptions, 'hostsDir' | 'userAgent'>): Promise<{ identityToken?: string }>;
}

export interface BerthImagesDeps {
  md: Metadata;
  snapshotters: NamespacedSnapshotters;
  config: BerthImagesConfig;
  registry: RegistryApi;
  publish?: Publish;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export const DEFAULT_SNAPSHOTTER = 'overlayfs';
export const USER_AGENT = 'berth/0.1';

interface ProtoAuth {
  username: string;
  password: string;
  identityToken: string;
  registryToken: string;
}

function credentialsOf(a: ProtoAuth | null | undefined): Credentials | undefined {
  if (!a) return undefined;
  const c: Credentials = {};
  if (a.username) c.username = a.username;
  if (a.password) c.password = a.password;
  if (a.identityToken) c.identityToken = a.identityToken;
  if (a.registryToken) c.registryToken = a.registryToken;
  return Object.keys(c).length ? c : undefined;
}

const itemsToProto = (u: ProgressUpdate) => ({
  items: u.items.map((i) => ({ digest: i.digest, mediaType: i.mediaType, kind: i.kind, status: i.status, offset: i.offset, total: i.total, resumed: i.resumed })),
  message: u.message,
});

/** Sends progress in order without waiting in the pipeline; `drain()` waits for the sends. */
function progressSender(call: grpc.ServerWritableStream<unknown, unknown>) {
  let chain = Promise.resolve();
  return {
    sink: (u: ProgressUpdate) => {
      chain = chain.then(() => (call.cancelled ? undefined : send(call, itemsToProto(u))));
    },
    drain: () => chain,
  };
}

/** An AbortSignal that fires when the client cancels the call. */
function cancelSignal(call: grpc.ServerWritableStream<unknown, unknown>): AbortSignal {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort(Object.assign(new Error('the client cancelled the call'), { name: 'AbortError' })));
  return ac.signal;
}

export function berthImagesService(deps: BerthImagesDeps): ServiceImpl<typeof BERTH_IMAGES> {
  const { md, config } = deps;
  // the request's credentials belong to the reference's registry; its mirrors (hosts.toml) get
  // them too, as the proto says, unless the hosts config gives a host its own header
  const resolverFor = (creds: Credentials | undefined, onRetry?: ResolverOptions['onRetry']): Resolver =>
    deps.registry.resolver({
      hostsDir: config.hostsDir,
      userAgent: USER_AGENT,
      ...(creds ? { credentials: () => creds } : {}),
      ...(onRetry ? { onRetry } : {}),
    });

  return {
    Pull: serverStream(async (call) => {
      const ns = requireNamespace(call);
      const r = call.request;
      if (!r.reference) throw invalidArgument('reference: must not be empty (an image reference, e.g. busybox:latest)');
      parseNormalized(r.reference); // InvalidArgument naming the reference
      const platform = r.platform ? parsePlatform(r.platform) : undefined;
      const snapshotterName = r.snapshotter || DEFAULT_SNAPSHOTTER;
      const sn = r.skipUnpack ? undefined : deps.snapshotters.get(ns, snapshotterName);
      const out = progressSender(call as grpc.ServerWritableStream<unknown, unknown>);
      // the registry client's retries (5xx, a body cut and resumed) become lines for the user
      const resolver = resolverFor(credentialsOf(r.auth), (what, attempt, err, ms) =>
        out.sink({ items: [], message: `Retrying (${attempt}) in ${ms} ms: ${what}: ${err.message}` }),
      );
      let result: PullResult;
      try {
        result = await pull(
          {
            namespace: ns,
            resolver,
            content: md.content.namespace(ns),
            images: md.images,
            leases: md.leases,
            ...(sn ? { snapshotter: { name: snapshotterName, sn } } : {}),
            ...(deps.log ? { log: deps.log } : {}),
          },
          {
            reference: r.reference,
            ...(platform ? { platform } : {}),
            skipUnpack: r.skipUnpack,
            labels: r.labels,
            maxConcurrentDownloads: config.maxConcurrentDownloads,
            leaseExpiryMs: config.leaseExpirySeconds * 1000,
            stagedUnpack: config.stagedUnpack,
            onProgress: (u) => {
              out.sink(u);
            },
            signal: cancelSignal(call as grpc.ServerWritableStream<unknown, unknown>),
          },
        );
      } finally {
        await out.drain();
      }
      const img = result.image;
      emit(deps.publish, deps.log, ns, result.created ? '/images/create' : '/images/update', result.created ? 'containerd.services.images.v1.ImageCreate' : 'containerd.services.images.v1.ImageUpdate', { name: img.name, labels: img.labels });
      await send(call, {
        items: [],
        message: `Digest: ${img.target.digest}`,
        image: { name: img.name, digest: img.target.digest, mediaType: img.target.mediaType, size: img.target.size, configDigest: result.configDigest, chainId: result.chainId },
      });
    }),

    Push: serverStream(async (call) => {
      const ns = requireNamespace(call);
      const r = call.request;
      if (!r.reference) throw invalidArgument('reference: must not be empty (the local image to push)');
      const platform = r.platform ? parsePlatform(r.platform) : undefined;
      const out = progressSender(call as grpc.ServerWritableStream<unknown, unknown>);
      let result: PushResult;
      try {
        result = await push(
          { namespace: ns, resolver: resolverFor(credentialsOf(r.auth)), content: md.content.namespace(ns), images: md.images, ...(deps.log ? { log: deps.log } : {}) },
          {
            reference: r.reference,
            ...(r.destination ? { destination: r.destination } : {}),
            ...(platform ? { platform } : {}),
            maxConcurrentUploads: config.maxConcurrentUploads,
            ...(config.uploadChunkSize > 0 ? { chunkSize: config.uploadChunkSize } : {}),
            onProgress: (u) => out.sink(u),
            signal: cancelSignal(call as grpc.ServerWritableStream<unknown, unknown>),
          },
        );
      } finally {
        await out.drain();
      }
      await send(call, {
        items: [],
        // Docker's last line of a push
        message: `${parseReference(result.name).tag ?? result.target.digest}: digest: ${result.target.digest} size: ${result.target.size}`,
        image: { name: result.name, digest: result.target.digest, mediaType: result.target.mediaType, size: result.target.size, configDigest: '', chainId: '' },
      });
    }),

    Login: unary(async (call) => {
      const r = call.request;
      if (!r.server) throw invalidArgument('server: must not be empty (a registry host, e.g. docker.io or 127.0.0.1:5000)');
      // the registry's answer (PermissionDenied "…: unauthorized: incorrect username or password") goes back as it is
      const res = await deps.registry.login(r.server, credentialsOf(r.auth), { hostsDir: config.hostsDir, userAgent: USER_AGENT });
      return { status: 'Login Succeeded', identityToken: res.identityToken ?? '' };
    }),
  };
}

function readConfig(ctx: PluginContext): BerthImagesConfig {
  const c = ctx.config;
  for (const k of Object.keys(c)) if (!(k in (berthImagesPlugin.defaults ?? {}))) throw new Error(`${k}: unknown key (known: ${Object.keys(berthImagesPlugin.defaults ?? {}).join(', ')})`);
  const positive = (key: string): number => {
    const v = c[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new Error(`${key}: expected a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const hostsDir = c.hosts_dir;
  if (typeof hostsDir !== 'string' || !isAbsolute(hostsDir)) throw new Error(`hosts_dir: expected an absolute path, got ${JSON.stringify(hostsDir)}`);
  const chunk = c.upload_chunk_size;
  if (typeof chunk !== 'number' || !Number.isSafeInteger(chunk) || chunk < 0) throw new Error(`upload_chunk_size: expected a non-negative integer, got ${JSON.stringify(chunk)}`);
  if (typeof c.staged_unpack !== 'boolean') throw new Error(`staged_unpack: expected true or false, got ${JSON.stringify(c.staged_unpack)}`);
  return {
    hostsDir,
    maxConcurrentDownloads: positive('max_concurrent_downloads'),
    maxConcurrentUploads: positive('max_concurrent_uploads'),
    uploadChunkSize: chunk,
    leaseExpirySeconds: positive('lease_expiry_seconds'),
    stagedUnpack: c.staged_unpack,
  };
}

export const DEFAULT_REGISTRY_API: RegistryApi = {
  resolver: (opts) => createResolver(opts),
  login: (server, credentials, opts) =>
    login(server, { ...(credentials ? { credentials } : {}), ...(opts.hostsDir ? { hostsDir: opts.hostsDir } : {}), ...(opts.userAgent ? { userAgent: opts.userAgent } : {}) }),
};

export const berthImagesPlugin: Plugin<BerthImagesDeps> = {
  type: 'io.containerd.grpc.v1',
  id: 'berth-images',
  requires: [METADATA_PLUGIN, SNAPSHOTTER_PLUGIN, EVENTS_PLUGIN],
  defaults: {
    hosts_dir: '/etc/berth/certs.d',
    max_concurrent_downloads: 3,
    max_concurrent_uploads: 3,
    upload_chunk_size: 0,
    lease_expiry_seconds: 86400,
    staged_unpack: true,
  },
  async init(ctx) {
    const config = readConfig(ctx);
    ctx.exports.hosts_dir = config.hostsDir;
    const publish = publisherOf(ctx);
    const md = ctx.get<Metadata>(METADATA_PLUGIN);
    const snapshotters = namespacedSnapshotters(ctx);
    // pulls that were running when berthd died: their half-applied layers go (the rest stays leased for a retry)
    const removed = await removeInterruptedUnpacks(md, (ns, name) => (snapshotters.names().includes(name) ? snapshotters.get(ns, name) : undefined));
    for (const r of removed) ctx.log.info(r, 'removed the active snapshot of an interrupted pull');
    return {
      md,
      snapshotters,
      config,
      registry: DEFAULT_REGISTRY_API,
      ...(publish ? { publish } : {}),
      log: ctx.log,
    };
  },
  register(server, deps) {
    addService(server, BERTH_IMAGES, berthImagesService(deps));
  },
};
