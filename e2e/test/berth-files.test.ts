import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { requireRoot, type Result } from './support/env';
import { PrivateBerthd } from './support/berthd';
import { BERTH, berthRun, berthSh } from './support/berth-cli';
import { buildImage, type Image } from './support/image';

// bin/berth cp / export / diff against a private berthd (berth.files.v1), on a running
// container and on a stopped one (no task: berthd mounts its snapshot for the call), and the
// export | import round trip. Containers are started with Debian's ctr, labelled as berth's
// run labels them (berth/created-by, berth/name), until `berth run` exists; what is inside
// them is checked from inside (ctr task exec / ctr run). The scratch dir avoids the word
// "berth" (other suites' leak checks).

const IMAGE = 'docker.io/berth-e2e/busybox:latest';

let d: PrivateBerthd;
let image: Image;
let dir: string;
let execs = 0;

const berth = (args: string[]): Promise<Result> => berthRun(d, args);
const sh = (script: string): Promise<Result> => berthSh(d, script);
/** Runs a command inside the running container `id`. */
const inside = (id: string, script: string): Promise<Result> => d.ctr(['task', 'exec', '--exec-id', `x${++execs}`, id, 'sh', '-c', script]);

beforeAll(async () => {
  requireRoot();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} is missing: run make build first`);
  image = buildImage();
  dir = mkdtempSync(join(tmpdir(), 'bfl-e2e-'));
  d = new PrivateBerthd();
  await d.start();
  expect((await berth(['load', '-q', '-i', image.tar])).code).toBe(0);
  const c = await d.ctr([
    'run', '-d', '--label', 'berth/created-by=berth', '--label', 'berth/name=web', IMAGE, 'bfl-web',
    'sh', '-c', 'mkdir -p /srv/site/css && echo "<h1>hi</h1>" > /srv/site/index.html && chmod 640 /srv/site/index.html && echo body{} > /srv/site/css/a.css && ln -s /srv/site /srv/link && rm /etc/group && touch /etc/passwd && exec sleep 1000',
  ]);
  expect(c.code).toBe(0);
  for (let i = 0; i < 50 && (await inside('bfl-web', 'test -L /srv/link')).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
}, 120_000);

afterAll(async () => {
  try {
    await d?.cleanup();
  } finally {
    image?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

describe('berth cp from a container', () => {
  it('a file to a new name, and into a directory; modes and contents kept; owned by the caller', async () => {
    expect(await berth(['cp', 'web:/srv/site/index.html', join(dir, 'page.html')])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(join(dir, 'page.html'), 'utf8')).toBe('<h1>hi</h1>\n');
    expect(statSync(join(dir, 'page.html')).mode & 0o7777).toBe(0o640);
    mkdirSync(join(dir, 'into'));
    expect((await berth(['cp', 'bfl-web:/srv/site/index.html', join(dir, 'into')])).code).toBe(0);
    expect(readFileSync(join(dir, 'into', 'index.html'), 'utf8')).toBe('<h1>hi</h1>\n');
  });

  it('a directory: new name, into an existing one, its contents with "/."', async () => {
    expect((await berth(['cp', 'web:/srv/site', join(dir, 'site-copy')])).code).toBe(0);
    expect(readFileSync(join(dir, 'site-copy', 'css', 'a.css'), 'utf8')).toBe('body{}\n');
    expect((await berth(['cp', 'web:/srv/site', join(dir, 'into')])).code).toBe(0);
    expect(existsSync(join(dir, 'into', 'site', 'index.html'))).toBe(true);
    mkdirSync(join(dir, 'flat'));
    expect((await berth(['cp', 'web:/srv/site/.', join(dir, 'flat')])).code).toBe(0);
    expect(existsSync(join(dir, 'flat', 'css', 'a.css'))).toBe(true);
    expect(existsSync(join(dir, 'flat', 'index.html'))).toBe(true);
  });

  it('a symlink as a link, or what it points to with -L', async () => {
    expect((await berth(['cp', 'web:/srv/link', join(dir, 'thelink')])).code).toBe(0);
    expect(lstatSync(join(dir, 'thelink')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'thelink'))).toBe('/srv/site');
    expect((await berth(['cp', '-L', 'web:/srv/link', join(dir, 'followed')])).code).toBe(0);
    expect(lstatSync(join(dir, 'followed')).isDirectory()).toBe(true);
    expect(readFileSync(join(dir, 'followed', 'index.html'), 'utf8')).toBe('<h1>hi</h1>\n');
  });

  it('"-" writes a tar; errors name what is missing', async () => {
    const r = await sh(`${BERTH} cp web:/srv/site - | tar -tf - | sort`);
    expect(r).toMatchObject({ code: 0, stdout: 'site/\nsite/css/\nsite/css/a.css\nsite/index.html\n' });
    const missing = await berth(['cp', 'web:/nope', join(dir, 'x')]);
    expect(missing).toMatchObject({ code: 1, stderr: 'berth: Could not find the file /nope in container web\n' });
    expect((await berth(['cp', 'nosuch:/etc', dir])).stderr).toBe('berth: No such container: nosuch\n');
    expect((await berth(['cp', join(dir, 'a'), join(dir, 'b')])).code).toBe(125);
  });
});

describe('berth cp into a container', () => {
  it('a file and a directory: modes kept, owned by root, visible to the running process', async () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'tree', 'deep'), { recursive: true });
    writeFileSync(join(src, 'script.sh'), '#!/bin/sh\necho from the host\n');
    chmodSync(join(src, 'script.sh'), 0o4750);
    writeFileSync(join(src, 'tree', 'deep', 'f'), 'deep file\n');
    chmodSync(join(src, 'tree'), 0o711);
    chownSync(join(src, 'tree', 'deep', 'f'), 1234, 5678);
    const noDir = await berth(['cp', join(src, 'script.sh'), 'web:/usr/local/bin/run-me']);
    expect(noDir).toMatchObject({ code: 1, stderr: 'berth: Could not find the file /usr/local/bin in container web\n' });
    expect((await berth(['cp', join(src, 'script.sh'), 'web:/root/run-me'])).code).toBe(0);
    expect((await berth(['cp', join(src, 'tree'), 'web:/srv/'])).code).toBe(0);
    const r = await inside('bfl-web', '/root/run-me; stat -c "%a %u:%g %n" /root/run-me /srv/tree /srv/tree/deep/f; cat /srv/tree/deep/f');
    expect(r.stdout).toBe('from the host\n4750 0:0 /root/run-me\n711 0:0 /srv/tree\n644 0:0 /srv/tree/deep/f\ndeep file\n');
  });

  it('-a keeps the owners: the container user (root here) as Docker gives them; a tar from stdin with "-"', async () => {
    writeFileSync(join(dir, 'owned'), 'x');
    chownSync(join(dir, 'owned'), 1234, 5678);
    expect((await berth(['cp', '-a', join(dir, 'owned'), 'web:/tmp/'])).code).toBe(0);
    expect((await inside('bfl-web', 'stat -c "%u:%g" /tmp/owned')).stdout).toBe('0:0\n');
    const t = join(dir, 'tarsrc');
    mkdirSync(join(t, 'a'), { recursive: true });
    writeFileSync(join(t, 'a', 'one'), '1\n');
    const r = await sh(`tar -C ${t} -cf - a | ${BERTH} cp - web:/tmp`);
    expect(r.code).toBe(0);
    expect((await inside('bfl-web', 'cat /tmp/a/one')).stdout).toBe('1\n');
    const notDir = await sh(`tar -C ${t} -cf - a | ${BERTH} cp - web:/etc/passwd`);
    expect(notDir).toMatchObject({ code: 1, stderr: 'berth: destination "web:/etc/passwd" must be a directory\n' });
  });

  it('a symlink in the container cannot lead a copy outside its rootfs', async () => {
    expect((await inside('bfl-web', 'ln -s / /tmp/up && ln -s ../../../../.. /tmp/up2')).code).toBe(0);
    writeFileSync(join(dir, 'escape'), 'stays inside\n');
    expect((await berth(['cp', join(dir, 'escape'), 'web:/tmp/up2/'])).code).toBe(0);
    expect((await inside('bfl-web', 'cat /escape')).stdout).toBe('stays inside\n');
    expect(existsSync('/escape')).toBe(false);
  });
});

describe('berth diff and export', () => {
  it('diff: A/C/D of the container against its image, sorted as Docker prints them', async () => {
    const r = await berth(['diff', 'web']);
    expect(r.code).toBe(0);
    const out = r.stdout.split('\n');
    for (const l of ['C /etc', 'D /etc/group', 'C /etc/passwd', 'A /srv', 'A /srv/site', 'A /srv/site/index.html', 'A /srv/link', 'C /root', 'A /root/run-me', 'A /escape']) expect(out).toContain(l);
    expect(out).not.toContain('C /bin');
    const paths = out.filter(Boolean).map((l) => l.slice(2));
    expect(paths).toEqual([...paths].sort());
  });

  it('export of the running container: its files as they are now, no /proc contents', async () => {
    const r = await sh(`${BERTH} export web | tar -tvf -`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^-rw-r----- 0\/0 +12 .* srv\/site\/index\.html$/m);
    expect(r.stdout).toMatch(/^lrwxrwxrwx 0\/0 .* srv\/link -> \/srv\/site$/m);
    expect(r.stdout).toMatch(/^-rwsr-x--- 0\/0 .* root\/run-me$/m);
    expect(r.stdout).not.toMatch(/ etc\/group$/m);
    expect(r.stdout).not.toMatch(/ proc\/./m);
    const tty = await berth(['export', 'web']);
    expect(tty.code).toBe(0); // stdout is a pipe here, not a terminal
  });

  it('a stopped container: cp both ways, diff and export work on its snapshot; nothing stays mounted', async () => {
    expect((await d.ctr(['task', 'kill', '-s', 'SIGKILL', 'bfl-web'])).code).toBe(0);
    for (let i = 0; i < 50 && !(await d.ctr(['task', 'ls'])).stdout.includes('STOPPED'); i++) await new Promise((res) => setTimeout(res, 100));
    expect((await d.ctr(['task', 'rm', 'bfl-web'])).code).toBe(0);
    writeFileSync(join(dir, 'later'), 'copied while stopped\n');
    expect((await berth(['cp', join(dir, 'later'), 'web:/srv/later'])).code).toBe(0);
    expect((await berth(['cp', 'web:/srv/later', join(dir, 'later-back')])).code).toBe(0);
    expect(readFileSync(join(dir, 'later-back'), 'utf8')).toBe('copied while stopped\n');
    expect((await berth(['diff', 'web'])).stdout).toContain('A /srv/later\n');
    expect((await berth(['export', '-o', join(dir, 'web.tar'), 'web'])).code).toBe(0);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(join(d.state, 'files'));
  });

  it('export | import round trip: the imported image runs with the container\'s files', async () => {
    const r = await sh(`${BERTH} export web | ${BERTH} import -c 'CMD ["cat", "/srv/later"]' - roundtrip:1`);
    expect(r.code).toBe(0);
    const c = await d.ctr(['run', '--rm', 'docker.io/library/roundtrip:1', 'bfl-round']);
    expect(c).toMatchObject({ code: 0, stdout: 'copied while stopped\n' });
    const f = await d.ctr(['run', '--rm', 'docker.io/library/roundtrip:1', 'bfl-round2', 'sh', '-c', 'cat /srv/site/index.html; stat -c %a /root/run-me; test -e /etc/group || echo no group']);
    expect(f.stdout).toBe('<h1>hi</h1>\n4750\nno group\n');
  });
});
