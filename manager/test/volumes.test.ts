// Volumes: the run flags (-v, --mount, --volumes-from) as Docker reads them, the mount plan's
// precedence, and core/volumes' store on a real LMDB and real directories (as root: owners,
// a real tmpfs mounted by a volume's options, copy-up with cp(1)).

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { csvFields, parseMountFlag, parseVolumeFlag, parseVolumesFrom, validMode } from '../src/cli/volumes/flags';
import { planMounts } from '../src/cli/volumes/plan';
import { ociMounts } from '../src/cli/volumes/prepare';
import { RUN_CONFIG_EXTENSION, RUN_CONFIG_TYPE_URL, type MountPoint } from '../src/core/containers/run-config';
import { openMetadata, type Metadata } from '../src/core/metadata';
import { ANONYMOUS_LABEL, VolumeStore, copyUp, mountsAt, removeTree } from '../src/core/volumes';
import { expectKind, makeTempRoot, removeTempRoot } from './support/metadata-tmp';

const P = 'berth run';

describe('-v, --mount, --volumes-from', () => {
  test('-v: binds, named and anonymous volumes, modes', () => {
    expect(parseVolumeFlag('/srv/a/:/b:ro', P)).toEqual({ kind: 'bind', source: '/srv/a/', destination: '/b', readonly: true, propagation: 'rprivate', mode: 'ro' });
    expect(parseVolumeFlag('/a:/b:rshared,rw', P)).toMatchObject({ kind: 'bind', readonly: false, propagation: 'rshared' });
    expect(parseVolumeFlag('data:/var/lib/x/', P)).toMatchObject({ kind: 'volume', name: 'data', destination: '/var/lib/x', readonly: false, mode: 'z', nocopy: false });
    expect(parseVolumeFlag('data:/x:ro,nocopy', P)).toMatchObject({ kind: 'volume', name: 'data', readonly: true, mode: 'ro,nocopy', nocopy: true });
    expect(parseVolumeFlag('/cache', P)).toMatchObject({ kind: 'volume', name: '', destination: '/cache', mode: '' });
    // two parts whose second is a mode: an anonymous volume with that mode (Docker's parser)
    expect(parseVolumeFlag('/cache:ro', P)).toMatchObject({ kind: 'volume', name: '', destination: '/cache', readonly: true });
    expect(() => parseVolumeFlag('data:rel', P)).toThrow(/invalid mount path: 'rel' mount path must be absolute/);
    expect(() => parseVolumeFlag('/a:/', P)).toThrow(/destination can't be '\/'/);
    expect(() => parseVolumeFlag('/a:/b:rx', P)).toThrow(/invalid mode: rx/);
    expect(() => parseVolumeFlag('/a:/b:nocopy', P)).toThrow(/nocopy \(only for volumes\)/);
    expect(() => parseVolumeFlag('x:/b', P)).toThrow(/"x" includes invalid characters for a local volume name/);
    expect(() => parseVolumeFlag('a:b:c:d', P)).toThrow(/invalid volume specification: 'a:b:c:d'/);
    expect(validMode('ro,z,rprivate,nocopy')).toBe(true);
    expect(validMode('ro,rw')).toBe(false);
  });

  test('--mount: Docker\'s CSV fields for bind, volume and tmpfs; mixed and unknown keys refused', () => {
    expect(csvFields('type=volume,"volume-opt=o=size=1m,uid=1000",dst=/x')).toEqual(['type=volume', 'volume-opt=o=size=1m,uid=1000', 'dst=/x']);
    const v = parseMountFlag('source=cache,target=/c,readonly,volume-label=team=a,"volume-opt=o=size=8m,mode=0700",volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-nocopy', P);
    expect(v.request).toEqual({ kind: 'volume', name: 'cache', destination: '/c', readonly: true, mode: '', nocopy: true, labels: { team: 'a' }, driverOptions: { o: 'size=8m,mode=0700', type: 'tmpfs', device: 'tmpfs' }, driver: '' });
    expect(v.spec).toEqual({
      Type: 'volume',
      Source: 'cache',
      Target: '/c',
      ReadOnly: true,
      VolumeOptions: { NoCopy: true, Labels: { team: 'a' }, DriverConfig: { Name: 'local', Options: { o: 'size=8m,mode=0700', type: 'tmpfs', device: 'tmpfs' } } },
    });
    expect(parseMountFlag('type=bind,src=/srv,dst=/s,bind-propagation=rslave,ro=false', P).request).toEqual({ kind: 'bind', source: '/srv', destination: '/s', readonly: false, propagation: 'rslave', mode: '' });
    expect(parseMountFlag('type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770', P)).toEqual({
      request: { kind: 'tmpfs', destination: '/t', readonly: false, size: 1 << 20, mode: 0o1770 },
      spec: { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1770 } },
    });
    expect(parseMountFlag('target=/anon', P).request).toMatchObject({ kind: 'volume', name: '' });
    expect(() => parseMountFlag('type=volume,source=x1', P)).toThrow(/target is required/);
    expect(() => parseMountFlag('type=bind,target=/x', P)).toThrow(/field Source must not be empty/);
    expect(() => parseMountFlag('type=tmpfs,source=a,target=/x', P)).toThrow(/source must not be specified/);
    expect(() => parseMountFlag('type=bind,src=/a,target=/x,volume-nocopy', P)).toThrow(/cannot mix 'volume-nocopy' options with mount type 'bind'/);
    expect(() => parseMountFlag('type=volume,target=/x,colour=red', P)).toThrow(/unexpected key 'colour' in 'colour=red'/);
    expect(() => parseMountFlag('type=volume,target', P)).toThrow(/invalid field 'target' must be a key=value pair/);
    expect(() => parseMountFlag('type=npipe,target=/x', P)).toThrow(/invalid mount type "npipe"/);
    expect(() => parseMountFlag('type=tmpfs,target=/x,tmpfs-mode=999', P)).toThrow(/invalid tmpfs-mode/);
  });

  test('--volumes-from', () => {
    expect(parseVolumesFrom('web', P)).toEqual({ container: 'web' });
    expect(parseVolumesFrom('web:ro', P)).toEqual({ container: 'web', mode: 'ro' });
    expect(() => parseVolumesFrom('web:rx', P)).toThrow(/invalid mode: rx/);
  });
});

describe('the mount plan', () => {
  const vol = (name: string, dest: string, rw = true): MountPoint => ({ Type: 'volume', Name: name, Source: `/v/${name}/_data`, Destination: dest, Driver: 'local', Mode: 'z', RW: rw, Propagation: '' });

  test('volumes-from < -v/--mount; image VOLUMEs only where nothing else is; sorted by depth', () => {
    const plan = planMounts({
      requests: [parseVolumeFlag('/host:/data/sub', P), parseVolumeFlag('named:/shared', P), parseMountFlag('type=tmpfs,target=/t', P).request],
      tmpfsDestinations: ['/run'],
      imageVolumes: ['/data', '/shared', '/run', '/t', 'log/'],
      volumesFrom: [{ mounts: [vol('old', '/shared'), vol('other', '/other'), { Type: 'tmpfs', Source: '', Destination: '/tt', Mode: '', RW: true, Propagation: '' }], mode: 'ro' }],
    });
    expect(plan.map((m) => [m.point.Destination, m.point.Type, m.point.Name ?? null, m.point.RW])).toEqual([
      ['/shared', 'volume', 'named', true],
      ['/other', 'volume', 'other', false],
      ['/t', 'tmpfs', null, true],
      ['/data', 'volume', '', true],
      ['/log', 'volume', '', true],
      ['/data/sub', 'bind', null, true],
    ]);
    expect(plan.find((m) => m.point.Destination === '/data')!.volume).toEqual({ labels: {}, options: {}, driver: '', populate: true });
    // a --volumes-from volume is asked for again, never seeded
    expect(plan.find((m) => m.point.Destination === '/other')!.volume?.populate).toBe(false);
  });

  test('two of the user\'s own mounts at one destination are refused', () => {
    expect(() => planMounts({ requests: [parseVolumeFlag('a1:/x', P), parseVolumeFlag('/h:/x/', P)], tmpfsDestinations: [], imageVolumes: [], volumesFrom: [] })).toThrow('Duplicate mount point: /x');
    expect(() => planMounts({ requests: [parseVolumeFlag('a1:/x', P)], tmpfsDestinations: ['/x'], imageVolumes: [], volumesFrom: [] })).toThrow('Duplicate mount point: /x');
  });

  test('OCI mounts: binds with their propagation, volumes rbind, tmpfs with size and mode', () => {
    const plan = planMounts({
      requests: [parseVolumeFlag('/h:/b:ro,rshared', P), parseVolumeFlag('n1:/n', P), parseMountFlag('type=tmpfs,target=/t,tmpfs-size=2m,tmpfs-mode=700,readonly', P).request],
      tmpfsDestinations: [],
      imageVolumes: [],
      volumesFrom: [],
    });
    plan[1]!.point.Source = '/v/n1/_data';
    expect(ociMounts(plan)).toEqual([
      { destination: '/b', type: 'bind', source: '/h', options: ['rbind', 'rshared', 'ro'] },
      { destination: '/n', type: 'bind', source: '/v/n1/_data', options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', `size=${2 << 20}`, 'mode=700', 'ro'] },
    ]);
  });
});

describe('the volume store (real LMDB, real directories)', () => {
  let root: string;
  let md: Metadata;
  let store: VolumeStore;
  const logged: string[] = [];
  const log = { info: (_: object, m: string) => void logged.push(m), warn: (_: object, m: string) => void logged.push(`warn: ${m}`) };
  const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from('{}') };
  /** A container record whose run config names these volumes, as berth's client writes it. */
  const container = (ns: string, id: string, volumes: string[]) =>
    md.containers.create(ns, {
      id,
      runtime: { name: 'r' },
      spec,
      extensions: {
        [RUN_CONFIG_EXTENSION]: { typeUrl: RUN_CONFIG_TYPE_URL, value: Buffer.from(JSON.stringify({ Mounts: volumes.map((v) => ({ Type: 'volume', Name: v, Source: '', Destination: `/${v}`, Mode: '', RW: true, Propagation: '' })) })) },
      },
    });

  beforeEach(async () => {
    root = await makeTempRoot('vol-unit-');
    md = await openMetadata({ root });
    store = new VolumeStore(md.db, join(root, 'volumes'), log);
  });
  afterEach(async () => {
    for (const m of (await mountsAt(root)).reverse()) execFileSync('umount', ['-l', m]);
    await md.close();
    await removeTempRoot(root);
  });

  test('create: Docker\'s layout, idempotent, names and options checked', async () => {
    const { volume, created } = await store.create('default', { name: 'data', labels: { a: '1' } });
    expect(created).toBe(true);
    expect(volume).toMatchObject({ name: 'data', driver: 'local', labels: { a: '1' }, options: {}, mountpoint: join(root, 'volumes', 'data', '_data'), usedBy: [] });
    expect(statSync(volume.mountpoint).isDirectory()).toBe(true);
    expect((await store.create('default', { name: 'data' })).created).toBe(false);
    await expectKind(store.create('default', { name: 'data', options: { type: 'tmpfs', device: 'tmpfs' } }), 'AlreadyExists', /already exists with different options/);
    // another namespace: its own record and directory, no collision with "default"'s
    const other = (await store.create('team', { name: 'data' })).volume;
    expect(other.mountpoint).toBe(join(root, 'volumes', '_namespaces', 'team', 'data', '_data'));
    const random = (await store.create('default', { name: '' })).volume;
    expect(random.name).toMatch(/^[0-9a-f]{64}$/);
    expect(random.labels).toEqual({});
    await expectKind(store.create('default', { name: '../x' }), 'InvalidArgument', /includes invalid characters/);
    await expectKind(store.create('default', { name: 'v1', options: { type: 'tmpfs' } }), 'InvalidArgument', /missing required option: "device"/);
    await expectKind(store.create('default', { name: 'v1', options: { o: 'size=1m' } }), 'InvalidArgument', /missing required option: "device"/);
    await expectKind(store.create('default', { name: 'v1', options: { colour: 'red' } }), 'InvalidArgument', /invalid option: "colour"/);
    await expectKind(store.create('default', { name: 'v1', driver: 'nfs-plugin' }), 'InvalidArgument', /driver "nfs-plugin" is not supported/);
    expect(store.list('default').map((v) => v.name).sort()).toEqual(['data', random.name].sort());
  });

  test('in use: rm refused without force, list filters, prune anonymous vs all, removeAnonymous', async () => {
    await store.create('default', { name: 'named', labels: { team: 'a' } });
    await store.create('default', { name: 'idle' });
    const anon = (await store.prepare('default', { name: '' })).volume;
    const anonIdle = (await store.prepare('default', { name: '' })).volume;
    expect(anon.labels).toEqual({ [ANONYMOUS_LABEL]: '' });
    await container('default', 'c1', ['named', anon.name]);
    await container('default', 'c2', ['named']);
    expect(store.get('default', 'named').usedBy).toEqual(['c1', 'c2']);
    await expectKind(store.remove('default', 'named'), 'FailedPrecondition', /^remove named: volume is in use - \[c1 c2\]$/);
    await expectKind(store.remove('default', 'nothing'), 'NotFound', /get nothing: no such volume/);
    const names = (f: string[]) => store.list('default', f).map((v) => v.name).sort();
    expect(names(['dangling=true'])).toEqual([anonIdle.name, 'idle'].sort());
    expect(names(['dangling=false'])).toEqual([anon.name, 'named'].sort());
    expect(names(['name=am'])).toEqual(['named']);
    expect(names(['label=team=a'])).toEqual(['named']);
    expect(names(['label=team', 'dangling=true'])).toEqual([]);
    await expectKind(() => store.list('default', ['colour=red']), 'InvalidArgument', /invalid filter 'colour'/);

    // the anonymous ones Prepare made are protected until a container naming them exists
    expect((await store.prune('default')).deleted).toEqual([]);
    store.release('default', [anon.name, anonIdle.name]);
    writeFileSync(join(anonIdle.mountpoint, 'f'), '12345');
    expect(await store.prune('default')).toEqual({ deleted: [anonIdle.name], reclaimed: 5 });
    expect(existsSync(join(root, 'volumes', anonIdle.name))).toBe(false);
    expect(await store.prune('default', { all: true, filters: ['label!=keep'] })).toEqual({ deleted: ['idle'], reclaimed: 0 });

    // rm -v / --rm: anonymous and unused only
    expect(await store.removeAnonymous('default', ['named', anon.name])).toEqual([]);
    await md.containers.delete('default', 'c1');
    expect(await store.removeAnonymous('default', ['named', anon.name, 'gone'])).toEqual([anon.name]);
    await store.remove('default', 'named', { force: true });
    expect(store.list('default')).toEqual([]);
  });

  test('copy-up: contents, modes, owners and links into an empty volume, once', async () => {
    const image = join(root, 'image');
    mkdirSync(join(image, 'etc', 'app', 'conf.d'), { recursive: true });
    writeFileSync(join(image, 'etc', 'app', 'main.cfg'), 'port=80\n');
    chmodSync(join(image, 'etc', 'app', 'main.cfg'), 0o640);
    chownSync(join(image, 'etc', 'app', 'main.cfg'), 1000, 1001);
    symlinkSync('main.cfg', join(image, 'etc', 'app', 'current'));
    chmodSync(join(image, 'etc', 'app'), 0o750);
    chownSync(join(image, 'etc', 'app'), 1000, 1001);
    symlinkSync('/etc/app', join(image, 'cfg')); // absolute: resolved inside the image, not the host
    const withRoot = <T>(fn: (r: string) => Promise<T>) => fn(image);

    const v = (await store.create('default', { name: 'cfg' })).volume;
    expect(await store.populate('default', 'cfg', '/nothing/here', withRoot)).toBe('not-a-directory');
    expect(await store.populate('default', 'cfg', '/cfg', withRoot)).toBe('copied');
    expect(readFileSync(join(v.mountpoint, 'main.cfg'), 'utf8')).toBe('port=80\n');
    const f = statSync(join(v.mountpoint, 'main.cfg'));
    expect([f.mode & 0o7777, f.uid, f.gid]).toEqual([0o640, 1000, 1001]);
    expect(readlinkSync(join(v.mountpoint, 'current'))).toBe('main.cfg');
    expect(statSync(join(v.mountpoint, 'conf.d')).isDirectory()).toBe(true);
    const d = statSync(v.mountpoint);
    expect([d.mode & 0o7777, d.uid, d.gid]).toEqual([0o750, 1000, 1001]);
    // once: emptied later, it is not seeded again
    execFileSync('sh', ['-c', `rm -rf ${v.mountpoint}/*`]);
    expect(await store.populate('default', 'cfg', '/cfg', withRoot)).toBe('populated-before');
    // a volume with files of its own is left as it is
    const w = (await store.create('default', { name: 'mine' })).volume;
    writeFileSync(join(w.mountpoint, 'keep'), 'x');
    expect(await copyUp(image, '/etc/app', w.mountpoint)).toBe('volume-not-empty');
    expect(existsSync(join(w.mountpoint, 'main.cfg'))).toBe(false);
  });

  test('mount options: a tmpfs mounted by prepare, again after a restart when in use, unmounted on removal', async () => {
    const opts = { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=0750' };
    await store.create('default', { name: 'fast', options: opts });
    const v = (await store.prepare('default', { name: 'fast' })).volume;
    const isTmpfs = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === v.mountpoint && / - tmpfs /.test(l));
    expect(isTmpfs()).toBe(true);
    expect((statSync(v.mountpoint).mode & 0o777).toString(8)).toBe('750');
    writeFileSync(join(v.mountpoint, 'f'), 'x');
    await expect(removeTree(join(root, 'volumes', 'fast'))).rejects.toThrow(/still mounted/);
    expect(existsSync(join(v.mountpoint, 'f'))).toBe(true);
    // a reboot: nothing mounted; a store starting again mounts it for the container using it
    execFileSync('umount', [v.mountpoint]);
    await container('default', 'c1', ['fast']);
    expect(await new VolumeStore(md.db, join(root, 'volumes'), log).restoreMounts()).toBe(1);
    expect(isTmpfs()).toBe(true);
    await store.remove('default', 'fast', { force: true });
    expect(isTmpfs()).toBe(false);
    expect(existsSync(join(root, 'volumes', 'fast'))).toBe(false);
    await expectKind(store.prepare('default', { name: 'broken', options: { type: 'nosuchfs', device: 'x' } }), 'FailedPrecondition', /failed to mount local volume broken/);
    expect(existsSync(join(root, 'volumes', 'broken'))).toBe(false);
  });
});
