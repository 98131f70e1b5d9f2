// Confined path resolution: a layer entry may never write outside the target directory.
//
// Names are cleaned lexically first ("/abs" means "abs" under the root, "a/../b" means "b";
// a ".." that climbs above the root is refused). Then the parent directories are walked one
// component at a time with lstat. A symlink met on the way is resolved the way it would be
// inside the container, against the target as "/" (an absolute target starts again at the
// root, a relative one from the link's directory); if that resolution climbs above the root
// the entry is refused. The last component is never followed: the caller creates or
// replaces it with calls that act on the link itself.
//
// This is race-free only while nothing else writes the tree, which holds for a snapshot
// being prepared: the layer being applied is its only writer.

import { lstat, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagerError, invalidArgument } from '../errors';

const MAX_SYMLINKS = 40; // Linux's limit per lookup

export function describe(name: string): string {
  const shown = name.length > 1024 ? `${name.slice(0, 1024)}…` : name;
  return JSON.stringify(shown);
}

/** Components of a tar name, cleaned; [] is the root itself. */
export function cleanName(name: string, what = 'entry'): string[] {
  if (name.includes('\0')) throw invalidArgument(`${what} ${describe(name)}: name contains a NUL byte`);
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw invalidArgument(`${what} ${describe(name)}: path escapes the target directory`);
      out.pop();
    } else out.push(part);
  }
  return out;
}

export const relPath = (parts: string[]) => parts.join('/');

function fsError(entry: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (err instanceof ManagerError) return err;
  const inputFault = ['ENOTDIR', 'ENAMETOOLONG', 'EEXIST', 'ELOOP', 'EINVAL', 'ENOENT', 'EISDIR', 'ENOTEMPTY'];
  const kind = inputFault.includes(err.code ?? '') ? 'InvalidArgument' : 'Internal';
  return new ManagerError(kind, `entry ${describe(entry)}: ${err.message}`);
}

export { fsError };

export interface ResolveOptions {
  /** create missing directories (0755, root-owned) and report each one */
  create?: (relParts: string[]) => void;
  /** a missing component gives null instead of an error */
  missingOk?: boolean;
  /**
   * Real relative paths already known to be directories (no symlink on the way): not looked
   * at again. Every directory this walk finds or creates is added. The caller keeps it true:
   * it drops whatever it removes.
   */
  known?: Set<string>;
}

/**
 * The real (symlink-free) components of a directory inside root, resolving symlinks met on
 * the way as if root were "/". Throws, naming the entry, if a symlink leads above the root,
 * a component is not a directory, or (without create) a component is missing.
 */
export async function resolveDir(root: string, parts: string[], entry: string, opts?: ResolveOptions & { missingOk?: false }): Promise<string[]>;
export async function resolveDir(root: string, parts: string[], entry: string, opts: ResolveOptions): Promise<string[] | null>;
export async function resolveDir(root: string, parts: string[], entry: string, opts: ResolveOptions = {}): Promise<string[] | null> {
  const queue = [...parts];
  const cur: string[] = [];
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (cur.length === 0) {
        throw invalidArgument(`entry ${describe(entry)}: a symlink on its path leads outside the target directory`);
      }
      cur.pop();
      continue;
    }
    const key = relPath([...cur, c]);
    if (opts.known?.has(key)) {
      cur.push(c);
      continue;
    }
    const p = join(root, key);
    let st;
    try {
      st = await lstat(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(entry, e);
      if (opts.missingOk && !opts.create) return null;
      if (!opts.create) throw invalidArgument(`entry ${describe(entry)}: ${describe(relPath([...cur, c]))} does not exist`);
      try {
        await mkdir(p, 0o755);
      } catch (e2) {
        throw fsError(entry, e2);
      }
      cur.push(c);
      opts.known?.add(key);
      opts.create([...cur]);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINKS) throw invalidArgument(`entry ${describe(entry)}: too many levels of symbolic links`);
      const target = await readlink(p);
      if (target.startsWith('/')) cur.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    if (!st.isDirectory()) {
      throw invalidArgument(`entry ${describe(entry)}: ${describe(relPath([...cur, c]))} is not a directory`);
    }
    cur.push(c);
    opts.known?.add(key);
  }
  return cur;
}
