// The volume directories on disk: how big, whether empty, whether something is mounted there,
// and their removal — which never descends into a filesystem still mounted under them (a
// volume with `-o o=bind,device=/srv/x` would otherwise take /srv/x's files with it).

import { lstat, opendir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mountsAt } from '../mountinfo';

/** Bytes of the regular files (and symlinks) under `dir`, each hard-linked inode once; Docker's
 *  directory size. A tree changing meanwhile is counted as found; a missing dir is 0. */
export async function dirSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        await walk(p);
        continue;
      }
      if (st.nlink > 1) {
        const id = `${st.dev}:${st.ino}`;
        if (seen.has(id)) continue;
        seen.add(id);
      }
      total += st.size;
    }
  };
  await walk(dir);
  return total;
}

/** True when `dir` has no entries (or does not exist). */
export async function isEmptyDir(dir: string): Promise<boolean> {
  let d;
  try {
    d = await opendir(dir);
  } catch {
    return true;
  }
  try {
    return (await d.read()) === null;
  } finally {
    await d.close().catch(() => undefined);
  }
}

export { mountsAt };

/** Removes `dir` and everything below it; refuses (throws) while a filesystem is mounted there. */
export async function removeTree(dir: string): Promise<void> {
  const mounted = await mountsAt(dir);
  if (mounted.length > 0) throw new Error(`${mounted[0]} is still mounted: not removing ${dir}`);
  await rm(dir, { recursive: true, force: true });
}
