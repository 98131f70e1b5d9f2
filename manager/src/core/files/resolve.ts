// Paths inside a container, resolved as the container would resolve them: every symlink met
// is read against the container's root as "/" (an absolute target starts again at the root,
// ".." never climbs above it, as the kernel's lookup stays at "/"), and each component is
// looked up where the container sees it — the rootfs, or the source of a bind mount over it
// (view.ts). So a path given by a user, or a link in the container, never leads berthd
// outside the container's own files.

import { lstat, readlink } from 'node:fs/promises';
import { notFound } from '../errors';
import { locate, pathComponents, plainView, type ContainerView, type Location } from './view';

export interface ResolvedPath {
  /** The real (symlink-free) components of the parent directory, relative to the root. */
  dir: string[];
  /** The last component as given ('' for the root itself). */
  base: string;
  /** The absolute host path of the entry (the link itself when the last component is one). */
  host: string;
  /** The entry's path in the container ("/etc/passwd"), the last component unresolved. */
  containerPath: string;
  /** Where the entry is on the host: the rootfs or a bind mount's source. */
  location: Location;
}

/** A container's view, or a plain directory taken as a root without mounts. */
export type Root = string | ContainerView;

const MAX_SYMLINKS = 40;

const viewOf = (root: Root): ContainerView => (typeof root === 'string' ? plainView(root) : root);

/** The symlink-free components of directory `parts`; throws (a message without the path) when one is missing or not a directory. */
async function resolveDir(view: ContainerView, parts: string[]): Promise<string[]> {
  const queue = [...parts];
  const cur: string[] = [];
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      cur.pop(); // at "/", ".." is "/"
      continue;
    }
    const host = locate(view, [...cur, c]).host;
    const st = await lstat(host).catch((err: NodeJS.ErrnoException) => {
      throw new Error(err.code === 'ENOENT' ? `/${[...cur, c].join('/')} does not exist` : err.message);
    });
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINKS) throw new Error('too many levels of symbolic links');
      const target = await readlink(host);
      if (target.startsWith('/')) cur.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    if (!st.isDirectory()) throw new Error(`/${[...cur, c].join('/')} is not a directory`);
    cur.push(c);
  }
  return cur;
}

/**
 * Resolves `path` (absolute in the container, or relative to "/") in the container's view;
 * the last component is not followed. A path whose parent does not exist is NotFound.
 */
export async function resolveInRoot(root: Root, path: string): Promise<ResolvedPath> {
  const view = viewOf(root);
  const parts = pathComponents(path);
  const base = parts.pop() ?? '';
  let dir: string[];
  try {
    dir = await resolveDir(view, parts);
  } catch (err) {
    throw notFound(`path ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
  const location = locate(view, base ? [...dir, base] : dir);
  return { dir, base, host: location.host, containerPath: `/${[...dir, base].filter(Boolean).join('/')}`, location };
}

/** The entry a symlink at `resolved` finally leads to (itself when it is not a link). */
export async function followLinks(root: Root, resolved: ResolvedPath): Promise<ResolvedPath> {
  let cur = resolved;
  for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
    const st = await lstat(cur.host).catch(() => undefined);
    if (!st?.isSymbolicLink()) return cur;
    const target = await readlink(cur.host);
    cur = await resolveInRoot(root, target.startsWith('/') ? target : `/${[...cur.dir, target].join('/')}`);
  }
  throw notFound(`path ${resolved.containerPath}: too many levels of symbolic links`);
}
