// An in-memory Host for unit tests: files in a Map, directories in a Set, every mutation logged
// in order. Directories under a "pseudo-fs" root (by default /sys/fs/cgroup) behave like
// cgroupfs: their files vanish with the directory on rmdir, rmdir fails EBUSY while there are
// sub-directories or pids in cgroup.procs, and writing a file the kernel did not create fails EACCES.

import { posix } from 'path';
import type { Host } from '../src/host/host';

export type FakeOpKind = 'read' | 'write' | 'mkdir' | 'rmdir' | 'readdir';

export interface FakeOp {
  op: Exclude<FakeOpKind, 'read' | 'readdir'>;
  path: string;
  data?: string;
}

const ERRNO: Record<string, [number, string]> = {
  EPERM: [1, 'operation not permitted'],
  ENOENT: [2, 'no such file or directory'],
  ESRCH: [3, 'no such process'],
  EIO: [5, 'i/o error'],
  EAGAIN: [11, 'resource temporarily unavailable'],
  ENOMEM: [12, 'not enough memory'],
  EACCES: [13, 'permission denied'],
  EBUSY: [16, 'resource busy or locked'],
  EEXIST: [17, 'file already exists'],
  ENODEV: [19, 'no such device'],
  ENOTDIR: [20, 'not a directory'],
  EISDIR: [21, 'illegal operation on a directory'],
  EINVAL: [22, 'invalid argument'],
  ENOSPC: [28, 'no space left on device'],
  EROFS: [30, 'read-only file system'],
  ENOTEMPTY: [39, 'directory not empty'],
  EOPNOTSUPP: [95, 'operation not supported on socket'],
};

/** An error shaped like the ones node's fs rejects with (code, errno, syscall, path). */
export function errnoError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const [num, text] = ERRNO[code] ?? [0, code.toLowerCase()];
  const err = new Error(`${code}: ${text}, ${syscall} '${path}'`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -num;
  err.syscall = syscall;
  err.path = path;
  return err;
}

type Matcher = string | RegExp | ((path: string) => boolean);

function matches(m: Matcher, path: string): boolean {
  if (typeof m === 'string') return m === path;
  if (m instanceof RegExp) return m.test(path);
  return m(path);
}

interface Failure {
  op: FakeOpKind | 'any';
  match: Matcher;
  code: string;
  /** How many more times to fail; Infinity for always. */
  remaining: number;
  /** Only fail writes of this exact data. */
  data?: string;
}

/** What a write handler may return: a string to store instead of the data written, or nothing to store the data. */
export type WriteHandler = (path: string, data: string, host: FakeHost) => string | void;

export interface FakeHostOptions {
  /** Roots under which directories behave like cgroupfs; default ['/sys/fs/cgroup']. */
  pseudoFsRoots?: string[];
}

export class FakeHost implements Host {
  readonly files = new Map<string, string>();
  readonly dirs = new Set<string>(['/']);
  /** Mutations in the order they happened (successful ones only). */
  readonly ops: FakeOp[] = [];
  /** Every call, including reads and failed ones, as "op path". */
  readonly calls: string[] = [];
  private failures: Failure[] = [];
  private writeHandlers: { match: Matcher; handler: WriteHandler }[] = [];
  private mkdirHandlers: { match: Matcher; handler: (dir: string, host: FakeHost) => void }[] = [];
  private readonly pseudoFsRoots: string[];

  constructor(options: FakeHostOptions = {}) {
    this.pseudoFsRoots = options.pseudoFsRoots ?? ['/sys/fs/cgroup'];
  }

  // ---- seeding and inspection -------------------------------------------------------------

  /** Creates a file (and its parent directories) without logging it. */
  seedFile(path: string, content: string): this {
    this.addDirs(posix.dirname(path));
    this.files.set(path, content);
    return this;
  }

  seedFiles(files: Record<string, string>): this {
    for (const [p, c] of Object.entries(files)) this.seedFile(p, c);
    return this;
  }

  /** Creates a directory (and parents) without logging it or running mkdir handlers. */
  seedDir(path: string): this {
    this.addDirs(path);
    return this;
  }

  removeFile(path: string): this {
    this.files.delete(path);
    return this;
  }

  /** The content of a file, or undefined. */
  content(path: string): string | undefined {
    return this.files.get(path);
  }

  has(path: string): boolean {
    return this.files.has(path) || this.dirs.has(path);
  }

  /** Logged writes, optionally only those whose path matches. */
  writes(match?: Matcher): { path: string; data: string }[] {
    return this.ops
      .filter((o): o is FakeOp & { data: string } => o.op === 'write' && (match === undefined || matches(match, o.path)))
      .map((o) => ({ path: o.path, data: o.data }));
  }

  /** The data written to one path, in order. */
  writesTo(path: string): string[] {
    return this.writes(path).map((w) => w.data);
  }

  /** Logged operations as "op path[ data]" strings, handy for asserting order. */
  log(match?: Matcher): string[] {
    return this.ops
      .filter((o) => match === undefined || matches(match, o.path))
      .map((o) => (o.data === undefined ? `${o.op} ${o.path}` : `${o.op} ${o.path} ${o.data}`));
  }

  clearLog(): this {
    this.ops.length = 0;
    this.calls.length = 0;
    return this;
  }

  /**
   * Makes an operation on matching paths fail with `code` (an errno name), `times` times
   * (default: always). `data` restricts a write failure to that exact value.
   */
  failOn(op: FakeOpKind | 'any', match: Matcher, code: string, options: { times?: number; data?: string } = {}): this {
    const f: Failure = { op, match, code, remaining: options.times ?? Infinity };
    if (options.data !== undefined) f.data = options.data;
    this.failures.push(f);
    return this;
  }

  clearFailures(): this {
    this.failures = [];
    return this;
  }

  /** Runs `handler` for writes to matching paths (after failure injection, before storing). */
  onWrite(match: Matcher, handler: WriteHandler): this {
    this.writeHandlers.push({ match, handler });
    return this;
  }

  /** Runs `handler` for every directory mkdirp creates under a matching path (to fill in interface files). */
  onMkdir(match: Matcher, handler: (dir: string, host: FakeHost) => void): this {
    this.mkdirHandlers.push({ match, handler });
    return this;
  }

  isPseudoFs(path: string): boolean {
    return this.pseudoFsRoots.some((r) => path === r || path.startsWith(r.endsWith('/') ? r : r + '/'));
  }

  // ---- Host -------------------------------------------------------------------------------

  async readFile(path: string): Promise<string> {
    this.calls.push(`read ${path}`);
    this.maybeFail('read', path, undefined, 'open');
    if (this.dirs.has(path)) throw errnoError('EISDIR', 'read', path);
    const content = this.files.get(path);
    if (content === undefined) throw errnoError('ENOENT', 'open', path);
    return content;
  }

  async writeFile(path: string, data: string): Promise<void> {
    this.calls.push(`write ${path} ${data}`);
    this.maybeFail('write', path, data, 'write');
    if (this.dirs.has(path)) throw errnoError('EISDIR', 'open', path);
    if (!this.dirs.has(posix.dirname(path))) throw errnoError('ENOENT', 'open', path);
    if (!this.files.has(path) && this.isPseudoFs(path)) throw errnoError('EACCES', 'open', path);
    let stored = data;
    for (const h of this.writeHandlers) {
      if (!matches(h.match, path)) continue;
      const out = h.handler(path, stored, this);
      if (typeof out === 'string') stored = out;
    }
    this.files.set(path, stored);
    this.ops.push({ op: 'write', path, data });
  }

  async exists(path: string): Promise<boolean> {
    return this.has(path);
  }

  async mkdirp(path: string): Promise<void> {
    this.calls.push(`mkdir ${path}`);
    const missing: string[] = [];
    for (let p = path; !this.dirs.has(p); p = posix.dirname(p)) {
      if (this.files.has(p)) throw errnoError('ENOTDIR', 'mkdir', path);
      missing.unshift(p);
      if (p === '/') break;
    }
    for (const p of missing) {
      this.maybeFail('mkdir', p, undefined, 'mkdir');
      this.dirs.add(p);
      this.ops.push({ op: 'mkdir', path: p });
      for (const h of this.mkdirHandlers) if (matches(h.match, p)) h.handler(p, this);
    }
  }

  async rmdir(path: string): Promise<void> {
    this.calls.push(`rmdir ${path}`);
    this.maybeFail('rmdir', path, undefined, 'rmdir');
    if (this.files.has(path)) throw errnoError('ENOTDIR', 'rmdir', path);
    if (!this.dirs.has(path)) throw errnoError('ENOENT', 'rmdir', path);
    const prefix = path === '/' ? '/' : path + '/';
    const subdirs = [...this.dirs].some((d) => d.startsWith(prefix));
    const files = [...this.files.keys()].filter((f) => f.startsWith(prefix));
    if (this.isPseudoFs(path)) {
      const procs = this.files.get(posix.join(path, 'cgroup.procs'));
      if (subdirs || (procs !== undefined && procs.trim() !== '')) throw errnoError('EBUSY', 'rmdir', path);
      for (const f of files) this.files.delete(f);
    } else if (subdirs || files.length > 0) {
      throw errnoError('ENOTEMPTY', 'rmdir', path);
    }
    this.dirs.delete(path);
    this.ops.push({ op: 'rmdir', path });
  }

  async readdir(path: string): Promise<string[]> {
    this.calls.push(`readdir ${path}`);
    this.maybeFail('readdir', path, undefined, 'scandir');
    if (!this.dirs.has(path)) throw errnoError(this.files.has(path) ? 'ENOTDIR' : 'ENOENT', 'scandir', path);
    return this.readdirSync(path);
  }

  async isDirectory(path: string): Promise<boolean> {
    return this.dirs.has(path);
  }

  /** Names directly inside a directory (files and sub-directories), without logging. */
  readdirSync(path: string): string[] {
    const prefix = path === '/' ? '/' : path + '/';
    const names = new Set<string>();
    for (const p of [...this.dirs, ...this.files.keys()]) {
      if (p !== path && p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) names.add(p.slice(prefix.length));
    }
    return [...names].sort();
  }

  // ---- internals ------------------------------------------------------------------------

  private addDirs(path: string): void {
    for (let p = path; !this.dirs.has(p); p = posix.dirname(p)) this.dirs.add(p);
  }

  private maybeFail(op: FakeOpKind, path: string, data: string | undefined, syscall: string): void {
    for (const f of this.failures) {
      if (f.remaining <= 0) continue;
      if (f.op !== 'any' && f.op !== op) continue;
      if (!matches(f.match, path)) continue;
      if (f.data !== undefined && f.data !== data) continue;
      f.remaining--;
      throw errnoError(f.code, syscall, path);
    }
  }
}

// ---- a fake cgroupfs -------------------------------------------------------------------------

/** /proc/self/mountinfo of the development VM: v1 controllers, each alone, plus an (almost empty) cgroup2 at unified/. */
export const HYBRID_MOUNTINFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334556k,nr_inodes=3083639,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684100k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
28 27 0:25 / /mnt/sandboxing/model_tools_env/v1/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684100k
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

/** /proc/self/cgroup of the development VM (memory is the only hierarchy where we are not at the root). */
export const HYBRID_PROC_CGROUP = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/5cf3950818accd4ca23b672b70efd2fe
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

const BIG = '9223372036854771712';

/** Interface files a new v1 cgroup directory gets, by controller (roughly what kernel 6.x creates). */
const V1_FILES: Record<string, Record<string, string>> = {
  cpu: {
    'cpu.shares': '1024\n',
    'cpu.cfs_period_us': '100000\n',
    'cpu.cfs_quota_us': '-1\n',
    'cpu.cfs_burst_us': '0\n',
    'cpu.rt_period_us': '1000000\n',
    'cpu.rt_runtime_us': '0\n',
    'cpu.idle': '0\n',
    'cpu.stat': 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n',
  },
  cpuacct: { 'cpuacct.usage': '0\n', 'cpuacct.stat': 'user 0\nsystem 0\n' },
  cpuset: { 'cpuset.cpus': '\n', 'cpuset.mems': '\n' },
  memory: {
    'memory.limit_in_bytes': `${BIG}\n`,
    'memory.memsw.limit_in_bytes': `${BIG}\n`,
    'memory.soft_limit_in_bytes': `${BIG}\n`,
    'memory.kmem.limit_in_bytes': `${BIG}\n`,
    'memory.kmem.tcp.limit_in_bytes': `${BIG}\n`,
    'memory.swappiness': '60\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
    'memory.usage_in_bytes': '0\n',
    'memory.max_usage_in_bytes': '0\n',
    'memory.failcnt': '0\n',
    'memory.stat': 'cache 0\nrss 0\n',
  },
  devices: { 'devices.allow': '', 'devices.deny': '', 'devices.list': 'a *:* rwm\n' },
  freezer: { 'freezer.state': 'THAWED\n', 'freezer.self_freezing': '0\n', 'freezer.parent_freezing': '0\n' },
  // Like the VM: BFQ files, no CFQ blkio.weight.
  blkio: {
    'blkio.bfq.weight': '100\n',
    'blkio.bfq.weight_device': 'default 100\n',
    'blkio.throttle.read_bps_device': '',
    'blkio.throttle.write_bps_device': '',
    'blkio.throttle.read_iops_device': '',
    'blkio.throttle.write_iops_device': '',
  },
  pids: { 'pids.max': 'max\n', 'pids.current': '0\n' },
  hugetlb: { 'hugetlb.2MB.limit_in_bytes': `${BIG}\n`, 'hugetlb.1GB.limit_in_bytes': `${BIG}\n` },
};

/** Interface files per cgroup2 controller in a non-root cgroup. */
const V2_FILES: Record<string, Record<string, string>> = {
  cpu: { 'cpu.weight': '100\n', 'cpu.max': 'max 100000\n', 'cpu.max.burst': '0\n', 'cpu.idle': '0\n' },
  cpuset: { 'cpuset.cpus': '\n', 'cpuset.mems': '\n', 'cpuset.cpus.effective': '0-1\n', 'cpuset.mems.effective': '0\n' },
  io: { 'io.weight': 'default 100\n', 'io.max': '' },
  memory: {
    'memory.max': 'max\n',
    'memory.low': '0\n',
    'memory.high': 'max\n',
    'memory.swap.max': 'max\n',
    'memory.current': '0\n',
    'memory.peak': '0\n',
    'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
    'memory.stat': 'anon 0\nfile 0\n',
    'memory.oom.group': '0\n',
  },
  pids: { 'pids.max': 'max\n', 'pids.current': '0\n' },
  hugetlb: { 'hugetlb.2MB.max': 'max\n', 'hugetlb.1GB.max': 'max\n' },
  misc: {},
  rdma: {},
};

/** Appends a written pid to cgroup.procs (as the kernel lists the moved process). */
const appendPid: WriteHandler = (path, data, host) => {
  const before = host.content(path) ?? '';
  const pid = data.trim();
  const pids = before.split('\n').filter((l) => l.trim() !== '' && l.trim() !== pid);
  return [...pids, pid].join('\n') + '\n';
};

const num = (s: string | undefined) => BigInt((s ?? '0').trim() === '-1' ? BIG : (s ?? '0').trim());

export interface FakeCgroupV1Options {
  /** mountpoint → controllers it serves; default: the VM's one-controller-per-mount layout. */
  mounts?: Record<string, string[]>;
  /** The cgroup2 mount beside them (hybrid), or null for pure v1; default /sys/fs/cgroup/unified. */
  unified?: string | null;
  /** What the unified root's cgroup.controllers lists; default ['hugetlb'] like the VM. */
  unifiedControllers?: string[];
  /** The root cpuset; default 0-1 and 0. */
  cpus?: string;
  mems?: string;
  /** Interface files to leave out of every new directory (to model an older or leaner kernel). */
  omitFiles?: string[];
}

/**
 * Turns a FakeHost into a v1 (or hybrid) cgroup machine: /proc/self/mountinfo and
 * /proc/self/cgroup are seeded, mkdir fills in interface files, and a few kernel rules are
 * enforced: cgroup.procs appends, joining a cpuset with empty cpus/mems fails ENOSPC, and the
 * memory limit may never exceed memory.memsw.limit_in_bytes (EINVAL).
 */
export function installFakeCgroupV1(host: FakeHost, options: FakeCgroupV1Options = {}): void {
  const mounts = options.mounts ?? {
    '/sys/fs/cgroup/cpu': ['cpu'],
    '/sys/fs/cgroup/cpuacct': ['cpuacct'],
    '/sys/fs/cgroup/cpuset': ['cpuset'],
    '/sys/fs/cgroup/memory': ['memory'],
    '/sys/fs/cgroup/devices': ['devices'],
    '/sys/fs/cgroup/freezer': ['freezer'],
    '/sys/fs/cgroup/blkio': ['blkio'],
    '/sys/fs/cgroup/pids': ['pids'],
    '/sys/fs/cgroup/systemd': ['name=systemd'],
  };
  const unified = options.unified === undefined ? '/sys/fs/cgroup/unified' : options.unified;
  const omit = new Set(options.omitFiles ?? []);
  let id = 50;
  let mountinfo = '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n';
  let proc = '';
  let hier = Object.keys(mounts).length;
  for (const [mount, ctrls] of Object.entries(mounts)) {
    mountinfo += `${id++} 31 0:${id} / ${mount} rw,relatime - cgroup cgroup rw,${ctrls.join(',')}\n`;
    proc += `${hier--}:${ctrls.join(',')}:/\n`;
    host.seedFiles({ [`${mount}/cgroup.procs`]: '1\n', [`${mount}/tasks`]: '1\n', [`${mount}/cgroup.clone_children`]: '0\n' });
    if (ctrls.includes('cpuset')) {
      host.seedFiles({ [`${mount}/cpuset.cpus`]: `${options.cpus ?? '0-1'}\n`, [`${mount}/cpuset.mems`]: `${options.mems ?? '0'}\n` });
    }
    if (ctrls.includes('memory')) {
      host.seedFiles({
        [`${mount}/memory.limit_in_bytes`]: `${BIG}\n`,
        [`${mount}/memory.memsw.limit_in_bytes`]: `${BIG}\n`,
        [`${mount}/memory.use_hierarchy`]: '1\n',
      });
    }
    host.onMkdir(
      (p) => p.startsWith(mount + '/'),
      (dir, h) => {
        const files: Record<string, string> = { 'cgroup.procs': '', tasks: '', notify_on_release: '0\n', 'cgroup.clone_children': '0\n' };
        for (const c of ctrls) Object.assign(files, V1_FILES[c] ?? {});
        for (const [name, content] of Object.entries(files)) if (!omit.has(name)) h.seedFile(`${dir}/${name}`, content);
      },
    );
    host.onWrite(
      (p) => p.startsWith(mount + '/') && p.endsWith('/cgroup.procs'),
      (path, data, h) => {
        if (ctrls.includes('cpuset')) {
          const dir = posix.dirname(path);
          if ((h.content(`${dir}/cpuset.cpus`) ?? '').trim() === '' || (h.content(`${dir}/cpuset.mems`) ?? '').trim() === '') {
            throw errnoError('ENOSPC', 'write', path);
          }
        }
        return appendPid(path, data, h);
      },
    );
    if (ctrls.includes('memory')) {
      host.onWrite(
        (p) => p.startsWith(mount + '/') && p.endsWith('/memory.limit_in_bytes'),
        (path, data, h) => {
          const memsw = h.content(posix.join(posix.dirname(path), 'memory.memsw.limit_in_bytes'));
          if (memsw !== undefined && num(data) > num(memsw)) throw errnoError('EINVAL', 'write', path);
        },
      );
      host.onWrite(
        (p) => p.startsWith(mount + '/') && p.endsWith('/memory.memsw.limit_in_bytes'),
        (path, data, h) => {
          const limit = h.content(posix.join(posix.dirname(path), 'memory.limit_in_bytes'));
          if (num(data) < num(limit)) throw errnoError('EINVAL', 'write', path);
        },
      );
    }
  }
  if (unified !== null) {
    mountinfo += `${id++} 31 0:${id} / ${unified} rw,relatime - cgroup2 cgroup2 rw\n`;
    proc += '0::/\n';
    installFakeCgroupV2(host, { mount: unified, controllers: options.unifiedControllers ?? ['hugetlb'], seedProc: false });
  }
  host.seedFile('/proc/self/mountinfo', mountinfo);
  host.seedFile('/proc/self/cgroup', proc);
}

export interface FakeCgroupV2Options {
  mount?: string;
  /** The root's cgroup.controllers. */
  controllers?: string[];
  /** Seed /proc/self/mountinfo and /proc/self/cgroup for a pure v2 machine; default true. */
  seedProc?: boolean;
  /** Interface files to leave out (e.g. 'cgroup.kill', 'io.bfq.weight'). */
  omitFiles?: string[];
  /** Extra files every new directory gets (e.g. { 'io.bfq.weight': 'default 100\n' }). */
  extraFiles?: Record<string, string>;
}

/**
 * Turns a FakeHost into a cgroup2 tree: writes to cgroup.subtree_control are checked against
 * cgroup.controllers and hand the controllers (and their files) to the children; cgroup.freeze
 * is mirrored into cgroup.events; cgroup.procs appends.
 */
export function installFakeCgroupV2(host: FakeHost, options: FakeCgroupV2Options = {}): void {
  const mount = options.mount ?? '/sys/fs/cgroup';
  const controllers = options.controllers ?? ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];
  const omit = new Set(options.omitFiles ?? []);
  const under = (p: string) => p.startsWith(mount + '/');
  const addControllerFiles = (h: FakeHost, dir: string, ctrls: string[]) => {
    for (const c of ctrls) {
      for (const [name, content] of Object.entries(V2_FILES[c] ?? {})) {
        if (!omit.has(name) && !h.has(`${dir}/${name}`)) h.seedFile(`${dir}/${name}`, content);
      }
    }
  };
  host.seedFiles({
    [`${mount}/cgroup.controllers`]: controllers.join(' ') + '\n',
    [`${mount}/cgroup.subtree_control`]: '\n',
    [`${mount}/cgroup.procs`]: '1\n',
  });
  if (options.seedProc ?? true) {
    host.seedFile('/proc/self/mountinfo', `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n30 27 0:26 / ${mount} rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n`);
    host.seedFile('/proc/self/cgroup', '0::/user.slice/user-0.slice/session-1.scope\n');
  }
  host.onMkdir(under, (dir, h) => {
    const parentEnabled = (h.content(`${posix.dirname(dir)}/cgroup.subtree_control`) ?? '').split(/\s+/).filter((w) => w !== '');
    const base: Record<string, string> = {
      'cgroup.controllers': parentEnabled.join(' ') + '\n',
      'cgroup.subtree_control': '\n',
      'cgroup.procs': '',
      'cgroup.events': 'populated 0\nfrozen 0\n',
      'cgroup.freeze': '0\n',
      'cgroup.kill': '',
      'cgroup.type': 'domain\n',
      'cgroup.max.descendants': 'max\n',
      'cgroup.max.depth': 'max\n',
      'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
      ...(options.extraFiles ?? {}),
    };
    for (const [name, content] of Object.entries(base)) if (!omit.has(name)) h.seedFile(`${dir}/${name}`, content);
    addControllerFiles(h, dir, parentEnabled);
  });
  host.onWrite(
    (p) => (p === `${mount}/cgroup.subtree_control` || under(p)) && p.endsWith('/cgroup.subtree_control'),
    (path, data, h) => {
      const dir = posix.dirname(path);
      const available = (h.content(`${dir}/cgroup.controllers`) ?? '').split(/\s+/).filter((w) => w !== '');
      const enabled = new Set((h.content(path) ?? '').split(/\s+/).filter((w) => w !== ''));
      for (const tok of data.split(/\s+/).filter((w) => w !== '')) {
        const name = tok.slice(1);
        if (!available.includes(name) || (tok[0] !== '+' && tok[0] !== '-')) throw errnoError('EINVAL', 'write', path);
        if (tok[0] === '+') enabled.add(name);
        else enabled.delete(name);
      }
      const list = [...enabled];
      for (const child of h.readdirSync(dir)) {
        const cdir = `${dir}/${child}`;
        if (!h.dirs.has(cdir)) continue;
        h.seedFile(`${cdir}/cgroup.controllers`, list.join(' ') + '\n');
        addControllerFiles(h, cdir, list);
      }
      return list.join(' ') + '\n';
    },
  );
  host.onWrite((p) => under(p) && p.endsWith('/cgroup.procs'), appendPid);
  host.onWrite(
    (p) => under(p) && p.endsWith('/cgroup.freeze'),
    (path, data, h) => {
      const events = posix.join(posix.dirname(path), 'cgroup.events');
      const frozen = data.trim() === '1' ? 1 : 0;
      h.seedFile(events, (h.content(events) ?? 'populated 0\nfrozen 0\n').replace(/frozen \d/, `frozen ${frozen}`));
    },
  );
}
