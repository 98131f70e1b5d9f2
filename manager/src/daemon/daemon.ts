// berthd assembled: the lock, the plugins, the gRPC socket, and an orderly stop.
//
// start():
//   1. root and state directories (0711), then the pid locks <state>/berthd.pid and
//      <root>/berthd.pid: a second berthd on the same root (or state) refuses to start
//   2. plugins started in dependency order; a failed one is recorded (Introspection shows it)
//      and berthd goes on, unless it is listed in `required_plugins`
//   3. the socket: a leftover file from a dead berthd is removed (one that answers belongs
//      to a live server: refused), then bound with umask 0117 so it is born 0660 (grpc-js
//      accepts as soon as it is bound: a chmod afterwards would leave a window), then
//      chowned to grpc.uid/gid when those are not root
// stop():
//   stop accepting; end event subscriptions (they never end by themselves); give calls in
//   flight `shutdown_timeout_ms`, then cut them; close plugins in reverse order; remove the
//   socket and the locks. Containers are not touched: their shims outlive berthd.

import * as grpc from '@grpc/grpc-js';
import { promises as fsp } from 'fs';
import * as net from 'net';
import * as path from 'path';
import type { Logger } from 'pino';
import type { Exchange } from '../core/events';
import type { Config } from './config';
import { EVENTS_PLUGIN } from './core-plugins';
import { acquirePidLock, type PidLock } from './lock';
import type { Plugin } from './plugin';
import { PLUGINS } from './plugins';
import { pluginKey, Registry } from './registry';

export interface DaemonOptions {
  config: Config;
  log: Logger;
  /** The plugins to run (default: daemon/plugins.ts). */
  plugins?: Plugin<any>[];
}

export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}

/** True when something accepts connections on the unix socket at `address`. */
function socketAnswers(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(address);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class Daemon {
  private stopping?: Promise<Error[]>;

  private constructor(
    readonly config: Config,
    readonly registry: Registry,
    private readonly server: grpc.Server,
    private readonly locks: PidLock[],
    private readonly log: Logger,
  ) {}

  get address(): string {
    return this.config.grpc.address;
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { config, log } = opts;
    await fsp.mkdir(config.root, { recursive: true, mode: 0o711 });
    await fsp.mkdir(config.state, { recursive: true, mode: 0o711 });
    const locks: PidLock[] = [];
    const releaseLocks = async () => {
      for (const l of locks.reverse()) await l.release().catch(() => undefined);
    };
    try {
      for (const file of new Set([path.join(config.state, 'berthd.pid'), path.join(config.root, 'berthd.pid')])) {
        locks.push(await acquirePidLock(file, (why) => log.warn({ file, why }, 'taking over a stale lock file')));
      }
    } catch (err) {
      await releaseLocks();
      throw err;
    }

    const plugins = opts.plugins ?? PLUGINS;
    let registry: Registry;
    try {
      registry = new Registry(plugins, { disabled: config.disabled_plugins });
    } catch (err) {
      await releaseLocks();
      throw err;
    }
    const known = new Set(registry.list().map(pluginKey));
    for (const key of Object.keys(config.plugins)) {
      if (!known.has(key)) log.warn({ plugin: key }, 'config has a section for a plugin that is not loaded');
    }
    const fail = async (message: string): Promise<never> => {
      await registry.close(log);
      await releaseLocks();
      throw new StartError(message);
    };

    await registry.init({ root: config.root, state: config.state, log, sectionOf: (key) => config.plugins[key] });
    for (const key of config.required_plugins) {
      const info = registry.info(key);
      if (!info) await fail(`required plugin ${key} is not loaded`);
      else if (info.status !== 'ok') await fail(`required plugin ${key} did not start: ${info.error?.message ?? info.status}`);
    }

    const server = new grpc.Server({
      'grpc.max_receive_message_length': config.grpc.max_recv_message_size,
      'grpc.max_send_message_length': config.grpc.max_send_message_size,
    });
    try {
      registry.register(server);
      await listen(server, config, log);
    } catch (err) {
      server.forceShutdown();
      return fail(`serving on ${config.grpc.address}: ${(err as Error).message}`);
    }
    const d = new Daemon(config, registry, server, locks, log);
    log.info({ address: config.grpc.address, root: config.root, state: config.state, plugins: registry.list().filter((p) => p.status === 'ok').length }, 'berthd is serving');
    return d;
  }

  /** Stops serving and closes everything; resolves with the errors met on the way. Idempotent. */
  stop(): Promise<Error[]> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<Error[]> {
    const { log } = this;
    log.info('berthd is stopping');
    const drained = new Promise<boolean>((resolve) => this.server.tryShutdown(() => resolve(true)));
    try {
      this.registry.get<Exchange>(EVENTS_PLUGIN).close();
    } catch {
      // no exchange loaded: no subscriptions to end
    }
    const inTime = await Promise.race([drained, sleep(this.config.shutdown_timeout_ms).then(() => false)]);
    if (!inTime) {
      log.warn({ timeoutMs: this.config.shutdown_timeout_ms }, 'calls still in flight: cutting them');
      this.server.forceShutdown();
    }
    const errors = await this.registry.close(log);
    await fsp.rm(this.config.grpc.address, { force: true }).catch((err) => errors.push(err));
    for (const l of [...this.locks].reverse()) await l.release().catch((err) => errors.push(err));
    log.info({ errors: errors.length }, 'berthd stopped');
    return errors;
  }
}

async function listen(server: grpc.Server, config: Config, log: Logger): Promise<void> {
  const address = config.grpc.address;
  await fsp.mkdir(path.dirname(address), { recursive: true, mode: 0o711 });
  const existing = await fsp.lstat(address).catch(() => undefined);
  if (existing) {
    if (!existing.isSocket()) throw new Error(`${address} exists and is not a socket`);
    if (await socketAnswers(address)) throw new Error(`${address} is in use by another server`);
    log.info({ address }, 'removing a stale socket');
    await fsp.rm(address, { force: true });
  }
  // The socket file takes its mode from the umask at bind(): 0777 & ~0117 = 0660.
  const old = process.umask(0o117);
  try {
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(`unix://${address}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  } finally {
    process.umask(old);
  }
  if (config.grpc.uid !== 0 || config.grpc.gid !== 0) await fsp.chown(address, config.grpc.uid, config.grpc.gid);
  const st = await fsp.stat(address);
  if ((st.mode & 0o777) !== 0o660) throw new Error(`socket ${address} has mode ${(st.mode & 0o777).toString(8)}, expected 660`);
}
