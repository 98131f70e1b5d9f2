import { execFile } from 'child_process';
import type { RuntimeContext } from './context';
import { loadContainer } from './load';
import { BerthError } from '../util/errors';

/** Every pid in the container's cgroup (host pids), ascending. */
export async function containerPids(ctx: RuntimeContext, id: string): Promise<number[]> {
  const c = await loadContainer(ctx, id);
  return (await c.cgroup.pids()).sort((a, b) => a - b);
}

/**
 * ps(1)'s output cut down to the container: the header, then only the lines whose PID column
 * holds one of `pids`. The column is found by its "PID" title, so any ps format that keeps it works.
 */
export function filterPsTable(output: string, pids: readonly number[]): string {
  const lines = output.split('\n');
  const header = lines[0] ?? '';
  const column = header.trim().split(/\s+/).indexOf('PID');
  if (column < 0) throw new BerthError('ERR_INVALID_ARGUMENT', `ps output has no PID column: ${JSON.stringify(header)}`);
  const wanted = new Set(pids);
  const kept = [header];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const field = line.trim().split(/\s+/)[column];
    if (field === undefined || !/^\d+$/.test(field)) throw new BerthError('ERR_INTERNAL', `cannot read a pid in ps output line ${JSON.stringify(line)}`);
    if (wanted.has(Number(field))) kept.push(line);
  }
  return kept.join('\n') + '\n';
}

/** Runs the host's ps with `psArgs` (default -ef) and keeps the container's processes. */
export async function psTable(ctx: RuntimeContext, id: string, psArgs: string[]): Promise<string> {
  const pids = await containerPids(ctx, id);
  const args = psArgs.length > 0 ? psArgs : ['-ef'];
  const output = await new Promise<string>((resolve, reject) => {
    execFile('ps', args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new BerthError('ERR_INVALID_ARGUMENT', `ps ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
  return filterPsTable(output, pids);
}
