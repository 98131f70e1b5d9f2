// Where a copy lands, by Docker's rules (pkg/archive/copy.go PrepareArchiveCopy), the same in
// both directions of `cp`. The source is a tar whose top entry is the source's base name
// ("dir", "file", or "." for "dir/." — its contents); the destination is what is there:
//   destination is a directory    the source goes inside it ("dir/x" → dst/dir/x; "." → dst/x)
//   destination is a file         a file replaces it (renamed to its name); a directory cannot
//   destination does not exist    the source is created under that name, in its parent
//                                 (a name ending in "/" must be an existing directory)
// Pure: paths in, a plan out.

import { posix } from 'node:path';
import { CliError } from '../errors';

export interface CopySource {
  /** The tar's top name: the source path's base name, "." for contents only. */
  base: string;
  isDir: boolean;
  /** With -L through a symlink: the name the copy gets instead (the link's own name). */
  rebaseName?: string;
}

export interface CopyDestination {
  path: string;
  exists: boolean;
  isDir: boolean;
}

export interface CopyPlan {
  /** The directory the tar is extracted into. */
  extractDir: string;
  /** Rename the tar's top entry: from → to (from === to: as it is). */
  from: string;
  to: string;
}

/** The base name of a path as Docker splits it: "a/b/" → "b", "a/b/." → ".", "/" → "/". */
export function baseOf(p: string): string {
  if (p.endsWith('/.') || p === '.') return '.';
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return posix.basename(trimmed);
}

/** "dir/." or "dir/" asserts the path is a directory (Docker's assertsDirectory). */
export const assertsDirectory = (p: string): boolean => p.endsWith('/') || p.endsWith('/.') || p === '.';

export function planCopy(src: CopySource, dst: CopyDestination): CopyPlan {
  const srcBase = src.base;
  if (dst.exists && dst.isDir) {
    const to = src.rebaseName ?? srcBase;
    return { extractDir: dst.path, from: srcBase, to };
  }
  if (dst.exists) {
    if (src.isDir) throw new CliError(`cannot copy a directory to a file: ${dst.path}`);
    return { extractDir: posix.dirname(dst.path.replace(/\/+$/, '')) || '/', from: srcBase, to: baseOf(dst.path) };
  }
  if (assertsDirectory(dst.path) && !src.isDir) throw new CliError(`no such directory: ${dst.path}`);
  return { extractDir: posix.dirname(dst.path.replace(/\/+$/, '')) || '/', from: srcBase, to: baseOf(dst.path) };
}

/**
 * Docker's splitCpArg: "CONTAINER:PATH" names a container's path; an argument that starts with
 * "/" or "." (or has no ":") is a local path — so "./a:b" is a local file.
 */
export function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}
