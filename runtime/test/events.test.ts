import { detectLayout, openCgroup, readContainerStats, readOomKillCount } from '../src/cgroups';
import type { ContainerStats } from '../src/cgroups/stats-types';
import { parseBlkioEntries, parseCpuList, parseU64 } from '../src/cgroups/stats-types';
import { encodeEvent, encodeJson, watchEvents, type ContainerEvent, type EventSource } from '../src/lib/events';
import { parseGoDuration } from '../src/cli/events';
import { FakeHost, installFakeCgroupV1, installFakeCgroupV2 } from './fake-host';

const CG = '/sys/fs/cgroup';
const V1_UNLIMITED = '9223372036854771712';

describe('--interval', () => {
  it('parses Go durations into milliseconds', () => {
    expect(parseGoDuration('5s', 'interval')).toBe(5000);
    expect(parseGoDuration('500ms', 'interval')).toBe(500);
    expect(parseGoDuration('1m', 'interval')).toBe(60_000);
    expect(parseGoDuration('1h30m', 'interval')).toBe(5_400_000);
    expect(parseGoDuration('1.5s', 'interval')).toBe(1500);
    expect(parseGoDuration('250us', 'interval')).toBe(0.25);
    expect(parseGoDuration('2µs', 'interval')).toBe(0.002);
    expect(parseGoDuration('0', 'interval')).toBe(0);
    expect(parseGoDuration('-1s', 'interval')).toBe(-1000);
    for (const bad of ['', '5', 's', '5x', '1s2', '1 s', '--1s']) {
      expect(() => parseGoDuration(bad, 'interval')).toThrow(`invalid value ${JSON.stringify(bad)} for flag -interval: time: invalid duration`);
    }
  });
});

describe('event encoding', () => {
  it('writes compact JSON lines like Go: undefined members dropped, uint64 counters exact', () => {
    expect(encodeJson({ a: 1, b: undefined, c: [1n, 2], d: { e: null }, f: 'x"y' })).toBe('{"a":1,"c":[1,2],"d":{"e":null},"f":"x\\"y"}');
    expect(encodeJson(18446744073709551615n)).toBe('18446744073709551615');
    expect(encodeEvent({ type: 'oom', id: 'c1' })).toBe('{"type":"oom","id":"c1"}\n');
  });

  it('keeps counters past 2^53 as exact bigints and small ones as numbers', () => {
    expect(parseU64(`${V1_UNLIMITED}\n`)).toBe(9223372036854771712n);
    expect(parseU64('42')).toBe(42);
    expect(parseU64('max')).toBeUndefined();
    expect(parseCpuList('0-2,5,7-8\n')).toEqual([0, 1, 2, 5, 7, 8]);
    expect(parseCpuList('\n')).toBeUndefined();
    expect(parseBlkioEntries('8:0 Read 4096\n8:0 Write 0\n8:16 123\nTotal 4219\n')).toEqual([
      { major: 8, op: 'Read', value: 4096 },
      { major: 8, op: 'Write' },
      { major: 8, minor: 16, value: 123 },
    ]);
  });
});

describe('stats from a v1 (hybrid) cgroup', () => {
  it('reads every controller into runc 1.1 stats, in runc field order, zero omitempty fields left out', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host);
    const cg = await openCgroup(host, await detectLayout(host), undefined, 'c1');
    await cg.create();
    const d = (h: string, f: string) => `${CG}/${h}/berth/c1/${f}`;
    host.seedFiles({
      [d('cpuacct', 'cpuacct.usage')]: '3000\n',
      [d('cpuacct', 'cpuacct.usage_percpu')]: '1000 2000 \n',
      [d('cpuacct', 'cpuacct.usage_all')]: 'cpu user system\n0 600 400\n1 1500 500\n',
      [d('cpuacct', 'cpuacct.stat')]: 'user 2\nsystem 1\n',
      [d('cpu', 'cpu.stat')]: 'nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n',
      [d('cpuset', 'cpuset.cpus')]: '0-1\n',
      [d('cpuset', 'cpuset.sched_load_balance')]: '1\n',
      [d('cpuset', 'cpuset.sched_relax_domain_level')]: '-1\n',
      [d('memory', 'memory.usage_in_bytes')]: '8192\n',
      [d('memory', 'memory.max_usage_in_bytes')]: '16384\n',
      [d('memory', 'memory.limit_in_bytes')]: '67108864\n',
      [d('memory', 'memory.failcnt')]: '0\n',
      [d('memory', 'memory.memsw.usage_in_bytes')]: '8192\n',
      [d('memory', 'memory.memsw.max_usage_in_bytes')]: '16384\n',
      [d('memory', 'memory.memsw.failcnt')]: '0\n',
      [d('memory', 'memory.stat')]: 'rss 4096\ncache 4096\nactive_anon 1\n',
      [d('pids', 'pids.current')]: '2\n',
      [d('pids', 'pids.max')]: 'max\n',
      [d('blkio', 'blkio.bfq.io_serviced_recursive')]: '8:0 Read 3\n8:0 Write 1\nTotal 4\n',
      [d('blkio', 'blkio.bfq.io_service_bytes_recursive')]: '8:0 Read 12288\n8:0 Write 4096\nTotal 16384\n',
    });
    const stats = await readContainerStats(host, 1, cg.paths);
    expect(encodeJson(stats)).toBe(
      JSON.stringify({
        cpu: {
          usage: { total: 3000, percpu: [1000, 2000], percpu_kernel: [400, 500], percpu_user: [600, 1500], kernel: 10_000_000, user: 20_000_000 },
          throttling: { periods: 10, throttledPeriods: 2, throttledTime: 5000 },
        },
        cpuset: {
          cpus: [0, 1],
          cpu_exclusive: 0,
          mems: [0],
          mem_hardwall: 0,
          mem_exclusive: 0,
          memory_migrate: 0,
          memory_spread_page: 0,
          memory_spread_slab: 0,
          memory_pressure: 0,
          sched_load_balance: 1,
          sched_relax_domain_level: -1,
        },
        memory: {
          cache: 4096,
          usage: { limit: 67108864, usage: 8192, max: 16384, failcnt: 0 },
          swap: { limit: 'V1_UNLIMITED', usage: 8192, max: 16384, failcnt: 0 },
          kernel: { limit: 'V1_UNLIMITED', failcnt: 0 },
          kernelTCP: { limit: 'V1_UNLIMITED', failcnt: 0 },
          raw: { active_anon: 1, cache: 4096, rss: 4096 },
        },
        pids: { current: 2 },
        blkio: {
          ioServiceBytesRecursive: [
            { major: 8, op: 'Read', value: 12288 },
            { major: 8, op: 'Write', value: 4096 },
          ],
          ioServicedRecursive: [
            { major: 8, op: 'Read', value: 3 },
            { major: 8, op: 'Write', value: 1 },
          ],
        },
        hugetlb: {},
        intel_rdt: {},
        network_interfaces: null,
      }).replace(/"V1_UNLIMITED"/g, V1_UNLIMITED),
    );
  });

  it('falls back to the throttle counters, and reads hugetlb from cgroup2 on a hybrid machine', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host, { unifiedControllers: ['hugetlb'] });
    const cg = await openCgroup(host, await detectLayout(host), undefined, 'c1');
    await cg.create();
    await cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }] });
    host.seedFiles({
      [`${CG}/blkio/berth/c1/blkio.bfq.io_serviced_recursive`]: 'Total 0\n',
      [`${CG}/blkio/berth/c1/blkio.throttle.io_serviced_recursive`]: '8:0 Read 3\nTotal 3\n',
      [`${CG}/blkio/berth/c1/blkio.throttle.io_service_bytes_recursive`]: '8:0 Read 512\nTotal 512\n',
      [`${CG}/unified/berth/c1/hugetlb.2MB.current`]: '2097152\n',
      [`${CG}/unified/berth/c1/hugetlb.2MB.events`]: 'max 3\n',
    });
    const stats = await readContainerStats(host, 1, cg.paths);
    expect(stats.blkio).toEqual({
      ioServiceBytesRecursive: [{ major: 8, op: 'Read', value: 512 }],
      ioServicedRecursive: [{ major: 8, op: 'Read', value: 3 }],
    });
    expect(stats.hugetlb).toEqual({ '2MB': { usage: 2097152, failcnt: 3 } });
  });

  it('counts OOM kills from memory.oom_control', async () => {
    const host = new FakeHost();
    installFakeCgroupV1(host);
    const cg = await openCgroup(host, await detectLayout(host), undefined, 'c1');
    await cg.create();
    expect(await readOomKillCount(host, 1, cg.paths)).toBe(0);
    host.seedFile(`${CG}/memory/berth/c1/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    expect(await readOomKillCount(host, 1, cg.paths)).toBe(2);
    await cg.destroy();
    expect(await readOomKillCount(host, 1, cg.paths)).toBeUndefined();
  });
});

describe('stats from a v2 cgroup', () => {
  it('converts cgroup2 files to the same shape (usec to ns, "max" to uint64 max, swap counted with memory)', async () => {
    const host = new FakeHost();
    installFakeCgroupV2(host);
    const cg = await openCgroup(host, await detectLayout(host), undefined, 'c1');
    await cg.create();
    const D = `${CG}/berth/c1`;
    host.seedFiles({
      [`${D}/cpu.stat`]: 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n',
      [`${D}/memory.current`]: '4096\n',
      [`${D}/memory.max`]: 'max\n',
      [`${D}/memory.swap.current`]: '1024\n',
      [`${D}/memory.events`]: 'low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n',
      [`${D}/memory.stat`]: 'anon 2048\nfile 1024\n',
      [`${D}/pids.current`]: '3\n',
      [`${D}/pids.max`]: '20\n',
      [`${D}/io.stat`]: '8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
    });
    const s: ContainerStats = await readContainerStats(host, 2, cg.paths);
    expect(s.cpu).toEqual({ usage: { total: 1_500_000, kernel: 500_000, user: 1_000_000 }, throttling: { periods: 4, throttledPeriods: 1, throttledTime: 20_000 } });
    expect(s.cpuset.cpus).toEqual([0, 1]);
    expect(s.memory.usage).toEqual({ limit: 18446744073709551615n, usage: 4096, max: undefined, failcnt: 7 });
    expect(s.memory.swap).toEqual({ limit: 18446744073709551615n, usage: 5120, failcnt: 0 });
    expect(s.memory.cache).toBe(1024);
    expect(s.memory.raw).toEqual({ anon: 2048, file: 1024 });
    expect(s.pids).toEqual({ current: 3, limit: 20 });
    expect(encodeJson(s.blkio)).toBe('{"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":4096},{"major":8,"op":"Write"},{"major":8,"op":"Discard"}],"ioServicedRecursive":[{"major":8,"op":"Read","value":1},{"major":8,"op":"Write"},{"major":8,"op":"Discard"}]}');
    expect(await readOomKillCount(host, 2, cg.paths)).toBe(1);
  });
});

describe('watchEvents', () => {
  /** A source driven by the test, on a virtual clock advanced by sleep. */
  function fake() {
    const t = { now: 0, kills: 0, running: true, statsReads: 0, onTick: (_now: number) => undefined as void };
    const source: EventSource = {
      stats: async () => {
        t.statsReads++;
        return { marker: t.now } as unknown as ContainerStats;
      },
      oomKills: async () => t.kills,
      running: async () => t.running,
    };
    const sleep = async (ms: number) => {
      t.now += ms;
      t.onTick(t.now);
    };
    return { t, source, sleep, now: () => t.now };
  }

  it('emits stats every interval and one oom event per kill, until the container stops', async () => {
    const { t, source, sleep, now } = fake();
    t.kills = 3; // kills before the watch began are not news
    t.onTick = (ms) => {
      if (ms === 1200) t.kills = 4;
      if (ms === 2500) t.kills = 6;
      if (ms === 3100) t.running = false;
    };
    const events: ContainerEvent[] = [];
    await watchEvents('c1', source, (e) => events.push(e), { intervalMs: 1000, pollMs: 100, sleep, now });
    expect(events.map((e) => (e.type === 'stats' ? `stats@${(e.data as unknown as { marker: number }).marker}` : 'oom'))).toEqual([
      'stats@1000',
      'oom',
      'stats@2000',
      'oom',
      'oom',
      'stats@3000',
    ]);
    expect(events.every((e) => e.id === 'c1')).toBe(true);
    expect(t.now).toBe(3100);
  });

  it('reports the kill that stopped the container before it returns', async () => {
    const { t, source, sleep, now } = fake();
    t.onTick = (ms) => {
      if (ms === 300) {
        t.kills = 1;
        t.running = false;
      }
    };
    const events: ContainerEvent[] = [];
    await watchEvents('c1', source, (e) => events.push(e), { intervalMs: 5000, pollMs: 100, sleep, now });
    expect(events).toEqual([{ type: 'oom', id: 'c1' }]);
    expect(t.statsReads).toBe(0);
  });

  it('warns and goes on when reading stats fails', async () => {
    const { t, source, sleep, now } = fake();
    let failed = false;
    source.stats = async () => {
      if (!failed) {
        failed = true;
        throw new Error('read /x: Input/output error');
      }
      return {} as ContainerStats;
    };
    t.onTick = (ms) => {
      if (ms >= 2000) t.running = ms < 2050;
    };
    const events: ContainerEvent[] = [];
    const warnings: string[] = [];
    await watchEvents('c1', source, (e) => events.push(e), { intervalMs: 1000, pollMs: 100, sleep, now, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual(['stats: read /x: Input/output error']);
    expect(events.map((e) => e.type)).toEqual(['stats']);
  });
});
