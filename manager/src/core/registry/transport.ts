// HTTP(S) for the registry client: keep-alive agents per TLS setting (shared by every resolver
// in the process, so a pull's parallel layer downloads reuse connections), connect and idle
// timeouts, redirects, and the classification of errors into "retry", "fall back to plain
// HTTP" and "give up". Knows nothing about registries or auth.

import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';

export interface TlsSettings {
  /** PEM CAs trusted in addition to the system's. */
  ca?: Buffer[];
  /** Client certificates and keys (PEM). */
  cert?: Buffer[];
  key?: Buffer[];
  /** Do not verify the server's certificate (hosts.toml skip_verify, insecure loopback registries). */
  skipVerify?: boolean;
}

export interface Timeouts {
  /** TCP connect plus TLS handshake. */
  connectMs: number;
  /** No byte sent or received for this long, before or after the response headers. */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 30_000, idleMs: 60_000 };

export interface HttpRequest {
  method: string;
  url: URL;
  headers: Record<string, string | string[]>;
  /** A Buffer can be sent again (retries, redirects); a stream only once. */
  body?: Buffer | Readable;
  tls?: TlsSettings;
  signal?: AbortSignal;
  timeouts?: Timeouts;
}

export interface HttpResponse {
  /** The request's method (for messages). */
  method: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  /** The URL that answered (after redirects). */
  url: URL;
}

const agents = new Map<string, http.Agent>();

/** One keep-alive agent per scheme and TLS setting. */
function agentFor(scheme: string, tls: TlsSettings | undefined): http.Agent {
  const h = createHash('sha256');
  h.update(scheme);
  for (const b of [...(tls?.ca ?? []), Buffer.from('|'), ...(tls?.cert ?? []), Buffer.from('|'), ...(tls?.key ?? [])]) h.update(b);
  h.update(tls?.skipVerify ? 'skip' : 'verify');
  const key = h.digest('hex');
  let agent = agents.get(key);
  if (!agent) {
    const common = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 32, maxFreeSockets: 16, scheduling: 'lifo' as const };
    agent =
      scheme === 'https:'
        ? new https.Agent({
            ...common,
            // Node's own CAs plus the configured ones (ca replaces the defaults otherwise).
            ca: tls?.ca?.length ? [...rootCertificates, ...tls.ca.map(String)] : undefined,
            cert: tls?.cert?.length ? tls.cert : undefined,
            key: tls?.key?.length ? tls.key : undefined,
            rejectUnauthorized: !tls?.skipVerify,
          })
        : new http.Agent(common);
    agents.set(key, agent);
  }
  return agent;
}

/** Closes every pooled connection (tests; berthd at shutdown). */
export function closeIdleConnections(): void {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

/** An Error with a Node-style code, so classification treats ours like the system's. */
export function codedError(code: string, message: string): NodeJS.ErrnoException {
  const err = new Error(message) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

/** One request, no redirects. Resolves at the response headers; the body is the caller's to read or drain. */
export function sendOnce(req: HttpRequest): Promise<HttpResponse> {
  const timeouts = req.timeouts ?? DEFAULT_TIMEOUTS;
  return new Promise((resolve, reject) => {
    if (req.signal?.aborted) return reject(abortError(req.signal));
    const mod = req.url.protocol === 'https:' ? https : http;
    const headers: http.OutgoingHttpHeaders = { ...req.headers };
    if (Buffer.isBuffer(req.body)) headers['content-length'] = req.body.length;
    const r = mod.request(req.url, {
      method: req.method,
      headers,
      agent: agentFor(req.url.protocol, req.tls),
      signal: req.signal,
    });
    let connectTimer: NodeJS.Timeout | undefined;
    r.on('socket', (s) => {
      // A pooled socket is already connected; a new one gets connectMs for TCP + TLS.
      const connecting = (s as any).connecting || (s as any).pending;
      if (connecting) {
        connectTimer = setTimeout(() => r.destroy(codedError('ETIMEDOUT', `connect to ${req.url.host} timed out after ${timeouts.connectMs} ms`)), timeouts.connectMs);
        s.once(req.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      }
    });
    r.setTimeout(timeouts.idleMs, () => r.destroy(codedError('ETIMEDOUT', `${req.method} ${req.url.href}: no data for ${timeouts.idleMs} ms`)));
    r.on('error', (err) => {
      clearTimeout(connectTimer);
      reject(err);
    });
    r.on('response', (res) => {
      clearTimeout(connectTimer);
      // The socket's idle timeout keeps guarding the body; a stalled body errors out.
      res.on('error', () => undefined);
      resolve({ method: req.method, status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
    });
    if (req.body === undefined) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      req.body.on('error', (err) => r.destroy(err));
      req.body.pipe(r);
    }
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * sendOnce, following redirects (blob GETs redirect to storage) for bodiless requests. The
 * Authorization header is dropped when the redirect leaves the host, as Go's client does: a
 * storage URL carries its own signature and must not see the registry's token.
 */
export async function send(req: HttpRequest, maxRedirects = 5): Promise<HttpResponse> {
  let current = req;
  for (let hops = 0; ; hops++) {
    const res = await sendOnce(current);
    if (!REDIRECTS.has(res.status) || !res.headers.location || (current.body !== undefined && res.status !== 303)) return res;
    if (hops >= maxRedirects) {
      drain(res);
      throw codedError('ETOOMANYREDIRECTS', `${req.method} ${req.url.href}: more than ${maxRedirects} redirects`);
    }
    drain(res);
    const next = new URL(res.headers.location, current.url);
    const headers = { ...current.headers };
    const sameHost = next.host === current.url.host;
    if (!sameHost) {
      delete headers.authorization;
      delete headers.Authorization;
    }
    current = {
      ...current,
      url: next,
      method: res.status === 303 ? 'GET' : current.method,
      body: res.status === 303 ? undefined : current.body,
      headers,
      // Another host: the system's trust, not the registry's settings.
      tls: sameHost ? current.tls : undefined,
    };
  }
}

/** Reads and discards a body we do not need, so its socket goes back to the pool. */
export function drain(res: HttpResponse): void {
  res.body.resume();
}

/** Reads a whole body, refusing more than maxBytes. */
export async function readBody(res: HttpResponse, maxBytes = 4 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > maxBytes) {
      res.body.destroy();
      throw codedError('EFBIG', `${res.url.href}: response larger than ${maxBytes} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function abortError(signal: AbortSignal): Error {
  const err = codedError('ABORT_ERR', signal.reason instanceof Error ? signal.reason.message : 'aborted');
  err.name = 'AbortError';
  return err;
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'ETRUNCATED',
]);

/** A connection error worth another attempt (never an abort, a TLS trust failure or a refused connection). */
export function isRetryableError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') return false;
  return !!e?.code && RETRYABLE_CODES.has(e.code);
}

/** An HTTP status worth another attempt: 5xx (not 501, which will not change) and 429. */
export const isRetryableStatus = (status: number): boolean => status === 429 || (status >= 500 && status !== 501 && status !== 505);

/**
 * The server does not speak TLS (a plain-HTTP registry asked over HTTPS): the signal for
 * Docker's insecure-registry fallback to http://. Not any EPROTO: a TLS alert (say, a client
 * certificate required) comes from a server that does speak TLS.
 */
export function isNotTls(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return (
    e?.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    e?.code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    /wrong version number|packet length too long|unknown protocol/i.test(e?.message ?? '')
  );
}

const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA',
]);

/** The server's certificate was not trusted: never retried, reported with what to configure. */
export const isTlsTrustError = (err: unknown): boolean => TLS_TRUST_CODES.has((err as NodeJS.ErrnoException)?.code ?? '');

/** Exponential backoff with jitter: attempt 0 → base..2·base, capped. Retry-After (seconds) wins when given and sane. */
export function backoffMs(attempt: number, baseMs: number, retryAfter?: string | string[]): number {
  const ra = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  if (ra && /^\d+$/.test(ra)) return Math.min(Number(ra) * 1000, 30_000);
  const cap = Math.min(baseMs * 2 ** attempt, 10_000);
  return cap / 2 + Math.random() * (cap / 2);
}

/** Sleeps, waking early (rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
