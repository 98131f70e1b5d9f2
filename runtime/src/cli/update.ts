import { readFileSync } from 'fs';
import type { Command } from './commands';
import type { FlagSpec } from './args';
import { oneId } from './util';
import { updateContainer, validateResources } from '../lib/update';
import type { LinuxResources } from '../spec/types';
import { invalidArgument, invalidConfig } from '../util/errors';

// runc's `update` command line: -r FILE (or - for stdin) with a LinuxResources document, or
// one flag per value. Values are strings as runc takes them, so an error can name the flag.

export const UPDATE_FLAGS: FlagSpec = {
  resources: { type: 'string', alias: ['r'] },
  'blkio-weight': { type: 'int' },
  'cpu-period': { type: 'string' },
  'cpu-quota': { type: 'string' },
  'cpu-burst': { type: 'string' },
  // runc spells it --cpu-share; --cpu-shares is what people (and docker) type.
  'cpu-share': { type: 'string', alias: ['cpu-shares'] },
  'cpu-rt-period': { type: 'string' },
  'cpu-rt-runtime': { type: 'string' },
  'cpuset-cpus': { type: 'string' },
  'cpuset-mems': { type: 'string' },
  'cpu-idle': { type: 'string' },
  memory: { type: 'string' },
  'memory-reservation': { type: 'string' },
  'memory-swap': { type: 'string' },
  'kernel-memory': { type: 'string' },
  'kernel-memory-tcp': { type: 'string' },
  'pids-limit': { type: 'int' },
  'l3-cache-schema': { type: 'string' },
  'mem-bw-schema': { type: 'string' },
};

const MULTIPLIERS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * A memory size as runc reads one (docker's units.RAMInBytes): a decimal number, an optional
 * space, then an optional k/m/g/t/p (powers of 1024) with an optional "i" and "b", any case:
 * 512m, 1g, 1.5GiB, 100 KB, 4096.
 */
export function parseRamInBytes(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(value);
  if (!m) throw invalidArgument(`invalid value for --${flag}: invalid size: '${value}'`);
  const bytes = Math.trunc(Number(m[1]) * MULTIPLIERS[(m[2] ?? '').toLowerCase()]!);
  if (!Number.isSafeInteger(bytes)) throw invalidArgument(`invalid value for --${flag}: ${value} is too large`);
  return bytes;
}

function integer(value: string, flag: string, unsigned: boolean): number {
  const ok = unsigned ? /^\d+$/.test(value) : /^-?\d+$/.test(value);
  if (!ok || !Number.isSafeInteger(Number(value))) {
    throw invalidArgument(`invalid value for --${flag}: ${JSON.stringify(value)} is not ${unsigned ? 'a non-negative' : 'an'} integer`);
  }
  return Number(value);
}

/** The resources the flags ask for; a flag not given (or given as "") changes nothing. */
export function resourcesFromFlags(flags: Record<string, unknown>, warn: (msg: string) => void): LinuxResources {
  const str = (name: string) => {
    const v = flags[name] as string | undefined;
    return v === undefined || v === '' ? undefined : v;
  };
  for (const name of ['l3-cache-schema', 'mem-bw-schema']) {
    if (str(name) !== undefined) throw invalidArgument(`--${name}: berth has no Intel RDT support`);
  }
  for (const name of ['kernel-memory', 'kernel-memory-tcp']) {
    if (str(name) !== undefined) warn(`--${name} is ignored: kernel memory limits are obsolete (and gone from recent kernels)`);
  }
  const r: LinuxResources = {};
  const cpu: NonNullable<LinuxResources['cpu']> = {};
  const memory: NonNullable<LinuxResources['memory']> = {};
  const uints: [string, 'period' | 'burst' | 'shares' | 'realtimePeriod'][] = [
    ['cpu-period', 'period'],
    ['cpu-burst', 'burst'],
    ['cpu-share', 'shares'],
    ['cpu-rt-period', 'realtimePeriod'],
  ];
  for (const [name, key] of uints) {
    const v = str(name);
    if (v !== undefined) cpu[key] = integer(v, name, true);
  }
  const ints: [string, 'quota' | 'realtimeRuntime' | 'idle'][] = [
    ['cpu-quota', 'quota'],
    ['cpu-rt-runtime', 'realtimeRuntime'],
    ['cpu-idle', 'idle'],
  ];
  for (const [name, key] of ints) {
    const v = str(name);
    if (v !== undefined) cpu[key] = integer(v, name, false);
  }
  if (str('cpuset-cpus') !== undefined) cpu.cpus = str('cpuset-cpus');
  if (str('cpuset-mems') !== undefined) cpu.mems = str('cpuset-mems');
  const sizes: [string, 'limit' | 'swap' | 'reservation'][] = [
    ['memory', 'limit'],
    ['memory-swap', 'swap'],
    ['memory-reservation', 'reservation'],
  ];
  for (const [name, key] of sizes) {
    const v = str(name);
    if (v !== undefined) memory[key] = v === '-1' ? -1 : parseRamInBytes(v, name);
  }
  if (Object.keys(cpu).length > 0) r.cpu = cpu;
  if (Object.keys(memory).length > 0) r.memory = memory;
  const weight = flags['blkio-weight'] as number | undefined;
  if (weight !== undefined && weight !== 0) r.blockIO = { weight };
  const pids = flags['pids-limit'] as number | undefined;
  if (pids !== undefined && pids !== 0) r.pids = { limit: pids };
  return r;
}

/** The flag that sets each OCI field, to retell the library's errors in the command's terms. */
const FIELD_FLAGS: [string, string][] = [
  ['linux.resources.memory.limit', '--memory'],
  ['linux.resources.memory.swap', '--memory-swap'],
  ['linux.resources.memory.reservation', '--memory-reservation'],
  ['linux.resources.cpu.shares', '--cpu-share'],
  ['linux.resources.cpu.period', '--cpu-period'],
  ['linux.resources.cpu.quota', '--cpu-quota'],
  ['linux.resources.cpu.burst', '--cpu-burst'],
  ['linux.resources.cpu.realtimePeriod', '--cpu-rt-period'],
  ['linux.resources.cpu.realtimeRuntime', '--cpu-rt-runtime'],
  ['linux.resources.cpu.idle', '--cpu-idle'],
  ['linux.resources.cpu.cpus', '--cpuset-cpus'],
  ['linux.resources.cpu.mems', '--cpuset-mems'],
  ['linux.resources.pids.limit', '--pids-limit'],
  ['linux.resources.pids', '--pids-limit'],
  ['linux.resources.blockIO.weight', '--blkio-weight'],
];

/** `message` with each OCI field that a flag sets replaced by the flag's name. */
export function nameFlags(message: string): string {
  let out = message;
  for (const [field, flag] of FIELD_FLAGS) out = out.replace(new RegExp(`${field.replace(/\./g, '\\.')}(?![\\w.])`, 'g'), flag);
  return out;
}

function readResourcesFile(path: string): LinuxResources {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw invalidArgument(`--resources ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidConfig(`--resources ${path}: not JSON: ${(err as Error).message}`);
  }
  return validateResources(raw);
}

const command: Command = {
  usage: 'update [-r FILE|-] [--memory N] [--memory-swap N] [--memory-reservation N] [--cpu-share N] [--cpu-quota N] [--cpu-period N] [--cpuset-cpus LIST] [--pids-limit N] [--blkio-weight N] ... ID',
  flags: UPDATE_FLAGS,
  async run(ctx, flags, args) {
    const id = oneId(args, 'update');
    const file = flags.resources as string | undefined;
    if (file !== undefined && file !== '') {
      const others = Object.keys(flags).filter((f) => f !== 'resources');
      if (others.length > 0) ctx.warn(`--resources is given: ${others.map((f) => `--${f}`).join(', ')} ignored`);
      await updateContainer(ctx, id, readResourcesFile(file));
      return 0;
    }
    const r = resourcesFromFlags(flags, ctx.warn);
    try {
      await updateContainer(ctx, id, r);
    } catch (err) {
      if (err instanceof Error) err.message = nameFlags(err.message);
      throw err;
    }
    return 0;
  },
};
export default command;
