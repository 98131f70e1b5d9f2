import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';

// berthd is assembled from plugins, as containerd is: each has containerd's type and id (so
// `ctr plugins ls` reads familiarly), names the plugin types it needs, and is started after
// them. A plugin may serve gRPC services; core/ code never sees gRPC.

export interface PluginContext {
  /** berthd --root (persistent: /var/lib/berth) and --state (runtime: /run/berth). */
  root: string;
  state: string;
  /** This plugin's section of the config file, defaults applied. */
  config: Record<string, unknown>;
  log: Logger;
  /** The instance of an already started plugin, by type (first of that type) or `type.id`. */
  get<T>(typeOrTypeAndId: string): T;
}

export interface Plugin<T = unknown> {
  /** containerd's plugin type, e.g. `io.containerd.content.v1`, `io.containerd.grpc.v1`. */
  type: string;
  /** e.g. `content`, `overlayfs`, `namespaces`. */
  id: string;
  /** Plugin types (or `type.id`) that must be started first. */
  requires: string[];
  init(ctx: PluginContext): Promise<T>;
  /** Registers this plugin's gRPC services on the server. */
  register?(server: Server, instance: T): void;
  close?(instance: T): Promise<void>;
}
