// The connection to berthd: one gRPC channel to its unix socket, shared by a typed client per
// containerd service (made when first used), every call in the chosen namespace.

import * as grpc from '@grpc/grpc-js';
import {
  BERTH_CONTAINERS,
  BERTH_IO,
  CONTAINERS,
  CONTENT,
  DIFF,
  EVENTS,
  FILES,
  IMAGES,
  INTROSPECTION,
  LEASES,
  NAMESPACES,
  SNAPSHOTS,
  SYSTEM,
  TASKS,
  VERSION,
  createClient,
  type Client,
  type ServiceName,
} from '../api';

/** Messages as large as berthd accepts and sends by default (grpc.max_*_message_size). */
const MAX_MESSAGE = 16 << 20;

export class Daemon {
  private readonly clients = new Map<string, Client<ServiceName>>();
  private channel?: grpc.Channel;

  constructor(
    /** A grpc target: unix:///run/berth/berthd.sock. */
    readonly address: string,
    readonly namespace: string,
  ) {}

  private client<S extends ServiceName>(name: S): Client<S> {
    let c = this.clients.get(name);
    if (!c) {
      c = createClient(name, this.address, {
        namespace: this.namespace,
        channelOptions: { 'grpc.max_receive_message_length': MAX_MESSAGE, 'grpc.max_send_message_length': MAX_MESSAGE },
        ...(this.channel ? { channelOverride: this.channel } : {}),
      }) as unknown as Client<ServiceName>;
      this.channel ??= c.grpc.getChannel() as grpc.Channel;
      this.clients.set(name, c);
    }
    return c as unknown as Client<S>;
  }

  get version(): Client<typeof VERSION> {
    return this.client(VERSION);
  }
  get namespaces(): Client<typeof NAMESPACES> {
    return this.client(NAMESPACES);
  }
  get content(): Client<typeof CONTENT> {
    return this.client(CONTENT);
  }
  get images(): Client<typeof IMAGES> {
    return this.client(IMAGES);
  }
  get snapshots(): Client<typeof SNAPSHOTS> {
    return this.client(SNAPSHOTS);
  }
  get diff(): Client<typeof DIFF> {
    return this.client(DIFF);
  }
  get leases(): Client<typeof LEASES> {
    return this.client(LEASES);
  }
  get containers(): Client<typeof CONTAINERS> {
    return this.client(CONTAINERS);
  }
  get tasks(): Client<typeof TASKS> {
    return this.client(TASKS);
  }
  get events(): Client<typeof EVENTS> {
    return this.client(EVENTS);
  }
  get introspection(): Client<typeof INTROSPECTION> {
    return this.client(INTROSPECTION);
  }
  /** berth.io.v1.IO: attach and logs. */
  get io(): Client<typeof BERTH_IO> {
    return this.client(BERTH_IO);
  }
  get system(): Client<typeof SYSTEM> {
    return this.client(SYSTEM);
  }
  get files(): Client<typeof FILES> {
    return this.client(FILES);
  }

  /** berth.containers.v1.Containers: top. */
  get berthContainers(): Client<typeof BERTH_CONTAINERS> {
    return this.client(BERTH_CONTAINERS);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
