// The recent events of each namespace, for `berth events --since/--until` (Docker's daemon
// replays its last 256 events the same way). Kept in memory only: a ring of the last `limit`
// envelopes per namespace (1024 by default), lost when berthd restarts.
//
// An event names a container by id only, and the container may be gone (or renamed) by the
// time the events are read; so each entry also keeps the container as it was then (its labels
// and image), and a /containers/update the labels it had before (a rename changes berth's name
// label). What a container was is read from the store when its event is recorded, and kept per
// id until its /containers/delete (whose record is already gone).
//
// follow() hands over the kept entries and then every new one, with nothing missed or repeated
// between the two: recording and delivery happen in the exchange's synchronous dispatch.

import type { Envelope } from './index';

/** A container as an event found it. */
export interface ContainerFacts {
  id: string;
  labels: Record<string, string>;
  image: string;
}

export interface HistoryEntry {
  envelope: Envelope;
  container?: ContainerFacts;
  /** /containers/update: the labels the container had before it. */
  previousLabels?: Record<string, string>;
}

export interface HistoryOptions {
  /** Entries kept per namespace. */
  limit?: number;
  /** The id of the container an event is about, if any (its container_id, or id for /containers/*). */
  containerIdOf: (env: Envelope) => string | undefined;
  /** The container as it is now; undefined when there is no such container. */
  lookup: (namespace: string, id: string) => Omit<ContainerFacts, 'id'> | undefined;
}

export interface Follower {
  close(): void;
}

interface Listener {
  namespace: string;
  deliver: (e: HistoryEntry) => void;
  onClose?: () => void;
}

export const DEFAULT_HISTORY_LIMIT = 1024;

/** A fixed-size ring: the last `limit` items, oldest first. */
class Ring<T> {
  private readonly items: T[] = [];
  private start = 0;
  constructor(private readonly limit: number) {}

  push(item: T): void {
    if (this.items.length < this.limit) this.items.push(item);
    else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.limit;
    }
  }

  toArray(): T[] {
    return [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
  }
}

export class EventHistory {
  private readonly limit: number;
  private readonly rings = new Map<string, Ring<HistoryEntry>>();
  /** The last known state of each container by namespace + id, until it is deleted. */
  private readonly known = new Map<string, ContainerFacts>();
  private readonly listeners = new Set<Listener>();
  private closed = false;

  constructor(private readonly opts: HistoryOptions) {
    this.limit = Math.max(1, opts.limit ?? DEFAULT_HISTORY_LIMIT);
  }

  /** What a container is before any event of it is recorded (berthd's start: the containers it has). */
  remember(namespace: string, container: ContainerFacts): void {
    this.known.set(`${namespace}/${container.id}`, container);
  }

  /** Keeps an envelope (the exchange's subscriber calls this for every event) and hands it on. */
  record(env: Envelope): void {
    const entry = this.describe(env);
    let ring = this.rings.get(env.namespace);
    if (!ring) this.rings.set(env.namespace, (ring = new Ring(this.limit)));
    ring.push(entry);
    for (const l of [...this.listeners]) {
      if (l.namespace !== env.namespace) continue;
      try {
        l.deliver(entry);
      } catch {
        this.drop(l); // a broken stream must not stop the others
      }
    }
  }

  /** The kept entries of a namespace from `since` to `until` (inclusive; either may be absent), oldest first. */
  entries(namespace: string, since?: Date, until?: Date): HistoryEntry[] {
    const all = this.rings.get(namespace)?.toArray() ?? [];
    return all.filter((e) => (!since || e.envelope.timestamp >= since) && (!until || e.envelope.timestamp <= until));
  }

  /**
   * Calls `deliver` with every entry recorded in `namespace` from now on, until closed (by the
   * caller, or by close(): `onClose` runs then). Read entries() first, in the same tick, for a
   * replay without a gap.
   */
  follow(namespace: string, deliver: (e: HistoryEntry) => void, onClose?: () => void): Follower {
    const l: Listener = { namespace, deliver, ...(onClose ? { onClose } : {}) };
    if (this.closed) {
      onClose?.();
      return { close: () => undefined };
    }
    this.listeners.add(l);
    return { close: () => this.drop(l) };
  }

  /** Ends every follower (berthd stopping); later follows end at once. */
  close(): void {
    this.closed = true;
    for (const l of [...this.listeners]) this.drop(l);
  }

  private drop(l: Listener): void {
    if (this.listeners.delete(l)) l.onClose?.();
  }

  private describe(env: Envelope): HistoryEntry {
    let id: string | undefined;
    try {
      id = this.opts.containerIdOf(env);
    } catch {
      id = undefined; // an event this berthd cannot decode: kept without a container
    }
    if (!id) return { envelope: env };
    const key = `${env.namespace}/${id}`;
    const before = this.known.get(key);
    if (env.topic === '/containers/delete') {
      this.known.delete(key);
      return { envelope: env, ...(before ? { container: before } : {}) };
    }
    const now = this.opts.lookup(env.namespace, id);
    const container = now ? { id, ...now } : before;
    if (now) this.known.set(key, container!);
    const previousLabels = env.topic === '/containers/update' && before ? before.labels : undefined;
    return { envelope: env, ...(container ? { container } : {}), ...(previousLabels ? { previousLabels } : {}) };
  }
}
