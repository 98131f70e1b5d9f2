// berthd in process with its first services, called over its real unix socket with our
// generated clients: containerd 1.6's behaviour where ctr and other clients can see it.

import * as grpc from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { EVENTS, INTROSPECTION, LEASES, NAMESPACES, VERSION, createClient, packAny, timestamp, unpackAny, type Client, type ServiceName } from '../src/api';
import { defaultConfig, type Config } from '../src/daemon/config';
import { Daemon, StartError } from '../src/daemon/daemon';
import type { Plugin } from '../src/daemon/plugin';
import { PLUGINS } from '../src/daemon/plugins';
import { VERSION as BERTH_VERSION } from '../src/daemon/version';

jest.setTimeout(30000);

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configIn(dir: string): Config {
  const c = defaultConfig();
  c.root = path.join(dir, 'root');
  c.state = path.join(dir, 'state');
  c.grpc.address = path.join(dir, 'state', 'd.sock');
  c.shutdown_timeout_ms = 1000;
  return c;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

async function codeOf(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}

describe('berthd services', () => {
  let dir = '';
  let daemon: Daemon;
  const clients: { close(): void }[] = [];
  function client<S extends ServiceName>(name: S, namespace = 'default'): Client<S> {
    const c = createClient(name, daemon.address, namespace ? { namespace } : {});
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berthd-svc-'));
    daemon = await Daemon.start({ config: configIn(dir), log });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await daemon?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves on a 0660 socket and holds the pid locks', async () => {
    const st = await stat(daemon.address);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect((await readFile(path.join(dir, 'state', 'berthd.pid'), 'utf8')).split('\n')[0]).toBe(String(process.pid));
    expect(await exists(path.join(dir, 'root', 'berthd.pid'))).toBe(true);
  });

  it('Version', async () => {
    expect(await client(VERSION).Version({})).toEqual({ version: BERTH_VERSION, revision: expect.any(String) });
  });

  it('Namespaces: Get of an unknown one answers empty labels, like containerd 1.6', async () => {
    expect(await client(NAMESPACES).Get({ name: 'never-made' })).toEqual({ namespace: { name: 'never-made', labels: {} } });
  });

  it('Namespaces: create, masked update, replace, refuse non-empty delete, delete, with events', async () => {
    const ns = client(NAMESPACES, 'caller');
    const events: { namespace: string; topic: string; event: Record<string, unknown> }[] = [];
    const stream = client(EVENTS).Subscribe({ filters: ['topic~="^/namespaces/"'] });
    stream.on('data', (e) => events.push({ namespace: e.namespace, topic: e.topic, event: unpackAny(e.event!).message }));
    stream.on('error', () => undefined);
    await sleep(100);

    expect(await ns.Create({ namespace: { name: 'n1', labels: { a: '1', b: '2' } } })).toEqual({ namespace: { name: 'n1', labels: { a: '1', b: '2' } } });
    expect(await codeOf(ns.Create({ namespace: { name: 'n1' } }))).toEqual({ code: grpc.status.ALREADY_EXISTS, details: 'namespace "n1": already exists' });
    // Only the masked keys change: c is added, a removed (empty), b kept though not sent.
    const masked = await ns.Update({ namespace: { name: 'n1', labels: { c: '3', a: '' } }, updateMask: { paths: ['labels.c', 'labels.a'] } });
    expect(masked.namespace!.labels).toEqual({ b: '2', c: '3' });
    expect((await codeOf(ns.Update({ namespace: { name: 'n1', labels: {} }, updateMask: { paths: ['labels'] } }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    const replaced = await ns.Update({ namespace: { name: 'n1', labels: { z: '9' } } });
    expect(replaced.namespace!.labels).toEqual({ z: '9' });
    expect((await ns.Get({ name: 'n1' })).namespace).toEqual({ name: 'n1', labels: { z: '9' } });
    expect((await ns.List({ filter: '' })).namespaces.map((n) => n.name)).toContain('n1');
    expect((await ns.List({ filter: 'labels.z==9' })).namespaces).toEqual([{ name: 'n1', labels: { z: '9' } }]);

    await client(LEASES, 'n1').Create({ id: 'hold', labels: {} });
    const refused = await codeOf(ns.Delete({ name: 'n1' }));
    expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(refused.details).toMatch(/must be empty, but it still has leases/);
    await client(LEASES, 'n1').Delete({ id: 'hold', sync: false });
    await ns.Delete({ name: 'n1' });
    expect((await ns.List({ filter: '' })).namespaces.map((n) => n.name)).not.toContain('n1');
    expect((await codeOf(ns.Delete({ name: 'n1' }))).code).toBe(grpc.status.NOT_FOUND);

    for (let i = 0; i < 50 && events.length < 4; i++) await sleep(20);
    stream.cancel();
    expect(events).toEqual([
      { namespace: 'caller', topic: '/namespaces/create', event: { name: 'n1', labels: { a: '1', b: '2' } } },
      { namespace: 'caller', topic: '/namespaces/update', event: { name: 'n1', labels: { b: '2', c: '3' } } },
      { namespace: 'caller', topic: '/namespaces/update', event: { name: 'n1', labels: { z: '9' } } },
      // containerd publishes the delete in the deleted namespace.
      { namespace: 'n1', topic: '/namespaces/delete', event: { name: 'n1' } },
    ]);
  });

  it('Leases: namespace required, generated ids, filters, resources', async () => {
    const noNs = await codeOf(client(LEASES, '').List({ filters: [] }));
    expect(noNs).toEqual({ code: grpc.status.FAILED_PRECONDITION, details: 'namespace is required: failed precondition' });
    const leases = client(LEASES, 'lns');
    const made = await leases.Create({ id: '', labels: { k: 'v' } });
    expect(made.lease!.id).toMatch(/^\d+-[0-9a-f]{6}$/);
    expect(made.lease!.labels).toEqual({ k: 'v' });
    expect(Math.abs(made.lease!.createdAt!.seconds - Date.now() / 1000)).toBeLessThan(60);
    await leases.Create({ id: 'named', labels: {} });
    expect((await codeOf(leases.Create({ id: 'named', labels: {} }))).code).toBe(grpc.status.ALREADY_EXISTS);
    expect((await leases.List({ filters: [] })).leases.map((l) => l.id).sort()).toEqual([made.lease!.id, 'named'].sort());
    expect((await leases.List({ filters: ['labels.k==v'] })).leases.map((l) => l.id)).toEqual([made.lease!.id]);
    expect((await leases.List({ filters: ['id==named'] })).leases.map((l) => l.id)).toEqual(['named']);
    // Other namespaces do not see them.
    expect((await client(LEASES, 'other').List({ filters: [] })).leases).toEqual([]);

    const digest = `sha256:${'a'.repeat(64)}`;
    await leases.AddResource({ id: 'named', resource: { id: digest, type: 'content' } });
    await leases.AddResource({ id: 'named', resource: { id: 'snap1', type: 'snapshots/overlayfs' } });
    expect((await leases.ListResources({ id: 'named' })).resources).toEqual(
      expect.arrayContaining([{ id: digest, type: 'content' }, { id: 'snap1', type: 'snapshots/overlayfs' }]),
    );
    await leases.DeleteResource({ id: 'named', resource: { id: digest, type: 'content' } });
    expect((await leases.ListResources({ id: 'named' })).resources).toEqual([{ id: 'snap1', type: 'snapshots/overlayfs' }]);
    expect((await codeOf(leases.AddResource({ id: 'named', resource: { id: 'x', type: 'bogus' } }))).code).toBe(grpc.status.UNIMPLEMENTED);
    expect((await codeOf(leases.ListResources({ id: 'nope' }))).code).toBe(grpc.status.NOT_FOUND);
    await leases.Delete({ id: 'named', sync: true });
    expect((await codeOf(leases.Delete({ id: 'named', sync: false }))).details).toBe('lease "named": not found');
  });

  it('Events: Publish needs a namespace, Forward keeps the envelope, bad filters are InvalidArgument', async () => {
    const events = client(EVENTS, 'evns');
    const got: { namespace: string; topic: string; seconds: number }[] = [];
    const stream = events.Subscribe({ filters: ['topic=="/berth/test"'] });
    stream.on('data', (e) => got.push({ namespace: e.namespace, topic: e.topic, seconds: e.timestamp!.seconds }));
    stream.on('error', () => undefined);
    await sleep(100);
    const payload = packAny('containerd.events.NamespaceDelete', { name: 'x' });
    expect((await codeOf(client(EVENTS, '').Publish({ topic: '/berth/test', event: payload }))).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await codeOf(events.Publish({ topic: 'berth', event: payload }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await codeOf(events.Publish({ topic: '/berth/test' }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    await events.Publish({ topic: '/berth/test', event: payload });
    await events.Forward({ envelope: { timestamp: timestamp(new Date(5000)), namespace: 'elsewhere', topic: '/berth/test', event: payload } });
    expect((await codeOf(events.Forward({ envelope: { namespace: 'elsewhere', topic: '/berth/test', event: payload } }))).details).toMatch(/timestamp must be set/);
    for (let i = 0; i < 50 && got.length < 2; i++) await sleep(20);
    stream.cancel();
    expect(got).toEqual([
      { namespace: 'evns', topic: '/berth/test', seconds: expect.any(Number) },
      { namespace: 'elsewhere', topic: '/berth/test', seconds: 5 },
    ]);
    const bad = events.Subscribe({ filters: ['topic=='] });
    const err = await new Promise<grpc.ServiceError>((resolve) => bad.on('error', resolve));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('Introspection: every plugin with requires and exports, filters on type and id', async () => {
    const intro = client(INTROSPECTION);
    const all = (await intro.Plugins({ filters: [] })).plugins;
    expect(all.map((p) => `${p.type}.${p.id}`)).toEqual(expect.arrayContaining([
      'io.containerd.metadata.v1.lmdb',
      'io.containerd.event.v1.exchange',
      'io.containerd.grpc.v1.version',
      'io.containerd.grpc.v1.namespaces',
      'io.containerd.grpc.v1.leases',
      'io.containerd.grpc.v1.events',
      'io.containerd.grpc.v1.introspection',
    ]));
    expect(all).toHaveLength(PLUGINS.length);
    const lmdb = all.find((p) => p.id === 'lmdb')!;
    expect(lmdb.exports).toEqual({ path: path.join(dir, 'root', 'meta.lmdb') });
    expect(lmdb.initErr).toBeNull();
    expect(all.find((p) => p.id === 'namespaces')!.requires).toEqual(['io.containerd.metadata.v1', 'io.containerd.event.v1']);
    const grpcOnly = (await intro.Plugins({ filters: ['type==io.containerd.grpc.v1'] })).plugins;
    expect(grpcOnly.every((p) => p.type === 'io.containerd.grpc.v1')).toBe(true);
    expect(grpcOnly).toHaveLength(PLUGINS.filter((p) => p.type === 'io.containerd.grpc.v1').length);
    expect(grpcOnly.length).toBeGreaterThanOrEqual(10);
    expect((await intro.Plugins({ filters: ['id==leases', 'id==version'] })).plugins.map((p) => p.id).sort()).toEqual(['leases', 'version']);
    const { uuid } = await intro.Server({});
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect((await readFile(path.join(dir, 'root', 'uuid'), 'utf8')).trim()).toBe(uuid);
  });
});

describe('berthd start and stop', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berthd-life-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stop ends subscriptions, removes socket and locks; a restart keeps data and the uuid', async () => {
    const config = configIn(dir);
    const d1 = await Daemon.start({ config, log });
    const ns = createClient(NAMESPACES, config.grpc.address, { namespace: 'default' });
    const intro = createClient(INTROSPECTION, config.grpc.address);
    const events = createClient(EVENTS, config.grpc.address, { namespace: 'default' });
    await ns.Create({ namespace: { name: 'kept', labels: { x: 'y' } } });
    const uuid = (await intro.Server({})).uuid;
    const stream = events.Subscribe({ filters: [] });
    const ended = new Promise<string>((resolve) => {
      stream.on('end', () => resolve('end'));
      stream.on('error', (e) => resolve(`error ${e.message}`));
      stream.on('data', () => undefined);
    });
    await sleep(100);
    const t0 = Date.now();
    expect(await d1.stop()).toEqual([]);
    expect(await ended).toBe('end');
    // The subscription did not hold the stop for the whole shutdown timeout.
    expect(Date.now() - t0).toBeLessThan(config.shutdown_timeout_ms);
    expect(await exists(config.grpc.address)).toBe(false);
    expect(await exists(path.join(config.state, 'berthd.pid'))).toBe(false);
    expect(await exists(path.join(config.root, 'berthd.pid'))).toBe(false);
    for (const c of [ns, intro, events]) c.close();

    const d2 = await Daemon.start({ config, log });
    const ns2 = createClient(NAMESPACES, config.grpc.address);
    const intro2 = createClient(INTROSPECTION, config.grpc.address);
    try {
      expect((await ns2.Get({ name: 'kept' })).namespace).toEqual({ name: 'kept', labels: { x: 'y' } });
      expect((await intro2.Server({})).uuid).toBe(uuid);
    } finally {
      ns2.close();
      intro2.close();
      await d2.stop();
    }
  });

  it('refuses a second daemon on the same root, even with another state dir and socket', async () => {
    const config = configIn(dir);
    const d1 = await Daemon.start({ config, log });
    try {
      // Same state: the state lock refuses. Other state, same root: the root lock does.
      await expect(Daemon.start({ config, log })).rejects.toThrow(/another berthd \(pid \d+\) holds .*state\/berthd\.pid/);
      const other = { ...config, state: path.join(dir, 'state2'), grpc: { ...config.grpc, address: path.join(dir, 'state2', 'd.sock') } };
      await expect(Daemon.start({ config: other, log })).rejects.toThrow(/holds .*root\/berthd\.pid/);
      // The refused one took nothing: its own state lock is gone again.
      expect(await exists(path.join(dir, 'state2', 'berthd.pid'))).toBe(false);
      expect(await exists(config.grpc.address)).toBe(true);
    } finally {
      await d1.stop();
    }
  });

  it('removes a stale socket file, but refuses an address another server answers on', async () => {
    const config = configIn(dir);
    // A leftover socket nobody listens on (a crashed berthd): bound by a process that exits.
    await mkdir(config.state, { recursive: true });
    const py = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', config.grpc.address]);
    expect(py.status).toBe(0);
    expect((await stat(config.grpc.address)).isSocket()).toBe(true);
    const d = await Daemon.start({ config, log });
    expect((await stat(config.grpc.address)).mode & 0o777).toBe(0o660);
    // A second daemon on another root but the same address: the socket answers, so refused.
    const other = configIn(path.join(dir, 'other'));
    other.grpc.address = config.grpc.address;
    await expect(Daemon.start({ config: other, log })).rejects.toThrow(/is in use by another server/);
    expect(await exists(path.join(dir, 'other', 'state', 'berthd.pid'))).toBe(false);
    await d.stop();
  });

  it('goes on without a failed plugin, shown with its error; stops when a required one fails', async () => {
    const broken: Plugin<void> = {
      type: 'io.berth.test.v1',
      id: 'broken',
      requires: [],
      async init() {
        throw new Error('cannot work here');
      },
    };
    const config = configIn(dir);
    const d = await Daemon.start({ config, log, plugins: [...PLUGINS, broken] });
    const intro = createClient(INTROSPECTION, config.grpc.address);
    try {
      const p = (await intro.Plugins({ filters: ['id==broken'] })).plugins[0]!;
      expect(p.initErr).toMatchObject({ code: grpc.status.UNKNOWN, message: 'cannot work here' });
    } finally {
      intro.close();
      await d.stop();
    }
    const strict = { ...config, required_plugins: [...config.required_plugins, 'io.berth.test.v1.broken'] };
    const err = await Daemon.start({ config: strict, log, plugins: [...PLUGINS, broken] }).catch((e) => e);
    expect(err).toBeInstanceOf(StartError);
    expect(err.message).toBe('required plugin io.berth.test.v1.broken did not start: cannot work here');
    expect(await exists(config.grpc.address)).toBe(false);
    expect(await exists(path.join(config.state, 'berthd.pid'))).toBe(false);
    // The metadata store it opened was closed: a new daemon opens it fine.
    const again = await Daemon.start({ config, log });
    await again.stop();
  });

  it('cuts calls still in flight after shutdown_timeout_ms', async () => {
    const config = { ...configIn(dir), shutdown_timeout_ms: 300 };
    let release!: () => void;
    const hang: Plugin<void> = {
      type: 'io.containerd.grpc.v1',
      id: 'version',
      requires: [],
      async init() {},
      register(server) {
        // A Version call that never answers by itself.
        const { addService } = require('../src/api') as typeof import('../src/api');
        addService(server, VERSION, { Version: () => new Promise<void>((r) => (release = r)) as never });
      },
    };
    const d = await Daemon.start({ config, log, plugins: [...PLUGINS.filter((p) => !(p.type === 'io.containerd.grpc.v1' && p.id === 'version')), hang] });
    const v = createClient(VERSION, config.grpc.address);
    const call = v.Version({}).then(() => 'answered', (e: grpc.ServiceError) => `failed ${e.code}`);
    await sleep(100);
    const t0 = Date.now();
    await d.stop();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(await call).toMatch(/^failed /);
    release?.();
    v.close();
  });
});
