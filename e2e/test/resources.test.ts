import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync } from 'fs';
import { join, posix } from 'path';
import { Sandbox, requireRoot, sleep } from './support/env';

// linux.resources on the real kernel: limits that are enforced (not only written), the values
// in the container's cgroup files seen from the host and from inside, cgroupsPath resolution,
// removal on delete, and the device cgroup.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const MiB = 1024 * 1024;
const sh = (script: string) => (spec: any) => (spec.process.args = ['sh', '-c', script]);

/** Every line of JSON the probe printed (--alloc prints one per MB). */
const jsonLines = (stdout: string): any[] => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

/** Each mounted cgroup hierarchy of the host: key (controller, "name=systemd" or "" for cgroup2) → mount point. */
function hierarchies(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    const [fstype, , superOpts] = f.slice(sep + 1);
    if (fstype === 'cgroup2') out.set('', f[4]!);
    if (fstype !== 'cgroup') continue;
    for (const o of superOpts!.split(',')) if (o !== 'rw' && o !== 'ro' && !o.includes('release_agent') && !['clone_children', 'noprefix', 'xattr'].includes(o)) out.set(o, f[4]!);
  }
  return out;
}

/** The distinct hierarchy mount points (cpu,cpuacct co-mounted would count once). */
const mountPoints = () => [...new Set(hierarchies().values())].sort();

/** Our own cgroup per hierarchy, from /proc/self/cgroup (the runtime we spawn inherits it). */
function ownCgroups(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean)) {
    const [, ctrls, path] = /^\d+:([^:]*):(.*)$/.exec(line)!;
    if (ctrls === '') out.set('', path!);
    else for (const c of ctrls!.split(',')) out.set(c, path!);
  }
  return out;
}

const read = (path: string) => readFileSync(path, 'utf8').trim();


async function waitFile(path: string): Promise<string> {
  for (let i = 0; i < 250 && !existsSync(path); i++) await sleep(20);
  // Written by a shell redirect: give the writer a moment to finish after the file appears.
  await sleep(50);
  return readFileSync(path, 'utf8');
}

describe('enforced limits', () => {
  it('OOM-kills a process that allocates past memory.limit (no swap escape), lets a small one finish', async () => {
    const limited = (args: string[]) =>
      sb.bundle((s) => {
        s.process.args = ['/bin/probe', ...args];
        s.linux.resources.memory = { limit: 32 * MiB, swap: 32 * MiB };
      });
    expect(existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes')).toBe(true);

    // --keep: the stopped container's cgroup stays, so the kernel's own OOM count can be read.
    const id = sb.id();
    const big = await sb.run(['run', '--keep', '--bundle', limited(['--alloc', '100']), id]);
    expect(big.code).toBe(137); // SIGKILL from the OOM killer, as 128+9
    const lines = jsonLines(big.stdout);
    const reached = Math.max(...lines.map((l) => l.allocated_mb ?? 0));
    expect(reached).toBeGreaterThan(8);
    expect(reached).toBeLessThan(32);
    expect(lines.find((l) => l.alloc !== undefined)).toBeUndefined(); // neither "ok" nor "failed": killed
    const memDir = `/sys/fs/cgroup/memory/berth/${id}`;
    expect(read(`${memDir}/memory.limit_in_bytes`)).toBe(String(32 * MiB));
    expect(read(`${memDir}/memory.memsw.limit_in_bytes`)).toBe(String(32 * MiB));
    expect(read(`${memDir}/memory.oom_control`)).toMatch(/^oom_kill 1$/m);
    const peak = Number(read(`${memDir}/memory.max_usage_in_bytes`));
    expect(peak).toBeGreaterThan(8 * MiB);
    expect(peak).toBeLessThanOrEqual(32 * MiB);
    expect((await sb.run(['delete', id])).code).toBe(0);
    expect(existsSync(memDir)).toBe(false);

    const small = await sb.run(['run', '--bundle', limited(['--alloc', '8']), sb.id()]);
    expect(small.code).toBe(0);
    expect(jsonLines(small.stdout).pop()).toEqual({ alloc: 'ok', mb: 8 });
  });

  it('stops fork at pids.limit, and not without one', async () => {
    const forks = async (limit: number | undefined) => {
      const bundle = sb.bundle((s) => {
        s.process.args = ['/bin/probe', '--fork', '30'];
        if (limit !== undefined) s.linux.resources.pids = { limit };
      });
      const r = await sb.run(['run', '--bundle', bundle, sb.id()]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      return jsonLines(r.stdout)[0].fork;
    };
    // The probe itself is one of the 10: exactly 9 children fit.
    expect(await forks(10)).toEqual({ requested: 30, succeeded: 9, error: 'Resource temporarily unavailable' });
    expect(await forks(undefined)).toEqual({ requested: 30, succeeded: 30, error: null });
  });
});

describe('cgroup files', () => {
  it('writes every value into the container cgroup, seen from the host and from inside', async () => {
    const out = join(sb.dir, 'out');
    mkdirSync(out);
    const files = [
      'memory/memory.limit_in_bytes',
      'memory/memory.soft_limit_in_bytes',
      'cpu/cpu.shares',
      'cpu/cpu.cfs_quota_us',
      'cpu/cpu.cfs_period_us',
      'cpuset/cpuset.cpus',
      'pids/pids.max',
    ];
    const bundle = sb.bundle((s) => {
      s.process.args = ['sh', '-c', `for f in ${files.join(' ')}; do echo "$f $(cat /sys/fs/cgroup/$f)"; done > /data/inside.tmp; cat /proc/self/cgroup > /data/cgroup; mv /data/inside.tmp /data/inside; sleep 30`];
      s.mounts.push({ destination: '/data', source: out, options: ['rbind', 'rw'] });
      s.linux.resources = {
        ...s.linux.resources,
        memory: { limit: 64 * MiB, reservation: 16 * MiB },
        cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0' },
        pids: { limit: 20 },
      };
    });
    const id = sb.id();
    expect(await sb.run(['run', '-d', '--bundle', bundle, id])).toMatchObject({ code: 0, stderr: '' });
    const expected: Record<string, string> = {
      'memory/memory.limit_in_bytes': String(64 * MiB),
      'memory/memory.soft_limit_in_bytes': String(16 * MiB),
      'cpu/cpu.shares': '512',
      'cpu/cpu.cfs_quota_us': '50000',
      'cpu/cpu.cfs_period_us': '100000',
      'cpuset/cpuset.cpus': '0',
      'pids/pids.max': '20',
    };
    const { pid } = JSON.parse((await sb.run(['state', id])).stdout);
    for (const [f, v] of Object.entries(expected)) {
      const [ctrl, name] = f.split('/');
      expect(`${f} ${read(`/sys/fs/cgroup/${ctrl}/berth/${id}/${name}`)}`).toBe(`${f} ${v}`);
      // And the container's process really is in that cgroup.
      expect(read(`/sys/fs/cgroup/${ctrl}/berth/${id}/cgroup.procs`).split('\n')).toContain(String(pid));
    }
    // The cgroup has every hierarchy, including the cgroup2 one of this hybrid machine.
    for (const mp of mountPoints()) expect(`${mp}/berth/${id} ${existsSync(`${mp}/berth/${id}`)}`).toBe(`${mp}/berth/${id} true`);

    // Inside: the read-only /sys/fs/cgroup shows the container's own directory, and its
    // cgroup namespace puts it at the root.
    const inside = (await waitFile(join(out, 'inside'))).trim().split('\n');
    expect(inside).toEqual(Object.entries(expected).map(([f, v]) => `${f} ${v}`));
    const cgroupLines = readFileSync(join(out, 'cgroup'), 'utf8').trim().split('\n');
    expect(cgroupLines.length).toBeGreaterThan(5);
    for (const l of cgroupLines) expect(l).toMatch(/^\d+:[^:]*:\/$/);

    expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    expect((await sb.run(['delete', id])).code).toBe(0);
  });
});

describe('cgroupsPath', () => {
  it('puts an absolute cgroupsPath under each hierarchy root, and delete removes the leaf', async () => {
    const parent = `berth-e2e-${process.pid}`;
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '30'];
      s.linux.cgroupsPath = `/${parent}/x`;
    });
    const id = sb.id();
    try {
      expect((await sb.run(['run', '-d', '--bundle', bundle, id])).code).toBe(0);
      const { pid } = JSON.parse((await sb.run(['state', id])).stdout);
      for (const mp of mountPoints()) {
        expect(read(`${mp}/${parent}/x/cgroup.procs`).split('\n')).toContain(String(pid));
        expect(existsSync(`${mp}/berth/${id}`)).toBe(false);
      }
      expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
      await sb.waitStatus(id, 'stopped');
      expect((await sb.run(['delete', id])).code).toBe(0);
      for (const mp of mountPoints()) {
        expect(existsSync(`${mp}/${parent}/x`)).toBe(false);
        // Only the shared default parent ("berth") is removed; a parent the config named stays.
        expect(existsSync(`${mp}/${parent}`)).toBe(true);
      }
    } finally {
      for (const mp of mountPoints()) {
        for (const d of [`${mp}/${parent}/x`, `${mp}/${parent}`]) if (existsSync(d)) rmdirSync(d);
      }
    }
  });

  it('puts a relative cgroupsPath under the caller’s own cgroup in each hierarchy', async () => {
    const name = `berth-e2e-rel-${process.pid}`;
    const own = ownCgroups();
    const expected = [...new Set([...hierarchies()].map(([key, mp]) => posix.join(mp, own.get(key) ?? '/', name)))].sort();
    // At least one hierarchy must put us below its root, or this would not tell relative from absolute.
    expect(expected.some((d) => !mountPoints().includes(posix.dirname(d)))).toBe(true);
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '30'];
      s.linux.cgroupsPath = name;
    });
    const id = sb.id();
    try {
      expect((await sb.run(['run', '-d', '--bundle', bundle, id])).code).toBe(0);
      const { pid } = JSON.parse((await sb.run(['state', id])).stdout);
      const procCgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      for (const d of expected) expect(read(`${d}/cgroup.procs`).split('\n')).toContain(String(pid));
      for (const [key, path] of own) {
        // /proc/<pid>/cgroup (read from the host's cgroup namespace) agrees.
        const want = posix.join(path, name);
        expect(procCgroup).toContain(key === '' ? `0::${want}\n` : `:${key}:${want}\n`);
      }
      expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
      await sb.waitStatus(id, 'stopped');
      expect((await sb.run(['delete', id])).code).toBe(0);
      for (const d of expected) expect(existsSync(d)).toBe(false);
      for (const d of expected) expect(existsSync(posix.dirname(d))).toBe(true); // our own cgroup, untouched
    } finally {
      for (const d of expected) if (existsSync(d)) rmdirSync(d);
    }
  });
});

describe('delete and kill after exit', () => {
  it('refuses to kill a stopped container; delete removes its cgroups and its state dir', async () => {
    const id = sb.id();
    expect((await sb.run(['run', '-d', '--bundle', sb.bundle(sh('exit 0')), id])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    const dirs = mountPoints().map((mp) => `${mp}/berth/${id}`);
    for (const d of dirs) expect(existsSync(d)).toBe(true); // stopped, not yet deleted: still there
    expect(existsSync(join(sb.root, id, 'state.json'))).toBe(true);

    const kill = await sb.run(['kill', id, 'KILL']);
    expect(kill.code).toBe(1);
    expect(kill.stderr).toMatch(`container ${id} is not running`);

    expect(await sb.run(['delete', id])).toMatchObject({ code: 0, stderr: '' });
    for (const d of dirs) expect(existsSync(d)).toBe(false);
    expect(existsSync(join(sb.root, id))).toBe(false);
    expect(readdirSync(sb.root)).toEqual([]);
    const again = await sb.run(['kill', id, 'KILL']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(`container ${id} does not exist`);
  });
});

describe('device cgroup', () => {
  const opens = (paths: string[]) => sh(paths.map((p) => `if (exec 3<>${p}) 2>/dev/null; then echo "${p} open"; else echo "${p} denied: $( (exec 3<>${p}) 2>&1 )"; fi`).join('; '));

  it('keeps /dev/null usable when the spec allows c 1:3 itself after a deny-all', async () => {
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => {
      sh('echo data > /dev/null && cat /dev/null && echo null-ok')(s);
      s.linux.resources.devices = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }];
    }), sb.id()]);
    expect(r).toEqual({ code: 0, stdout: 'null-ok\n', stderr: '' });
  });

  it('allows a linux.devices node, denies the same device bind-mounted, until a rule allows it', async () => {
    // /dev/fuse (10:229) exists on this host; opening it needs nothing but the device cgroup's say-so.
    expect(existsSync('/dev/fuse')).toBe(true);
    const created = await sb.run(['run', '--bundle', sb.bundle((s) => {
      opens(['/dev/fuse'])(s);
      s.linux.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o600 }];
    }), sb.id()]);
    expect(created).toEqual({ code: 0, stdout: '/dev/fuse open\n', stderr: '' });

    // The host's node bound in is not in linux.devices, so the deny-all of the default spec holds.
    const bound = (adjust: (s: any) => void) => sb.bundle((s) => {
      opens(['/dev/fuse', '/dev/null'])(s);
      s.mounts.push({ destination: '/dev/fuse', source: '/dev/fuse', options: ['bind'] });
      adjust(s);
    });
    const denied = await sb.run(['run', '--bundle', bound(() => undefined), sb.id()]);
    expect(denied.code).toBe(0);
    expect(denied.stdout).toMatch(/^\/dev\/fuse denied: .*Operation not permitted\n\/dev\/null open\n$/);

    const allowed = await sb.run(['run', '--bundle', bound((s) => s.linux.resources.devices.push({ allow: true, type: 'c', major: 10, minor: 229, access: 'rw' })), sb.id()]);
    expect(allowed).toEqual({ code: 0, stdout: '/dev/fuse open\n/dev/null open\n', stderr: '' });
  });

  it('writes the rules into devices.list', async () => {
    const id = sb.id();
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '30'];
      s.linux.resources.devices = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }];
      s.linux.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229 }];
    });
    expect((await sb.run(['run', '-d', '--bundle', bundle, id])).code).toBe(0);
    const list = read(`/sys/fs/cgroup/devices/berth/${id}/devices.list`).split('\n');
    expect(list).not.toContain('a *:* rwm');
    expect(list).toEqual(expect.arrayContaining(['c 1:3 rwm', 'c 10:229 rwm', 'c 136:* rwm']));
    expect(list.some((l) => l.startsWith('b 8:'))).toBe(false);
  });
});
