import { mkdtempSync, rmSync, mkdirSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { detectLayout, openCgroup } from '../src/cgroups';
import type { CgroupManager } from '../src/cgroups/types';
import type { RuntimeContext } from '../src/lib/context';
import { mergeResources, updateContainer, validateResources } from '../src/lib/update';
import { nameFlags, parseRamInBytes, resourcesFromFlags } from '../src/cli/update';
import { StateStore, pidStartTime, type StoredState } from '../src/state/state';
import type { LinuxResources } from '../src/spec/types';
import { FakeHost, installFakeCgroupV1, installFakeCgroupV2 } from './fake-host';

const MiB = 1024 * 1024;

describe('update flags', () => {
  it('reads memory sizes the way runc does (units.RAMInBytes: powers of 1024, any case)', () => {
    expect(parseRamInBytes('4096', 'memory')).toBe(4096);
    expect(parseRamInBytes('512m', 'memory')).toBe(512 * MiB);
    expect(parseRamInBytes('1g', 'memory')).toBe(1024 * MiB);
    expect(parseRamInBytes('1.5G', 'memory')).toBe(1536 * MiB);
    expect(parseRamInBytes('100 KB', 'memory')).toBe(102400);
    expect(parseRamInBytes('2KiB', 'memory')).toBe(2048);
    expect(parseRamInBytes('3b', 'memory')).toBe(3);
    for (const bad of ['1x', 'm', '', '-5m', '1.2.3m', '1 mb b', '0x10']) {
      expect(() => parseRamInBytes(bad, 'memory-swap')).toThrow(`invalid value for --memory-swap: invalid size: '${bad}'`);
    }
  });

  it('turns each flag into its resources field; flags not given (or empty) stay out', () => {
    const warnings: string[] = [];
    const r = resourcesFromFlags(
      {
        memory: '64m',
        'memory-swap': '-1',
        'memory-reservation': '',
        'cpu-share': '512',
        'cpu-quota': '-1',
        'cpu-period': '100000',
        'cpu-rt-period': '1000000',
        'cpu-rt-runtime': '950000',
        'cpu-burst': '1000',
        'cpu-idle': '1',
        'cpuset-cpus': '0',
        'pids-limit': 7,
        'blkio-weight': 300,
      },
      (m) => warnings.push(m),
    );
    expect(r).toEqual({
      cpu: { period: 100000, burst: 1000, shares: 512, realtimePeriod: 1000000, quota: -1, realtimeRuntime: 950000, idle: 1, cpus: '0' },
      memory: { limit: 64 * MiB, swap: -1 },
      blockIO: { weight: 300 },
      pids: { limit: 7 },
    });
    expect(warnings).toEqual([]);
    // runc's defaults for the int flags mean "not given".
    expect(resourcesFromFlags({ 'pids-limit': 0, 'blkio-weight': 0 }, () => undefined)).toEqual({});
  });

  it('names the flag in a bad value, warns for the obsolete kernel memory flags, refuses RDT', () => {
    expect(() => resourcesFromFlags({ 'cpu-period': '-5' }, () => undefined)).toThrow('invalid value for --cpu-period: "-5" is not a non-negative integer');
    expect(() => resourcesFromFlags({ 'cpu-quota': '1.5' }, () => undefined)).toThrow('invalid value for --cpu-quota: "1.5" is not an integer');
    expect(() => resourcesFromFlags({ memory: 'lots' }, () => undefined)).toThrow("invalid value for --memory: invalid size: 'lots'");
    expect(() => resourcesFromFlags({ 'l3-cache-schema': 'L3:0=f' }, () => undefined)).toThrow('--l3-cache-schema: berth has no Intel RDT support');
    const warnings: string[] = [];
    expect(resourcesFromFlags({ 'kernel-memory': '10m', 'kernel-memory-tcp': '1m' }, (m) => warnings.push(m))).toEqual({});
    expect(warnings).toEqual([expect.stringMatching(/^--kernel-memory is ignored/), expect.stringMatching(/^--kernel-memory-tcp is ignored/)]);
  });

  it('retells OCI fields in library errors as the flags that set them', () => {
    expect(nameFlags('linux.resources.memory.swap 33554432 must be -1 or at least linux.resources.memory.limit 67108864')).toBe(
      '--memory-swap 33554432 must be -1 or at least --memory 67108864',
    );
    expect(nameFlags('linux.resources.pids.limit: write 5 to /x/pids.max: Invalid argument')).toBe('--pids-limit: write 5 to /x/pids.max: Invalid argument');
    // A longer field that merely starts like a known one is left alone.
    expect(nameFlags('linux.resources.memory.swappiness 200 is not between 0 and 100')).toBe('linux.resources.memory.swappiness 200 is not between 0 and 100');
  });

  it('checks a --resources document with the config.json rules, naming the field', () => {
    expect(validateResources({ memory: { limit: 5 } })).toEqual({ memory: { limit: 5 } });
    expect(() => validateResources({ memory: { limit: '1g' } })).toThrow('linux.resources.memory.limit must be an integer');
    expect(() => validateResources({ pids: {} })).toThrow('linux.resources.pids.limit must be an integer');
    expect(() => validateResources([])).toThrow('linux.resources must be an object');
  });
});

describe('mergeResources', () => {
  const base: LinuxResources = {
    devices: [{ allow: false, access: 'rwm' }],
    memory: { limit: 32 * MiB, swap: 64 * MiB, reservation: 16 * MiB },
    cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0-1' },
    pids: { limit: 100 },
    blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }] },
    unified: { 'memory.high': '1000000' },
  };

  it('replaces only the values given and keeps the rest, without touching the input', () => {
    const before = structuredClone(base);
    const merged = mergeResources(base, { memory: { limit: 48 * MiB }, cpu: { quota: 20000, cpus: '' }, pids: { limit: 0 }, blockIO: { weight: 100 } });
    expect(merged).toEqual({
      devices: base.devices,
      memory: { limit: 48 * MiB, swap: 64 * MiB, reservation: 16 * MiB },
      cpu: { shares: 1024, quota: 20000, period: 100000, cpus: '0-1' },
      pids: { limit: 100 },
      blockIO: { weight: 100, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }] },
    });
    expect(base).toEqual(before);
  });

  it('lifts swap with an unlimited memory limit unless swap is given, and replaces the unified map whole', () => {
    expect(mergeResources(base, { memory: { limit: -1 } }).memory).toEqual({ limit: -1, swap: -1, reservation: 16 * MiB });
    expect(mergeResources(base, { memory: { limit: -1, swap: 128 * MiB } }).memory?.swap).toBe(128 * MiB);
    expect(mergeResources(base, { unified: { 'pids.max': '5' } }).unified).toEqual({ 'pids.max': '5' });
    expect(mergeResources(base, { pids: { limit: -1 } }).pids).toEqual({ limit: -1 });
    expect(mergeResources({}, { cpu: { shares: 2 } })).toEqual({ cpu: { shares: 2 } });
  });

  it('ignores what runc cannot update either (kernel memory, hugepage limits, device rules)', () => {
    const merged = mergeResources(base, { memory: { kernel: 5 }, hugepageLimits: [{ pageSize: '2MB', limit: 0 }], devices: [] });
    expect(merged.memory).toEqual(base.memory);
    expect(merged.hugepageLimits).toBeUndefined();
    expect(merged.devices).toEqual(base.devices);
  });
});

describe('updateContainer on a fake cgroupfs', () => {
  const CG = '/sys/fs/cgroup';
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'berth-update-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A container whose init is this test process (alive, started), its cgroup created with `created` applied. */
  async function container(host: FakeHost, opts: { created?: LinuxResources; recorded?: LinuxResources; pid?: number } = {}) {
    const layout = await detectLayout(host);
    const cg: CgroupManager = await openCgroup(host, layout, undefined, 'c1');
    await cg.create();
    if (opts.created) await cg.apply(opts.created);
    host.clearLog();
    const store = new StateStore(join(dir, 'state'));
    await store.reserve('c1');
    const bundle = join(dir, 'bundle');
    mkdirSync(bundle, { recursive: true });
    const pid = opts.pid ?? process.pid;
    const state: StoredState = {
      ociVersion: '1.1.0',
      id: 'c1',
      pid,
      pidStartTime: (await pidStartTime(pid)) ?? '1',
      bundle,
      rootfs: join(bundle, 'rootfs'),
      created: new Date().toISOString(),
      owner: '',
      cgroupVersion: cg.version,
      cgroupPaths: cg.paths,
      resources: opts.recorded,
    };
    await store.write(state);
    const warnings: string[] = [];
    const ctx: RuntimeContext = { store, host, warn: (m) => warnings.push(m), debug: () => undefined };
    return { ctx, cg, store, warnings };
  }

  it('v1: raises memsw before the limit, keeps the recorded values it was not given, and records the merge', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host);
    const created: LinuxResources = { memory: { limit: 32 * MiB, swap: 32 * MiB }, cpu: { quota: 50000, period: 100000 } };
    const { ctx, store } = await container(host, { created, recorded: created });
    await updateContainer(ctx, 'c1', { memory: { limit: 64 * MiB, swap: 128 * MiB } });
    const mem = `${CG}/memory/berth/c1`;
    expect(host.log((p) => p.startsWith(mem))).toEqual([
      `write ${mem}/memory.memsw.limit_in_bytes ${128 * MiB}`,
      `write ${mem}/memory.limit_in_bytes ${64 * MiB}`,
    ]);
    expect(host.content(`${CG}/cpu/berth/c1/cpu.cfs_quota_us`)).toBe('50000');

    // A later partial update merges onto what the first one recorded.
    await updateContainer(ctx, 'c1', { cpu: { shares: 256 } });
    expect((await store.read('c1')).resources).toEqual({
      memory: { limit: 64 * MiB, swap: 128 * MiB },
      cpu: { quota: 50000, period: 100000, shares: 256 },
    });
    expect(host.content(`${CG}/cpu/berth/c1/cpu.shares`)).toBe('256');
    expect(host.content(`${mem}/memory.memsw.limit_in_bytes`)).toBe(String(128 * MiB));
  });

  it('merges onto the resources create recorded in state.json, not onto nothing', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host);
    const created: LinuxResources = { memory: { limit: 32 * MiB, swap: 32 * MiB } };
    const { ctx, store } = await container(host, { created, recorded: created });
    // Without the recorded swap, v1 would keep memsw at 32M and refuse a 48M limit (EINVAL).
    await expect(updateContainer(ctx, 'c1', { memory: { limit: 48 * MiB } })).rejects.toThrow(
      `linux.resources.memory.swap ${32 * MiB} must be -1 or at least linux.resources.memory.limit ${48 * MiB}`,
    );
    await updateContainer(ctx, 'c1', { memory: { limit: 48 * MiB, swap: -1 } });
    expect((await store.read('c1')).resources?.memory).toEqual({ limit: 48 * MiB, swap: -1 });
  });

  it('a limit under the usage (EBUSY) names the field and the usage, restores the old limit and records nothing', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host);
    const created: LinuxResources = { memory: { limit: 32 * MiB, swap: 32 * MiB } };
    const { ctx, store, warnings } = await container(host, { created, recorded: created });
    const mem = `${CG}/memory/berth/c1`;
    host.seedFile(`${mem}/memory.usage_in_bytes`, '5000000\n');
    host.failOn('write', `${mem}/memory.limit_in_bytes`, 'EBUSY', { data: String(MiB) });
    const err = await updateContainer(ctx, 'c1', { memory: { limit: MiB } }).catch((e: Error) => e);
    expect((err as Error).message).toBe(
      `linux.resources.memory.limit: cannot lower the limit to ${MiB} bytes: the container uses 5000000 bytes and the kernel could not reclaim enough (EBUSY)`,
    );
    expect(nameFlags((err as Error).message)).toMatch(/^--memory: cannot lower the limit/);
    expect(host.content(`${mem}/memory.limit_in_bytes`)).toBe(String(32 * MiB));
    expect((await store.read('c1')).resources).toEqual(created);
    expect(warnings).toEqual([]);
  });

  it('names the field of any other refused write', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host);
    const { ctx } = await container(host);
    host.failOn('write', `${CG}/pids/berth/c1/pids.max`, 'EINVAL');
    await expect(updateContainer(ctx, 'c1', { pids: { limit: 5 } })).rejects.toThrow(
      `linux.resources.pids.limit: write 5 to ${CG}/pids/berth/c1/pids.max: Invalid argument`,
    );
  });

  it('v2: converts swap with the recorded limit (memory.swap.max counts swap alone)', async () => {
    const host = new FakeHost();
    installFakeCgroupV2(host);
    const created: LinuxResources = { memory: { limit: 64 * MiB } };
    const { ctx } = await container(host, { created, recorded: created });
    await updateContainer(ctx, 'c1', { memory: { swap: 96 * MiB } });
    expect(host.content(`${CG}/berth/c1/memory.swap.max`)).toBe(String(32 * MiB));
    expect(host.content(`${CG}/berth/c1/memory.max`)).toBe(String(64 * MiB));
  });

  it('refuses a stopped container as runc does', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host);
    // A pid that cannot exist: the container reads as stopped.
    const { ctx } = await container(host, { pid: 2 ** 22 + 1 });
    await expect(updateContainer(ctx, 'c1', { pids: { limit: 5 } })).rejects.toThrow('container not running: c1 is stopped');
    expect(host.writes()).toEqual([]);
  });
});
