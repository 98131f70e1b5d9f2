// Mounting the filesystem a local volume's options name (`-o type=tmpfs -o device=tmpfs
// -o o=size=8m`) on its data directory, with mount(8) as core/snapshots does.
//
// When: the first time a container is created with the volume (Prepare), and at berthd's
// start for every such volume a container uses (after a reboot). It stays mounted until the
// volume is removed — unlike Docker, which unmounts when no running container uses it, so a
// tmpfs volume here keeps its files while berthd's host is up, between containers.

import { ManagerError } from '../errors';
import { run } from '../snapshots/mount';
import { isMountPoint, mountsAt } from '../mountinfo';
import { mountArgs, redactOptions } from './options';

/** Mounts the options' filesystem at `dir` unless something is mounted there already. */
export async function mountVolume(name: string, opts: Record<string, string>, dir: string): Promise<boolean> {
  if (await isMountPoint(dir)) return false;
  try {
    await run('mount', mountArgs(opts, dir));
  } catch (err) {
    const why = redactOptions((err as Error).message.replace(/^mount .*?: /, ''));
    throw new ManagerError('FailedPrecondition', `error while mounting volume '${dir}': failed to mount local volume ${name}: ${why}`);
  }
  return true;
}

/** Unmounts `dir` and anything below it; lazily when busy (a container still holds it). */
export async function unmountVolume(dir: string): Promise<void> {
  if ((await mountsAt(dir)).length === 0) return;
  try {
    await run('umount', ['-R', dir]);
  } catch {
    await run('umount', ['-R', '-l', dir]);
  }
}
