// containerd.services.events.v1.Events over the daemon's exchange (core/events):
//   Publish    the event in the caller's namespace (FailedPrecondition without one)
//   Forward    an envelope made elsewhere, as it is (timestamp, namespace, topic checked)
//   Subscribe  a stream of envelopes matching the filters (topic, namespace, event.<field>),
//              from the moment of subscribing until the client cancels or berthd stops
//              (the stream then ends cleanly: ctr events exits 0)

import { addService, dateOf, EVENTS, namespaceOf, timestamp } from '../api';
import { invalidArgument } from '../core/errors';
import type { Envelope, Exchange } from '../core/events';
import { EVENTS_PLUGIN } from '../daemon/core-plugins';
import { toStatus, unary } from '../daemon/grpc';
import type { Plugin } from '../daemon/plugin';

const toProto = (e: Envelope) => ({ timestamp: timestamp(e.timestamp), namespace: e.namespace, topic: e.topic, event: e.event });

export const eventsPlugin: Plugin<Exchange> = {
  type: 'io.containerd.grpc.v1',
  id: 'events',
  requires: [EVENTS_PLUGIN],
  async init(ctx) {
    return ctx.get<Exchange>(EVENTS_PLUGIN);
  },
  register(server, exchange) {
    addService(server, EVENTS, {
      Publish: unary(async (call) => {
        if (!call.request.event) throw invalidArgument('event must be set');
        await exchange.publish(namespaceOf(call), call.request.topic, call.request.event);
        return {};
      }),
      Forward: unary(async (call) => {
        const env = call.request.envelope;
        if (!env) throw invalidArgument('envelope must be set');
        if (!env.event) throw invalidArgument('envelope event must be set');
        const ts = dateOf(env.timestamp);
        if (!ts) throw invalidArgument('timestamp must be set on forwarded event');
        await exchange.forward({ timestamp: ts, namespace: env.namespace, topic: env.topic, event: env.event });
        return {};
      }),
      Subscribe: (call) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          call.end();
        };
        try {
          const sub = exchange.subscribe(call.request.filters, (env) => void call.write(toProto(env)), finish);
          call.on('cancelled', () => {
            done = true;
            sub.close();
          });
        } catch (err) {
          done = true;
          // grpc-js sends a stream's status on 'error' (destroy() would drop it).
          call.emit('error', toStatus(err));
        }
      },
    });
  },
};
