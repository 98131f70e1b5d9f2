// Finding images the way Docker's commands accept them: by name (`busybox` is
// docker.io/library/busybox:latest), by repository alone where Docker means every tag of it
// (save), or by image id — the config digest, whole or a unique prefix of its hex, with or
// without "sha256:". Also the walk from an image record to the manifest, config and layers
// that run on this host. Shared by save now, and by inspect/rmi/run/tag later.

import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import { readBlob } from './content';
import {
  formatPlatform,
  hostPlatform,
  isIndexType,
  isManifestType,
  parseImageConfig,
  parseIndex,
  parseManifest,
  parseReference,
  formatReference,
  selectManifest,
  DEFAULT_TAG,
  type Descriptor,
  type ImageConfig,
} from '../../core/images';


export interface ImageRecord {
  name: string;
  target: Descriptor;
}

export interface ResolvedImage {
  target: Descriptor;
  /** The index, when the target is one. */
  index?: Descriptor;
  manifest: Descriptor;
  config: Descriptor;
  imageConfig: ImageConfig;
  layers: Descriptor[];
}

const toDescriptor = (t: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> } | null, name: string): Descriptor => {
  if (!t) throw new CliError(`image ${JSON.stringify(name)} has no target`);
  return { mediaType: t.mediaType, digest: t.digest, size: t.size, ...(t.annotations && Object.keys(t.annotations).length ? { annotations: t.annotations } : {}) };
};

export async function listImages(d: Daemon): Promise<ImageRecord[]> {
  const { images } = await d.images.List({ filters: [] });
  return images.map((i) => ({ name: i.name, target: toDescriptor(i.target, i.name) }));
}

/** The manifest, config and layers of a target for this host. */
export async function resolveTarget(d: Daemon, target: Descriptor, what: string): Promise<ResolvedImage> {
  let manifest = target;
  let index: Descriptor | undefined;
  if (isIndexType(target.mediaType)) {
    index = target;
    const idx = parseIndex(await readBlob(d, target), `index ${target.digest}`);
    const chosen = selectManifest(idx.manifests.filter((m) => isManifestType(m.mediaType)));
    if (!chosen) throw new CliError(`${what}: no ${formatPlatform(hostPlatform())} image in index ${target.digest}`);
    manifest = chosen;
  } else if (!isManifestType(target.mediaType)) {
    throw new CliError(`${what}: target media type ${JSON.stringify(target.mediaType)} is not an image manifest or index`);
  }
  const m = parseManifest(await readBlob(d, manifest), `manifest ${manifest.digest}`);
  const imageConfig = parseImageConfig(await readBlob(d, m.config), `config ${m.config.digest}`);
  return { target, ...(index ? { index } : {}), manifest, config: m.config, imageConfig, layers: m.layers };
}

/** An image as findImages finds it: the names it was found by (none when by id) and its target. */
export interface FoundImage {
  names: string[];
  target: Descriptor;
}

/**
 * The images a user's argument names. `all` (save): a repository without tag means all its
 * tags, as `docker save busybox` does. Each result carries the names it was found by: none
 * when found by id (Docker then saves it untagged).
 */
export async function findImages(d: Daemon, arg: string, opts: { allTags?: boolean } = {}): Promise<FoundImage[]> {
  let ref;
  try {
    ref = parseReference(arg);
  } catch {
    ref = undefined;
  }
  if (ref) {
    if (opts.allTags && ref.tag === undefined && ref.digest === undefined) {
      const repo = formatReference({ domain: ref.domain, path: ref.path });
      const tagged = (await listImages(d)).filter((i) => i.name.startsWith(`${repo}:`) || i.name.startsWith(`${repo}@`));
      if (tagged.length > 0) return tagged.map((i) => ({ names: [i.name], target: i.target }));
    } else {
      const name = formatReference(ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref);
      try {
        const { image } = await d.images.Get({ name });
        if (image) return [{ names: [name], target: toDescriptor(image.target, name) }];
      } catch (err) {
        if (grpcCode(err) !== NOT_FOUND) throw err;
      }
    }
  }
  const byId = await findById(d, arg);
  if (byId) return [{ names: [], target: byId }];
  throw new CliError(`no such image: ${arg}`);
}

/** An image by (a unique prefix of) its id, the config digest. */
async function findById(d: Daemon, arg: string): Promise<Descriptor | undefined> {
  const m = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(arg);
  if (!m) return undefined;
  const prefix = `sha256:${m[1]}`;
  const matches = new Map<string, Descriptor>();
  for (const img of await listImages(d)) {
    let config: string;
    try {
      config = (await resolveTarget(d, img.target, img.name)).config.digest;
    } catch {
      continue; // incomplete image: not what the user means
    }
    if (config.startsWith(prefix)) matches.set(config, img.target);
  }
  if (matches.size > 1) throw new CliError(`image id ${JSON.stringify(arg)} is ambiguous: ${matches.size} images match`);
  return matches.values().next().value;
}
