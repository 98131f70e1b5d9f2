// One berthd per root: a pid file created exclusively ('wx'), so of two daemons starting at
// once exactly one creates it. Node has no flock(), so a daemon that died without removing
// its file leaves it behind: the file says who wrote it (pid, and the kernel's boot id so a
// file from before a reboot is never mistaken for a live daemon whose pid was reused), and a
// newcomer takes a stale file over after checking it still holds what it read.
//
// File format (first line alone is a classic pid file, for systemd's PIDFile= and humans):
//   <pid>\n<boot id>\n

import { promises as fsp } from 'fs';

export class LockedError extends Error {
  constructor(
    readonly file: string,
    readonly pid: number,
  ) {
    super(`another berthd (pid ${pid}) holds ${file}: only one berthd may use a root at a time`);
    this.name = 'LockedError';
  }
}

export interface PidLock {
  readonly file: string;
  /** Removes the file if it is still ours. */
  release(): Promise<void>;
}

async function bootId(): Promise<string> {
  try {
    return (await fsp.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return '';
  }
}

/** True when pid is a live process (not a zombie). */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function parse(text: string): { pid: number; boot: string } | undefined {
  const [pidLine, boot = ''] = text.split('\n');
  const pid = Number(pidLine);
  return Number.isInteger(pid) && pid > 0 ? { pid, boot: boot.trim() } : undefined;
}

/** Why a lock file's content is stale, or undefined when its owner may be alive. */
async function staleness(content: string, boot: string): Promise<string | undefined> {
  const owner = parse(content);
  if (!owner) return 'unreadable';
  if (owner.pid === process.pid) return undefined;
  if (owner.boot && boot && owner.boot !== boot) return `written before the last boot by pid ${owner.pid}`;
  return (await processAlive(owner.pid)) ? undefined : `pid ${owner.pid} is gone`;
}

/**
 * Creates `file` holding our pid, taking over a stale one. Throws LockedError when a live
 * process holds it.
 */
export async function acquirePidLock(file: string, onStale?: (why: string) => void): Promise<PidLock> {
  const boot = await bootId();
  const content = `${process.pid}\n${boot}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fh = await fsp.open(file, 'wx', 0o644);
      try {
        await fh.writeFile(content);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return {
        file,
        release: async () => {
          const now = await fsp.readFile(file, 'utf8').catch(() => '');
          if (now === content) await fsp.rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const existing = await fsp.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (existing === undefined) continue; // removed in between: try again
    const why = await staleness(existing, boot);
    if (why === undefined) throw new LockedError(file, parse(existing)?.pid ?? 0);
    // Take over only what we judged: if another newcomer replaced it meanwhile, start over.
    const again = await fsp.readFile(file, 'utf8').catch(() => undefined);
    if (again === existing) {
      onStale?.(why);
      await fsp.rm(file, { force: true });
    }
  }
  throw new Error(`could not take ${file}: it keeps changing (another berthd starting?)`);
}
