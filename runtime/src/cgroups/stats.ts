// What `events` reads from a container's cgroup, whichever version recorded it.

import type { Host } from '../host/host';
import type { ContainerStats } from './stats-types';
import { oomKillsV1, statsV1 } from './stats-v1';
import { oomKillsV2, statsV2 } from './stats-v2';

export async function readContainerStats(host: Host, version: 1 | 2, paths: Record<string, string>): Promise<ContainerStats> {
  return version === 2 ? statsV2(host, paths['']!) : statsV1(host, paths);
}

/**
 * How many processes the OOM killer has killed in the container's memory cgroup so far;
 * undefined when the kernel has no such counter or the cgroup is gone. Polled by `events`
 * (Node cannot wait on the eventfd cgroup v1 notifies through).
 */
export async function readOomKillCount(host: Host, version: 1 | 2, paths: Record<string, string>): Promise<number | undefined> {
  return version === 2 ? oomKillsV2(host, paths['']!) : oomKillsV1(host, paths);
}
