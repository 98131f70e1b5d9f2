// The event exchange: what happened in berthd (a namespace created, a task exited), as
// envelopes {timestamp, namespace, topic, event}, delivered to every subscriber whose
// filters match. containerd's exchange, in process:
//
//   publish(ns, topic, event)  the namespace is required (FailedPrecondition without one, as
//                              containerd's namespaces.NamespaceRequired), the topic is
//                              validated, the timestamp is now
//   forward(envelope)          an envelope made elsewhere (a shim): timestamp, namespace and
//                              topic all checked, nothing changed
//   subscribe(filters, fn)     containerd's filter syntax (core/metadata/filters.ts) over the
//                              fields `topic`, `namespace` and `event.<field>` (a field of the
//                              decoded event, e.g. event.container_id); several filters OR
//
// Delivery is synchronous and in publish order; a subscriber that throws is dropped (it is a
// bug in a berthd component, and must not stop the others). Nothing is stored: a subscriber
// sees only what is published after it subscribed.
//
// Topics: '/' followed by '/'-separated identifiers (`/namespaces/create`, `/tasks/exit`).

import { failedPrecondition, invalidArgument } from '../errors';
import { parseFilters, type Adaptor, type Filter } from '../metadata/filters';
import { validateIdentifier, validateNamespace } from '../metadata/identifiers';

/** A google.protobuf.Any (the event payload), as core/api carry it. */
export interface EventPayload {
  typeUrl: string;
  value: Uint8Array;
}

export interface Envelope {
  timestamp: Date;
  namespace: string;
  topic: string;
  event: EventPayload;
}

/** Decodes an event payload to a plain object for `event.<field>` filters (undefined: unknown type). */
export type EventDecoder = (event: EventPayload) => Record<string, unknown> | undefined;

export interface Subscription {
  close(): void;
}

interface Subscriber {
  filter: Filter;
  deliver(env: Envelope): void;
  onClose?: () => void;
}

/** Throws InvalidArgument unless topic is '/'-prefixed, '/'-separated identifiers. */
export function validateTopic(topic: string): void {
  if (topic === '') throw invalidArgument('topic must not be empty');
  if (!topic.startsWith('/')) throw invalidArgument(`topic ${JSON.stringify(topic)} must start with '/'`);
  if (topic.length === 1) throw invalidArgument(`topic ${JSON.stringify(topic)} must have at least one component`);
  for (const part of topic.slice(1).split('/')) {
    try {
      validateIdentifier(part, 'topic component');
    } catch (err) {
      throw invalidArgument(`topic ${JSON.stringify(topic)}: ${(err as Error).message}`);
    }
  }
}

const normalize = (s: string): string => s.replace(/_/g, '').toLowerCase();

function fieldOf(obj: Record<string, unknown> | undefined, path: string[]): string | undefined {
  let cur: unknown = obj;
  for (const part of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    const rec = cur as Record<string, unknown>;
    // labels-like maps keep their keys; message fields match snake_case or camelCase.
    const key = Object.prototype.hasOwnProperty.call(rec, part) ? part : Object.keys(rec).find((k) => normalize(k) === normalize(part));
    if (key === undefined) return undefined;
    cur = rec[key];
  }
  if (cur === null || cur === undefined || typeof cur === 'object') return undefined;
  return String(cur);
}

export class Exchange {
  private readonly subscribers = new Set<Subscriber>();
  private closed = false;

  constructor(private readonly decode: EventDecoder = () => undefined) {}

  /** Publishes an event in namespace `ns` under `topic`. */
  async publish(ns: string, topic: string, event: EventPayload): Promise<void> {
    if (!ns) throw failedPrecondition('namespace is required');
    validateNamespace(ns);
    validateTopic(topic);
    if (!event || !event.typeUrl) throw invalidArgument(`event for topic ${JSON.stringify(topic)} must be set`);
    this.dispatch({ timestamp: new Date(), namespace: ns, topic, event });
  }

  /** Sends on an envelope published elsewhere, unchanged. */
  async forward(env: Envelope): Promise<void> {
    if (!env.timestamp || Number.isNaN(env.timestamp.getTime())) throw invalidArgument('timestamp must be set on forwarded event');
    try {
      validateNamespace(env.namespace);
    } catch (err) {
      throw invalidArgument(`event envelope has invalid namespace: ${(err as Error).message}`);
    }
    validateTopic(env.topic);
    if (!env.event || !env.event.typeUrl) throw invalidArgument(`event for topic ${JSON.stringify(env.topic)} must be set`);
    this.dispatch(env);
  }

  /**
   * Calls `deliver` for every later envelope matching any of `filters` (none: all), until
   * the subscription or the exchange is closed; `onClose` runs once then. Bad filters throw
   * InvalidArgument here.
   */
  subscribe(filters: string[], deliver: (env: Envelope) => void, onClose?: () => void): Subscription {
    const filter = parseFilters(...filters);
    const sub: Subscriber = { filter, deliver, ...(onClose ? { onClose } : {}) };
    if (this.closed) {
      onClose?.();
      return { close: () => undefined };
    }
    this.subscribers.add(sub);
    return { close: () => this.drop(sub) };
  }

  /** How many subscriptions are open (for tests and the daemon's log). */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Ends every subscription; later subscriptions end at once. Publishing still validates. */
  close(): void {
    this.closed = true;
    for (const s of [...this.subscribers]) this.drop(s);
  }

  private drop(sub: Subscriber): void {
    if (!this.subscribers.delete(sub)) return;
    sub.onClose?.();
  }

  private dispatch(env: Envelope): void {
    let decoded: Record<string, unknown> | undefined | null = null;
    const adaptor: Adaptor = (fp) => {
      switch (fp[0]?.toLowerCase()) {
        case 'topic':
          return fp.length === 1 ? env.topic : undefined;
        case 'namespace':
          return fp.length === 1 ? env.namespace : undefined;
        case 'event':
          if (decoded === null) {
            try {
              decoded = this.decode(env.event);
            } catch {
              decoded = undefined;
            }
          }
          return fp.length > 1 ? fieldOf(decoded, fp.slice(1)) : undefined;
      }
      return undefined;
    };
    for (const s of [...this.subscribers]) {
      if (!s.filter.match(adaptor)) continue;
      try {
        s.deliver(env);
      } catch {
        this.drop(s);
      }
    }
  }
}
