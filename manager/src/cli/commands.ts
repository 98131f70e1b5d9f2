// The command table: every `berth` command, its one-line summary and how to load it.
//
// Modules are loaded only when their command runs (`import()`; esbuild keeps them in the one
// bundle but evaluates a module the first time it is imported), so `berth version` does not
// pay for the archive code and `berth --help` pays for no command at all. Summaries are here
// rather than in the modules for the same reason.
//
// Docker's layout: top-level commands, and management commands (`berth image …`) whose
// subcommands may also be reachable at the top (`berth load` = `berth image load`). To add a
// command: write commands/<name>.ts exporting `command: CommandSpec`, add a loader and a row.

import type { CommandModule } from './command';

export interface CommandEntry {
  name: string;
  summary: string;
  /** Loads the implementation; absent for a management command, which has subcommands. */
  load?: () => Promise<CommandModule>;
  subcommands?: CommandEntry[];
}

// One loader per implementation, shared by every name it has (help lists them as aliases).
const load = () => import('./commands/load');
const save = () => import('./commands/save');
const version = () => import('./commands/version');
// containers: lifecycle (run, create, start, stop, restart, kill, rm, wait, ps, inspect, rename)
const run = () => import('./commands/run');
const create = () => import('./commands/create');
const start = () => import('./commands/start');
const stop = () => import('./commands/stop');
const restart = () => import('./commands/restart');
const kill = () => import('./commands/kill');
const rm = () => import('./commands/rm');
const wait = () => import('./commands/wait');
const ps = () => import('./commands/ps');
const inspect = () => import('./commands/inspect');
const rename = () => import('./commands/rename');
const images = () => import('./commands/images');
const rmi = () => import('./commands/rmi');
const tag = () => import('./commands/tag');
const imageInspect = () => import('./commands/image-inspect');
const history = () => import('./commands/history');
const importImage = () => import('./commands/import');
const imagePrune = () => import('./commands/image-prune');
const info = () => import('./commands/info');
const systemDf = () => import('./commands/system-df');
const systemPrune = () => import('./commands/system-prune');
const cp = () => import('./commands/cp');
const exportContainer = () => import('./commands/export');
const diff = () => import('./commands/diff');
const completion = () => import('./commands/completion');
const attach = () => import('./commands/attach');
const exec = () => import('./commands/exec');
const logs = () => import('./commands/logs');
const events = () => import('./commands/events');
const pause = () => import('./commands/pause');
const port = () => import('./commands/port');
const stats = () => import('./commands/stats');
const top = () => import('./commands/top');
const unpause = () => import('./commands/unpause');
const update = () => import('./commands/update');
// networks (berth.networks.v1 in berthd)
const networkConnect = () => import('./commands/network-connect');
const networkCreate = () => import('./commands/network-create');
const networkDisconnect = () => import('./commands/network-disconnect');
const networkInspect = () => import('./commands/network-inspect');
const networkLs = () => import('./commands/network-ls');
const networkPrune = () => import('./commands/network-prune');
const networkRm = () => import('./commands/network-rm');
// volumes (berth.volumes.v1 in berthd)
const volumeCreate = () => import('./commands/volume-create');
const volumeInspect = () => import('./commands/volume-inspect');
const volumeLs = () => import('./commands/volume-ls');
const volumePrune = () => import('./commands/volume-prune');
const volumeRm = () => import('./commands/volume-rm');
// registries (berth.images.v1 in berthd)
const pull = () => import('./commands/pull');
const push = () => import('./commands/push');
const login = () => import('./commands/login');
const logout = () => import('./commands/logout');

export const COMMANDS: CommandEntry[] = [
  {
    name: 'image',
    summary: 'Manage images',
    subcommands: [
      { name: 'load', summary: 'Load an image from a tar archive or STDIN', load },
      { name: 'save', summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)', load: save },
      { name: 'ls', summary: 'List images', load: images },
      { name: 'rm', summary: 'Remove one or more images', load: rmi },
      { name: 'tag', summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', load: tag },
      { name: 'inspect', summary: 'Display detailed information on one or more images', load: imageInspect },
      { name: 'history', summary: 'Show the history of an image', load: history },
      { name: 'import', summary: 'Import the contents from a tarball to create a filesystem image', load: importImage },
      { name: 'prune', summary: 'Remove unused images', load: imagePrune },
      { name: 'pull', summary: 'Download an image from a registry', load: pull },
      { name: 'push', summary: 'Upload an image to a registry', load: push },
    ],
  },
  {
    name: 'network',
    summary: 'Manage networks',
    subcommands: [
      { name: 'connect', summary: 'Connect a container to a network', load: networkConnect },
      { name: 'create', summary: 'Create a network', load: networkCreate },
      { name: 'disconnect', summary: 'Disconnect a container from a network', load: networkDisconnect },
      { name: 'inspect', summary: 'Display detailed information on one or more networks', load: networkInspect },
      { name: 'ls', summary: 'List networks', load: networkLs },
      { name: 'prune', summary: 'Remove all unused networks', load: networkPrune },
      { name: 'rm', summary: 'Remove one or more networks', load: networkRm },
    ],
  },
  {
    name: 'volume',
    summary: 'Manage volumes',
    subcommands: [
      { name: 'create', summary: 'Create a volume', load: volumeCreate },
      { name: 'inspect', summary: 'Display detailed information on one or more volumes', load: volumeInspect },
      { name: 'ls', summary: 'List volumes', load: volumeLs },
      { name: 'prune', summary: 'Remove unused local volumes', load: volumePrune },
      { name: 'rm', summary: 'Remove one or more volumes', load: volumeRm },
    ],
  },
  {
    name: 'system',
    summary: 'Manage berth',
    subcommands: [
      { name: 'df', summary: 'Show berth disk usage', load: systemDf },
      { name: 'info', summary: 'Display system-wide information', load: info },
      { name: 'prune', summary: 'Remove unused data', load: systemPrune },
    ],
  },
  { name: 'load', summary: 'Load an image from a tar archive or STDIN', load },
  { name: 'save', summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)', load: save },
  { name: 'version', summary: 'Show the berth version information', load: version },
  { name: 'run', summary: 'Create and run a new container from an image', load: run },
  { name: 'create', summary: 'Create a new container', load: create },
  { name: 'start', summary: 'Start one or more stopped containers', load: start },
  { name: 'stop', summary: 'Stop one or more running containers', load: stop },
  { name: 'restart', summary: 'Restart one or more containers', load: restart },
  { name: 'kill', summary: 'Kill one or more running containers', load: kill },
  { name: 'rm', summary: 'Remove one or more containers', load: rm },
  { name: 'wait', summary: 'Block until one or more containers stop, then print their exit codes', load: wait },
  { name: 'ps', summary: 'List containers', load: ps },
  { name: 'inspect', summary: 'Return low-level information on berth objects', load: inspect },
  { name: 'rename', summary: 'Rename a container', load: rename },
  { name: 'images', summary: 'List images', load: images },
  { name: 'rmi', summary: 'Remove one or more images', load: rmi },
  { name: 'tag', summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', load: tag },
  { name: 'history', summary: 'Show the history of an image', load: history },
  { name: 'import', summary: 'Import the contents from a tarball to create a filesystem image', load: importImage },
  { name: 'info', summary: 'Display system-wide information', load: info },
  { name: 'cp', summary: 'Copy files/folders between a container and the local filesystem', load: cp },
  { name: 'export', summary: "Export a container's filesystem as a tar archive", load: exportContainer },
  { name: 'diff', summary: "Inspect changes to files or directories on a container's filesystem", load: diff },
  { name: 'completion', summary: 'Generate the shell completion script (bash)', load: completion },
  { name: 'attach', summary: 'Attach local standard input, output, and error streams to a running container', load: attach },
  { name: 'exec', summary: 'Execute a command in a running container', load: exec },
  { name: 'logs', summary: 'Fetch the logs of a container', load: logs },
  { name: 'events', summary: 'Get real time events from the server', load: events },
  { name: 'pause', summary: 'Pause all processes within one or more containers', load: pause },
  { name: 'port', summary: 'List port mappings or a specific mapping for the container', load: port },
  { name: 'stats', summary: "Display a live stream of container(s) resource usage statistics", load: stats },
  { name: 'top', summary: 'Display the running processes of a container', load: top },
  { name: 'unpause', summary: 'Unpause all processes within one or more containers', load: unpause },
  { name: 'update', summary: 'Update configuration of one or more containers', load: update },
  { name: 'pull', summary: 'Download an image from a registry', load: pull },
  { name: 'push', summary: 'Upload an image to a registry', load: push },
  { name: 'login', summary: 'Log in to a registry', load: login },
  { name: 'logout', summary: 'Log out from a registry', load: logout },
];

/** Finds the command `words` name: ['load'] or ['image', 'load']; `rest` is what follows it. */
export function findCommand(args: string[], table: CommandEntry[] = COMMANDS): { path: CommandEntry[]; rest: string[] } | undefined {
  const first = table.find((c) => c.name === args[0]);
  if (!first) return undefined;
  const path = [first];
  let rest = args.slice(1);
  let current = first;
  while (current.subcommands && rest.length > 0) {
    const sub = current.subcommands.find((c) => c.name === rest[0]);
    if (!sub) break;
    path.push(sub);
    current = sub;
    rest = rest.slice(1);
  }
  return { path, rest };
}

/** Every other name the same implementation has ("berth image load" for "berth load"). */
export function aliasesOf(entry: CommandEntry, table: CommandEntry[] = COMMANDS, prefix = 'berth'): string[] {
  const out: string[] = [];
  for (const c of table) {
    const name = `${prefix} ${c.name}`;
    if (c.load && c.load === entry.load) out.push(name);
    if (c.subcommands) out.push(...aliasesOf(entry, c.subcommands, name));
  }
  return out;
}
