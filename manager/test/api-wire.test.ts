// Wire compatibility against the real thing: a PRIVATE containerd 1.6 (Debian's), everything
// in a temp dir, called with OUR generated clients. If our field numbers, types, method paths
// or streaming shapes were off, containerd would reject or misread the calls, or we would
// misread its answers. Needs root and the containerd package (make deps); CI runs as root.
//
// It must leave nothing behind: containerd is stopped by pid, the temp dir removed, and
// /run/containerd, /var/lib/containerd and /opt/containerd must look as they did before.

import * as grpc from '@grpc/grpc-js';
import { execFile, spawn, spawnSync, type ChildProcess } from 'child_process';
import { createHash } from 'crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { privateContainerdConfig } from '../../e2e/test/support/containerd';
import { join } from 'path';
import {
  CONTAINERS,
  CONTENT,
  EVENTS,
  IMAGES,
  INTROSPECTION,
  LEASES,
  NAMESPACES,
  SNAPSHOTS,
  SPEC_TYPE_URL,
  TASKS,
  VERSION,
  addService,
  collect,
  createClient,
  dateOf,
  namespaceOf,
  packAny,
  packJsonAny,
  unpackAny,
  type Client,
  type ServiceName,
} from '../src/api';

jest.setTimeout(60000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every path under dir (depth-limited), for the before/after comparison. */
function tree(dir: string, depth = 4): string[] {
  if (!existsSync(dir)) return [];
  const out = [dir];
  if (depth === 0) return out;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory() && !e.isSymbolicLink()) out.push(...tree(p, depth - 1));
      else out.push(p);
    }
  } catch {
    // unreadable: counted as the dir itself
  }
  return out;
}

const GLOBAL_DIRS = ['/run/containerd', '/var/lib/containerd', '/opt/containerd'];
const globalState = () => GLOBAL_DIRS.flatMap((d) => tree(d)).sort();

function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

class PrivateContainerd {
  dir = '';
  child?: ChildProcess;

  get address(): string {
    return join(this.dir, 'containerd.sock');
  }

  get logFile(): string {
    return join(this.dir, 'containerd.log');
  }

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'ctrd-api-'));
    chmodSync(this.dir, 0o711);
    for (const sub of ['root', 'state', 'opt']) mkdirSync(join(this.dir, sub));
    const config = join(this.dir, 'config.toml');
    writeFileSync(config, privateContainerdConfig(this.dir, this.address));
    const log = openSync(this.logFile, 'a');
    this.child = spawn('containerd', ['--config', config], { stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    const version = createClient(VERSION, this.address);
    try {
      for (let i = 0; i < 250; i++) {
        if (this.child.exitCode !== null) break;
        if (existsSync(this.address)) {
          try {
            await version.Version({}, { deadline: Date.now() + 2000 });
            return;
          } catch {
            // not serving yet
          }
        }
        await sleep(40);
      }
    } finally {
      version.close();
    }
    throw new Error(`containerd did not come up: ${readFileSync(this.logFile, 'utf8').slice(-2000)}`);
  }

  async stop(): Promise<void> {
    const pid = this.child?.pid;
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 250 && alive(pid); i++) await sleep(40);
      if (alive(pid)) {
        process.kill(pid, 'SIGKILL');
        for (let i = 0; i < 100 && alive(pid); i++) await sleep(40);
      }
    }
    // The native snapshotter mounts nothing, but be sure before removing the dir.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
      .map((l) => l.split(' ')[4]!).filter((m) => m.startsWith(this.dir + '/')).sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

const NS = `api-wire-${process.pid}`;
const BLOB = Buffer.from(JSON.stringify({ schemaVersion: 2, note: 'berth api-wire test blob' }));
const DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const IMAGE = 'example.invalid/api-wire:1';
const CID = 'api-wire-c1';
const SNAP = 'api-wire-snap';

describe('our generated clients against containerd 1.6', () => {
  const ctrd = new PrivateContainerd();
  const before = globalState();
  const clients: { close(): void }[] = [];
  let leaseId = '';

  function client<S extends ServiceName>(name: S): Client<S> {
    const c = createClient(name, ctrd.address, { namespace: NS });
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('api-wire.test.ts starts containerd and must run as root');
    if (spawnSync('sh', ['-c', 'command -v containerd']).status !== 0) throw new Error('containerd is not installed (make deps)');
    await ctrd.start();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await ctrd.stop();
    if (ctrd.dir) expect(existsSync(ctrd.dir)).toBe(false);
    expect(globalState()).toEqual(before);
  });

  it('Version.Version', async () => {
    const v = await client(VERSION).Version({});
    const expected = spawnSync('containerd', ['--version'], { encoding: 'utf8' }).stdout.split(' ')[2];
    expect(v.version).toBe(expected);
    expect(v.version).toMatch(/^v?1\.6\./);
    expect(typeof v.revision).toBe('string');
  });

  it('Events.Subscribe sees Publish, then Namespaces.Create as a /namespaces/create envelope', async () => {
    const events = client(EVENTS);
    const stream = events.Subscribe({ filters: [`namespace==${NS}`] });
    const got: { topic: string; namespace: string; timestamp: { seconds: number; nanos: number } | null; event: { typeUrl: string; value: Uint8Array } | null }[] = [];
    stream.on('data', (e) => got.push(e));
    stream.on('error', () => undefined);
    // No ack exists for a subscription: publish probes until one comes back.
    for (let i = 0; i < 100 && !got.some((e) => e.topic === '/api-wire/probe'); i++) {
      await events.Publish({ topic: '/api-wire/probe', event: packAny('containerd.events.ContentDelete', { digest: 'sha256:probe' }) });
      await sleep(50);
    }
    const probe = got.find((e) => e.topic === '/api-wire/probe')!;
    expect(probe.namespace).toBe(NS);
    expect(unpackAny(probe.event!)).toEqual({ name: 'containerd.events.ContentDelete', message: { digest: 'sha256:probe' } });

    const created = await client(NAMESPACES).Create({ namespace: { name: NS, labels: { owner: 'berth-test' } } });
    expect(created.namespace).toEqual({ name: NS, labels: { owner: 'berth-test' } });
    for (let i = 0; i < 100 && !got.some((e) => e.topic === '/namespaces/create'); i++) await sleep(20);
    stream.cancel();
    const env = got.find((e) => e.topic === '/namespaces/create');
    expect(env).toBeDefined();
    expect(env!.namespace).toBe(NS);
    expect(Math.abs(dateOf(env!.timestamp)!.getTime() - Date.now())).toBeLessThan(60000);
    expect(env!.event!.typeUrl).toBe('containerd.events.NamespaceCreate');
    expect(unpackAny(env!.event!).message).toEqual({ name: NS, labels: { owner: 'berth-test' } });
  });

  it('Namespaces.Get/List/Update', async () => {
    const ns = client(NAMESPACES);
    expect((await ns.Get({ name: NS })).namespace).toEqual({ name: NS, labels: { owner: 'berth-test' } });
    const list = await ns.List({});
    expect(list.namespaces.map((n) => n.name)).toContain(NS);
    // Only the label named in the mask changes (containerd 1.6 answers without the namespace).
    await ns.Update({ namespace: { name: NS, labels: { extra: 'x', ignored: 'y' } }, updateMask: { paths: ['labels.extra'] } });
    expect((await ns.Get({ name: NS })).namespace!.labels).toEqual({ owner: 'berth-test', extra: 'x' });
    // containerd 1.6 answers Get of an unknown namespace with an empty one, not NOT_FOUND.
    expect((await ns.Get({ name: 'api-wire-absent' })).namespace).toEqual({ name: 'api-wire-absent', labels: {} });
    expect((await ns.List({})).namespaces.map((n) => n.name)).not.toContain('api-wire-absent');
  });

  it('Leases.Create/List', async () => {
    const leases = client(LEASES);
    const res = await leases.Create({ id: 'api-wire-lease', labels: { why: 'test' } });
    leaseId = res.lease!.id;
    expect(res.lease).toMatchObject({ id: 'api-wire-lease', labels: { why: 'test' } });
    expect(dateOf(res.lease!.createdAt)).toBeInstanceOf(Date);
    const list = await leases.List({ filters: ['id==api-wire-lease'] });
    expect(list.leases.map((l) => [l.id, l.labels])).toEqual([['api-wire-lease', { why: 'test' }]]);
  });

  it('Content.Write (bidi STAT/WRITE/COMMIT under the lease), Info, Read, List, Status', async () => {
    const content = client(CONTENT);
    const w = content.Write({ lease: leaseId });
    const responses: { action: string; offset: number; total: number; digest: string; startedAt: unknown }[] = [];
    const ended = new Promise<void>((res, rej) => {
      w.on('data', (r) => responses.push(r));
      w.on('end', res);
      w.on('error', rej);
    });
    const next = async (n: number) => {
      for (let i = 0; i < 200 && responses.length < n; i++) await sleep(10);
    };
    w.write({ action: 'STAT', ref: 'api-wire-ref', total: BLOB.length, expected: DIGEST });
    await next(1);
    w.write({ action: 'WRITE', ref: 'api-wire-ref', offset: 0, data: BLOB.subarray(0, 10) });
    await next(2);
    w.write({ action: 'COMMIT', ref: 'api-wire-ref', offset: 10, data: BLOB.subarray(10), total: BLOB.length, expected: DIGEST, labels: { 'test.berth/blob': 'yes' } });
    await next(3);
    w.end();
    await ended;
    // One response per request (containerd 1.6 repeats the COMMIT one when the client closes).
    expect(responses.slice(0, 3).map((r) => [r.action, r.offset])).toEqual([['STAT', 0], ['WRITE', 10], ['COMMIT', BLOB.length]]);
    expect(responses.slice(3).every((r) => r.action === 'COMMIT')).toBe(true);
    // The digest of what was written so far: of nothing after STAT, of 10 bytes after WRITE.
    expect(responses[0]!.digest).toBe(`sha256:${createHash('sha256').digest('hex')}`);
    expect(responses[1]!.digest).toBe(`sha256:${createHash('sha256').update(BLOB.subarray(0, 10)).digest('hex')}`);
    expect(responses[2]!.digest).toBe(DIGEST);
    expect(responses[2]!.total).toBe(BLOB.length);
    expect(responses[0]!.startedAt).not.toBeNull();

    const info = (await content.Info({ digest: DIGEST })).info!;
    expect(info).toMatchObject({ digest: DIGEST, size: BLOB.length, labels: { 'test.berth/blob': 'yes' } });
    expect(dateOf(info.createdAt)).toBeInstanceOf(Date);

    const chunks = await collect(content.Read({ digest: DIGEST, offset: 5 }));
    // containerd 1.6 counts response offsets from the requested offset, not from the blob's start.
    expect(chunks[0]!.offset).toBe(0);
    expect(Buffer.concat(chunks.map((c) => Buffer.from(c.data)))).toEqual(BLOB.subarray(5));

    const listed = (await collect(content.List({}))).flatMap((r) => r.info);
    expect(listed.map((i) => [i.digest, i.size])).toEqual([[DIGEST, BLOB.length]]);

    const statuses = await content.ListStatuses({});
    expect(statuses.statuses).toEqual([]);
    await expect(content.Info({ digest: `sha256:${'0'.repeat(64)}` })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    const resources = await client(LEASES).ListResources({ id: leaseId });
    expect(resources.resources).toContainEqual({ id: DIGEST, type: 'content' });
  });

  it('Images.Create/Get/List pointing at the blob', async () => {
    const images = client(IMAGES);
    const target = { mediaType: MANIFEST_TYPE, digest: DIGEST, size: BLOB.length, annotations: { 'org.opencontainers.image.ref.name': '1' } };
    const created = (await images.Create({ image: { name: IMAGE, labels: { a: 'b' }, target } })).image!;
    expect(created).toMatchObject({ name: IMAGE, labels: { a: 'b' }, target });
    expect(dateOf(created.createdAt)).toBeInstanceOf(Date);
    expect(dateOf(created.updatedAt)).toBeInstanceOf(Date);
    expect((await images.Get({ name: IMAGE })).image).toEqual(created);
    const list = await images.List({ filters: [`name==${IMAGE}`] });
    expect(list.images.map((i) => [i.name, i.target!.digest, i.target!.size])).toEqual([[IMAGE, DIGEST, BLOB.length]]);
    await expect(images.Create({ image: { name: IMAGE, target } })).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });
  });

  it('Snapshots.Prepare/Stat/List/Mounts on the native snapshotter', async () => {
    const snaps = client(SNAPSHOTS);
    const prepared = await snaps.Prepare({ snapshotter: 'native', key: SNAP, labels: { l: 'v' } });
    expect(prepared.mounts).toHaveLength(1);
    expect(prepared.mounts[0]).toMatchObject({ type: 'bind', target: '' });
    expect(prepared.mounts[0]!.source.startsWith(join(ctrd.dir, 'root'))).toBe(true);
    expect(prepared.mounts[0]!.options).toEqual(expect.arrayContaining(['rbind', 'rw']));
    const stat = (await snaps.Stat({ snapshotter: 'native', key: SNAP })).info!;
    expect(stat).toMatchObject({ name: SNAP, parent: '', kind: 'ACTIVE', labels: { l: 'v' } });
    const listed = (await collect(snaps.List({ snapshotter: 'native' }))).flatMap((r) => r.info);
    expect(listed.map((i) => [i.name, i.kind])).toEqual([[SNAP, 'ACTIVE']]);
    expect((await snaps.Mounts({ snapshotter: 'native', key: SNAP })).mounts).toEqual(prepared.mounts);
    const usage = await snaps.Usage({ snapshotter: 'native', key: SNAP });
    expect(typeof usage.size).toBe('number');
  });

  it('Containers.Create/Get/List/ListStream with a spec and runc options in Any', async () => {
    const containers = client(CONTAINERS);
    const spec = { ociVersion: '1.0.2-dev', process: { args: ['/bin/true'], cwd: '/' }, root: { path: 'rootfs' } };
    const created = (await containers.Create({
      container: {
        id: CID,
        labels: { role: 'test' },
        image: IMAGE,
        runtime: { name: 'io.containerd.runc.v2', options: packAny('containerd.runc.v1.Options', { binaryName: '/usr/bin/false', root: '/nonexistent/root' }) },
        spec: packJsonAny(SPEC_TYPE_URL, spec),
        snapshotter: 'native',
        snapshotKey: SNAP,
        extensions: { 'test.berth/ext': packAny('containerd.types.Platform', { os: 'linux', architecture: 'riscv64' }) },
      },
    })).container!;
    expect(created).toMatchObject({ id: CID, labels: { role: 'test' }, image: IMAGE, snapshotter: 'native', snapshotKey: SNAP });
    expect(created.spec!.typeUrl).toBe(SPEC_TYPE_URL);
    expect(JSON.parse(Buffer.from(created.spec!.value).toString())).toEqual(spec);
    expect(created.runtime!.name).toBe('io.containerd.runc.v2');
    expect(unpackAny(created.runtime!.options!)).toMatchObject({ name: 'containerd.runc.v1.Options', message: { binaryName: '/usr/bin/false', root: '/nonexistent/root', systemdCgroup: false } });
    expect(unpackAny(created.extensions['test.berth/ext']!).message).toEqual({ os: 'linux', architecture: 'riscv64', variant: '' });
    expect(dateOf(created.createdAt)).toBeInstanceOf(Date);

    expect((await containers.Get({ id: CID })).container).toEqual(created);
    const list = await containers.List({ filters: ['labels.role==test'] });
    expect(list.containers.map((c) => c.id)).toEqual([CID]);
    const streamed = await collect(containers.ListStream({}));
    expect(streamed.map((m) => m.container!.id)).toEqual([CID]);
  });

  it('Tasks.List is empty and Tasks.Get of a task-less container is NOT_FOUND', async () => {
    const tasks = client(TASKS);
    expect(await tasks.List({})).toEqual({ tasks: [] });
    await expect(tasks.Get({ containerId: CID })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('Introspection.Plugins and Server', async () => {
    const intro = client(INTROSPECTION);
    const { plugins } = await intro.Plugins({});
    const version = plugins.find((p) => p.type === 'io.containerd.grpc.v1' && p.id === 'version');
    expect(version).toBeDefined();
    expect(plugins.some((p) => p.id === 'cri')).toBe(false);
    const native = plugins.find((p) => p.type === 'io.containerd.snapshotter.v1' && p.id === 'native')!;
    expect(native.initErr).toBeNull();
    expect(native.platforms.length).toBeGreaterThan(0);
    expect(native.platforms[0]!.os).toBe('linux');
    const overlay = plugins.find((p) => p.type === 'io.containerd.snapshotter.v1' && p.id === 'overlayfs')!;
    expect(overlay.exports).toEqual({ root: join(ctrd.dir, 'root', 'io.containerd.snapshotter.v1.overlayfs') });
    // Snapshotters that cannot work here (aufs, zfs, btrfs on a non-btrfs root...) report why.
    const failed = plugins.filter((p) => p.initErr);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((p) => typeof p.initErr!.message === 'string' && p.initErr!.message.length > 0)).toBe(true);
    const filtered = await intro.Plugins({ filters: ['type==io.containerd.grpc.v1'] });
    expect(filtered.plugins.every((p) => p.type === 'io.containerd.grpc.v1')).toBe(true);
    expect((await intro.Server({})).uuid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('deletes everything again: container, snapshot, image, lease, content, namespace', async () => {
    await client(CONTAINERS).Delete({ id: CID });
    // Unreferenced once the container is gone: containerd's GC may remove it first.
    await client(SNAPSHOTS).Remove({ snapshotter: 'native', key: SNAP }).catch((e: grpc.ServiceError) => expect(e.code).toBe(grpc.status.NOT_FOUND));
    expect((await collect(client(SNAPSHOTS).List({ snapshotter: 'native' }))).flatMap((r) => r.info).map((i) => i.name)).not.toContain(SNAP);
    await client(IMAGES).Delete({ name: IMAGE, sync: true });
    await client(LEASES).Delete({ id: leaseId, sync: true });
    expect((await client(LEASES).List({})).leases).toEqual([]);
    // The blob is unreferenced now; the lease kept it until here. Remove it (or GC did already).
    await client(CONTENT).Delete({ digest: DIGEST }).catch((e: grpc.ServiceError) => expect(e.code).toBe(grpc.status.NOT_FOUND));
    expect((await collect(client(CONTENT).List({}))).flatMap((r) => r.info)).toEqual([]);
    await client(NAMESPACES).Delete({ name: NS });
    expect((await client(NAMESPACES).List({})).namespaces.map((n) => n.name)).not.toContain(NS);
  });
});

// The other direction: Debian's ctr against a grpc-js server built from our definitions.
describe("ctr against a server made from our service definitions", () => {
  let dir = '';
  let sock = '';
  const server = new grpc.Server();
  const calls: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'api-ctr-'));
    sock = join(dir, 'api.sock');
    if (spawnSync('sh', ['-c', 'command -v ctr']).status !== 0) throw new Error('ctr is not installed (make deps)');
    addService(server, VERSION, {
      Version: (call, cb) => {
        calls.push(`Version ns=${namespaceOf(call)}`);
        cb(null, { version: '9.8.7-berthtest', revision: 'abc123' });
      },
    });
    addService(server, INTROSPECTION, {
      Plugins: (_call, cb) => cb(null, { plugins: [] }),
      Server: (_call, cb) => cb(null, { uuid: '11111111-2222-3333-4444-555555555555' }),
    });
    addService(server, NAMESPACES, {
      // ctr namespaces ls lists names, then Gets each one for its labels.
      Get: (call, cb) => cb(null, { namespace: { name: call.request.name, labels: call.request.name === 'alpha' ? { 'x.y': 'z' } : {} } }),
      List: (call, cb) => {
        calls.push(`List ns=${namespaceOf(call)}`);
        cb(null, { namespaces: [{ name: 'alpha', labels: { 'x.y': 'z' } }, { name: 'beta' }] });
      },
      Create: (call, cb) => {
        calls.push(`Create ${call.request.namespace!.name} ${JSON.stringify(call.request.namespace!.labels)}`);
        cb(null, { namespace: call.request.namespace });
      },
      Update: (_call, cb) => cb(null, {}),
      Delete: (call, cb) => {
        calls.push(`Delete ${call.request.name}`);
        cb(null, {});
      },
    });
    await new Promise<void>((res, rej) => server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  });

  afterAll(async () => {
    await new Promise<void>((res) => server.tryShutdown(() => res()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Asynchronously: the server answering ctr runs in this very process.
  const ctr = (...args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile('ctr', ['--address', sock, '--timeout', '10s', ...args], { encoding: 'utf8', timeout: 20000 }, (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });

  it('ctr version shows our version and revision', async () => {
    const r = await ctr('version');
    // ctr warns when client and server versions and revisions differ, as they do here; nothing else.
    expect(r.stderr.split('\n').filter(Boolean).filter((l) => !/(version|revision) mismatch/.test(l))).toEqual([]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Server:\s+Version:\s+9\.8\.7-berthtest\s+Revision:\s+abc123/);
  });

  it('ctr namespaces ls / create --label / rm reach our handlers with decoded fields', async () => {
    const ls = await ctr('namespaces', 'ls');
    expect(ls.status).toBe(0);
    expect(ls.stdout.split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/))).toEqual([['NAME', 'LABELS'], ['alpha', 'x.y=z'], ['beta']]);
    expect((await ctr('namespaces', 'create', 'gamma', 'k=v')).status).toBe(0);
    expect((await ctr('namespaces', 'rm', 'gamma')).status).toBe(0);
    expect(calls).toEqual(expect.arrayContaining(['List ns=default', 'Create gamma {"k":"v"}', 'Delete gamma']));
  });
});
