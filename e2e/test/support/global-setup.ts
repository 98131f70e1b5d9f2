// jest globalSetup: what the whole e2e run must give back at its end (see global-teardown.ts).
import { cniChains } from './cni-scaffolding';

export default function globalSetup(): void {
  (globalThis as { __cniChainsBefore?: Record<string, string[]> }).__cniChainsBefore = cniChains();
}
