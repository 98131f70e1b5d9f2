// What Docker keeps about a container that neither containerd's record nor its OCI spec says:
// the command as the user gave it (before the entrypoint was joined on), the host-side options
// (--add-host, --dns, -v, --restart, ...). The client writes it at create as the container
// extension RUN_CONFIG_EXTENSION (JSON; an extension, not a label: labels are limited to 4 KiB);
// `inspect` reads it back and berthd reads ExtraHosts/Dns for the container's /etc files.

/** containers.extensions key and the Any's type url. */
export { RUN_CONFIG as RUN_CONFIG_EXTENSION } from './labels';
export const RUN_CONFIG_TYPE_URL = 'berth.dev/run-config/v1';

export interface RunConfig {
  /** The image as the user typed it ("busybox"). */
  Image: string;
  /** The image's id (its config digest), Docker's .Image. */
  ImageID: string;
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  Env: string[];
  WorkingDir: string;
  User: string;
  Labels: Record<string, string>;
  Tty: boolean;
  OpenStdin: boolean;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  StopSignal: string;
  StopTimeout: number | null;
  Volumes: Record<string, Record<string, never>> | null;
  /** The container's mounts besides its rootfs and /etc files (-v, --mount, --volumes-from, the
   *  image's VOLUMEs), as inspect shows them; volumes here are what berthd counts as in use
   *  (core/volumes). Absent in records made before volumes. */
  Mounts?: MountPoint[];
  Host: {
    Binds: string[];
    ExtraHosts: string[];
    Dns: string[];
    Tmpfs: Record<string, string>;
    Devices: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[];
    CapAdd: string[];
    CapDrop: string[];
    SecurityOpt: string[];
    Privileged: boolean;
    ReadonlyRootfs: boolean;
    Init: boolean;
    AutoRemove: boolean;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    ShmSize: number;
    Memory: number;
    MemorySwap: number;
    NanoCpus: number;
    CpuShares: number;
    CpuPeriod: number;
    CpuQuota: number;
    CpusetCpus: string;
    CpusetMems: string;
    PidsLimit: number | null;
    OomKillDisable: boolean;
    Ulimits: { Name: string; Soft: number; Hard: number }[];
    /** --cidfile: kept for inspect (Docker's HostConfig.ContainerIDFile). */
    ContainerIDFile: string;
    /** --volumes-from as given, and --mount as Docker's HostConfig.Mounts. */
    VolumesFrom?: string[];
    Mounts?: MountSpec[];
    /** Networking (core/networks; absent in records made before networks: "none" then).
     *  --network: "bridge" (the default network), "host", "none", "container:<id>" or a
     *  user network's name. */
    NetworkMode?: string;
    /** -p as Docker's HostConfig.PortBindings ("80/tcp" → [{HostIp, HostPort}]); -P. */
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
    PublishAllPorts?: boolean;
    /** --link as Docker keeps it: "/<target name>:/<this name>/<alias>". */
    Links?: string[];
    DnsSearch?: string[];
    DnsOptions?: string[];
  };
  /** The image's EXPOSE and --expose ("80/tcp"), Docker's Config.ExposedPorts. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** --network-alias and --ip: the container's endpoint on its first network (Docker's
   *  NetworkingConfig.EndpointsConfig[network]). */
  Networking?: { Aliases: string[]; IPv4Address: string };
}

/** One mount as Docker's inspect shows it (its MountPoint): Name and Driver for volumes only. */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

/** A --mount as Docker's HostConfig.Mounts keeps it. */
export interface MountSpec {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation: string };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name: string; Options: Record<string, string> } };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/** Parses the extension's bytes; undefined when absent or not ours. */
export function parseRunConfig(ext: { typeUrl: string; value: Uint8Array } | undefined): RunConfig | undefined {
  if (!ext || ext.typeUrl !== RUN_CONFIG_TYPE_URL) return undefined;
  try {
    return JSON.parse(Buffer.from(ext.value).toString('utf8')) as RunConfig;
  } catch {
    return undefined;
  }
}
