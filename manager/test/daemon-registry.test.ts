// The plugin registry: dependency order, failures that stay local, skips, reverse close.

import pino from 'pino';
import type { Plugin } from '../src/daemon/plugin';
import { order, pluginKey, Registry, skipPlugin } from '../src/daemon/registry';

const log = pino({ level: 'silent' });
const base = { root: '/nonexistent-root', state: '/nonexistent-state', log };

/** A plugin that records its init and close in `trace`. */
function p(type: string, id: string, requires: string[], trace: string[], extra: Partial<Plugin<any>> = {}): Plugin<string> {
  return {
    type,
    id,
    requires,
    async init() {
      trace.push(`init ${type}.${id}`);
      return `${type}.${id}!`;
    },
    async close(inst) {
      trace.push(`close ${inst}`);
    },
    ...extra,
  };
}

describe('order', () => {
  it('puts every requirement (by type or by type.id) before its user, keeping list order otherwise', () => {
    const t: string[] = [];
    const plugins = [p('grpc', 'svc', ['store', 'ev.exchange'], t), p('grpc', 'version', [], t), p('store', 'b', [], t), p('ev', 'exchange', [], t), p('store', 'a', [], t)];
    expect(order(plugins).map(pluginKey)).toEqual(['store.b', 'store.a', 'ev.exchange', 'grpc.svc', 'grpc.version']);
  });

  it('refuses a cycle, naming it', () => {
    const t: string[] = [];
    expect(() => order([p('a', '1', ['b'], t), p('b', '1', ['c.1'], t), p('c', '1', ['a'], t)])).toThrow(/cycle: a\.1 -> b\.1 -> c\.1 -> a\.1/);
  });

  it('refuses a requirement nothing provides', () => {
    expect(() => order([p('a', '1', ['nope'], [])])).toThrow(/a\.1 requires nope/);
  });

  it('does not count a plugin as its own provider', () => {
    expect(() => order([p('a', '1', ['a'], [])])).toThrow(/requires a, which no enabled plugin provides/);
  });
});

describe('Registry', () => {
  it('refuses two plugins with the same type.id', () => {
    expect(() => new Registry([p('a', '1', [], []), p('a', '1', [], [])])).toThrow(/a\.1 is registered twice/);
  });

  it('starts in order, hands instances through get(), closes in reverse', async () => {
    const t: string[] = [];
    let seen = '';
    const user: Plugin<string> = {
      ...p('grpc', 'user', ['store'], t),
      async init(ctx) {
        seen = ctx.get<string>('store') + ' ' + ctx.get<string>('store.one');
        t.push('init grpc.user');
        return 'user!';
      },
    };
    const r = new Registry([user, p('store', 'one', [], t)]);
    await r.init(base);
    expect(seen).toBe('store.one! store.one!');
    expect(r.list().map((i) => [pluginKey(i), i.status])).toEqual([['store.one', 'ok'], ['grpc.user', 'ok']]);
    expect(await r.close()).toEqual([]);
    expect(t).toEqual(['init store.one', 'init grpc.user', 'close user!', 'close store.one!']);
  });

  it('records a failed init, fails its dependants without starting them, and starts the rest', async () => {
    const t: string[] = [];
    const broken = p('store', 'broken', [], t, {
      async init() {
        throw new Error('disk on fire');
      },
    });
    const r = new Registry([broken, p('grpc', 'needs-store', ['store'], t), p('grpc', 'free', [], t)]);
    await r.init(base);
    const info = Object.fromEntries(r.list().map((i) => [pluginKey(i), i]));
    expect(info['store.broken']!.status).toBe('failed');
    expect(info['store.broken']!.error!.message).toBe('disk on fire');
    expect(info['grpc.needs-store']!.status).toBe('failed');
    expect(info['grpc.needs-store']!.error!.message).toMatch(/requires store, which did not start/);
    expect(info['grpc.free']!.status).toBe('ok');
    expect(t).toEqual(['init grpc.free']);
    await r.close();
    expect(t).toEqual(['init grpc.free', 'close grpc.free!']);
  });

  it('is satisfied by any started plugin of a required type (one snapshotter skipped, another ok)', async () => {
    const t: string[] = [];
    const skipping = p('snap', 'zfs', [], t, {
      async init() {
        throw skipPlugin('not a zfs filesystem');
      },
    });
    const r = new Registry([skipping, p('snap', 'native', [], t), p('grpc', 'snapshots', ['snap'], t)]);
    await r.init(base);
    const zfs = r.info('snap.zfs')!;
    expect(zfs.status).toBe('skipped');
    // ctr plugins ls shows "skip" when the init error contains containerd's "skip plugin".
    expect(zfs.error!.message).toBe('not a zfs filesystem: skip plugin');
    expect(r.info('grpc.snapshots')!.status).toBe('ok');
    await r.close();
  });

  it('refuses get() of something the plugin does not require', async () => {
    const sneaky: Plugin<void> = {
      type: 'grpc',
      id: 'sneaky',
      requires: [],
      async init(ctx) {
        ctx.get('store');
      },
    };
    const r = new Registry([p('store', 'one', [], []), sneaky]);
    await r.init(base);
    expect(r.info('grpc.sneaky')!.error!.message).toMatch(/asked for store, which it does not list in requires/);
    await r.close();
  });

  it('leaves disabled plugins out entirely, and fails what requires them at construction', () => {
    const t: string[] = [];
    const r = new Registry([p('a', '1', [], t), p('b', '1', [], t)], { disabled: ['b.1'] });
    expect(r.list().map(pluginKey)).toEqual(['a.1']);
    expect(() => new Registry([p('a', '1', ['b'], t), p('b', '1', [], t)], { disabled: ['b.1'] })).toThrow(/a\.1 requires b/);
  });

  it('optionalRequires: started after them when enabled, get() allowed; started without them when disabled or failed', async () => {
    const t: string[] = [];
    const user = (): Plugin<string> => ({
      type: 'grpc',
      id: 'user',
      requires: [],
      optionalRequires: ['gc.sched'],
      async init(ctx) {
        const ok = ctx.plugins().some((i) => pluginKey(i) === 'gc.sched' && i.status === 'ok');
        return ok ? ctx.get<string>('gc.sched') : 'none';
      },
    });
    const withGc = new Registry([user(), p('gc', 'sched', [], t)]);
    await withGc.init(base);
    expect(withGc.get<string>('grpc.user')).toBe('gc.sched!');
    await withGc.close();
    const disabled = new Registry([user(), p('gc', 'sched', [], t)], { disabled: ['gc.sched'] });
    await disabled.init(base);
    expect(disabled.get<string>('grpc.user')).toBe('none');
    await disabled.close();
    const failing = new Registry([user(), p('gc', 'sched', [], t, { init: () => Promise.reject(new Error('broken')) })]);
    await failing.init(base);
    expect(failing.info('grpc.user')!.status).toBe('ok');
    expect(failing.get<string>('grpc.user')).toBe('none');
    await failing.close();
  });

  it('gives each plugin its config section over its defaults, and shows its exports', async () => {
    let cfg: Record<string, unknown> = {};
    const plugin: Plugin<void> = {
      type: 't',
      id: 'x',
      requires: [],
      defaults: { a: 1, b: 2 },
      capabilities: ['remap-ids'],
      async init(ctx) {
        cfg = ctx.config;
        ctx.exports.root = '/somewhere';
      },
    };
    const r = new Registry([plugin]);
    await r.init({ ...base, sectionOf: (k) => (k === 't.x' ? { b: 3 } : undefined) });
    expect(cfg).toEqual({ a: 1, b: 3 });
    expect(r.info('t.x')).toMatchObject({ exports: { root: '/somewhere' }, capabilities: ['remap-ids'], status: 'ok' });
  });

  it('closes every plugin even when some close() throw, and reports those', async () => {
    const t: string[] = [];
    const bad = p('a', 'bad', [], t, {
      async close() {
        throw new Error('stuck');
      },
    });
    const r = new Registry([p('a', 'first', [], t), bad, p('a', 'last', [], t)]);
    await r.init(base);
    const errors = await r.close();
    expect(errors.map((e) => e.message)).toEqual(['closing plugin a.bad: stuck']);
    expect(t.filter((x) => x.startsWith('close'))).toEqual(['close a.last!', 'close a.first!']);
  });
});
