import type { RuntimeContext } from './context';
import { deriveStatus, type Status, type StoredState } from '../state/state';
import { loadCgroup } from '../cgroups';
import type { CgroupManager } from '../cgroups/types';

export interface Container {
  state: StoredState;
  status: Status;
  cgroup: CgroupManager;
}

/** Reads a container's record and derives its status now. */
export async function loadContainer(ctx: RuntimeContext, id: string): Promise<Container> {
  const state = await ctx.store.read(id);
  const cgroup = loadCgroup(ctx.host, state.cgroupVersion, state.cgroupPaths);
  const status = await deriveStatus(state, ctx.store.execFifo(id), () => cgroup.freezerState().catch(() => undefined));
  return { state, status, cgroup };
}
