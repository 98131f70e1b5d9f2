import type { RuntimeContext } from './context';
import { loadContainer } from './load';
import { toOciState, type OciState } from '../state/state';

export async function containerState(ctx: RuntimeContext, id: string): Promise<OciState> {
  const c = await loadContainer(ctx, id);
  return toOciState(c.state, c.status);
}

export async function listContainers(ctx: RuntimeContext): Promise<OciState[]> {
  const out: OciState[] = [];
  for (const id of await ctx.store.list()) {
    // A container deleted while we list is simply not listed.
    const s = await containerState(ctx, id).catch(() => undefined);
    if (s) out.push(s);
  }
  return out;
}
