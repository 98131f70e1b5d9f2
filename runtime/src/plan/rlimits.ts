// RLIMIT_* numbers for x86_64 and the other architectures berth builds for (asm-generic).
export const RLIMIT_NUMBERS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

/** RLIM_INFINITY as the plan writes it. */
export const RLIM_INFINITY = '18446744073709551615';

/** JSON cannot carry 2^64-1 exactly: any value at or past 2^63 means infinity. */
export function rlimitValue(n: number): string {
  if (n < 0 || n >= 2 ** 63) return RLIM_INFINITY;
  return String(Math.floor(n));
}

/** Names used by /proc/<pid>/limits, to read the caller's own hard limits. */
export const PROC_LIMITS_NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK', 'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE', 'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS', 'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE', 'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parses /proc/self/limits into hard limits by RLIMIT_* name ('unlimited' → infinity). */
export function parseProcLimits(text: string): Record<string, string> {
  const hard: Record<string, string> = {};
  for (const line of text.split('\n').slice(1)) {
    for (const [label, name] of Object.entries(PROC_LIMITS_NAMES)) {
      if (!line.startsWith(label)) continue;
      const cols = line.slice(label.length).trim().split(/\s+/);
      hard[name] = cols[1] === 'unlimited' ? RLIM_INFINITY : cols[1]!;
    }
  }
  return hard;
}
