// The registry client's contract (core/registry): what the pull and push pipelines
// (core/pull, core/push) and berthd's berth.images.v1 service use. The implementation
// speaks the OCI distribution spec over HTTP(S): hosts config (containerd's
// certs.d/<host>/hosts.toml), TLS, auth challenges, retries; callers see descriptors and
// byte streams only.

import type { Readable } from 'node:stream';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
}

/** Credentials for one registry host (berth.images.v1.Auth). */
export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token, used with the token endpoint's POST form. */
  identityToken?: string;
  /** A bearer token sent as it is. */
  registryToken?: string;
}

/** Credentials for a host ("127.0.0.1:5000", "docker.io"), or undefined for anonymous. */
export type CredentialsFor = (host: string) => Credentials | undefined;

export interface ResolverOptions {
  /** containerd's config_path: <dir>/<host>/hosts.toml, <dir>/_default/hosts.toml. Optional. */
  hostsDir?: string;
  credentials?: CredentialsFor;
  userAgent?: string;
  /** Attempts per request on 5xx, 429 and connection errors (default 5), with backoff. */
  retries?: number;
  /** Called on every retry, for progress lines and logs. */
  onRetry?: (what: string, attempt: number, err: Error, delayMs: number) => void;
}

export interface Resolved {
  /** The normalized reference ("docker.io/library/busybox:latest", or "…@sha256:…"). */
  name: string;
  /** The manifest or index the reference points at (digest verified if the reference pins one). */
  desc: Descriptor;
}

export interface Resolver {
  /** HEAD (falling back to GET) of the manifest with every manifest media type accepted. */
  resolve(reference: string): Promise<Resolved>;
  fetcher(reference: string): Fetcher;
  pusher(reference: string): Pusher;
}

export interface FetchedStream {
  /** The body: bytes from `offset` on. */
  stream: Readable;
  /** Where the stream starts: the offset asked for if the registry honoured the Range, else 0. */
  offset: number;
}

export interface Fetcher {
  /**
   * A manifest, index or blob by descriptor (manifests from /manifests/<digest>, the rest from
   * /blobs/<digest>, trying each host of the hosts config with the pull capability in order).
   * With offset > 0, asks for a Range; check FetchedStream.offset for what was given.
   * The caller verifies the digest of what it reads.
   */
  fetch(desc: Descriptor, opts?: { offset?: number; signal?: AbortSignal }): Promise<FetchedStream>;
  /** fetch() of a small document (manifest, index, config) read whole, digest and size verified. */
  fetchBytes(desc: Descriptor, opts?: { signal?: AbortSignal; maxBytes?: number }): Promise<Buffer>;
}

export interface Pusher {
  /** HEAD /blobs/<digest>: true when the repository has it. */
  exists(desc: Descriptor): Promise<boolean>;
  /** Cross-repository mount from `fromRepository` (a path in the same registry); true when mounted. */
  mount(desc: Descriptor, fromRepository: string): Promise<boolean>;
  /**
   * Uploads a blob: POST then a single PUT (monolithic), or PATCH chunks then PUT when
   * `chunkSize` is given; `body(offset)` opens the blob's bytes from offset (for resuming an
   * upload the registry reports partially received). Progress: bytes sent so far.
   */
  upload(desc: Descriptor, body: (offset: number) => Promise<Readable>, opts?: { chunkSize?: number; onProgress?: (sent: number) => void; signal?: AbortSignal }): Promise<void>;
  /** PUT /manifests/<tag or digest>: the manifest bytes under their media type. */
  putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void>;
}
