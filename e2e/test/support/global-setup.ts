// jest globalSetup: what the whole e2e run must give back at its end (see global-teardown.ts).
import { existsSync } from 'node:fs';
import { iptablesChains } from './host-net';

/** Directories ctr makes for its FIFOs (per-test cleanups remove what they can see is theirs). */
export const CTR_RUN_DIRS = ['/run/containerd/fifo', '/run/containerd'];

export default function globalSetup(): void {
  const g = globalThis as { __chainsBefore?: Set<string>; __ctrDirsBefore?: string[] };
  g.__chainsBefore = iptablesChains();
  g.__ctrDirsBefore = CTR_RUN_DIRS.filter((d) => existsSync(d));
}
