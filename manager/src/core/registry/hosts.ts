// Where a registry's requests go: containerd's hosts directory (config_path), read the way
// containerd 1.6+ reads it, so a certs.d tree written for containerd works here unchanged:
//
//   <hostsDir>/<host>/hosts.toml       (also <host>_<port>_ for "host:port", and
//   <hostsDir>/_default/hosts.toml      the fallback for hosts without a directory)
//
//   server = "https://registry-1.docker.io"        # the upstream, tried last (default: the host)
//   [host."http://127.0.0.1:5000"]                 # mirrors, tried first, in file order
//     capabilities = ["pull", "resolve"]           # default: pull, resolve, push
//     ca = "ca.crt"                                 # or a list; relative to the hosts.toml's dir
//     client = [["client.cert", "client.key"]]     # or "both.pem", or a list of either
//     skip_verify = false
//     override_path = true                         # the URL's path is the API root as it is
//     [host."http://127.0.0.1:5000".header]
//       x-custom = "1"                              # or a list
//
// A directory without hosts.toml is read Docker's way (*.crt: CAs, *.cert + *.key: client
// pairs). Mapping a whole registry to a loopback mirror (critest's registry.k8s.io) is one
// file: <hostsDir>/registry.k8s.io/hosts.toml with a [host."http://127.0.0.1:PORT"] table.
//
// Without a host-specific file, registries on 127.0.0.0/8, ::1 and localhost get Docker's
// insecure-registry treatment: HTTPS without verification, falling back to plain HTTP.

import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { invalidArgument } from '../errors';

export type Capability = 'pull' | 'resolve' | 'push';
const ALL_CAPABILITIES: Capability[] = ['pull', 'resolve', 'push'];

export interface RegistryHost {
  scheme: 'http' | 'https';
  /** host[:port] to connect to. */
  host: string;
  /** The API root: "/v2", or a mirror's own prefix ("/v2/k8s" with override_path). */
  path: string;
  capabilities: Capability[];
  /** CA files (absolute) trusted in addition to the system's. */
  caFiles: string[];
  /** Client certificate and key files; key undefined: the key is in the cert file. */
  clientPairs: Array<[string, string | undefined]>;
  skipVerify: boolean;
  /** Extra headers sent with every request to this host. */
  headers: Record<string, string[]>;
  /** Docker's insecure registry: TLS unverified, falling back to plain HTTP when the server does not speak TLS. */
  insecure: boolean;
  /** Tried before the server (a [host."…"] table): requests carry ?ns=<registry> as containerd's do. */
  mirror: boolean;
}

/** Docker Hub's API host, used when docker.io has no server configured. */
export const DOCKER_HUB_HOST = 'registry-1.docker.io';

/** True for 127.0.0.0/8, ::1 and localhost, with or without a port. */
export function isLoopback(host: string): boolean {
  const name = hostName(host);
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** "127.0.0.1:5000" → "127.0.0.1", "[::1]:5000" → "::1", "[::1]" → "::1", "docker.io" → "docker.io". */
export function hostName(host: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (v6) return v6[1]!;
  const i = host.lastIndexOf(':');
  return i > 0 && host.indexOf(':') === i ? host.slice(0, i) : host;
}

/** The directories tried for `registry`, most specific first (containerd's hostPaths). */
export function hostDirCandidates(hostsDir: string, registry: string): string[] {
  const out: string[] = [];
  const i = registry.lastIndexOf(':');
  if (i > 0) out.push(join(hostsDir, `${registry.slice(0, i)}_${registry.slice(i + 1)}_`));
  out.push(join(hostsDir, registry), join(hostsDir, '_default'));
  return out;
}

/** The default server of a registry with no configuration: its own host over HTTPS (Docker Hub's API host for docker.io). */
export function defaultServer(registry: string): RegistryHost {
  return {
    scheme: 'https',
    host: registry === 'docker.io' ? DOCKER_HUB_HOST : registry,
    path: '/v2',
    capabilities: [...ALL_CAPABILITIES],
    caFiles: [],
    clientPairs: [],
    skipVerify: false,
    headers: {},
    insecure: isLoopback(registry),
    mirror: false,
  };
}

/**
 * The hosts to try for `registry` ("docker.io", "127.0.0.1:5000"), mirrors first, the server
 * last. Without hostsDir, or with no directory for the host, the default server.
 */
export async function hostsFor(registry: string, hostsDir?: string): Promise<RegistryHost[]> {
  if (!hostsDir) return [defaultServer(registry)];
  for (const dir of hostDirCandidates(hostsDir, registry)) {
    if (!(await isDir(dir))) continue;
    const specific = !dir.endsWith('/_default');
    const file = join(dir, 'hosts.toml');
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const hosts = text !== undefined && text.trim() !== '' ? parseHostsToml(text, { registry, dir, file }) : await dockerCertsDir(registry, dir);
    // An explicit file for this host rules over the loopback default; _default does not.
    if (specific) for (const h of hosts) h.insecure = false;
    return hosts;
  }
  return [defaultServer(registry)];
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Docker's certs.d layout: *.crt are CAs, X.cert + X.key are client pairs; the server over HTTPS. */
async function dockerCertsDir(registry: string, dir: string): Promise<RegistryHost[]> {
  const server = defaultServer(registry);
  const files = (await readdir(dir)).sort();
  for (const f of files) {
    if (f.endsWith('.crt')) server.caFiles.push(join(dir, f));
    if (f.endsWith('.cert')) {
      const key = f.slice(0, -'.cert'.length) + '.key';
      if (!files.includes(key)) throw invalidArgument(`${join(dir, f)}: client certificate without its key ${key}`);
      server.clientPairs.push([join(dir, f), join(dir, key)]);
    }
  }
  return [server];
}

export interface HostsFileContext {
  /** The registry the file is for ("docker.io"). */
  registry: string;
  /** The directory relative paths are taken from. */
  dir: string;
  /** The file's path, for error messages. */
  file: string;
}

/** Parses a hosts.toml: the [host."…"] tables in file order, then the server. Errors name the file and the key. */
export function parseHostsToml(text: string, ctx: HostsFileContext): RegistryHost[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`${ctx.file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const bad = (key: string, why: string) => invalidArgument(`${ctx.file}: ${key}: ${why}`);
  const hosts: RegistryHost[] = [];
  const tables = doc.host;
  if (tables !== undefined) {
    if (!isTable(tables)) throw bad('host', 'expected tables [host."https://…"]');
    // smol-toml keeps keys in file order, which is the order mirrors are tried in.
    for (const [url, table] of Object.entries(tables)) {
      if (!isTable(table)) throw bad(`host."${url}"`, 'expected a table');
      hosts.push(hostEntry(url, table, `host."${url}"`, true, ctx));
    }
  }
  const server = doc.server;
  if (server !== undefined && typeof server !== 'string') throw bad('server', 'expected a string');
  if (server) {
    hosts.push(hostEntry(server, doc, '', false, ctx));
  } else {
    // no server: the registry's own default, with the top-level settings
    const def = defaultServer(ctx.registry);
    const top = hostEntry(`${def.scheme}://${def.host}`, doc, '', false, ctx);
    hosts.push({ ...top, insecure: def.insecure });
  }
  return hosts;
}

const KNOWN_KEYS = new Set(['capabilities', 'ca', 'client', 'skip_verify', 'header', 'override_path']);
const TOP_LEVEL_KEYS = new Set([...KNOWN_KEYS, 'server', 'host']);

function hostEntry(rawUrl: string, t: Record<string, unknown>, where: string, mirror: boolean, ctx: HostsFileContext): RegistryHost {
  const key = (k: string) => (where ? `${where}.${k}` : k);
  const bad = (k: string, why: string) => invalidArgument(`${ctx.file}: ${key(k)}: ${why}`);
  for (const k of Object.keys(t)) {
    if (!(where ? KNOWN_KEYS : TOP_LEVEL_KEYS).has(k)) throw bad(k, 'unknown key');
  }
  const overridePath = t.override_path ?? false;
  if (typeof overridePath !== 'boolean') throw bad('override_path', 'expected true or false');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(rawUrl)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') throw invalidArgument(`${ctx.file}: ${where || 'server'}: scheme must be http or https`);
  let url: URL;
  try {
    url = new URL(scheme ? rawUrl : `https://${rawUrl}`);
  } catch {
    throw invalidArgument(`${ctx.file}: ${where || 'server'}: bad URL ${JSON.stringify(rawUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidArgument(`${ctx.file}: ${where || 'server'}: scheme must be http or https`);
  let path = url.pathname.replace(/\/+$/, '');
  if (!overridePath && !path.endsWith('/v2')) path += '/v2';

  let capabilities = [...ALL_CAPABILITIES];
  if (t.capabilities !== undefined) {
    const caps = stringList(t.capabilities, () => bad('capabilities', 'expected a list of "pull", "resolve", "push"'));
    for (const c of caps) if (!ALL_CAPABILITIES.includes(c.toLowerCase() as Capability)) throw bad('capabilities', `unknown capability ${JSON.stringify(c)}`);
    if (caps.length > 0) capabilities = caps.map((c) => c.toLowerCase() as Capability);
  }
  const abs = (p: string) => (isAbsolute(p) ? p : join(ctx.dir, p));
  const caFiles = t.ca === undefined ? [] : stringList(t.ca, () => bad('ca', 'expected a file name or a list of them')).map(abs);
  const clientPairs: Array<[string, string | undefined]> = [];
  if (t.client !== undefined) {
    const items = typeof t.client === 'string' ? [t.client] : t.client;
    if (!Array.isArray(items)) throw bad('client', 'expected a file, a list of files or a list of [cert, key] pairs');
    for (const item of items) {
      if (typeof item === 'string') clientPairs.push([abs(item), undefined]);
      else if (Array.isArray(item) && item.length === 2 && item.every((x) => typeof x === 'string')) clientPairs.push([abs(item[0] as string), abs(item[1] as string)]);
      else throw bad('client', `invalid pair ${JSON.stringify(item)}: expected [cert, key]`);
    }
  }
  const skipVerify = t.skip_verify ?? false;
  if (typeof skipVerify !== 'boolean') throw bad('skip_verify', 'expected true or false');
  const headers: Record<string, string[]> = {};
  if (t.header !== undefined) {
    if (!isTable(t.header)) throw bad('header', 'expected a table of name = value (or list of values)');
    for (const [name, v] of Object.entries(t.header)) headers[name.toLowerCase()] = stringList(v, () => bad(`header.${name}`, 'expected a string or a list of strings'));
  }
  return {
    scheme: url.protocol === 'http:' ? 'http' : 'https',
    host: url.host,
    path,
    capabilities,
    caFiles,
    clientPairs,
    skipVerify,
    headers,
    insecure: false,
    mirror,
  };
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function stringList(v: unknown, err: () => Error): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw err();
}

/** The hosts of `hosts` that can do `cap`, in order. */
export const hostsWith = (hosts: RegistryHost[], cap: Capability): RegistryHost[] => hosts.filter((h) => h.capabilities.includes(cap));

/** scheme://host + path, for messages and URLs. */
export const hostBase = (h: RegistryHost): string => `${h.scheme}://${h.host}${h.path}`;
