// One registry request, done properly: the host's TLS settings (CA and client files read
// once), Docker's insecure fallback for loopback registries (HTTPS unverified, then plain HTTP,
// remembered per host), auth (authorize, learn from a 401, retry once), and retries with
// backoff on 5xx, 429 and connection errors for requests whose body can be sent again.
// Answers that are not success come back with their error text read (`detail`); the caller
// decides what they mean.

import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { failedPrecondition, invalidArgument, unavailable } from '../errors';
import { authorization, unauthorized, type AuthOptions } from './auth';
import { describeErrorBody } from './errors';
import { hostBase, type RegistryHost } from './hosts';
import {
  backoffMs, DEFAULT_TIMEOUTS, drain, isNotTls, isRetryableError, isRetryableStatus, isTlsTrustError, readBody, send, sleep,
  type HttpResponse, type Timeouts, type TlsSettings,
} from './transport';
import type { CredentialsFor } from './types';

export interface ClientOptions {
  credentials?: CredentialsFor;
  userAgent: string;
  /** Attempts per request (>= 1). */
  retries: number;
  /** Backoff of the first retry; doubles each time, with jitter, capped at 10 s. */
  retryBaseMs: number;
  timeouts: Timeouts;
  onRetry?: (what: string, attempt: number, err: Error, delayMs: number) => void;
  /** For error messages that say where to configure a host. */
  hostsDir?: string;
}

export const DEFAULT_CLIENT_OPTIONS: ClientOptions = {
  userAgent: 'berth/0.1',
  retries: 5,
  retryBaseMs: 250,
  timeouts: DEFAULT_TIMEOUTS,
};

export interface RegistryRequest {
  method: string;
  /** A path under the host's API root ("/library/busybox/manifests/latest"), or `url`. */
  path?: string;
  /** An absolute URL the registry handed out (an upload's Location). */
  url?: URL;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** A Buffer may be sent again; a stream (opened by the function) only once. */
  body?: Buffer | (() => Readable);
  /** Token scopes ("repository:NAME:pull"). */
  scopes: string[];
  signal?: AbortSignal;
  /** No Authorization and no answering of a 401: what the registry says to a stranger (login's ping). */
  anonymous?: boolean;
}

export interface RegistryResponse extends HttpResponse {
  /** For answers outside 2xx: the registry's error text ("manifest unknown: …"); the body is consumed. */
  detail: string;
}

/** Per host: plain HTTP after an insecure host turned out not to speak TLS. */
const plainHttpHosts = new Set<string>();

export class RegistryClient {
  private readonly tlsCache = new Map<RegistryHost, Promise<TlsSettings>>();

  constructor(readonly opts: ClientOptions) {}

  authOptions(): AuthOptions {
    return { userAgent: this.opts.userAgent, timeouts: this.opts.timeouts, retries: this.opts.retries, retryBaseMs: this.opts.retryBaseMs, onRetry: this.opts.onRetry };
  }

  /** The scheme to use now: an insecure host that answered plain HTTP stays on it. */
  schemeOf(host: RegistryHost): 'http' | 'https' {
    return host.insecure && plainHttpHosts.has(host.host) ? 'http' : host.scheme;
  }

  /** scheme://host/v2-root of a host, as requests go to it now. */
  baseUrl(host: RegistryHost): string {
    return hostBase({ ...host, scheme: this.schemeOf(host) });
  }

  /** The host's TLS settings, files read once per resolver. */
  tlsFor(host: RegistryHost): Promise<TlsSettings> {
    let p = this.tlsCache.get(host);
    if (!p) {
      p = loadTls(host);
      this.tlsCache.set(host, p);
    }
    return p;
  }

  async request(host: RegistryHost, req: RegistryRequest): Promise<RegistryResponse> {
    const tls = await this.tlsFor(host);
    const creds = this.opts.credentials?.(credentialHost(host.host));
    const replayable = typeof req.body !== 'function';
    let extraScopes: string[] = [];
    let authRetried = false;
    for (let attempt = 0; ; ) {
      const scheme = this.schemeOf(host);
      const url = req.url ? new URL(req.url) : new URL(`${this.baseUrl(host)}${req.path ?? ''}`);
      if (req.url && scheme === 'http' && url.host === host.host) url.protocol = 'http:';
      for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
      const headers: Record<string, string | string[]> = { ...host.headers, 'user-agent': this.opts.userAgent, ...req.headers };
      const authReq = { host: host.host, credentials: creds, scopes: [...req.scopes, ...extraScopes], tls, signal: req.signal };
      const auth = req.anonymous ? undefined : await authorization(authReq, this.authOptions());
      if (auth) headers.authorization = auth;
      const what = `${req.method} ${url.href}`;
      let res: HttpResponse;
      try {
        res = await send({
          method: req.method,
          url,
          headers,
          body: typeof req.body === 'function' ? req.body() : req.body,
          tls: url.protocol === 'https:' ? { ...tls, skipVerify: tls.skipVerify || host.insecure } : undefined,
          signal: req.signal,
          timeouts: this.opts.timeouts,
        });
      } catch (err) {
        if (host.insecure && url.protocol === 'https:' && isNotTls(err) && replayable) {
          // Docker's insecure registry: no TLS there, so plain HTTP from now on.
          plainHttpHosts.add(host.host);
          continue;
        }
        if (isRetryableError(err) && replayable && attempt + 1 < this.opts.retries) {
          const delay = backoffMs(attempt, this.opts.retryBaseMs);
          attempt++; // (not inside the optional call below: it would be skipped without onRetry)
          this.opts.onRetry?.(what, attempt, err as Error, delay);
          await sleep(delay, req.signal);
          continue;
        }
        throw this.connectionError(err, req.method, url, host);
      }
      if (res.status === 401 && !authRetried && !req.anonymous) {
        const u = unauthorized(authReq, res.headers['www-authenticate'], auth);
        if (u.retry && replayable) {
          drain(res);
          authRetried = true;
          extraScopes = u.extraScopes;
          continue;
        }
      }
      if (isRetryableStatus(res.status) && replayable && attempt + 1 < this.opts.retries) {
        drain(res);
        const delay = backoffMs(attempt, this.opts.retryBaseMs, res.headers['retry-after']);
        attempt++;
        this.opts.onRetry?.(what, attempt, new Error(`${res.status} from the registry`), delay);
        await sleep(delay, req.signal);
        continue;
      }
      if (res.status >= 200 && res.status < 300) return { ...res, detail: '' };
      let detail = '';
      try {
        detail = req.method === 'HEAD' ? '' : describeErrorBody(await readBody(res, 64 << 10));
      } catch {
        // the error text is a nicety
      }
      return { ...res, detail };
    }
  }

  private connectionError(err: unknown, method: string, url: URL, host: RegistryHost): Error {
    const e = err as NodeJS.ErrnoException;
    if (e?.name === 'AbortError') return e;
    if (isTlsTrustError(err)) {
      const where = this.opts.hostsDir ? `${this.opts.hostsDir}/${host.host}/hosts.toml` : 'the host\'s hosts.toml';
      return failedPrecondition(`${method} ${url.href}: TLS certificate of ${url.host} not trusted (${e.code}: ${e.message}): set its CA with ca = "…" (or skip_verify = true) in ${where}`);
    }
    // OpenSSL's alert text is unreadable; a server's alert about certificates means ours.
    const alert = /alert (bad certificate|certificate required|unknown ca|certificate unknown)/i.exec(e?.message ?? '');
    if (alert) {
      const where = this.opts.hostsDir ? `${this.opts.hostsDir}/${host.host}/hosts.toml` : 'the host\'s hosts.toml';
      return unavailable(`${method} ${url.href}: ${url.host} refused the TLS handshake (${alert[1]!.toLowerCase()}): it wants a client certificate it trusts: set client = [["cert", "key"]] in ${where}`);
    }
    return unavailable(`${method} ${url.href}: ${e?.message ?? String(err)}`);
  }
}

/** Credentials are looked up by registry name: Docker Hub's API host is "docker.io". */
function credentialHost(host: string): string {
  return host === 'registry-1.docker.io' || host === 'index.docker.io' ? 'docker.io' : host;
}

async function loadTls(host: RegistryHost): Promise<TlsSettings> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw invalidArgument(`${host.host}: cannot read ${what} ${file}: ${(err as Error).message}`);
    }
  };
  const ca = await Promise.all(host.caFiles.map((f) => read(f, 'CA file')));
  const cert: Buffer[] = [];
  const key: Buffer[] = [];
  for (const [c, k] of host.clientPairs) {
    const certPem = await read(c, 'client certificate');
    cert.push(certPem);
    key.push(k ? await read(k, 'client key') : certPem);
  }
  return { ca, cert, key, skipVerify: host.skipVerify };
}
