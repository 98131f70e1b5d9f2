// What is mounted in berthd's mount namespace (/proc/self/mountinfo, parsed by the runtime's
// parseMountInfo): for the directories berthd mounts itself (volumes, network namespaces).

import { readFile } from 'node:fs/promises';
import { parseMountInfo } from '@berth/runtime/dist/cgroups/layout';

/** Mount points at or under `dir` (octal escapes decoded), in mountinfo order. */
export async function mountsAt(dir: string): Promise<string[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'))
    .map((e) => e.mountPoint)
    .filter((p) => p === dir || p.startsWith(dir + '/'));
}

/** Whether `path` is a mount point (its own entry in mountinfo). */
export async function isMountPoint(path: string): Promise<boolean> {
  return (await mountsAt(path)).includes(path);
}
