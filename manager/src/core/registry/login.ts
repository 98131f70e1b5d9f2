// `berth login`'s check, the way Docker's login does it: GET the registry's /v2/; a 401
// challenge is answered — Basic with the password, or a fresh token from the bearer realm
// (where a wrong password shows; a refresh token is asked for, to keep instead of the
// password) — and /v2/ must then answer 200. The server is asked, never a mirror.

import { permissionDenied } from '../errors';
import { loginToken } from './auth';
import { DEFAULT_CLIENT_OPTIONS, RegistryClient, type ClientOptions } from './client';
import { hostsFor, type RegistryHost } from './hosts';
import type { Credentials } from './types';
import { findChallenge, parseWwwAuthenticate } from './www-authenticate';

export interface LoginOptions extends Partial<Omit<ClientOptions, 'credentials'>> {
  credentials?: Credentials;
  hostsDir?: string;
}

export interface LoginResult {
  /** A refresh token from the realm (docker's config.json "identitytoken"), when it gave one. */
  identityToken?: string;
}

/**
 * Resolves when `registry` ("127.0.0.1:5000", "docker.io") accepts the credentials (or needs
 * none); PermissionDenied "…: unauthorized: incorrect username or password" when it does not.
 */
export async function login(registry: string, opts: LoginOptions = {}): Promise<LoginResult> {
  const credentials = opts.credentials;
  const client = new RegistryClient({ ...DEFAULT_CLIENT_OPTIONS, ...opts, credentials: () => credentials });
  const hosts = await hostsFor(registry, opts.hostsDir);
  const host: RegistryHost = hosts.filter((h) => !h.mirror).pop() ?? hosts[hosts.length - 1]!;
  const refused = (detail: string) =>
    permissionDenied(`${registry}: unauthorized: ${credentials ? 'incorrect username or password' : 'authentication required'}${detail ? ` (${detail})` : ''}`);

  // First as a stranger: does the registry want auth at all, and which?
  const ping = await client.request(host, { method: 'GET', path: '/', scopes: [], anonymous: true });
  ping.body.resume();
  if (ping.status === 200) return {};
  if (ping.status !== 401) throw permissionDenied(`${registry}: login: GET ${ping.url.href}: ${ping.status}${ping.detail ? `: ${ping.detail}` : ''}`);
  if (!credentials) throw refused(ping.detail);

  let identityToken: string | undefined;
  const bearer = findChallenge(parseWwwAuthenticate(ping.headers['www-authenticate']), 'bearer');
  if (bearer && credentials.username !== undefined && !credentials.identityToken && !credentials.registryToken) {
    // A wrong password fails here, at the realm.
    const t = await loginToken({ host: host.host, credentials, scopes: [], tls: await client.tlsFor(host) }, bearer, client.authOptions());
    identityToken = t.refreshToken;
  }
  const res = await client.request(host, { method: 'GET', path: '/', scopes: [] });
  res.body.resume();
  if (res.status === 200) return identityToken ? { identityToken } : {};
  if (res.status === 401 || res.status === 403) throw refused(res.detail);
  throw permissionDenied(`${registry}: login: GET ${res.url.href}: ${res.status}${res.detail ? `: ${res.detail}` : ''}`);
}
