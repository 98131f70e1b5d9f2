import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { isKind } from '../src/core/errors';
import { hostDirCandidates, hostsFor, isLoopback, parseHostsToml } from '../src/core/registry/hosts';
import { parseWwwAuthenticate } from '../src/core/registry/www-authenticate';
import { describeErrorBody, statusError } from '../src/core/registry/errors';

// Pure parsing of the registry client: WWW-Authenticate challenges, containerd's hosts.toml
// (and its directory lookup), registry error bodies. The e2e suite covers them on the wire.

describe('WWW-Authenticate', () => {
  it('reads a Bearer challenge with quoted parameters', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
  });
  it('reads several challenges in one header and across headers, scheme and names case-insensitive', () => {
    expect(parseWwwAuthenticate(['Basic realm="reg", BEARER Realm="http://t/token", service=svc', 'Custom a=1'])).toEqual([
      { scheme: 'basic', params: { realm: 'reg' } },
      { scheme: 'bearer', params: { realm: 'http://t/token', service: 'svc' } },
      { scheme: 'custom', params: { a: '1' } },
    ]);
  });
  it('unescapes quoted strings and keeps commas and spaces inside them', () => {
    expect(parseWwwAuthenticate('Bearer realm="a\\"b", scope="repository:x:pull,push repository:y:pull", error="insufficient_scope"')[0]!.params).toEqual({
      realm: 'a"b',
      scope: 'repository:x:pull,push repository:y:pull',
      error: 'insufficient_scope',
    });
  });
  it('gives nothing for an absent or empty header', () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });
});

describe('hosts.toml', () => {
  const ctx = (registry = 'docker.io') => ({ registry, dir: '/etc/berth/certs.d/' + registry, file: `/etc/berth/certs.d/${registry}/hosts.toml` });

  it('puts mirrors first, in file order, and the server last', () => {
    const hosts = parseHostsToml(
      `server = "https://registry-1.docker.io"
[host."https://mirror-b.example"]
  capabilities = ["pull", "resolve"]
[host."http://127.0.0.1:5000"]
  capabilities = ["pull"]
`,
      ctx(),
    );
    expect(hosts.map((h) => [h.scheme, h.host, h.path, h.capabilities, h.mirror])).toEqual([
      ['https', 'mirror-b.example', '/v2', ['pull', 'resolve'], true],
      ['http', '127.0.0.1:5000', '/v2', ['pull'], true],
      ['https', 'registry-1.docker.io', '/v2', ['pull', 'resolve', 'push'], false],
    ]);
  });

  it('defaults the server to the registry (Docker Hub for docker.io) with the top-level settings', () => {
    expect(parseHostsToml('ca = "/abs/ca.pem"\nskip_verify = true\n', ctx())).toEqual([
      expect.objectContaining({ scheme: 'https', host: 'registry-1.docker.io', path: '/v2', caFiles: ['/abs/ca.pem'], skipVerify: true, mirror: false }),
    ]);
    expect(parseHostsToml('', ctx('quay.io'))[0]).toEqual(expect.objectContaining({ host: 'quay.io', insecure: false }));
  });

  it('resolves ca and client paths against the file\'s directory, in all of containerd\'s shapes', () => {
    const [m1, m2, m3] = parseHostsToml(
      `[host."https://a"]
  ca = ["ca1.crt", "/abs/ca2.crt"]
  client = "both.pem"
[host."https://b"]
  client = [["c.cert", "c.key"], "d.pem"]
[host."https://c"]
  ca = "ca.crt"
`,
      ctx('r.example'),
    );
    expect(m1!.caFiles).toEqual(['/etc/berth/certs.d/r.example/ca1.crt', '/abs/ca2.crt']);
    expect(m1!.clientPairs).toEqual([['/etc/berth/certs.d/r.example/both.pem', undefined]]);
    expect(m2!.clientPairs).toEqual([
      ['/etc/berth/certs.d/r.example/c.cert', '/etc/berth/certs.d/r.example/c.key'],
      ['/etc/berth/certs.d/r.example/d.pem', undefined],
    ]);
    expect(m3!.caFiles).toEqual(['/etc/berth/certs.d/r.example/ca.crt']);
  });

  it('appends /v2 to a mirror path unless override_path, and keeps headers as lists', () => {
    const [a, b] = parseHostsToml(
      `[host."http://127.0.0.1:5000/k8s"]
[host."http://127.0.0.1:5000/v2/k8s"]
  override_path = true
  [host."http://127.0.0.1:5000/v2/k8s".header]
    X-One = "1"
    x-many = ["a", "b"]
`,
      ctx('registry.k8s.io'),
    );
    expect(a!.path).toBe('/k8s/v2');
    expect(b!.path).toBe('/v2/k8s');
    expect(b!.headers).toEqual({ 'x-one': ['1'], 'x-many': ['a', 'b'] });
  });

  it('refuses bad input naming the file and the key', () => {
    const f = '/etc/berth/certs.d/docker.io/hosts.toml';
    const cases: Array<[string, string]> = [
      ['[host."https://m"]\ncapabilities = ["pull", "fly"]\n', `${f}: host."https://m".capabilities: unknown capability "fly"`],
      ['[host."https://m"]\nskip_verify = "yes"\n', `${f}: host."https://m".skip_verify: expected true or false`],
      ['[host."https://m"]\nca = 3\n', `${f}: host."https://m".ca: expected a file name or a list of them`],
      ['[host."https://m"]\nclient = [["only-one"]]\n', `${f}: host."https://m".client: invalid pair ["only-one"]: expected [cert, key]`],
      ['[host."https://m"]\nmirrors = 1\n', `${f}: host."https://m".mirrors: unknown key`],
      ['server = 5\n', `${f}: server: expected a string`],
      ['server = "ftp://x"\n', `${f}: server: scheme must be http or https`],
      ['[host."https://m"\n', `${f}: `],
    ];
    for (const [text, message] of cases) {
      let err: unknown;
      try {
        parseHostsToml(text, ctx());
      } catch (e) {
        err = e;
      }
      expect({ text, kind: (err as { kind?: string })?.kind, message: (err as Error)?.message.slice(0, message.length) }).toEqual({ text, kind: 'InvalidArgument', message });
    }
  });
});

describe('hosts directory lookup', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hosts-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('tries host_port_, host:port, then _default', () => {
    expect(hostDirCandidates('/d', '127.0.0.1:5000')).toEqual(['/d/127.0.0.1_5000_', '/d/127.0.0.1:5000', '/d/_default']);
    expect(hostDirCandidates('/d', 'docker.io')).toEqual(['/d/docker.io', '/d/_default']);
  });

  it('treats loopback registries without their own file as insecure, and an explicit file as the rule', async () => {
    expect((await hostsFor('127.0.0.1:5000', dir))[0]).toEqual(expect.objectContaining({ scheme: 'https', host: '127.0.0.1:5000', insecure: true }));
    expect((await hostsFor('localhost:5000'))[0]!.insecure).toBe(true);
    expect((await hostsFor('quay.io'))[0]!.insecure).toBe(false);
    mkdirSync(join(dir, '127.0.0.1:5000'));
    writeFileSync(join(dir, '127.0.0.1:5000', 'hosts.toml'), 'ca = "ca.crt"\n');
    expect((await hostsFor('127.0.0.1:5000', dir))[0]).toEqual(
      expect.objectContaining({ scheme: 'https', insecure: false, caFiles: [join(dir, '127.0.0.1:5000', 'ca.crt')] }),
    );
  });

  it('uses _default for hosts without a directory, and maps a whole registry to a mirror', async () => {
    mkdirSync(join(dir, '_default'));
    writeFileSync(join(dir, '_default', 'hosts.toml'), '[host."http://127.0.0.1:6000"]\ncapabilities = ["pull", "resolve"]\n');
    const hosts = await hostsFor('registry.k8s.io', dir);
    expect(hosts.map((h) => `${h.scheme}://${h.host}${h.path} ${h.mirror}`)).toEqual(['http://127.0.0.1:6000/v2 true', 'https://registry.k8s.io/v2 false']);
  });

  it('reads a directory without hosts.toml the Docker way', async () => {
    const d = join(dir, 'reg.example_5000_');
    mkdirSync(d);
    writeFileSync(join(d, 'ca.crt'), 'x');
    writeFileSync(join(d, 'client.cert'), 'x');
    writeFileSync(join(d, 'client.key'), 'x');
    expect((await hostsFor('reg.example:5000', dir))[0]).toEqual(
      expect.objectContaining({ host: 'reg.example:5000', caFiles: [join(d, 'ca.crt')], clientPairs: [[join(d, 'client.cert'), join(d, 'client.key')]] }),
    );
  });

  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.0.0.1:5000', '127.9.8.7:1', 'localhost', 'localhost:80', '[::1]:5000', '::1']) expect(isLoopback(h)).toBe(true);
    for (const h of ['docker.io', '10.0.0.1:5000', 'localhost.example', '128.0.0.1']) expect(isLoopback(h)).toBe(false);
  });
});

describe('registry errors', () => {
  it('shows error bodies as Docker does', () => {
    expect(describeErrorBody('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}')).toBe('manifest unknown: manifest unknown');
    expect(describeErrorBody('{"errors":[{"code":"DENIED"},{"code":"UNAUTHORIZED","message":"authentication required"}]}')).toBe('denied; unauthorized: authentication required');
    expect(describeErrorBody('<html>oops</html>\n')).toBe('<html>oops</html>');
    expect(describeErrorBody('')).toBe('');
  });
  it('maps statuses to the manager\'s kinds with a message naming the repository', () => {
    const ctx = { what: 'manifest for r/app:1', repository: 'r/app', action: 'pull' as const, request: 'GET http://r/v2/app/manifests/1' };
    const denied = statusError(401, 'unauthorized: authentication required', ctx);
    expect(isKind(denied, 'PermissionDenied')).toBe(true);
    expect(denied.message).toBe("pull access denied for r/app, repository does not exist or may require 'berth login': unauthorized: authentication required");
    expect(isKind(statusError(403, '', ctx), 'PermissionDenied')).toBe(true);
    expect(statusError(404, 'manifest unknown: manifest unknown', ctx).message).toBe('manifest for r/app:1 not found: manifest unknown: manifest unknown');
    expect(isKind(statusError(503, '', ctx), 'Unavailable')).toBe(true);
    expect(isKind(statusError(429, '', ctx), 'Unavailable')).toBe(true);
    expect(isKind(statusError(400, '', ctx), 'InvalidArgument')).toBe(true);
  });
});
