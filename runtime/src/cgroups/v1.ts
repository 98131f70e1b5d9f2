// The cgroup v1 manager, also used on hybrid machines (v1 controllers plus a cgroup2 mount that
// typically only has hugetlb, or nothing). One directory per mounted hierarchy; the unified
// directory ("" key) exists only in hybrid mode.

import { posix } from 'path';
import type { Host } from '../host/host';
import type { LinuxBlockIO, LinuxCPU, LinuxMemory, LinuxResources } from '../spec/types';
import {
  controllersOf,
  deviceRuleEntry,
  destroyDirs,
  enableControllers,
  hugepageSize,
  levelsFrom,
  listPidsRecursive,
  parseFlatKeyed,
  pollUntil,
  readFlatKeyed,
  readNumber,
  retryIfParentVanished,
  uniqueValues,
  writeUnified,
} from './common';
import { CgroupError, cgMkdirp, cgRead, cgReadOptional, cgWrite, realSleep, type Sleep } from './errors';
import { detectLayout } from './layout';
import type { CgroupLayout, CgroupManager, CgroupOptions, CgroupStats } from './types';

/** USER_HZ: the unit of cpuacct.stat; fixed at 100 in the Linux user ABI. */
const USER_HZ = 100;

export class V1Cgroup implements CgroupManager {
  readonly version = 1 as const;
  readonly paths: Record<string, string>;
  private layout: CgroupLayout | undefined;
  private readonly sleep: Sleep;

  constructor(
    private readonly host: Host,
    paths: Record<string, string>,
    options: CgroupOptions = {},
  ) {
    this.paths = { ...paths };
    this.layout = options.layout;
    this.sleep = options.sleep ?? realSleep;
  }

  private async getLayout(): Promise<CgroupLayout> {
    this.layout ??= await detectLayout(this.host);
    return this.layout;
  }

  private file(key: string, name: string): string | undefined {
    const dir = this.paths[key];
    return dir === undefined ? undefined : posix.join(dir, name);
  }

  /** The directory for `key`, or an error saying which OCI field needed a hierarchy that is not there. */
  private need(key: string, field: string): string {
    const dir = this.paths[key];
    if (dir === undefined) {
      throw new CgroupError('ERR_CGROUP_UNSUPPORTED', `${field} is set but no ${key} cgroup hierarchy is mounted`);
    }
    return dir;
  }

  async create(): Promise<void> {
    await retryIfParentVanished(() => this.createOnce());
  }

  private async createOnce(): Promise<void> {
    const cpusetDir = this.paths['cpuset'];
    for (const dir of uniqueValues(this.paths)) {
      if (dir === cpusetDir) await this.createCpuset(dir);
      else await cgMkdirp(this.host, dir);
    }
  }

  /**
   * A new v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems, and nothing can join it
   * until both are set; so create it level by level and copy the parent's values into every
   * level that has none.
   */
  private async createCpuset(dir: string): Promise<void> {
    const mount = (await this.getLayout()).v1Mounts['cpuset'];
    const levels = mount === undefined ? [dir] : levelsFrom(mount, dir).slice(1);
    for (const level of levels) {
      if (!(await this.host.isDirectory(level))) await cgMkdirp(this.host, level);
      for (const name of ['cpuset.cpus', 'cpuset.mems']) {
        const file = posix.join(level, name);
        if ((await cgRead(this.host, file)).trim() !== '') continue;
        const parentFile = posix.join(posix.dirname(level), name);
        const value = (await cgRead(this.host, parentFile)).trim();
        if (value === '') {
          throw new CgroupError('ERR_CGROUP_INVALID', `cannot initialise ${file}: ${parentFile} is empty too`);
        }
        await cgWrite(this.host, file, value);
      }
    }
  }

  async addProcess(pid: number): Promise<void> {
    // One hierarchy at a time on purpose: the first write pays the kernel's RCU grace period
    // (cgroup_threadgroup_rwsem), the ones right after it do not; in parallel they would all
    // block on that rwsem, holding every threadpool thread for the grace period.
    for (const dir of uniqueValues(this.paths)) {
      const procs = posix.join(dir, 'cgroup.procs');
      try {
        await cgWrite(this.host, procs, pid);
      } catch (err) {
        if (!(err instanceof CgroupError && err.errno === 'ENOENT')) throw err;
        // The directory vanished under us (a concurrent destroy removed the shared parent): recreate once.
        await this.createOnce();
        await cgWrite(this.host, procs, pid);
      }
    }
  }

  async apply(r: LinuxResources): Promise<void> {
    if (r.unified !== undefined && Object.keys(r.unified).length > 0 && this.paths[''] === undefined) {
      throw new CgroupError('ERR_CGROUP_UNSUPPORTED', 'linux.resources.unified is set but this machine has no cgroup v2 hierarchy (pure cgroup v1)');
    }
    if (r.cpu !== undefined) await this.applyCpuset(r.cpu);
    if (r.memory !== undefined) await this.applyMemory(r.memory);
    if (r.cpu !== undefined) await this.applyCpu(r.cpu);
    if (r.pids !== undefined) {
      const file = posix.join(this.need('pids', 'linux.resources.pids'), 'pids.max');
      await cgWrite(this.host, file, r.pids.limit > 0 ? r.pids.limit : 'max');
    }
    if (r.blockIO !== undefined) await this.applyBlockIO(r.blockIO);
    if (r.hugepageLimits !== undefined) await this.applyHugepages(r.hugepageLimits);
    if (r.devices !== undefined && r.devices.length > 0) {
      const dir = this.need('devices', 'linux.resources.devices');
      for (const [i, rule] of r.devices.entries()) {
        const entry = deviceRuleEntry(rule, i);
        await cgWrite(this.host, posix.join(dir, rule.allow ? 'devices.allow' : 'devices.deny'), entry);
      }
    }
    if (r.unified !== undefined && Object.keys(r.unified).length > 0) {
      await writeUnified(this.host, this.paths['']!, r.unified);
    }
  }

  private async applyMemory(m: LinuxMemory): Promise<void> {
    // As runc does, a limit or swap of 0 means "not set".
    const limit = m.limit !== undefined && m.limit !== 0 ? m.limit : undefined;
    const swap = m.swap !== undefined && m.swap !== 0 ? m.swap : undefined;
    const anySet =
      limit !== undefined ||
      swap !== undefined ||
      m.reservation !== undefined ||
      m.kernel !== undefined ||
      m.kernelTCP !== undefined ||
      m.swappiness !== undefined ||
      m.disableOOMKiller === true;
    if (!anySet) return;
    const dir = this.need('memory', 'linux.resources.memory');
    const limitFile = posix.join(dir, 'memory.limit_in_bytes');
    const memswFile = posix.join(dir, 'memory.memsw.limit_in_bytes');

    if (limit !== undefined && swap !== undefined && swap !== -1 && (limit === -1 || swap < limit)) {
      throw new CgroupError(
        'ERR_CGROUP_INVALID',
        `linux.resources.memory.swap ${swap} must be -1 or at least linux.resources.memory.limit ${limit} (it counts memory plus swap)`,
      );
    }
    let writeMemsw = swap !== undefined;
    if (swap !== undefined && !(await this.host.exists(memswFile))) {
      if (swap === -1 || swap === limit) writeMemsw = false;
      else {
        throw new CgroupError(
          'ERR_CGROUP_UNSUPPORTED',
          `linux.resources.memory.swap is set to ${swap} but the kernel lacks ${memswFile} (swap accounting is off)`,
        );
      }
    }

    if (limit !== undefined && writeMemsw) {
      // The kernel keeps limit <= memsw at every step: when the limit goes up, raise memsw first;
      // when it comes down, lower the limit first.
      const current = BigInt((await cgRead(this.host, limitFile)).trim());
      const raising = limit === -1 || BigInt(limit) > current;
      if (raising) {
        await cgWrite(this.host, memswFile, swap!);
        await cgWrite(this.host, limitFile, limit);
      } else {
        await cgWrite(this.host, limitFile, limit);
        await cgWrite(this.host, memswFile, swap!);
      }
    } else if (limit !== undefined) {
      await cgWrite(this.host, limitFile, limit);
    } else if (writeMemsw) {
      await cgWrite(this.host, memswFile, swap!);
    }

    if (m.reservation !== undefined) await cgWrite(this.host, posix.join(dir, 'memory.soft_limit_in_bytes'), m.reservation);
    // Kernel memory limits are deprecated; newer kernels drop the files, so only write what exists.
    if (m.kernel !== undefined) {
      const file = posix.join(dir, 'memory.kmem.limit_in_bytes');
      if (await this.host.exists(file)) await cgWrite(this.host, file, m.kernel);
    }
    if (m.kernelTCP !== undefined) {
      const file = posix.join(dir, 'memory.kmem.tcp.limit_in_bytes');
      if (await this.host.exists(file)) await cgWrite(this.host, file, m.kernelTCP);
    }
    if (m.swappiness !== undefined) {
      if (!Number.isInteger(m.swappiness) || m.swappiness < 0 || m.swappiness > 100) {
        throw new CgroupError('ERR_CGROUP_INVALID', `linux.resources.memory.swappiness ${m.swappiness} is not between 0 and 100`);
      }
      await cgWrite(this.host, posix.join(dir, 'memory.swappiness'), m.swappiness);
    }
    if (m.disableOOMKiller === true) await cgWrite(this.host, posix.join(dir, 'memory.oom_control'), 1);
  }

  private async applyCpuset(c: LinuxCPU): Promise<void> {
    if (c.cpus !== undefined && c.cpus !== '') {
      await cgWrite(this.host, posix.join(this.need('cpuset', 'linux.resources.cpu.cpus'), 'cpuset.cpus'), c.cpus);
    }
    if (c.mems !== undefined && c.mems !== '') {
      await cgWrite(this.host, posix.join(this.need('cpuset', 'linux.resources.cpu.mems'), 'cpuset.mems'), c.mems);
    }
  }

  private async applyCpu(c: LinuxCPU): Promise<void> {
    const cpuFile = (name: string, field: string) => posix.join(this.need('cpu', field), name);
    /** Writes when the file exists; a set value for a file this kernel lacks is an error naming the field. */
    const optional = async (name: string, field: string, value: number) => {
      const file = cpuFile(name, field);
      if (!(await this.host.exists(file))) {
        throw new CgroupError('ERR_CGROUP_UNSUPPORTED', `${field} is set to ${value} but the kernel lacks ${file}`);
      }
      await cgWrite(this.host, file, value);
    };
    if (c.shares !== undefined && c.shares !== 0) await cgWrite(this.host, cpuFile('cpu.shares', 'linux.resources.cpu.shares'), c.shares);
    if (c.period !== undefined && c.period !== 0) {
      await cgWrite(this.host, cpuFile('cpu.cfs_period_us', 'linux.resources.cpu.period'), c.period);
    }
    if (c.quota !== undefined && c.quota !== 0) await cgWrite(this.host, cpuFile('cpu.cfs_quota_us', 'linux.resources.cpu.quota'), c.quota);
    if (c.burst !== undefined) await optional('cpu.cfs_burst_us', 'linux.resources.cpu.burst', c.burst);
    // The runtime may not exceed the period, so the period goes first.
    if (c.realtimePeriod !== undefined && c.realtimePeriod !== 0) {
      await optional('cpu.rt_period_us', 'linux.resources.cpu.realtimePeriod', c.realtimePeriod);
    }
    if (c.realtimeRuntime !== undefined && c.realtimeRuntime !== 0) {
      await optional('cpu.rt_runtime_us', 'linux.resources.cpu.realtimeRuntime', c.realtimeRuntime);
    }
    if (c.idle !== undefined) {
      const file = cpuFile('cpu.idle', 'linux.resources.cpu.idle');
      if (await this.host.exists(file)) await cgWrite(this.host, file, c.idle);
      else if (c.idle !== 0) await optional('cpu.idle', 'linux.resources.cpu.idle', c.idle);
    }
  }

  private async applyBlockIO(b: LinuxBlockIO): Promise<void> {
    const anySet =
      b.weight !== undefined ||
      b.leafWeight !== undefined ||
      (b.weightDevice?.length ?? 0) > 0 ||
      (b.throttleReadBpsDevice?.length ?? 0) > 0 ||
      (b.throttleWriteBpsDevice?.length ?? 0) > 0 ||
      (b.throttleReadIOPSDevice?.length ?? 0) > 0 ||
      (b.throttleWriteIOPSDevice?.length ?? 0) > 0;
    if (!anySet) return;
    const dir = this.need('blkio', 'linux.resources.blockIO');
    /** The first of `names` this kernel has (CFQ's blkio.weight, else BFQ's blkio.bfq.weight). */
    const pick = async (field: string, value: string | number, names: string[]): Promise<string> => {
      for (const name of names) {
        const file = posix.join(dir, name);
        if (await this.host.exists(file)) return file;
      }
      throw new CgroupError(
        'ERR_CGROUP_UNSUPPORTED',
        `${field} is set to ${value} but the kernel lacks ${names.map((n) => posix.join(dir, n)).join(' and ')}`,
      );
    };
    if (b.weight !== undefined) {
      await cgWrite(this.host, await pick('linux.resources.blockIO.weight', b.weight, ['blkio.weight', 'blkio.bfq.weight']), b.weight);
    }
    if (b.leafWeight !== undefined) {
      await cgWrite(this.host, await pick('linux.resources.blockIO.leafWeight', b.leafWeight, ['blkio.leaf_weight']), b.leafWeight);
    }
    for (const [i, wd] of (b.weightDevice ?? []).entries()) {
      const field = `linux.resources.blockIO.weightDevice[${i}]`;
      if (wd.weight !== undefined) {
        const value = `${wd.major}:${wd.minor} ${wd.weight}`;
        await cgWrite(this.host, await pick(`${field}.weight`, value, ['blkio.weight_device', 'blkio.bfq.weight_device']), value);
      }
      if (wd.leafWeight !== undefined) {
        const value = `${wd.major}:${wd.minor} ${wd.leafWeight}`;
        await cgWrite(this.host, await pick(`${field}.leafWeight`, value, ['blkio.leaf_weight_device']), value);
      }
    }
    const throttles: [keyof LinuxBlockIO, string][] = [
      ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
      ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
      ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
      ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
    ];
    for (const [key, name] of throttles) {
      const list = (b[key] as { major: number; minor: number; rate: number }[] | undefined) ?? [];
      for (const [i, t] of list.entries()) {
        const value = `${t.major}:${t.minor} ${t.rate}`;
        await cgWrite(this.host, await pick(`linux.resources.blockIO.${key}[${i}]`, value, [name]), value);
      }
    }
  }

  private async applyHugepages(limits: NonNullable<LinuxResources['hugepageLimits']>): Promise<void> {
    if (limits.length === 0) return;
    const v1 = this.paths['hugetlb'];
    if (v1 !== undefined) {
      for (const [i, h] of limits.entries()) {
        await cgWrite(this.host, posix.join(v1, `hugetlb.${hugepageSize(h.pageSize, i)}.limit_in_bytes`), h.limit);
      }
      return;
    }
    // Hybrid: hugetlb usually lives in the cgroup2 hierarchy; enable it down to our directory.
    const unified = this.paths[''];
    const layout = unified === undefined ? undefined : await this.getLayout();
    if (unified === undefined || layout?.unifiedMount === undefined || !(await controllersOf(this.host, layout.unifiedMount)).has('hugetlb')) {
      throw new CgroupError(
        'ERR_CGROUP_UNSUPPORTED',
        'linux.resources.hugepageLimits is set but there is no hugetlb controller (no v1 hugetlb hierarchy and none in cgroup2)',
      );
    }
    await enableControllers(this.host, layout.unifiedMount, unified, ['hugetlb'], true);
    for (const [i, h] of limits.entries()) {
      await cgWrite(this.host, posix.join(unified, `hugetlb.${hugepageSize(h.pageSize, i)}.max`), h.limit);
    }
  }

  async pids(): Promise<number[]> {
    const dir = this.paths['pids'] ?? this.paths['memory'] ?? Object.values(this.paths)[0];
    return dir === undefined ? [] : listPidsRecursive(this.host, dir);
  }

  private freezerFile(): string {
    const file = this.file('freezer', 'freezer.state');
    if (file === undefined) throw new CgroupError('ERR_CGROUP_UNSUPPORTED', 'cannot freeze: no freezer cgroup hierarchy is mounted');
    return file;
  }

  private async setFreezer(target: 'FROZEN' | 'THAWED'): Promise<void> {
    const file = this.freezerFile();
    let last = '';
    const ok = await pollUntil(
      this.sleep,
      // Writing FROZEN again while FREEZING is harmless and nudges tasks that were busy.
      () => cgWrite(this.host, file, target),
      async () => {
        last = (await cgRead(this.host, file)).trim();
        return last === target;
      },
    );
    if (!ok) {
      if (target === 'FROZEN') await cgWrite(this.host, file, 'THAWED').catch(() => undefined);
      throw new CgroupError('ERR_CGROUP_FREEZE', `write ${target} to ${file}: state still reads ${last || 'empty'}`);
    }
  }

  freeze(): Promise<void> {
    return this.setFreezer('FROZEN');
  }

  thaw(): Promise<void> {
    return this.setFreezer('THAWED');
  }

  async freezerState(): Promise<'FROZEN' | 'THAWED' | undefined> {
    const file = this.file('freezer', 'freezer.state');
    if (file === undefined) return undefined;
    const state = (await cgReadOptional(this.host, file))?.trim();
    if (state === undefined) return undefined;
    if (state === 'FROZEN') return 'FROZEN';
    if (state === 'FREEZING') {
      // Half-way: frozen if we asked for it, thawed if only a parent is freezing.
      const self = await readNumber(this.host, posix.join(posix.dirname(file), 'freezer.self_freezing'));
      return self === 1 ? 'FROZEN' : 'THAWED';
    }
    return 'THAWED';
  }

  async stats(): Promise<CgroupStats> {
    const stats: CgroupStats = {};
    const mem = this.paths['memory'];
    if (mem !== undefined) {
      const memory: NonNullable<CgroupStats['memory']> = {};
      const set = (k: keyof typeof memory, v: number | undefined) => {
        if (v !== undefined) memory[k] = v;
      };
      set('usage', await readNumber(this.host, posix.join(mem, 'memory.usage_in_bytes')));
      set('limit', await readNumber(this.host, posix.join(mem, 'memory.limit_in_bytes')));
      set('maxUsage', await readNumber(this.host, posix.join(mem, 'memory.max_usage_in_bytes')));
      set('failcnt', await readNumber(this.host, posix.join(mem, 'memory.failcnt')));
      set('cache', (await readFlatKeyed(this.host, posix.join(mem, 'memory.stat')))?.get('cache'));
      if (Object.keys(memory).length > 0) stats.memory = memory;
    }
    const pidsDir = this.paths['pids'];
    if (pidsDir !== undefined) {
      const pids: NonNullable<CgroupStats['pids']> = {};
      const current = await readNumber(this.host, posix.join(pidsDir, 'pids.current'));
      if (current !== undefined) pids.current = current;
      const max = (await cgReadOptional(this.host, posix.join(pidsDir, 'pids.max')).catch(() => undefined))?.trim();
      // "max" is reported as 0, the way runc's stats do.
      if (max === 'max') pids.limit = 0;
      else if (max !== undefined && max !== '' && Number.isFinite(Number(max))) pids.limit = Number(max);
      if (Object.keys(pids).length > 0) stats.pids = pids;
    }
    const acct = this.paths['cpuacct'];
    if (acct !== undefined) {
      const cpu: NonNullable<CgroupStats['cpu']> = {};
      const total = await readNumber(this.host, posix.join(acct, 'cpuacct.usage'));
      if (total !== undefined) cpu.usageTotal = total;
      const text = await cgReadOptional(this.host, posix.join(acct, 'cpuacct.stat')).catch(() => undefined);
      if (text !== undefined) {
        const kv = parseFlatKeyed(text);
        const nsPerTick = 1e9 / USER_HZ;
        if (kv.has('user')) cpu.usageUser = kv.get('user')! * nsPerTick;
        if (kv.has('system')) cpu.usageKernel = kv.get('system')! * nsPerTick;
      }
      if (Object.keys(cpu).length > 0) stats.cpu = cpu;
    }
    return stats;
  }

  async destroy(): Promise<void> {
    await destroyDirs(this.host, uniqueValues(this.paths), this.sleep);
  }
}
