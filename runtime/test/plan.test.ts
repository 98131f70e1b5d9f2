import { buildPlan, encodePlan, type PlanOptions } from '../src/plan/build';
import { defaultSpec } from '../src/spec/default';
import { MS, parseMountOptions } from '../src/plan/mount-options';
import type { Spec } from '../src/spec/types';

const facts = { hasSysResource: false, hardLimits: { RLIMIT_NOFILE: '20000', RLIMIT_NPROC: '18446744073709551615' }, ownOomScoreAdj: 0 };
const opts = (over: Partial<PlanOptions> = {}): PlanOptions => ({
  bundle: '/b',
  rootfs: '/b/rootfs',
  cgroupMounts: [
    { mountPoint: '/sys/fs/cgroup/memory', hostDir: '/sys/fs/cgroup/memory/berth/c1', fstype: 'cgroup' },
    { mountPoint: '/sys/fs/cgroup/unified', hostDir: '/sys/fs/cgroup/unified/berth/c1', fstype: 'cgroup2' },
  ],
  facts,
  execFifo: '/run/berth/runtime/c1/exec.fifo',
  ...over,
});
const records = (spec: Spec, o = opts()) => buildPlan(spec, o).records;
const named = (spec: Spec, name: string, o = opts()) => records(spec, o).filter((r) => r[0] === name);

describe('mount options', () => {
  it('maps flags, clears with their opposites, keeps the rest as data', () => {
    const p = parseMountOptions(['ro', 'nosuid', 'nodev', 'rw', 'mode=755', 'size=1m', 'rslave', 'tmpcopyup']);
    expect(p.flags).toBe(MS.NOSUID | MS.NODEV);
    expect(p.propagation).toBe(MS.SLAVE | MS.REC);
    expect(p.data).toBe('mode=755,size=1m');
  });
  it('makes rbind a recursive bind', () => {
    expect(parseMountOptions(['rbind', 'ro']).flags).toBe(MS.BIND | MS.REC | MS.RDONLY);
  });
});

describe('init plan', () => {
  it('starts with the version and ends with end', () => {
    const text = encodePlan(buildPlan(defaultSpec(), opts()));
    expect(text.startsWith('version 1\n')).toBe(true);
    expect(text.endsWith('\nend\n')).toBe(true);
  });

  it('maps namespaces to plan names, keeping join paths', () => {
    const spec = defaultSpec();
    spec.linux!.namespaces!.push({ type: 'user' });
    spec.linux!.namespaces![1] = { type: 'network', path: '/var/run/netns/x' };
    expect(named(spec, 'ns')).toEqual([
      ['ns', 'pid', ''], ['ns', 'net', '/var/run/netns/x'], ['ns', 'ipc', ''], ['ns', 'uts', ''], ['ns', 'mnt', ''], ['ns', 'cgroup', ''], ['ns', 'user', ''],
    ]);
  });

  it('turns the default mounts into mount records with flags and data', () => {
    const m = named(defaultSpec(), 'mount');
    expect(m[0]).toEqual(['mount', 'proc', '/proc', 'proc', 0, 0, '']);
    expect(m[1]).toEqual(['mount', 'tmpfs', '/dev', 'tmpfs', MS.NOSUID | MS.STRICTATIME, 0, 'mode=755,size=65536k']);
    expect(m[5]).toEqual(['mount', 'sysfs', '/sys', 'sysfs', MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY, 0, '']);
  });

  it('expands a read-only cgroup mount into tmpfs, one bind per hierarchy, then the ro remount', () => {
    const cg = named(defaultSpec(), 'mount').slice(6);
    const base = MS.NOSUID | MS.NODEV | MS.NOEXEC;
    expect(cg).toEqual([
      ['mount', 'tmpfs', '/sys/fs/cgroup', 'tmpfs', base, 0, 'mode=755'],
      ['mount', '/sys/fs/cgroup/memory/berth/c1', '/sys/fs/cgroup/memory', 'bind', MS.BIND | base | MS.RDONLY, 0, ''],
      ['mount', '/sys/fs/cgroup/unified/berth/c1', '/sys/fs/cgroup/unified', 'bind', MS.BIND | base | MS.RDONLY, 0, ''],
      ['mount', 'tmpfs', '/sys/fs/cgroup', 'tmpfs', MS.REMOUNT | MS.RDONLY | base, 0, 'mode=755'],
    ]);
  });

  it('resolves a relative bind source against the bundle', () => {
    const spec = defaultSpec();
    spec.mounts!.push({ destination: '/data', source: 'data', options: ['rbind', 'ro'] });
    expect(named(spec, 'mount').pop()).toEqual(['mount', '/b/data', '/data', 'bind', MS.BIND | MS.REC | MS.RDONLY, 0, '']);
  });

  it('creates the default devices and symlinks unless /dev is bound from the host', () => {
    const spec = defaultSpec();
    spec.linux!.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o20600 }];
    const devices = named(spec, 'device');
    expect(devices.map((d) => d[1])).toEqual(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/fuse']);
    expect(devices[6]).toEqual(['device', '/dev/fuse', 'c', 10, 229, 0o600, 0, 0]);
    expect(named(spec, 'symlink')).toContainEqual(['symlink', 'pts/ptmx', '/dev/ptmx']);
    spec.mounts!.push({ destination: '/dev', source: '/dev', options: ['rbind'] });
    expect(named(spec, 'device')).toEqual([]);
  });

  it('asks for bind-mounted devices in a user namespace', () => {
    const spec = defaultSpec(true, 1000, 1000);
    expect(named(spec, 'bind-devices')).toHaveLength(1);
    expect(named(defaultSpec(), 'bind-devices')).toHaveLength(0);
  });

  it('clamps a hard rlimit above our own and warns, when we lack CAP_SYS_RESOURCE', () => {
    const spec = defaultSpec();
    spec.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }, { type: 'RLIMIT_NPROC', soft: 100, hard: 200 }];
    const plan = buildPlan(spec, opts());
    expect(plan.records.filter((r) => r[0] === 'rlimit')).toEqual([['rlimit', 7, '20000', '20000'], ['rlimit', 6, '100', '200']]);
    expect(plan.warnings.join('\n')).toMatch(/RLIMIT_NOFILE hard limit 1048576 lowered to 20000/);
  });

  it('keeps the asked rlimit when we may raise it', () => {
    const spec = defaultSpec();
    spec.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }];
    expect(named(spec, 'rlimit', opts({ facts: { ...facts, hasSysResource: true } }))).toEqual([['rlimit', 7, '1048576', '1048576']]);
  });

  it('raises an oom_score_adj below our own and warns, instead of failing', () => {
    const spec = defaultSpec();
    spec.process!.oomScoreAdj = -500;
    const plan = buildPlan(spec, opts());
    expect(plan.records).toContainEqual(['oom-score-adj', 0]);
    expect(plan.warnings.join('\n')).toMatch(/oomScoreAdj: -500 raised to 0/);
    spec.process!.oomScoreAdj = 300;
    expect(named(spec, 'oom-score-adj')).toEqual([['oom-score-adj', 300]]);
  });

  it('writes capability numbers per set and warns about unknown names', () => {
    const spec = defaultSpec();
    spec.process!.capabilities = { bounding: ['CAP_KILL', 'CAP_SYS_ADMIN', 'CAP_BOGUS'], effective: ['CAP_KILL'] };
    const plan = buildPlan(spec, opts());
    expect(plan.records.filter((r) => r[0] === 'caps')).toEqual([
      ['caps', 'bounding', 5, 21], ['caps', 'effective', 5], ['caps', 'inheritable'], ['caps', 'permitted'], ['caps', 'ambient'],
    ]);
    expect(plan.warnings).toContain('process.capabilities.bounding: unknown capability "CAP_BOGUS" ignored');
  });

  it('leaves capabilities alone when the spec has none', () => {
    const spec = defaultSpec();
    delete spec.process!.capabilities;
    expect(named(spec, 'caps')).toEqual([]);
  });

  it('writes the process: user, groups, umask, cwd, env, args', () => {
    const spec = defaultSpec();
    spec.process!.user = { uid: 1000, gid: 100, additionalGids: [10, 20], umask: 0o27 };
    spec.process!.args = ['/bin/echo', 'hello world'];
    const r = records(spec);
    expect(r).toContainEqual(['user', 1000, 100]);
    expect(r).toContainEqual(['groups', 10, 20]);
    expect(r).toContainEqual(['umask', 0o27]);
    expect(r.filter((x) => x[0] === 'arg')).toEqual([['arg', '/bin/echo'], ['arg', 'hello world']]);
    expect(r.filter((x) => x[0] === 'env')[0]).toEqual(['env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  it('turns sysctl keys into /proc/sys paths', () => {
    const spec = defaultSpec();
    spec.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
    expect(named(spec, 'sysctl')).toEqual([['sysctl', 'net/ipv4/ip_forward', '1']]);
  });

  it('passes container-side hooks with argv and env', () => {
    const spec = defaultSpec();
    spec.hooks = { createContainer: [{ path: '/bin/h', args: ['h', '-x'], env: ['A=1'], timeout: 5 }], startContainer: [{ path: '/bin/s' }] };
    expect(named(spec, 'hook')).toEqual([
      ['hook', 'createContainer', 5, '/bin/h', 2, 'h', '-x', 'A=1'],
      ['hook', 'startContainer', 0, '/bin/s', 1, '/bin/s'],
    ]);
  });

  it('adds terminal, console socket, fifo, wait and preserved fds only when asked', () => {
    const spec = defaultSpec();
    const r = records(spec, opts({ consoleSocket: '/tmp/cs', wait: true, preserveFds: 2 }));
    expect(r).toContainEqual(['terminal']);
    expect(r).toContainEqual(['console-socket', '/tmp/cs']);
    expect(r).toContainEqual(['wait']);
    expect(r).toContainEqual(['preserve-fds', 2]);
    expect(r).toContainEqual(['exec-fifo', '/run/berth/runtime/c1/exec.fifo']);
    spec.process!.terminal = false;
    const r2 = records(spec);
    expect(r2.some((x) => x[0] === 'terminal' || x[0] === 'wait' || x[0] === 'preserve-fds')).toBe(false);
  });

  it('makes the rootfs propagation recursive and defaults to rslave', () => {
    const spec = defaultSpec();
    expect(named(spec, 'rootfs-propagation')).toEqual([['rootfs-propagation', MS.SLAVE | MS.REC]]);
    spec.linux!.rootfsPropagation = 'private';
    expect(named(spec, 'rootfs-propagation')).toEqual([['rootfs-propagation', MS.PRIVATE | MS.REC]]);
  });
  it('leaves the console socket out when there is none: stage0 relays the pty in the foreground', () => {
    const spec = defaultSpec();
    spec.process!.consoleSize = { height: 40, width: 120 };
    const r = records(spec, opts({ wait: true }));
    expect(r).toContainEqual(['terminal']);
    expect(r).toContainEqual(['console-size', 40, 120]);
    expect(r.some((x) => x[0] === 'console-socket')).toBe(false);
  });

  it('writes the personality domain as its personality(2) value', () => {
    const spec = defaultSpec();
    expect(named(spec, 'personality')).toEqual([]);
    spec.linux!.personality = { domain: 'LINUX32' };
    expect(named(spec, 'personality')).toEqual([['personality', 8]]);
    spec.linux!.personality = { domain: 'LINUX', flags: [] };
    expect(named(spec, 'personality')).toEqual([['personality', 0]]);
  });

  it('refuses an unknown personality domain and any personality flag, naming the field', () => {
    const spec = defaultSpec();
    spec.linux!.personality = { domain: 'SVR4' };
    expect(() => records(spec)).toThrow(/linux\.personality\.domain: unknown domain "SVR4"/);
    spec.linux!.personality = { domain: 'LINUX', flags: ['ADDR_NO_RANDOMIZE'] };
    expect(() => records(spec)).toThrow(/linux\.personality\.flags: no flags are supported/);
    spec.linux!.personality = {} as never;
    expect(() => records(spec)).toThrow(/linux\.personality\.domain must be a string/);
  });

  it('refuses a bad seccomp profile before anything runs, naming the field', () => {
    const spec = defaultSpec();
    spec.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_EXPLODE' }] };
    expect(() => records(spec)).toThrow(/linux\.seccomp\.syscalls\[0\]\.action: unknown action/);
  });
});
