import { CAPABILITY_NAMES } from '../plan/capabilities';
import { ACTIONS, OPS, ARCHES, FLAGS } from '../plan/seccomp';
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

// The seccomp profile berth accepts is exactly what plan/seccomp.ts validates (NOTIFY is
// refused there: no agent to pass the listener fd to).
const sorted = (set: Set<string>) => [...set].sort();
const SECCOMP_ACTIONS = sorted(ACTIONS);
const SECCOMP_OPERATORS = sorted(OPS);
const SECCOMP_ARCHS = sorted(ARCHES);
const SECCOMP_FLAGS = sorted(FLAGS);

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
