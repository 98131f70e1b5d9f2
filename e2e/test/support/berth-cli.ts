import { join } from 'path';
import { BIN, sleep, type Result } from './env';
import { run, type RunOptions } from './containerd';
import type { PrivateBerthd } from './berthd';

// bin/berth driven against a private berthd, and the polling the berth e2e files share.

export const BERTH = join(BIN, 'berth');

/** bin/berth -H unix://<d's socket> ARGS, to completion (run's 30 s limit unless told). */
export function berthRun(d: PrivateBerthd, args: string[], opts: RunOptions = {}): Promise<Result> {
  return run(BERTH, ['-H', `unix://${d.address}`, ...args], opts);
}

/** berth ARGS that must exit 0: its stdout as printed (callers trim when they want). */
export async function berthOk(d: PrivateBerthd, args: string[]): Promise<string> {
  const r = await berthRun(d, args);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** /bin/sh -c SCRIPT with BERTH_HOST naming d: berth with shell redirections and pipes. */
export function berthSh(d: PrivateBerthd, script: string): Promise<Result> {
  return run('/bin/sh', ['-c', script], { env: { ...process.env, BERTH_HOST: `unix://${d.address}` } });
}

/** The non-empty lines of s. */
export const lines = (s: string): string[] => s.split('\n').filter(Boolean);

/** Polls `check` every 50 ms until it is true, at most ms/50 times (slow checks make it longer). */
export async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  for (let t = 0; t < ms; t += 50) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Polls `attempt` every 50 ms until it gives a value (not undefined), for at most ms of wall time. */
export async function untilValue<T>(what: string, attempt: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await attempt();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
