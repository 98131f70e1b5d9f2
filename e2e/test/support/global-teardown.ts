// jest globalTeardown: what this run brought and no single test file could tell was its own —
// the CNI plugins' shared iptables chains (CNI-FORWARD, CNI-HOSTPORT-*: the plugins make them
// once and never remove them), and ctr's FIFO directories when they are empty.
import { rmdirSync } from 'node:fs';
import { CTR_RUN_DIRS } from './global-setup';
import { removeNewChains } from './host-net';

export default function globalTeardown(): void {
  const g = globalThis as { __chainsBefore?: Set<string>; __ctrDirsBefore?: string[] };
  if (g.__chainsBefore) removeNewChains(g.__chainsBefore);
  for (const dir of CTR_RUN_DIRS) {
    if (!g.__ctrDirsBefore || g.__ctrDirsBefore.includes(dir)) continue;
    try {
      rmdirSync(dir); // only when empty: anything inside is a leak the leak checks must see
    } catch {
      // not there, or not empty
    }
  }
}
