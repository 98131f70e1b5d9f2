import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync, chmodSync, copyFileSync } from 'fs';
import { spawnSync } from 'child_process';
import { tmpdir } from 'os';
import { join } from 'path';
import { BIN, requireRoot, type Result } from './support/env';
import { PrivateBerthd } from './support/berthd';
import { run } from './support/containerd';
import { BERTH, berthRun, berthSh, lines } from './support/berth-cli';
import { buildImage, BUSYBOX, type Image } from './support/image';

// bin/berth's image and system commands against a private berthd, as a person types them:
// images (-a -q --digests --no-trunc --format -f), tag, rmi [-f], image inspect, history,
// import (a file or -, gzip, -c, -m) with the result run by Debian's ctr, image prune [-a],
// info, system df, system prune, and `berth completion bash` driven by bash. Containers are
// made with ctr (labelled berth/created-by=berth, as berth run labels them). The scratch dir
// avoids the word "berth" (other suites' leak checks).

const REF = 'berth-e2e/busybox:latest';

let d: PrivateBerthd;
let image: Image;
let dir: string;

const berth = (args: string[], input?: string): Promise<Result> => berthRun(d, args, input === undefined ? {} : { input });
const sh = (script: string): Promise<Result> => berthSh(d, script);

/** A root filesystem tarball (busybox and a file), gzip'd: what `docker export` gives, compressed. */
function rootfsTarball(): string {
  const root = join(dir, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'cat', 'env', 'echo']) spawnSync('ln', ['-s', 'busybox', join(root, 'bin', a)]);
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc', 'motd'), 'imported rootfs\n');
  const out = join(dir, 'rootfs.tar.gz');
  const r = spawnSync('sh', ['-c', `tar -C ${root} -cf - . | gzip > ${out}`]);
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  return out;
}

beforeAll(async () => {
  requireRoot();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} is missing: run make build first`);
  image = buildImage();
  dir = mkdtempSync(join(tmpdir(), 'bim-e2e-'));
  d = new PrivateBerthd();
  await d.start();
  expect((await berth(['load', '-i', image.tar])).code).toBe(0);
}, 120_000);

afterAll(async () => {
  try {
    await d?.cleanup();
  } finally {
    image?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

const shortConfig = () => image.configDigest.slice(7, 19);

describe('berth images, tag, rmi, inspect, history', () => {
  it('images: Docker\'s table, -q, --no-trunc, --digests, --format, -f', async () => {
    const r = await berth(['images']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)[0]).toMatch(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
    expect(r.stdout).toMatch(new RegExp(`\\nberth-e2e/busybox +latest +${shortConfig()} +\\d+ years ago +\\d+(\\.\\d+)?MB\\n`));
    expect((await berth(['images', '-q'])).stdout).toBe(`${shortConfig()}\n`);
    expect((await berth(['images', '-a', '-q', '--no-trunc'])).stdout).toBe(`${image.configDigest}\n`);
    const digests = await berth(['images', '--digests']);
    expect(lines(digests.stdout)[0]).toMatch(/^REPOSITORY +TAG +DIGEST +IMAGE ID/);
    expect(digests.stdout).toContain(image.manifestDigest);
    expect((await berth(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).stdout).toBe(`berth-e2e/busybox:latest ${shortConfig()}\n`);
    const json = JSON.parse(lines((await berth(['images', '--format', 'json'])).stdout)[0]!);
    expect(json).toMatchObject({ Repository: 'berth-e2e/busybox', Tag: 'latest', ID: shortConfig(), Digest: image.manifestDigest });
    expect((await berth(['images', '-f', 'dangling=true', '-q'])).stdout).toBe('');
    expect((await berth(['images', '-f', 'reference=berth-e2e/*', '-q'])).stdout).toBe(`${shortConfig()}\n`);
    expect((await berth(['images', 'nothing-like-it'])).stdout).toMatch(/^REPOSITORY.*\n$/);
    const badFilter = await berth(['images', '-f', 'color=red']);
    expect(badFilter.code).toBe(125);
    expect(badFilter.stderr).toMatch(/^berth: invalid filter 'color'/);
  });

  it('tag: another name for the same image, which ctr sees and runs', async () => {
    expect(await berth(['tag', REF, 'mybox:v1'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await berth(['image', 'tag', shortConfig(), 'registry.local:5000/team/box'])).toMatchObject({ code: 0 });
    const r = await berth(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(lines(r.stdout).sort()).toEqual(['berth-e2e/busybox:latest', 'mybox:v1', 'registry.local:5000/team/box:latest']);
    expect((await berth(['images', '-q'])).stdout).toBe(`${shortConfig()}\n`);
    const c = await d.ctr(['run', '--rm', 'docker.io/library/mybox:v1', 'bim-tag', 'echo', 'tagged']);
    expect(c).toMatchObject({ code: 0, stdout: 'tagged\n' });
    const missing = await berth(['tag', 'nosuch:1', 'x:1']);
    expect(missing).toMatchObject({ code: 1, stderr: 'berth: no such image: nosuch:1\n' });
  });

  it('image inspect: Docker\'s document, -f templates, missing images reported', async () => {
    const r = await berth(['image', 'inspect', 'mybox:v1']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('[\n    {\n        "Id": ')).toBe(true);
    const [doc] = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      Id: image.configDigest,
      RepoTags: ['berth-e2e/busybox:latest', 'mybox:v1', 'registry.local:5000/team/box:latest'],
      Created: '1970-01-01T00:00:00Z',
      Os: 'linux',
      Config: { Cmd: ['sh'], WorkingDir: '/', Entrypoint: null, Tty: false },
      RootFS: { Type: 'layers' },
      GraphDriver: { Name: 'overlayfs' },
    });
    expect(doc.RepoDigests).toContain(`mybox@${image.manifestDigest}`);
    expect(doc.Size).toBeGreaterThan(1_000_000);
    expect((await berth(['image', 'inspect', '-f', '{{.Id}} {{json .Config.Cmd}} {{.Os}}', REF])).stdout).toBe(`${image.configDigest} ["sh"] linux\n`);
    const some = await berth(['image', 'inspect', '-f', '{{.Id}}', 'nosuch', REF]);
    expect(some).toMatchObject({ code: 1, stdout: `${image.configDigest}\n`, stderr: 'berth: no such image: nosuch\n' });
  });

  it('history: the config\'s steps with the layer size, -q, --no-trunc, -H=false', async () => {
    const r = await berth(['history', REF]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toHaveLength(2);
    expect(lines(r.stdout)[0]).toMatch(/^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);
    expect(lines(r.stdout)[1]).toMatch(new RegExp(`^${shortConfig()} +\\d+ years ago +berth e2e: busybox-static \\+ berth-probe +\\d+(\\.\\d+)?MB *$`));
    expect((await berth(['history', '-q', '--no-trunc', REF])).stdout).toBe(`${image.configDigest}\n`);
    const raw = await berth(['history', '-H=false', '--format', '{{.CreatedSince}} {{.Size}}', REF]);
    expect(raw.stdout).toMatch(/^1970-01-01T00:00:00Z \d{7,}\n$/);
  });

  it('rmi: a shared name only untags; the last name of a used image needs -f', async () => {
    expect(await berth(['rmi', 'registry.local:5000/team/box'])).toMatchObject({ code: 0, stdout: 'Untagged: registry.local:5000/team/box:latest\n' });
    const byId = await berth(['rmi', shortConfig()]);
    expect(byId).toMatchObject({ code: 1, stderr: `berth: conflict: unable to delete ${shortConfig()} (must be forced) - image is referenced in multiple repositories\n` });
    // a stopped container of the image (created by ctr, as berth create labels them)
    expect((await d.ctr(['containers', 'create', '--label', 'berth/created-by=berth', 'docker.io/library/mybox:v1', 'bim-user', 'true'])).code).toBe(0);
    expect(await berth(['rmi', 'berth-e2e/busybox'])).toMatchObject({ code: 0, stdout: 'Untagged: berth-e2e/busybox:latest\n' });
    const used = await berth(['rmi', 'mybox:v1']);
    expect(used).toMatchObject({ code: 1, stderr: `berth: conflict: unable to remove repository reference "mybox:v1" (must force) - container bim-user is using its referenced image ${shortConfig()}\n` });
    // forced: untagged, but the container's image stays (as <none>) and its container still runs
    expect(await berth(['rmi', '-f', 'mybox:v1'])).toMatchObject({ code: 0, stdout: 'Untagged: mybox:v1\n' });
    expect((await berth(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).stdout).toBe(`<none>:<none> ${shortConfig()}\n`);
    expect((await berth(['images', '-f', 'dangling=true', '-q'])).stdout).toBe(`${shortConfig()}\n`);
    expect((await d.ctr(['task', 'start', 'bim-user'])).code).toBe(0);
    expect((await d.ctr(['containers', 'rm', 'bim-user'])).code).toBe(0);
    // give it its name back for the tests below (tag by id)
    expect((await berth(['tag', shortConfig(), REF])).code).toBe(0);
    expect((await berth(['images', '-f', 'dangling=true', '-q'])).stdout).toBe('');
    const none = await berth(['rmi', 'nosuch', 'alsonot:2']);
    expect(none).toMatchObject({ code: 1, stderr: 'berth: no such image: nosuch\nberth: no such image: alsonot:2\n' });
  });
});

describe('berth import', () => {
  let tarball: string;
  beforeAll(() => {
    tarball = rootfsTarball();
  });

  it('from a file with -c and -m: the config takes effect in a container; history and inspect show them', async () => {
    const r = await berth(['import', '-c', 'ENV GREETING="hello there" MODE=imported', '-c', 'CMD ["sh", "-c", "echo $GREETING from $MODE; cat /etc/motd"]', '-c', 'WORKDIR /etc', '-m', 'my import', tarball, 'imported:v1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const id = r.stdout.trim();
    // the image's own CMD, ENV and WORKDIR, used by ctr's run
    const c = await d.ctr(['run', '--rm', 'docker.io/library/imported:v1', 'bim-imp']);
    expect(c).toMatchObject({ code: 0, stdout: 'hello there from imported\nimported rootfs\n' });
    const pwd = await d.ctr(['run', '--rm', 'docker.io/library/imported:v1', 'bim-pwd', 'sh', '-c', 'echo $PWD']);
    expect(pwd.stdout).toBe('/etc\n');
    expect((await berth(['image', 'inspect', '-f', '{{.Id}} {{.Comment}} {{json .Config.Env}} {{.Config.WorkingDir}}', 'imported:v1'])).stdout).toBe(
      `${id} my import ["GREETING=hello there","MODE=imported"] /etc\n`,
    );
    const h = await berth(['history', '--format', '{{.ID}}|{{.CreatedSince}}|{{.Comment}}', 'imported:v1']);
    expect(h.stdout).toMatch(new RegExp(`^${id.slice(7, 19)}\\|(Less than a second|\\d+ seconds) ago\\|my import\\n$`));
  });

  it('from stdin with "-": untagged, "Imported from -"; the same layer is shared', async () => {
    const r = await sh(`${BERTH} import - < ${tarball}`);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect((await berth(['images', '-f', 'dangling=true', '-q', '--no-trunc'])).stdout).toBe(`${id}\n`);
    expect((await berth(['image', 'inspect', '-f', '{{.Comment}} {{json .Config.Cmd}}', id])).stdout).toBe('Imported from - null\n');
  });

  it('refuses bad changes and bad tarballs, leaving nothing behind', async () => {
    const before = (await berth(['images', '-q'])).stdout;
    const bad = await berth(['import', '-c', 'RUN rm -rf /', tarball, 'x:1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^berth: invalid change "RUN rm -rf \/": RUN is not a valid change command/);
    writeFileSync(join(dir, 'junk.tar'), 'this is not a tar archive at all, just some text'.repeat(20));
    const junk = await berth(['import', join(dir, 'junk.tar'), 'junk:1']);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/^berth: junk:1.*layer 0 .*cannot be unpacked/);
    expect((await berth(['images', '-q'])).stdout).toBe(before);
    expect((await berth(['import', join(dir, 'none.tar')])).code).toBe(1);
  });
});

describe('berth info, system df, image prune, system prune', () => {
  it('info: counts, drivers, directories; --format', async () => {
    const r = await berth(['info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Client:\n Version: +v\d/);
    expect(r.stdout).toMatch(/\nServer:\n Containers: 0\n  Running: 0\n  Paused: 0\n  Stopped: 0\n Images: 3\n/);
    expect(r.stdout).toContain(' Storage Driver: overlayfs\n');
    expect(r.stdout).toContain(' Cgroup Driver: cgroupfs\n');
    expect(r.stdout).toMatch(/ Cgroup Version: [12]\n/);
    expect(r.stdout).toContain(` Berth Root Dir: ${d.root}\n`);
    expect(r.stdout).toMatch(/ Kernel Version: \S+\n/);
    expect((await berth(['system', 'info', '--format', '{{.Driver}} {{.DockerRootDir}} {{.NCPU}}'])).stdout).toMatch(new RegExp(`^overlayfs ${d.root} \\d+\\n$`));
  });

  it('system df; the counts follow a running container; a stopped one is reclaimable', async () => {
    expect((await d.ctr(['run', '-d', '--label', 'berth/created-by=berth', 'docker.io/library/imported:v1', 'bim-run', 'sh', '-c', 'echo data > /etc/written; exec cat'])).code).toBe(0);
    expect((await d.ctr(['run', '--label', 'berth/created-by=berth', 'docker.io/berth-e2e/busybox:latest', 'bim-stopped', 'sh', '-c', 'dd if=/dev/zero of=/big bs=1000 count=300 2>/dev/null'])).code).toBe(0);
    const r = await berth(['system', 'df']);
    expect(r.code).toBe(0);
    const rows = lines(r.stdout);
    expect(rows[0]).toMatch(/^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE$/);
    // the unused (dangling) import shares its only layer with imported:v1: nothing to reclaim
    expect(rows[1]).toMatch(/^Images +3 +2 +\d+(\.\d+)?MB +0B \(0%\)$/);
    // bim-stopped's 300 kB file is its writable layer; bim-run is running (not reclaimable)
    expect(rows[2]).toMatch(/^Containers +2 +1 +3\d\d(\.\d+)?kB +3\d\d(\.\d+)?kB \(9\d%\)$/);
    expect(rows[3]).toMatch(/^Local Volumes +0 +0 +0B +0B$/);
    const f = await berth(['system', 'df', '--format', '{{.Type}}={{.TotalCount}}']);
    expect(f.stdout).toBe('Images=3\nContainers=2\nLocal Volumes=0\nBuild Cache=0\n');
    const v = await berth(['system', 'df', '-v']);
    expect(v.stdout).toMatch(/Images space usage:\n\nREPOSITORY +TAG +IMAGE ID +CREATED +SIZE +CONTAINERS\n/);
    expect(v.stdout).toMatch(/\nContainers space usage:\n\nCONTAINER ID +IMAGE +SIZE +CREATED +STATUS +NAMES\n/);
    const info = await berth(['info', '-f', '{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}}']);
    expect(info.stdout).toBe('2 1 1\n');
  });

  it('image prune: asks first; dangling images only; -a every unused one; reclaimed space from the collector', async () => {
    const no = await berth(['image', 'prune'], 'n\n');
    expect(no).toMatchObject({ code: 0, stdout: 'WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ' });
    expect((await berth(['images', '-q'])).stdout.split('\n').filter(Boolean)).toHaveLength(3);
    const yes = await berth(['image', 'prune'], 'y\n');
    expect(yes.code).toBe(0);
    // the dangling import shares its layer with imported:v1: only its config and manifest go
    expect(yes.stdout).toMatch(/\[y\/N\] Deleted Images:\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: \d+B\n$/);
    expect((await berth(['images', '-f', 'dangling=true', '-q'])).stdout).toBe('');
    // -a: imported:v1 and busybox are used by containers: nothing to do
    const all = await berth(['image', 'prune', '-a', '-f']);
    expect(all).toMatchObject({ code: 0, stdout: 'Total reclaimed space: 0B\n' });
  });

  it('system prune: stopped containers, then images they held (-a); running ones stay', async () => {
    const r = await berth(['system', 'prune', '-a'], 'yes\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^WARNING! This will remove:\n  - all stopped containers\n  - all images without at least one container associated to them\n/);
    expect(r.stdout).toContain(`[y/N] Deleted Containers:\nbim-stopped\n\nDeleted Images:\nuntagged: berth-e2e/busybox:latest\ndeleted: ${image.configDigest}\n\n`);
    const freed = /Total reclaimed space: ([\d.]+)MB\n$/.exec(r.stdout);
    expect(freed).not.toBeNull();
    // busybox's layer (~2 MB unpacked + its blob) and the stopped container's 300 kB
    expect(Number(freed![1])).toBeGreaterThan(3);
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout).toBe('bim-run\n');
    expect((await d.ctr(['snapshots', 'ls'])).stdout).not.toContain('bim-stopped');
    expect((await berth(['images', '--format', '{{.Repository}}'])).stdout).toBe('imported\n');
    expect((await d.ctr(['task', 'kill', '-s', 'SIGKILL', 'bim-run'])).code).toBe(0);
    for (let i = 0; i < 50 && !(await d.ctr(['task', 'ls'])).stdout.includes('STOPPED'); i++) await new Promise((res) => setTimeout(res, 100));
    const last = await berth(['system', 'prune', '-f']);
    expect(last.stdout).toMatch(/^Deleted Containers:\nbim-run\n\nTotal reclaimed space: /);
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout).toBe('');
  });
});

describe('berth completion bash', () => {
  it('bash completes berth\'s commands, options and image names through the script', async () => {
    const script = join(dir, 'completion.bash');
    const g = await sh(`${BERTH} completion bash > ${script}`);
    expect(g.code).toBe(0);
    const complete = async (line: string): Promise<string[]> => {
      const words = line.split(' ');
      const prog = `PATH=${BIN}:$PATH; source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _berth; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = await run('bash', ['-c', prog]);
      expect(r.stderr).toBe('');
      return lines(r.stdout).sort();
    };
    expect(await complete('berth ima')).toEqual(['image', 'images']);
    expect(await complete('berth image pr')).toEqual(['prune']);
    expect(await complete('berth images --no')).toEqual(['--no-trunc']);
    expect(await complete(`berth -H unix://${d.address} rmi imp`)).toEqual(['imported:v1']);
    const bad = await berth(['completion', 'fish']);
    expect(bad.code).toBe(125);
  });
});
