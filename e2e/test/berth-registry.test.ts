import { createHash } from 'crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { requireRoot, type Result } from './support/env';
import { PrivateBerthd } from './support/berthd';
import { debianImage, multiPlatformImage, type DebianImage, type MultiPlatformImage } from './support/fixtures';
import { buildImage, type Image } from './support/image';
import { ptySession } from './support/pty';
import { BERTH, berthRun, lines } from './support/berth-cli';
import {
  ociLayout,
  pushTestImage,
  skopeo,
  skopeoCacheGuard,
  skopeoInspect,
  skopeoPush,
  startRegistry,
  TEST_PASSWORD,
  TEST_USER,
  type TestRegistry,
} from './support/registry';

// `berth pull/push/login/logout` and `run --pull` as a person types them, against Debian's
// docker-registry on 127.0.0.1 (plain, basic auth, bearer tokens; support/registry.ts) filled
// by skopeo, and a private berthd: a skopeo-pushed image pulled and run; a berth-pushed image
// read back by skopeo with the same digest; credentials stored 0600 by login and used by pull;
// Docker's output lines, and bars redrawn in place on a pty; run's pull policies; rmi and
// image prune giving back the content and snapshots a pull made. Scratch dirs avoid the word
// "berth" (other suites' leak checks match it).


let d: PrivateBerthd;
let image: Image;
let plain: TestRegistry;
let basic: TestRegistry;
let token: TestRegistry;
let multi: MultiPlatformImage;
let debian: DebianImage;
let dir: string;
/** The client's config dir ($BERTH_CONFIG): what login writes. */
let configDir: string;
let layout: string;
let dropSkopeoCache: () => void;
/** What skopeo pushed: repository → manifest digest. */
const pushed: Record<string, string> = {};

const env = () => ({ ...process.env, BERTH_CONFIG: configDir });
const berth = (args: string[], input?: string): Promise<Result> =>
  berthRun(d, args, { env: env(), timeoutMs: 120_000, ...(input === undefined ? {} : { input }) });
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const short = (digest: string) => digest.slice('sha256:'.length, 'sha256:'.length + 12);

/** The layer digests of a manifest in a registry, read with skopeo. */
async function layersOf(reg: TestRegistry, ref: string, creds?: string): Promise<string[]> {
  const m = JSON.parse(await skopeoInspect(`${reg.host}/${ref}`, { raw: true, ...(creds ? { creds } : {}) }));
  return (m.layers as { digest: string }[]).map((l) => l.digest);
}

/** `ctr content ls` digests and `ctr snapshots ls` keys in berthd's default namespace. */
async function store(): Promise<{ content: Set<string>; snapshots: Set<string> }> {
  const content = await d.ctr(['content', 'ls', '-q']);
  const snapshots = await d.ctr(['snapshots', 'ls']);
  expect(content.code).toBe(0);
  expect(snapshots.code).toBe(0);
  return {
    content: new Set(lines(content.stdout)),
    snapshots: new Set(lines(snapshots.stdout).slice(1).map((l) => l.split(/\s+/)[0]!)),
  };
}

beforeAll(async () => {
  requireRoot();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} is missing: run make build first`);
  dropSkopeoCache = skopeoCacheGuard();
  dir = mkdtempSync(join(tmpdir(), 'reg-e2e-'));
  configDir = join(dir, 'client');
  image = buildImage();
  debian = debianImage();
  multi = multiPlatformImage();
  d = new PrivateBerthd();
  [plain, basic, token] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic' }), startRegistry({ auth: 'token' })]);
  await d.start();
  layout = ociLayout(image, join(dir, 'layout'));
  pushed['plain/busybox'] = await pushTestImage(plain, layout, 'e2e/busybox:latest');
  pushed['basic/busybox'] = await pushTestImage(basic, layout, 'private/busybox:1');
  pushed['token/busybox'] = await pushTestImage(token, layout, 'private/busybox:1');
  // --preserve-digests: skopeo would gzip the uncompressed busybox layer on the way otherwise
  pushed['plain/multi'] = await skopeoPush(multi.ociRef, `${plain.host}/e2e/multi:1`, { extra: ['--all', '--preserve-digests'] });
  pushed['plain/debian'] = await skopeoPush(debian.ociRef, `${plain.host}/e2e/debian:bookworm`);
}, 180_000);

afterAll(async () => {
  try {
    await d?.cleanup();
  } finally {
    await Promise.all([plain, basic, token].map((r) => r?.stop()));
    image?.cleanup();
    multi?.cleanup();
    dropSkopeoCache?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

describe('pull', () => {
  test('a skopeo-pushed image: Docker’s lines (not a terminal), the digest skopeo pushed, then it runs', async () => {
    const ref = `${plain.host}/e2e/busybox`;
    const [layer] = await layersOf(plain, 'e2e/busybox:latest');
    const r = await berth(['pull', ref]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const out = lines(r.stdout);
    expect(out.slice(0, 2)).toEqual(['Using default tag: latest', 'latest: Pulling from e2e/busybox']);
    expect(out).toContain(`${short(layer!)}: Pull complete`);
    // each line is an item's status or one of Docker's own: no progress bytes without a terminal
    for (const l of out.slice(2, -3)) expect(l).toMatch(/^[0-9a-f]{12}: [A-Z][A-Za-z ]+$/);
    expect(out.slice(-3)).toEqual([`Digest: ${pushed['plain/busybox']}`, `Status: Downloaded newer image for ${ref}:latest`, `${ref}:latest`]);

    const ran = await berth(['run', '--rm', ref, 'cat', '/etc/group']);
    expect(ran).toMatchObject({ code: 0, stdout: 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' });

    const again = await berth(['pull', '-q', `${ref}:latest`]);
    expect(again).toMatchObject({ code: 0, stdout: `${ref}:latest\n` });
    const verbose = await berth(['pull', `${ref}:latest`]);
    expect(lines(verbose.stdout).slice(-2)).toEqual([`Status: Image is up to date for ${ref}:latest`, `${ref}:latest`]);
  });

  test('by digest; a multi-platform index: this machine’s platform by default, --platform picks another', async () => {
    const byDigest = await berth(['pull', `${plain.host}/e2e/busybox@${pushed['plain/busybox']}`]);
    expect(byDigest.code).toBe(0);
    expect(lines(byDigest.stdout)[0]).toBe(`${pushed['plain/busybox']}: Pulling from e2e/busybox`);
    expect(lines(byDigest.stdout).at(-1)).toBe(`${plain.host}/e2e/busybox@${pushed['plain/busybox']}`);

    expect(pushed['plain/multi']).toBe(multi.digest);
    const r = await berth(['pull', `${plain.host}/e2e/multi:1`]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toContain(`Digest: ${multi.digest}`);
    const ran = await berth(['run', '--rm', `${plain.host}/e2e/multi:1`, 'sh', '-c', 'cat /etc/platform 2>/dev/null || echo amd64-image']);
    expect(ran).toMatchObject({ code: 0, stdout: 'amd64-image\n' });
    let have = await store();
    expect(have.content.has(multi.platforms['linux/amd64']!.manifest)).toBe(true);
    expect(have.content.has(multi.platforms['linux/arm64']!.manifest)).toBe(false);

    const arm = await berth(['pull', '--platform', 'linux/arm64', `${plain.host}/e2e/multi:1`]);
    expect(arm.code).toBe(0);
    have = await store();
    expect(have.content.has(multi.platforms['linux/arm64']!.manifest)).toBe(true);
    expect(have.content.has(multi.platforms['linux/arm64']!.config)).toBe(true);

    const bad = await berth(['pull', '--platform', 'linux', `${plain.host}/e2e/multi:1`]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^berth: invalid argument "linux" for "--platform" flag/);
  });

  test('what the registry does not have: exit 1, berthd’s error naming the image on one line', async () => {
    const r = await berth(['pull', `${plain.host}/e2e/nosuch:1`]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^berth: error from berthd: .*e2e\/nosuch/);
    const bad = await berth(['pull', 'Not/Valid']);
    expect(bad).toMatchObject({ code: 1 });
    expect(bad.stderr).toMatch(/^berth: invalid reference format/);
  });

  test('on a terminal: one line per layer, redrawn in place with bars', async () => {
    const ref = `${plain.host}/e2e/debian:bookworm`;
    const s = await ptySession(['env', `BERTH_CONFIG=${configDir}`, BERTH, '-H', `unix://${d.address}`, 'pull', ref], [['expect', `${ref}\\r?\\n`]], 120_000);
    expect(s.failedStep).toBeNull();
    expect(s.code).toBe(0);
    // cursor up N, clear the line: a redraw in place
    expect(s.out).toMatch(/\x1b\[[1-3]A\x1b\[2K[0-9a-f]{12}: /);
    // a bar with bytes (the pty is 100 columns: a 40-cell bar)
    expect(s.out).toMatch(/[0-9a-f]{12}: (Downloading|Extracting) \[=*> *\] +[\d.]+[kM]?B\/[\d.]+MB/);
    for (const l of debian.manifest.layers) expect(s.out).toContain(`${short(l.digest)}: Pull complete`);
    expect(s.out).toContain(`Digest: ${debian.digest}`);
  });
});

describe('push', () => {
  test('berth push: skopeo inspect sees the same digest and size, skopeo copies it back; a second push finds the layer there', async () => {
    const dest = `${plain.host}/pushed/busybox:1`;
    expect((await berth(['load', '-i', image.tar])).code).toBe(0);
    expect((await berth(['tag', image.ref, dest])).code).toBe(0);
    const r = await berth(['push', dest]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const out = lines(r.stdout);
    expect(out[0]).toBe(`The push refers to repository [${plain.host}/pushed/busybox]`);
    const last = /^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/.exec(out.at(-1)!);
    expect(last).not.toBeNull();
    const raw = await skopeoInspect(dest, { raw: true });
    expect(sha256(raw)).toBe(last![1]);
    expect(Buffer.byteLength(raw)).toBe(Number(last![2]));
    // the local image's manifest, byte for byte: same digest as berth has it
    expect(last![1]).toBe(image.manifestDigest);
    const [layer] = JSON.parse(raw).layers as { digest: string }[];
    // Uploaded — or, when the multi-platform test above pulled the same layer from e2e/multi of
    // this registry first, mounted from there (berthd remembers where a blob came from, as Docker does)
    expect(out).toContainEqual(expect.stringMatching(new RegExp(`^${short(layer!.digest)}: (Pushed|Mounted from e2e/multi)$`)));

    const back = join(dir, 'copied-back');
    await skopeo(['copy', '--src-tls-verify=false', '--preserve-digests', `docker://${dest}`, `oci:${back}:x`]);
    const index = JSON.parse(readFileSync(join(back, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(image.manifestDigest);

    const again = await berth(['push', dest]);
    expect(again.code).toBe(0);
    expect(lines(again.stdout)).toContain(`${short(layer!.digest)}: Layer already exists`);
  });

  test('to another repository of the same registry: the layer is mounted across, not uploaded again', async () => {
    const dest = `${plain.host}/other/busybox:2`;
    expect((await berth(['tag', image.ref, dest])).code).toBe(0);
    const r = await berth(['push', dest]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\n[0-9a-f]{12}: Mounted from (pushed\/busybox|e2e\/multi)\n/);
    expect(lines(r.stdout).at(-1)).toMatch(new RegExp(`^2: digest: ${image.manifestDigest} size: \\d+$`));
  });

  test('an image that is not here: Docker’s error', async () => {
    const r = await berth(['push', `${plain.host}/nothing/here:1`]);
    expect(r).toMatchObject({ code: 1, stderr: `berth: An image does not exist locally with the tag: ${plain.host}/nothing/here:1\n` });
  });
});

describe('login and logout', () => {
  const configFile = () => join(configDir, 'config.json');
  const auths = () => JSON.parse(readFileSync(configFile(), 'utf8')).auths as Record<string, { auth: string }>;

  test('basic auth: a wrong password fails and stores nothing; the right one is stored 0600 and the pull works; logout', async () => {
    const ref = `${basic.host}/private/busybox:1`;
    const anonymous = await berth(['pull', ref]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/^berth: error from berthd: .*(unauthorized|authentication required|401)/i);

    const wrong = await berth(['login', '-u', TEST_USER, '--password-stdin', basic.host], 'not-the-password\n');
    expect(wrong.code).toBe(1);
    expect(lines(wrong.stderr).filter((l) => !l.startsWith('WARNING'))).toHaveLength(1);
    expect(existsSync(configFile())).toBe(false);

    const right = await berth(['login', '-u', TEST_USER, '--password-stdin', basic.host], `${TEST_PASSWORD}\n`);
    expect(right).toMatchObject({ code: 0, stdout: 'Login Succeeded\n' });
    expect(statSync(configFile()).mode & 0o777).toBe(0o600);
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
    expect(auths()[basic.host]).toEqual({ auth: Buffer.from(`${TEST_USER}:${TEST_PASSWORD}`).toString('base64') });

    const pulled = await berth(['pull', ref]);
    expect(pulled.code).toBe(0);
    expect(lines(pulled.stdout)).toContain(`Digest: ${pushed['basic/busybox']}`);
    expect((await berth(['run', '--rm', ref, 'echo', 'private'])).stdout).toBe('private\n');

    const out = await berth(['logout', basic.host]);
    expect(out).toMatchObject({ code: 0, stdout: `Removing login credentials for ${basic.host}\n` });
    expect(auths()[basic.host]).toBeUndefined();
    expect(await berth(['logout', basic.host])).toMatchObject({ code: 0, stdout: `Not logged in to ${basic.host}\n` });
    expect((await berth(['rmi', ref])).code).toBe(0);
    expect((await berth(['pull', ref])).code).toBe(1);
  });

  test('bearer tokens: login, then pull and push with the stored credentials', async () => {
    const ref = `${token.host}/private/busybox:1`;
    expect((await berth(['pull', ref])).code).toBe(1);
    const r = await berth(['login', '-u', TEST_USER, '-p', TEST_PASSWORD, token.host]);
    expect(r).toMatchObject({ code: 0, stdout: 'Login Succeeded\n' });
    expect(r.stderr).toContain('WARNING! Using --password via the CLI is insecure. Use --password-stdin.');
    const pulled = await berth(['pull', ref]);
    expect(pulled.code).toBe(0);
    expect(lines(pulled.stdout)).toContain(`Digest: ${pushed['token/busybox']}`);
    expect((await berth(['tag', ref, `${token.host}/mine/busybox:3`])).code).toBe(0);
    const push = await berth(['push', `${token.host}/mine/busybox:3`]);
    expect(push.code).toBe(0);
    expect(sha256(await skopeoInspect(`${token.host}/mine/busybox:3`, { raw: true, creds: `${TEST_USER}:${TEST_PASSWORD}` }))).toBe(lines(push.stdout).at(-1)!.split(' ')[2]);
    expect((await berth(['logout', token.host])).code).toBe(0);
  });

  test('on a terminal: asks for the user name, and for the password without echo', async () => {
    const s = await ptySession(
      ['env', `BERTH_CONFIG=${configDir}`, BERTH, '-H', `unix://${d.address}`, 'login', basic.host],
      [['expect', 'Username: '], ['send', `${TEST_USER}\r`], ['expect', 'Password: '], ['send', `${TEST_PASSWORD}\r`], ['expect', 'Login Succeeded']],
      30_000,
    );
    expect(s.failedStep).toBeNull();
    expect(s.code).toBe(0);
    expect(s.out).toContain(TEST_USER);
    expect(s.out).not.toContain(TEST_PASSWORD);
    expect(auths()[basic.host]).toEqual({ auth: Buffer.from(`${TEST_USER}:${TEST_PASSWORD}`).toString('base64') });
    // with stored credentials and no flags, login uses them
    expect(await berth(['login', basic.host])).toMatchObject({ code: 0, stdout: 'Authenticating with existing credentials...\nLogin Succeeded\n' });
    expect((await berth(['logout', basic.host])).code).toBe(0);
  });

  test('not on a terminal, nothing to ask with: Docker’s errors', async () => {
    expect(await berth(['login', basic.host])).toMatchObject({ code: 1, stderr: 'berth: Cannot perform an interactive login from a non TTY device\n' });
    expect((await berth(['login', '--password-stdin', basic.host], 'x')).stderr).toMatch(/^berth: Must provide --username with --password-stdin/);
  });
});

describe('run --pull', () => {
  test('never: a missing image is Docker’s error; missing (the default): pulled first, progress on stderr', async () => {
    const ref = `${plain.host}/e2e/busybox:latest`;
    await berth(['rmi', ref]);
    const never = await berth(['run', '--rm', '--pull', 'never', ref, 'true']);
    expect(never).toMatchObject({ code: 125, stdout: '', stderr: `berth: No such image: ${ref}\n` });
    const wrong = await berth(['run', '--pull', 'sometimes', ref]);
    expect(wrong.code).toBe(125);
    expect(wrong.stderr).toContain(`invalid pull option: 'sometimes'`);

    const r = await berth(['run', '--rm', ref, 'echo', 'pulled and ran']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('pulled and ran\n');
    const err = lines(r.stderr);
    expect(err[0]).toBe(`Unable to find image '${ref}' locally`);
    expect(err[1]).toBe('latest: Pulling from e2e/busybox');
    expect(err.at(-1)).toBe(`Status: Downloaded newer image for ${ref}`);

    // always: pulls though it is here (up to date), then creates
    const always = await berth(['create', '--pull', 'always', ref]);
    expect(always.code).toBe(0);
    expect(always.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(lines(always.stderr).at(-1)).toBe(`Status: Image is up to date for ${ref}`);
    expect((await berth(['rm', always.stdout.trim()])).code).toBe(0);
  });
});

describe('garbage', () => {
  test('rmi of a pulled image gives back its blobs and snapshots; so does image prune -a', async () => {
    const ref = `${plain.host}/e2e/debian:bookworm`;
    const blobs = [debian.digest, debian.manifest.config.digest, ...debian.manifest.layers.map((l) => l.digest)];
    /** Waits for berthd's collector (a deletion plans one at once) to take the image's blobs and `snapshots`. */
    const gone = async (snapshots: string[]) => {
      for (let i = 0; i < 100; i++) {
        const now = await store();
        if (blobs.every((b) => !now.content.has(b)) && snapshots.every((s) => !now.snapshots.has(s))) return now;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the pulled content or snapshots are still there');
    };
    // the committed layers' snapshots are named by chain id, as containerd names them
    const diffIds = JSON.parse(readFileSync(join(debian.dir, 'blobs', 'sha256', debian.manifest.config.digest.slice(7)), 'utf8')).rootfs.diff_ids as string[];
    const newSnapshots = diffIds.reduce<string[]>((chain, id) => [...chain, chain.length ? sha256(`${chain.at(-1)} ${id}`) : id], []);
    // an earlier test pulled it: start from a store without it
    await berth(['rmi', ref]);
    await gone(newSnapshots);
    expect((await berth(['pull', '-q', ref])).code).toBe(0);
    const after = await store();
    for (const b of blobs) expect(after.content.has(b)).toBe(true);
    for (const s of newSnapshots) expect(after.snapshots.has(s)).toBe(true);

    expect((await berth(['rmi', ref])).code).toBe(0);
    await gone(newSnapshots);

    expect((await berth(['pull', '-q', ref])).code).toBe(0);
    const prune = await berth(['image', 'prune', '-a', '-f']);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain(`untagged: ${ref}`);
    const freed = /Total reclaimed space: ([\d.]+)MB/.exec(prune.stdout);
    expect(freed).not.toBeNull();
    expect(Number(freed![1])).toBeGreaterThan(40);
    await gone(newSnapshots);
  });
});
