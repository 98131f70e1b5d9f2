// Persistent network namespaces: a new netns bind-mounted on a file, as `ip netns add` makes
// them, so it outlives any process and a container's berth-init can join it by path (the
// spec's linux.namespaces[network].path) on every start of the container.
//
// Node cannot unshare (it is multi-threaded), so util-linux's unshare(1) does it:
// `unshare --net=FILE true` creates the namespace and bind-mounts it on FILE. As `ip netns`
// does for /run/netns, the directory is made a mount point of its own with shared propagation
// first: an unmount of a namespace file then reaches every mount namespace that copied it
// (a process that cloned its mount namespace meanwhile would otherwise pin the netns forever).

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { isMountPoint } from '../mountinfo';

/** statfs f_type of nsfs (linux/magic.h NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve();
    });
  });
}

/** Whether `path` is a bind-mounted network namespace (nsfs), not a plain file. */
export async function isNetns(path: string): Promise<boolean> {
  try {
    const st = await fs.statfs(path);
    return st.type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

let dirReady: Promise<void> | undefined;
let dirReadyFor: string | undefined;

/** Makes `dir` a shared mount point of its own (once per process and directory). */
export function prepareNetnsDir(dir: string): Promise<void> {
  if (dirReady && dirReadyFor === dir) return dirReady;
  dirReadyFor = dir;
  dirReady = (async () => {
    await fs.mkdir(dir, { recursive: true, mode: 0o711 });
    if (!(await isMountPoint(dir))) await run('mount', ['--bind', dir, dir]);
    await run('mount', ['--make-shared', dir]);
  })();
  dirReady.catch(() => {
    dirReady = undefined;
  });
  return dirReady;
}

/**
 * Undoes prepareNetnsDir when no network namespace is mounted in `dir` any more (berthd
 * stopping with no container networks left), so an idle berthd leaves no mount behind. With
 * namespaces still mounted (containers that outlive this berthd) the directory stays mounted.
 */
export async function releaseNetnsDir(dir: string): Promise<void> {
  if (!(await isMountPoint(dir))) return;
  for (const f of await fs.readdir(dir).catch(() => [] as string[])) if (await isNetns(join(dir, f))) return;
  await run('umount', [dir]);
  if (dirReadyFor === dir) {
    dirReady = undefined;
    dirReadyFor = undefined;
  }
}

/** Creates a new network namespace mounted on `path` (an existing mounted one is an error). */
export async function createNetns(path: string): Promise<void> {
  await prepareNetnsDir(dirname(path));
  if (await isNetns(path)) throw new Error(`network namespace ${path} already exists`);
  await fs.writeFile(path, '', { mode: 0o444 });
  try {
    await run('unshare', [`--net=${path}`, 'true']);
  } catch (err) {
    await fs.rm(path, { force: true });
    throw err;
  }
}

/** Unmounts and removes a namespace file; a missing or unmounted one is fine. */
export async function removeNetns(path: string): Promise<void> {
  if (await isNetns(path)) {
    await run('umount', [path]).catch(async () => run('umount', ['-l', path]));
  }
  await fs.rm(path, { force: true });
}
