import type { LinuxResources } from '../spec/types';

/** How the machine mounts cgroups: pure v1, pure v2, or v1 controllers beside a cgroup2 mount. */
export interface CgroupLayout {
  mode: 'v1' | 'v2' | 'hybrid';
  /** v1 only: hierarchy mount point by controller name ("memory", "cpu", "name=systemd"...). */
  v1Mounts: Record<string, string>;
  /** The cgroup2 mount point (the unified hierarchy), if any. */
  unifiedMount?: string;
  /**
   * Where in its hierarchy each mount starts, by the same keys as v1Mounts ("" for the unified
   * mount); "/" unless the hierarchy is mounted from a sub-directory (inside another container).
   * Absent means "/" everywhere.
   */
  mountRoots?: Record<string, string>;
}

/** The caller's own cgroups as /proc/self/cgroup lists them (paths relative to each hierarchy's root). */
export interface OwnCgroups {
  /** v1: path by controller name ("memory", "name=systemd"...); a "cpu,cpuacct" line fills both. */
  v1: Record<string, string>;
  /** The "0::/path" line, if there is one. */
  unified?: string;
}

/** Knobs for the managers; tests pass a sleep that does not wait. */
export interface CgroupOptions {
  /** Waits between retries (rmdir on EBUSY, freezer polling); defaults to a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** The layout, when the caller already has it (loadCgroup detects it lazily when needed). */
  layout?: CgroupLayout;
}

/** Statistics in the shape `runc events --stats` prints; fields a kernel lacks are absent. */
export interface CgroupStats {
  memory?: { usage?: number; limit?: number; maxUsage?: number; failcnt?: number; cache?: number };
  pids?: { current?: number; limit?: number };
  cpu?: { usageTotal?: number; usageUser?: number; usageKernel?: number };
}

export interface CgroupManager {
  readonly version: 1 | 2;
  /** Absolute directory of this cgroup per hierarchy ("" is the unified one); recorded in state.json. */
  readonly paths: Record<string, string>;
  /** Creates the directories (and parents). Idempotent. */
  create(): Promise<void>;
  /** Writes the limits; an error names the file and the value. */
  apply(resources: LinuxResources): Promise<void>;
  addProcess(pid: number): Promise<void>;
  /** Every pid in the cgroup (and below it). */
  pids(): Promise<number[]>;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** 'FROZEN' / 'THAWED' (v1 freezer names), undefined when there is no freezer. */
  freezerState(): Promise<'FROZEN' | 'THAWED' | undefined>;
  stats(): Promise<CgroupStats>;
  /** Removes the directories deepest first, retrying while exiting processes leave; then empty berth-owned parents. */
  destroy(): Promise<void>;
}
