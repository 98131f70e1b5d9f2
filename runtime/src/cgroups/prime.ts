// Keeping the kernel's cgroup migration lock warm, so that putting a new container's process
// in its cgroup does not wait for an RCU grace period on the start path.
//
// Every write to a cgroup.procs file takes cgroup_threadgroup_rwsem for writing (one lock for
// all hierarchies, v1 and v2). Its write side first waits for an RCU grace period (~8 ms on an
// idle VM here, 15–25 ms while containers start) unless another write took it less than about
// one grace period ago (its rcu_sync has not gone back to idle). A no-op migration, our own
// pid written to the cgroup we are already in, pays that wait: the kernel finds source and
// destination equal and moves nothing. So while a create is under way we write one every few
// milliseconds: the first pays the grace period early, the rest keep the lock's fast path, and
// the real migration costs microseconds.
//
// The first write holds cgroup_mutex through its wait, stalling mkdirs in cgroupfs: start
// warming as early as possible (berthd does it when a task create arrives), not next to them.

import { posix } from 'path';
import type { Host } from '../host/host';
import { cgWrite } from './errors';
import { detectLayout, ownCgroup } from './layout';
import { hierarchyKeys, mountOf, ownPathUnderMount } from './path';

const INTERVAL_MS = 3;

/** Per host (tests use several fake ones): where to write, and who holds the warmth. */
interface Warmth {
  target?: Promise<string | undefined>;
  holders: number;
  running: boolean;
}
const warmths = new WeakMap<Host, Warmth>();

/** Our own cgroup.procs in the first hierarchy; undefined when there is none we can name. */
async function ownProcsFile(host: Host): Promise<string | undefined> {
  try {
    const layout = await detectLayout(host);
    const key = hierarchyKeys(layout)[0];
    if (key === undefined) return undefined;
    const own = await ownCgroup(host);
    return posix.join(mountOf(layout, key), ownPathUnderMount(layout, own, key), 'cgroup.procs');
  } catch {
    return undefined;
  }
}

async function loop(host: Host, w: Warmth): Promise<void> {
  w.running = true;
  try {
    w.target ??= ownProcsFile(host);
    const file = await w.target;
    while (file !== undefined && w.holders > 0) {
      // Rootless, a read-only cgroupfs, a vanished cgroup: only the speed-up is lost.
      if (!(await cgWrite(host, file, process.pid).then(() => true, () => false))) break;
      await new Promise((r) => setTimeout(r, INTERVAL_MS).unref());
    }
  } finally {
    w.running = false;
  }
}

/**
 * Keeps the migration lock warm until the returned release is called (idempotent). Holds
 * nest: it stays warm while any is held. Never fails; it is only a speed-up.
 */
export function warmMigration(host: Host): () => void {
  let w = warmths.get(host);
  if (!w) warmths.set(host, (w = { holders: 0, running: false }));
  const warmth = w;
  warmth.holders++;
  if (!warmth.running) void loop(host, warmth);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    warmth.holders--;
  };
}
