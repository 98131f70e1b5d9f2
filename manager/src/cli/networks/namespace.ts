// Where a new container's network namespace comes from, for its spec (spec.ts's `network`):
//
//   bridge, a user network   berthd's namespace of this container, <netns_root>/<ns>-<id>
//                            (the networks plugin's Introspection export), which berthd makes
//                            and attaches when the container record is created
//   host                     none of its own: the host's (and the host's name)
//   none                     a new empty one, made by berth-init (lo only)
//   container:<name|id>      the other container's: its namespace file when berthd made one
//                            (stable across that container's restarts, unlike /proc/<pid>/ns/net),
//                            else its running task's /proc/<pid>/ns/net; its /etc files and
//                            hostname too, as Docker shares them. The mode is recorded with the
//                            full id, as Docker records it.

import { hostname as osHostname } from 'node:os';
import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import { resolveContainer, runConfigOf, specOf, type ContainerRecord } from '../containers/resolve';
import { isNetworkMode } from './run-flags';

/** The networks plugin's id and its export naming the namespaces' directory (plugins/networks.ts). */
const NETWORKS_PLUGIN_ID = 'networks';
const NETNS_ROOT_EXPORT = 'netns_root';

export interface NamespacePlan {
  /** What buildSpec takes as `network` (undefined: a new empty namespace). */
  spec?: { path?: string; host?: boolean; etcDir?: string; hostname?: string };
  /** The mode to record (container:<full id>). */
  mode: string;
  /** Whether berthd sets this container's network up (the client waits for it after create). */
  berthd: boolean;
}

/** berthd's directory of network namespaces; CliError when it has no networks plugin. */
export async function netnsRoot(d: Daemon): Promise<string> {
  const { plugins } = await d.introspection.Plugins({ filters: [`id==${NETWORKS_PLUGIN_ID}`] });
  const p = plugins[0];
  const root = p?.exports?.[NETNS_ROOT_EXPORT];
  if (!root) {
    const why = p?.initErr?.message ? `: ${p.initErr.message}` : '';
    throw new CliError(`berthd's networks plugin is not running${why} (use --network none or host, or see berthd's log)`, 125);
  }
  return root;
}

/** The network namespace of a new container `id` in `namespace` for `mode`. */
export async function planNamespace(d: Daemon, mode: string, namespace: string, id: string, filesRoot: string): Promise<NamespacePlan> {
  if (mode === 'host') return { spec: { host: true, hostname: osHostname() }, mode, berthd: false };
  if (mode === 'none') return { mode, berthd: false };
  if (!mode.startsWith('container:')) {
    const [root] = await Promise.all([
      netnsRoot(d),
      // a user network must exist before the container does (Docker's create error)
      mode === 'bridge'
        ? undefined
        : d.networks.Get({ ref: mode }).catch((err: unknown) => {
            if (grpcCode(err) === NOT_FOUND) throw new CliError(`network ${mode} not found`, 125);
            throw err;
          }),
    ]);
    return { spec: { path: `${root}/${namespace}-${id}` }, mode, berthd: true };
  }

  let target: ContainerRecord = await resolveContainer(d, mode.slice('container:'.length)).catch((err: unknown) => {
    throw new CliError(`${(err as Error).message} (--network ${mode})`, 125);
  });
  // container:A where A is itself container:B is B's namespace.
  for (let depth = 0; ; depth++) {
    const m = runConfigOf(target)?.Host.NetworkMode ?? 'none';
    if (!m.startsWith('container:') || depth > 8) break;
    target = await resolveContainer(d, m.slice('container:'.length));
  }
  if (target.id === id) throw new CliError('cannot join own network namespace', 125);
  const targetMode = runConfigOf(target)?.Host.NetworkMode ?? 'none';
  const etc = { etcDir: `${filesRoot}/${namespace}/${target.id}`, hostname: specOf(target).hostname ?? target.id.slice(0, 12) };
  const recorded = `container:${target.id}`;
  if (targetMode === 'host') return { spec: { host: true, ...etc }, mode: recorded, berthd: false };
  if (isNetworkMode(targetMode)) {
    return { spec: { path: `${await netnsRoot(d)}/${namespace}-${target.id}`, ...etc }, mode: recorded, berthd: false };
  }
  // none (or a container from before networks): its task's namespace, so it must be running
  const task = await d.tasks.Get({ containerId: target.id }).catch((err: unknown) => {
    if (grpcCode(err) === NOT_FOUND) return undefined;
    throw err;
  });
  const pid = task?.process?.pid;
  if (!pid || task?.process?.status !== 'RUNNING') throw new CliError(`cannot join network namespace of a non running container: ${target.name}`, 125);
  return { spec: { path: `/proc/${pid}/ns/net`, ...etc }, mode: recorded, berthd: false };
}
