// Registry auth as Docker and containerd do it: a request goes out anonymously until the
// host answers 401 with its challenges (remembered per host for the life of the process);
// then Basic with the host's credentials, or a Bearer token from the challenge's realm for the
// request's scopes ("repository:NAME:pull[,push]"). Tokens are cached per realm, service,
// scopes and credentials until shortly before they expire, shared by concurrent requests
// (one token request for a pull's parallel layer downloads), and dropped when a registry
// rejects one.

import { createHash } from 'node:crypto';
import { permissionDenied, unavailable } from '../errors';
import type { Credentials } from './types';
import { describeErrorBody } from './errors';
import { backoffMs, drain, isRetryableError, isRetryableStatus, readBody, send, sleep, type HttpResponse, type Timeouts, type TlsSettings } from './transport';
import { findChallenge, parseWwwAuthenticate, type Challenge } from './www-authenticate';

/** Tokens valid for less are taken as valid this long (the distribution spec's minimum). */
const MIN_TOKEN_SECONDS = 60;
/** A token is not used in its last seconds: a request must not start with one about to expire. */
const EXPIRY_MARGIN_MS = 10_000;

/** Challenges seen per registry host ("127.0.0.1:5000"): a host that wanted auth once gets it up front. */
const challengesByHost = new Map<string, Challenge[]>();

interface CachedToken {
  token: string;
  expiresAt: number;
  /** An OAuth2 refresh token, when asked for (login) and given. */
  refreshToken?: string;
}
const tokens = new Map<string, CachedToken>();
const inFlight = new Map<string, Promise<CachedToken>>();

export interface AuthRequest {
  /** The registry host contacted (host[:port]). */
  host: string;
  credentials?: Credentials;
  scopes: string[];
  /** TLS settings for a realm on the same host (or on loopback, like the registry). */
  tls?: TlsSettings;
  signal?: AbortSignal;
}

export interface AuthOptions {
  userAgent: string;
  timeouts: Timeouts;
  retries: number;
  retryBaseMs: number;
  onRetry?: (what: string, attempt: number, err: Error, delayMs: number) => void;
}

/** "repository:library/busybox:pull" */
export const repositoryScope = (path: string, actions: Array<'pull' | 'push'>): string => `repository:${path}:${actions.join(',')}`;

/** The Authorization header for a request, or undefined (anonymous, or the host's scheme is not known yet). */
export async function authorization(req: AuthRequest, opts: AuthOptions): Promise<string | undefined> {
  const creds = req.credentials;
  if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
  const challenges = challengesByHost.get(req.host);
  if (!challenges) return undefined;
  const bearer = findChallenge(challenges, 'bearer');
  if (bearer) return `Bearer ${(await token(req, bearer, opts)).token}`;
  if (findChallenge(challenges, 'basic') && creds?.username !== undefined) return basic(creds);
  return undefined;
}

export interface Unauthorized {
  /** Another attempt may succeed (a challenge we can answer now). */
  retry: boolean;
  /** Scopes the registry asked for beyond ours (error="insufficient_scope"). */
  extraScopes: string[];
}

/**
 * After a 401: remembers the host's challenges and forgets the token that was refused. The
 * caller retries once when `retry` says so, and reports PermissionDenied after that.
 */
export function unauthorized(req: AuthRequest, wwwAuthenticate: string | string[] | undefined, sent: string | undefined): Unauthorized {
  const challenges = parseWwwAuthenticate(wwwAuthenticate);
  if (challenges.length === 0) return { retry: false, extraScopes: [] };
  challengesByHost.set(req.host, challenges);
  const bearer = findChallenge(challenges, 'bearer');
  if (bearer) {
    if (sent?.startsWith('Bearer ')) {
      const refused = sent.slice('Bearer '.length);
      for (const [k, v] of tokens) if (v.token === refused) tokens.delete(k);
      if (req.credentials?.registryToken) return { retry: false, extraScopes: [] };
    }
    const wanted = (bearer.params.scope ?? '').split(' ').filter((s) => s && !req.scopes.includes(s));
    return { retry: true, extraScopes: bearer.params.error === 'insufficient_scope' ? wanted : [] };
  }
  if (findChallenge(challenges, 'basic')) {
    return { retry: req.credentials?.username !== undefined && !sent?.startsWith('Basic '), extraScopes: [] };
  }
  return { retry: false, extraScopes: [] };
}

function basic(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64')}`;
}

function credentialKey(creds: Credentials | undefined): string {
  if (!creds) return 'anonymous';
  return createHash('sha256').update(JSON.stringify([creds.username ?? '', creds.password ?? '', creds.identityToken ?? ''])).digest('hex');
}

/** A cached token for the request's scopes, or a new one (one request at a time per key). */
async function token(req: AuthRequest, challenge: Challenge, opts: AuthOptions): Promise<CachedToken> {
  const scopes = [...new Set(req.scopes)].sort();
  const key = [challenge.params.realm ?? '', challenge.params.service ?? '', scopes.join(' '), credentialKey(req.credentials)].join('\n');
  const cached = tokens.get(key);
  if (cached && cached.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return cached;
  let pending = inFlight.get(key);
  if (!pending) {
    pending = fetchToken(req, challenge, scopes, opts).then(
      (t) => {
        tokens.set(key, t);
        inFlight.delete(key);
        return t;
      },
      (err) => {
        inFlight.delete(key);
        throw err;
      },
    );
    inFlight.set(key, pending);
  }
  return pending;
}

/**
 * A token from the realm: GET with Basic credentials (or anonymous), or — with an identity
 * (refresh) token — the OAuth2 POST form with grant_type=refresh_token.
 */
async function fetchToken(req: AuthRequest, challenge: Challenge, scopes: string[], opts: AuthOptions, offline = false): Promise<CachedToken> {
  const realmText = challenge.params.realm;
  if (!realmText) throw unavailable(`${req.host}: bearer challenge without a realm`);
  let realm: URL;
  try {
    realm = new URL(realmText);
  } catch {
    throw unavailable(`${req.host}: bearer challenge with a bad realm ${JSON.stringify(realmText)}`);
  }
  const creds = req.credentials;
  const service = challenge.params.service;
  const headers: Record<string, string> = { 'user-agent': opts.userAgent, accept: 'application/json' };
  let method = 'GET';
  let body: Buffer | undefined;
  let url = new URL(realm);
  if (creds?.identityToken) {
    method = 'POST';
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'berth' });
    if (service) form.set('service', service);
    if (scopes.length) form.set('scope', scopes.join(' '));
    body = Buffer.from(form.toString());
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else {
    if (service) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    if (creds?.username !== undefined) headers.authorization = basic(creds);
    if (offline && creds?.username !== undefined) {
      // Docker's login asks for a refresh token too: what `berth login` may keep instead of the password.
      url.searchParams.set('offline_token', 'true');
      url.searchParams.set('client_id', 'berth');
    }
  }
  // The realm sees the registry's TLS settings only when it is the registry's host or loopback.
  const sameTrust = realm.host === req.host || ['127.0.0.1', 'localhost', '[::1]'].includes(realm.hostname);
  const what = `fetching a token from ${realm.origin}${realm.pathname}`;
  for (let attempt = 0; ; attempt++) {
    let res: HttpResponse;
    try {
      res = await send({ method, url, headers, body, tls: sameTrust ? req.tls : undefined, signal: req.signal, timeouts: opts.timeouts });
    } catch (err) {
      if (isRetryableError(err) && attempt + 1 < opts.retries) {
        const delay = backoffMs(attempt, opts.retryBaseMs);
        opts.onRetry?.(what, attempt + 1, err as Error, delay);
        await sleep(delay, req.signal);
        continue;
      }
      throw unavailable(`${what}: ${(err as Error).message}`);
    }
    if (isRetryableStatus(res.status) && attempt + 1 < opts.retries) {
      drain(res);
      const delay = backoffMs(attempt, opts.retryBaseMs, res.headers['retry-after']);
      opts.onRetry?.(what, attempt + 1, new Error(`status ${res.status}`), delay);
      await sleep(delay, req.signal);
      continue;
    }
    const text = await readBody(res, 1 << 20);
    if (res.status === 401 || res.status === 403) {
      const detail = describeErrorBody(text);
      throw permissionDenied(
        creds?.username !== undefined || creds?.identityToken
          ? `${req.host}: unauthorized: incorrect username or password${detail ? ` (${detail})` : ''}`
          : `${req.host}: unauthorized: authentication required${detail ? ` (${detail})` : ''}`,
      );
    }
    if (res.status !== 200) throw unavailable(`${what}: ${res.status}${text.length ? `: ${describeErrorBody(text)}` : ''}`);
    let doc: { token?: string; access_token?: string; expires_in?: number; issued_at?: string; refresh_token?: string };
    try {
      doc = JSON.parse(text.toString());
    } catch {
      throw unavailable(`${what}: the answer is not JSON`);
    }
    const value = doc.token || doc.access_token;
    if (!value) throw unavailable(`${what}: the answer has no token`);
    const seconds = Math.max(typeof doc.expires_in === 'number' ? doc.expires_in : MIN_TOKEN_SECONDS, MIN_TOKEN_SECONDS);
    const issued = doc.issued_at ? Date.parse(doc.issued_at) : NaN;
    // Trust the server's issue time only when the clocks roughly agree.
    const start = Number.isFinite(issued) && Math.abs(issued - Date.now()) < 60_000 ? issued : Date.now();
    return { token: value, expiresAt: start + seconds * 1000, ...(typeof doc.refresh_token === 'string' && doc.refresh_token ? { refreshToken: doc.refresh_token } : {}) };
  }
}

/**
 * `berth login`'s check: a fresh token (never a cached one) for these credentials, no
 * repository scope; with the refresh token the realm hands out for them, if any.
 */
export async function loginToken(req: AuthRequest, challenge: Challenge, opts: AuthOptions): Promise<{ token: string; refreshToken?: string }> {
  const t = await fetchToken(req, challenge, [], opts, true);
  return { token: t.token, ...(t.refreshToken ? { refreshToken: t.refreshToken } : {}) };
}
