import { CAPABILITY_NAMES } from '../plan/capabilities';
import { PROPAGATION_OPTIONS } from '../plan/mount-options';
import { NAMESPACE_TYPES } from '../spec/validate';
import { defaultSpec } from '../spec/default';

// What `features` prints: the runtime-spec's features document (runc's `features` shape),
// describing what this build of berth implements, not what this host offers.

export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  linux: {
    namespaces: string[];
    capabilities: string[];
    cgroup: { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean; rdma: boolean };
    seccomp: { enabled: boolean; actions: string[]; operators: string[]; archs: string[]; knownFlags: string[] };
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
  };
  annotations: Record<string, string>;
}

/**
 * The mount(2) flags plan/mount-options.ts maps (the propagation ones come from its table).
 * Options it only skips (tmpcopyup, rro, idmap...) are not listed: berth does not implement them.
 */
const MOUNT_FLAG_OPTIONS = [
  'async', 'atime', 'bind', 'dev', 'diratime', 'dirsync', 'exec', 'lazytime', 'mand', 'noatime', 'nodev',
  'nodiratime', 'noexec', 'nolazytime', 'nomand', 'norelatime', 'nostrictatime', 'nosuid', 'nosymfollow',
  'rbind', 'relatime', 'remount', 'ro', 'rw', 'strictatime', 'suid', 'symfollow', 'sync',
];

// The seccomp profile plan/seccomp.ts accepts and berth-init hands to libseccomp: actions,
// comparison operators, architectures, filter flags. SCMP_ACT_NOTIFY is refused there (no
// agent to pass the listener fd to). These mirror that module's tables until it exports them.
const SECCOMP_ACTIONS = [
  'SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_LOG', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP',
];
const SECCOMP_OPERATORS = ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'];
const SECCOMP_ARCHS = [
  'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64',
];
const SECCOMP_FLAGS = ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC'];

export function features(): Features {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: defaultSpec().ociVersion,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: [...MOUNT_FLAG_OPTIONS, ...Object.keys(PROPAGATION_OPTIONS)].sort(),
    linux: {
      namespaces: [...NAMESPACE_TYPES].sort(),
      capabilities: [...CAPABILITY_NAMES],
      // Both cgroup versions and the hybrid layout are implemented; no systemd driver and no
      // rdma controller (--systemd-cgroup is accepted and ignored).
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: { enabled: true, actions: SECCOMP_ACTIONS, operators: SECCOMP_OPERATORS, archs: SECCOMP_ARCHS, knownFlags: SECCOMP_FLAGS },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
    },
    // The spec's example annotation that third-party runtimes may use: no checkpoint/restore.
    annotations: { 'org.opencontainers.runc.checkpoint.enabled': 'false' },
  };
}
