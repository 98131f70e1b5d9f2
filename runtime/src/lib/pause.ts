import type { RuntimeContext } from './context';
import { loadContainer } from './load';
import { failedPrecondition } from '../util/errors';

// Pause and resume freeze and thaw the container's cgroup; `state` then derives "paused" from
// the freezer. The errors begin with runc's words, which callers such as containerd match.

/**
 * Freezes every process of a running container. A created one is refused, unlike runc: its
 * status is derived from the exec fifo first, so it would never read "paused", and a frozen
 * init could not take the byte `start` waits for.
 */
export async function pauseContainer(ctx: RuntimeContext, id: string): Promise<void> {
  const c = await loadContainer(ctx, id);
  if (c.status !== 'running') throw failedPrecondition(`container not running: ${id} is ${c.status}`);
  await c.cgroup.freeze();
}

export async function resumeContainer(ctx: RuntimeContext, id: string): Promise<void> {
  const c = await loadContainer(ctx, id);
  if (c.status !== 'paused') throw failedPrecondition(`container not paused: ${id} is ${c.status}`);
  await c.cgroup.thaw();
}
