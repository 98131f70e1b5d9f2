// Helpers shared by the v1 and v2 managers: walking cgroup trees, removing them with retries,
// enabling cgroup2 controllers, and turning OCI fields into the strings the kernel expects.

import { posix } from 'path';
import type { Host } from '../host/host';
import type { DeviceCgroupRule } from '../spec/types';
import { CgroupError, cgRead, cgReadOptional, cgWrite, describeErrno, errnoCode, type Sleep } from './errors';
import { DEFAULT_PARENT } from './path';

/** How long (about) destroy keeps retrying an rmdir that fails with EBUSY. */
export const RMDIR_RETRY_MS = 1000;
const RMDIR_STEP_MS = 20;

/** Polling for the freezer: total budget and step. */
export const FREEZE_TIMEOUT_MS = 5000;
const FREEZE_STEP_MS = 10;

export function uniqueValues(paths: Record<string, string>): string[] {
  return [...new Set(Object.values(paths))];
}

/** `dir` and every directory below it, deepest first (so rmdir can go down the list); [] if `dir` is gone. */
export async function treeDeepestFirst(host: Host, dir: string): Promise<string[]> {
  if (!(await host.isDirectory(dir))) return [];
  const out: string[] = [];
  const visit = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await host.readdir(d);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw new CgroupError('ERR_CGROUP_READ', `readdir ${d}: ${describeErrno(err)}`, errnoCode(err));
    }
    for (const name of names.sort()) {
      const child = posix.join(d, name);
      if (await host.isDirectory(child)) await visit(child);
    }
    out.push(d);
  };
  await visit(dir);
  return out;
}

/**
 * Removes `dir` and its sub-cgroups. EBUSY (processes that were just killed have not left yet)
 * and ENOTEMPTY (a sub-cgroup appeared meanwhile) are retried for about RMDIR_RETRY_MS; a
 * directory that is already gone is fine.
 */
export async function removeTree(host: Host, dir: string, sleep: Sleep): Promise<void> {
  const attempts = Math.ceil(RMDIR_RETRY_MS / RMDIR_STEP_MS) + 1;
  let lastErr: unknown;
  let lastPath = dir;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await sleep(RMDIR_STEP_MS);
    lastErr = undefined;
    for (const d of await treeDeepestFirst(host, dir)) {
      try {
        await host.rmdir(d);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT') continue;
        lastErr = err;
        lastPath = d;
        if (code !== 'EBUSY' && code !== 'ENOTEMPTY') {
          throw new CgroupError('ERR_CGROUP_RMDIR', `rmdir ${d}: ${describeErrno(err)}`, code);
        }
        break;
      }
    }
    if (lastErr === undefined) return;
  }
  throw new CgroupError(
    'ERR_CGROUP_RMDIR',
    `rmdir ${lastPath}: ${describeErrno(lastErr)} (still failing after ${RMDIR_RETRY_MS} ms; processes left in the cgroup?)`,
    errnoCode(lastErr),
  );
}

/**
 * Best-effort removal of the shared default parent (".../berth") above each directory, once it
 * is empty; another container may still be using it, which is fine.
 */
export async function removeDefaultParents(host: Host, dirs: string[]): Promise<void> {
  const parents = new Set(dirs.map((d) => posix.dirname(d)).filter((p) => posix.basename(p) === DEFAULT_PARENT));
  for (const parent of parents) {
    try {
      await host.rmdir(parent);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EBUSY' || code === 'ENOTEMPTY' || code === 'ENOENT') continue;
      throw new CgroupError('ERR_CGROUP_RMDIR', `rmdir ${parent}: ${describeErrno(err)}`, code);
    }
  }
}

/** Destroys every directory then the empty default parents; reports the first failure after trying all. */
export async function destroyDirs(host: Host, dirs: string[], sleep: Sleep): Promise<void> {
  // The hierarchies are independent: removing them side by side costs one round of
  // rmdirs instead of one per controller (a v1 host has a dozen).
  const results = await Promise.allSettled(dirs.map((d) => removeTree(host, d, sleep)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  await removeDefaultParents(host, dirs);
}

export function parsePidList(text: string): number[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => Number(l))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Every pid in cgroup.procs of `dir` and the directories below it; [] when `dir` is gone. */
export async function listPidsRecursive(host: Host, dir: string): Promise<number[]> {
  const seen = new Set<number>();
  for (const d of (await treeDeepestFirst(host, dir)).reverse()) {
    const text = await cgReadOptional(host, posix.join(d, 'cgroup.procs'));
    if (text === undefined) continue;
    for (const pid of parsePidList(text)) seen.add(pid);
  }
  return [...seen];
}

/** "key value" lines (memory.stat, cpu.stat, cgroup.events...) as numbers; non-numeric values are skipped. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === undefined || key === '' || value === undefined) continue;
    const n = Number(value);
    if (Number.isFinite(n)) out.set(key, n);
  }
  return out;
}

/** A single number from a stats file, or undefined when the file is missing, unreadable or "max". */
export async function readNumber(host: Host, path: string): Promise<number | undefined> {
  let text: string | undefined;
  try {
    text = await cgReadOptional(host, path);
  } catch {
    return undefined;
  }
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

export async function readFlatKeyed(host: Host, path: string): Promise<Map<string, number> | undefined> {
  try {
    const text = await cgReadOptional(host, path);
    return text === undefined ? undefined : parseFlatKeyed(text);
  } catch {
    return undefined;
  }
}

/** [mount, mount/a, mount/a/b, ...dir]; just [dir] when `dir` is not under `mount`. */
export function levelsFrom(mount: string, dir: string): string[] {
  const m = mount.endsWith('/') && mount !== '/' ? mount.slice(0, -1) : mount;
  if (dir === m) return [m];
  const prefix = m === '/' ? '/' : m + '/';
  if (!dir.startsWith(prefix)) return [dir];
  const levels = [m];
  let cur = m;
  for (const part of dir.slice(prefix.length).split('/').filter((p) => p !== '')) {
    cur = posix.join(cur, part);
    levels.push(cur);
  }
  return levels;
}

function words(text: string | undefined): string[] {
  return (text ?? '').split(/\s+/).filter((w) => w !== '');
}

/**
 * Enables cgroup2 controllers in cgroup.subtree_control of every ancestor of `dir` from the
 * mount down, so `dir` gets their interface files. `wanted` undefined means every controller
 * each level offers in cgroup.controllers. With strict, a wanted controller that cannot be
 * enabled is an error; otherwise the failure is left for apply() to report when a file is missing.
 */
export async function enableControllers(host: Host, mount: string, dir: string, wanted: string[] | undefined, strict: boolean): Promise<void> {
  const levels = levelsFrom(mount, dir);
  for (const level of levels.slice(0, -1)) {
    const available = words(await cgRead(host, posix.join(level, 'cgroup.controllers')));
    const enabled = new Set(words(await cgReadOptional(host, posix.join(level, 'cgroup.subtree_control'))));
    const want = wanted === undefined ? available : wanted;
    if (strict) {
      const absent = want.filter((c) => !available.includes(c));
      if (absent.length > 0) {
        throw new CgroupError(
          'ERR_CGROUP_UNSUPPORTED',
          `cgroup2 controller ${absent.join(', ')} is not available in ${posix.join(level, 'cgroup.controllers')}`,
        );
      }
    }
    const missing = want.filter((c) => available.includes(c) && !enabled.has(c));
    if (missing.length === 0) continue;
    const file = posix.join(level, 'cgroup.subtree_control');
    try {
      await cgWrite(host, file, missing.map((c) => `+${c}`).join(' '));
    } catch (err) {
      // One refusal fails the whole write; enable one by one to get whatever can be had.
      for (const c of missing) {
        try {
          await cgWrite(host, file, `+${c}`);
        } catch (err1) {
          if (strict) throw err1;
        }
      }
      if (strict) throw err;
    }
  }
}

/** The controllers `dir` has (its cgroup.controllers). */
export async function controllersOf(host: Host, dir: string): Promise<Set<string>> {
  return new Set(words(await cgReadOptional(host, posix.join(dir, 'cgroup.controllers'))));
}

const DEVICE_TYPES = new Set(['a', 'b', 'c', 'u', 'p']);

/** True for a rule that allows every access to every device. */
export function isAllowAllRule(rule: DeviceCgroupRule): boolean {
  const wild = (n: number | null | undefined) => n === undefined || n === null || n === -1;
  const access = rule.access ?? 'rwm';
  return (
    rule.allow &&
    (rule.type === undefined || rule.type === '' || rule.type === 'a') &&
    wild(rule.major) &&
    wild(rule.minor) &&
    [...'rwm'].every((c) => access.includes(c))
  );
}

/**
 * The line a v1 devices.allow/devices.deny takes for an OCI rule: "c 1:3 rwm", "b *:* m", or
 * "a" (every device; the kernel ignores anything after it).
 */
export function deviceRuleEntry(rule: DeviceCgroupRule, index: number): string {
  const field = `linux.resources.devices[${index}]`;
  const type = rule.type === undefined || rule.type === '' ? 'a' : rule.type;
  if (!DEVICE_TYPES.has(type)) {
    throw new CgroupError('ERR_CGROUP_INVALID', `${field}.type ${JSON.stringify(rule.type)} is not one of a, b, c, u, p`);
  }
  const access = rule.access === undefined || rule.access === '' ? 'rwm' : rule.access;
  if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) {
    throw new CgroupError('ERR_CGROUP_INVALID', `${field}.access ${JSON.stringify(rule.access)} must be made of r, w and m`);
  }
  if (type === 'a') return 'a';
  const num = (n: number | null | undefined, name: string) => {
    if (n === undefined || n === null || n === -1) return '*';
    if (!Number.isInteger(n) || n < 0) throw new CgroupError('ERR_CGROUP_INVALID', `${field}.${name} ${n} is not a device number`);
    return String(n);
  };
  // 'u' (unbuffered char device) and 'p' (fifo) are OCI spellings; cgroupfs knows only c and b.
  const kernelType = type === 'u' ? 'c' : type === 'p' ? null : type;
  if (kernelType === null) {
    throw new CgroupError('ERR_CGROUP_INVALID', `${field}.type "p" (fifo) cannot be expressed as a device cgroup rule`);
  }
  return `${kernelType} ${num(rule.major, 'major')}:${num(rule.minor, 'minor')} ${access}`;
}

/** Validates an OCI hugepage size ("2MB", "1GB", "64KB"), naming the field on failure. */
export function hugepageSize(pageSize: string, index: number): string {
  if (!/^[1-9][0-9]*[KMG]B$/.test(pageSize)) {
    throw new CgroupError('ERR_CGROUP_INVALID', `linux.resources.hugepageLimits[${index}].pageSize ${JSON.stringify(pageSize)} is not like 2MB or 1GB`);
  }
  return pageSize;
}

/** Validates a linux.resources.unified key: a plain file name inside the cgroup directory. */
export function unifiedKey(key: string): string {
  if (key === '' || key === '.' || key === '..' || key.includes('/') || key.includes('\0') || key.includes('..')) {
    throw new CgroupError('ERR_CGROUP_INVALID', `linux.resources.unified key ${JSON.stringify(key)} is not a cgroup file name`);
  }
  return key;
}

/** Writes the unified key/values into `dir`, naming the OCI key when the kernel has no such file. */
export async function writeUnified(host: Host, dir: string, unified: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(unified)) {
    const file = posix.join(dir, unifiedKey(key));
    // cgroupfs answers EACCES (not ENOENT) to a write of a file it does not have, so look first.
    if (!(await host.exists(file))) {
      throw new CgroupError(
        'ERR_CGROUP_UNSUPPORTED',
        `linux.resources.unified[${JSON.stringify(key)}]: ${file} does not exist (unknown file or controller not enabled)`,
        'ENOENT',
      );
    }
    await cgWrite(host, file, value);
  }
}

/** Polls `check` until it is true, for about FREEZE_TIMEOUT_MS; `step` runs before each check. */
export async function pollUntil(sleep: Sleep, step: () => Promise<void>, check: () => Promise<boolean>): Promise<boolean> {
  const attempts = Math.ceil(FREEZE_TIMEOUT_MS / FREEZE_STEP_MS);
  for (let i = 0; i < attempts; i++) {
    await step();
    if (await check()) return true;
    await sleep(i < 10 ? 1 : FREEZE_STEP_MS);
  }
  return false;
}

/**
 * A concurrent destroy of another container may remove the shared parent between our mkdir
 * and the next step (ENOENT); one more go recreates it.
 */
export async function retryIfParentVanished(create: () => Promise<void>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (err instanceof CgroupError && err.errno === 'ENOENT') await create();
    else throw err;
  }
}
