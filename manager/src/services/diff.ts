// containerd.services.diff.v1.Diff and the walking differ behind it.
//
// Apply(diff, mounts): unpacks the layer blob `diff` (from the namespace's content store)
// into the filesystem the mounts describe, and answers the uncompressed layer's descriptor
// (media type application/vnd.oci.image.layer.v1.tar, digest = the diffID). Where it writes:
//   - one overlay mount with an upperdir (an active overlayfs snapshot with parents): straight
//     into the upper dir with overlay: true — the layer's whiteouts become overlayfs whiteouts
//     (0/0 char devices, the opaque xattr), which hide the lower layers once mounted; acting
//     them out as deletions there would remove nothing (the lower files are not in the upper);
//   - one read-write bind mount (a first layer on overlayfs, any native snapshot): straight into
//     its source with overlay: false — that directory holds the whole tree (native: a copy of
//     the parent), so whiteouts are deletions of what the lower layers put there;
//   - anything else: mounted at a temp dir under the differ's state dir, applied with
//     overlay: false (the mounted view is the merged tree, so deletions are right), unmounted.
// The first two are what containerd's walking differ does on Linux (it too bypasses the
// mount for a single overlay); writing into a bind source is the same directory the bind
// mount would show, one mount(8)/umount(8) cheaper.
//
// Diff(left, right, media_type, ref, labels): mounts both sides read-only at temp dirs
// (no left mounts: an empty dir), computes the layer in compare mode, writes it to the
// content store under `ref` (with the call's lease) and answers its descriptor. media_type
// '' means gzip, as containerd's default; compressed blobs get the
// containerd.io/uncompressed=<diffID> label, as containerd sets it.

import type * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rmdir } from 'node:fs/promises';
import * as path from 'node:path';
import { DIFF, leaseOf, type ServiceImpl } from '../api';
import { isKind, invalidArgument, notImplemented } from '../core/errors';
import { readStream, type ContentStore } from '../core/content';
import { MEDIA_TYPES, applyLayer, computeDiff, directApplyTarget } from '../core/diff';
import { mountAll, unmount, type Mount } from '../core/snapshots';
import { requireNamespace, unary } from './content';

export const LABEL_UNCOMPRESSED = 'containerd.io/uncompressed';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface DiffOptions {
  mediaType?: string;
  ref?: string;
  labels?: Record<string, string>;
  lease?: string;
}

const GZIP_TYPES: string[] = [MEDIA_TYPES.ociGzip, MEDIA_TYPES.dockerGzip];
const TAR_TYPES: string[] = [MEDIA_TYPES.ociTar, 'application/vnd.docker.image.rootfs.diff.tar'];

export class WalkingDiffer {
  constructor(
    /** The content store namespace `ns` sees. */
    private readonly content: (ns: string) => ContentStore,
    /** Where temporary mount points are made (created if missing). */
    private readonly tmpRoot: string,
  ) {}

  /** Mounts `mounts` at a fresh temp dir for the duration of fn. */
  private async withTempMount<T>(mounts: Mount[], readonly: boolean, fn: (dir: string) => Promise<T>): Promise<T> {
    await mkdir(this.tmpRoot, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(path.join(this.tmpRoot, 'mnt-'));
    try {
      if (mounts.length === 0) return await fn(dir);
      const ms = readonly ? mounts.map((m) => ({ ...m, options: [...m.options.filter((o) => o !== 'rw' && o !== 'ro'), 'ro'] })) : mounts;
      await mountAll(ms, dir);
      try {
        return await fn(dir);
      } finally {
        await unmount(dir, { recursive: true });
      }
    } finally {
      await rmdir(dir);
    }
  }

  async apply(ns: string, desc: Descriptor, mounts: Mount[]): Promise<Descriptor> {
    if (!desc || !desc.digest) throw invalidArgument('apply: the diff descriptor must be set');
    const store = this.content(ns);
    const unpack = (dir: string, overlay: boolean) =>
      applyLayer(readStream(store, { digest: desc.digest, size: desc.size }), dir, { overlay, ...(desc.mediaType ? { mediaType: desc.mediaType } : {}) });
    const direct = directApplyTarget(mounts);
    let result;
    if (direct) {
      result = await unpack(direct.dir, direct.overlay);
    } else {
      if (mounts.length === 0) throw invalidArgument('apply: no mounts to apply the layer to');
      result = await this.withTempMount(mounts, false, (dir) => unpack(dir, false));
    }
    return { mediaType: MEDIA_TYPES.ociTar, digest: result.diffID, size: result.size };
  }

  async diff(ns: string, left: Mount[], right: Mount[], opts: DiffOptions = {}): Promise<Descriptor> {
    const mediaType = opts.mediaType || MEDIA_TYPES.ociGzip;
    let compression: 'gzip' | 'none';
    if (GZIP_TYPES.includes(mediaType)) compression = 'gzip';
    else if (TAR_TYPES.includes(mediaType)) compression = 'none';
    else throw notImplemented(`diff: unsupported media type ${JSON.stringify(mediaType)}`);
    if (right.length === 0) throw invalidArgument('diff: the right (upper) mounts must be set');
    const store = this.content(ns);
    const ref = opts.ref || `diff-${randomBytes(8).toString('hex')}`;
    return this.withTempMount(left, true, (lower) =>
      this.withTempMount(right, true, async (upper) => {
        const layer = computeDiff(lower, upper, { mode: 'compare', compression });
        const w = await store.writer(ref, opts.lease ? { lease: opts.lease } : {});
        let committed = false;
        try {
          await w.truncate(0);
          for await (const chunk of layer.stream) await w.write(chunk as Buffer);
          const d = await layer.done;
          const labels = { ...(opts.labels ?? {}) };
          if (compression !== 'none') labels[LABEL_UNCOMPRESSED] = d.diffID;
          try {
            await w.commit(d.size, d.digest, { labels });
          } catch (err) {
            if (!isKind(err, 'AlreadyExists')) throw err;
          }
          committed = true;
          return { mediaType, digest: d.digest, size: d.size };
        } finally {
          if (!committed) {
            layer.stream.destroy();
            await w.close().catch(() => undefined);
            await store.abort(ref).catch(() => undefined);
          }
        }
      }),
    );
  }
}

// ---- the gRPC adapter ----

export interface DiffServiceDeps {
  differ: WalkingDiffer;
}

interface ProtoMount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

const mountsFromProto = (ms: ProtoMount[]): Mount[] => ms.map((m) => ({ type: m.type, source: m.source, ...(m.target ? { target: m.target } : {}), options: m.options }));

export function diffService(deps: DiffServiceDeps): ServiceImpl<typeof DIFF> {
  return {
    Apply: unary(async (call) => {
      const ns = requireNamespace(call as { metadata: grpc.Metadata });
      const d = call.request.diff;
      if (!d) throw invalidArgument('apply: diff must be set');
      const applied = await deps.differ.apply(ns, { mediaType: d.mediaType, digest: d.digest, size: d.size }, mountsFromProto(call.request.mounts));
      return { applied };
    }),

    Diff: unary(async (call) => {
      const ns = requireNamespace(call);
      const r = call.request;
      const lease = leaseOf(call);
      const diff = await deps.differ.diff(ns, mountsFromProto(r.left), mountsFromProto(r.right), {
        mediaType: r.mediaType,
        ref: r.ref,
        labels: r.labels,
        ...(lease ? { lease } : {}),
      });
      return { diff };
    }),
  };
}
