// The connection to berthd: one HTTP/2 connection to its unix socket (src/api/http2-client.ts:
// gRPC without grpc-js's channel machinery, which a short-lived CLI pays for and never uses),
// shared by a typed client per service (made when first used), every call in the chosen
// namespace.

import {
  BERTH_CONTAINERS,
  BERTH_IMAGES,
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
  VOLUMES,
  NETWORKS,
  Http2Connection,
  createServiceClient,
  type ServiceClient as Client,
  type ServiceName,
} from '../api';

/** Messages as large as berthd accepts and sends by default (grpc.max_*_message_size). */
const MAX_MESSAGE = 16 << 20;

export class Daemon {
  private readonly clients = new Map<string, Client<ServiceName>>();
  private readonly connection: Http2Connection;

  constructor(
    /** A grpc target: unix:///run/berth/berthd.sock. */
    readonly address: string,
    readonly namespace: string,
  ) {
    this.connection = new Http2Connection(address, { maxReceiveMessageLength: MAX_MESSAGE, maxSendMessageLength: MAX_MESSAGE });
  }

  private client<S extends ServiceName>(name: S): Client<S> {
    let c = this.clients.get(name);
    if (!c) {
      c = createServiceClient(name, this.connection, { namespace: this.namespace }) as unknown as Client<ServiceName>;
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

  /** berth.networks.v1.Networks: networks and containers' network settings. */
  get networks(): Client<typeof NETWORKS> {
    return this.client(NETWORKS);
  }

  /** berth.volumes.v1.Volumes: named and anonymous volumes. */
  get volumes(): Client<typeof VOLUMES> {
    return this.client(VOLUMES);
  }

  /** berth.containers.v1.Containers: top. */
  get berthContainers(): Client<typeof BERTH_CONTAINERS> {
    return this.client(BERTH_CONTAINERS);
  }

  /** berth.images.v1.Images: pull, push and login (registries). */
  get berthImages(): Client<typeof BERTH_IMAGES> {
    return this.client(BERTH_IMAGES);
  }

  /** No new calls; calls still open (a stream nobody cancelled) finish on their own. */
  close(): void {
    this.clients.clear();
    this.connection.close();
  }
}
