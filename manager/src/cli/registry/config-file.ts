// The client's credentials file, in Docker's config.json shape, so a file copied from
// ~/.docker works and the other way round:
//
//   { "auths": { "127.0.0.1:5000": { "auth": "<base64 user:password>" },
//                "https://index.docker.io/v1/": { "auth": "…", "identitytoken": "…" } } }
//
// Where: $BERTH_CONFIG/config.json, else ~/.berth/config.json. The directory is made 0700 and
// the file is written 0600 (a new file renamed over the old one, so no reader ever sees half
// of it and the mode is right from the first byte). Keys other than "auths" are kept as they
// are. berthd never sees this file: the client sends the credentials of one registry with
// each request that needs them.
//
// Keys: Docker writes Docker Hub as "https://index.docker.io/v1/" and others as host[:port];
// older files have "https://host/v2/" or "http://host". Reading accepts all of them (a key is
// reduced to its host, Docker Hub's aliases to docker.io); writing uses Docker's forms.

import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CliError } from '../errors';

export const CONFIG_ENV = 'BERTH_CONFIG';
export const DOCKER_HUB = 'docker.io';
/** Docker Hub's key in Docker's config.json (registry.IndexServer). */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export interface AuthEntry {
  /** base64 of "user:password". */
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  [key: string]: unknown;
}

export interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  [key: string]: unknown;
}

export interface StoredCredentials {
  username: string;
  password: string;
  identityToken: string;
}

/** The config directory: $BERTH_CONFIG, else ~/.berth ($HOME first, as Docker's homedir does). */
export function configDir(env: Record<string, string | undefined>): string {
  const dir = env[CONFIG_ENV];
  if (dir) return dir;
  return path.join(env.HOME || homedir(), '.berth');
}

export const configPath = (env: Record<string, string | undefined>): string => path.join(configDir(env), 'config.json');

/**
 * The registry host a server argument or a config key names: the scheme and any path dropped,
 * Docker Hub's names made "docker.io". ("https://127.0.0.1:5000/v2/" → "127.0.0.1:5000".)
 */
export function registryHost(server: string): string {
  let s = server.trim();
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  s = s.split('/')[0]!.toLowerCase();
  return HUB_ALIASES.has(s) ? DOCKER_HUB : s;
}

/** The key Docker would write for a host. */
export const configKey = (host: string): string => (registryHost(host) === DOCKER_HUB ? DOCKER_HUB_KEY : registryHost(host));

/** Reads the file; a missing file is an empty config. A file that is not JSON fails naming it. */
export async function readConfig(file: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`reading ${file}: ${(err as Error).message}`);
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CliError(`${file}: expected a JSON object`);
  const config = parsed as ConfigFile;
  if (config.auths !== undefined && (typeof config.auths !== 'object' || config.auths === null || Array.isArray(config.auths))) {
    throw new CliError(`${file}: "auths" must be an object`);
  }
  return config;
}

/** Writes the file 0600 in a 0700 directory, atomically (a temp file renamed over it). */
export async function writeConfig(file: string, config: ConfigFile): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(config, null, '\t')}\n`);
    // the umask may have taken bits away, never added: but a file some tool made 0644 before
    // us is replaced, and the new one must be 0600 whatever the umask
    await fh.chmod(0o600);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await rename(tmp, file);
}

/** Decodes an entry: "auth" (base64 user:password) or the separate fields. */
export function decodeEntry(entry: AuthEntry, where: string): StoredCredentials {
  let username = typeof entry.username === 'string' ? entry.username : '';
  let password = typeof entry.password === 'string' ? entry.password : '';
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new CliError(`${where}: invalid auth configuration (no ':' in the decoded "auth")`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  return { username, password, identityToken: typeof entry.identitytoken === 'string' ? entry.identitytoken : '' };
}

/** The keys of `auths` that name `host` (any of the accepted forms). */
export function keysFor(config: ConfigFile, host: string): string[] {
  const want = registryHost(host);
  return Object.keys(config.auths ?? {}).filter((k) => registryHost(k) === want);
}

/** The credentials stored for a registry host, or undefined. Docker's own key form wins. */
export function findCredentials(config: ConfigFile, host: string, file = 'config.json'): StoredCredentials | undefined {
  const keys = keysFor(config, host).sort((a, b) => Number(b === configKey(host)) - Number(a === configKey(host)));
  const key = keys[0];
  if (key === undefined) return undefined;
  return decodeEntry(config.auths![key]!, `${file}: auths[${JSON.stringify(key)}]`);
}

/** Stores credentials for a host under Docker's key, replacing every other form of it. */
export function setCredentials(config: ConfigFile, host: string, creds: StoredCredentials): ConfigFile {
  const auths = { ...(config.auths ?? {}) };
  for (const k of keysFor(config, host)) delete auths[k];
  // With a refresh token Docker keeps the user name and drops the password.
  const password = creds.identityToken ? '' : creds.password;
  auths[configKey(host)] = {
    auth: Buffer.from(`${creds.username}:${password}`).toString('base64'),
    ...(creds.identityToken ? { identitytoken: creds.identityToken } : {}),
  };
  return { ...config, auths };
}

/** Removes every entry for a host; returns the config and whether there was one. */
export function removeCredentials(config: ConfigFile, host: string): { config: ConfigFile; removed: boolean } {
  const keys = keysFor(config, host);
  if (keys.length === 0) return { config, removed: false };
  const auths = { ...(config.auths ?? {}) };
  for (const k of keys) delete auths[k];
  return { config: { ...config, auths }, removed: true };
}
