// Filesystem helpers for the snapshotters (fs/promises only).

import { lstat, opendir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { Usage } from './types';

/**
 * Disk usage of a tree, as `du` counts it: allocated blocks × 512 (not the apparent size, so
 * sparse files count what they occupy), each inode once however many hard links reach it,
 * the root directory included. It does not stop at mount points: the snapshot directories
 * it measures hold none.
 */
export async function diskUsage(root: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      size += Number(st.blocks) * 512;
    }
    if (!st.isDirectory()) return;
    const dir = await opendir(p);
    const names: string[] = [];
    for await (const ent of dir) names.push(ent.name);
    // bounded fan-out: lstat the entries of one directory together, descend one at a time
    for (let i = 0; i < names.length; i += 64) {
      await Promise.all(names.slice(i, i + 64).map((n) => visit(path.join(p, n))));
    }
  };
  await visit(root);
  return { size, inodes: seen.size };
}

export async function removeAll(p: string): Promise<void> {
  await rm(p, { recursive: true, force: true, maxRetries: 3 });
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
