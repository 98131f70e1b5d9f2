import { constants } from 'os';
import type { RuntimeContext } from './context';
import { loadContainer } from './load';
import { failedPrecondition, invalidArgument, errnoCode } from '../util/errors';

/** Accepts 9, KILL and SIGKILL alike, as runc does. */
export function parseSignal(sig: string | number | undefined): number {
  if (sig === undefined || sig === '') return constants.signals.SIGTERM;
  const s = String(sig);
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > 64) throw invalidArgument(`invalid signal: ${s}`);
    return n;
  }
  const name = s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
  const n = (constants.signals as Record<string, number>)[name];
  if (n === undefined) throw invalidArgument(`unknown signal: ${s}`);
  return n;
}

export async function killContainer(ctx: RuntimeContext, id: string, signal: number, all = false): Promise<void> {
  const c = await loadContainer(ctx, id);
  if (c.status === 'stopped') throw failedPrecondition(`container ${id} is not running`);
  const pids = all ? await c.cgroup.pids() : [c.state.pid];
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if (errnoCode(err) !== 'ESRCH') throw err;
    }
  }
}
