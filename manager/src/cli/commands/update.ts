// berth update: changes a container's resources and restart policy. A running (or paused)
// task gets the new limits at once (Tasks.Update: the runtime writes the cgroup); the
// container's record keeps them either way (Containers.Update of the OCI spec's
// linux.resources, the run-config extension inspect reads, and the restart policy label
// berthd's restart monitor reads at the next exit), so a restart or a later start has them.

import type { CommandSpec, CommandContext } from '../command';
import type { OptionSpec, ParsedArgs } from '../options';
import { CliError, UsageError } from '../errors';
import { forEachContainer, taskStatus } from '../ops/each';
import { parseBytes } from '../containers/run-options';
import { specOf, type ContainerRecord } from '../containers/resolve';
import type { Daemon } from '../daemon';
import { packJsonAny } from '../../api';
import { AUTO_REMOVE, RESTART_POLICY } from '../../core/containers/labels';
import { formatPolicy, parsePolicy } from '../../core/containers/restart';
import { RUN_CONFIG_EXTENSION, RUN_CONFIG_TYPE_URL, parseRunConfig, type RunConfig } from '../../core/containers/run-config';

const OPTIONS: OptionSpec[] = [
  { long: 'blkio-weight', type: 'string', valueName: 'uint16', description: 'Block IO (relative weight), between 10 and 1000, or 0 to disable' },
  { long: 'cpu-period', type: 'string', valueName: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { long: 'cpu-quota', type: 'string', valueName: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { long: 'cpu-shares', short: 'c', type: 'string', valueName: 'int', description: 'CPU shares (relative weight)' },
  { long: 'cpus', type: 'string', valueName: 'decimal', description: 'Number of CPUs' },
  { long: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { long: 'cpuset-mems', type: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
  { long: 'memory', short: 'm', type: 'string', valueName: 'bytes', description: 'Memory limit' },
  { long: 'memory-reservation', type: 'string', valueName: 'bytes', description: 'Memory soft limit' },
  { long: 'memory-swap', type: 'string', valueName: 'bytes', description: "Swap limit equal to memory plus swap: -1 to enable unlimited swap" },
  { long: 'pids-limit', type: 'string', valueName: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  { long: 'restart', type: 'string', description: 'Restart policy to apply when a container exits' },
];

const CFS_PERIOD = 100_000;

/** What the flags ask for: OCI LinuxResources fields and the run-config's Host fields. */
export interface UpdateRequest {
  resources: { memory?: Record<string, number>; cpu?: Record<string, number | string>; pids?: { limit: number }; blockIO?: { weight: number } };
  host: Partial<RunConfig['Host']>;
  restart?: string;
}

function integer(parsed: ParsedArgs, flag: string, commandPath: string): number | undefined {
  const v = parsed.string(flag);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`invalid argument "${v}" for "--${flag}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`, commandPath);
  return Number(v);
}

/** The flags as an UpdateRequest; UsageError for a bad value or a conflicting pair. */
export function parseUpdate(parsed: ParsedArgs, commandPath: string): UpdateRequest {
  const req: UpdateRequest = { resources: {}, host: {} };
  const bytes = (flag: string) => (parsed.has(flag) ? parseBytes(parsed.string(flag)!, flag, commandPath) : undefined);
  const memory: Record<string, number> = {};
  const limit = bytes('memory');
  if (limit !== undefined) {
    if (limit > 0 && limit < 6 * 1024 * 1024) throw new UsageError('Minimum memory limit allowed is 6MB', commandPath);
    memory.limit = limit;
    req.host.Memory = limit;
  }
  const reservation = bytes('memory-reservation');
  if (reservation !== undefined) memory.reservation = reservation;
  const swapText = parsed.string('memory-swap');
  if (swapText !== undefined) {
    const swap = swapText.trim() === '-1' ? -1 : parseBytes(swapText, 'memory-swap', commandPath);
    if (swap > 0 && limit !== undefined && swap < limit) throw new UsageError('Minimum memoryswap limit should be larger than memory limit, see usage', commandPath);
    memory.swap = swap;
    req.host.MemorySwap = swap;
  }
  if (Object.keys(memory).length) req.resources.memory = memory;

  const cpu: Record<string, number | string> = {};
  const shares = integer(parsed, 'cpu-shares', commandPath);
  if (shares !== undefined) cpu.shares = req.host.CpuShares = shares;
  const period = integer(parsed, 'cpu-period', commandPath);
  const quota = integer(parsed, 'cpu-quota', commandPath);
  const cpus = parsed.string('cpus');
  if (cpus !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(cpus.trim())) throw new UsageError(`invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`, commandPath);
    if (period !== undefined) throw new UsageError('Conflicting options: Nano CPUs and CPU Period cannot both be set', commandPath);
    if (quota !== undefined) throw new UsageError('Conflicting options: Nano CPUs and CPU Quota cannot both be set', commandPath);
    const nano = Math.round(Number(cpus) * 1e9);
    // Docker's NanoCPUs become CFS: a 100 ms period and the matching quota (0: no limit).
    cpu.period = CFS_PERIOD;
    cpu.quota = nano === 0 ? -1 : Math.round((nano * CFS_PERIOD) / 1e9);
    req.host.NanoCpus = nano;
  }
  if (period !== undefined) cpu.period = req.host.CpuPeriod = period;
  if (quota !== undefined) cpu.quota = req.host.CpuQuota = quota;
  const cpusetCpus = parsed.string('cpuset-cpus');
  if (cpusetCpus !== undefined) cpu.cpus = req.host.CpusetCpus = cpusetCpus;
  const cpusetMems = parsed.string('cpuset-mems');
  if (cpusetMems !== undefined) cpu.mems = req.host.CpusetMems = cpusetMems;
  if (Object.keys(cpu).length) req.resources.cpu = cpu;

  const pids = integer(parsed, 'pids-limit', commandPath);
  if (pids !== undefined) {
    req.resources.pids = { limit: pids <= 0 ? -1 : pids };
    req.host.PidsLimit = pids <= 0 ? null : pids;
  }
  const weight = integer(parsed, 'blkio-weight', commandPath);
  if (weight !== undefined) {
    if (weight !== 0 && (weight < 10 || weight > 1000)) throw new UsageError(`invalid argument "${weight}" for "--blkio-weight" flag: range of blkio weight is from 10 to 1000`, commandPath);
    req.resources.blockIO = { weight };
  }
  const restart = parsed.string('restart');
  if (restart !== undefined) {
    try {
      req.restart = formatPolicy(parsePolicy(restart));
    } catch (err) {
      throw new UsageError(`invalid restart policy: ${(err as Error).message}`, commandPath);
    }
  }
  if (!Object.keys(req.resources).length && req.restart === undefined) throw new UsageError('you must provide one or more flags when using this command', commandPath);
  return req;
}

/** spec.linux.resources with the request's fields laid over it. */
function mergeResources(current: Record<string, any>, change: UpdateRequest['resources']): Record<string, any> {
  const next = { ...current };
  for (const [k, v] of Object.entries(change)) next[k] = { ...(current[k] ?? {}), ...v };
  return next;
}

async function updateOne(d: Daemon, c: ContainerRecord, req: UpdateRequest): Promise<void> {
  if (req.restart !== undefined && req.restart !== 'no' && c.labels[AUTO_REMOVE] === 'true') {
    throw new CliError('Restart policy cannot be updated because AutoRemove is enabled for the container');
  }
  const spec = specOf(c) as Record<string, any>;
  const resources = (spec.linux?.resources ?? {}) as Record<string, any>;
  // Docker's rule: a new memory limit above the swap limit already set needs a new swap limit too.
  const swap = resources.memory?.swap;
  if (req.resources.memory?.limit !== undefined && req.resources.memory.swap === undefined && typeof swap === 'number' && swap > 0 && req.resources.memory.limit > swap) {
    throw new CliError('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  const paths: string[] = [];
  const container: Record<string, unknown> = { id: c.id, runtime: c.runtime, spec: c.spec, labels: { ...c.labels }, extensions: { ...c.extensions } };
  if (Object.keys(req.resources).length) {
    const status = await taskStatus(d, c.id);
    if (status === 'RUNNING' || status === 'PAUSED') {
      await d.tasks.Update({ containerId: c.id, resources: packJsonAny('types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', req.resources) });
    }
    spec.linux = { ...(spec.linux ?? {}), resources: mergeResources(resources, req.resources) };
    container.spec = packJsonAny(c.spec?.typeUrl || 'types.containerd.io/opencontainers/runtime-spec/1/Spec', spec);
    paths.push('spec');
  }
  const runConfig = parseRunConfig(c.extensions[RUN_CONFIG_EXTENSION]);
  if (runConfig) {
    Object.assign(runConfig.Host, req.host);
    if (req.restart !== undefined) {
      const p = parsePolicy(req.restart);
      runConfig.Host.RestartPolicy = { Name: p.name, MaximumRetryCount: p.maxRetries };
    }
    (container.extensions as Record<string, unknown>)[RUN_CONFIG_EXTENSION] = packJsonAny(RUN_CONFIG_TYPE_URL, runConfig);
    paths.push(`extensions.${RUN_CONFIG_EXTENSION}`);
  }
  if (req.restart !== undefined) {
    (container.labels as Record<string, string>)[RESTART_POLICY] = req.restart;
    paths.push(`labels.${RESTART_POLICY}`);
  }
  await d.containers.Update({ container: container as never, updateMask: { paths } });
}

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Update configuration of one or more containers',
  options: OPTIONS,
  args: { min: 1 },
  async run(ctx: CommandContext, parsed) {
    const req = parseUpdate(parsed, ctx.commandPath);
    return forEachContainer(ctx, parsed.args, (d, c) => updateOne(d, c, req));
  },
};
