import type { Device, DeviceCgroupRule, LinuxResources } from '../spec/types';

// The device cgroup rules a container gets: the spec's own, then what every container needs
// to work at all (the default device nodes, ptys, mknod of anything), then each device the
// spec asks berth to create — as runc does, so specs written for it behave the same.
export const ALWAYS_ALLOWED: readonly DeviceCgroupRule[] = [
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // console
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // net/tun
];

export function withDefaultDevices(resources: LinuxResources | undefined, devices: Device[] | undefined): LinuxResources {
  const r = resources ?? {};
  if (!r.devices) return r;
  const created: DeviceCgroupRule[] = (devices ?? [])
    .filter((d) => d.type === 'c' || d.type === 'b' || d.type === 'u')
    .map((d) => ({ allow: true, type: d.type === 'b' ? 'b' : 'c', major: d.major, minor: d.minor, access: 'rwm' }));
  return { ...r, devices: [...r.devices, ...ALWAYS_ALLOWED, ...created] };
}
