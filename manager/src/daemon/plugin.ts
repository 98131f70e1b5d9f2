import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';

// berthd is assembled from plugins, as containerd is: each has containerd's type and id (so
// `ctr plugins ls` reads familiarly), names the plugin types it needs, and is started after
// them. A plugin may serve gRPC services; core/ code never sees gRPC.
//
// The list berthd starts is daemon/plugins.ts; the registry that orders, starts and closes
// them is daemon/registry.ts. A plugin that cannot work here (wrong kernel, wrong filesystem)
// throws `skipPlugin(why)` from init: Introspection then reports it as skipped, not failed.

export interface PluginContext {
  /** berthd --root (persistent: /var/lib/berth) and --state (runtime: /run/berth). */
  root: string;
  state: string;
  /** This plugin's section of the config file, defaults applied. */
  config: Record<string, unknown>;
  log: Logger;
  /** The instance of an already started plugin, by type (first of that type) or `type.id`. */
  get<T>(typeOrTypeAndId: string): T;
  /** What this plugin tells Introspection about itself (e.g. `root`), filled during init. */
  exports: Record<string, string>;
  /** Every registered plugin and its state, as of the moment of the call (Introspection). */
  plugins(): PluginInfo[];
}

export interface Plugin<T = unknown> {
  /** containerd's plugin type, e.g. `io.containerd.content.v1`, `io.containerd.grpc.v1`. */
  type: string;
  /** e.g. `content`, `overlayfs`, `namespaces`. */
  id: string;
  /** Plugin types (or `type.id`) that must be started first. */
  requires: string[];
  /**
   * Plugin types (or `type.id`) started first when they are loaded, but not needed: a plugin
   * that uses one when present (the berth system service and the collector) still starts
   * when it is disabled or failed. ctx.get of one that did not start throws.
   */
  optionalRequires?: string[];
  /** Defaults of this plugin's config section (shallow-merged under the file's section). */
  defaults?: Record<string, unknown>;
  /** Shown by Introspection (`ctr plugins ls -d`), e.g. snapshotters' `remap-ids`. */
  capabilities?: string[];
  init(ctx: PluginContext): Promise<T>;
  /** Registers this plugin's gRPC services on the server. */
  register?(server: Server, instance: T): void;
  close?(instance: T): Promise<void>;
}

/** An `optionalRequires` plugin's instance when it started, else undefined (absent, disabled, failed). */
export function optionalPlugin<T>(ctx: PluginContext, typeAndId: string): T | undefined {
  const p = ctx.plugins().find((i) => `${i.type}.${i.id}` === typeAndId);
  return p?.status === 'ok' ? ctx.get<T>(typeAndId) : undefined;
}

export type PluginStatus = 'pending' | 'ok' | 'skipped' | 'failed';

/** A registered plugin as the registry sees it (what Introspection.Plugins lists). */
export interface PluginInfo {
  type: string;
  id: string;
  requires: string[];
  capabilities: string[];
  exports: Record<string, string>;
  status: PluginStatus;
  /** Why init failed or was skipped (undefined when ok or pending). */
  error?: Error;
}
