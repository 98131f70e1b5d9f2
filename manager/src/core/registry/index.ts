// The registry client (core/registry): a Resolver over the OCI distribution spec, as
// types.ts promises it to the pull and push pipelines. Hosts config (hosts.ts), transport
// (transport.ts), auth (auth.ts, www-authenticate.ts), one request done right (client.ts),
// and the three roles: resolve.ts, fetcher.ts, pusher.ts. login.ts checks credentials.

import { RegistryClient, DEFAULT_CLIENT_OPTIONS, type ClientOptions } from './client';
import { RegistryFetcher } from './fetcher';
import { hostsFor, type RegistryHost } from './hosts';
import { RegistryPusher } from './pusher';
import { repository } from './repository';
import { resolveReference } from './resolve';
import type { Fetcher, Pusher, Resolved, Resolver, ResolverOptions } from './types';
import type { Timeouts } from './transport';

export * from './types';
export { login, type LoginOptions, type LoginResult } from './login';
export { hostsFor, parseHostsToml, isLoopback, type RegistryHost, type Capability } from './hosts';
export { parseWwwAuthenticate, type Challenge } from './www-authenticate';
export { closeIdleConnections } from './transport';
export { describeErrorBody } from './errors';

/** Knobs beyond the contract's options, for tests and berthd's config. */
export interface ResolverTuning {
  /** Backoff of the first retry in ms (default 250; doubles, with jitter, capped at 10 s). */
  retryBaseMs?: number;
  timeouts?: Timeouts;
}

/**
 * A Resolver. Hosts config is read once per resolver (create one per pull or push, or keep
 * one: connections and tokens are pooled per process either way).
 */
export function createResolver(options: ResolverOptions & ResolverTuning = {}): Resolver {
  const opts: ClientOptions = {
    ...DEFAULT_CLIENT_OPTIONS,
    userAgent: options.userAgent ?? DEFAULT_CLIENT_OPTIONS.userAgent,
    retries: Math.max(1, options.retries ?? DEFAULT_CLIENT_OPTIONS.retries),
    retryBaseMs: options.retryBaseMs ?? DEFAULT_CLIENT_OPTIONS.retryBaseMs,
    timeouts: options.timeouts ?? DEFAULT_CLIENT_OPTIONS.timeouts,
    credentials: options.credentials,
    onRetry: options.onRetry,
    hostsDir: options.hostsDir,
  };
  const client = new RegistryClient(opts);
  const hostsCache = new Map<string, Promise<RegistryHost[]>>();
  const hostsOf = (registry: string) => {
    let p = hostsCache.get(registry);
    if (!p) {
      p = hostsFor(registry, options.hostsDir);
      p.catch(() => hostsCache.delete(registry));
      hostsCache.set(registry, p);
    }
    return p;
  };
  // Manifests read by resolve(), handed to fetchBytes() without asking again.
  const manifests = new Map<string, Buffer>();
  return {
    resolve: (reference: string): Promise<Resolved> => resolveReference(repository(reference, client, hostsOf), manifests),
    fetcher: (reference: string): Fetcher => new RegistryFetcher(repository(reference, client, hostsOf), manifests),
    pusher: (reference: string): Pusher => new RegistryPusher(repository(reference, client, hostsOf)),
  };
}
