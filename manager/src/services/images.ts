// containerd.services.images.v1.Images over core/metadata's ImageStore: Get, List (filters),
// Create, Update (field paths), Delete. Events (/images/create, /images/update,
// /images/delete) go to the optional publisher. Delete's `sync` (ctr images rm --sync)
// waits for a garbage collection after the delete, as containerd's ScheduleAndWait does;
// without a collector (no GC plugin) it answers at once.

import { IMAGES, dateOf, timestamp, type ServiceImpl } from '../api';
import { invalidArgument } from '../core/errors';
import type { Image, ImageInput, ImageStore } from '../core/metadata';
import { emit, maskPaths, requireNamespace, unary, type Publish } from './content';

export interface ImagesServiceDeps {
  images: ImageStore;
  /** Runs a garbage collection and waits for it (MetadataDB.requestCollection). */
  collect?: () => Promise<unknown>;
  publish?: Publish;
  log?: { warn(o: object, m: string): void };
}

interface ProtoImage {
  name: string;
  labels: Record<string, string>;
  target: { mediaType: string; digest: string; size: number; annotations: Record<string, string> } | null;
  createdAt: { seconds: number; nanos: number } | null;
  updatedAt: { seconds: number; nanos: number } | null;
}

export const imageToProto = (img: Image) => ({
  name: img.name,
  labels: img.labels,
  target: { mediaType: img.target.mediaType, digest: img.target.digest, size: img.target.size, annotations: img.target.annotations ?? {} },
  createdAt: timestamp(img.createdAt),
  updatedAt: timestamp(img.updatedAt),
});

function imageFromProto(p: ProtoImage | null): ImageInput {
  if (!p) throw invalidArgument('image must be set');
  const t = p.target;
  const input: ImageInput = {
    name: p.name,
    labels: p.labels,
    target: t
      ? { mediaType: t.mediaType, digest: t.digest, size: t.size, ...(Object.keys(t.annotations).length ? { annotations: t.annotations } : {}) }
      : (undefined as unknown as ImageInput['target']),
  };
  const created = dateOf(p.createdAt);
  if (created && created.getTime() > 0) input.createdAt = created;
  return input;
}

export function imagesService(deps: ImagesServiceDeps): ServiceImpl<typeof IMAGES> {
  const { images } = deps;
  return {
    Get: unary(async (call) => ({ image: imageToProto(images.get(requireNamespace(call), call.request.name)) })),

    List: unary(async (call) => ({ images: images.list(requireNamespace(call), ...call.request.filters).map(imageToProto) })),

    Create: unary(async (call) => {
      const ns = requireNamespace(call);
      const input = imageFromProto(call.request.image);
      const created = await images.create(ns, input);
      emit(deps.publish, deps.log, ns, '/images/create', 'containerd.services.images.v1.ImageCreate', { name: created.name, labels: created.labels });
      return { image: imageToProto(created) };
    }),

    Update: unary(async (call) => {
      const ns = requireNamespace(call);
      const input = imageFromProto(call.request.image);
      delete input.createdAt;
      const updated = await images.update(ns, input, maskPaths(call.request.updateMask));
      emit(deps.publish, deps.log, ns, '/images/update', 'containerd.services.images.v1.ImageUpdate', { name: updated.name, labels: updated.labels });
      return { image: imageToProto(updated) };
    }),

    Delete: unary(async (call) => {
      const ns = requireNamespace(call);
      await images.delete(ns, call.request.name);
      emit(deps.publish, deps.log, ns, '/images/delete', 'containerd.services.images.v1.ImageDelete', { name: call.request.name });
      if (call.request.sync) await deps.collect?.();
      return {};
    }),
  };
}
