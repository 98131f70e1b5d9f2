// Paths inside a container's root filesystem, resolved as the container would resolve them:
// every symlink met is read against the root as "/" (an absolute target starts again at the
// root, ".." never climbs above it). So a path given by a user, or a link in the container,
// never leads berthd outside the rootfs (core/diff/paths.ts does the walking).

import { lstat, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { notFound } from '../errors';
import { resolveDir } from '../diff/paths';

export interface ResolvedPath {
  /** The real (symlink-free) components of the parent directory, relative to the root. */
  dir: string[];
  /** The last component as given ('' for the root itself). */
  base: string;
  /** The absolute host path of the entry (the link itself when the last component is one). */
  host: string;
  /** The entry's path in the container ("/etc/passwd"), the last component unresolved. */
  containerPath: string;
}

const MAX_SYMLINKS = 40;

/** Components of a container path: "." and empty parts dropped, ".." kept for the walk. */
const components = (p: string): string[] => p.split('/').filter((c) => c !== '' && c !== '.');

/**
 * Resolves `path` (absolute in the container, or relative to "/") inside `root`; the last
 * component is not followed. A path whose parent does not exist is NotFound.
 */
export async function resolveInRoot(root: string, path: string): Promise<ResolvedPath> {
  const parts = components(posix.normalize(`/${path}`));
  const base = parts.pop() ?? '';
  let dir: string[];
  try {
    dir = await resolveDir(root, parts, path);
  } catch (err) {
    throw notFound(`path ${JSON.stringify(path)}: ${(err as Error).message.replace(/^entry "[^"]*": /, '')}`);
  }
  return { dir, base, host: join(root, ...dir, base), containerPath: `/${[...dir, base].filter(Boolean).join('/')}` };
}

/** The entry a symlink at `resolved` finally leads to (itself when it is not a link). */
export async function followLinks(root: string, resolved: ResolvedPath): Promise<ResolvedPath> {
  let cur = resolved;
  for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
    const st = await lstat(cur.host).catch(() => undefined);
    if (!st?.isSymbolicLink()) return cur;
    const target = await readlink(cur.host);
    cur = await resolveInRoot(root, target.startsWith('/') ? target : `/${[...cur.dir, target].join('/')}`);
  }
  throw notFound(`path ${resolved.containerPath}: too many levels of symbolic links`);
}
