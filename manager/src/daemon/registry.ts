// The plugin registry: orders berthd's plugins by what they require, starts them in that
// order, remembers how each went (for Introspection), and closes them in reverse.
//
// Rules (containerd's, where it has one):
//   - `requires` names a type (every plugin of that type comes first) or a `type.id`.
//     Naming something no plugin provides, or a cycle, is a programming error: the
//     registry refuses to be built.
//   - `optionalRequires` only orders: those plugins start first when they are enabled; one
//     that is absent, disabled or failed does not keep the plugin from starting.
//   - A plugin whose init throws is recorded as failed (or skipped, for skipPlugin) and the
//     others go on. A plugin requiring it is then failed without being started, unless
//     another plugin of the required type started (several snapshotters, one of them
//     unsupported here, still satisfy `io.containerd.snapshotter.v1`).
//   - Whether a failure stops the daemon is the caller's decision (config
//     `required_plugins`); the registry only reports.
//   - close() closes the started plugins in the reverse of their start order, every one
//     even when some throw, and returns the errors.

import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Plugin, PluginContext, PluginInfo } from './plugin';

/** Thrown from a plugin's init when it does not apply here; ctr shows such plugins as "skip". */
export class PluginSkipped extends Error {
  constructor(why: string) {
    // containerd's ErrSkipPlugin text: ctr looks for "skip plugin" in the init error.
    super(`${why}: skip plugin`);
    this.name = 'PluginSkipped';
  }
}

export const skipPlugin = (why: string): PluginSkipped => new PluginSkipped(why);

export const pluginKey = (p: { type: string; id: string }): string => `${p.type}.${p.id}`;

export interface RegistryOptions {
  /** `type.id` of plugins not to register at all (config `disabled_plugins`). */
  disabled?: string[];
}

export interface InitOptions {
  root: string;
  state: string;
  log: Logger;
  /** The config section of a plugin (`type.id`) from the file, before its defaults. */
  sectionOf?(key: string): Record<string, unknown> | undefined;
}

interface Entry {
  plugin: Plugin<unknown>;
  info: PluginInfo;
  instance?: unknown;
}

export class Registry {
  private readonly entries: Entry[];
  private readonly started: Entry[] = [];

  constructor(plugins: Plugin<any>[], opts: RegistryOptions = {}) {
    const disabled = new Set(opts.disabled ?? []);
    const byKey = new Map<string, Plugin<unknown>>();
    for (const p of plugins) {
      const key = pluginKey(p);
      if (byKey.has(key)) throw new Error(`plugin ${key} is registered twice`);
      byKey.set(key, p);
    }
    const enabled = plugins.filter((p) => !disabled.has(pluginKey(p)));
    this.entries = order(enabled).map((plugin) => ({
      plugin,
      info: {
        type: plugin.type,
        id: plugin.id,
        requires: [...plugin.requires],
        capabilities: [...(plugin.capabilities ?? [])],
        exports: {},
        status: 'pending',
      },
    }));
  }

  /** Every registered plugin, in start order. */
  list(): PluginInfo[] {
    return this.entries.map((e) => ({ ...e.info, requires: [...e.info.requires], capabilities: [...e.info.capabilities], exports: { ...e.info.exports } }));
  }

  /** The state of one plugin by `type.id` (undefined when not registered). */
  info(key: string): PluginInfo | undefined {
    return this.list().find((i) => pluginKey(i) === key);
  }

  /** The instance of a started plugin by type (first started of that type) or `type.id`. */
  get<T>(typeOrKey: string): T {
    const e = this.started.find((s) => matches(s.plugin, typeOrKey));
    if (!e) throw new Error(`no started plugin provides ${typeOrKey}`);
    return e.instance as T;
  }

  /** Starts every plugin in order; failures are recorded, not thrown. */
  async init(opts: InitOptions): Promise<void> {
    for (const e of this.entries) {
      const { plugin, info } = e;
      const key = pluginKey(plugin);
      const log = opts.log.child({ plugin: key });
      const missing = plugin.requires.filter((r) => !this.started.some((s) => matches(s.plugin, r)));
      if (missing.length > 0) {
        info.status = 'failed';
        info.error = new Error(`plugin ${key} requires ${missing.join(', ')}, which did not start`);
        log.warn({ requires: missing }, 'plugin not started: a requirement did not start');
        continue;
      }
      const ctx: PluginContext = {
        root: opts.root,
        state: opts.state,
        config: { ...(plugin.defaults ?? {}), ...(opts.sectionOf?.(key) ?? {}) },
        log,
        get: <T>(what: string): T => {
          if (![...plugin.requires, ...(plugin.optionalRequires ?? [])].some((r) => coveredBy(what, r))) {
            throw new Error(`plugin ${key} asked for ${what}, which it does not list in requires`);
          }
          return this.get<T>(what);
        },
        exports: info.exports,
        plugins: () => this.list(),
      };
      try {
        log.debug('starting plugin');
        e.instance = await plugin.init(ctx);
        info.status = 'ok';
        this.started.push(e);
        log.debug('plugin started');
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        info.error = error;
        if (err instanceof PluginSkipped) {
          info.status = 'skipped';
          log.info({ reason: error.message }, 'plugin skipped');
        } else {
          info.status = 'failed';
          log.warn({ err: error }, 'plugin failed to start');
        }
      }
    }
  }

  /** Lets every started plugin register its gRPC services. */
  register(server: Server): void {
    for (const e of this.started) e.plugin.register?.(server, e.instance);
  }

  /** Closes the started plugins in reverse start order; returns what failed (never throws). */
  async close(log?: Logger): Promise<Error[]> {
    const errors: Error[] = [];
    while (this.started.length > 0) {
      const e = this.started.pop() as Entry;
      try {
        await e.plugin.close?.(e.instance);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        errors.push(new Error(`closing plugin ${pluginKey(e.plugin)}: ${error.message}`));
        log?.warn({ err: error, plugin: pluginKey(e.plugin) }, 'closing a plugin failed');
      }
    }
    return errors;
  }
}

/** True when plugin p satisfies a requirement naming a type or a `type.id`. */
function matches(p: { type: string; id: string }, req: string): boolean {
  return p.type === req || pluginKey(p) === req;
}

/** True when `get(what)` asks for something requirement `req` guarantees was started first. */
function coveredBy(what: string, req: string): boolean {
  return what === req || what.startsWith(req + '.') || req.startsWith(what + '.');
}

/**
 * A topological order of `plugins` by their requires: dependencies first; among plugins
 * free to go, the order of the list. Throws on an unknown requirement or a cycle.
 */
export function order<P extends Plugin<any>>(plugins: P[]): P[] {
  const deps = new Map<P, P[]>();
  for (const p of plugins) {
    const ds: P[] = [];
    for (const r of p.requires) {
      const found = plugins.filter((q) => q !== p && matches(q, r));
      if (found.length === 0) throw new Error(`plugin ${pluginKey(p)} requires ${r}, which no enabled plugin provides`);
      ds.push(...found);
    }
    for (const r of p.optionalRequires ?? []) ds.push(...plugins.filter((q) => q !== p && matches(q, r)));
    deps.set(p, ds);
  }
  const out: P[] = [];
  const state = new Map<P, 'visiting' | 'done'>();
  const visit = (p: P, path: P[]): void => {
    const s = state.get(p);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`plugins require each other in a cycle: ${[...path, p].map(pluginKey).join(' -> ')}`);
    state.set(p, 'visiting');
    for (const d of deps.get(p) as P[]) visit(d, [...path, p]);
    state.set(p, 'done');
    out.push(p);
  };
  for (const p of plugins) visit(p, []);
  return out;
}
