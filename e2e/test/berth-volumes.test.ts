import { spawnSync } from 'child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lchownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { requireRoot, type Result } from './support/env';
import { PrivateBerthd } from './support/berthd';
import { BERTH, berthOk, berthRun, lines } from './support/berth-cli';
import { BUSYBOX, buildImage, type Image } from './support/image';

// bin/berth's volumes against a private berthd, as a Docker user types them: `volume create /
// ls / inspect / rm / prune`, `run -v NAME:/path` (created on first use; data outliving the
// container), `-v /path` and image VOLUMEs (anonymous volumes: seeded from the image, removed
// by `rm -v` and `run --rm`), `:ro`, `--volumes-from`, `--mount` (bind, volume with tmpfs
// options, tmpfs), inspect's Mounts, in-use refusals, `system df` and `system prune --volumes`.
// Everything is checked inside the container (busybox) and on the host (berthd's volume
// directories under its private root). The scratch dir avoids the word "berth".

const IMG = 'berth-e2e/busybox';
/** An image whose config has VOLUME /data over files of its own (berth import -c). */
const VOLIMG = 'volimg:1';

let d: PrivateBerthd;
let image: Image;
let dir: string;

const berth = (args: string[], input?: string): Promise<Result> =>
  berthRun(d, args, { timeoutMs: 30000, ...(input === undefined ? {} : { input }) });

const ok = async (args: string[]): Promise<string> => (await berthOk(d, args)).trim();

const volumeNames = async (...filters: string[]): Promise<string[]> => lines(await ok(['volume', 'ls', '-q', ...filters.flatMap((f) => ['-f', f])])).sort();
/** Where berthd keeps a volume of the namespace "default" (Docker's layout under its root). */
const dataDir = (name: string): string => join(d.root, 'volumes', name, '_data');
const isMountPoint = (path: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);

/** A root filesystem with busybox and /data holding files with their own owners and modes. */
function volumeImageTarball(): string {
  const root = join(dir, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'cat', 'ls', 'stat', 'echo', 'sleep', 'touch', 'mount', 'grep', 'id']) symlinkSync('busybox', join(root, 'bin', a));
  mkdirSync(join(root, 'data', 'sub'), { recursive: true });
  writeFileSync(join(root, 'data', 'seed.txt'), 'from the image\n');
  writeFileSync(join(root, 'data', 'sub', 'deep.txt'), 'deeper\n');
  symlinkSync('seed.txt', join(root, 'data', 'link'));
  lchownSync(join(root, 'data', 'link'), 1000, 1001);
  chmodSync(join(root, 'data', 'seed.txt'), 0o640);
  chownSync(join(root, 'data', 'seed.txt'), 1000, 1001);
  chmodSync(join(root, 'data'), 0o750);
  chownSync(join(root, 'data'), 1000, 1001);
  const out = join(dir, 'volimg.tar');
  const r = spawnSync('tar', ['-C', root, '--numeric-owner', '-cf', out, '.']);
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  return out;
}

beforeAll(async () => {
  requireRoot();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} is missing: run make build first`);
  image = buildImage();
  dir = mkdtempSync(join(tmpdir(), 'vol-e2e-'));
  d = new PrivateBerthd();
  await d.start();
  await ok(['load', '-i', image.tar]);
  await ok(['import', '-c', 'VOLUME /data', '-c', 'CMD ["sh"]', volumeImageTarball(), VOLIMG]);
}, 120_000);

afterAll(async () => {
  try {
    await d?.cleanup();
  } finally {
    image?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

describe('named volumes', () => {
  it('data written to a named volume survives rm and is seen by the next container', async () => {
    // created on first use, under berthd's root as Docker lays it out
    expect(await ok(['run', '--name', 'writer', '-v', 'notes:/notes', IMG, 'sh', '-c', 'echo kept > /notes/a.txt'])).toBe('');
    expect(readFileSync(join(dataDir('notes'), 'a.txt'), 'utf8')).toBe('kept\n');
    const mounts = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', 'writer']));
    expect(mounts).toEqual([{ Type: 'volume', Name: 'notes', Source: dataDir('notes'), Destination: '/notes', Driver: 'local', Mode: 'z', RW: true, Propagation: '' }]);
    expect(await ok(['inspect', '-f', '{{json .HostConfig.Binds}}', 'writer'])).toBe('["notes:/notes"]');
    await ok(['rm', '-v', 'writer']); // -v takes anonymous volumes only: a named one stays
    expect(await volumeNames()).toContain('notes');
    expect(await ok(['run', '--rm', '-v', 'notes:/elsewhere', IMG, 'cat', '/elsewhere/a.txt'])).toBe('kept');
    expect(await ok(['volume', 'rm', 'notes'])).toBe('notes');
    expect(existsSync(join(d.root, 'volumes', 'notes'))).toBe(false);
  });

  it('volume create / ls / inspect: Docker\'s output, idempotent create, random names, filters', async () => {
    expect(await ok(['volume', 'create', '--label', 'team=db', '--label', 'tier', 'dbdata'])).toBe('dbdata');
    expect(await ok(['volume', 'create', 'dbdata'])).toBe('dbdata');
    const random = await ok(['volume', 'create']);
    expect(random).toMatch(/^[0-9a-f]{64}$/);
    const r = await berth(['volume', 'inspect', 'dbdata']);
    expect(r.stdout.startsWith('[\n    {\n        "CreatedAt": ')).toBe(true);
    const [doc] = JSON.parse(r.stdout);
    expect(doc).toEqual({ CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), Driver: 'local', Labels: { team: 'db', tier: '' }, Mountpoint: dataDir('dbdata'), Name: 'dbdata', Options: {}, Scope: 'local' });
    expect(Math.abs(Date.parse(doc.CreatedAt) - Date.now())).toBeLessThan(60_000);
    expect(await ok(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Labels.team}} {{json .Options}}', 'dbdata'])).toBe('dbdata local db {}');
    // `berth inspect` finds volumes too, after containers and images
    expect(await ok(['inspect', '-f', '{{.Mountpoint}}', 'dbdata'])).toBe(dataDir('dbdata'));
    expect(await ok(['inspect', '--type', 'volume', '-f', '{{.Scope}}', 'dbdata'])).toBe('local');
    expect(await berth(['inspect', '--type', 'image', 'dbdata'])).toMatchObject({ code: 1, stderr: 'berth: No such object: dbdata\n' });
    const missing = await berth(['volume', 'inspect', 'dbdata', 'nosuch']);
    expect(missing).toMatchObject({ code: 1, stderr: 'berth: no such volume: nosuch\n' });
    expect(JSON.parse(missing.stdout)).toHaveLength(1);

    const ls = await ok(['volume', 'ls']);
    expect(lines(ls)[0]).toMatch(/^DRIVER +VOLUME NAME$/);
    expect(ls).toMatch(/\nlocal +dbdata$/m);
    expect(await volumeNames('label=team=db')).toEqual(['dbdata']);
    expect(await volumeNames('name=bdat')).toEqual(['dbdata']);
    expect(await volumeNames('label=tier', 'dangling=false')).toEqual([]);
    expect(await ok(['volume', 'ls', '-f', 'name=dbdata', '--format', '{{.Name}}|{{.Driver}}|{{.Labels}}|{{.Scope}}|{{.Mountpoint}}'])).toBe(`dbdata|local|team=db,tier=|local|${dataDir('dbdata')}`);
    const badFilter = await berth(['volume', 'ls', '-f', 'colour=red']);
    expect(badFilter).toMatchObject({ code: 1, stderr: "berth: invalid filter 'colour'\n" });
    expect(await ok(['volume', 'rm', 'dbdata', random])).toBe(`dbdata\n${random}`);
  });

  it('bad names and driver options are refused, naming the field', async () => {
    const name = await berth(['volume', 'create', 'a/b']);
    expect(name.code).toBe(1);
    expect(name.stderr).toMatch(/^berth: create a\/b: "a\/b" includes invalid characters for a local volume name, only "\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]" are allowed/);
    expect(await berth(['volume', 'create', '-o', 'colour=red', 'v1'])).toMatchObject({ code: 1, stderr: 'berth: invalid option: "colour"\n' });
    expect(await berth(['volume', 'create', '-o', 'type=tmpfs', 'v1'])).toMatchObject({ code: 1, stderr: 'berth: missing required option: "device"\n' });
    expect((await berth(['volume', 'create', '-o', 'novalue', 'v1'])).stderr).toMatch(/invalid argument "novalue" for "-o, --opt" flag/);
    const relative = await berth(['run', '--rm', '-v', './here:/x', IMG, 'true']);
    expect(relative.code).toBe(125);
    expect(relative.stderr).toMatch(/"\.\/here" includes invalid characters for a local volume name.*If you intended to pass a host directory, use absolute path/);
    expect(await volumeNames()).toEqual([]);
  });
});

describe('copy-up, read-only, --volumes-from', () => {
  it('an image VOLUME gets an anonymous volume seeded with the image\'s files (modes, owners, links)', async () => {
    const id = await ok(['run', '-d', VOLIMG, 'sleep', '60']);
    const [m] = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', id]));
    expect(m).toMatchObject({ Type: 'volume', Name: expect.stringMatching(/^[0-9a-f]{64}$/), Destination: '/data', Driver: 'local', Mode: '', RW: true });
    expect(await ok(['inspect', '-f', '{{json .Config.Volumes}}', id])).toBe('{"/data":{}}');
    const host = dataDir(m.Name);
    expect(m.Source).toBe(host);
    expect(readFileSync(join(host, 'seed.txt'), 'utf8')).toBe('from the image\n');
    expect(readFileSync(join(host, 'sub', 'deep.txt'), 'utf8')).toBe('deeper\n');
    const seed = statSync(join(host, 'seed.txt'));
    expect([seed.mode & 0o7777, seed.uid, seed.gid]).toEqual([0o640, 1000, 1001]);
    const root = statSync(host);
    expect([root.mode & 0o7777, root.uid, root.gid]).toEqual([0o750, 1000, 1001]);
    expect(await ok(['exec', id, 'stat', '-c', '%a %u:%g %N', '/data', '/data/link'])).toBe("750 1000:1001 /data\n777 1000:1001 '/data/link' -> 'seed.txt'");
    expect((await ok(['volume', 'inspect', '-f', '{{json .Labels}}', m.Name]))).toBe('{"com.docker.volume.anonymous":""}');
    await ok(['rm', '-f', '-v', id]);
    expect(await volumeNames()).toEqual([]);
  });

  it('a new named volume over the image directory is seeded once, only while empty', async () => {
    await ok(['run', '--rm', '-v', 'seeded:/data', VOLIMG, 'sh', '-c', 'echo mine > /data/seed.txt; touch /data/added']);
    expect(readFileSync(join(dataDir('seeded'), 'seed.txt'), 'utf8')).toBe('mine\n');
    // not empty: the image's files are not copied over the volume's own
    expect(await ok(['run', '--rm', '-v', 'seeded:/data', VOLIMG, 'sh', '-c', 'cat /data/seed.txt; ls /data'])).toBe('mine\nadded\nlink\nseed.txt\nsub');
    // a volume made empty is not seeded again (its files are its own now), nor with nocopy
    await ok(['run', '--rm', '-v', 'seeded:/data', VOLIMG, 'sh', '-c', 'rm -rf /data/*']);
    expect(await ok(['run', '--rm', '-v', 'seeded:/data', VOLIMG, 'ls', '-A', '/data'])).toBe('');
    expect(await ok(['run', '--rm', '-v', 'fresh:/data:nocopy', VOLIMG, 'ls', '-A', '/data'])).toBe('');
    expect(await ok(['volume', 'rm', 'seeded', 'fresh'])).toBe('seeded\nfresh');
  });

  it(':ro refuses writes; --volumes-from gives the same mounts, :ro making them read-only', async () => {
    const ro = await berth(['run', '--rm', '-v', 'shared:/s:ro', IMG, 'sh', '-c', 'echo x > /s/f']);
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    expect(existsSync(join(dataDir('shared'), 'f'))).toBe(false);

    const hostDir = join(dir, 'bound');
    mkdirSync(hostDir);
    await ok(['run', '-d', '--name', 'source', '-v', 'shared:/s', '-v', `${hostDir}:/h`, '-v', '/anon', IMG, 'sleep', '60']);
    const sourceMounts = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', 'source']));
    expect(await ok(['run', '--rm', '--volumes-from', 'source', IMG, 'sh', '-c', 'echo from-reader > /s/r; echo host > /h/r; echo a > /anon/r'])).toBe('');
    expect(readFileSync(join(dataDir('shared'), 'r'), 'utf8')).toBe('from-reader\n');
    expect(readFileSync(join(hostDir, 'r'), 'utf8')).toBe('host\n');
    expect(await ok(['exec', 'source', 'cat', '/s/r', '/h/r', '/anon/r'])).toBe('from-reader\nhost\na');

    await ok(['create', '--name', 'reader', '--volumes-from', 'source:ro', IMG, 'sh', '-c', 'cat /s/r; echo no > /s/w']);
    const readerMounts = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', 'reader']));
    expect(readerMounts).toEqual(sourceMounts.map((m: Record<string, unknown>) => ({ ...m, RW: false, Mode: 'ro' })));
    expect(await ok(['inspect', '-f', '{{json .HostConfig.VolumesFrom}}', 'reader'])).toBe('["source:ro"]');
    const r = await berth(['start', '-a', 'reader']);
    expect(r.stdout).toBe('from-reader\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    const missing = await berth(['run', '--rm', '--volumes-from', 'nosuch', IMG, 'true']);
    expect(missing).toMatchObject({ code: 125, stderr: 'berth: No such container: nosuch\n' });

    // in use by both: refused without -f, named in the message
    const sourceId = await ok(['inspect', '-f', '{{.Id}}', 'source']);
    const readerId = await ok(['inspect', '-f', '{{.Id}}', 'reader']);
    const inUse = await berth(['volume', 'rm', 'shared']);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toBe(`berth: remove shared: volume is in use - [${[sourceId, readerId].sort().join(' ')}]\n`);
    expect(await volumeNames('dangling=false')).toContain('shared');
    // rm -v of the reader leaves the source's anonymous volume, which the source still uses
    const anon = sourceMounts.find((m: { Destination: string }) => m.Destination === '/anon').Name;
    await ok(['rm', '-v', 'reader']);
    expect(await volumeNames()).toContain(anon);
    await ok(['rm', '-f', '-v', 'source']);
    expect(await volumeNames()).not.toContain(anon);
    // -f removes a volume even in use
    await ok(['create', '--name', 'holder', '-v', 'shared:/s', IMG, 'true']);
    expect(await ok(['volume', 'rm', '-f', 'shared', 'never-was'])).toBe('shared\nnever-was');
    expect(existsSync(join(d.root, 'volumes', 'shared'))).toBe(false);
    await ok(['rm', 'holder']);
  });
});

describe('anonymous volumes, prune, --mount', () => {
  it('-v /path: removed by rm -v and by run --rm; kept by plain rm until prune', async () => {
    const before = readdirSync(join(d.root, 'volumes')).length;
    // --rm: berthd's auto-remove takes the container and its anonymous volumes, no client needed
    expect(await ok(['run', '--rm', '-v', '/scratch', IMG, 'sh', '-c', 'echo x > /scratch/f; echo done'])).toBe('done');
    const detached = await ok(['run', '-d', '--rm', '-v', '/scratch', IMG, 'true']);
    for (let i = 0; i < 100 && (await berth(['inspect', detached])).code === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await volumeNames()).toEqual([]);
    expect(readdirSync(join(d.root, 'volumes')).length).toBe(before);

    const kept = 'kept';
    await ok(['run', '--name', kept, '-v', '/scratch', '-v', 'named1:/n', IMG, 'true']);
    const [anon] = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', kept])).filter((m: { Destination: string }) => m.Destination === '/scratch');
    await ok(['rm', kept]);
    expect(await volumeNames('dangling=true')).toEqual([anon.Name, 'named1'].sort());

    const withV = 'withv';
    await ok(['run', '--name', withV, '-v', '/scratch', '-v', 'named1:/n', IMG, 'true']);
    const [anon2] = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', withV])).filter((m: { Destination: string }) => m.Destination === '/scratch');
    await ok(['rm', '-v', withV]);
    expect(await volumeNames()).toEqual([anon.Name, 'named1'].sort());
    expect(existsSync(join(d.root, 'volumes', anon2.Name))).toBe(false);

    // prune: asks first; anonymous ones only by default, -a every unused one
    const declined = await berth(['volume', 'prune'], 'n\n');
    expect(declined.stdout).toBe('WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ');
    expect(await volumeNames()).toEqual([anon.Name, 'named1'].sort());
    writeFileSync(join(dataDir(anon.Name), 'big'), Buffer.alloc(5000));
    const pruned = await berth(['volume', 'prune'], 'y\n');
    expect(pruned.stdout).toMatch(new RegExp(`Deleted Volumes:\\n${anon.Name}\\n\\nTotal reclaimed space: 5kB\\n$`));
    expect(await volumeNames()).toEqual(['named1']);
    await ok(['run', '-d', '--name', 'user1', '-v', 'busy:/b', IMG, 'sleep', '60']);
    expect(await ok(['volume', 'prune', '-a', '-f'])).toBe('Deleted Volumes:\nnamed1\n\nTotal reclaimed space: 0B');
    expect(await volumeNames()).toEqual(['busy']);
    await ok(['rm', '-f', 'user1']);
    expect(await ok(['volume', 'prune', '-a', '-f'])).toBe('Deleted Volumes:\nbusy\n\nTotal reclaimed space: 0B');
  });

  it('--mount: bind, a volume with tmpfs driver options, tmpfs with size and mode', async () => {
    const hostDir = join(dir, 'mnt');
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'in.txt'), 'host file\n');
    const script = 'cat /b/in.txt; grep -E " /(v|t) " /proc/mounts | cut -d" " -f1-4; stat -c "%a" /t; echo x > /v/f && echo v-written; echo y > /b/f || echo b-refused';
    const r = await berth(['run', '--name', 'mounts', '--mount', `type=bind,source=${hostDir},target=/b,readonly`, '--mount', 'type=volume,source=fastvol,target=/v,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"volume-opt=o=size=2m,mode=0777"', '--mount', 'type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770', IMG, 'sh', '-c', script]);
    expect(r.stdout).toBe('host file\ntmpfs /v tmpfs rw,relatime,size=2048k,mode=777\ntmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770\n1770\nv-written\nb-refused\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    // the volume's tmpfs is mounted on its directory on the host, where the file is
    expect(isMountPoint(dataDir('fastvol'))).toBe(true);
    expect(readFileSync(join(dataDir('fastvol'), 'f'), 'utf8')).toBe('x\n');
    expect(JSON.parse(await ok(['volume', 'inspect', '-f', '{{json .Options}}', 'fastvol']))).toEqual({ device: 'tmpfs', o: 'size=2m,mode=0777', type: 'tmpfs' });
    const host = JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig.Mounts}}', 'mounts']));
    expect(host).toEqual([
      { Type: 'bind', Source: hostDir, Target: '/b', ReadOnly: true },
      { Type: 'volume', Source: 'fastvol', Target: '/v', VolumeOptions: { DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=2m,mode=0777' } } } },
      { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1770 } },
    ]);
    expect(JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', 'mounts'])).map((m: { Type: string; Destination: string; RW: boolean }) => [m.Type, m.Destination, m.RW])).toEqual([
      ['bind', '/b', false],
      ['volume', '/v', true],
      ['tmpfs', '/t', true],
    ]);
    const bad = await berth(['run', '--rm', '--mount', 'type=volume,target=/x,colour=red', IMG, 'true']);
    expect(bad).toMatchObject({ code: 125 });
    expect(bad.stderr).toMatch(/invalid argument "type=volume,target=\/x,colour=red" for "--mount" flag: unexpected key 'colour' in 'colour=red'/);
    const dup = await berth(['run', '--rm', '-v', 'a1:/x', '--mount', 'type=tmpfs,target=/x', IMG, 'true']);
    expect(dup).toMatchObject({ code: 125, stderr: 'berth: Duplicate mount point: /x\n' });
    // berthd restarted after the tmpfs went (a reboot): mounted again for the container using it
    expect(await d.stop()).toBe(0);
    spawnSync('umount', [dataDir('fastvol')]);
    expect(isMountPoint(dataDir('fastvol'))).toBe(false);
    await d.start();
    expect(isMountPoint(dataDir('fastvol'))).toBe(true);
    expect(d.log()).toContain('"msg":"volume filesystems mounted again"');
    await ok(['rm', 'mounts']);
    await ok(['volume', 'rm', 'fastvol']);
    expect(isMountPoint(dataDir('fastvol'))).toBe(false);
    expect(existsSync(join(d.root, 'volumes', 'fastvol'))).toBe(false);
  });

  it('system df counts volumes; system prune --volumes takes the unused anonymous ones', async () => {
    await ok(['volume', 'create', 'keepme']);
    writeFileSync(join(dataDir('keepme'), 'f'), Buffer.alloc(2000));
    await ok(['run', '--name', 'leftover', '-v', '/junk', IMG, 'sh', '-c', 'head -c 3000 /dev/zero > /junk/f']);
    const leftover = await ok(['inspect', '-f', '{{.Id}}', 'leftover']);
    await ok(['run', '-d', '--name', 'active', '-v', 'inuse:/u', IMG, 'sleep', '60']);
    const df = await ok(['system', 'df']);
    // in use = named by any container, a stopped one too (Docker's): only keepme is reclaimable
    expect(df).toMatch(/\nLocal Volumes +3 +2 +5kB +2kB \(40%\)\n/);
    const verbose = await ok(['system', 'df', '-v']);
    expect(verbose).toMatch(/Local Volumes space usage:\n\nVOLUME NAME +LINKS +SIZE\n/);
    expect(verbose).toMatch(/\ninuse +1 +0B\n/);
    expect(verbose).toMatch(/\nkeepme +0 +2kB\n/);

    const r = await ok(['system', 'prune', '-f', '--volumes']);
    const anon = lines(await ok(['volume', 'ls', '-q'])).length;
    expect(r).toContain(`Deleted Containers:\n${leftover}\n`);
    expect(r).toMatch(/Deleted Volumes:\n[0-9a-f]{64}\n/);
    expect(anon).toBe(2);
    expect(await volumeNames()).toEqual(['inuse', 'keepme']);
    await ok(['rm', '-f', 'active']);
    await ok(['volume', 'rm', 'inuse', 'keepme']);
  });
});
