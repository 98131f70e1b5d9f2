// containerd.services.namespaces.v1.Namespaces over the metadata store, with containerd
// 1.6's behaviour where clients can see it:
//   Get     an unknown (or invalid) name answers {name, labels: {}}, not NotFound
//   List    every namespace with its labels; `filter` (containerd ignores it) filters on
//           name and labels.<key> with the usual syntax
//   Create  AlreadyExists for an existing one; publishes /namespaces/create
//   Update  with an update mask, only the `labels.<key>` paths listed change (a key absent
//           from the request's labels, or empty there, is removed); any other path is
//           InvalidArgument.
//           Without a mask the labels are replaced. Publishes /namespaces/update.
//           An unknown namespace is NotFound (containerd would create it as a side effect).
//   Delete  FailedPrecondition while it holds anything (berth counts leases too, containerd
//           does not); publishes /namespaces/delete in the deleted namespace
//
// Events go out in the caller's namespace (containerd's rule); a caller that sent none gets
// them in the affected namespace instead of containerd's error after the change was made.

import { addService, namespaceOf, NAMESPACES, packAny } from '../api';
import type { Logger } from 'pino';
import { invalidArgument, isKind } from '../core/errors';
import type { Exchange } from '../core/events';
import { parseFilters, type Metadata, type Namespace } from '../core/metadata';
import { labelField } from '../core/metadata/filters';
import { EVENTS_PLUGIN, METADATA_PLUGIN } from '../daemon/core-plugins';
import { unary } from '../daemon/grpc';
import type { Plugin } from '../daemon/plugin';

interface Deps {
  meta: Metadata;
  events: Exchange;
  log: Logger;
}

const toProto = (n: Pick<Namespace, 'name' | 'labels'>) => ({ name: n.name, labels: n.labels });

export const namespacesPlugin: Plugin<Deps> = {
  type: 'io.containerd.grpc.v1',
  id: 'namespaces',
  requires: [METADATA_PLUGIN, EVENTS_PLUGIN],
  async init(ctx) {
    return { meta: ctx.get<Metadata>(METADATA_PLUGIN), events: ctx.get<Exchange>(EVENTS_PLUGIN), log: ctx.log };
  },
  register(server, { meta, events, log }) {
    const publish = (callerNs: string, fallbackNs: string, topic: string, type: string, msg: object) => {
      events.publish(callerNs || fallbackNs, topic, packAny(type, msg)).catch((err) => log.warn({ err, topic }, 'publishing an event failed'));
    };
    addService(server, NAMESPACES, {
      Get: unary((call) => {
        const name = call.request.name;
        try {
          return { namespace: toProto(meta.namespaces.get(name)) };
        } catch (err) {
          if (isKind(err, 'NotFound') || isKind(err, 'InvalidArgument')) return { namespace: { name, labels: {} } };
          throw err;
        }
      }),
      List: unary((call) => {
        const filter = parseFilters(call.request.filter);
        const all = meta.namespaces.list().map((name) => meta.namespaces.get(name));
        const matching = all.filter((n) =>
          filter.match((fp) => {
            switch (fp[0]?.toLowerCase()) {
              case 'name':
                return fp.length === 1 ? n.name : undefined;
              case 'labels':
                return labelField(n.labels, fp.slice(1));
            }
            return undefined;
          }),
        );
        return { namespaces: matching.map(toProto) };
      }),
      Create: unary(async (call) => {
        const req = call.request.namespace;
        if (!req) throw invalidArgument('namespace must be set');
        const created = await meta.namespaces.create(req.name, req.labels ?? {});
        publish(namespaceOf(call), created.name, '/namespaces/create', 'containerd.events.NamespaceCreate', toProto(created));
        return { namespace: toProto(created) };
      }),
      Update: unary(async (call) => {
        const req = call.request.namespace;
        if (!req) throw invalidArgument('namespace must be set');
        const paths = call.request.updateMask?.paths ?? [];
        for (const p of paths) {
          if (!p.startsWith('labels.') || p === 'labels.') throw invalidArgument(`cannot update ${JSON.stringify(p)} field`);
        }
        // An empty value removes the label (containerd's SetLabel; `ctr namespaces label ns k=`).
        const labels = Object.fromEntries(Object.entries(req.labels ?? {}).filter(([, v]) => v !== ''));
        const updated = await meta.namespaces.update(req.name, labels, paths.length ? paths : ['labels']);
        publish(namespaceOf(call), updated.name, '/namespaces/update', 'containerd.events.NamespaceUpdate', toProto(updated));
        return { namespace: toProto(updated) };
      }),
      Delete: unary(async (call) => {
        const name = call.request.name;
        await meta.namespaces.delete(name);
        publish(name, name, '/namespaces/delete', 'containerd.events.NamespaceDelete', { name });
        return {};
      }),
    });
  },
};
