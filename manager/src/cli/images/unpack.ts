// Unpacking an image into a snapshotter, over the Snapshots and Diff services, the way
// containerd's unpacker does it: layer n becomes the committed snapshot named by the chain id
// of layers 0..n (shared with every image that has the same lower layers, so an existing one
// is reused), prepared as "extract-<unique> <chain id>" on top of its parent, filled by
// Diff.Apply, checked against the config's diff_id and committed. Snapshots get
// containerd.io/snapshot.ref; each layer blob whose diffID was checked (applied now, or
// verified by the archive reader) gets containerd.io/uncompressed; the config gets
// containerd.io/gc.ref.snapshot.<snapshotter> → the top chain id, which is how the garbage
// collector knows the snapshots belong to the image.

import { randomBytes } from 'node:crypto';
import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND, ALREADY_EXISTS } from '../errors';
import { setLabels } from './content';
import { LABEL_SNAPSHOT_REF, LABEL_UNCOMPRESSED, chainIds, gcSnapshotLabel, type Descriptor, type ImageConfig } from '../../core/images';

export const DEFAULT_SNAPSHOTTER = 'overlayfs';

export interface Unpackable {
  config: Descriptor;
  imageConfig: ImageConfig;
  layers: Descriptor[];
  /** Per layer, its diffID if the blob was already checked against it (the archive reader does). */
  verifiedDiffIds?: (string | undefined)[];
}

/** containerd's uniquePart(): nanoseconds and random bytes, so concurrent unpacks never share a key. */
const uniquePart = (): string => `${process.hrtime.bigint() % 1_000_000_000n}-${randomBytes(3).toString('base64url')}`;

async function snapshotExists(d: Daemon, snapshotter: string, key: string): Promise<boolean> {
  try {
    await d.snapshots.Stat({ snapshotter, key });
    return true;
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return false;
    throw err;
  }
}

/** Unpacks the image's layers (those not unpacked yet) and labels them; returns the top chain id. */
export async function unpack(d: Daemon, img: Unpackable, opts: { lease: string; snapshotter?: string; what: string; log?: (msg: string) => void }): Promise<string> {
  const snapshotter = opts.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const diffIds = img.imageConfig.rootfs.diff_ids;
  const chain = chainIds(diffIds);
  let parent = '';
  for (const [i, layer] of img.layers.entries()) {
    const chainId = chain[i]!;
    if (await snapshotExists(d, snapshotter, chainId)) {
      // unpacked before (by this image or another with the same lower layers)
      if (img.verifiedDiffIds?.[i]) await setLabels(d, layer.digest, { [LABEL_UNCOMPRESSED]: img.verifiedDiffIds[i]! });
      parent = chainId;
      continue;
    }
    const key = `extract-${uniquePart()} ${chainId}`;
    const labels = { [LABEL_SNAPSHOT_REF]: chainId };
    opts.log?.(`unpacking layer ${i} ${layer.digest} as ${chainId}`);
    const { mounts } = await d.snapshots.Prepare({ snapshotter, key, parent, labels }, { lease: opts.lease });
    let committed = false;
    try {
      let applied;
      try {
        ({ applied } = await d.diff.Apply({ diff: layer, mounts }, { lease: opts.lease }));
      } catch (err) {
        const why = grpcCode(err) !== undefined ? (err as { details: string }).details : (err as Error).message;
        throw new CliError(`${opts.what}: layer ${i} (${layer.digest}) cannot be unpacked: ${why}`);
      }
      if (applied?.digest !== diffIds[i]) {
        throw new CliError(`${opts.what}: layer ${i} (${layer.digest}) unpacks to ${applied?.digest}, but the config's rootfs.diff_ids[${i}] is ${diffIds[i]}`);
      }
      try {
        await d.snapshots.Commit({ snapshotter, name: chainId, key, labels }, { lease: opts.lease });
        committed = true;
      } catch (err) {
        if (grpcCode(err) !== ALREADY_EXISTS) throw err; // unpacked meanwhile by someone else: theirs is as good
      }
    } finally {
      if (!committed) await d.snapshots.Remove({ snapshotter, key }).catch(() => undefined);
    }
    await setLabels(d, layer.digest, { [LABEL_UNCOMPRESSED]: diffIds[i]! });
    parent = chainId;
  }
  if (parent) await setLabels(d, img.config.digest, { [gcSnapshotLabel(snapshotter)]: parent });
  return parent;
}
