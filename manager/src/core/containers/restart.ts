// Restart policies as data: parsing containerd's `containerd.io/restart.policy` label, the
// decision whether an exited container is started again, and Docker's back-off between
// restarts. No I/O here; restart-monitor.ts acts on these answers.
//
// The labels (labels.ts) are containerd's restart monitor's, with Docker's meaning:
//   RESTART_POLICY              "no" | "always" | "on-failure[:N]" | "unless-stopped"
//   RESTART_STATUS              "running" once the user started the container, "stopped" once
//                               the user stopped it; berthd restarts only a container whose
//                               desired status is "running" (and, at berthd's start, an
//                               `always` one the user stopped: Docker's "restarted only when the
//                               daemon restarts")
//   RESTART_EXPLICITLY_STOPPED  "true" while the user's stop holds: `unless-stopped` stays down,
//                               even across berthd restarts
//   RESTART_COUNT               restarts berthd made since the user last started it
//
// The client's part of the contract: `start`/`run` write startedLabels() before starting the
// task, `stop`/`kill`/`rm -f` write stoppedLabels() BEFORE signalling (the exit that follows
// must find them, or berthd restarts what the user is stopping).

import { invalidArgument } from '../errors';
import { RESTART_COUNT, RESTART_EXPLICITLY_STOPPED, RESTART_POLICY, RESTART_STATUS } from './labels';

export type PolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

export interface RestartPolicy {
  name: PolicyName;
  /** on-failure's N; 0: no limit. */
  maxRetries: number;
}

export const NO_RESTART: RestartPolicy = { name: 'no', maxRetries: 0 };

/**
 * Docker's `--restart` syntax: no, always, unless-stopped, on-failure[:N] (N ≥ 0). An empty
 * value is "no". Throws InvalidArgument naming `field` otherwise, with Docker's wording.
 */
export function parsePolicy(value: string | undefined, field = 'restart policy'): RestartPolicy {
  const text = (value ?? '').trim();
  if (text === '' || text === 'no') return NO_RESTART;
  const [name, count, ...rest] = text.split(':');
  if (rest.length) throw invalidArgument(`${field}: invalid restart policy format ${JSON.stringify(text)}`);
  switch (name) {
    case 'always':
    case 'unless-stopped':
    case 'no':
      if (count !== undefined) throw invalidArgument(`${field}: maximum retry count cannot be used with restart policy '${name}'`);
      return { name, maxRetries: 0 };
    case 'on-failure': {
      if (count === undefined) return { name, maxRetries: 0 };
      if (!/^\d+$/.test(count)) throw invalidArgument(`${field}: maximum retry count must be an integer: ${JSON.stringify(count)}`);
      return { name, maxRetries: Number(count) };
    }
    default:
      throw invalidArgument(`${field}: invalid restart policy ${JSON.stringify(name)}`);
  }
}

/** The label value for a policy: "on-failure:3", "always". */
export function formatPolicy(p: RestartPolicy): string {
  return p.name === 'on-failure' && p.maxRetries > 0 ? `on-failure:${p.maxRetries}` : p.name;
}

/** What the decision looks at, read from the container's labels and its task's exit. */
export interface RestartFacts {
  policy: RestartPolicy;
  exitStatus: number;
  /** Restarts made so far (RESTART_COUNT). */
  count: number;
  /** RESTART_STATUS: 'running', 'stopped', or '' when the container was never started. */
  desired: string;
  explicitlyStopped: boolean;
  /** berthd is starting: the exit happened while it was away, or earlier. */
  atDaemonStart: boolean;
}

/** Whether the container should be started again (Docker's restartmanager.ShouldRestart). */
export function shouldRestart(f: RestartFacts): boolean {
  if (f.policy.name === 'no') return false;
  if (f.desired !== 'running') {
    // Stopped by the user (or never started): only `always` comes back, and only when berthd
    // itself starts, as Docker's daemon restarts such containers at its start.
    return f.atDaemonStart && f.policy.name === 'always' && f.desired === 'stopped';
  }
  switch (f.policy.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !f.explicitlyStopped;
    case 'on-failure':
      return f.exitStatus !== 0 && (f.policy.maxRetries === 0 || f.count < f.policy.maxRetries);
  }
}

/** The facts a container's labels give (exit status and daemon start come from elsewhere). */
export function factsFromLabels(labels: Record<string, string>, exitStatus: number, atDaemonStart: boolean): RestartFacts {
  let policy = NO_RESTART;
  try {
    policy = parsePolicy(labels[RESTART_POLICY]);
  } catch {
    // A label another client wrote badly: no restarts, as containerd's monitor does.
  }
  const count = Number(labels[RESTART_COUNT] ?? '0');
  return {
    policy,
    exitStatus,
    count: Number.isInteger(count) && count >= 0 ? count : 0,
    desired: labels[RESTART_STATUS] ?? '',
    explicitlyStopped: labels[RESTART_EXPLICITLY_STOPPED] === 'true',
    atDaemonStart,
  };
}

/** Labels to write when the user starts the container: desired running, count from zero. */
export function startedLabels(): Record<string, string> {
  return { [RESTART_STATUS]: 'running', [RESTART_EXPLICITLY_STOPPED]: 'false', [RESTART_COUNT]: '0' };
}

/** Labels to write before the user's stop/kill signals the task: desired stopped. */
export function stoppedLabels(): Record<string, string> {
  return { [RESTART_STATUS]: 'stopped', [RESTART_EXPLICITLY_STOPPED]: 'true' };
}

/** Docker's back-off: 100 ms, doubled per restart up to 1 min; back to 100 ms after a run of 10 s. */
export const BACKOFF_INITIAL_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
export const BACKOFF_RESET_AFTER_MS = 10_000;

/** The delay before the next restart, given the previous delay (0: none yet) and how long the task ran. */
export function nextDelay(previousMs: number, ranMs: number): number {
  const prev = ranMs >= BACKOFF_RESET_AFTER_MS ? 0 : previousMs;
  return prev === 0 ? BACKOFF_INITIAL_MS : Math.min(prev * 2, BACKOFF_MAX_MS);
}
