// When garbage collections run (core/gc's Scheduler, containerd 1.6's gc/scheduler rules),
// and the GC plugin in a real in-process berthd: deletions plan a collection off the
// request path, `sync` deletes wait for one, Introspection lists the plugin.
//
// The policy tests drive the scheduler with a collector whose collections take a chosen
// metadata time, under jest's fake clock; the rest use the real collector and stores.

import { mkdtemp, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { IMAGES, INTROSPECTION, LEASES, createClient } from '../src/api';
import { writeBlob } from '../src/core/content';
import { Collector, Scheduler, collectAndWait, parseSchedulerConfig, SCHEDULER_DEFAULTS, type GcStats, type SchedulerConfig } from '../src/core/gc';
import { openMetadata, type Metadata } from '../src/core/metadata';
import { defaultConfig } from '../src/daemon/config';
import { Daemon } from '../src/daemon/daemon';
import { expectKind } from './support/metadata-tmp';

jest.setTimeout(30000);

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const zero: GcStats = {
  leases: 0, content: 0, ingests: 0, snapshots: 0, blobsDeleted: 0, ingestsAborted: 0, contentBytes: 0,
  snapshotsRemoved: 0, snapshotBytes: 0, bytesFreed: 0, markedAt: 0, metaMs: 0, totalMs: 0,
};

/** A collector whose collections "take" metaMs of the fake clock and record when they ran. */
class TimedCollector {
  runs: number[] = [];
  constructor(private readonly metaMs: number) {}
  async collect(): Promise<GcStats> {
    const markedAt = Date.now();
    this.runs.push(markedAt);
    return { ...zero, markedAt, metaMs: this.metaMs, totalMs: this.metaMs };
  }
}

const cfg = (over: Partial<SchedulerConfig> = {}): SchedulerConfig => ({ ...parseSchedulerConfig({ ...SCHEDULER_DEFAULTS }), ...over });

describe('scheduling policy (fake clock)', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('runs the start-up collection after startup_delay_ms, then only when something asks', async () => {
    const c = new TimedCollector(2);
    const s = new Scheduler(c, cfg({ startupDelayMs: 100 }));
    s.start();
    await jest.advanceTimersByTimeAsync(99);
    expect(c.runs).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(c.runs).toHaveLength(1);
    // nothing deleted or asked for: nothing planned, no timer left to wake the process
    expect(jest.getTimerCount()).toBe(0);
    s.mutated(false); // an update that deleted nothing: below mutation_threshold
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(c.runs).toHaveLength(1);
    await s.close();
  });

  it('a deletion plans a collection schedule_delay_ms later; the pause threshold spaces the next ones', async () => {
    const c = new TimedCollector(20); // interval = 20 / 0.02 − 20 = 980 ms
    const s = new Scheduler(c, cfg({ startupDelayMs: 0, scheduleDelayMs: 50 }));
    s.start();
    s.mutated(true);
    await jest.advanceTimersByTimeAsync(49);
    expect(c.runs).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(c.runs).toHaveLength(1);
    s.mutated(true); // planned already (interval after the last): not earlier
    await jest.advanceTimersByTimeAsync(900);
    expect(c.runs).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(80);
    expect(c.runs).toHaveLength(2);
    expect(c.runs[1]! - c.runs[0]!).toBe(980);
    await s.close();
  });

  it('a request runs one schedule_delay_ms from now even when the next is planned later, and resolves with its stats', async () => {
    const c = new TimedCollector(20);
    const s = new Scheduler(c, cfg({ startupDelayMs: 0, scheduleDelayMs: 10 }));
    s.start();
    s.mutated(true);
    await jest.advanceTimersByTimeAsync(10);
    expect(c.runs).toHaveLength(1);
    const t = Date.now();
    const stats = s.scheduleAndWait();
    await jest.advanceTimersByTimeAsync(10);
    expect(await stats).toMatchObject({ markedAt: t + 10, metaMs: 20 });
    expect(s.totals()).toMatchObject({ collections: 2 });
    await s.close();
  });

  it('deletion_threshold N runs a collection after N deletions even when one is planned later', async () => {
    const c = new TimedCollector(200); // interval 9800 ms
    const s = new Scheduler(c, cfg({ startupDelayMs: 0, deletionThreshold: 3 }));
    s.start();
    s.mutated(true);
    s.mutated(true);
    await jest.advanceTimersByTimeAsync(5000);
    expect(c.runs).toHaveLength(0); // below the threshold, and nothing planned
    s.mutated(true);
    await jest.advanceTimersByTimeAsync(0);
    expect(c.runs).toHaveLength(1);
    await s.close();
  });

  it('mutation_threshold M: M updates plan a collection when none is planned', async () => {
    const c = new TimedCollector(1);
    const s = new Scheduler(c, cfg({ startupDelayMs: 0, mutationThreshold: 3 }));
    s.start();
    s.mutated(false);
    s.mutated(false);
    await jest.advanceTimersByTimeAsync(1000);
    expect(c.runs).toHaveLength(0);
    s.mutated(false);
    await jest.advanceTimersByTimeAsync(0);
    expect(c.runs).toHaveLength(1);
    await s.close();
  });

  it('changes made while a collection runs are judged after it: counted unless its transaction saw them', async () => {
    let finish!: () => void;
    const marks: number[] = [];
    const slow = {
      get runs() {
        return marks.length;
      },
      async collect(): Promise<GcStats> {
        const markedAt = Date.now();
        marks.push(markedAt);
        await new Promise<void>((r) => (finish = r));
        return { ...zero, markedAt, metaMs: 1 };
      },
    };
    const s = new Scheduler(slow, cfg({ startupDelayMs: 0, pauseThreshold: 0.5 })); // interval = avg
    s.start();
    const first = s.scheduleAndWait();
    await jest.advanceTimersByTimeAsync(0);
    expect(slow.runs).toBe(1);
    const second = s.scheduleAndWait(); // asked during the run: served by the next one
    await jest.advanceTimersByTimeAsync(5);
    s.mutated(true); // after the transaction: needs another collection
    finish();
    await first;
    await jest.advanceTimersByTimeAsync(0);
    expect(slow.runs).toBe(2);
    finish();
    expect((await second).markedAt).toBe(marks[1]);
    expect(marks[1]).toBeGreaterThan(marks[0]!);
    await s.close();
  });

  it('a failed collection fails its waiters and is tried again later; close() fails pending requests', async () => {
    let fail = true;
    let runs = 0;
    const flaky = {
      async collect(): Promise<GcStats> {
        runs++;
        if (fail) throw new Error('disk on fire');
        return { ...zero, markedAt: Date.now() };
      },
    };
    const errors: string[] = [];
    const s = new Scheduler(flaky, cfg({ startupDelayMs: 0 }), { info: () => undefined, debug: () => undefined, error: (_o, m) => void errors.push(m) });
    s.start();
    const w = s.scheduleAndWait();
    const failed = expect(w).rejects.toThrow('disk on fire');
    await jest.advanceTimersByTimeAsync(0);
    await failed;
    expect(errors).toEqual(['garbage collection failed']);
    s.mutated(true);
    fail = false;
    await jest.advanceTimersByTimeAsync(2000); // interval (1 s) + 1 s
    expect(runs).toBe(2);
    s.mutated(false);
    const pending = s.scheduleAndWait();
    const closing = s.close();
    await expectKind(pending, 'FailedPrecondition', /stopped/);
    await closing;
    await expectKind(s.scheduleAndWait(), 'FailedPrecondition', /stopped/);
  });

  it('config: containerd defaults; bad values and unknown keys name the key', () => {
    expect(parseSchedulerConfig({ ...SCHEDULER_DEFAULTS })).toEqual({ pauseThreshold: 0.02, deletionThreshold: 0, mutationThreshold: 100, scheduleDelayMs: 0, startupDelayMs: 100 });
    expect(() => parseSchedulerConfig({ ...SCHEDULER_DEFAULTS, pause_threshold: 0.9 })).toThrow(/pause_threshold: expected a number in 0\.\.0\.5, got 0\.9/);
    expect(() => parseSchedulerConfig({ ...SCHEDULER_DEFAULTS, deletion_threshold: 1.5 })).toThrow(/deletion_threshold: expected an integer/);
    expect(() => parseSchedulerConfig({ ...SCHEDULER_DEFAULTS, schedule_delay: '0s' })).toThrow(/unknown setting "schedule_delay"/);
  });
});

describe('with the real collector', () => {
  let root = '';
  let md: Metadata;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'gc-sched-'));
    md = await openMetadata({ root });
  });
  afterEach(async () => {
    await md.close();
    await rm(root, { recursive: true, force: true });
  });

  it('a deletion through a store plans a collection that runs after the delete has answered', async () => {
    const s = new Scheduler(new Collector({ db: md.db, content: md.content, snapshotters: new Map() }), cfg({ startupDelayMs: 0, scheduleDelayMs: 200 }));
    const off = md.db.onMutation((dirty) => s.mutated(dirty));
    s.start();
    const b = Buffer.from('only the image holds me');
    await writeBlob(md.content.namespace('n'), 'b', b, { digest: sha(b), size: b.length });
    await md.images.create('n', { name: 'img', target: { mediaType: 'm', digest: sha(b), size: b.length } });
    await new Promise((r) => setTimeout(r, 300));
    expect(s.totals().collections).toBe(0); // writes that delete nothing plan nothing
    await md.images.delete('n', 'img');
    await expect(md.content.namespace('n').info(sha(b))).resolves.toBeDefined(); // not on the request path
    for (let i = 0; i < 100 && s.totals().collections === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.totals()).toMatchObject({ collections: 1, bytesFreed: b.length, last: { content: 1, blobsDeleted: 1 } });
    await expectKind(md.content.namespace('n').info(sha(b)), 'NotFound');
    off();
    await s.close();
  });

  it('collectAndWait reaches the attached scheduler, and answers undefined with none', async () => {
    expect(await collectAndWait(md.db)).toBeUndefined();
    const s = new Scheduler(new Collector({ db: md.db, content: md.content, snapshotters: new Map() }), cfg({ startupDelayMs: 0 }));
    const detach = md.db.attachCollector(s);
    const b = Buffer.from('garbage');
    await writeBlob(md.content.namespace('n'), 'g', b, { digest: sha(b), size: b.length });
    expect(await collectAndWait(md.db)).toMatchObject({ content: 1, blobsDeleted: 1, bytesFreed: b.length });
    detach();
    expect(await collectAndWait(md.db)).toBeUndefined();
    await s.close();
  });
});

describe('the GC plugin in berthd', () => {
  let dir = '';
  let daemon: Daemon | undefined;
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function start(plugins: Record<string, Record<string, unknown>> = {}): Promise<{ md: Metadata; address: string }> {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gc-daemon-'));
    const c = defaultConfig();
    c.root = path.join(dir, 'root');
    c.state = path.join(dir, 'state');
    c.grpc.address = path.join(dir, 'state', 'd.sock');
    c.plugins = plugins;
    daemon = await Daemon.start({ config: c, log: pino({ level: 'silent' }) });
    return { md: daemon.registry.get<Metadata>('io.containerd.metadata.v1'), address: c.grpc.address };
  }

  it('is listed with its settings; leases.Delete and images.Delete with sync answer after collecting', async () => {
    // no start-up collection and deletions alone plan none: what goes, goes because a call asked
    const { md, address } = await start({ 'io.containerd.gc.v1.scheduler': { startup_delay_ms: 0, deletion_threshold: 1000 } });
    const intro = createClient(INTROSPECTION, address);
    const leases = createClient(LEASES, address, { namespace: 'n' });
    const images = createClient(IMAGES, address, { namespace: 'n' });
    try {
      const [p] = (await intro.Plugins({ filters: ['type==io.containerd.gc.v1'] })).plugins;
      expect(p).toMatchObject({ id: 'scheduler', requires: ['io.containerd.metadata.v1', 'io.containerd.snapshotter.v1'], initErr: null });
      expect(p!.exports).toMatchObject({ PauseThreshold: '0.02', DeletionThreshold: '1000', MutationThreshold: '100', ScheduleDelay: '0ms', StartupDelay: '0ms' });
      const store = md.content.namespace('n');
      const image = async (body: string) => {
        const b = Buffer.from(body);
        await writeBlob(store, body, b, { digest: sha(b), size: b.length });
        await images.Create({ image: { name: 'i', labels: {}, target: { mediaType: 'm', digest: sha(b), size: b.length, annotations: {} } } });
        return sha(b);
      };

      const first = await image('first image');
      await images.Delete({ name: 'i', sync: false });
      await new Promise((r) => setTimeout(r, 300));
      await expect(store.info(first)).resolves.toBeDefined(); // nothing asked for a collection

      await leases.Create({ id: 'hold', labels: {} });
      const b = Buffer.from('leased blob');
      await writeBlob(store, 'b', b, { digest: sha(b), size: b.length }, { lease: 'hold' });
      await leases.Delete({ id: 'hold', sync: true });
      await expectKind(store.info(sha(b)), 'NotFound');
      await expectKind(store.info(first), 'NotFound');

      const second = await image('second image');
      await images.Delete({ name: 'i', sync: true });
      await expectKind(store.info(second), 'NotFound');
    } finally {
      intro.close();
      leases.close();
      images.close();
    }
  });

  it('a bad setting fails the plugin, naming the key; berthd goes on', async () => {
    await start({ 'io.containerd.gc.v1.scheduler': { pause_threshold: 'high' } });
    const intro = createClient(INTROSPECTION, daemon!.address);
    try {
      const [p] = (await intro.Plugins({ filters: ['id==scheduler'] })).plugins;
      expect(p!.initErr!.message).toMatch(/pause_threshold: expected a number/);
    } finally {
      intro.close();
    }
  });
});
