// Unpacking one layer into its snapshot while its bytes arrive, with containerd's names and
// labels (as cli/images/unpack.ts does over gRPC): layer n becomes the committed snapshot named
// by the chain id of layers 0..n, prepared as "extract-<unique> <chain id>" on layer n-1's,
// labelled containerd.io/snapshot.ref. The commit waits for two checks: the uncompressed
// bytes' digest is the config's diff_id, and the blob's digest was verified when it was
// committed to the content store. Whatever fails, the active snapshot is removed: no
// half-applied layer is ever committed.
//
// Staged (overlayfs only): an overlay upper directory does not depend on what is below it —
// the applier writes whiteouts as overlayfs whiteouts and never looks at the lower layers —
// so layer n need not wait for layer n-1. It is applied into a parentless staging snapshot
// (a plain directory), and once n-1 is committed its directory is renamed over the empty
// upper directory of the real "extract-…" snapshot, which is then committed in chain order.
// The result is what applying in place gives, down to the root directory's owner and mode:
// the upper dir starts with its parent's (the snapshotter copies them), and the layer's own
// "./" entry, if it has one, replaces them. The staging root gets an owner no layer uses to
// tell the two apart.

import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rename, stat } from 'node:fs/promises';
import { isKind, ManagerError, notImplemented } from '../errors';
import { applyLayer, directApplyTarget, type ApplyTarget } from '../diff';
import { LABEL_SNAPSHOT_REF } from '../images';
import type { Mount } from '../snapshots';

/** What the pipeline needs of a (namespaced) snapshotter: services/snapshots.ts's NamespacedSnapshotter. */
export interface PullSnapshotter {
  stat(key: string): Promise<{ name: string; kind: string }>;
  prepare(key: string, parent: string, labels: Record<string, string>, lease?: string): Promise<Mount[]>;
  commit(name: string, key: string, labels: Record<string, string>, lease?: string): Promise<void>;
  remove(key: string): Promise<void>;
}

export interface LayerUnpack {
  sn: PullSnapshotter;
  lease: string;
  chainId: string;
  /** The chain id below ('' for the first layer), and when its snapshot is committed. */
  parent: string;
  parentCommitted: Promise<void>;
  /** The layer blob's bytes as they arrive. */
  bytes: AsyncIterable<Buffer>;
  mediaType: string;
  diffId: string;
  blobCommitted: Promise<void>;
  /** Why the download failed, once it has. */
  downloadFailure: () => Error | undefined;
  /** Apply before the parent is committed (overlayfs; see the top of this file). */
  staged: boolean;
  /** Names the layer in errors. */
  what: string;
}

/** containerd's uniquePart(): time and random bytes, so concurrent unpacks never share a key. */
const uniquePart = (): string => `${process.hrtime.bigint() % 1_000_000_000n}-${randomBytes(3).toString('base64url')}`;

/** No layer's root entry has this owner: a staging root that still has it was not set by the layer. */
const UNTOUCHED_UID = 2147483641;

/** Where to write a layer for a snapshot's mounts (core/diff's directApplyTarget, as the walking differ decides). */
export function applyTarget(mounts: Mount[], what: string): ApplyTarget {
  const target = directApplyTarget(mounts);
  if (!target) throw notImplemented(`${what}: cannot unpack into mounts ${JSON.stringify(mounts)} (one overlay with an upperdir, or one bind mount, expected)`);
  return target;
}

/** Applies the layer; checks the diffID. Returns the applied size (uncompressed bytes). */
async function applyChecked(u: LayerUnpack, dir: string, overlay: boolean): Promise<number> {
  let applied;
  try {
    applied = await applyLayer(u.bytes, dir, { overlay, mediaType: u.mediaType });
  } catch (err) {
    // The download's own failure says more than what the applier made of the broken stream,
    // and bytes that do not decompress may be bytes that are not the blob: the digest, known
    // once the download ends, says which.
    const failed = u.downloadFailure();
    if (failed) throw failed;
    await u.blobCommitted;
    if (err instanceof ManagerError) throw new ManagerError(err.kind, `${u.what}: cannot be unpacked: ${err.message}`);
    throw new Error(`${u.what}: cannot be unpacked: ${(err as Error).message}`);
  }
  if (applied.diffID !== u.diffId) {
    throw new ManagerError('FailedPrecondition', `${u.what}: unpacks to ${applied.diffID}, but the image config's rootfs.diff_ids entry is ${u.diffId}`);
  }
  return applied.size;
}

/** Unpacks and commits the layer's snapshot: 'unpacked', or 'exists' when someone else committed it first. */
export async function unpackLayer(u: LayerUnpack): Promise<'unpacked' | 'exists'> {
  const labels = { [LABEL_SNAPSHOT_REF]: u.chainId };
  const key = `extract-${uniquePart()} ${u.chainId}`;
  const staging = u.staged && u.parent !== '' ? `extract-${uniquePart()} staging ${u.chainId}` : undefined;
  const made: string[] = [];
  let committed = false;
  try {
    if (staging) {
      const target = applyTarget(await u.sn.prepare(staging, '', labels, u.lease), u.what);
      made.push(staging);
      await chown(target.dir, UNTOUCHED_UID, UNTOUCHED_UID);
      await applyChecked(u, target.dir, true);
      await u.parentCommitted;
      const upper = applyTarget(await u.sn.prepare(key, u.parent, labels, u.lease), u.what);
      made.push(key);
      if (!upper.overlay) throw notImplemented(`${u.what}: staged unpacking needs an overlay snapshot`);
      const inherited = await stat(upper.dir);
      await rename(target.dir, upper.dir); // over the empty upper dir, atomically
      const root = await stat(upper.dir);
      if (root.uid === UNTOUCHED_UID) {
        await chown(upper.dir, inherited.uid, inherited.gid);
        await chmod(upper.dir, inherited.mode & 0o7777);
      }
      // the staging snapshot gets an empty dir back, so its removal is an ordinary one
      await mkdir(target.dir, { mode: 0o755 });
      await u.sn.remove(staging);
      made.splice(made.indexOf(staging), 1);
    } else {
      await u.parentCommitted;
      const target = applyTarget(await u.sn.prepare(key, u.parent, labels, u.lease), u.what);
      made.push(key);
      await applyChecked(u, target.dir, target.overlay);
    }
    await u.blobCommitted;
    try {
      await u.sn.commit(u.chainId, key, labels, u.lease);
      committed = true;
      made.splice(made.indexOf(key), 1);
      return 'unpacked';
    } catch (err) {
      if (isKind(err, 'AlreadyExists')) return 'exists'; // unpacked meanwhile by another pull: as good
      throw err;
    }
  } finally {
    if (!committed) for (const k of made.reverse()) await u.sn.remove(k).catch(() => undefined);
  }
}
