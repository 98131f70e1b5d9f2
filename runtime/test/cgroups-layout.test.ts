import {
  CgroupError,
  detectLayout,
  layoutFromMountInfo,
  openCgroup,
  ownCgroup,
  parseMountInfo,
  parseProcCgroup,
  resolveCgroupPaths,
  V1Cgroup,
  V2Cgroup,
} from '../src/cgroups';
import type { CgroupLayout } from '../src/cgroups/types';
import { FakeHost, HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP } from './fake-host';

const PURE_V2_MOUNTINFO = `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
24 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

// A systemd-era v1 machine: cpu and cpuacct share one hierarchy (symlinks point at it), as do
// net_cls and net_prio; the named systemd hierarchy carries xattr and release_agent options.
const COMBINED_V1_MOUNTINFO = `25 21 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset,clone_children
33 25 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
`;

describe('layout detection', () => {
  it('reads this VM as hybrid: one hierarchy per v1 controller plus cgroup2 at unified/', () => {
    const layout = layoutFromMountInfo(HYBRID_MOUNTINFO);
    expect(layout.mode).toBe('hybrid');
    expect(layout.unifiedMount).toBe('/sys/fs/cgroup/unified');
    expect(layout.v1Mounts).toEqual({
      cpu: '/sys/fs/cgroup/cpu',
      cpuacct: '/sys/fs/cgroup/cpuacct',
      cpuset: '/sys/fs/cgroup/cpuset',
      memory: '/sys/fs/cgroup/memory',
      devices: '/sys/fs/cgroup/devices',
      freezer: '/sys/fs/cgroup/freezer',
      blkio: '/sys/fs/cgroup/blkio',
      pids: '/sys/fs/cgroup/pids',
      'name=systemd': '/sys/fs/cgroup/systemd',
    });
  });

  it('reads a pure cgroup2 machine (optional fields like shared:4 before the separator)', () => {
    const layout = layoutFromMountInfo(PURE_V2_MOUNTINFO);
    expect(layout).toMatchObject({ mode: 'v2', v1Mounts: {}, unifiedMount: '/sys/fs/cgroup' });
  });

  it('maps a combined cpu,cpuacct mount to both controllers and skips non-controller options', () => {
    const layout = layoutFromMountInfo(COMBINED_V1_MOUNTINFO);
    expect(layout.mode).toBe('v1');
    expect(layout.unifiedMount).toBeUndefined();
    expect(layout.v1Mounts['cpu']).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layout.v1Mounts['cpuacct']).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layout.v1Mounts['net_cls']).toBe('/sys/fs/cgroup/net_cls,net_prio');
    expect(layout.v1Mounts['net_prio']).toBe('/sys/fs/cgroup/net_cls,net_prio');
    expect(layout.v1Mounts['name=systemd']).toBe('/sys/fs/cgroup/systemd');
    expect(layout.v1Mounts['cpuset']).toBe('/sys/fs/cgroup/cpuset');
    expect(Object.keys(layout.v1Mounts)).not.toEqual(expect.arrayContaining(['xattr']));
    for (const k of Object.keys(layout.v1Mounts)) {
      expect(k).not.toMatch(/^(rw|xattr|clone_children|release_agent=.*)$/);
    }
  });

  it('treats a named-only v1 hierarchy beside cgroup2 as v2 (no v1 controllers to manage)', () => {
    const text = `26 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
27 25 0:25 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
`;
    const layout = layoutFromMountInfo(text);
    expect(layout.mode).toBe('v2');
    expect(layout.unifiedMount).toBe('/sys/fs/cgroup/unified');
  });

  it('prefers the mount of a hierarchy root over a bind mount of a sub-tree and records mount roots', () => {
    const text = `40 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
41 31 0:32 / /host/memory rw - cgroup cgroup rw,memory
42 31 0:33 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
`;
    const layout = layoutFromMountInfo(text);
    expect(layout.v1Mounts['memory']).toBe('/host/memory');
    expect(layout.mountRoots?.['memory']).toBe('/');
    expect(layout.v1Mounts['pids']).toBe('/sys/fs/cgroup/pids');
    expect(layout.mountRoots?.['pids']).toBe('/docker/abc');
  });

  it('decodes octal escapes in mount points', () => {
    const [m] = parseMountInfo('40 31 0:32 / /mnt/my\\040cgroups rw - cgroup cgroup rw,memory\n');
    expect(m?.mountPoint).toBe('/mnt/my cgroups');
    expect(m?.superOptions).toEqual(['rw', 'memory']);
  });

  it('fails with ERR_CGROUP_LAYOUT when no cgroup filesystem is mounted', () => {
    expect(() => layoutFromMountInfo('27 1 254:0 / / rw - ext4 /dev/vda rw\n')).toThrow(
      expect.objectContaining({ code: 'ERR_CGROUP_LAYOUT' }),
    );
  });

  it('detectLayout reads /proc/self/mountinfo through the host', async () => {
    const host = new FakeHost().seedFile('/proc/self/mountinfo', PURE_V2_MOUNTINFO);
    await expect(detectLayout(host)).resolves.toMatchObject({ mode: 'v2', unifiedMount: '/sys/fs/cgroup' });
    await expect(detectLayout(new FakeHost())).rejects.toThrow('read /proc/self/mountinfo: No such file or directory');
  });
});

describe('own cgroup', () => {
  it('parses v1 lines, combined controller lists and the v2 line', () => {
    const own = parseProcCgroup('12:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice/session-2.scope\n0::/init.scope\n');
    expect(own.v1).toEqual({ cpu: '/user.slice', cpuacct: '/user.slice', 'name=systemd': '/user.slice/session-2.scope' });
    expect(own.unified).toBe('/init.scope');
  });

  it('keeps colons inside the path and reads the VM sample', async () => {
    expect(parseProcCgroup('4:memory:/a:b/c\n').v1['memory']).toBe('/a:b/c');
    const own = await ownCgroup(new FakeHost().seedFile('/proc/self/cgroup', HYBRID_PROC_CGROUP));
    expect(own.v1['memory']).toBe('/process_api/5cf3950818accd4ca23b672b70efd2fe');
    expect(own.v1['pids']).toBe('/');
    expect(own.unified).toBe('/');
  });
});

describe('cgroupsPath resolution', () => {
  const hybrid = layoutFromMountInfo(HYBRID_MOUNTINFO);
  const v2 = layoutFromMountInfo(PURE_V2_MOUNTINFO);
  const host = () => new FakeHost().seedFile('/proc/self/cgroup', HYBRID_PROC_CGROUP);

  it('defaults to /berth/<id> in every hierarchy, the unified one included on hybrid', async () => {
    const paths = await resolveCgroupPaths(host(), hybrid, undefined, 'c1');
    expect(paths['memory']).toBe('/sys/fs/cgroup/memory/berth/c1');
    expect(paths['name=systemd']).toBe('/sys/fs/cgroup/systemd/berth/c1');
    expect(paths['']).toBe('/sys/fs/cgroup/unified/berth/c1');
    expect(Object.keys(paths)).toHaveLength(10);
    expect(await resolveCgroupPaths(host(), hybrid, '', 'c2')).toMatchObject({ cpu: '/sys/fs/cgroup/cpu/berth/c2' });
  });

  it('puts an absolute path under each hierarchy root without reading /proc/self/cgroup', async () => {
    const h = new FakeHost(); // no /proc/self/cgroup: reading it would fail
    const paths = await resolveCgroupPaths(h, hybrid, '/machine/pod1//ctr', 'ignored');
    expect(paths['memory']).toBe('/sys/fs/cgroup/memory/machine/pod1/ctr');
    expect(paths['cpuset']).toBe('/sys/fs/cgroup/cpuset/machine/pod1/ctr');
  });

  it('puts a relative path under the caller’s own cgroup of each hierarchy', async () => {
    const paths = await resolveCgroupPaths(host(), hybrid, 'sub/ctr', 'ignored');
    expect(paths['memory']).toBe('/sys/fs/cgroup/memory/process_api/5cf3950818accd4ca23b672b70efd2fe/sub/ctr');
    expect(paths['cpu']).toBe('/sys/fs/cgroup/cpu/sub/ctr');
    expect(paths['']).toBe('/sys/fs/cgroup/unified/sub/ctr');
  });

  it('resolves relative paths on v2 and strips the mount root of a sub-tree mount', async () => {
    const h = new FakeHost().seedFile('/proc/self/cgroup', '0::/user.slice/session-1.scope\n');
    expect(await resolveCgroupPaths(h, v2, 'x', 'id')).toEqual({ '': '/sys/fs/cgroup/user.slice/session-1.scope/x' });
    const layout: CgroupLayout = { mode: 'v1', v1Mounts: { memory: '/sys/fs/cgroup/memory' }, mountRoots: { memory: '/docker/abc' } };
    const h2 = new FakeHost().seedFile('/proc/self/cgroup', '4:memory:/docker/abc/inner\n');
    expect(await resolveCgroupPaths(h2, layout, 'x', 'id')).toEqual({ memory: '/sys/fs/cgroup/memory/inner/x' });
  });

  it.each(['../escape', '/a/../../etc', 'a/..', '/berth/..'])('rejects %s naming linux.cgroupsPath', async (p) => {
    const err = await resolveCgroupPaths(host(), hybrid, p, 'id').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupError);
    expect((err as CgroupError).code).toBe('ERR_CGROUP_PATH');
    expect((err as Error).message).toContain('linux.cgroupsPath');
    expect((err as Error).message).toContain(JSON.stringify(p));
  });

  it('rejects the hierarchy root itself and container ids that are not one path component', async () => {
    await expect(resolveCgroupPaths(host(), hybrid, '/', 'id')).rejects.toThrow(/linux.cgroupsPath "\/" names the hierarchy root/);
    await expect(resolveCgroupPaths(host(), hybrid, undefined, 'a/b')).rejects.toThrow(/container id "a\/b"/);
  });

  it('openCgroup picks the v1 manager on hybrid and the v2 manager on v2', async () => {
    const m1 = await openCgroup(host(), hybrid, undefined, 'c1');
    expect(m1).toBeInstanceOf(V1Cgroup);
    expect(m1.version).toBe(1);
    expect(m1.paths['freezer']).toBe('/sys/fs/cgroup/freezer/berth/c1');
    const m2 = await openCgroup(host(), v2, '/a/b', 'c1');
    expect(m2).toBeInstanceOf(V2Cgroup);
    expect(m2.paths).toEqual({ '': '/sys/fs/cgroup/a/b' });
  });
});
