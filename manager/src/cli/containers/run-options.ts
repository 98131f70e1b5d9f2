// The options of `berth run` and `berth create` (Docker's names and meanings), and turning the
// parsed command line into RunOptions: values checked and converted (sizes to bytes, --cpus to
// a quota, ulimits, devices, restart policy), files read (--env-file, --label-file). What the
// options do to the container is spec.ts's business.

import { readFile } from 'node:fs/promises';
import type { OptionSpec, ParsedArgs } from '../options';
import { UsageError } from '../errors';
import { parsePolicy } from '../../core/containers/restart';
import type { MountSpec } from '../../core/containers/run-config';
import { parseMountFlag, parseVolumeFlag, parseVolumesFrom, type MountRequest, type VolumesFrom } from '../volumes/flags';
import { NETWORK_OPTIONS, parseNetworkOptions, type NetworkOptions } from '../networks/run-flags';

export const CREATE_OPTIONS: OptionSpec[] = ([
  { long: 'add-host', type: 'list', description: 'Add a custom host-to-IP mapping (host:ip)' },
  { long: 'attach', short: 'a', type: 'list', description: 'Attach to STDIN, STDOUT or STDERR' },
  { long: 'cap-add', type: 'list', description: 'Add Linux capabilities' },
  { long: 'cap-drop', type: 'list', description: 'Drop Linux capabilities' },
  { long: 'cidfile', type: 'string', description: 'Write the container ID to the file' },
  { long: 'cpu-period', type: 'string', valueName: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { long: 'cpu-quota', type: 'string', valueName: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { long: 'cpu-shares', short: 'c', type: 'string', valueName: 'int', description: 'CPU shares (relative weight)' },
  { long: 'cpus', type: 'string', valueName: 'decimal', description: 'Number of CPUs' },
  { long: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { long: 'cpuset-mems', type: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
  { long: 'device', type: 'list', description: 'Add a host device to the container' },
  { long: 'dns', type: 'list', description: 'Set custom DNS servers' },
  { long: 'entrypoint', type: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { long: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
  { long: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
  { long: 'hostname', short: 'h', type: 'string', description: 'Container host name' },
  { long: 'init', type: 'boolean', description: 'Run an init inside the container that forwards signals and reaps processes' },
  { long: 'interactive', short: 'i', type: 'boolean', description: 'Keep STDIN open even if not attached' },
  { long: 'label', short: 'l', type: 'list', description: 'Set meta data on a container' },
  { long: 'label-file', type: 'list', description: 'Read in a line delimited file of labels' },
  { long: 'memory', short: 'm', type: 'string', valueName: 'bytes', description: 'Memory limit' },
  { long: 'memory-swap', type: 'string', valueName: 'bytes', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { long: 'mount', type: 'list', valueName: 'mount', description: 'Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=,target=,readonly,volume-opt=k=v,tmpfs-size=)' },
  { long: 'name', type: 'string', description: 'Assign a name to the container' },
  { long: 'oom-kill-disable', type: 'boolean', description: 'Disable OOM Killer' },
  { long: 'pids-limit', type: 'string', valueName: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  { long: 'privileged', type: 'boolean', description: 'Give extended privileges to this container' },
  { long: 'pull', type: 'string', description: 'Pull image before running ("always", "missing", "never")', defaultText: '"missing"' },
  { long: 'read-only', type: 'boolean', description: "Mount the container's root filesystem as read only" },
  { long: 'restart', type: 'string', description: 'Restart policy to apply when a container exits', defaultText: '"no"' },
  { long: 'rm', type: 'boolean', description: 'Automatically remove the container when it exits' },
  { long: 'security-opt', type: 'list', description: 'Security Options (seccomp=unconfined|PROFILE.json, no-new-privileges)' },
  { long: 'shm-size', type: 'string', valueName: 'bytes', description: 'Size of /dev/shm' },
  { long: 'stop-signal', type: 'string', description: 'Signal to stop the container' },
  { long: 'stop-timeout', type: 'string', valueName: 'int', description: 'Timeout (in seconds) to stop a container' },
  { long: 'tmpfs', type: 'list', description: 'Mount a tmpfs directory' },
  { long: 'tty', short: 't', type: 'boolean', description: 'Allocate a pseudo-TTY' },
  { long: 'ulimit', type: 'list', description: 'Ulimit options' },
  { long: 'user', short: 'u', type: 'string', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { long: 'volume', short: 'v', type: 'list', description: 'Bind mount a volume (/host/path:/ctr/path, NAME:/ctr/path or /ctr/path; [:ro])' },
  { long: 'volumes-from', type: 'list', description: 'Mount volumes from the specified container(s) (CONTAINER[:ro|rw])' },
  { long: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  ...NETWORK_OPTIONS,
  // by code point, not localeCompare: the first localeCompare of a process sets up ICU's
  // collator (~7 ms of every `berth run`); option names are ASCII, so the order is the same
] as OptionSpec[]).sort((a, b) => (a.long < b.long ? -1 : a.long > b.long ? 1 : 0));

export const RUN_ONLY_OPTIONS: OptionSpec[] = [
  { long: 'detach', short: 'd', type: 'boolean', description: 'Run container in background and print container ID' },
  { long: 'sig-proxy', type: 'boolean', description: 'Proxy received signals to the process', defaultText: 'true' },
];

export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

export interface DeviceMapping {
  pathOnHost: string;
  pathInContainer: string;
  permissions: string;
}

export interface BindMount {
  source: string;
  destination: string;
  readonly: boolean;
  spec: string;
}

/** --pull: when run/create fetch the image from its registry first (Docker's). */
export type PullPolicy = 'always' | 'missing' | 'never';

export interface RunOptions {
  image: string;
  pull: PullPolicy;
  /** The command after the image (empty: the image's Cmd). */
  command: string[];
  detach: boolean;
  interactive: boolean;
  tty: boolean;
  rm: boolean;
  name?: string;
  /** -e and --env-file, in order, KEY=VALUE (a bare KEY taken from berth's environment). */
  env: string[];
  workdir?: string;
  user?: string;
  /** undefined: the image's; '' resets it (Docker's --entrypoint ""). */
  entrypoint?: string;
  hostname?: string;
  labels: Record<string, string>;
  memory: number;
  memorySwap: number;
  nanoCpus: number;
  cpuShares: number;
  cpuPeriod: number;
  cpuQuota: number;
  cpusetCpus: string;
  cpusetMems: string;
  pidsLimit?: number;
  ulimits: Ulimit[];
  readOnly: boolean;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  devices: DeviceMapping[];
  init: boolean;
  restart: string;
  stopSignal?: string;
  stopTimeout?: number;
  cidfile?: string;
  sigProxy: boolean;
  attach: ('stdin' | 'stdout' | 'stderr')[];
  tmpfs: Record<string, string>;
  shmSize: number;
  oomKillDisable: boolean;
  addHost: string[];
  dns: string[];
  /** -v host binds (also in `mountRequests`). */
  binds: BindMount[];
  /** -v and --mount in the order given: binds, named and anonymous volumes, tmpfs (cli/volumes/flags.ts). */
  mountRequests: MountRequest[];
  /** --mount as Docker's HostConfig.Mounts, for inspect. */
  mountSpecs: MountSpec[];
  /** -v NAME:/path specs (Docker's HostConfig.Binds lists them with the host binds). */
  volumeBinds: string[];
  /** -v /path destinations (Docker's Config.Volumes adds them to the image's). */
  anonymousVolumes: string[];
  volumesFrom: VolumesFrom[];
  /** --network, -p, -P, --expose, --ip, --network-alias, --link, --dns-search, --dns-option (cli/networks). */
  net: NetworkOptions;
}

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Docker's RAMInBytes: "512m", "1g", "100k", "1024" (bytes); binary units; "b" suffix optional after the unit. */
export function parseBytes(value: string, flag: string, commandPath: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtpb]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) throw new UsageError(`invalid argument "${value}" for "--${flag}" flag: invalid size: '${value}'`, commandPath);
  return Math.round(Number(m[1]) * UNITS[(m[2] || 'b').toLowerCase()]!);
}

function parseInteger(value: string | undefined, flag: string, commandPath: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`invalid argument "${value}" for "--${flag}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`, commandPath);
  return Number(value);
}

/** The ulimit names Docker accepts (RLIMIT_<NAME>). */
const ULIMITS = new Set(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack', 'as']);

export function parseUlimit(v: string, commandPath: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(v);
  if (!m || !ULIMITS.has(m[1]!)) throw new UsageError(`invalid argument "${v}" for "--ulimit" flag: invalid ulimit (want name=soft[:hard], name one of ${[...ULIMITS].join(', ')})`, commandPath);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  // -1 is unlimited (RLIM_INFINITY, as Docker takes it); no other negative number means anything
  for (const [which, n] of [['soft', soft], ['hard', hard]] as const) {
    if (n < -1) throw new UsageError(`invalid argument "${v}" for "--ulimit" flag: ${which} limit ${n}: give a number of 0 or more, or -1 for unlimited`, commandPath);
  }
  const above = soft === -1 ? hard !== -1 : hard !== -1 && soft > hard;
  if (above) throw new UsageError(`invalid argument "${v}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: ${soft === -1 ? 'unlimited' : soft} > ${hard}`, commandPath);
  return { name: m[1]!, soft, hard };
}

/** --device /dev/x[:/dev/y][:rwm] */
export function parseDevice(v: string, commandPath: string): DeviceMapping {
  const parts = v.split(':');
  const pathOnHost = parts[0]!;
  let pathInContainer = pathOnHost;
  let permissions = 'rwm';
  if (parts.length === 2) {
    if (/^[rwm]+$/.test(parts[1]!)) permissions = parts[1]!;
    else pathInContainer = parts[1]!;
  } else if (parts.length === 3) {
    pathInContainer = parts[1]!;
    permissions = parts[2]!;
  } else if (parts.length > 3) {
    throw new UsageError(`invalid argument "${v}" for "--device" flag: invalid device specification`, commandPath);
  }
  if (!pathOnHost.startsWith('/') || !pathInContainer.startsWith('/') || !/^[rwm]+$/.test(permissions)) {
    throw new UsageError(`invalid argument "${v}" for "--device" flag: invalid device specification`, commandPath);
  }
  return { pathOnHost, pathInContainer, permissions };
}

/** -v, --mount and --volumes-from, parsed (cli/volumes/flags.ts); -v host binds also in the BindMount form. */
function mountOptions(parsed: ParsedArgs, commandPath: string): Pick<RunOptions, 'binds' | 'mountRequests' | 'mountSpecs' | 'volumeBinds' | 'anonymousVolumes' | 'volumesFrom'> {
  const binds: BindMount[] = [];
  const mountRequests: MountRequest[] = [];
  const volumeBinds: string[] = [];
  const anonymousVolumes: string[] = [];
  for (const v of parsed.list('volume')) {
    const r = parseVolumeFlag(v, commandPath);
    mountRequests.push(r);
    if (r.kind === 'bind') binds.push({ source: r.source, destination: r.destination, readonly: r.readonly, spec: v });
    else if (r.name !== '') volumeBinds.push(v);
    else anonymousVolumes.push(r.destination);
  }
  const mountSpecs: MountSpec[] = [];
  for (const m of parsed.list('mount')) {
    const { request, spec } = parseMountFlag(m, commandPath);
    mountRequests.push(request);
    mountSpecs.push(spec);
  }
  return { binds, mountRequests, mountSpecs, volumeBinds, anonymousVolumes, volumesFrom: parsed.list('volumes-from').map((v) => parseVolumesFrom(v, commandPath)) };
}

/** KEY=VALUE lines; "#" comments and blank lines skipped; a bare KEY takes berth's own value (or is left out). */
export function parseEnvLines(text: string, env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    out.push(...resolveEnv(line, env));
  }
  return out;
}

export function resolveEnv(entry: string, env: Record<string, string | undefined>): string[] {
  if (entry.includes('=')) return [entry];
  const v = env[entry];
  return v === undefined ? [] : [`${entry}=${v}`];
}

export async function parseRunOptions(parsed: ParsedArgs, commandPath: string, env: Record<string, string | undefined>, opts: { run: boolean }): Promise<RunOptions> {
  const [image, ...command] = parsed.args;
  const fail = (m: string) => new UsageError(m, commandPath);
  const envs: string[] = [];
  for (const f of parsed.list('env-file')) envs.push(...parseEnvLines(await readFile(f, 'utf8'), env));
  for (const e of parsed.list('env')) envs.push(...resolveEnv(e, env));
  const labels: Record<string, string> = {};
  const addLabel = (l: string) => {
    const eq = l.indexOf('=');
    const key = eq === -1 ? l : l.slice(0, eq);
    if (key === '') throw fail(`invalid label "${l}": empty name`);
    if (key.startsWith('berth/')) throw fail(`invalid label "${l}": the berth/ prefix is berth's own`);
    labels[key] = eq === -1 ? '' : l.slice(eq + 1);
  };
  for (const f of parsed.list('label-file')) {
    for (const line of (await readFile(f, 'utf8')).split(/\r?\n/)) if (line.trim() !== '' && !line.trim().startsWith('#')) addLabel(line.trim());
  }
  for (const l of parsed.list('label')) addLabel(l);

  const memory = parsed.has('memory') ? parseBytes(parsed.string('memory')!, 'memory', commandPath) : 0;
  let memorySwap = 0;
  const swap = parsed.string('memory-swap');
  if (swap !== undefined) memorySwap = swap.trim() === '-1' ? -1 : parseBytes(swap, 'memory-swap', commandPath);
  if (memorySwap > 0 && memory === 0) throw fail('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (memorySwap > 0 && memorySwap < memory) throw fail('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory > 0 && memory < 6 * 1024 * 1024) throw fail('Minimum memory limit allowed is 6MB');

  let nanoCpus = 0;
  const cpus = parsed.string('cpus');
  if (cpus !== undefined) {
    const n = Number(cpus);
    if (!/^\d+(\.\d+)?$/.test(cpus.trim()) || !Number.isFinite(n)) throw fail(`invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`);
    nanoCpus = Math.round(n * 1e9);
  }
  const cpuPeriod = parseInteger(parsed.string('cpu-period'), 'cpu-period', commandPath) ?? 0;
  const cpuQuota = parseInteger(parsed.string('cpu-quota'), 'cpu-quota', commandPath) ?? 0;
  if (nanoCpus > 0 && (cpuPeriod > 0 || cpuQuota > 0)) throw fail('Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set');
  const cpuShares = parseInteger(parsed.string('cpu-shares'), 'cpu-shares', commandPath) ?? 0;

  const restart = parsed.string('restart') ?? 'no';
  try {
    parsePolicy(restart);
  } catch (err) {
    throw fail(`invalid restart policy: ${(err as Error).message}`);
  }
  const rm = parsed.bool('rm');
  if (rm && restart !== 'no' && restart !== '') throw fail('Conflicting options: --restart and --rm');

  const detach = opts.run && parsed.bool('detach');
  const attach = parsed.list('attach').map((a) => {
    const s = a.toLowerCase();
    if (s !== 'stdin' && s !== 'stdout' && s !== 'stderr') throw fail(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
    return s as 'stdin' | 'stdout' | 'stderr';
  });
  if (detach && attach.length > 0) throw fail('Conflicting options: -a and -d');

  const stopTimeout = parseInteger(parsed.string('stop-timeout'), 'stop-timeout', commandPath);
  const pidsLimit = parseInteger(parsed.string('pids-limit'), 'pids-limit', commandPath);
  const tmpfs: Record<string, string> = {};
  for (const t of parsed.list('tmpfs')) {
    const colon = t.indexOf(':');
    const dest = colon === -1 ? t : t.slice(0, colon);
    if (!dest.startsWith('/')) throw fail(`invalid argument "${t}" for "--tmpfs" flag: invalid mount path: '${dest}' mount path must be absolute`);
    tmpfs[dest] = colon === -1 ? '' : t.slice(colon + 1);
  }
  for (const h of parsed.list('add-host')) {
    const colon = h.indexOf(':');
    if (colon <= 0 || colon === h.length - 1) throw fail(`invalid argument "${h}" for "--add-host" flag: bad format for add-host: "${h}"`);
  }
  const secOpts = parsed.list('security-opt');
  for (const s of secOpts) {
    if (!/^(seccomp[=:].+|no-new-privileges(:(true|false))?|no-new-privileges=(true|false))$/.test(s)) {
      throw fail(`invalid --security-opt: "${s}" (supported: seccomp=unconfined|PROFILE.json, no-new-privileges)`);
    }
  }
  const pull = parsed.string('pull') ?? 'missing';
  if (pull !== 'always' && pull !== 'missing' && pull !== 'never') throw fail(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`);
  const stopSignal = parsed.string('stop-signal');
  if (stopSignal !== undefined && !/^(SIG)?[A-Z0-9+-]+$|^\d+$/i.test(stopSignal)) throw fail(`invalid signal: ${stopSignal}`);

  return {
    image: image!,
    pull,
    command,
    detach,
    interactive: parsed.bool('interactive'),
    tty: parsed.bool('tty'),
    rm,
    ...(parsed.has('name') ? { name: parsed.string('name')! } : {}),
    env: envs,
    ...(parsed.has('workdir') ? { workdir: parsed.string('workdir')! } : {}),
    ...(parsed.has('user') ? { user: parsed.string('user')! } : {}),
    ...(parsed.has('entrypoint') ? { entrypoint: parsed.string('entrypoint')! } : {}),
    ...(parsed.has('hostname') ? { hostname: parsed.string('hostname')! } : {}),
    labels,
    memory,
    memorySwap,
    nanoCpus,
    cpuShares,
    cpuPeriod,
    cpuQuota,
    cpusetCpus: parsed.string('cpuset-cpus') ?? '',
    cpusetMems: parsed.string('cpuset-mems') ?? '',
    ...(pidsLimit !== undefined ? { pidsLimit } : {}),
    ulimits: parsed.list('ulimit').map((u) => parseUlimit(u, commandPath)),
    readOnly: parsed.bool('read-only'),
    privileged: parsed.bool('privileged'),
    capAdd: parsed.list('cap-add'),
    capDrop: parsed.list('cap-drop'),
    securityOpt: secOpts,
    devices: parsed.list('device').map((d) => parseDevice(d, commandPath)),
    init: parsed.bool('init'),
    restart,
    ...(stopSignal !== undefined ? { stopSignal } : {}),
    ...(stopTimeout !== undefined ? { stopTimeout } : {}),
    ...(parsed.has('cidfile') ? { cidfile: parsed.string('cidfile')! } : {}),
    sigProxy: parsed.has('sig-proxy') ? parsed.bool('sig-proxy') : true,
    attach,
    tmpfs,
    shmSize: parsed.has('shm-size') ? parseBytes(parsed.string('shm-size')!, 'shm-size', commandPath) : 0,
    oomKillDisable: parsed.bool('oom-kill-disable'),
    addHost: parsed.list('add-host'),
    dns: parsed.list('dns'),
    ...mountOptions(parsed, commandPath),
    net: parseNetworkOptions(parsed, commandPath),
  };
}
