// The OCI runtime spec of a berth container: the image's config and the run options applied
// the way Docker's daemon applies them, over Docker's defaults — its capability set, seccomp
// profile (seccomp.ts), mounts (/proc, /dev, /dev/pts, /dev/shm 64 MiB, /dev/mqueue, /sys and
// the cgroup tree read-only), masked and read-only /proc paths, device cgroup rules, the
// hostname (the id's first 12 characters), the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf (berthd's files, bind-mounted). Pure: everything it needs is passed in.

import type { RunOptions } from './run-options';
import { defaultSeccomp, type SeccompSpec } from './seccomp';
import { HOSTNAME_FILE, HOSTS_FILE, RESOLV_FILE } from '../../core/containers/files';
import { ALWAYS_ALLOWED } from '@berth/runtime/dist/plan/device-rules';
import type { DeviceCgroupRule } from '@berth/runtime/dist/spec/types';

/** Docker's default capability set. */
export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability, in the kernel's numbering (index = bit); --privileged and --cap-add ALL
 *  give those of them that berthd's bounding set holds (SpecInput.availableCaps). */
export const ALL_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
/** RLIM_INFINITY (2^64 - 1; packJsonAny writes it exactly). */
export const RLIM_INFINITY = 2 ** 64 - 1;
/** Where --init's binary appears in the container (Docker's path). */
export const INIT_PATH_IN_CONTAINER = '/sbin/docker-init';

type DeviceRule = DeviceCgroupRule;

/**
 * Docker's device cgroup rules: deny all, then the device nodes every container needs (the
 * runtime's own list, which berth-runtime adds to any spec anyway), and no fuse.
 */
const DEFAULT_DEVICE_RULES: DeviceRule[] = [
  { allow: false, access: 'rwm' },
  ...ALWAYS_ALLOWED,
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' }, // fuse
];

/** The parts of an image config (its "config" object) that a container takes. */
export interface ImageRunConfig {
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  Volumes?: Record<string, unknown> | null;
}

/** A --device as the host has it (the caller stats the node). */
export interface HostDevice {
  pathInContainer: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
  permissions: string;
}

export interface SpecInput {
  id: string;
  opts: RunOptions;
  image: ImageRunConfig;
  /** The user the process runs as (resolved against the image's /etc/passwd by the caller). */
  user: { uid: number; gid: number; additionalGids?: number[] };
  /** berthd's directory holding this container's hostname, hosts and resolv.conf. */
  filesDir: string;
  devices: HostDevice[];
  /** --security-opt seccomp=FILE: the file's profile, already read (Docker's JSON format). */
  seccompProfile?: unknown;
  /** The capabilities a container can be given at most (berthd's bounding set); default ALL_CAPS. */
  availableCaps?: string[];
  /** --init: the host path of the init binary to bind-mount at INIT_PATH_IN_CONTAINER. */
  initBinary?: string;
  /** The network namespace (cli/networks/namespace.ts): a path to join (berthd's namespace of
   *  this container, or another container's for container:<id>), the host's (no namespace of
   *  its own), or nothing: a new empty one (--network none: lo only). `etcDir` replaces filesDir
   *  for /etc/hostname, hosts and resolv.conf (container:<id> shares the other's); `hostname`
   *  is the default hostname (the host's for --network host). */
  network?: { path?: string; host?: boolean; etcDir?: string; hostname?: string };
  /** --link's environment variables: before the image's and -e's, which win (Docker's order). */
  linkEnv?: string[];
  /** -v, --mount, --volumes-from and the image's VOLUMEs as mounts, resolved by the caller
   *  (cli/volumes: volumes are berthd's directories); without it, -v's host binds as given. */
  userMounts?: { destination: string; type: string; source: string; options: string[] }[];
  arch?: string;
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    rlimits?: { type: string; soft: number; hard: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: {
    resources: Record<string, unknown>;
    cgroupsPath: string;
    namespaces: { type: string; path?: string }[];
    devices?: { path: string; type: string; major: number; minor: number; fileMode: number; uid: number; gid: number }[];
    maskedPaths?: string[];
    readonlyPaths?: string[];
    seccomp?: SeccompSpec;
  };
}

/** The capabilities of a CapBnd mask (/proc/<pid>/status, hex). */
export function capsOfMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPS.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The process's command: Docker's merge of --entrypoint / arguments with the image's. */
export function commandOf(opts: Pick<RunOptions, 'entrypoint' | 'command'>, image: ImageRunConfig): { entrypoint: string[]; cmd: string[] } {
  if (opts.entrypoint !== undefined) {
    const entrypoint = opts.entrypoint === '' ? [] : [opts.entrypoint];
    // An entrypoint given here drops the image's Cmd, except when it only resets the entrypoint.
    const cmd = opts.command.length > 0 ? opts.command : opts.entrypoint === '' ? [...(image.Cmd ?? [])] : [];
    return { entrypoint, cmd };
  }
  return { entrypoint: [...(image.Entrypoint ?? [])], cmd: opts.command.length > 0 ? opts.command : [...(image.Cmd ?? [])] };
}

/** KEY=VALUE lists merged as Docker does: a later KEY replaces the earlier one in place. */
export function mergeEnv(...lists: string[][]): string[] {
  const out: string[] = [];
  const index = new Map<string, number>();
  for (const list of lists) {
    for (const e of list) {
      const key = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
      const at = index.get(key);
      if (at === undefined) {
        index.set(key, out.length);
        out.push(e);
      } else {
        out[at] = e;
      }
    }
  }
  return out;
}

const capName = (c: string): string => {
  const up = c.toUpperCase();
  return up === 'ALL' ? up : up.startsWith('CAP_') ? up : `CAP_${up}`;
};

/** Docker's capability arithmetic: defaults (or all, privileged) + --cap-add - --cap-drop; ALL in either. */
export function capabilitiesOf(opts: Pick<RunOptions, 'privileged' | 'capAdd' | 'capDrop'>, available: string[] = ALL_CAPS): string[] {
  if (opts.privileged) return [...available];
  const add = opts.capAdd.map(capName);
  const drop = opts.capDrop.map(capName);
  for (const c of [...add, ...drop]) if (c !== 'ALL' && !ALL_CAPS.includes(c)) throw new Error(`unknown capability: "${c}"`);
  let caps = add.includes('ALL') ? [...available] : [...DEFAULT_CAPS];
  if (drop.includes('ALL')) caps = add.includes('ALL') ? caps : [];
  for (const c of add) if (c !== 'ALL' && !caps.includes(c)) caps.push(c);
  if (!drop.includes('ALL')) caps = caps.filter((c) => !drop.includes(c) || add.includes(c));
  return caps;
}

/** Docker's profile format (defaultAction, archMap, syscalls with includes/excludes) → OCI, for `caps`. */
export function profileToSeccomp(profile: unknown, caps: string[], arch: string = process.arch): SeccompSpec {
  const p = profile as {
    defaultAction?: string;
    defaultErrnoRet?: number;
    architectures?: string[];
    archMap?: { architecture: string; subArchitectures: string[] | null }[];
    syscalls?: { names?: string[]; name?: string; action: string; errnoRet?: number; args?: unknown[]; includes?: { caps?: string[]; arches?: string[] }; excludes?: { caps?: string[]; arches?: string[] } }[];
  };
  if (!p || typeof p !== 'object' || typeof p.defaultAction !== 'string') throw new Error('seccomp profile: defaultAction must be set');
  const native = defaultSeccomp(caps, arch).architectures;
  let architectures = p.architectures ?? [];
  if (p.archMap) {
    const entry = p.archMap.find((a) => a.architecture === native[0]);
    architectures = entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
  }
  const goArch = ({ x64: 'amd64', arm64: 'arm64', ia32: 'x86', s390x: 's390x', riscv64: 'riscv64', ppc64: 'ppc64le', arm: 'arm' } as Record<string, string>)[arch] ?? arch;
  const have = new Set(caps);
  const syscalls: SeccompSpec['syscalls'] = [];
  for (const s of p.syscalls ?? []) {
    if (s.includes?.caps?.length && !s.includes.caps.some((c) => have.has(c))) continue;
    if (s.includes?.arches?.length && !s.includes.arches.includes(goArch)) continue;
    if (s.excludes?.caps?.some((c) => have.has(c))) continue;
    if (s.excludes?.arches?.includes(goArch)) continue;
    syscalls.push({
      names: s.names ?? (s.name ? [s.name] : []),
      action: s.action,
      ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}),
      ...(s.args && s.args.length ? { args: s.args as never } : {}),
    });
  }
  return { defaultAction: p.defaultAction, ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}), architectures, syscalls } as SeccompSpec;
}

function seccompOf(input: SpecInput, caps: string[]): SeccompSpec | undefined {
  const opt = input.opts.securityOpt.map((s) => /^seccomp[=:](.*)$/.exec(s)?.[1]).find((v) => v !== undefined);
  if (input.opts.privileged && opt === undefined) return undefined;
  if (opt === 'unconfined') return undefined;
  if (input.seccompProfile !== undefined) return profileToSeccomp(input.seccompProfile, caps, input.arch);
  return defaultSeccomp(caps, input.arch);
}

function tmpfsOptions(user: string): string[] {
  const given = user === '' ? [] : user.split(',');
  const base = ['noexec', 'nosuid', 'nodev'].filter((o) => !given.includes(o.replace(/^no/, '')) && !given.includes(o));
  return [...base, ...given];
}

export function buildSpec(input: SpecInput): OciSpec {
  const { opts, image, id } = input;
  const { entrypoint, cmd } = commandOf(opts, image);
  let args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new Error('no command specified');
  if (opts.init) args = [INIT_PATH_IN_CONTAINER, '--', ...args];
  const hostname = opts.hostname ?? input.network?.hostname ?? id.slice(0, 12);
  const imageEnv = image.Env ?? [];
  const env = mergeEnv([DEFAULT_PATH, `HOSTNAME=${hostname}`], opts.tty ? ['TERM=xterm'] : [], input.linkEnv ?? [], imageEnv, opts.env);
  const cwd = opts.workdir || image.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw new Error(`the working directory '${cwd}' is invalid, it needs to be an absolute path`);
  const caps = capabilitiesOf(opts, input.availableCaps);
  const noNewPrivileges = opts.securityOpt.some((s) => /^no-new-privileges(?:[:=]true)?$/.test(s));
  const privileged = opts.privileged;

  const mounts: OciSpec['mounts'] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${opts.shmSize || DEFAULT_SHM_SIZE}`] },
  ];
  const etcMode = opts.readOnly ? 'ro' : 'rw';
  for (const [file, dest] of [[RESOLV_FILE, '/etc/resolv.conf'], [HOSTNAME_FILE, '/etc/hostname'], [HOSTS_FILE, '/etc/hosts']] as const) {
    mounts.push({ destination: dest, type: 'bind', source: `${input.network?.etcDir ?? input.filesDir}/${file}`, options: ['rbind', 'rprivate', etcMode] });
  }
  const userMounts = input.userMounts ?? opts.binds.map((b) => ({ destination: b.destination, type: 'bind', source: b.source, options: ['rbind', 'rprivate', b.readonly ? 'ro' : 'rw'] }));
  for (const m of userMounts) mounts.push({ ...m, options: [...m.options] });
  for (const [dest, o] of Object.entries(opts.tmpfs)) mounts.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options: tmpfsOptions(o) });
  if (opts.init) {
    if (!input.initBinary) throw new Error('--init: no init binary found on the host (install tini)');
    mounts.push({ destination: INIT_PATH_IN_CONTAINER, type: 'bind', source: input.initBinary, options: ['rbind', 'rprivate', 'ro'] });
  }

  const resources: Record<string, unknown> = {};
  const memory: Record<string, unknown> = {};
  if (opts.memory > 0) {
    memory.limit = opts.memory;
    // Docker: without --memory-swap the container may use as much swap as memory.
    memory.swap = opts.memorySwap === 0 ? opts.memory * 2 : opts.memorySwap;
  } else if (opts.memorySwap === -1) {
    memory.swap = -1;
  }
  if (opts.oomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) resources.memory = memory;
  const cpu: Record<string, unknown> = {};
  if (opts.cpuShares) cpu.shares = opts.cpuShares;
  if (opts.nanoCpus > 0) {
    cpu.period = 100000;
    cpu.quota = Math.round((opts.nanoCpus * 100000) / 1e9);
  }
  if (opts.cpuPeriod) cpu.period = opts.cpuPeriod;
  if (opts.cpuQuota) cpu.quota = opts.cpuQuota;
  if (opts.cpusetCpus) cpu.cpus = opts.cpusetCpus;
  if (opts.cpusetMems) cpu.mems = opts.cpusetMems;
  if (Object.keys(cpu).length) resources.cpu = cpu;
  if (opts.pidsLimit !== undefined && opts.pidsLimit !== 0) resources.pids = { limit: opts.pidsLimit < 0 ? -1 : opts.pidsLimit };
  const deviceRules: DeviceRule[] = privileged ? [{ allow: true, access: 'rwm' }] : DEFAULT_DEVICE_RULES.map((r) => ({ ...r }));
  for (const d of input.devices) deviceRules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.permissions });
  resources.devices = deviceRules;

  // -1 is unlimited. A hard limit above berthd's own is lowered to it by the runtime, with a
  // warning in berthd's log (root here may lack CAP_SYS_RESOURCE), rather than failing the start.
  const rlimit = (n: number) => (n === -1 ? RLIM_INFINITY : n);
  const rlimits = opts.ulimits.map((u) => ({ type: `RLIMIT_${u.name.toUpperCase()}`, soft: rlimit(u.soft), hard: rlimit(u.hard) }));

  const spec: OciSpec = {
    ociVersion: '1.1.0',
    process: {
      terminal: opts.tty,
      user: { uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids?.length ? { additionalGids: input.user.additionalGids } : {}) },
      args,
      env,
      cwd,
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      ...(rlimits.length ? { rlimits } : {}),
      noNewPrivileges,
    },
    root: { path: 'rootfs', readonly: opts.readOnly },
    hostname,
    mounts,
    linux: {
      resources,
      cgroupsPath: `/berth/${id}`,
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        ...(input.network?.host ? [] : [input.network?.path ? { type: 'network', path: input.network.path } : { type: 'network' }]),
        { type: 'cgroup' },
      ],
    },
  };
  if (input.devices.length) {
    spec.linux.devices = input.devices.map((d) => ({ path: d.pathInContainer, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid }));
  }
  if (!privileged) {
    spec.linux.maskedPaths = [...MASKED_PATHS];
    spec.linux.readonlyPaths = [...READONLY_PATHS];
  }
  const seccomp = seccompOf(input, caps);
  if (seccomp) spec.linux.seccomp = seccomp;
  return spec;
}
