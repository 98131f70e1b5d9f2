// berth info [-f FORMAT]: Docker's `info` — the client, then berthd's facts (System.Info):
// counts, storage and cgroup drivers, kernel, OS, resources, directories. --format takes a
// template over Docker's field names ({{.Containers}}, {{.Driver}}, {{.CgroupVersion}}, …).

import type { CommandSpec } from '../command';
import { formatOne } from '../output/format';
import { bytesSize } from '../output/units';
import { VERSION } from '../../daemon/version';

/** Go's runtime.GOARCH as `uname -m` names it (what Docker's Architecture shows). */
const UNAME_MACHINE: Record<string, string> = { amd64: 'x86_64', arm64: 'aarch64', '386': 'i686', arm: 'armv7l' };

export interface InfoDocument {
  ID: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  Driver: string;
  Snapshotters: string[];
  LoggingDriver: string;
  CgroupDriver: string;
  CgroupVersion: string;
  KernelVersion: string;
  OperatingSystem: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  Name: string;
  ServerVersion: string;
  DefaultRuntime: string;
  DockerRootDir: string;
  StateDir: string;
  GarbageCollection: boolean;
  ClientInfo: { Version: string; Context: string; Debug: boolean };
}

export function renderInfo(i: InfoDocument, debug: boolean): string {
  const lines = [
    'Client:',
    ` Version:    ${i.ClientInfo.Version}`,
    ' Context:    default',
    ` Debug Mode: ${debug}`,
    '',
    'Server:',
    ` Containers: ${i.Containers}`,
    `  Running: ${i.ContainersRunning}`,
    `  Paused: ${i.ContainersPaused}`,
    `  Stopped: ${i.ContainersStopped}`,
    ` Images: ${i.Images}`,
    ` Server Version: ${i.ServerVersion}`,
    ` Storage Driver: ${i.Driver}`,
    `  Snapshotters: ${i.Snapshotters.join(' ')}`,
    ` Logging Driver: ${i.LoggingDriver}`,
    ` Cgroup Driver: ${i.CgroupDriver}`,
    ` Cgroup Version: ${i.CgroupVersion}`,
    ` Runtimes: ${i.DefaultRuntime}`,
    ` Default Runtime: ${i.DefaultRuntime}`,
    ` Garbage Collection: ${i.GarbageCollection ? 'enabled' : 'disabled'}`,
    ` Kernel Version: ${i.KernelVersion}`,
    ` Operating System: ${i.OperatingSystem}`,
    ` OSType: ${i.OSType}`,
    ` Architecture: ${i.Architecture}`,
    ` CPUs: ${i.NCPU}`,
    ` Total Memory: ${bytesSize(i.MemTotal)}`,
    ` Name: ${i.Name}`,
    ` ID: ${i.ID}`,
    ` Berth Root Dir: ${i.DockerRootDir}`,
    ` Berth State Dir: ${i.StateDir}`,
  ];
  return lines.join('\n') + '\n';
}

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Display system-wide information',
  options: [{ long: 'format', short: 'f', type: 'string', description: "Format output using a custom template: 'json' or a Go template" }],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const s = await d.system.Info({});
    const doc: InfoDocument = {
      ID: s.id,
      Containers: s.containers,
      ContainersRunning: s.containersRunning,
      ContainersPaused: s.containersPaused,
      ContainersStopped: s.containersStopped,
      Images: s.images,
      Driver: s.storageDriver,
      Snapshotters: s.snapshotters,
      LoggingDriver: s.loggingDriver,
      CgroupDriver: s.cgroupDriver,
      CgroupVersion: s.cgroupVersion,
      KernelVersion: s.kernelVersion,
      OperatingSystem: s.operatingSystem,
      OSType: s.osType,
      Architecture: UNAME_MACHINE[s.architecture] ?? s.architecture,
      NCPU: s.ncpu,
      MemTotal: s.memTotal,
      Name: s.name,
      ServerVersion: s.serverVersion,
      DefaultRuntime: s.runtime,
      DockerRootDir: s.rootDir,
      StateDir: s.stateDir,
      GarbageCollection: s.gcEnabled,
      ClientInfo: { Version: VERSION, Context: 'default', Debug: ctx.globals.logLevel === 'debug' },
    };
    ctx.io.stdout.write(formatOne(doc, parsed.string('format')) ?? renderInfo(doc, ctx.globals.logLevel === 'debug'));
  },
};
