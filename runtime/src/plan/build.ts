import { join } from 'path';
import type { Spec, Mount, NamespaceType, Process, Linux } from '../spec/types';
import type { HostFacts } from './host-facts';
import { capabilityNumber } from './capabilities';
import { RLIMIT_NUMBERS, RLIM_INFINITY, rlimitValue } from './rlimits';
import { MS, PROPAGATION_OPTIONS, parseMountOptions } from './mount-options';
import { encodeLine } from './codec';
import { seccompRecords } from './seccomp';
import { invalidConfig } from '../util/errors';

// Turns a validated spec into the init plan of native-helper/PROTOCOL.md. Every decision is
// made here; berth-init only executes the records in its fixed order.

export type PlanRecord = (string | number)[];

export interface PlanOptions {
  bundle: string;
  rootfs: string;
  /** Host directory of the container's cgroup per v1 hierarchy mount point (or "" for the unified one). */
  cgroupMounts: { mountPoint: string; hostDir: string; fstype: 'cgroup' | 'cgroup2' }[];
  facts: HostFacts;
  execFifo?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  preserveFds?: number;
  /** stage0 waits for the container and mirrors its exit status (`run` in the foreground). */
  wait?: boolean;
}

export interface Plan {
  records: PlanRecord[];
  /** Clamps and skips the caller should log (never fatal). */
  warnings: string[];
}

const NS_PLAN_NAMES: Record<NamespaceType, string> = {
  pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup', time: 'time',
};

const DEFAULT_DEVICES: [string, number, number][] = [
  ['/dev/null', 1, 3], ['/dev/zero', 1, 5], ['/dev/full', 1, 7],
  ['/dev/random', 1, 8], ['/dev/urandom', 1, 9], ['/dev/tty', 5, 0],
];

const DEV_SYMLINKS: [string, string][] = [
  ['/proc/self/fd', '/dev/fd'], ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'], ['/proc/self/fd/2', '/dev/stderr'],
];

export function buildPlan(spec: Spec, opts: PlanOptions): Plan {
  const records: PlanRecord[] = [['version', 1]];
  const warnings: string[] = [];
  const linux = spec.linux ?? {};
  const proc = spec.process!;
  if (opts.wait) records.push(['wait']);

  const namespaces = linux.namespaces ?? [];
  const userNs = namespaces.some((n) => n.type === 'user');
  for (const ns of namespaces) records.push(['ns', NS_PLAN_NAMES[ns.type], ns.path ?? '']);
  for (const [clock, off] of Object.entries(linux.timeOffsets ?? {})) {
    records.push(['timens-offset', clock, off.secs ?? 0, off.nanosecs ?? 0]);
  }

  // Mounts.
  records.push(['rootfs', opts.rootfs]);
  const prop = linux.rootfsPropagation ? PROPAGATION_OPTIONS[linux.rootfsPropagation]! : MS.SLAVE | MS.REC;
  // The rootfs propagation applies to "/" recursively whatever the spec's spelling says.
  records.push(['rootfs-propagation', prop | MS.REC]);
  if (spec.root?.readonly) records.push(['readonly-rootfs']);
  if (opts.noPivot) records.push(['no-pivot']);
  const mounts = spec.mounts ?? [];
  for (const m of mounts) records.push(...mountRecords(m, opts));
  const devBound = mounts.some((m) => m.destination === '/dev' && isBind(m));
  if (!devBound) {
    if (userNs) records.push(['bind-devices']);
    const specDevices = linux.devices ?? [];
    for (const [path, major, minor] of DEFAULT_DEVICES) {
      if (specDevices.some((d) => d.path === path)) continue;
      records.push(['device', path, 'c', major, minor, 0o666, 0, 0]);
    }
    for (const d of specDevices) {
      records.push(['device', d.path, d.type, d.major ?? 0, d.minor ?? 0, (d.fileMode ?? 0o666) & 0o7777, d.uid ?? 0, d.gid ?? 0]);
    }
    for (const [target, link] of DEV_SYMLINKS) records.push(['symlink', target, link]);
    if (!specDevices.some((d) => d.path === '/dev/ptmx')) records.push(['symlink', 'pts/ptmx', '/dev/ptmx']);
  }

  // createContainer hooks run inside berth-init (in the container's namespaces, before pivot_root).
  for (const kind of ['createContainer', 'startContainer'] as const) {
    for (const h of spec.hooks?.[kind] ?? []) {
      const args = h.args ?? [h.path];
      records.push(['hook', kind, h.timeout ?? 0, h.path, args.length, ...args, ...(h.env ?? [])]);
    }
  }

  for (const p of linux.maskedPaths ?? []) records.push(['masked', p]);
  for (const p of linux.readonlyPaths ?? []) records.push(['readonly', p]);
  if (spec.hostname) records.push(['hostname', spec.hostname]);
  if (spec.domainname) records.push(['domainname', spec.domainname]);
  for (const [k, v] of Object.entries(linux.sysctl ?? {})) records.push(['sysctl', k.replace(/\./g, '/'), v]);

  records.push(...processRecords(proc, opts.facts, warnings));
  records.push(...securityRecords(linux));
  records.push(...terminalRecords(proc, opts.consoleSocket));
  if (opts.execFifo) records.push(['exec-fifo', opts.execFifo]);
  if (opts.preserveFds) records.push(['preserve-fds', opts.preserveFds]);
  return { records, warnings };
}

export interface ExecPlanOptions {
  /** The running container's namespaces to join, each by its /proc/<pid>/ns/<type> path. */
  joins: { type: NamespaceType; path: string }[];
  facts: HostFacts;
  consoleSocket?: string;
  preserveFds?: number;
  /** Foreground exec: stage0 waits for the process and mirrors its exit status. */
  wait?: boolean;
}

/**
 * The plan for `exec`: a process that joins a running container. No rootfs (so no mount
 * step), no exec fifo and no container-side hooks; the process itself is set up as init's
 * is — limits, capabilities, user, no_new_privs, seccomp and personality of the container.
 */
export function buildExecPlan(spec: Spec, proc: Process, opts: ExecPlanOptions): Plan {
  const records: PlanRecord[] = [['version', 1]];
  const warnings: string[] = [];
  if (opts.wait) records.push(['wait']);
  for (const j of opts.joins) records.push(['ns', NS_PLAN_NAMES[j.type], j.path]);
  records.push(...processRecords(proc, opts.facts, warnings));
  records.push(...securityRecords(spec.linux ?? {}));
  records.push(...terminalRecords(proc, opts.consoleSocket));
  if (opts.preserveFds) records.push(['preserve-fds', opts.preserveFds]);
  return { records, warnings };
}

/** What makes the process: limits, capabilities, user, cwd, environment and argv. */
function processRecords(proc: Process, facts: HostFacts, warnings: string[]): PlanRecord[] {
  const records: PlanRecord[] = [];
  // Limits: a hard limit above our own cannot be set without CAP_SYS_RESOURCE. Clamp and warn,
  // so a config written for a more privileged host still runs (containerd does the same).
  for (const r of proc.rlimits ?? []) {
    let soft = rlimitValue(r.soft);
    let hard = rlimitValue(r.hard);
    const ours = facts.hardLimits[r.type];
    if (!facts.hasSysResource && ours !== undefined && BigInt(hard) > BigInt(ours)) {
      warnings.push(`process.rlimits: ${r.type} hard limit ${hard === RLIM_INFINITY ? 'unlimited' : hard} lowered to ${ours}, the runtime's own (no CAP_SYS_RESOURCE)`);
      hard = ours;
      if (BigInt(soft) > BigInt(hard)) soft = hard;
    }
    records.push(['rlimit', RLIMIT_NUMBERS[r.type]!, soft, hard]);
  }
  if (proc.oomScoreAdj !== undefined) {
    let adj = proc.oomScoreAdj;
    if (!facts.hasSysResource && adj < facts.ownOomScoreAdj) {
      warnings.push(`process.oomScoreAdj: ${adj} raised to ${facts.ownOomScoreAdj}, the runtime's own (lowering it needs CAP_SYS_RESOURCE)`);
      adj = facts.ownOomScoreAdj;
    }
    records.push(['oom-score-adj', adj]);
  }

  // Capabilities and user.
  if (proc.capabilities) {
    for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) {
      const names = proc.capabilities[set] ?? [];
      const numbers: number[] = [];
      for (const name of names) {
        const n = capabilityNumber(name);
        if (n === undefined) warnings.push(`process.capabilities.${set}: unknown capability ${JSON.stringify(name)} ignored`);
        else if (!numbers.includes(n)) numbers.push(n);
      }
      records.push(['caps', set, ...numbers]);
    }
  }
  if (proc.noNewPrivileges) records.push(['no-new-privileges']);
  records.push(['user', proc.user.uid, proc.user.gid]);
  if (proc.user.additionalGids?.length) records.push(['groups', ...proc.user.additionalGids]);
  if (proc.user.umask !== undefined) records.push(['umask', proc.user.umask]);
  records.push(['cwd', proc.cwd]);
  for (const e of proc.env ?? []) records.push(['env', e]);
  for (const a of proc.args ?? []) records.push(['arg', a]);
  return records;
}

/** Container-wide restrictions every process of it gets, init and exec alike. */
function securityRecords(linux: Linux): PlanRecord[] {
  const records = seccompRecords(linux.seccomp);
  if (linux.personality !== undefined) records.push(['personality', personality(linux.personality)]);
  return records;
}

// personality(2) values of the domains the spec allows (PER_LINUX, PER_LINUX32).
const PERSONALITY_DOMAINS: Record<string, number> = { LINUX: 0, LINUX32: 8 };

function personality(p: unknown): number {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw invalidConfig('linux.personality must be an object');
  const { domain, flags } = p as { domain?: unknown; flags?: unknown };
  if (typeof domain !== 'string') throw invalidConfig('linux.personality.domain must be a string');
  const n = PERSONALITY_DOMAINS[domain];
  if (n === undefined) throw invalidConfig(`linux.personality.domain: unknown domain ${JSON.stringify(domain)} (LINUX or LINUX32)`);
  // The spec defines no flags yet; accepting some would silently drop them.
  if (flags !== undefined && (!Array.isArray(flags) || flags.length > 0)) throw invalidConfig('linux.personality.flags: no flags are supported, the list must be empty');
  return n;
}

/**
 * A pty for the process. With a console socket its master goes there; without one (only in
 * the foreground, where stage0 stays) stage0 relays it to its own stdio.
 */
function terminalRecords(proc: Process, consoleSocket: string | undefined): PlanRecord[] {
  if (!proc.terminal) return [];
  const records: PlanRecord[] = [['terminal']];
  if (consoleSocket) records.push(['console-socket', consoleSocket]);
  if (proc.consoleSize) records.push(['console-size', proc.consoleSize.height, proc.consoleSize.width]);
  return records;
}

function isBind(m: Mount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

function mountRecords(m: Mount, opts: PlanOptions): PlanRecord[] {
  const { flags, propagation, data } = parseMountOptions(m.options);
  if (m.type === 'cgroup' || m.type === 'cgroup2') return cgroupMountRecords(m.destination, flags, opts);
  if (isBind(m)) {
    // The spec: a relative bind source is relative to the bundle.
    const source = m.source ?? '';
    const src = source.startsWith('/') ? source : join(opts.bundle, source);
    return [['mount', src, m.destination, 'bind', flags | MS.BIND, propagation, data]];
  }
  return [['mount', m.source ?? m.type ?? 'none', m.destination, m.type ?? 'none', flags, propagation, data]];
}

/**
 * A `cgroup` mount shows the container its own cgroups: a tmpfs with one bind mount per
 * hierarchy of the container's cgroup directory (the unified one as `unified` in hybrid
 * mode), read-only when asked — the remount comes last so the binds can be made first.
 */
function cgroupMountRecords(dest: string, flags: number, opts: PlanOptions): PlanRecord[] {
  const base = flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC);
  const onlyUnified = opts.cgroupMounts.length === 1 && opts.cgroupMounts[0]!.fstype === 'cgroup2';
  if (onlyUnified) {
    return [['mount', opts.cgroupMounts[0]!.hostDir, dest, 'bind', MS.BIND | MS.REC | flags, 0, '']];
  }
  const records: PlanRecord[] = [['mount', 'tmpfs', dest, 'tmpfs', base, 0, 'mode=755']];
  for (const cg of opts.cgroupMounts) {
    const name = cg.mountPoint.split('/').pop()!;
    records.push(['mount', cg.hostDir, join(dest, name), 'bind', MS.BIND | base | (flags & MS.RDONLY), 0, '']);
  }
  if (flags & MS.RDONLY) records.push(['mount', 'tmpfs', dest, 'tmpfs', MS.REMOUNT | MS.RDONLY | base, 0, 'mode=755']);
  return records;
}

export function encodePlan(plan: Plan): string {
  return plan.records.map(encodeLine).join('') + 'end\n';
}
