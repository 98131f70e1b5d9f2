// Docker's LogPath for `inspect`: the file berthd's shims write a berth container's output to,
// <log_root>/<namespace>/<id>.log. log_root is berthd's configuration (the tasks plugin's), so
// the client asks for it: the berth-io plugin exports it through Introspection, as the
// berth-containers plugin exports containers_root for create.

import type { Daemon } from '../daemon';
import { containerLogPath } from '../../core/logs/path';

const IO_PLUGIN_ID = 'berth-io';

/** One Introspection call per connection, however many containers are inspected. */
const logRoots = new WeakMap<Daemon, Promise<string | undefined>>();

function logRoot(d: Daemon): Promise<string | undefined> {
  let root = logRoots.get(d);
  if (!root) {
    root = d.introspection.Plugins({ filters: [`id==${IO_PLUGIN_ID}`] }).then(({ plugins }) => plugins[0]?.exports?.log_root || undefined);
    logRoots.set(d, root);
  }
  return root;
}

/** The container's log file; '' when berthd keeps no logs (no berth-io plugin), as Docker's "none" driver shows. */
export async function logPathOf(d: Daemon, containerId: string): Promise<string> {
  const root = await logRoot(d);
  return root ? containerLogPath(root, d.namespace, containerId) : '';
}
