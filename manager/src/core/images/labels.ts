// containerd's label and annotation keys for images, and the garbage-collection references
// between blobs and snapshots. The collector follows `containerd.io/gc.ref.*` labels from
// image records down to every blob and snapshot an image needs; an unpacker or importer that
// leaves them out leaves collectable parts behind.

/** RFC3339 time after which a lease is no longer a GC root. */
export const LABEL_GC_EXPIRE = 'containerd.io/gc.expire';
/** On a layer blob: the digest of its uncompressed tar (the diffID), once verified. */
export const LABEL_UNCOMPRESSED = 'containerd.io/uncompressed';
/** On an unpacked snapshot: the chain id it was unpacked as (containerd's unpacker sets it). */
export const LABEL_SNAPSHOT_REF = 'containerd.io/snapshot.ref';
/** On an image config blob: the top snapshot of the unpacked image in snapshotter `s`. */
export const gcSnapshotLabel = (snapshotter: string): string => `containerd.io/gc.ref.snapshot.${snapshotter}`;

/** Index annotation: the full image name (containerd's). */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
/** Index annotation: OCI's reference name (a tag, by convention). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

import { isConfigType, isLayerType, isManifestType } from './mediatypes';

/**
 * The labels a manifest or index blob gets for its children, as containerd's
 * images.SetChildrenLabels writes them: `containerd.io/gc.ref.content.config` for the config,
 * `…content.l.<n>` for layers, `…content.m.<n>` for manifests, `…content.<n>` for anything
 * else; n counts per key, in the order the children are listed (config first).
 */
export function childGcLabels(children: { mediaType: string; digest: string }[]): Record<string, string> {
  const labels: Record<string, string> = {};
  const counts = new Map<string, number>();
  for (const c of children) {
    let key: string;
    if (isConfigType(c.mediaType)) key = 'containerd.io/gc.ref.content.config';
    else if (isManifestType(c.mediaType)) key = 'containerd.io/gc.ref.content.m.';
    else if (isLayerType(c.mediaType)) key = 'containerd.io/gc.ref.content.l.';
    else key = 'containerd.io/gc.ref.content.';
    const n = counts.get(key) ?? 0;
    counts.set(key, n + 1);
    labels[n > 0 || key.endsWith('.') ? `${key}${n}` : key] = c.digest;
  }
  return labels;
}
