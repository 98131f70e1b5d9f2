// An in-process grpc-js server with the storage-side plugins (src/plugins), on a unix socket
// in a temp dir: what the services-*.test.ts suites and Debian's ctr talk to.
//
// The plugins are started by hand, in their list order, with a minimal PluginContext (temp
// root and state, a silent pino logger, get() over the started instances, requires checked
// the registry's way), after the daemon's metadata and events plugins; a subscription to
// the exchange records what the services publish. The daemon's Leases and Namespaces
// services are started too: ctr calls them on the way (images import works under a lease).
//
// close() stops the server, closes the plugins in reverse order, unmounts anything still
// mounted below the temp dir (deepest first) and removes it.

import * as grpc from '@grpc/grpc-js';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { AnyValue } from '../../src/api';
import type { Metadata } from '../../src/core/metadata';
import { unmount } from '../../src/core/snapshots';
import type { Plugin, PluginContext, PluginInfo } from '../../src/daemon/plugin';
import { STORAGE_PLUGINS } from '../../src/plugins';
import { exchangePlugin, metadataPlugin } from '../../src/daemon/core-plugins';
import type { Exchange } from '../../src/core/events';
import { leasesPlugin } from '../../src/services/leases';
import { namespacesPlugin } from '../../src/services/namespaces';

export interface PublishedEvent {
  namespace: string;
  topic: string;
  event: AnyValue;
}

export interface TestServer {
  dir: string;
  root: string;
  state: string;
  socket: string;
  /** Events the services published, in order. */
  events: PublishedEvent[];
  /** The metadata plugin's instance (for setting up leases and checking records). */
  md: Metadata;
  /** Plugins by `type.id` and how their init went. */
  plugins: PluginInfo[];
  instance<T>(key: string): T;
  close(): Promise<void>;
}

const matches = (p: { type: string; id: string }, req: string) => p.type === req || `${p.type}.${p.id}` === req;

/** Everything mounted at or below dir, deepest first (from /proc/self/mountinfo). */
export async function mountsBelow(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4] as string)
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(dir + '/'));
  return points.sort((a, b) => b.length - a.length);
}

export async function startTestServer(plugins: Plugin<any>[] = STORAGE_PLUGINS): Promise<TestServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-svc-'));
  const root = path.join(dir, 'root');
  const state = path.join(dir, 'state');
  await mkdir(root, { mode: 0o711 });
  await mkdir(state, { mode: 0o711 });
  const events: PublishedEvent[] = [];
  const all = [metadataPlugin, exchangePlugin, leasesPlugin, namespacesPlugin, ...plugins];
  const infos: PluginInfo[] = all.map((p) => ({ type: p.type, id: p.id, requires: [...p.requires], capabilities: [], exports: {}, status: 'pending' }));
  const started: { plugin: Plugin<any>; instance: unknown }[] = [];
  const log = pino({ level: 'silent' });
  const get = <T>(what: string): T => {
    const s = started.find((x) => matches(x.plugin, what));
    if (!s) throw new Error(`no started plugin provides ${what}`);
    return s.instance as T;
  };

  let server: grpc.Server | undefined;
  const close = async (): Promise<void> => {
    if (server) {
      const s = server;
      await new Promise<void>((res) => {
        const t = setTimeout(() => {
          s.forceShutdown();
          res();
        }, 2000);
        s.tryShutdown(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    for (const s of started.reverse()) await s.plugin.close?.(s.instance).catch(() => undefined);
    for (const m of await mountsBelow(dir)) await unmount(m, { lazy: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (const [i, plugin] of all.entries()) {
      const info = infos[i] as PluginInfo;
      if (plugin.requires.some((r) => !started.some((s) => matches(s.plugin, r)))) {
        info.status = 'failed';
        info.error = new Error(`requirement of ${plugin.type}.${plugin.id} did not start`);
        continue;
      }
      const ctx: PluginContext = { root, state, config: { ...(plugin.defaults ?? {}) }, log, get, exports: info.exports, plugins: () => infos.map((x) => ({ ...x })) };
      try {
        started.push({ plugin, instance: await plugin.init(ctx) });
        info.status = 'ok';
      } catch (err) {
        info.error = err as Error;
        info.status = /skip plugin/.test((err as Error).message) ? 'skipped' : 'failed';
      }
    }
    const md = get<Metadata>('io.containerd.metadata.v1');
    get<Exchange>('io.containerd.event.v1').subscribe([], (env) => events.push({ namespace: env.namespace, topic: env.topic, event: env.event as AnyValue }));
    server = new grpc.Server();
    for (const s of started) s.plugin.register?.(server, s.instance);
    const socket = path.join(dir, 'berthd.sock');
    const srv = server;
    await new Promise<void>((res, rej) => srv.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
    return { dir, root, state, socket, events, md, plugins: infos, instance: get, close };
  } catch (err) {
    await close();
    throw err;
  }
}
