// The cgroup v2 manager: one directory in the unified hierarchy (paths[""]).

import { posix } from 'path';
import type { Host } from '../host/host';
import type { LinuxBlockIO, LinuxCPU, LinuxMemory, LinuxResources } from '../spec/types';
import {
  controllersOf,
  destroyDirs,
  enableControllers,
  hugepageSize,
  isAllowAllRule,
  listPidsRecursive,
  pollUntil,
  readFlatKeyed,
  readNumber,
  retryIfParentVanished,
  writeUnified,
} from './common';
import { CgroupError, cgMkdirp, cgReadOptional, cgWrite, realSleep, type Sleep } from './errors';
import { detectLayout } from './layout';
import type { CgroupLayout, CgroupManager, CgroupOptions, CgroupStats } from './types';

/** cpu.shares (2..262144) → cpu.weight (1..10000), the conversion runc and crun use. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio weight (10..1000) → io.weight (1..10000). */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** OCI swap (memory + swap) → memory.swap.max (swap alone); "max" for -1. */
export function swapToV2(swap: number, limit: number | undefined): string {
  if (swap === -1) return 'max';
  if (limit === undefined || limit === -1) {
    throw new CgroupError(
      'ERR_CGROUP_INVALID',
      `linux.resources.memory.swap ${swap} needs a linux.resources.memory.limit on cgroup v2 (memory.swap.max counts swap alone)`,
    );
  }
  if (swap < limit) {
    throw new CgroupError(
      'ERR_CGROUP_INVALID',
      `linux.resources.memory.swap ${swap} must be -1 or at least linux.resources.memory.limit ${limit} (it counts memory plus swap)`,
    );
  }
  return String(swap - limit);
}

/** cpu.max: "quota period", "max" for no quota; the period is left alone when not given. */
export function cpuMax(quota: number | undefined, period: number | undefined): string | undefined {
  const q = quota === undefined || quota === 0 ? undefined : quota;
  const p = period === undefined || period === 0 ? undefined : period;
  if (q === undefined && p === undefined) return undefined;
  const qs = q === undefined || q < 0 ? 'max' : String(q);
  return p === undefined ? qs : `${qs} ${p}`;
}

export class V2Cgroup implements CgroupManager {
  readonly version = 2 as const;
  readonly paths: Record<string, string>;
  private layout: CgroupLayout | undefined;
  private readonly sleep: Sleep;

  constructor(
    private readonly host: Host,
    paths: Record<string, string>,
    options: CgroupOptions = {},
  ) {
    if (paths[''] === undefined) {
      throw new CgroupError('ERR_CGROUP_INVALID', 'a cgroup v2 manager needs the unified directory (paths[""])');
    }
    this.paths = { '': paths[''] };
    this.layout = options.layout;
    this.sleep = options.sleep ?? realSleep;
  }

  get dir(): string {
    return this.paths['']!;
  }

  private f(name: string): string {
    return posix.join(this.dir, name);
  }

  private async getLayout(): Promise<CgroupLayout> {
    this.layout ??= await detectLayout(this.host);
    return this.layout;
  }

  async create(): Promise<void> {
    await retryIfParentVanished(() => this.createOnce());
  }

  private async createOnce(): Promise<void> {
    await cgMkdirp(this.host, this.dir);
    const mount = (await this.getLayout()).unifiedMount;
    if (mount !== undefined) await enableControllers(this.host, mount, this.dir, undefined, false);
  }

  async addProcess(pid: number): Promise<void> {
    try {
      await cgWrite(this.host, this.f('cgroup.procs'), pid);
    } catch (err) {
      if (!(err instanceof CgroupError && err.errno === 'ENOENT')) throw err;
      await this.createOnce();
      await cgWrite(this.host, this.f('cgroup.procs'), pid);
    }
  }

  /** Throws, naming the field, unless `controller` is enabled for this cgroup. */
  private async need(have: Set<string>, controller: string, field: string): Promise<void> {
    if (!have.has(controller)) {
      throw new CgroupError(
        'ERR_CGROUP_UNSUPPORTED',
        `${field} needs the ${controller} controller, which ${this.f('cgroup.controllers')} does not list`,
      );
    }
  }

  async apply(r: LinuxResources): Promise<void> {
    if (r.devices !== undefined && r.devices.length > 0 && !isAllowAllRule(r.devices[r.devices.length - 1]!)) {
      throw new CgroupError(
        'ERR_CGROUP_NOT_IMPLEMENTED',
        'linux.resources.devices: cgroup v2 device rules need eBPF, which berth does not implement yet',
      );
    }
    const have = await controllersOf(this.host, this.dir);
    if (r.cpu !== undefined) await this.applyCpu(have, r.cpu);
    if (r.memory !== undefined) await this.applyMemory(have, r.memory);
    if (r.pids !== undefined) {
      await this.need(have, 'pids', 'linux.resources.pids');
      await cgWrite(this.host, this.f('pids.max'), r.pids.limit > 0 ? r.pids.limit : 'max');
    }
    if (r.blockIO !== undefined) await this.applyIo(have, r.blockIO);
    for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
      await this.need(have, 'hugetlb', `linux.resources.hugepageLimits[${i}]`);
      await cgWrite(this.host, this.f(`hugetlb.${hugepageSize(h.pageSize, i)}.max`), h.limit);
    }
    // Last, so explicit unified values win over the converted ones.
    if (r.unified !== undefined) await writeUnified(this.host, this.dir, r.unified);
  }

  private async applyMemory(have: Set<string>, m: LinuxMemory): Promise<void> {
    const limit = m.limit !== undefined && m.limit !== 0 ? m.limit : undefined;
    const swap = m.swap !== undefined && m.swap !== 0 ? m.swap : undefined;
    if (m.swappiness !== undefined) {
      throw new CgroupError('ERR_CGROUP_UNSUPPORTED', `linux.resources.memory.swappiness is set to ${m.swappiness} but cgroup v2 has no swappiness`);
    }
    if (m.disableOOMKiller === true) {
      throw new CgroupError('ERR_CGROUP_UNSUPPORTED', 'linux.resources.memory.disableOOMKiller is set but cgroup v2 cannot disable the oom killer');
    }
    // kernel and kernelTCP have no v2 files (kernel memory is always charged to memory.max); ignored.
    if (limit === undefined && swap === undefined && m.reservation === undefined) return;
    await this.need(have, 'memory', 'linux.resources.memory');
    if (swap !== undefined) {
      const value = swapToV2(swap, limit);
      const file = this.f('memory.swap.max');
      if (await this.host.exists(file)) await cgWrite(this.host, file, value);
      else if (value !== '0' && value !== 'max') {
        throw new CgroupError(
          'ERR_CGROUP_UNSUPPORTED',
          `linux.resources.memory.swap is set to ${swap} but the kernel lacks ${file} (swap accounting is off)`,
        );
      }
    }
    if (limit !== undefined) await cgWrite(this.host, this.f('memory.max'), limit === -1 ? 'max' : limit);
    if (m.reservation !== undefined) await cgWrite(this.host, this.f('memory.low'), m.reservation === -1 ? 'max' : m.reservation);
  }

  private async applyCpu(have: Set<string>, c: LinuxCPU): Promise<void> {
    if (c.cpus !== undefined && c.cpus !== '') {
      await this.need(have, 'cpuset', 'linux.resources.cpu.cpus');
      await cgWrite(this.host, this.f('cpuset.cpus'), c.cpus);
    }
    if (c.mems !== undefined && c.mems !== '') {
      await this.need(have, 'cpuset', 'linux.resources.cpu.mems');
      await cgWrite(this.host, this.f('cpuset.mems'), c.mems);
    }
    if ((c.realtimeRuntime ?? 0) !== 0 || (c.realtimePeriod ?? 0) !== 0) {
      throw new CgroupError('ERR_CGROUP_UNSUPPORTED', 'linux.resources.cpu.realtimeRuntime/realtimePeriod are set but cgroup v2 has no realtime cpu limits');
    }
    const weight = c.shares !== undefined ? sharesToWeight(c.shares) : 0;
    const max = cpuMax(c.quota, c.period);
    if (weight === 0 && max === undefined && c.burst === undefined && c.idle === undefined) return;
    await this.need(have, 'cpu', 'linux.resources.cpu');
    if (weight !== 0) await cgWrite(this.host, this.f('cpu.weight'), weight);
    if (max !== undefined) await cgWrite(this.host, this.f('cpu.max'), max);
    if (c.burst !== undefined) {
      const file = this.f('cpu.max.burst');
      if (!(await this.host.exists(file))) {
        throw new CgroupError('ERR_CGROUP_UNSUPPORTED', `linux.resources.cpu.burst is set to ${c.burst} but the kernel lacks ${file}`);
      }
      await cgWrite(this.host, file, c.burst);
    }
    if (c.idle !== undefined) {
      const file = this.f('cpu.idle');
      if (await this.host.exists(file)) await cgWrite(this.host, file, c.idle);
      else if (c.idle !== 0) {
        throw new CgroupError('ERR_CGROUP_UNSUPPORTED', `linux.resources.cpu.idle is set to ${c.idle} but the kernel lacks ${file}`);
      }
    }
  }

  private async applyIo(have: Set<string>, b: LinuxBlockIO): Promise<void> {
    const throttles: [keyof LinuxBlockIO, string][] = [
      ['throttleReadBpsDevice', 'rbps'],
      ['throttleWriteBpsDevice', 'wbps'],
      ['throttleReadIOPSDevice', 'riops'],
      ['throttleWriteIOPSDevice', 'wiops'],
    ];
    const anyThrottle = throttles.some(([k]) => ((b[k] as unknown[] | undefined)?.length ?? 0) > 0);
    const anyWeight = (b.weight ?? 0) !== 0 || (b.weightDevice ?? []).some((d) => d.weight !== undefined);
    if (b.leafWeight !== undefined || (b.weightDevice ?? []).some((d) => d.leafWeight !== undefined)) {
      throw new CgroupError('ERR_CGROUP_UNSUPPORTED', 'linux.resources.blockIO.leafWeight is set but cgroup v2 has no leaf weights');
    }
    if (!anyThrottle && !anyWeight) return;
    await this.need(have, 'io', 'linux.resources.blockIO');
    if (anyWeight) {
      // BFQ takes the blkio range (1..1000) as it is; the generic io.weight wants 1..10000.
      const bfq = this.f('io.bfq.weight');
      const useBfq = await this.host.exists(bfq);
      const file = useBfq ? bfq : this.f('io.weight');
      const conv = (w: number) => (useBfq ? w : blkioWeightToIoWeight(w));
      if ((b.weight ?? 0) !== 0) await cgWrite(this.host, file, conv(b.weight!));
      for (const d of b.weightDevice ?? []) {
        if (d.weight !== undefined) await cgWrite(this.host, file, `${d.major}:${d.minor} ${conv(d.weight)}`);
      }
    }
    for (const [key, name] of throttles) {
      for (const t of (b[key] as { major: number; minor: number; rate: number }[] | undefined) ?? []) {
        await cgWrite(this.host, this.f('io.max'), `${t.major}:${t.minor} ${name}=${t.rate}`);
      }
    }
  }

  async pids(): Promise<number[]> {
    return listPidsRecursive(this.host, this.dir);
  }

  private async setFrozen(frozen: boolean): Promise<void> {
    const file = this.f('cgroup.freeze');
    if (!(await this.host.exists(file))) {
      throw new CgroupError('ERR_CGROUP_UNSUPPORTED', `cannot ${frozen ? 'freeze' : 'thaw'}: the kernel lacks ${file}`);
    }
    await cgWrite(this.host, file, frozen ? 1 : 0);
    const want = frozen ? 1 : 0;
    let last: number | undefined;
    const ok = await pollUntil(
      this.sleep,
      async () => undefined,
      async () => {
        last = (await readFlatKeyed(this.host, this.f('cgroup.events')))?.get('frozen');
        return last === want;
      },
    );
    if (!ok) {
      if (frozen) await cgWrite(this.host, file, 0).catch(() => undefined);
      throw new CgroupError('ERR_CGROUP_FREEZE', `write ${want} to ${file}: ${this.f('cgroup.events')} still reads frozen ${last ?? '(missing)'}`);
    }
  }

  freeze(): Promise<void> {
    return this.setFrozen(true);
  }

  thaw(): Promise<void> {
    return this.setFrozen(false);
  }

  async freezerState(): Promise<'FROZEN' | 'THAWED' | undefined> {
    const text = await cgReadOptional(this.host, this.f('cgroup.freeze'));
    if (text === undefined) return undefined;
    return text.trim() === '1' ? 'FROZEN' : 'THAWED';
  }

  async stats(): Promise<CgroupStats> {
    const stats: CgroupStats = {};
    const memory: NonNullable<CgroupStats['memory']> = {};
    const usage = await readNumber(this.host, this.f('memory.current'));
    if (usage !== undefined) memory.usage = usage;
    const limit = await readNumber(this.host, this.f('memory.max'));
    if (limit !== undefined) memory.limit = limit;
    const peak = await readNumber(this.host, this.f('memory.peak'));
    if (peak !== undefined) memory.maxUsage = peak;
    const events = await readFlatKeyed(this.host, this.f('memory.events'));
    if (events?.has('max')) memory.failcnt = events.get('max')!;
    const mstat = await readFlatKeyed(this.host, this.f('memory.stat'));
    if (mstat?.has('file')) memory.cache = mstat.get('file')!;
    if (Object.keys(memory).length > 0) stats.memory = memory;

    const pids: NonNullable<CgroupStats['pids']> = {};
    const current = await readNumber(this.host, this.f('pids.current'));
    if (current !== undefined) pids.current = current;
    const max = (await cgReadOptional(this.host, this.f('pids.max')).catch(() => undefined))?.trim();
    if (max === 'max') pids.limit = 0;
    else if (max !== undefined && max !== '' && Number.isFinite(Number(max))) pids.limit = Number(max);
    if (Object.keys(pids).length > 0) stats.pids = pids;

    const cpuStat = await readFlatKeyed(this.host, this.f('cpu.stat'));
    if (cpuStat !== undefined) {
      const cpu: NonNullable<CgroupStats['cpu']> = {};
      if (cpuStat.has('usage_usec')) cpu.usageTotal = cpuStat.get('usage_usec')! * 1000;
      if (cpuStat.has('user_usec')) cpu.usageUser = cpuStat.get('user_usec')! * 1000;
      if (cpuStat.has('system_usec')) cpu.usageKernel = cpuStat.get('system_usec')! * 1000;
      if (Object.keys(cpu).length > 0) stats.cpu = cpu;
    }
    return stats;
  }

  /** SIGKILLs everything in the cgroup through cgroup.kill; false when the kernel lacks it (before 5.14). */
  async kill(): Promise<boolean> {
    const file = this.f('cgroup.kill');
    if (!(await this.host.exists(file))) return false;
    await cgWrite(this.host, file, 1);
    return true;
  }

  async destroy(): Promise<void> {
    await destroyDirs(this.host, [this.dir], this.sleep);
  }
}
