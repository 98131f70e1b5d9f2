// containerd.services.containers.v1.Containers over core/metadata's ContainerStore: Get,
// List, ListStream, Create, Update (field paths), Delete. The metadata of a container only:
// its running state belongs to the tasks service. Events (/containers/create, /update,
// /delete) go to the optional publisher.

import { CONTAINERS, timestamp, type ServiceImpl } from '../api';
import { invalidArgument } from '../core/errors';
import type { Container, ContainerInput, ContainerStore } from '../core/metadata';
import { emit, maskPaths, requireNamespace, send, serverStream, unary, type Publish } from './content';

export interface ContainersServiceDeps {
  containers: ContainerStore;
  publish?: Publish;
  log?: { warn(o: object, m: string): void };
}

interface AnyIn {
  typeUrl: string;
  value: Uint8Array;
}

interface ProtoContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options: AnyIn | null } | null;
  spec: AnyIn | null;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, AnyIn>;
}

export const containerToProto = (c: Container) => ({
  id: c.id,
  labels: c.labels,
  image: c.image,
  runtime: { name: c.runtime.name, options: c.runtime.options ?? null },
  spec: c.spec,
  snapshotter: c.snapshotter,
  snapshotKey: c.snapshotKey,
  createdAt: timestamp(c.createdAt),
  updatedAt: timestamp(c.updatedAt),
  extensions: c.extensions,
});

function containerFromProto(p: ProtoContainer | null): ContainerInput {
  if (!p) throw invalidArgument('container must be set');
  return {
    id: p.id,
    labels: p.labels,
    image: p.image,
    runtime: { name: p.runtime?.name ?? '', ...(p.runtime?.options ? { options: p.runtime.options } : {}) },
    spec: p.spec as AnyIn,
    snapshotter: p.snapshotter,
    snapshotKey: p.snapshotKey,
    extensions: p.extensions,
  };
}

export function containersService(deps: ContainersServiceDeps): ServiceImpl<typeof CONTAINERS> {
  const { containers } = deps;
  return {
    Get: unary(async (call) => ({ container: containerToProto(containers.get(requireNamespace(call), call.request.id)) })),

    List: unary(async (call) => ({ containers: containers.list(requireNamespace(call), ...call.request.filters).map(containerToProto) })),

    ListStream: serverStream(async (call) => {
      for (const c of containers.list(requireNamespace(call), ...call.request.filters)) await send(call, { container: containerToProto(c) });
    }),

    Create: unary(async (call) => {
      const ns = requireNamespace(call);
      const c = await containers.create(ns, containerFromProto(call.request.container));
      emit(deps.publish, deps.log, ns, '/containers/create', 'containerd.events.ContainerCreate', {
        id: c.id,
        image: c.image,
        runtime: { name: c.runtime.name, options: c.runtime.options ?? null },
      });
      return { container: containerToProto(c) };
    }),

    Update: unary(async (call) => {
      const ns = requireNamespace(call);
      const c = await containers.update(ns, containerFromProto(call.request.container), maskPaths(call.request.updateMask));
      emit(deps.publish, deps.log, ns, '/containers/update', 'containerd.events.ContainerUpdate', { id: c.id, image: c.image, labels: c.labels, snapshotKey: c.snapshotKey });
      return { container: containerToProto(c) };
    }),

    Delete: unary(async (call) => {
      const ns = requireNamespace(call);
      await containers.delete(ns, call.request.id);
      emit(deps.publish, deps.log, ns, '/containers/delete', 'containerd.events.ContainerDelete', { id: call.request.id });
      return {};
    }),
  };
}
