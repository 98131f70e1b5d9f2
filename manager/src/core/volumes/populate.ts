// Docker's copy-up: a new volume mounted over a directory the image has gets that directory's
// contents first (files, links, modes, owners, times, extended attributes), and the volume's
// own root takes the directory's mode and owner — also when the directory is empty, so a
// volume over an image's `drwxrwxrwt /tmp` is such a directory.
//
// The image's side is read from the container's snapshot mounted read-only (an overlay mount
// shows the merged layers, whiteouts applied); the path is resolved inside that root as the
// container would resolve it, so an image's symlink cannot point the copy at the host.
// GNU cp(1) does the copy: `cp -a` keeps everything Docker's CopyDir keeps, and knows every
// file type, sparse files and hard links within the tree.

import { chmod, chown, lstat } from 'node:fs/promises';
import { followLinks, resolveInRoot } from '../files/resolve';
import { run } from '../snapshots/mount';
import { isEmptyDir } from './disk';

export type PopulateResult = 'copied' | 'not-a-directory' | 'volume-not-empty';

/**
 * Copies the contents of `path` (inside the mounted root `root`) into `dataDir` when dataDir
 * is empty; a path the image does not have, or that is not a directory, copies nothing.
 */
export async function copyUp(root: string, path: string, dataDir: string): Promise<PopulateResult> {
  let host: string;
  try {
    host = (await followLinks(root, await resolveInRoot(root, path))).host;
  } catch {
    return 'not-a-directory'; // a parent missing in the image: the runtime will create the mount point
  }
  const st = await lstat(host).catch(() => undefined);
  if (!st?.isDirectory()) return 'not-a-directory';
  if (!(await isEmptyDir(dataDir))) return 'volume-not-empty';
  if (!(await isEmptyDir(host))) await run('cp', ['-a', '--', `${host}/.`, `${dataDir}/`]);
  await chown(dataDir, st.uid, st.gid);
  await chmod(dataDir, st.mode & 0o7777);
  return 'copied';
}
