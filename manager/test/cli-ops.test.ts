import { parsePs, psArgv, pidsArg } from '../src/core/containers/top';
import { cpuPercent, sampleOf, statsRow, type Sample } from '../src/cli/ops/stats';
import { eventLine, matchesFilters, parseEventFilters, parseEventTime, toDockerEvent } from '../src/cli/ops/events';
import { parseUpdate } from '../src/cli/commands/update';
import { parseArgs } from '../src/cli/options';
import { command as updateCommand } from '../src/cli/commands/update';
import { UsageError } from '../src/cli/errors';

describe('top: ps output', () => {
  const PS_EF = [
    'UID          PID    PPID  C STIME TTY          TIME CMD',
    'root           1       0  0 10:00 ?        00:00:01 /sbin/init',
    'root         100      50  0 10:01 ?        00:00:00 sleep 1000',
    'nobody       101     100  0 10:01 ?        00:00:00 sh -c  echo  "a b"',
    '',
  ].join('\n');

  it('keeps the container\'s pids, the command with its spaces as one field', () => {
    expect(parsePs(PS_EF, [100, 101])).toEqual({
      titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'],
      processes: [
        ['root', '100', '50', '0', '10:01', '?', '00:00:00', 'sleep 1000'],
        ['nobody', '101', '100', '0', '10:01', '?', '00:00:00', 'sh -c echo "a b"'],
      ],
    });
  });

  it('thread lines (PID "-") follow their process', () => {
    const out = ['USER PID %CPU COMMAND', 'root 100 0.0 sleep', '- - 0.0 -', 'root 7 0.0 other', '- - 0.0 -', ''].join('\n');
    expect(parsePs(out, [100]).processes).toEqual([
      ['root', '100', '0.0', 'sleep'],
      ['-', '-', '0.0', '-'],
    ]);
  });

  it('refuses output without a PID column, and a relabelled PID column', () => {
    expect(() => parsePs('USER COMMAND\nroot x\n', [1])).toThrow(/no PID column/);
    expect(() => psArgv('-o comm=PID')).toThrow(/specifying "comm=PID" is not allowed/);
    expect(psArgv('-o pid=PID,comm')).toEqual(['-o', 'pid=PID,comm']);
  });

  it('Docker\'s defaults and argv', () => {
    expect(psArgv('')).toEqual(['-ef']);
    expect(psArgv('aux')).toEqual(['aux']);
    expect(pidsArg([3, 4])).toEqual(['-q', '3,4']);
  });
});

describe('stats figures', () => {
  const v1 = (at: number, cpu: number) =>
    sampleOf(
      'io.containerd.cgroups.v1.Metrics',
      {
        cpu: { usage: { total: cpu } },
        memory: { usage: { usage: 10 * 1024 * 1024, limit: 64 * 1024 * 1024 }, totalInactiveFile: 2 * 1024 * 1024 },
        blkio: { ioServiceBytesRecursive: [{ op: 'Read', value: 1500 }, { op: 'Write', value: 2_000_000 }, { op: 'Total', value: 9 }] },
        pids: { current: 3 },
      },
      at,
    );

  it('cgroup v1: usage without inactive file cache, blkio read/write', () => {
    expect(v1(1000, 5)).toEqual({ at: 1000, cpuNs: 5, memUsage: 8 * 1024 * 1024, memLimit: 64 * 1024 * 1024, blkRead: 1500, blkWrite: 2_000_000, pids: 3 });
  });

  it('cgroup v2 fields', () => {
    const s = sampleOf('io.containerd.cgroups.v2.Metrics', { cpu: { usageUsec: 7 }, memory: { usage: 100, usageLimit: 1000, inactiveFile: 10 }, io: { usage: [{ rbytes: 1, wbytes: 2 }] }, pids: { current: 1 } }, 5);
    expect(s).toEqual({ at: 5, cpuNs: 7000, memUsage: 90, memLimit: 1000, blkRead: 1, blkWrite: 2, pids: 1 });
  });

  it('CPU % over wall time: half a CPU for 1 s is 50%', () => {
    expect(cpuPercent(v1(1000, 0), v1(2000, 500_000_000))).toBeCloseTo(50);
    expect(cpuPercent(undefined, v1(2000, 5))).toBe(0);
  });

  it('a row in Docker\'s units; the host memory when the cgroup is unlimited; zeros when not running', () => {
    const row = statsRow({ ref: 'web', id: 'a'.repeat(64), name: 'web' }, v1(2000, 250_000_000), v1(1000, 0), 8 * 1024 ** 3, false);
    expect(row).toEqual({
      Container: 'web',
      ID: 'aaaaaaaaaaaa',
      Name: 'web',
      CPUPerc: '25.00%',
      MemUsage: '8MiB / 64MiB',
      MemPerc: '12.50%',
      NetIO: '0B / 0B',
      BlockIO: '1.5kB / 2MB',
      PIDs: '3',
    });
    const unlimited: Sample = { ...v1(1, 0), memLimit: 9223372036854771712 };
    expect(statsRow({ ref: 'x', id: 'b'.repeat(64), name: 'x' }, unlimited, undefined, 1024 ** 3, true).MemUsage).toBe('8MiB / 1GiB');
    expect(statsRow({ ref: 'x', id: 'b'.repeat(64), name: 'x' }, undefined, undefined, 1, true)).toMatchObject({ ID: 'b'.repeat(64), CPUPerc: '0.00%', MemUsage: '0B / 0B', PIDs: '0' });
  });
});

describe('events', () => {
  const at = new Date('2024-05-01T12:00:00.123Z');
  const known = (id: string) => (id === 'c1' ? { name: 'web', image: 'busybox' } : undefined);

  it('maps containerd topics to Docker actions', () => {
    expect(toDockerEvent('/tasks/start', { containerId: 'c1', pid: 3 }, at, known)).toMatchObject({ Type: 'container', Action: 'start', Actor: { ID: 'c1', Attributes: { name: 'web', image: 'busybox' } } });
    expect(toDockerEvent('/tasks/exit', { containerId: 'c1', id: 'c1', exitStatus: 3 }, at, known)?.Actor.Attributes.exitCode).toBe('3');
    expect(toDockerEvent('/tasks/exit', { containerId: 'c1', id: 'x', exitStatus: 0 }, at, known)).toMatchObject({ Action: 'exec_die', Actor: { Attributes: { execID: 'x' } } });
    expect(toDockerEvent('/containers/delete', { id: 'c1' }, at, known)?.Action).toBe('destroy');
    expect(toDockerEvent('/tasks/paused', { containerId: 'c1' }, at, known)?.Action).toBe('pause');
    expect(toDockerEvent('/tasks/resumed', { containerId: 'c1' }, at, known)?.Action).toBe('unpause');
    expect(toDockerEvent('/images/delete', { name: 'docker.io/library/busybox:latest' }, at, known)).toMatchObject({ Type: 'image', Action: 'delete' });
    // not berth's container, or no Docker event for the topic
    expect(toDockerEvent('/tasks/start', { containerId: 'other' }, at, known)).toBeUndefined();
    expect(toDockerEvent('/snapshot/prepare', { key: 'k' }, at, known)).toBeUndefined();
  });

  it('Docker\'s line', () => {
    const e = toDockerEvent('/tasks/exit', { containerId: 'c1', id: 'c1', exitStatus: 0 }, at, known)!;
    expect(eventLine(e)).toBe('2024-05-01T12:00:00.123000000Z container die c1 (exitCode=0, image=busybox, name=web)');
  });

  it('filters: one key ORs, keys AND', () => {
    const e = toDockerEvent('/tasks/start', { containerId: 'c1abc' }, at, () => ({ name: 'web', image: 'busybox' }))!;
    expect(matchesFilters(e, parseEventFilters(['event=start', 'event=die', 'container=web']))).toBe(true);
    expect(matchesFilters(e, parseEventFilters(['event=die']))).toBe(false);
    expect(matchesFilters(e, parseEventFilters(['container=c1a', 'type=container']))).toBe(true);
    expect(matchesFilters(e, parseEventFilters(['label=tier=web']), { tier: 'web' })).toBe(true);
    expect(matchesFilters(e, parseEventFilters(['label=tier']), {})).toBe(false);
    expect(() => parseEventFilters(['nope=1'])).toThrow("invalid filter 'nope'");
    expect(() => parseEventFilters(['event'])).toThrow(/expected name=value/);
  });

  it('times: unix seconds, durations before now, RFC 3339', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    expect(parseEventTime('1714564800', now)).toBe(now);
    expect(parseEventTime('1714564800.5', now)).toBe(now + 500);
    expect(parseEventTime('10m', now)).toBe(now - 600_000);
    expect(parseEventTime('1h30m', now)).toBe(now - 5_400_000);
    expect(parseEventTime('2024-05-01T11:00:00Z', now)).toBe(now - 3_600_000);
    expect(parseEventTime('2024-05-01', now)).toBe(now - 12 * 3_600_000);
    expect(parseEventTime('yesterday', now)).toBeUndefined();
  });
});

describe('update flags', () => {
  const parse = (argv: string[]) => parseUpdate(parseArgs(argv, updateCommand.options, { commandPath: 'berth update' }), 'berth update');

  it('resources as OCI LinuxResources and Docker HostConfig fields', () => {
    expect(parse(['-m', '128m', '--memory-swap', '256m', '--cpus', '1.5', '--pids-limit', '50', '--cpuset-cpus', '0', 'c'])).toEqual({
      resources: {
        memory: { limit: 128 * 1024 ** 2, swap: 256 * 1024 ** 2 },
        cpu: { period: 100000, quota: 150000, cpus: '0' },
        pids: { limit: 50 },
      },
      host: { Memory: 128 * 1024 ** 2, MemorySwap: 256 * 1024 ** 2, NanoCpus: 1.5e9, CpusetCpus: '0', PidsLimit: 50 },
    });
    expect(parse(['--pids-limit', '-1', 'c']).resources.pids).toEqual({ limit: -1 });
    expect(parse(['--restart', 'on-failure:2', 'c'])).toEqual({ resources: {}, host: {}, restart: 'on-failure:2' });
  });

  it('refuses what Docker refuses', () => {
    expect(() => parse(['c'])).toThrow('you must provide one or more flags when using this command');
    expect(() => parse(['-m', '1m', 'c'])).toThrow('Minimum memory limit allowed is 6MB');
    expect(() => parse(['--cpus', '1', '--cpu-quota', '5', 'c'])).toThrow('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
    expect(() => parse(['--restart', 'sometimes', 'c'])).toThrow(/invalid restart policy/);
    expect(() => parse(['--blkio-weight', '5', 'c'])).toThrow(/range of blkio weight is from 10 to 1000/);
    expect(() => parse(['-m', 'lots', 'c'])).toThrow(UsageError);
  });
});

describe('events: what a container update was', () => {
  const { updateKind } = require('../src/cli/ops/events') as typeof import('../src/cli/ops/events');
  it('restart and state bookkeeping is no event; a name change is a rename; the rest an update', () => {
    const base = { 'berth/name': 'web', 'containerd.io/restart.policy': 'always' };
    expect(updateKind(base, { ...base, 'containerd.io/restart.status': 'running', 'containerd.io/restart.count': '0', 'berth/state.started-at': 'x' })).toBe('none');
    expect(updateKind(base, { ...base, 'berth/name': 'api' })).toBe('rename');
    expect(updateKind(base, { ...base, 'containerd.io/restart.policy': 'no' })).toBe('update');
    expect(updateKind(base, base)).toBe('update'); // spec or run config: `berth update -m`
  });
  it('a rename event names the old name', () => {
    const e = toDockerEvent('/containers/update', { id: 'c1', labels: { 'berth/name': 'api' } }, new Date(0), () => ({ name: 'api', image: 'busybox' }), { 'berth/name': 'web' });
    expect(e).toMatchObject({ Action: 'rename', Actor: { Attributes: { name: 'api', oldName: '/web' } } });
  });
});
