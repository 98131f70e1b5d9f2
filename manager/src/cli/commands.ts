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

export const COMMANDS: CommandEntry[] = [
  {
    name: 'image',
    summary: 'Manage images',
    subcommands: [
      { name: 'load', summary: 'Load an image from a tar archive or STDIN', load },
      { name: 'save', summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)', load: save },
    ],
  },
  { name: 'load', summary: 'Load an image from a tar archive or STDIN', load },
  { name: 'save', summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)', load: save },
  { name: 'version', summary: 'Show the berth version information', load: version },
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
