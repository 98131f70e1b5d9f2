import { CAP_SYS_RESOURCE, maskHas } from './capabilities';
import { parseProcLimits } from './rlimits';
import type { Host } from '../host/host';

/** What the plan needs to know about the runtime's own process to clamp instead of failing. */
export interface HostFacts {
  /** Whether this process may raise hard rlimits and lower oom_score_adj. */
  hasSysResource: boolean;
  /** Our own hard rlimits by RLIMIT_* name, decimal ('18446744073709551615' = infinity). */
  hardLimits: Record<string, string>;
  ownOomScoreAdj: number;
}

export async function readHostFacts(host: Host): Promise<HostFacts> {
  const [status, limits, oom] = await Promise.all([
    host.readFile('/proc/self/status'),
    host.readFile('/proc/self/limits'),
    host.readFile('/proc/self/oom_score_adj'),
  ]);
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0';
  return { hasSysResource: maskHas(capEff, CAP_SYS_RESOURCE), hardLimits: parseProcLimits(limits), ownOomScoreAdj: Number(oom.trim()) };
}
