import { mkdirSync, writeFileSync, readFileSync } from 'fs';
import { join } from 'path';
import { Sandbox, requireRoot, probeOutput } from './support/env';

// Each area of config.json, checked from inside the container by the static probe.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

async function probe(adjust: (spec: any) => void, args: string[] = []): Promise<any> {
  const bundle = sb.bundle((s) => {
    s.process.args = ['/bin/probe', ...args];
    adjust(s);
  });
  const r = await sb.run(['run', '--bundle', bundle, sb.id()]);
  if (r.code !== 0) throw new Error(`run failed (${r.code}): ${r.stderr}`);
  return probeOutput(r.stdout);
}

const capMask = (...caps: number[]) => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n).toString(16).padStart(16, '0');
const mount = (p: any, at: string) => p.mounts.filter((m: any) => m.mountpoint === at).pop();

describe('namespaces', () => {
  it('runs as pid 1 of a new pid namespace, in its own session', async () => {
    const p = await probe(() => undefined);
    expect(p).toMatchObject({ pid: 1, ppid: 0, sid: 1, pgid: 1 });
  });
  it('has a new network namespace with only loopback', async () => {
    const p = await probe(() => undefined, ['--cat', '/proc/net/dev']);
    const ifaces = p.cat.split('\n').slice(2).filter(Boolean).map((l: string) => l.split(':')[0].trim());
    expect(ifaces).toEqual(['lo']);
  });
  it('brings the new namespace\'s loopback up, as runc does', async () => {
    const p = await probe(() => undefined, ['--cat', '/sys/class/net/lo/flags']);
    expect(Number(p.cat.trim()) & 0x1).toBe(0x1); // IFF_UP
  });
  it('joins a namespace given by path', async () => {
    // A uts namespace made by another process, with its own hostname, joined by path.
    const { spawn } = await import('child_process');
    const holder = spawn('unshare', ['--uts', 'sh', '-c', 'hostname joined-uts && echo ready && exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((r) => holder.stdout!.once('data', r));
      const p = await probe((s) => {
        s.linux.namespaces = s.linux.namespaces.map((n: any) => (n.type === 'uts' ? { type: 'uts', path: `/proc/${holder.pid}/ns/uts` } : n));
        delete s.hostname;
      });
      expect(p.hostname).toBe('joined-uts');
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('root and mounts', () => {
  it('has a read-only root, and the default mounts with their flags', async () => {
    const p = await probe(() => undefined);
    expect(mount(p, '/').options.split(',')).toContain('ro');
    expect(mount(p, '/proc').fstype).toBe('proc');
    expect(mount(p, '/dev')).toMatchObject({ fstype: 'tmpfs' });
    expect(mount(p, '/dev/pts').options.split(',')).toEqual(expect.arrayContaining(['nosuid', 'noexec']));
    expect(mount(p, '/dev/shm').options.split(',')).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    expect(mount(p, '/dev/mqueue').fstype).toBe('mqueue');
    expect(mount(p, '/sys')).toMatchObject({ fstype: 'sysfs' });
    expect(mount(p, '/sys').options.split(',')).toContain('ro');
    expect(mount(p, '/sys/fs/cgroup').options.split(',')).toContain('ro');
    expect(mount(p, '/sys/fs/cgroup/memory')).toBeDefined();
  });
  it('cannot write to a read-only root, can with readonly false', async () => {
    expect((await probe(() => undefined, ['--write', '/newfile'])).write).toBe('Read-only file system');
    expect((await probe((s) => (s.root.readonly = false), ['--write', '/newfile'])).write).toBe('ok');
  });
  it('binds a host directory read-only and read-write', async () => {
    const host = join(sb.dir, 'shared');
    mkdirSync(host);
    writeFileSync(join(host, 'hello'), 'from the host');
    const ro = await probe((s) => s.mounts.push({ destination: '/data', source: host, options: ['bind', 'ro'] }), ['--cat', '/data/hello']);
    expect(ro.cat).toBe('from the host');
    expect((await probe((s) => s.mounts.push({ destination: '/data', source: host, options: ['rbind', 'ro'] }), ['--write', '/data/x'])).write).toBe('Read-only file system');
    expect((await probe((s) => s.mounts.push({ destination: '/data', source: host, options: ['rbind', 'rw'] }), ['--write', '/data/x'])).write).toBe('ok');
    expect(readFileSync(join(host, 'x'), 'utf8')).toBeDefined();
  });
  it('binds a single file, creating its mountpoint', async () => {
    const file = join(sb.dir, 'f.txt');
    writeFileSync(file, 'one file');
    expect((await probe((s) => s.mounts.push({ destination: '/etc/deep/f.txt', source: file, options: ['bind'] }), ['--cat', '/etc/deep/f.txt'])).cat).toBe('one file');
  });
  it('mounts a tmpfs with its flags and data options', async () => {
    const p = await probe((s) => s.mounts.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1m', 'mode=700'] }));
    expect(mount(p, '/scratch')).toMatchObject({ fstype: 'tmpfs' });
    expect(mount(p, '/scratch').options.split(',')).toContain('nosuid');
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => {
      s.process.args = ['sh', '-c', 'stat -c %a /scratch; grep " /scratch " /proc/self/mountinfo'];
      s.mounts.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1m', 'mode=700'] });
    }), sb.id()]);
    const [mode, info] = r.stdout.split('\n');
    expect(mode).toBe('700');
    expect(info).toMatch(/size=1024k/);
  });
  it('does not follow a symlink in the rootfs out of it', async () => {
    const bundle = sb.bundle((s) => {
      s.process.args = ['/bin/probe', '--cat', '/escape/marker'];
      s.mounts.push({ destination: '/escape', type: 'tmpfs', source: 'tmpfs' });
    });
    // /escape in the rootfs points at the host's /tmp: the mount must land inside the rootfs.
    const marker = join('/tmp', `berth-escape-${process.pid}`);
    mkdirSync(marker, { recursive: true });
    const { symlinkSync, existsSync, rmSync } = await import('fs');
    symlinkSync('/tmp', join(bundle, 'rootfs', 'escape'));
    try {
      const r = await sb.run(['run', '--bundle', bundle, sb.id()]);
      expect(r.code).toBe(0);
      expect(existsSync(marker)).toBe(true); // the host's /tmp was not covered
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/ \/tmp tmpfs /);
    } finally {
      rmSync(marker, { recursive: true, force: true });
    }
  });
  it('works without pivot_root (--no-pivot)', async () => {
    const bundle = sb.bundle();
    const r = await sb.run(['run', '--no-pivot', '--bundle', bundle, sb.id()]);
    expect(r.code).toBe(0);
    expect(probeOutput(r.stdout).pid).toBe(1);
  });
});

describe('devices, masked and read-only paths', () => {
  it('creates the default devices and linux.devices', async () => {
    const p = await probe((s) => (s.linux.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o600 }]), ['--cat', '/dev/null']);
    expect(p.cat).toBe('');
    const ls = await sb.run(['run', '--bundle', sb.bundle((s) => {
      s.process.args = ['sh', '-c', 'stat -c "%n %F %t:%T %a" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/fuse; readlink /dev/ptmx; readlink /dev/fd'];
      s.linux.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o600 }];
    }), sb.id()]);
    expect(ls.stdout.split('\n')).toEqual([
      '/dev/null character special file 1:3 666',
      '/dev/zero character special file 1:5 666',
      '/dev/full character special file 1:7 666',
      '/dev/random character special file 1:8 666',
      '/dev/urandom character special file 1:9 666',
      '/dev/tty character special file 5:0 666',
      '/dev/fuse character special file a:e5 600',
      'pts/ptmx',
      '/proc/self/fd',
      '',
    ]);
  });
  it('masks paths (files read empty, directories are empty) and makes others read-only', async () => {
    // /proc/kcore and friends do not exist on every kernel; /proc/timer_list does here.
    expect(readFileSync('/proc/timer_list', 'utf8')).not.toBe('');
    expect((await probe(() => undefined, ['--cat', '/proc/timer_list'])).cat).toBe('');
    expect((await probe(() => undefined, ['--write', '/proc/sys/kernel/domainname'])).write).toBe('Read-only file system');
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => {
      s.process.args = ['sh', '-c', 'ls -A /sys/firmware | wc -l'];
    }), sb.id()]);
    expect(r.stdout.trim()).toBe('0');
  });
  it('denies a device the cgroup does not allow', async () => {
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => {
      s.process.args = ['sh', '-c', 'mknod /dev/sda1 b 8 1 && cat /dev/sda1'];
      s.root.readonly = false;
      s.process.capabilities.bounding.push('CAP_MKNOD');
      s.process.capabilities.effective.push('CAP_MKNOD');
      s.process.capabilities.permitted.push('CAP_MKNOD');
    }), sb.id()]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not permitted/);
  });
});

describe('identity and environment', () => {
  it('sets hostname and domainname', async () => {
    expect(await probe((s) => ((s.hostname = 'web1'), (s.domainname = 'example.org')))).toMatchObject({ hostname: 'web1', domainname: 'example.org' });
  });
  it('sets user, group, additional groups and umask', async () => {
    const p = await probe((s) => (s.process.user = { uid: 1000, gid: 1001, additionalGids: [5, 100], umask: 0o027 }));
    expect(p).toMatchObject({ uid: 1000, euid: 1000, gid: 1001, egid: 1001, umask: '0027' });
    expect([...p.groups].sort((a: number, b: number) => a - b)).toEqual([5, 100]);
  });
  it('drops supplementary groups when none are given', async () => {
    expect((await probe(() => undefined)).groups).toEqual([]);
  });
  it('sets cwd, env and args exactly', async () => {
    const p = await probe((s) => {
      s.process.cwd = '/tmp';
      s.process.env = ['A=1', 'SPACED=a b c', 'PATH=/bin', 'HOME=/h'];
    }, ['one', 'two words']);
    expect(p.cwd).toBe('/tmp');
    // a HOME of the spec's own is kept as it is (runc adds one only when there is none)
    expect(p.env).toEqual(['A=1', 'SPACED=a b c', 'PATH=/bin', 'HOME=/h']);
    expect(p.args).toEqual(['/bin/probe', 'one', 'two words']);
  });
  it('creates a cwd that does not exist', async () => {
    expect((await probe((s) => ((s.process.cwd = '/work/dir'), (s.root.readonly = false)))).cwd).toBe('/work/dir');
  });
});

describe('privileges and limits', () => {
  it('sets all five capability sets', async () => {
    const p = await probe((s) => {
      s.process.capabilities = {
        bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SETUID'],
        permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW'],
        effective: ['CAP_KILL'],
        inheritable: ['CAP_NET_RAW'],
        ambient: ['CAP_NET_RAW'],
      };
    });
    // After execve as root, effective = permitted; ambient caps stay in all three.
    expect(p.caps.bounding).toBe(capMask(0, 5, 7, 13));
    expect(p.caps.inheritable).toBe(capMask(13));
    expect(p.caps.ambient).toBe(capMask(13));
    expect(BigInt('0x' + p.caps.permitted) & BigInt('0x' + capMask(13))).not.toBe(0n);
  });
  it('keeps ambient capabilities for a non-root user', async () => {
    const p = await probe((s) => {
      s.process.user = { uid: 1000, gid: 1000 };
      s.process.capabilities = { bounding: ['CAP_NET_BIND_SERVICE'], permitted: ['CAP_NET_BIND_SERVICE'], effective: ['CAP_NET_BIND_SERVICE'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] };
    });
    expect(p.caps).toMatchObject({ effective: capMask(10), permitted: capMask(10), ambient: capMask(10), bounding: capMask(10) });
  });
  it('gives a non-root user no capabilities without ambient ones', async () => {
    const p = await probe((s) => (s.process.user = { uid: 1000, gid: 1000 }));
    expect(p.caps).toMatchObject({ effective: capMask(), permitted: capMask() });
  });
  it('sets no_new_privs only when asked', async () => {
    expect((await probe(() => undefined)).no_new_privs).toBe(true);
    expect((await probe((s) => (s.process.noNewPrivileges = false))).no_new_privs).toBe(false);
  });
  it('sets rlimits, clamping a hard limit above ours with a warning', async () => {
    const bundle = sb.bundle((s) => (s.process.rlimits = [
      { type: 'RLIMIT_NOFILE', soft: 4096, hard: 1048576 },
      { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
      { type: 'RLIMIT_NPROC', soft: 512, hard: 1024 },
    ]));
    const r = await sb.run(['run', '--bundle', bundle, sb.id()]);
    expect(r.code).toBe(0);
    const ours = Number(/Max open files\s+\d+\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
    const p = probeOutput(r.stdout);
    expect(p.rlimits.nofile).toEqual({ soft: 4096, hard: ours });
    expect(p.rlimits.core).toEqual({ soft: 0, hard: 0 });
    expect(p.rlimits.nproc).toEqual({ soft: 512, hard: 1024 });
    expect(r.stderr).toMatch(/RLIMIT_NOFILE hard limit 1048576 lowered to/);
  });
  it('sets oom_score_adj, and clamps a lower one than ours with a warning', async () => {
    expect((await probe((s) => (s.process.oomScoreAdj = 500))).oom_score_adj).toBe(500);
    const ours = Number(readFileSync('/proc/self/oom_score_adj', 'utf8'));
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => (s.process.oomScoreAdj = -999)), sb.id()]);
    expect(r.code).toBe(0);
    expect(probeOutput(r.stdout).oom_score_adj).toBe(ours);
    expect(r.stderr).toMatch(/oomScoreAdj: -999 raised to/);
  });
  it('sets namespaced sysctls', async () => {
    const p = await probe((s) => (s.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmni': '1234' }), ['--sysctl', 'net.ipv4.ip_forward']);
    expect(String(p.sysctl ?? p.cat).trim()).toBe('1');
    expect((await probe((s) => (s.linux.sysctl = { 'kernel.shmmni': '1234' }), ['--cat', '/proc/sys/kernel/shmmni'])).cat.trim()).toBe('1234');
  });
});

describe('file descriptors', () => {
  it('leaks nothing but stdio into the container', async () => {
    expect((await probe(() => undefined)).fds).toEqual([0, 1, 2]);
  });
  it('passes --preserve-fds through as 3, 4, …', async () => {
    const { openSync, closeSync } = await import('fs');
    const a = openSync('/dev/null', 'r');
    const b = openSync('/dev/null', 'r');
    try {
      const { spawn } = await import('child_process');
      const { RUNTIME } = await import('./support/env');
      const bundle = sb.bundle();
      const child = spawn(RUNTIME, ['--root', sb.root, 'run', '--preserve-fds', '2', '--bundle', bundle, sb.id()], { stdio: ['ignore', 'pipe', 'pipe', a, b] });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      const code = await new Promise((r) => child.on('close', r));
      expect(code).toBe(0);
      expect(probeOutput(out).fds).toEqual([0, 1, 2, 3, 4]);
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });
});
