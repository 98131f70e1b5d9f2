// `top`: a container's processes as the host's ps(1) lists them, filtered to the container's
// pids. Done as Docker's daemon does it, so `berth top c aux` or `berth top c -o pid,comm`
// give what `docker top` gives: ps runs on the host (host pids, host user names) with the
// user's options, first with `-q <pids>` (only those processes: cheap), and once more without
// it when ps refuses the combination (some BSD-style options do); then the output is parsed
// here. Pure functions; the service runs ps.

import { invalidArgument } from '../errors';

export interface TopResult {
  titles: string[];
  processes: string[][];
}

/** Docker's default options. */
export const DEFAULT_PS_ARGS = '-ef';

/** ps's argv for the user's options (split at spaces, as Docker does). */
export function psArgv(psArgs: string): string[] {
  const args = (psArgs.trim() || DEFAULT_PS_ARGS).split(' ').filter((a) => a !== '');
  // `-o x=PID` would relabel another column as PID and the filter would keep the wrong lines.
  for (const m of (' ' + args.join(' ')).matchAll(/\s+(\S*)=\s*(PID\S*)/g)) {
    if (m[1] !== 'pid') throw invalidArgument(`ps_args: specifying "${m[1]}=${m[2]}" is not allowed`);
  }
  return args;
}

/** The `-q` option ps takes to list only these pids. */
export const pidsArg = (pids: number[]): string[] => ['-q', pids.join(',')];

/** Splits at ASCII blanks only: a command with other whitespace stays one field. */
const fields = (line: string): string[] => line.split(/[ \t\n\v\f\r]+/).filter((f) => f !== '');

/**
 * The header's titles and the lines of `pids`. A thread line (PID "-", with `-m`) belongs to
 * the process line above it. The last title takes the rest of the line (the command's spaces).
 */
export function parsePs(output: string, pids: number[]): TopResult {
  const lines = output.split('\n');
  const titles = fields(lines[0] ?? '');
  const pidColumn = titles.indexOf('PID');
  if (pidColumn < 0) throw invalidArgument('ps_args: the ps output has no PID column (include pid in -o)');
  const wanted = new Set(pids);
  const processes: string[][] = [];
  let inContainer = false;
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const f = fields(line);
    const pidText = f[pidColumn];
    if (pidText === '-') {
      if (inContainer) processes.push(fit(f, titles.length));
      continue;
    }
    const pid = Number(pidText);
    if (!Number.isInteger(pid)) throw invalidArgument(`ps_args: unexpected pid ${JSON.stringify(pidText)} in the ps output`);
    inContainer = wanted.has(pid);
    if (inContainer) processes.push(fit(f, titles.length));
  }
  return { titles, processes };
}

function fit(f: string[], n: number): string[] {
  if (f.length <= n) return f;
  return [...f.slice(0, n - 1), f.slice(n - 1).join(' ')];
}
