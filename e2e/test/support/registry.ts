import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import { tmpdir } from 'os';
import { join } from 'path';
import type { Image } from './image';

// A real registry for the tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1, on
// a free port, with filesystem storage in a temp dir, stopped by pid with its dir removed.
// Modes: plain HTTP, HTTPS with a CA made here by openssl, basic auth (an htpasswd file,
// bcrypt) and bearer tokens from a small token server in the test process. A flaky proxy goes
// in front of any of them to cut blob responses, answer 5xx and record Range headers. Images
// get into it with skopeo, so tests see a registry filled by someone else's client.
// Temp dirs avoid the word "berth" (other suites' leak snapshots match it).

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';
export const HTPASSWD = '/usr/bin/htpasswd';
export const SKOPEO = '/usr/bin/skopeo';
export const OPENSSL = '/usr/bin/openssl';

export const TEST_USER = 'tester';
export const TEST_PASSWORD = 'hunter2-secret';

export interface RegistryOptions {
  /** Serve HTTPS with a certificate from a CA made for this registry (see TestRegistry.tls). */
  tls?: boolean;
  /** With tls: demand a client certificate signed by the same CA (TlsMaterial.clientCertFile/clientKeyFile). */
  clientAuth?: boolean;
  /** 'basic': htpasswd; 'token': bearer tokens from a TokenServer (started here). */
  auth?: 'none' | 'basic' | 'token';
  /** user → password; default { tester: hunter2-secret }. */
  users?: Record<string, string>;
  /** Token mode: options of the token server (users are taken from `users`). */
  token?: Omit<TokenServerOptions, 'users'>;
}

export interface TlsMaterial {
  /** The CA's certificate (PEM file): what a hosts.toml `ca = ...` names. */
  caFile: string;
  caKeyFile: string;
  /** The server's certificate (SAN IP:127.0.0.1, DNS:localhost) and key. */
  certFile: string;
  keyFile: string;
  /** A directory holding ca.crt, client.cert and client.key: the layout skopeo's --cert-dir and docker's certs.d expect. */
  certDir: string;
  /** A client certificate (CN=registry-test-client) the CA signed, and its key. */
  clientCertFile: string;
  clientKeyFile: string;
}

export interface TestRegistry {
  /** "127.0.0.1:PORT": the host part of references. */
  host: string;
  port: number;
  /** http://… or https://… */
  url: string;
  dir: string;
  tls?: TlsMaterial;
  users: Record<string, string>;
  auth: 'none' | 'basic' | 'token';
  tokenServer?: TokenServer;
  /** The registry's own log (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** A port nobody listens on right now (the registry binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function must(cmd: string, args: string[], opts: { input?: string; cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}

/**
 * A CA (EC P-256) and a server certificate it signs for 127.0.0.1 and localhost, in `dir`.
 * `name` keeps two CAs in one dir apart (a test's "wrong CA").
 */
export function makeTlsMaterial(dir: string, name = 'test'): TlsMaterial {
  mkdirSync(dir, { recursive: true });
  const p = (f: string) => join(dir, `${name}-${f}`);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  must(OPENSSL, ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', `/CN=${name} registry test CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  must(OPENSSL, ['req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  must(OPENSSL, ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-out', p('server.crt'), '-days', '2', '-extfile', p('server.ext')]);
  must(OPENSSL, ['req', ...ec, '-keyout', p('client.key'), '-out', p('client.csr'), '-subj', '/CN=registry-test-client']);
  writeFileSync(p('client.ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  must(OPENSSL, ['x509', '-req', '-in', p('client.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-out', p('client.crt'), '-days', '2', '-extfile', p('client.ext')]);
  const certDir = p('certs');
  mkdirSync(certDir, { recursive: true });
  writeFileSync(join(certDir, 'ca.crt'), readFileSync(p('ca.crt')));
  writeFileSync(join(certDir, 'client.cert'), readFileSync(p('client.crt')));
  writeFileSync(join(certDir, 'client.key'), readFileSync(p('client.key')));
  return {
    caFile: p('ca.crt'), caKeyFile: p('ca.key'), certFile: p('server.crt'), keyFile: p('server.key'), certDir,
    clientCertFile: p('client.crt'), clientKeyFile: p('client.key'),
  };
}

/** Starts docker-registry as `opts` say and waits until /v2/ answers. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  for (const f of [DOCKER_REGISTRY, OPENSSL, ...(opts.auth === 'basic' ? [HTPASSWD] : [])]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run make deps (docker-registry apache2-utils openssl)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'regtest-'));
  const users = opts.users ?? { [TEST_USER]: TEST_PASSWORD };
  let child: ChildProcess | undefined;
  let tokenServer: TokenServer | undefined;
  const logFile = join(dir, 'registry.log');
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  try {
    const port = await freePort();
    const tls = opts.tls ? makeTlsMaterial(join(dir, 'tls')) : undefined;
    const scheme = tls ? 'https' : 'http';
    const lines = [
      'version: 0.1',
      'log:',
      '  level: info',
      '  formatter: text',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      // fixed: upload state tokens stay valid however the registry is restarted
      `  secret: ${randomBytes(16).toString('hex')}`,
    ];
    if (tls) lines.push('  tls:', `    certificate: ${tls.certFile}`, `    key: ${tls.keyFile}`);
    if (tls && opts.clientAuth) lines.push('    clientcas:', `      - ${tls.caFile}`);
    if (opts.auth === 'basic') {
      const htfile = join(dir, 'htpasswd');
      writeFileSync(htfile, Object.entries(users).map(([u, pw]) => must(HTPASSWD, ['-Bbn', u, pw]).trim()).join('\n') + '\n');
      lines.push('auth:', '  htpasswd:', '    realm: registry-test', `    path: ${htfile}`);
    } else if (opts.auth === 'token') {
      tokenServer = await startTokenServer(join(dir, 'token'), { ...opts.token, users });
      lines.push('auth:', '  token:', `    realm: ${tokenServer.realm}`, `    service: ${tokenServer.service}`,
        `    issuer: ${tokenServer.issuer}`, `    rootcertbundle: ${tokenServer.certFile}`);
    }
    const config = join(dir, 'config.yml');
    writeFileSync(config, lines.join('\n') + '\n');
    const fd = openSync(logFile, 'a');
    child = spawn(DOCKER_REGISTRY, ['serve', config], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    const url = `${scheme}://127.0.0.1:${port}`;
    const probeTls = tls ? { ca: readFileSync(tls.caFile), cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile) } : undefined;
    for (let i = 0; ; i++) {
      if (child.exitCode !== null || child.signalCode) throw new Error(`docker-registry exited: ${log().slice(-2000)}`);
      const status = await probe(`${url}/v2/`, probeTls);
      if (status === 200 || status === 401) break;
      if (i > 200) throw new Error(`docker-registry did not answer on ${url}: ${log().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const proc = child;
    const reg: TestRegistry = {
      host: `127.0.0.1:${port}`,
      port,
      url,
      dir,
      tls,
      users,
      auth: opts.auth ?? 'none',
      tokenServer,
      log,
      async stop() {
        if (proc.exitCode === null && !proc.signalCode && proc.pid) {
          proc.kill('SIGTERM');
          const t = setTimeout(() => proc.exitCode === null && proc.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(t);
        }
        await tokenServer?.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return reg;
  } catch (err) {
    if (child?.pid && child.exitCode === null) child.kill('SIGKILL');
    await tokenServer?.close();
    if (child) await new Promise((r) => (child!.exitCode !== null || child!.signalCode ? r(undefined) : child!.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** GET url → status, or 0 when nothing answers yet. */
function probe(url: string, tls?: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<number> {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...tls, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

// ---------------------------------------------------------------------------------------------
// Token server (the registry's auth.token realm)

export interface TokenServerOptions {
  users: Record<string, string>;
  /** Anonymous requests get pull (default false: anonymous gets nothing). */
  anonymousPull?: boolean;
  /** Token lifetime (default 300 s). */
  ttlSeconds?: number;
  /**
   * Which of the requested actions to grant `account` (undefined: anonymous) on `type:name`.
   * Default: everything to a user, pull to anonymous when anonymousPull.
   */
  grant?: (account: string | undefined, type: string, name: string, actions: string[]) => string[];
}

export interface TokenRequest {
  method: string;
  /** The authenticated user, if any. */
  account?: string;
  /** password | refresh_token for POSTs; undefined for GET. */
  grantType?: string;
  scopes: string[];
  /** The HTTP status answered. */
  status: number;
}

export interface TokenServer {
  /** http://127.0.0.1:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  /** The signing certificate (the registry's rootcertbundle). */
  certFile: string;
  /** Every request to the realm, in order: tests count them to see tokens reused. */
  requests: TokenRequest[];
  /** Replaces the grant policy (undefined: the default) for tokens issued from now on. */
  setGrant(grant: TokenServerOptions['grant']): void;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** A JWT the registry accepts: ES256 over header.claims, the signing certificate in x5c. */
function signJwt(key: KeyObject, certDer: Buffer, claims: object): string {
  const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // JWS wants ES256 signatures as r||s (IEEE P1363), not DER.
  const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

/** "repository:a/b:pull,push" → parts; the name may hold ':' only in theory, so split at the ends. */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

export async function startTokenServer(dir: string, opts: TokenServerOptions): Promise<TokenServer> {
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, 'signing.key');
  const certFile = join(dir, 'signing.crt');
  must(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile,
    '-out', certFile, '-days', '2', '-subj', '/CN=registry test token issuer']);
  const key = createPrivateKey(readFileSync(keyFile));
  const certDer = Buffer.from(readFileSync(certFile, 'utf8').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const service = 'registry-test';
  const issuer = 'registry-test-issuer';
  const ttl = opts.ttlSeconds ?? 300;
  const requests: TokenRequest[] = [];
  const refreshTokens = new Map<string, string>();
  const defaultGrant: NonNullable<TokenServerOptions['grant']> = (account, _type, _name, actions) =>
    account ? actions : opts.anonymousPull ? actions.filter((a) => a === 'pull') : [];
  let grant = opts.grant ?? defaultGrant;

  const issue = (account: string | undefined, scopes: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes
      .map(parseScope)
      .filter((s): s is NonNullable<typeof s> => !!s)
      .map((s) => ({ type: s.type, name: s.name, actions: grant(account, s.type, s.name, s.actions) }));
    return signJwt(key, certDer, {
      iss: issuer, sub: account ?? '', aud: service, exp: now + ttl, nbf: now - 10, iat: now,
      jti: randomBytes(12).toString('hex'), access,
    });
  };

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const answer = (status: number, doc: object, record: TokenRequest) => {
        record.status = status;
        requests.push(record);
        res.writeHead(status, { 'content-type': 'application/json', ...(status === 401 ? { 'www-authenticate': 'Basic realm="token"' } : {}) });
        res.end(JSON.stringify(doc));
      };
      const denied = (record: TokenRequest, why: string) => answer(401, { errors: [{ code: 'UNAUTHORIZED', message: why }] }, record);
      if (u.pathname !== '/token') {
        res.writeHead(404).end();
        return;
      }
      if (req.method === 'GET') {
        const scopes = u.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
        const record: TokenRequest = { method: 'GET', scopes, status: 0 };
        const authz = req.headers.authorization;
        if (authz) {
          const m = /^Basic\s+(.+)$/i.exec(authz);
          const [user, ...rest] = m ? Buffer.from(m[1]!, 'base64').toString().split(':') : [];
          if (!user || opts.users[user] === undefined || opts.users[user] !== rest.join(':')) return denied(record, 'bad credentials');
          record.account = user;
        }
        const token = issue(record.account, scopes);
        const doc: Record<string, unknown> = { token, access_token: token, expires_in: ttl, issued_at: new Date().toISOString() };
        if (record.account && u.searchParams.get('offline_token') === 'true') {
          const rt = randomBytes(16).toString('hex');
          refreshTokens.set(rt, record.account);
          doc.refresh_token = rt;
        }
        return answer(200, doc, record);
      }
      if (req.method === 'POST') {
        const form = new URLSearchParams(body);
        const scopes = form.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
        const grantType = form.get('grant_type') ?? '';
        const record: TokenRequest = { method: 'POST', grantType, scopes, status: 0 };
        let account: string | undefined;
        let refresh: string | undefined;
        if (grantType === 'password') {
          const user = form.get('username') ?? '';
          if (opts.users[user] === undefined || opts.users[user] !== form.get('password')) return denied(record, 'bad credentials');
          account = user;
          if (form.get('access_type') === 'offline') {
            refresh = randomBytes(16).toString('hex');
            refreshTokens.set(refresh, user);
          }
        } else if (grantType === 'refresh_token') {
          account = refreshTokens.get(form.get('refresh_token') ?? '');
          if (!account) return denied(record, 'unknown refresh token');
          refresh = form.get('refresh_token')!;
        } else {
          return answer(400, { errors: [{ code: 'UNSUPPORTED', message: `grant_type ${grantType}` }] }, record);
        }
        record.account = account;
        const token = issue(account, scopes);
        return answer(200, { access_token: token, expires_in: ttl, issued_at: new Date().toISOString(), scope: scopes.join(' '), ...(refresh ? { refresh_token: refresh } : {}) }, record);
      }
      res.writeHead(405).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    setGrant: (g) => void (grant = g ?? defaultGrant),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// The flaky proxy

export interface ProxiedRequest {
  method: string;
  /** Path and query as the client sent them. */
  path: string;
  /** The Range header, if any. */
  range?: string;
  /** The request's headers as received. */
  headers: http.IncomingHttpHeaders;
  status: number;
  /** How the proxy misbehaved: 'cut' (body cut short), 'fail' (5xx made up), 'redirect'. */
  fault?: 'cut' | 'fail' | 'redirect';
}

export interface FlakyProxy {
  /** "127.0.0.1:PORT" */
  host: string;
  port: number;
  url: string;
  requests: ProxiedRequest[];
  /**
   * The next `times` GETs matching `match` (default: blob GETs) send their headers and
   * `afterBytes` of the body, then the connection is cut. `match` is tested against
   * "METHOD /path" (no query).
   */
  cutNext(times: number, afterBytes: number, match?: RegExp): void;
  /** The next `times` requests matching `match` ("METHOD /path"; default: any) are answered `status` (default 503) without reaching the registry. */
  failNext(times: number, status?: number, match?: RegExp): void;
  /** Blob GETs are answered 307 to /_storage/<path>, which the proxy serves from the registry (storage redirects). */
  redirectBlobs(on: boolean): void;
  /** Range headers are removed before the registry sees them: a server that ignores Range (200, whole body). */
  ignoreRange(on: boolean): void;
  /** Forgets faults still pending and the request log. */
  reset(): void;
  close(): Promise<void>;
}

const BLOBS = /\/blobs\/sha256:[0-9a-f]{64}$/;
const STORAGE_PREFIX = '/_storage';

/**
 * A proxy in front of `reg` (same scheme: for an HTTPS registry it serves the registry's own
 * certificate, so the same CA verifies it). It passes the Host header through, so the
 * registry's upload Locations point back at the proxy.
 */
export async function startFlakyProxy(reg: TestRegistry): Promise<FlakyProxy> {
  const requests: ProxiedRequest[] = [];
  let cut: { times: number; after: number; match: RegExp } | undefined;
  let fail: { times: number; status: number; match: RegExp } | undefined;
  let redirect = false;
  let stripRange = false;
  const upstream = new URL(reg.url);
  const ca = reg.tls ? readFileSync(reg.tls.caFile) : undefined;
  const upstreamMod = reg.tls ? https : http;
  const sockets = new Set<net.Socket>();

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let path = req.url ?? '/';
    const pathOnly = path.split('?')[0]!;
    const record: ProxiedRequest = { method: req.method ?? 'GET', path, range: req.headers.range, headers: req.headers, status: 0 };
    requests.push(record);
    const line = `${record.method} ${pathOnly}`;
    if (fail && fail.times > 0 && fail.match.test(line)) {
      fail.times--;
      record.status = fail.status;
      record.fault = 'fail';
      req.resume();
      res.writeHead(fail.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'flaky proxy: made-up failure' }] }));
      return;
    }
    if (redirect && req.method === 'GET' && BLOBS.test(pathOnly) && !pathOnly.startsWith(STORAGE_PREFIX + '/')) {
      record.status = 307;
      record.fault = 'redirect';
      req.resume();
      res.writeHead(307, { location: `${reg.tls ? 'https' : 'http'}://${req.headers.host}${STORAGE_PREFIX}${path}` });
      res.end();
      return;
    }
    if (pathOnly.startsWith(STORAGE_PREFIX + '/')) path = path.slice(STORAGE_PREFIX.length);
    const cutThis = !!cut && cut.times > 0 && req.method === 'GET' && cut.match.test(`GET ${path.split('?')[0]!}`);
    if (cutThis) cut!.times--;
    const headers = { ...req.headers };
    if (stripRange) delete headers.range;
    const up = upstreamMod.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path, headers, ca, agent: false },
      (ures) => {
        record.status = ures.statusCode ?? 0;
        const ok = record.status >= 200 && record.status < 300;
        res.writeHead(record.status, ures.rawHeaders);
        if (!(cutThis && ok)) {
          ures.pipe(res);
          return;
        }
        record.fault = 'cut';
        let sent = 0;
        ures.on('data', (chunk: Buffer) => {
          if (sent >= cut!.after) return;
          const part = chunk.subarray(0, cut!.after - sent);
          sent += part.length;
          res.write(part);
          if (sent >= cut!.after) {
            ures.destroy();
            // flush what was written, then drop the connection mid-body
            res.socket?.end();
            setTimeout(() => res.socket?.destroy(), 20);
          }
        });
        ures.on('end', () => res.end());
      },
    );
    up.on('error', (err) => {
      record.status = 502;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`flaky proxy: upstream: ${err.message}`);
    });
    req.pipe(up);
  };

  const server: http.Server = reg.tls
    ? https.createServer({ cert: readFileSync(reg.tls.certFile), key: readFileSync(reg.tls.keyFile) }, handler)
    : http.createServer(handler);
  server.on(reg.tls ? 'secureConnection' : 'connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    url: `${reg.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    cutNext: (times, afterBytes, match = BLOBS) => void (cut = { times, after: afterBytes, match }),
    failNext: (times, status = 503, match = /./) => void (fail = { times, status, match }),
    redirectBlobs: (on) => void (redirect = on),
    ignoreRange: (on) => void (stripRange = on),
    reset: () => {
      cut = undefined;
      fail = undefined;
      redirect = false;
      stripRange = false;
      requests.length = 0;
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// skopeo

/** skopeo (as root) keeps a blob info cache in /var/lib/containers/cache: ours to remove if we made it. */
export function skopeoCacheGuard(): () => void {
  const made = ['/var/lib/containers/cache', '/var/lib/containers'].filter((p) => !existsSync(p));
  return () => {
    for (const p of made) rmSync(p, { recursive: true, force: true });
  };
}

export interface SkopeoRegistryOptions {
  /** "user:password" */
  creds?: string;
  /** A dir with ca.crt for HTTPS registries; without it TLS is not verified (and plain HTTP is allowed). */
  certDir?: string;
}

function registryFlags(side: 'src' | 'dest' | '', o: SkopeoRegistryOptions): string[] {
  const f = (n: string) => (side ? `--${side}-${n}` : `--${n}`);
  const flags = o.certDir ? [f('cert-dir'), o.certDir] : [`${f('tls-verify')}=false`];
  if (o.creds) flags.push(f('creds'), o.creds);
  return flags;
}

/**
 * Runs skopeo without blocking the event loop: a token server in this process must answer it.
 * Resolves with stdout; rejects with stderr.
 */
export function skopeo(args: string[]): Promise<string> {
  if (!existsSync(SKOPEO)) return Promise.reject(new Error(`${SKOPEO} is missing: run make deps`));
  return new Promise((resolve, reject) => {
    const child = spawn(SKOPEO, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`skopeo ${args.join(' ')}: exit ${code ?? signal}: ${err}`));
    });
  });
}

/** skopeo copy SRC docker://DEST with `extra` flags (e.g. ['--format', 'v2s2'], ['--all']); resolves with the manifest digest pushed. */
export async function skopeoPush(src: string, dest: string, opts: SkopeoRegistryOptions & { extra?: string[] } = {}): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), 'regtest-digest-'));
  try {
    const digestFile = join(tmp, 'digest');
    await skopeo(['copy', '--quiet', '--digestfile', digestFile, ...registryFlags('dest', opts), ...(opts.extra ?? []), src, `docker://${dest}`]);
    return readFileSync(digestFile, 'utf8').trim();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** skopeo inspect (--raw: the manifest bytes as stored) of docker://REF. */
export function skopeoInspect(ref: string, opts: SkopeoRegistryOptions & { raw?: boolean } = {}): Promise<string> {
  return skopeo(['inspect', ...registryFlags('', opts), ...(opts.raw ? ['--raw'] : []), `docker://${ref}`]);
}

/** The test image's tar (support/image.ts) unpacked as an OCI layout directory: `oci:DIR:latest` for skopeo. */
export function ociLayout(image: Image, dir: string): string {
  mkdirSync(dir, { recursive: true });
  must('tar', ['-xf', image.tar, '-C', dir]);
  return dir;
}

/**
 * Pushes the test image (an OCI layout from ociLayout) to reg as NAME:TAG with the registry's
 * own credentials and CA; format 'v2s2' converts it to Docker schema2. skopeo gzips the
 * uncompressed layer on the way, so the digest differs from the layout's: it is returned.
 */
export function pushTestImage(reg: TestRegistry, layout: string, nameTag: string, opts: { format?: 'oci' | 'v2s2' } = {}): Promise<string> {
  return skopeoPush(`oci:${layout}:latest`, `${reg.host}/${nameTag}`, {
    creds: registryCreds(reg),
    certDir: reg.tls?.certDir,
    extra: opts.format ? ['--format', opts.format] : [],
  });
}

/** "user:password" for skopeo when the registry wants auth, else undefined. */
export function registryCreds(reg: TestRegistry): string | undefined {
  return reg.auth === 'none' ? undefined : `${TEST_USER}:${reg.users[TEST_USER]}`;
}
