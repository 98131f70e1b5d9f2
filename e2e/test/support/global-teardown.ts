// jest globalTeardown: the CNI plugins' shared iptables chains, if this run brought them.
import { removeCniChains } from './cni-scaffolding';

export default function globalTeardown(): void {
  const before = (globalThis as { __cniChainsBefore?: Record<string, string[]> }).__cniChainsBefore;
  if (!before) return;
  const removed = removeCniChains(before);
  if (removed.length) process.stderr.write(`e2e teardown: removed the CNI plugins' iptables chains this run created: ${removed.join(', ')}\n`);
}
