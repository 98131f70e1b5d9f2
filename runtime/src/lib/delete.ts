import type { RuntimeContext } from './context';
import { loadContainer } from './load';
import { toOciState, pidStartTime } from '../state/state';
import { runHooks } from '../hooks/run';
import { mark } from '../util/timing';
import { failedPrecondition, errnoCode } from '../util/errors';

/**
 * Removes a stopped container: its cgroup, its state, then poststop hooks. A container that
 * is not stopped is refused (the spec's MUST) unless `force`, which kills every process in
 * its cgroup first — a frozen cgroup is thawed so the SIGKILL can be delivered.
 */
export async function deleteContainer(ctx: RuntimeContext, id: string, force = false): Promise<void> {
  const c = await loadContainer(ctx, id);
  if (c.status !== 'stopped') {
    if (!force) throw failedPrecondition(`cannot delete container ${id} that is not stopped: ${c.status}`);
    const pids = new Set([c.state.pid, ...(await c.cgroup.pids().catch(() => []))]);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if (errnoCode(err) !== 'ESRCH') throw err;
      }
    }
    if (c.status === 'paused') await c.cgroup.thaw().catch(() => undefined);
    await waitGone(c.state.pid, c.state.pidStartTime);
  }
  await c.cgroup.destroy();
  mark('cgroup removed');
  await ctx.store.remove(id);
  const stopped = JSON.stringify(toOciState(c.state, 'stopped'));
  // poststop failures are logged, not fatal (spec).
  await runHooks('poststop', c.state.hooks?.poststop, stopped).catch((e: Error) => ctx.warn(e.message));
}

async function waitGone(pid: number, startTime: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await pidStartTime(pid)) !== startTime) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}
