// Every image of the namespace as Docker lists them: one image per id (its config digest)
// with all the names that point at it, its config, creation time and size. Shared by images,
// rmi, image prune, history, image inspect and system df.
//
// Size is Docker's: the unpacked size, the sum of the disk use of the image's layer snapshots
// (chain ids) in the overlayfs snapshotter, from one System.Df call; a layer that is not
// unpacked counts its blob's size.

import type { Daemon } from '../daemon';
import { DANGLING_PREFIX } from './load';
import { listImages, resolveTarget, type ImageRecord, type ResolvedImage } from './resolve';
import { DEFAULT_SNAPSHOTTER } from './unpack';
import { chainIds, type Descriptor } from '../../core/images';

export interface ImageInfo {
  /** The config digest: Docker's image id. */
  id: string;
  /** The names pointing at it (berth's dangling record left out), sorted. */
  names: string[];
  /** Every record pointing at it (its dangling one included). */
  records: ImageRecord[];
  target: Descriptor;
  resolved: ResolvedImage;
  created: Date | undefined;
  chain: string[];
  /** Per layer: its snapshot's own disk use (or the blob size when not unpacked). */
  layerSizes: number[];
  size: number;
}

export const isDanglingName = (name: string): boolean => name.startsWith(`${DANGLING_PREFIX}@`);

/** Disk use of the namespace's snapshots (overlayfs by default) and blobs, by key/digest. */
export async function diskUsage(d: Daemon, snapshotter = DEFAULT_SNAPSHOTTER): Promise<{ snapshots: Map<string, number>; content: Map<string, number> }> {
  const df = await d.system.Df({});
  return {
    snapshots: new Map(df.snapshots.filter((s) => s.snapshotter === snapshotter).map((s) => [s.key, s.size])),
    content: new Map(df.content.map((c) => [c.digest, c.size])),
  };
}

function parseDate(s: string | undefined): Date | undefined {
  if (!s) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** The namespace's images, newest first; records whose image cannot be read are left out (logged). */
export async function inventory(d: Daemon, opts: { usage?: Map<string, number>; warn?: (m: string) => void } = {}): Promise<ImageInfo[]> {
  const records = await listImages(d);
  const usage = opts.usage ?? (await diskUsage(d)).snapshots;
  const byTarget = new Map<string, ResolvedImage | null>();
  const byId = new Map<string, ImageInfo>();
  for (const rec of records) {
    let r = byTarget.get(rec.target.digest);
    if (r === undefined) {
      r = await resolveTarget(d, rec.target, rec.name).catch((err: Error) => {
        opts.warn?.(`image ${rec.name}: ${err.message}`);
        return null;
      });
      byTarget.set(rec.target.digest, r);
    }
    if (!r) continue;
    const id = r.config.digest;
    let info = byId.get(id);
    if (!info) {
      const chain = chainIds(r.imageConfig.rootfs.diff_ids);
      const layerSizes = chain.map((c, i) => usage.get(c) ?? r!.layers[i]?.size ?? 0);
      info = {
        id,
        names: [],
        records: [],
        target: rec.target,
        resolved: r,
        created: parseDate(r.imageConfig.created),
        chain,
        layerSizes,
        size: layerSizes.reduce((a, b) => a + b, 0),
      };
      byId.set(id, info);
    }
    info.records.push(rec);
    if (!isDanglingName(rec.name)) info.names.push(rec.name);
  }
  for (const i of byId.values()) i.names.sort();
  return [...byId.values()].sort((a, b) => (b.created?.getTime() ?? 0) - (a.created?.getTime() ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)); // ids are hex: code point order, without ICU's start-up
}

/** The images containers use: their `image` field names a record (or an id). */
export function imagesInUse(images: ImageInfo[], containerImages: string[]): Set<string> {
  const used = new Set<string>();
  for (const ref of containerImages) {
    const img = images.find((i) => i.records.some((r) => r.name === ref) || i.id === ref || i.target.digest === ref);
    if (img) used.add(img.id);
  }
  return used;
}
