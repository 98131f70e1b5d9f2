import type { PlanRecord } from './build';
import { BerthError, invalidConfig } from '../util/errors';

// linux.seccomp (config-linux.md) → the seccomp-* plan records. Names stay strings: berth-init
// hands them to libseccomp, which also resolves syscall names for the architecture it runs on
// (a name it does not know is skipped there, as profiles list syscalls of every arch).

export const ACTIONS = new Set([
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG',
]);
/** The actions whose return data the kernel passes on: the errno, or the tracer's message. */
const ERRNO_ACTIONS = new Set(['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE']);
export const OPS = new Set(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);
export const ARCHES = new Set([
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64',
]);
export const FLAGS = new Set(['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW']);
/** Changes only how a notifying filter waits for its agent; without SCMP_ACT_NOTIFY it means nothing. */
const NOTIFY_ONLY_FLAG = 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';

const EPERM = 1;
/** Syscalls take six arguments. */
const MAX_ARG_INDEX = 5;
const UINT64_MAX = (1n << 64n) - 1n;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const notImplemented = (msg: string) => new BerthError('ERR_NOT_IMPLEMENTED', msg);

/** Validates linux.seccomp and returns its records; no records when there is no seccomp. */
export function seccompRecords(raw: unknown): PlanRecord[] {
  if (raw === undefined || raw === null) return [];
  const field = 'linux.seccomp';
  if (!isObject(raw)) throw invalidConfig(`${field} must be an object`);
  // Without an agent to receive the notification fd, SCMP_ACT_NOTIFY would block the
  // syscall forever; refuse it up front rather than hang the container.
  if (raw.listenerPath !== undefined) throw notImplemented(`${field}.listenerPath: seccomp user notification (SCMP_ACT_NOTIFY) is not implemented`);
  if (raw.listenerMetadata !== undefined) throw invalidConfig(`${field}.listenerMetadata requires ${field}.listenerPath`);

  const defaultAction = action(raw.defaultAction, `${field}.defaultAction`);
  const defaultErrno = errnoFor(defaultAction, raw.defaultErrnoRet, `${field}.defaultErrnoRet`);
  const records: PlanRecord[] = [['seccomp-default', defaultAction, defaultErrno]];

  for (const [i, arch] of stringList(raw.architectures, `${field}.architectures`).entries()) {
    if (!ARCHES.has(arch)) throw invalidConfig(`${field}.architectures[${i}]: unknown architecture ${JSON.stringify(arch)}`);
    records.push(['seccomp-arch', arch]);
  }
  for (const [i, flag] of stringList(raw.flags, `${field}.flags`).entries()) {
    if (flag === NOTIFY_ONLY_FLAG) continue;
    if (!FLAGS.has(flag)) throw invalidConfig(`${field}.flags[${i}]: unknown flag ${JSON.stringify(flag)}`);
    records.push(['seccomp-flag', flag]);
  }

  if (raw.syscalls === undefined) return records;
  if (!Array.isArray(raw.syscalls)) throw invalidConfig(`${field}.syscalls must be an array`);
  raw.syscalls.forEach((entry, i) => {
    const f = `${field}.syscalls[${i}]`;
    if (!isObject(entry)) throw invalidConfig(`${f} must be an object`);
    const names = stringList(entry.names, `${f}.names`);
    if (names.length === 0 || names.some((n) => n === '')) throw invalidConfig(`${f}.names must list at least one syscall name, none empty`);
    const act = action(entry.action, `${f}.action`);
    const errno = errnoFor(act, entry.errnoRet, `${f}.errnoRet`);
    const args = argList(entry.args, `${f}.args`);
    // libseccomp refuses a rule whose action is the filter's default; it would change nothing.
    if (act === defaultAction && errno === defaultErrno) return;
    for (const conditions of ruleConditions(args)) {
      for (const name of names) records.push(['seccomp-rule', act, errno, name, conditions.length, ...conditions.flat()]);
    }
  });
  return records;
}

function action(v: unknown, field: string): string {
  if (typeof v !== 'string') throw invalidConfig(`${field} must be a string`);
  if (v === 'SCMP_ACT_NOTIFY') throw notImplemented(`${field}: SCMP_ACT_NOTIFY (seccomp user notification) is not implemented`);
  if (!ACTIONS.has(v)) throw invalidConfig(`${field}: unknown action ${JSON.stringify(v)}`);
  return v;
}

/** The spec: errnoRet defaults to EPERM, and an action that cannot carry it is an error. */
function errnoFor(act: string, v: unknown, field: string): number {
  if (!ERRNO_ACTIONS.has(act)) {
    if (v !== undefined) throw invalidConfig(`${field}: ${act} does not take an errno`);
    return 0;
  }
  if (v === undefined) return EPERM;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) throw invalidConfig(`${field} must be an integer from 0 to 65535`);
  return v;
}

function stringList(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw invalidConfig(`${field} must be an array of strings`);
  return v as string[];
}

/** One comparison as the plan writes it: index, op, value, valueTwo. */
type Condition = [number, string, string, string];

function argList(v: unknown, field: string): Condition[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig(`${field} must be an array`);
  return v.map((a, i): Condition => {
    const f = `${field}[${i}]`;
    if (!isObject(a)) throw invalidConfig(`${f} must be an object`);
    if (typeof a.index !== 'number' || !Number.isInteger(a.index) || a.index < 0 || a.index > MAX_ARG_INDEX) {
      throw invalidConfig(`${f}.index must be an integer from 0 to ${MAX_ARG_INDEX}`);
    }
    if (typeof a.op !== 'string') throw invalidConfig(`${f}.op must be a string`);
    if (!OPS.has(a.op)) throw invalidConfig(`${f}.op: unknown operator ${JSON.stringify(a.op)}`);
    return [a.index, a.op, uint64(a.value, `${f}.value`), a.valueTwo === undefined ? '0' : uint64(a.valueTwo, `${f}.valueTwo`)];
  });
}

/** Unsigned decimal without exponent notation; JSON numbers past 2^53 are already rounded. */
function uint64(v: unknown, field: string): string {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || BigInt(v) > UINT64_MAX) throw invalidConfig(`${field} must be an unsigned 64-bit integer`);
  return BigInt(v).toString();
}

/**
 * Comparisons on different arguments all have to match (one rule). libseccomp cannot AND two
 * comparisons of the same argument, so then each becomes a rule of its own, matching if any
 * does — what runc does, and what profiles listing several allowed values of one argument mean.
 */
function ruleConditions(args: Condition[]): Condition[][] {
  const indexes = new Set(args.map((a) => a[0]));
  if (indexes.size === args.length) return [args];
  return args.map((a) => [a]);
}
