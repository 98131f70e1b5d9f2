import { isAbsolute } from 'path';
import type { Spec, NamespaceType } from './types';
import { BerthError, invalidConfig } from '../util/errors';
import { RLIMIT_NUMBERS } from '../plan/rlimits';

// Validation happens before anything touches the kernel: every error names the config.json
// field at fault, so `create` can fail with one clear line and leave nothing behind.

export const NAMESPACE_TYPES: readonly NamespaceType[] = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];

const DEVICE_TYPES = new Set(['c', 'b', 'u', 'p']);

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function expectObject(v: unknown, field: string): Json {
  if (!isObject(v)) throw invalidConfig(`${field} must be an object`);
  return v;
}

function expectString(v: unknown, field: string): string {
  if (typeof v !== 'string') throw invalidConfig(`${field} must be a string`);
  return v;
}

function expectStringArray(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw invalidConfig(`${field} must be an array of strings`);
  return v as string[];
}

function expectUint(v: unknown, field: string): number {
  if (!isUint(v)) throw invalidConfig(`${field} must be a non-negative integer`);
  return v;
}

function optional<T>(obj: Json, key: string, check: (v: unknown, field: string) => T, field: string): T | undefined {
  return obj[key] === undefined ? undefined : check(obj[key], `${field}.${key}`);
}

/**
 * Checks a parsed config.json. `forCreate` also requires what a container needs to run
 * (process, root); `berth-runtime spec` output and annotations-only specs need less.
 */
export function validateSpec(raw: unknown, forCreate = true): Spec {
  const spec = expectObject(raw, 'config.json');
  expectString(spec.ociVersion, 'ociVersion');
  if (!/^1\.\d+\.\d+/.test(spec.ociVersion as string)) throw invalidConfig(`ociVersion ${JSON.stringify(spec.ociVersion)} is not a supported 1.x version`);

  if (forCreate || spec.root !== undefined) {
    const root = expectObject(spec.root, 'root');
    if (expectString(root.path, 'root.path') === '') throw invalidConfig('root.path must not be empty');
    if (root.readonly !== undefined && typeof root.readonly !== 'boolean') throw invalidConfig('root.readonly must be a boolean');
  }

  const linux = spec.linux === undefined ? {} : expectObject(spec.linux, 'linux');
  const namespaces = validateNamespaces(linux);

  if (forCreate || spec.process !== undefined) validateProcess(spec.process);
  if (spec.hostname !== undefined) {
    expectString(spec.hostname, 'hostname');
    if (spec.hostname !== '' && !namespaces.has('uts')) throw invalidConfig('hostname requires a new uts namespace (linux.namespaces)');
  }
  if (spec.domainname !== undefined) {
    expectString(spec.domainname, 'domainname');
    if (spec.domainname !== '' && !namespaces.has('uts')) throw invalidConfig('domainname requires a new uts namespace (linux.namespaces)');
  }
  if (spec.mounts !== undefined) validateMounts(spec.mounts);
  if (spec.hooks !== undefined) validateHooks(spec.hooks);
  if (spec.annotations !== undefined) {
    const ann = expectObject(spec.annotations, 'annotations');
    for (const [k, v] of Object.entries(ann)) expectString(v, `annotations.${k}`);
  }
  validateLinux(linux, namespaces);
  return spec as unknown as Spec;
}

function validateNamespaces(linux: Json): Map<NamespaceType, string | undefined> {
  const result = new Map<NamespaceType, string | undefined>();
  if (linux.namespaces === undefined) return result;
  if (!Array.isArray(linux.namespaces)) throw invalidConfig('linux.namespaces must be an array');
  linux.namespaces.forEach((ns, i) => {
    const field = `linux.namespaces[${i}]`;
    const o = expectObject(ns, field);
    const type = expectString(o.type, `${field}.type`) as NamespaceType;
    if (!NAMESPACE_TYPES.includes(type)) throw invalidConfig(`${field}.type: unknown namespace type ${JSON.stringify(type)}`);
    if (result.has(type)) throw invalidConfig(`${field}.type: duplicate namespace type ${JSON.stringify(type)}`);
    const path = optional(o, 'path', expectString, field);
    if (path !== undefined && path !== '' && !isAbsolute(path)) throw invalidConfig(`${field}.path must be absolute: ${JSON.stringify(path)}`);
    result.set(type, path || undefined);
  });
  return result;
}

function validateProcess(raw: unknown): void {
  const p = expectObject(raw, 'process');
  const user = expectObject(p.user, 'process.user');
  expectUint(user.uid, 'process.user.uid');
  expectUint(user.gid, 'process.user.gid');
  if (user.umask !== undefined) expectUint(user.umask, 'process.user.umask');
  if (user.additionalGids !== undefined) {
    if (!Array.isArray(user.additionalGids)) throw invalidConfig('process.user.additionalGids must be an array');
    user.additionalGids.forEach((g, i) => expectUint(g, `process.user.additionalGids[${i}]`));
  }
  const args = expectStringArray(p.args, 'process.args');
  if (args.length === 0 || args[0] === '') throw invalidConfig('process.args must name a program to run');
  const cwd = expectString(p.cwd, 'process.cwd');
  if (!isAbsolute(cwd)) throw invalidConfig(`process.cwd must be an absolute path: ${JSON.stringify(cwd)}`);
  if (p.env !== undefined) {
    expectStringArray(p.env, 'process.env').forEach((e, i) => {
      if (!e.includes('=')) throw invalidConfig(`process.env[${i}] must have the form KEY=VALUE: ${JSON.stringify(e)}`);
    });
  }
  if (p.terminal !== undefined && typeof p.terminal !== 'boolean') throw invalidConfig('process.terminal must be a boolean');
  if (p.noNewPrivileges !== undefined && typeof p.noNewPrivileges !== 'boolean') throw invalidConfig('process.noNewPrivileges must be a boolean');
  if (p.oomScoreAdj !== undefined && (!Number.isInteger(p.oomScoreAdj) || (p.oomScoreAdj as number) < -1000 || (p.oomScoreAdj as number) > 1000)) {
    throw invalidConfig('process.oomScoreAdj must be an integer from -1000 to 1000');
  }
  if (p.consoleSize !== undefined) {
    const cs = expectObject(p.consoleSize, 'process.consoleSize');
    expectUint(cs.height, 'process.consoleSize.height');
    expectUint(cs.width, 'process.consoleSize.width');
  }
  if (p.capabilities !== undefined) {
    const caps = expectObject(p.capabilities, 'process.capabilities');
    for (const set of Object.keys(caps)) {
      if (!['bounding', 'effective', 'inheritable', 'permitted', 'ambient'].includes(set)) throw invalidConfig(`process.capabilities.${set}: unknown capability set`);
      expectStringArray(caps[set], `process.capabilities.${set}`);
    }
  }
  if (p.rlimits !== undefined) {
    if (!Array.isArray(p.rlimits)) throw invalidConfig('process.rlimits must be an array');
    const seen = new Set<string>();
    p.rlimits.forEach((r, i) => {
      const field = `process.rlimits[${i}]`;
      const o = expectObject(r, field);
      const type = expectString(o.type, `${field}.type`);
      if (RLIMIT_NUMBERS[type] === undefined) throw invalidConfig(`${field}.type: unknown rlimit ${JSON.stringify(type)}`);
      if (seen.has(type)) throw invalidConfig(`${field}.type: duplicate rlimit ${type}`);
      seen.add(type);
      const soft = expectUint(o.soft, `${field}.soft`);
      const hard = expectUint(o.hard, `${field}.hard`);
      if (soft > hard) throw invalidConfig(`${field}: soft limit ${soft} is above hard limit ${hard}`);
    });
  }
}

function validateMounts(raw: unknown): void {
  if (!Array.isArray(raw)) throw invalidConfig('mounts must be an array');
  raw.forEach((m, i) => {
    const field = `mounts[${i}]`;
    const o = expectObject(m, field);
    const dest = expectString(o.destination, `${field}.destination`);
    if (!isAbsolute(dest)) throw invalidConfig(`${field}.destination must be an absolute path: ${JSON.stringify(dest)}`);
    optional(o, 'source', expectString, field);
    optional(o, 'type', expectString, field);
    optional(o, 'options', expectStringArray, field);
  });
}

const HOOK_KINDS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

function validateHooks(raw: unknown): void {
  const hooks = expectObject(raw, 'hooks');
  for (const [kind, list] of Object.entries(hooks)) {
    if (!HOOK_KINDS.includes(kind)) throw invalidConfig(`hooks.${kind}: unknown hook kind`);
    if (!Array.isArray(list)) throw invalidConfig(`hooks.${kind} must be an array`);
    list.forEach((h, i) => {
      const field = `hooks.${kind}[${i}]`;
      const o = expectObject(h, field);
      const path = expectString(o.path, `${field}.path`);
      if (!isAbsolute(path)) throw invalidConfig(`${field}.path must be absolute: ${JSON.stringify(path)}`);
      optional(o, 'args', expectStringArray, field);
      optional(o, 'env', expectStringArray, field);
      if (o.timeout !== undefined && (!Number.isInteger(o.timeout) || (o.timeout as number) <= 0)) {
        throw invalidConfig(`${field}.timeout must be a positive integer`);
      }
    });
  }
}

// Sysctls that are namespaced, and the namespace each needs (as runc checks them).
function sysctlNamespace(key: string): NamespaceType | undefined {
  if (key.startsWith('net.')) return 'network';
  if (/^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$/.test(key) || key.startsWith('fs.mqueue.')) return 'ipc';
  if (key === 'kernel.hostname' || key === 'kernel.domainname') return 'uts';
  return undefined;
}

function validateLinux(linux: Json, namespaces: Map<NamespaceType, string | undefined>): void {
  const newNs = (t: NamespaceType) => namespaces.has(t) && namespaces.get(t) === undefined;
  for (const key of ['uidMappings', 'gidMappings'] as const) {
    if (linux[key] === undefined) continue;
    if (!Array.isArray(linux[key])) throw invalidConfig(`linux.${key} must be an array`);
    if ((linux[key] as unknown[]).length > 0 && !namespaces.has('user')) throw invalidConfig(`linux.${key} requires a user namespace (linux.namespaces)`);
    (linux[key] as unknown[]).forEach((m, i) => {
      const o = expectObject(m, `linux.${key}[${i}]`);
      for (const f of ['containerID', 'hostID', 'size']) expectUint(o[f], `linux.${key}[${i}].${f}`);
    });
  }
  // pivot_root, masked and read-only paths all act on the mount namespace they run in:
  // without a private one they would act on the caller's.
  if (!namespaces.has('mount')) throw invalidConfig('linux.namespaces: a mount namespace is required (berth will not change the caller\'s mounts)');
  if (newNs('user') && (!Array.isArray(linux.uidMappings) || !Array.isArray(linux.gidMappings) || linux.uidMappings.length === 0 || linux.gidMappings.length === 0)) {
    throw invalidConfig('linux.uidMappings and linux.gidMappings are required with a new user namespace');
  }
  if (linux.sysctl !== undefined) {
    const sysctl = expectObject(linux.sysctl, 'linux.sysctl');
    for (const [k, v] of Object.entries(sysctl)) {
      expectString(v, `linux.sysctl.${k}`);
      if (k.includes('/') || k.includes('..') || k === '') throw invalidConfig(`linux.sysctl: invalid key ${JSON.stringify(k)}`);
      const need = sysctlNamespace(k);
      if (need === undefined) throw invalidConfig(`linux.sysctl.${k}: sysctl is not namespaced and cannot be set in a container`);
      if (!newNs(need)) throw invalidConfig(`linux.sysctl.${k} requires a new ${need} namespace`);
    }
  }
  if (linux.devices !== undefined) {
    if (!Array.isArray(linux.devices)) throw invalidConfig('linux.devices must be an array');
    linux.devices.forEach((d, i) => {
      const field = `linux.devices[${i}]`;
      const o = expectObject(d, field);
      const type = expectString(o.type, `${field}.type`);
      if (!DEVICE_TYPES.has(type)) throw invalidConfig(`${field}.type: unknown device type ${JSON.stringify(type)}`);
      const path = expectString(o.path, `${field}.path`);
      if (!isAbsolute(path)) throw invalidConfig(`${field}.path must be absolute: ${JSON.stringify(path)}`);
      if (type !== 'p') {
        expectUint(o.major, `${field}.major`);
        expectUint(o.minor, `${field}.minor`);
      }
      for (const f of ['fileMode', 'uid', 'gid']) if (o[f] !== undefined) expectUint(o[f], `${field}.${f}`);
    });
  }
  for (const key of ['maskedPaths', 'readonlyPaths'] as const) {
    if (linux[key] === undefined) continue;
    expectStringArray(linux[key], `linux.${key}`).forEach((p, i) => {
      if (!isAbsolute(p)) throw invalidConfig(`linux.${key}[${i}] must be an absolute path: ${JSON.stringify(p)}`);
    });
  }
  if (linux.cgroupsPath !== undefined) expectString(linux.cgroupsPath, 'linux.cgroupsPath');
  if (linux.rootfsPropagation !== undefined) {
    const p = expectString(linux.rootfsPropagation, 'linux.rootfsPropagation');
    if (!['', 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared', 'unbindable', 'runbindable'].includes(p)) {
      throw invalidConfig(`linux.rootfsPropagation: unknown propagation ${JSON.stringify(p)}`);
    }
  }
  if (linux.resources !== undefined) validateResources(expectObject(linux.resources, 'linux.resources'));
  if (linux.timeOffsets !== undefined && !newNs('time')) throw invalidConfig('linux.timeOffsets requires a new time namespace');
  if (linux.intelRdt !== undefined) throw new BerthError('ERR_NOT_IMPLEMENTED', 'linux.intelRdt: this host has no Intel RDT (resctrl) support');
}

function validateResources(r: Json): void {
  const numbers = (obj: unknown, field: string, keys: string[], allowNegative: string[] = []) => {
    if (obj === undefined) return;
    const o = expectObject(obj, field);
    for (const k of keys) {
      if (o[k] === undefined) continue;
      if (typeof o[k] !== 'number' || !Number.isInteger(o[k])) throw invalidConfig(`${field}.${k} must be an integer`);
      if ((o[k] as number) < 0 && !(allowNegative.includes(k) && o[k] === -1)) throw invalidConfig(`${field}.${k} must not be negative`);
    }
  };
  numbers(r.memory, 'linux.resources.memory', ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP', 'swappiness'], ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP']);
  numbers(r.cpu, 'linux.resources.cpu', ['shares', 'quota', 'period', 'realtimeRuntime', 'realtimePeriod', 'burst', 'idle'], ['quota']);
  if (r.cpu !== undefined) {
    const cpu = r.cpu as Json;
    for (const k of ['cpus', 'mems']) if (cpu[k] !== undefined && !/^[0-9,\- ]*$/.test(expectString(cpu[k], `linux.resources.cpu.${k}`))) {
      throw invalidConfig(`linux.resources.cpu.${k}: invalid cpu list ${JSON.stringify(cpu[k])}`);
    }
  }
  if (r.pids !== undefined) {
    const pids = expectObject(r.pids, 'linux.resources.pids');
    if (typeof pids.limit !== 'number' || !Number.isInteger(pids.limit)) throw invalidConfig('linux.resources.pids.limit must be an integer');
  }
  numbers(r.blockIO, 'linux.resources.blockIO', ['weight', 'leafWeight']);
  if (r.blockIO !== undefined) {
    const bio = r.blockIO as Json;
    for (const k of ['weight', 'leafWeight']) {
      if (bio[k] !== undefined && ((bio[k] as number) < 10 || (bio[k] as number) > 1000)) throw invalidConfig(`linux.resources.blockIO.${k} must be from 10 to 1000, got ${bio[k]}`);
    }
  }
  if (r.devices !== undefined) {
    if (!Array.isArray(r.devices)) throw invalidConfig('linux.resources.devices must be an array');
    r.devices.forEach((d, i) => {
      const field = `linux.resources.devices[${i}]`;
      const o = expectObject(d, field);
      if (typeof o.allow !== 'boolean') throw invalidConfig(`${field}.allow must be a boolean`);
      if (o.type !== undefined && !['a', 'c', 'b'].includes(o.type as string)) throw invalidConfig(`${field}.type: unknown device type ${JSON.stringify(o.type)}`);
      if (o.access !== undefined && !/^[rwm]*$/.test(expectString(o.access, `${field}.access`))) throw invalidConfig(`${field}.access: invalid access ${JSON.stringify(o.access)}`);
    });
  }
}
