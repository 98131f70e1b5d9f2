// `berth inspect` of a container: Docker's document (docker inspect's JSON), made from the
// containerd record (labels, spec, run config extension) and the task.

import type { Daemon } from '../daemon';
import { runConfigOf, specOf, type ContainerRecord } from './resolve';
import { getTask, stateOf } from './lifecycle';
import { logPathOf } from './log-path';
import { HOSTNAME_FILE, HOSTS_FILE, RESOLV_FILE } from '../../core/containers/files';
import { NAME, RESTART_COUNT, STATE_ERROR } from '../../core/containers/labels';
import { networkSettings, type ContainerNetworkMessage } from '../networks/view';

/** berthd's network settings of a container; undefined when it has none (host, none, container:). */
async function networkOf(d: Daemon, id: string): Promise<ContainerNetworkMessage | undefined> {
  try {
    return (await d.networks.ContainerSettings({ containerId: id })) as ContainerNetworkMessage;
  } catch {
    return undefined;
  }
}

export async function inspectContainer(d: Daemon, c: ContainerRecord): Promise<Record<string, unknown>> {
  const [task, logPath, net] = await Promise.all([getTask(d, c.id), logPathOf(d, c.id), networkOf(d, c.id)]);
  const s = stateOf(c, task);
  const spec = specOf(c);
  const run = runConfigOf(c);
  const host = run?.Host;
  const args = spec.process?.args ?? [];
  const mountSource = (file: string) => spec.mounts?.find((m) => m.type === 'bind' && m.source?.endsWith(`/${file}`))?.source ?? '';
  const bindMounts = (host?.Binds ?? []).map((b) => {
    const [source, destination, mode = ''] = b.split(':');
    return { Type: 'bind', Source: source, Destination: destination, Mode: mode, RW: !mode.split(',').includes('ro'), Propagation: 'rprivate' };
  });
  const tmpfsMounts = Object.keys(host?.Tmpfs ?? {}).map((dest) => ({ Type: 'tmpfs', Source: '', Destination: dest, Mode: host!.Tmpfs[dest], RW: true, Propagation: '' }));
  return {
    Id: c.id,
    Created: c.createdAt.toISOString(),
    Path: args[0] ?? '',
    Args: args.slice(1),
    State: {
      Status: s.status,
      Running: s.running,
      Paused: s.paused,
      Restarting: false,
      OOMKilled: s.oomKilled,
      Dead: false,
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: c.labels[STATE_ERROR] ?? '',
      StartedAt: s.startedAt,
      FinishedAt: s.finishedAt,
    },
    Image: run?.ImageID ?? c.image,
    ResolvConfPath: mountSource(RESOLV_FILE),
    HostnamePath: mountSource(HOSTNAME_FILE),
    HostsPath: mountSource(HOSTS_FILE),
    LogPath: logPath,
    Name: `/${c.labels[NAME] ?? c.id.slice(0, 12)}`,
    RestartCount: Number(c.labels[RESTART_COUNT] ?? 0),
    Driver: c.snapshotter,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Binds: host?.Binds.length ? host.Binds : null,
      VolumesFrom: host?.VolumesFrom?.length ? host.VolumesFrom : null,
      ...(host?.Mounts?.length ? { Mounts: host.Mounts } : {}),
      ContainerIDFile: host?.ContainerIDFile ?? '',
      LogConfig: { Type: 'cri-log', Config: {} },
      NetworkMode: host?.NetworkMode ?? 'none',
      PortBindings: host?.PortBindings ?? {},
      PublishAllPorts: host?.PublishAllPorts ?? false,
      Links: host?.Links?.length ? host.Links : null,
      DnsSearch: host?.DnsSearch ?? [],
      DnsOptions: host?.DnsOptions ?? [],
      RestartPolicy: host?.RestartPolicy ?? { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: host?.AutoRemove ?? false,
      CapAdd: host?.CapAdd.length ? host.CapAdd : null,
      CapDrop: host?.CapDrop.length ? host.CapDrop : null,
      Dns: host?.Dns ?? [],
      ExtraHosts: host?.ExtraHosts.length ? host.ExtraHosts : null,
      Privileged: host?.Privileged ?? false,
      ReadonlyRootfs: host?.ReadonlyRootfs ?? false,
      SecurityOpt: host?.SecurityOpt.length ? host.SecurityOpt : null,
      Tmpfs: host && Object.keys(host.Tmpfs).length ? host.Tmpfs : undefined,
      ShmSize: host?.ShmSize ?? 67108864,
      Runtime: c.runtime.name,
      Memory: host?.Memory ?? 0,
      MemorySwap: host?.MemorySwap ?? 0,
      NanoCpus: host?.NanoCpus ?? 0,
      CpuShares: host?.CpuShares ?? 0,
      CpuPeriod: host?.CpuPeriod ?? 0,
      CpuQuota: host?.CpuQuota ?? 0,
      CpusetCpus: host?.CpusetCpus ?? '',
      CpusetMems: host?.CpusetMems ?? '',
      Devices: host?.Devices ?? [],
      OomKillDisable: host?.OomKillDisable ?? false,
      PidsLimit: host?.PidsLimit ?? null,
      Ulimits: host?.Ulimits.length ? host.Ulimits : null,
      Init: host?.Init ?? false,
      MaskedPaths: (spec.linux?.maskedPaths as string[] | undefined) ?? null,
      ReadonlyPaths: (spec.linux?.readonlyPaths as string[] | undefined) ?? null,
    },
    GraphDriver: { Name: c.snapshotter, Data: null },
    // the run config's Mounts (-v, --mount, --volumes-from, image VOLUMEs); older records: -v's binds
    Mounts: [...(run?.Mounts ?? bindMounts), ...tmpfsMounts],
    Config: {
      Hostname: spec.hostname ?? '',
      Domainname: '',
      User: run?.User ?? '',
      AttachStdin: run?.AttachStdin ?? false,
      AttachStdout: run?.AttachStdout ?? false,
      AttachStderr: run?.AttachStderr ?? false,
      Tty: run?.Tty ?? false,
      OpenStdin: run?.OpenStdin ?? false,
      StdinOnce: (run?.OpenStdin ?? false) && (run?.AttachStdin ?? false),
      ...(run?.ExposedPorts ? { ExposedPorts: run.ExposedPorts } : {}),
      Env: spec.process?.env ?? [],
      Cmd: run?.Cmd ?? null,
      Image: run?.Image ?? c.image,
      Volumes: run?.Volumes ?? null,
      WorkingDir: run?.WorkingDir ?? '',
      Entrypoint: run?.Entrypoint ?? null,
      OnBuild: null,
      Labels: run?.Labels ?? {},
      ...(run?.StopSignal ? { StopSignal: run.StopSignal } : {}),
      ...(run?.StopTimeout !== null && run?.StopTimeout !== undefined ? { StopTimeout: run.StopTimeout } : {}),
    },
    // berthd's record of the container's networking (cli/networks/view.ts)
    NetworkSettings: networkSettings(net, host?.NetworkMode ?? 'none', Object.keys(run?.ExposedPorts ?? {}), host?.Links ?? []),
  };
}
