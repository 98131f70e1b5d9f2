// containerd.services.leases.v1.Leases over the metadata store. Every call needs the
// caller's namespace (FailedPrecondition without one, as containerd). Create without an id
// makes one up, as containerd's WithRandomID does (time and randomness, a valid identifier).
// Delete's `sync` (ctr leases rm --sync) waits for a garbage collection after the delete
// (MetadataDB.requestCollection: the GC plugin's scheduler; none attached, it answers at once).

import { randomBytes } from 'crypto';
import { addService, LEASES, timestamp } from '../api';
import { invalidArgument } from '../core/errors';
import type { Lease, LeaseResource, Metadata } from '../core/metadata';
import { METADATA_PLUGIN } from '../daemon/core-plugins';
import { requireNamespace, unary } from '../daemon/grpc';
import type { Plugin } from '../daemon/plugin';

const toProto = (l: Lease) => ({ id: l.id, createdAt: timestamp(l.createdAt), labels: l.labels });

/** A fresh lease id: nanoseconds of now and 6 random hex digits ("1718…-3fa9c1"). */
export function randomLeaseId(): string {
  const ns = process.hrtime.bigint() % 1_000_000_000n;
  return `${ns}-${randomBytes(3).toString('hex')}`;
}

function resourceOf(r: { id: string; type: string } | null | undefined): LeaseResource {
  if (!r) throw invalidArgument('resource must be set');
  return { id: r.id, type: r.type };
}

export const leasesPlugin: Plugin<Metadata> = {
  type: 'io.containerd.grpc.v1',
  id: 'leases',
  requires: [METADATA_PLUGIN],
  async init(ctx) {
    return ctx.get<Metadata>(METADATA_PLUGIN);
  },
  register(server, meta) {
    addService(server, LEASES, {
      Create: unary(async (call) => {
        const ns = requireNamespace(call);
        const id = call.request.id || randomLeaseId();
        return { lease: toProto(await meta.leases.create(ns, id, call.request.labels ?? {})) };
      }),
      Delete: unary(async (call) => {
        await meta.leases.delete(requireNamespace(call), call.request.id);
        if (call.request.sync) await meta.db.requestCollection();
        return {};
      }),
      List: unary((call) => ({ leases: meta.leases.list(requireNamespace(call), ...call.request.filters).map(toProto) })),
      AddResource: unary(async (call) => {
        await meta.leases.addResource(requireNamespace(call), call.request.id, resourceOf(call.request.resource));
        return {};
      }),
      DeleteResource: unary(async (call) => {
        await meta.leases.deleteResource(requireNamespace(call), call.request.id, resourceOf(call.request.resource));
        return {};
      }),
      ListResources: unary((call) => ({ resources: meta.leases.listResources(requireNamespace(call), call.request.id) })),
    });
  },
};
