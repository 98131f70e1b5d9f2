import { spawn } from 'child_process';
import { promises as fs } from 'fs';
import { join } from 'path';

/** How berthd starts one berth-shim (shim/PROTOCOL.md "Start"). Every path absolute. */
export interface ShimStartOptions {
  /** The berth-shim binary. */
  binary: string;
  id: string;
  namespace: string;
  /** DIR: shim.pid, control.sock, console sockets, exit files. Must exist. */
  stateDir: string;
  /** berth-init, which the shim starts with the sync socket at fd 3. */
  init: string;
  /** Where berthd listens for berth-init's sync connection (see listenSync). */
  syncSocket: string;
  logPath?: string;
  /** How the log is written: `cri` lines (the shim's default) or the `raw` bytes of both streams. */
  logFormat?: 'cri' | 'raw';
  logMaxSize?: number;
  stdin?: string;
  /** A stdin pipe without a FIFO: input comes from `attach` clients. */
  openStdin?: boolean;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
}

export interface StartedShim {
  /** The resident shim's pid (from DIR/shim.pid). */
  pid: number;
  stateDir: string;
  controlSocket: string;
}

export class ShimStartError extends Error {
  readonly code = 'ERR_SHIM_START';
}

/**
 * Runs berth-shim and resolves once it answers on DIR/control.sock: the process we spawn exits
 * when the double-forked shim is ready (0) or failed (1, the reason on stderr).
 */
export async function startShim(opts: ShimStartOptions): Promise<StartedShim> {
  const args = ['--id', opts.id, '--namespace', opts.namespace, '--state-dir', opts.stateDir, '--init', opts.init, '--sync-socket', opts.syncSocket];
  if (opts.logPath) args.push('--log-path', opts.logPath);
  if (opts.logFormat) args.push('--log-format', opts.logFormat);
  if (opts.logMaxSize !== undefined) args.push('--log-max-size', String(opts.logMaxSize));
  if (opts.stdin) args.push('--stdin', opts.stdin);
  if (opts.openStdin) args.push('--open-stdin');
  if (opts.stdout) args.push('--stdout', opts.stdout);
  if (opts.stderr) args.push('--stderr', opts.stderr);
  if (opts.terminal) args.push('--terminal');
  const child = spawn(opts.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, sig) => resolve(c ?? 128 + (sig ? 9 : 0)));
  });
  if (code !== 0) throw new ShimStartError(stderr.trim().replace(/^berth-shim: /, '') || `berth-shim exited with status ${code}`);
  const pid = Number((await fs.readFile(join(opts.stateDir, 'shim.pid'), 'utf8')).trim());
  return { pid, stateDir: opts.stateDir, controlSocket: join(opts.stateDir, 'control.sock') };
}
