// Mounting a Mount list, through util-linux's mount(8) and umount(8).
//
// Why the commands and not a helper binary: Node has no mount(2) binding, and the calls here
// are rare (the overlay probe at open, tests, later the diff service and container rootfs
// set-up — which berth-init does in C anyway). mount(8) already does what we would otherwise
// write: bind + remount for `bind,ro`, option parsing, and error messages that name the cause.
// The cost is one fork/exec per mount (~2 ms). If a hot path ever needs it, a tiny static C
// helper in native-helper/ can replace run() without changing this module's API.
//
// Long overlay option strings: the kernel takes at most one page of mount data. A deep chain
// (absolute lowerdir paths, ~40 bytes each) exceeds that near 100 layers, so, as containerd
// does, mountAll() then runs mount(8) in the longest common directory of the layer paths and
// passes them relative to it (the kernel resolves them against the caller's cwd).

import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { ManagerError } from '../errors';
import type { Mount } from './types';

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Run a command; on failure the error message carries its stderr. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const msg = (stderr || err.message).trim();
        reject(new ManagerError('Internal', `${cmd} ${args.join(' ')}: ${msg}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

/** One page minus room for the source, type and a terminating NUL. */
const MAX_MOUNT_DATA = 4096 - 256;

const LAYER_OPTS = ['lowerdir', 'upperdir', 'workdir'];

function compactOverlay(options: string[]): { options: string[]; cwd?: string } {
  if (options.join(',').length <= MAX_MOUNT_DATA) return { options };
  const dirs: string[] = [];
  for (const o of options) {
    const [k, v] = splitOpt(o);
    if (LAYER_OPTS.includes(k) && v !== undefined) dirs.push(...v.split(':'));
  }
  if (dirs.length === 0 || dirs.some((d) => !path.isAbsolute(d))) return { options };
  let common = path.dirname(dirs[0]!);
  while (!dirs.every((d) => d.startsWith(common === '/' ? '/' : common + '/'))) common = path.dirname(common);
  const rel = options.map((o) => {
    const [k, v] = splitOpt(o);
    if (!LAYER_OPTS.includes(k) || v === undefined) return o;
    return `${k}=${v
      .split(':')
      .map((d) => path.relative(common, d))
      .join(':')}`;
  });
  return { options: rel, cwd: common };
}

function splitOpt(o: string): [string, string | undefined] {
  const i = o.indexOf('=');
  return i < 0 ? [o, undefined] : [o.slice(0, i), o.slice(i + 1)];
}

/** Mount every entry of the list at `target` (or target/<m.target>), in order. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  const done: string[] = [];
  try {
    for (const m of mounts) {
      const at = m.target ? path.join(target, m.target) : target;
      if (m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind')) {
        // no -t: mount(8) recognises the bind from the options, and does the read-only remount
        await run('mount', ['-o', m.options.join(','), m.source, at]);
      } else {
        const { options, cwd } = m.type === 'overlay' ? compactOverlay(m.options) : { options: m.options, cwd: undefined };
        await run('mount', ['-t', m.type, '-o', options.join(','), m.source, at], cwd ? { cwd } : {});
      }
      done.push(at);
    }
  } catch (err) {
    for (const at of done.reverse()) await unmount(at).catch(() => undefined);
    throw err;
  }
}

/** Unmount `target`; `recursive` also takes down mounts below it (umount -R). */
export async function unmount(target: string, opts: { recursive?: boolean; lazy?: boolean } = {}): Promise<void> {
  const args: string[] = [];
  if (opts.recursive) args.push('-R');
  if (opts.lazy) args.push('-l');
  await run('umount', [...args, target]);
}
