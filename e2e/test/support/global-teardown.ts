// jest globalTeardown: what this run brought and no single test file could tell was its own —
// the CNI plugins' shared iptables chains, and ctr's FIFO directories when they are empty.
import { rmdirSync } from 'node:fs';
import { removeCniChains } from './cni-scaffolding';
import { CTR_RUN_DIRS } from './global-setup';

export default function globalTeardown(): void {
  const g = globalThis as { __cniChainsBefore?: Record<string, string[]>; __ctrDirsBefore?: string[] };
  if (g.__cniChainsBefore) {
    const removed = removeCniChains(g.__cniChainsBefore);
    if (removed.length) process.stderr.write(`e2e teardown: removed the CNI plugins' iptables chains this run created: ${removed.join(', ')}\n`);
  }
  for (const dir of CTR_RUN_DIRS) {
    if (!g.__ctrDirsBefore || g.__ctrDirsBefore.includes(dir)) continue;
    try {
      rmdirSync(dir); // only when empty: anything inside is a leak the leak checks must see
    } catch {
      // not there, or not empty
    }
  }
}
