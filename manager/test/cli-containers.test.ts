// The pure parts of berth's containers: run options, the OCI spec with Docker's defaults, the
// seccomp profile, names and the container resolver, ps's human durations; and, on a real
// LMDB, berthd's name uniqueness and state recorder (labels from task events, --rm's removal).

import { parseArgs } from '../src/cli/options';
import { CREATE_OPTIONS, RUN_ONLY_OPTIONS, parseBytes, parseDevice, parseEnvLines, parseRunOptions, parseUlimit, type RunOptions } from '../src/cli/containers/run-options';
import { ALL_CAPS, DEFAULT_CAPS, buildSpec, capabilitiesOf, capsOfMask, commandOf, mergeEnv, profileToSeccomp, type SpecInput } from '../src/cli/containers/spec';
import { defaultSeccomp } from '../src/cli/containers/seccomp';
import { generateName, normalizeName, VALID_NAME } from '../src/cli/containers/names';
import { matchContainer, type ContainerRecord } from '../src/cli/containers/resolve';
import { humanDuration, ellipsis } from '../src/cli/containers/humanize';
import { hostsContent, resolvContent } from '../src/core/containers/files';
import { StateRecorder } from '../src/core/containers/state';
import { autoRemove } from '../src/core/containers/autoremove';
import * as L from '../src/core/containers/labels';
import { openMetadata, type Metadata } from '../src/core/metadata';
import { expectKind, makeTempRoot, removeTempRoot } from './support/metadata-tmp';

const PATH = 'berth run';
const ALL = [...CREATE_OPTIONS, ...RUN_ONLY_OPTIONS];
const opts = (argv: string[], env: Record<string, string> = {}): Promise<RunOptions> =>
  parseRunOptions(parseArgs(argv, ALL, { commandPath: PATH, stopAtFirstArgument: true }), PATH, env, { run: true });

describe('run options', () => {
  test('sizes, ulimits, devices, env lines', () => {
    expect(parseBytes('512m', 'memory', PATH)).toBe(512 * 1024 * 1024);
    expect(parseBytes('1g', 'memory', PATH)).toBe(1024 ** 3);
    expect(parseBytes('100', 'memory', PATH)).toBe(100);
    expect(parseBytes('1.5k', 'memory', PATH)).toBe(1536);
    expect(() => parseBytes('lots', 'memory', PATH)).toThrow(/invalid size/);
    expect(parseUlimit('nofile=10:20', PATH)).toEqual({ name: 'nofile', soft: 10, hard: 20 });
    expect(parseUlimit('nproc=5', PATH)).toEqual({ name: 'nproc', soft: 5, hard: 5 });
    expect(() => parseUlimit('nofile=20:10', PATH)).toThrow(/soft limit/);
    expect(() => parseUlimit('bogus=1', PATH)).toThrow(/invalid ulimit/);
    expect(parseDevice('/dev/fuse', PATH)).toEqual({ pathOnHost: '/dev/fuse', pathInContainer: '/dev/fuse', permissions: 'rwm' });
    expect(parseDevice('/dev/a:/dev/b:r', PATH)).toEqual({ pathOnHost: '/dev/a', pathInContainer: '/dev/b', permissions: 'r' });
    expect(parseDevice('/dev/a:rw', PATH)).toEqual({ pathOnHost: '/dev/a', pathInContainer: '/dev/a', permissions: 'rw' });
    expect(parseEnvLines('# c\nA=1\n  B\nC\n\n', { B: 'two' })).toEqual(['A=1', 'B=two']);
  });

  test('the command line, with Docker refusals', async () => {
    const o = await opts(['-d', '--name', 'x', '-e', 'A=1', '-e', 'H', '-m', '64m', '--cpus', '1.5', '--restart', 'on-failure:3', '-v', '/a:/b:ro', '--tmpfs', '/t:size=1m', 'img', 'sh', '-c', 'true'], { H: 'h' });
    expect(o).toMatchObject({ detach: true, name: 'x', env: ['A=1', 'H=h'], memory: 64 << 20, nanoCpus: 1.5e9, restart: 'on-failure:3', image: 'img', command: ['sh', '-c', 'true'], sigProxy: true, tmpfs: { '/t': 'size=1m' } });
    expect(o.binds).toEqual([{ source: '/a', destination: '/b', readonly: true, spec: '/a:/b:ro' }]);
    await expect(opts(['--rm', '--restart', 'always', 'img'])).rejects.toThrow(/Conflicting options: --restart and --rm/);
    await expect(opts(['--cpus', '1', '--cpu-quota', '5', 'img'])).rejects.toThrow(/Conflicting options/);
    await expect(opts(['--memory-swap', '1g', 'img'])).rejects.toThrow(/always set the Memory limit/);
    await expect(opts(['-m', '1m', 'img'])).rejects.toThrow(/Minimum memory limit/);
    await expect(opts(['--restart', 'sometimes', 'img'])).rejects.toThrow(/restart policy/);
    await expect(opts(['-l', 'berth/name=x', 'img'])).rejects.toThrow(/berth\/ prefix/);
    await expect(opts(['-v', './rel:/x', 'img'])).rejects.toThrow(/invalid characters for a local volume name.*use absolute path/);
    await expect(opts(['-d', '-a', 'stdout', 'img'])).rejects.toThrow(/-a and -d/);
    await expect(opts(['--add-host', 'nohost', 'img'])).rejects.toThrow(/add-host/);
    expect((await opts(['--sig-proxy=false', 'img'])).sigProxy).toBe(false);
  });
});

const input = (o: RunOptions, extra: Partial<SpecInput> = {}): SpecInput => ({
  id: 'f'.repeat(64),
  opts: o,
  image: { Env: ['PATH=/img', 'X=image'], Cmd: ['sh'], WorkingDir: '/w' },
  user: { uid: 0, gid: 0 },
  filesDir: '/var/lib/berth/containers/default/fff',
  devices: [],
  arch: 'x64',
  ...extra,
});

describe('spec', () => {
  test("Docker's defaults", async () => {
    const s = buildSpec(input(await opts(['img'])));
    expect(s.process.args).toEqual(['sh']);
    expect(s.process.cwd).toBe('/w');
    expect(s.process.env).toEqual(['PATH=/img', `HOSTNAME=${'f'.repeat(12)}`, 'X=image']);
    expect(s.hostname).toBe('f'.repeat(12));
    expect(s.process.capabilities.bounding).toEqual(DEFAULT_CAPS);
    expect(s.process.noNewPrivileges).toBe(false);
    expect(s.root).toEqual({ path: 'rootfs', readonly: false });
    expect(s.mounts.find((m) => m.destination === '/dev/shm')!.options).toContain(`size=${64 * 1024 * 1024}`);
    expect(s.mounts.find((m) => m.destination === '/etc/hosts')).toEqual({ destination: '/etc/hosts', type: 'bind', source: '/var/lib/berth/containers/default/fff/hosts', options: ['rbind', 'rprivate', 'rw'] });
    expect(s.linux.maskedPaths).toContain('/proc/kcore');
    expect(s.linux.readonlyPaths).toContain('/proc/sys');
    expect(s.linux.seccomp!.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(s.linux.cgroupsPath).toBe(`/berth/${'f'.repeat(64)}`);
    expect(s.linux.resources.devices).toContainEqual({ allow: false, access: 'rwm' });
    expect(s.linux.resources.memory).toBeUndefined();
  });

  test('entrypoint and command merge as Docker merges them', () => {
    const image = { Entrypoint: ['/ep'], Cmd: ['a'] };
    expect(commandOf({ command: [] }, image)).toEqual({ entrypoint: ['/ep'], cmd: ['a'] });
    expect(commandOf({ command: ['b'] }, image)).toEqual({ entrypoint: ['/ep'], cmd: ['b'] });
    expect(commandOf({ entrypoint: '/x', command: [] }, image)).toEqual({ entrypoint: ['/x'], cmd: [] });
    expect(commandOf({ entrypoint: '', command: [] }, image)).toEqual({ entrypoint: [], cmd: ['a'] });
    expect(mergeEnv(['A=1', 'B=2'], ['A=3', 'C'])).toEqual(['A=3', 'B=2', 'C']);
  });

  test('flags in the spec: resources, tty, read-only, privileged, init, ulimits, seccomp', async () => {
    const s = buildSpec(input(await opts(['-t', '-m', '64m', '--cpus', '0.5', '-c', '10', '--pids-limit', '7', '--oom-kill-disable', '--read-only', '--ulimit', 'nofile=1:2', '--shm-size', '1m', '--init', 'img']), { initBinary: '/usr/bin/tini-static' }));
    expect(s.process.terminal).toBe(true);
    expect(s.process.env).toContain('TERM=xterm');
    expect(s.linux.resources.memory).toEqual({ limit: 64 << 20, swap: 128 << 20, disableOOMKiller: true });
    expect(s.linux.resources.cpu).toEqual({ shares: 10, period: 100000, quota: 50000 });
    expect(s.linux.resources.pids).toEqual({ limit: 7 });
    expect(s.root.readonly).toBe(true);
    expect(s.mounts.find((m) => m.destination === '/etc/resolv.conf')!.options).toContain('ro');
    expect(s.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 1, hard: 2 }]);
    expect(s.process.args).toEqual(['/sbin/docker-init', '--', 'sh']);
    expect(s.mounts).toContainEqual({ destination: '/sbin/docker-init', type: 'bind', source: '/usr/bin/tini-static', options: ['rbind', 'rprivate', 'ro'] });
    const p = buildSpec(input(await opts(['--privileged', 'img']), { availableCaps: ALL_CAPS.slice(0, 30) }));
    expect(p.process.capabilities.bounding).toEqual(ALL_CAPS.slice(0, 30));
    expect(p.linux.seccomp).toBeUndefined();
    expect(p.linux.maskedPaths).toBeUndefined();
    expect(p.linux.resources.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(buildSpec(input(await opts(['--security-opt', 'seccomp=unconfined', 'img']))).linux.seccomp).toBeUndefined();
    expect(buildSpec(input(await opts(['--security-opt', 'no-new-privileges', 'img']))).process.noNewPrivileges).toBe(true);
    const plain = await opts(['img']);
    expect(() => buildSpec(input(plain, { image: {} }))).toThrow('no command specified');
    const relative = await opts(['-w', 'rel', 'img']);
    expect(() => buildSpec(input(relative))).toThrow(/absolute path/);
  });

  test('capabilities: defaults, add, drop, ALL; masks', () => {
    expect(capabilitiesOf({ privileged: false, capAdd: ['sys_admin'], capDrop: ['CHOWN'] })).toEqual([...DEFAULT_CAPS.filter((c) => c !== 'CAP_CHOWN'), 'CAP_SYS_ADMIN']);
    expect(capabilitiesOf({ privileged: false, capAdd: ['NET_ADMIN'], capDrop: ['ALL'] })).toEqual(['CAP_NET_ADMIN']);
    expect(capabilitiesOf({ privileged: false, capAdd: ['ALL'], capDrop: [] })).toEqual(ALL_CAPS);
    expect(() => capabilitiesOf({ privileged: false, capAdd: ['NOPE'], capDrop: [] })).toThrow(/unknown capability/);
    expect(capsOfMask('a80425fb').sort()).toEqual([...DEFAULT_CAPS].sort());
  });

  test("seccomp: Docker's rules by capability and architecture; Docker-format profiles", () => {
    const names = (s: ReturnType<typeof defaultSeccomp>) => s.syscalls.flatMap((r) => (r.action === 'SCMP_ACT_ALLOW' && !r.args ? r.names : []));
    const plain = defaultSeccomp(DEFAULT_CAPS, 'x64');
    expect(plain.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(names(plain)).toEqual(expect.arrayContaining(['read', 'arch_prctl', 'chroot', 'ptrace']));
    expect(names(plain)).not.toContain('mount');
    expect(plain.syscalls).toContainEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    const admin = defaultSeccomp([...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], 'arm64');
    expect(names(admin)).toEqual(expect.arrayContaining(['mount', 'unshare', 'set_tls']));
    expect(names(admin)).not.toContain('arch_prctl');
    expect(admin.syscalls.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO')).toBe(false);
    const custom = profileToSeccomp(
      { defaultAction: 'SCMP_ACT_ERRNO', archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } }] },
      DEFAULT_CAPS,
      'x64',
    );
    expect(custom).toEqual({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] });
  });

  test('/etc/hosts and /etc/resolv.conf', () => {
    expect(hostsContent({ hostname: 'h', extraHosts: ['db:10.0.0.1', 'v6:::1'] })).toMatch(/^127\.0\.0\.1\tlocalhost\n[\s\S]*10\.0\.0\.1\tdb\n::1\tv6\n$/);
    const host = 'search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions ndots:2\n';
    expect(resolvContent(host, [])).toBe('search example.com\noptions ndots:2\nnameserver 10.0.0.2\n');
    expect(resolvContent(host, ['9.9.9.9'])).toBe('search example.com\noptions ndots:2\nnameserver 9.9.9.9\n');
    expect(resolvContent('nameserver 127.0.0.1\n', [])).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });
});

describe('names and resolution', () => {
  test('generated and given names', () => {
    for (let i = 0; i < 50; i++) expect(generateName()).toMatch(/^[a-z]+_[a-z]+$/);
    expect(generateName(1)).toMatch(/^[a-z]+_[a-z]+\d$/);
    expect(VALID_NAME.test(generateName())).toBe(true);
    expect(normalizeName('/web')).toBe('web');
    expect(() => normalizeName('-bad')).toThrow(/Invalid container name/);
  });

  test('id, then name, then a unique prefix', () => {
    const rec = (id: string, name: string): ContainerRecord => ({ id, name, labels: { [L.NAME]: name }, image: '', spec: null, snapshotter: '', snapshotKey: '', createdAt: new Date(), extensions: {}, runtime: { name: '' } });
    const all = [rec('abc123', 'web'), rec('abd456', 'abc123x'), rec('f00', 'abc')];
    expect(matchContainer(all, 'abc123').id).toBe('abc123');
    expect(matchContainer(all, '/web').id).toBe('abc123');
    expect(matchContainer(all, 'abc').id).toBe('f00'); // a name beats a prefix
    expect(matchContainer(all, 'abd').id).toBe('abd456');
    expect(() => matchContainer(all, 'ab')).toThrow(/multiple IDs found with provided prefix: ab/);
    expect(() => matchContainer(all, 'zz')).toThrow(/No such container: zz/);
  });

  test('human durations', () => {
    expect(humanDuration(300)).toBe('Less than a second');
    expect(humanDuration(45000)).toBe('45 seconds');
    expect(humanDuration(70000)).toBe('About a minute');
    expect(humanDuration(3 * 3600000)).toBe('3 hours');
    expect(humanDuration(3 * 86400000)).toBe('3 days');
    expect(ellipsis('abcdefghij', 5)).toBe('abcd…');
  });
});

describe('berthd: names and state (real LMDB)', () => {
  let root: string;
  let md: Metadata;
  beforeEach(async () => {
    root = await makeTempRoot();
    md = await openMetadata({ root });
  });
  afterEach(async () => {
    await md.close();
    await removeTempRoot(root);
  });
  const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from('{}') };
  const create = (id: string, labels: Record<string, string>) => md.containers.create('default', { id, labels, runtime: { name: 'r' }, spec, snapshotter: 'overlayfs', snapshotKey: id });

  test('a berth/name is unique per namespace, on create and on rename', async () => {
    await create('a', { [L.NAME]: 'web' });
    await expectKind(create('b', { [L.NAME]: 'web' }), 'AlreadyExists');
    await expect(create('b', { [L.NAME]: 'web' })).rejects.toThrow('Conflict. The container name "/web" is already in use by container "a"');
    await md.containers.create('other', { id: 'c', labels: { [L.NAME]: 'web' }, runtime: { name: 'r' }, spec });
    await create('b', { [L.NAME]: 'db' });
    await expectKind(md.containers.update('default', { id: 'b', labels: { [L.NAME]: 'web' }, runtime: { name: 'r' }, spec }, [`labels.${L.NAME}`]), 'AlreadyExists');
    await md.containers.update('default', { id: 'a', labels: { [L.NAME]: 'web', x: '1' }, runtime: { name: 'r' }, spec }, ['labels.x']);
    await md.containers.update('default', { id: 'b', labels: { [L.NAME]: 'db2' }, runtime: { name: 'r' }, spec }, [`labels.${L.NAME}`]);
    expect(md.containers.get('default', 'b').labels[L.NAME]).toBe('db2');
  });

  test('the recorder writes start, exit and OOM; only for berth containers; --rm removes', async () => {
    await create('mine', { [L.CREATED_BY]: 'berth' });
    await create('ctrs', {});
    await create('gone', { [L.CREATED_BY]: 'berth', [L.AUTO_REMOVE]: 'true' });
    const removed: string[] = [];
    const calls: string[] = [];
    const log = { warn: jest.fn(), debug: () => undefined, info: () => undefined };
    const rec = new StateRecorder({
      containers: md.containers,
      log,
      now: () => new Date('2030-01-01T00:00:00Z'),
      autoRemove: (ns, id) =>
        autoRemove(
          {
            containers: md.containers,
            deleteTask: async (_n, i) => void calls.push(`task ${i}`),
            removeSnapshot: async (_n, s, k) => void calls.push(`snapshot ${s} ${k}`),
            removeFiles: async (_n, i) => void calls.push(`files ${i}`),
            deleted: (_n, i) => void removed.push(i),
            log,
          },
          ns,
          id,
        ),
    });
    rec.handle('default', '/tasks/start', { containerId: 'mine' });
    rec.handle('default', '/tasks/oom', { containerId: 'mine' });
    rec.handle('default', '/tasks/exit', { containerId: 'mine', id: 'exec1', exitStatus: 9 }); // an exec: ignored
    rec.handle('default', '/tasks/exit', { containerId: 'mine', id: 'mine', exitStatus: 137, exitedAt: new Date('2030-01-01T00:00:05Z') });
    rec.handle('default', '/tasks/start', { containerId: 'ctrs' });
    rec.handle('default', '/tasks/exit', { containerId: 'gone', id: 'gone', exitStatus: 0 });
    await rec.idle();
    expect(md.containers.get('default', 'mine').labels).toMatchObject({
      [L.STATE_STARTED_AT]: '2030-01-01T00:00:00.000Z',
      [L.STATE_FINISHED_AT]: '2030-01-01T00:00:05.000Z',
      [L.STATE_EXIT_CODE]: '137',
      [L.STATE_OOM_KILLED]: 'true',
    });
    expect(md.containers.get('default', 'ctrs').labels).toEqual({});
    expect(() => md.containers.get('default', 'gone')).toThrow();
    expect(calls).toEqual(['task gone', 'snapshot overlayfs gone', 'files gone']);
    expect(removed).toEqual(['gone']);
    // a new run clears the last one's exit code and OOM
    rec.handle('default', '/tasks/start', { containerId: 'mine' });
    await rec.idle();
    const l = md.containers.get('default', 'mine').labels;
    expect(l[L.STATE_EXIT_CODE]).toBeUndefined();
    expect(l[L.STATE_OOM_KILLED]).toBeUndefined();
    expect(log.warn).not.toHaveBeenCalled();
  });
});
