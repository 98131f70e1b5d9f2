import { ManagerError } from '../src/core/errors';
import {
  BACKOFF_MAX_MS,
  factsFromLabels,
  formatPolicy,
  nextDelay,
  parsePolicy,
  shouldRestart,
  startedLabels,
  stoppedLabels,
  type RestartFacts,
} from '../src/core/containers/restart';

const facts = (over: Partial<RestartFacts>): RestartFacts => ({
  policy: { name: 'always', maxRetries: 0 },
  exitStatus: 1,
  count: 0,
  desired: 'running',
  explicitlyStopped: false,
  atDaemonStart: false,
  ...over,
});

describe('parsePolicy', () => {
  it.each([
    ['', { name: 'no', maxRetries: 0 }],
    ['no', { name: 'no', maxRetries: 0 }],
    ['always', { name: 'always', maxRetries: 0 }],
    ['unless-stopped', { name: 'unless-stopped', maxRetries: 0 }],
    ['on-failure', { name: 'on-failure', maxRetries: 0 }],
    ['on-failure:3', { name: 'on-failure', maxRetries: 3 }],
    ['on-failure:0', { name: 'on-failure', maxRetries: 0 }],
  ])('%j', (text, want) => {
    expect(parsePolicy(text)).toEqual(want);
    // and back: the label value
    if (text) expect(formatPolicy(parsePolicy(text))).toBe(text === 'on-failure:0' ? 'on-failure' : text);
  });

  it.each([
    ['sometimes', /invalid restart policy "sometimes"/],
    ['always:3', /maximum retry count cannot be used with restart policy 'always'/],
    ['on-failure:x', /maximum retry count must be an integer: "x"/],
    ['on-failure:-1', /must be an integer/],
    ['on-failure:1:2', /invalid restart policy format/],
  ])('refuses %j naming the field', (text, msg) => {
    let err: unknown;
    try {
      parsePolicy(text, '--restart');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManagerError);
    expect((err as ManagerError).kind).toBe('InvalidArgument');
    expect((err as Error).message).toMatch(/^--restart: /);
    expect((err as Error).message).toMatch(msg);
  });
});

describe('shouldRestart (Docker restartmanager semantics)', () => {
  it('no never restarts', () => {
    expect(shouldRestart(facts({ policy: { name: 'no', maxRetries: 0 } }))).toBe(false);
    expect(shouldRestart(facts({ policy: { name: 'no', maxRetries: 0 }, atDaemonStart: true }))).toBe(false);
  });

  it('always restarts whatever the exit status', () => {
    expect(shouldRestart(facts({ exitStatus: 0 }))).toBe(true);
    expect(shouldRestart(facts({ exitStatus: 137 }))).toBe(true);
  });

  it('on-failure: only non-zero exits, up to the count (0 = no limit)', () => {
    const p = { name: 'on-failure' as const, maxRetries: 3 };
    expect(shouldRestart(facts({ policy: p, exitStatus: 0 }))).toBe(false);
    expect(shouldRestart(facts({ policy: p, count: 2 }))).toBe(true);
    expect(shouldRestart(facts({ policy: p, count: 3 }))).toBe(false);
    expect(shouldRestart(facts({ policy: { name: 'on-failure', maxRetries: 0 }, count: 1000 }))).toBe(true);
  });

  it('unless-stopped: not once the user stopped it, even at berthd start', () => {
    const p = { name: 'unless-stopped' as const, maxRetries: 0 };
    expect(shouldRestart(facts({ policy: p }))).toBe(true);
    expect(shouldRestart(facts({ policy: p, desired: 'stopped', explicitlyStopped: true }))).toBe(false);
    expect(shouldRestart(facts({ policy: p, desired: 'stopped', explicitlyStopped: true, atDaemonStart: true }))).toBe(false);
  });

  it('a container the user stopped is not restarted, except `always` at berthd start', () => {
    expect(shouldRestart(facts({ desired: 'stopped', explicitlyStopped: true }))).toBe(false);
    expect(shouldRestart(facts({ desired: 'stopped', explicitlyStopped: true, atDaemonStart: true }))).toBe(true);
    const f = { name: 'on-failure' as const, maxRetries: 0 };
    expect(shouldRestart(facts({ policy: f, desired: 'stopped', explicitlyStopped: true, atDaemonStart: true }))).toBe(false);
  });

  it('a container never started is never started by berthd', () => {
    expect(shouldRestart(facts({ desired: '' }))).toBe(false);
    expect(shouldRestart(facts({ desired: '', atDaemonStart: true }))).toBe(false);
  });
});

describe('factsFromLabels', () => {
  it('reads containerd restart labels', () => {
    expect(
      factsFromLabels(
        {
          'containerd.io/restart.policy': 'on-failure:5',
          'containerd.io/restart.count': '2',
          'containerd.io/restart.status': 'running',
          'containerd.io/restart.explicitly-stopped': 'false',
        },
        3,
        false,
      ),
    ).toEqual({ policy: { name: 'on-failure', maxRetries: 5 }, exitStatus: 3, count: 2, desired: 'running', explicitlyStopped: false, atDaemonStart: false });
  });

  it('a bad policy label means no restarts; a bad count counts as 0', () => {
    const f = factsFromLabels({ 'containerd.io/restart.policy': 'bogus', 'containerd.io/restart.count': 'x' }, 1, false);
    expect(f.policy.name).toBe('no');
    expect(f.count).toBe(0);
  });

  it('startedLabels and stoppedLabels round-trip to the decision', () => {
    const always = { 'containerd.io/restart.policy': 'unless-stopped' };
    expect(shouldRestart(factsFromLabels({ ...always, ...startedLabels() }, 1, false))).toBe(true);
    expect(shouldRestart(factsFromLabels({ ...always, ...startedLabels(), ...stoppedLabels() }, 1, true))).toBe(false);
    expect(factsFromLabels({ ...always, ...stoppedLabels(), ...startedLabels() }, 1, false).count).toBe(0);
  });
});

describe('nextDelay: Docker back-off', () => {
  it('100 ms, doubling, capped at 1 min', () => {
    const seq: number[] = [];
    let d = 0;
    for (let i = 0; i < 12; i++) seq.push((d = nextDelay(d, 50)));
    expect(seq.slice(0, 6)).toEqual([100, 200, 400, 800, 1600, 3200]);
    expect(seq[9]).toBe(51200);
    expect(seq[10]).toBe(BACKOFF_MAX_MS);
    expect(seq[11]).toBe(BACKOFF_MAX_MS);
  });

  it('back to 100 ms after a run of 10 s', () => {
    expect(nextDelay(3200, 9_999)).toBe(6400);
    expect(nextDelay(3200, 10_000)).toBe(100);
    expect(nextDelay(BACKOFF_MAX_MS, 60_000)).toBe(100);
  });
});
