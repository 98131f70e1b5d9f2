// berthd's recent events (core/events/history.ts) behind `berth events --since/--until`: the
// bounded ring per namespace, the time window, the container each event names as it was then
// (also once deleted or renamed), and a follow that misses and repeats nothing — fed by the
// real exchange, with a real LMDB container store.

import { Exchange, type Envelope } from '../src/core/events';
import { EventHistory, type HistoryEntry } from '../src/core/events/history';
import { openMetadata, type Metadata } from '../src/core/metadata';
import { makeTempRoot, removeTempRoot } from './support/metadata-tmp';

const payload = (fields: Record<string, string>) => ({ typeUrl: 'test.Event', value: Buffer.from(JSON.stringify(fields)) });
const fieldsOf = (env: Envelope) => JSON.parse(Buffer.from(env.event.value).toString()) as Record<string, string>;

let root: string;
let md: Metadata;
let exchange: Exchange;
let history: EventHistory;

function newHistory(limit?: number): EventHistory {
  const h = new EventHistory({
    ...(limit ? { limit } : {}),
    containerIdOf: (env) => (env.topic.startsWith('/tasks/') ? fieldsOf(env).containerId : env.topic.startsWith('/containers/') ? fieldsOf(env).id : undefined),
    lookup: (ns, id) => {
      try {
        const c = md.containers.get(ns, id);
        return { labels: c.labels, image: c.image };
      } catch {
        return undefined;
      }
    },
  });
  exchange.subscribe([], (env) => h.record(env), () => h.close());
  return h;
}

const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from('{}') };
const create = (ns: string, id: string, labels: Record<string, string>) => md.containers.create(ns, { id, image: 'img:1', runtime: { name: 'r' }, spec, labels });
const relabel = (ns: string, id: string, labels: Record<string, string>) => md.containers.update(ns, { id, runtime: { name: 'r' }, spec, labels }, ['labels']);

beforeEach(async () => {
  root = await makeTempRoot();
  md = await openMetadata({ root });
  await md.namespaces.create('default');
  await md.namespaces.create('other');
  exchange = new Exchange();
  history = newHistory();
});
afterEach(async () => {
  exchange.close();
  await md.close();
  await removeTempRoot(root);
});

const topics = (entries: HistoryEntry[]) => entries.map((e) => e.envelope.topic);

test('each event with its container as it was then, also after a rename and a delete', async () => {
  await create('default', 'c1', { 'berth/name': 'web' });
  await exchange.publish('default', '/containers/create', payload({ id: 'c1' }));
  await exchange.publish('default', '/tasks/start', payload({ containerId: 'c1' }));
  await relabel('default', 'c1', { 'berth/name': 'site' });
  await exchange.publish('default', '/containers/update', payload({ id: 'c1' }));
  await md.containers.delete('default', 'c1');
  await exchange.publish('default', '/containers/delete', payload({ id: 'c1' }));
  await exchange.publish('default', '/images/create', payload({ name: 'x' }));
  await exchange.publish('other', '/tasks/start', payload({ containerId: 'c9' }));

  const all = history.entries('default');
  expect(topics(all)).toEqual(['/containers/create', '/tasks/start', '/containers/update', '/containers/delete', '/images/create']);
  expect(all.map((e) => e.container?.labels['berth/name'])).toEqual(['web', 'web', 'site', 'site', undefined]);
  expect(all[0]!.container).toEqual({ id: 'c1', labels: { 'berth/name': 'web' }, image: 'img:1' });
  expect(all[2]!.previousLabels).toEqual({ 'berth/name': 'web' });
  expect(all[1]!.previousLabels).toBeUndefined();
  expect(topics(history.entries('other'))).toEqual(['/tasks/start']);
  expect(history.entries('other')[0]!.container).toBeUndefined();
  expect(history.entries('nope')).toEqual([]);
});

test('a container known from before (remember) gives an update its previous labels', async () => {
  await create('default', 'old', { 'berth/name': 'before' });
  history.remember('default', { id: 'old', labels: { 'berth/name': 'before' }, image: 'img:1' });
  await relabel('default', 'old', { 'berth/name': 'after' });
  await exchange.publish('default', '/containers/update', payload({ id: 'old' }));
  expect(history.entries('default')[0]).toMatchObject({ previousLabels: { 'berth/name': 'before' }, container: { labels: { 'berth/name': 'after' } } });
});

test('the window is inclusive; the ring keeps the last `limit` per namespace', async () => {
  const small = newHistory(3);
  for (let i = 0; i < 5; i++) await exchange.forward({ timestamp: new Date(1000 * (i + 1)), namespace: 'default', topic: '/images/create', event: payload({ name: `i${i}` }) });
  await exchange.forward({ timestamp: new Date(1000), namespace: 'other', topic: '/images/create', event: payload({ name: 'o' }) });
  expect(small.entries('default').map((e) => fieldsOf(e.envelope).name)).toEqual(['i2', 'i3', 'i4']);
  expect(small.entries('other')).toHaveLength(1);
  expect(history.entries('default', new Date(2000), new Date(4000)).map((e) => fieldsOf(e.envelope).name)).toEqual(['i1', 'i2', 'i3']);
  expect(history.entries('default', new Date(4500))).toHaveLength(1);
  expect(history.entries('default', undefined, new Date(1000))).toHaveLength(1);
});

test('follow: every later event of its namespace, none missed between a replay and it; ended by close', async () => {
  await exchange.publish('default', '/images/create', payload({ name: 'before' }));
  const seen: string[] = [];
  let ended = 0;
  // replay and follow in one tick, as the System.Events handler does
  for (const e of history.entries('default', new Date(0))) seen.push(`replay ${fieldsOf(e.envelope).name}`);
  const f = history.follow('default', (e) => seen.push(`live ${fieldsOf(e.envelope).name}`), () => ended++);
  await exchange.publish('default', '/images/create', payload({ name: 'after' }));
  await exchange.publish('other', '/images/create', payload({ name: 'elsewhere' }));
  const broken = history.follow('default', () => {
    throw new Error('a broken stream');
  });
  await exchange.publish('default', '/images/create', payload({ name: 'more' }));
  expect(seen).toEqual(['replay before', 'live after', 'live more']);
  f.close();
  f.close();
  broken.close();
  expect(ended).toBe(1);
  await exchange.publish('default', '/images/create', payload({ name: 'unseen' }));
  expect(seen).toHaveLength(3);
  // berthd stopping: the exchange closes, the followers end
  let endedLater = 0;
  history.follow('default', () => undefined, () => endedLater++);
  exchange.close();
  expect(endedLater).toBe(1);
  let afterClose = 0;
  history.follow('default', () => undefined, () => afterClose++);
  expect(afterClose).toBe(1);
});
