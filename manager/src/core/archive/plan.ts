// From what readArchive() found to the images to create: which target each name points at,
// which manifest of it runs here, its config and layers in order, and the manifests berth has
// to make (docker-archive images have none). Everything an image needs on this platform must
// be in the archive, with the size its descriptor says; blobs of other platforms may be
// missing (`docker save` of a multi-platform image leaves them out).
//
// Which format: an OCI index.json is preferred when present (it carries real manifest
// digests); Docker ≥25's combined archives have both, and their manifest.json RepoTags are
// added to the OCI image with the same config. manifest.json entries no OCI image covers are
// loaded the docker-archive way.

import { invalidArgument } from '../errors';
import { compressionOf } from '../diff/compression';
import {
  childGcLabels,
  formatPlatform,
  hostPlatform,
  isIndexType,
  isManifestType,
  parseImageConfig,
  parseIndex,
  parseManifest,
  selectManifest,
  type Descriptor,
  type ImageConfig,
} from '../images';
import { dockerImage, parseDockerManifest } from './docker';
import { checkLayout, ociEntries, parseLayoutIndex } from './oci';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_LAYOUT, filesByDigest, type ArchiveContents, type ArchiveFile } from './reader';

/** Reads a (small) blob of the archive back by digest: from the content store it was written to. */
export type BlobReader = (desc: Descriptor) => Promise<Buffer>;

export interface PlannedImage {
  /** Normalised names; empty for an untagged image. */
  names: string[];
  /** What the image records point at: a manifest or an index. */
  target: Descriptor;
  /** The manifest that runs on this host (the target itself, or chosen from the index). */
  manifest: Descriptor;
  config: Descriptor;
  /** The config's contents (the image id is config.digest). */
  imageConfig: ImageConfig;
  layers: Descriptor[];
  /** Per layer: its diffID when the archive's bytes were checked against it (absent for zstd). */
  verifiedDiffIds: (string | undefined)[];
}

export interface ImportPlan {
  images: PlannedImage[];
  /** Manifests berth made (docker-archive images), to be written to the content store. */
  generated: { descriptor: Descriptor; bytes: Buffer }[];
  /** containerd's gc.ref.content labels for the manifests and indexes, by blob digest. */
  childLabels: Map<string, Record<string, string>>;
  /** Things the user should know that did not stop the load. */
  warnings: string[];
}

class Planner {
  readonly byDigest: Map<string, ArchiveFile>;
  readonly plan: ImportPlan = { images: [], generated: [], childLabels: new Map(), warnings: [] };

  constructor(
    contents: ArchiveContents,
    private readonly read: BlobReader,
  ) {
    this.byDigest = filesByDigest(contents);
  }

  /** The archive's file for a descriptor, or undefined when absent (an error when `required`). */
  file(desc: Descriptor, what: string, required: boolean): ArchiveFile | undefined {
    const f = this.byDigest.get(desc.digest);
    if (!f) {
      if (required) throw invalidArgument(`${what}: blob ${desc.digest} is not in the archive`);
      return undefined;
    }
    if (f.size !== desc.size) throw invalidArgument(`${what}: blob ${desc.digest} is ${f.size} bytes in the archive (${JSON.stringify(f.path)}), the descriptor says ${desc.size}`);
    return f;
  }

  /**
   * Checks each layer's decompressed digest (computed while reading) against the config's
   * diff_ids; returns, per layer, the diffID that was verified.
   */
  verifyLayers(layers: Descriptor[], diffIds: string[], what: (i: number) => string): (string | undefined)[] {
    return layers.map((l, i) => {
      const f = this.byDigest.get(l.digest)!;
      let plain: boolean;
      try {
        plain = compressionOf(l.mediaType) === 'none';
      } catch {
        return undefined; // a type berth cannot unpack: unpacking will say so
      }
      const uncompressed = plain ? f.digest : f.uncompressed;
      if (!plain && f.uncompressedError && f.compression === 'gzip') throw invalidArgument(`${what(i)} ${JSON.stringify(f.path)}: ${f.uncompressedError}`);
      if (uncompressed === undefined || (!plain && f.compression !== 'gzip')) return undefined;
      if (uncompressed !== diffIds[i]) {
        throw invalidArgument(`${what(i)} ${JSON.stringify(f.path)}: ${plain ? 'content' : 'uncompressed content'} is ${uncompressed}, but the config's rootfs.diff_ids[${i}] is ${diffIds[i]}`);
      }
      return uncompressed;
    });
  }

  /** Follows a manifest: its config and layers must all be here. */
  async manifest(desc: Descriptor, what: string): Promise<Omit<PlannedImage, 'names' | 'target'>> {
    this.file(desc, what, true);
    const m = parseManifest(await this.read(desc), `manifest ${desc.digest}`);
    this.file(m.config, `manifest ${desc.digest} config`, true);
    m.layers.forEach((l, i) => this.file(l, `manifest ${desc.digest} layers[${i}]`, true));
    this.plan.childLabels.set(desc.digest, childGcLabels([m.config, ...m.layers]));
    const imageConfig = parseImageConfig(await this.read(m.config), `config ${m.config.digest}`);
    if (imageConfig.rootfs.diff_ids.length !== m.layers.length) {
      throw invalidArgument(`manifest ${desc.digest}: ${m.layers.length} layers, but config ${m.config.digest} lists ${imageConfig.rootfs.diff_ids.length} diff_ids`);
    }
    const verifiedDiffIds = this.verifyLayers(m.layers, imageConfig.rootfs.diff_ids, (i) => `manifest ${desc.digest} layers[${i}]`);
    return { manifest: desc, config: m.config, imageConfig, layers: m.layers, verifiedDiffIds };
  }

  /** Follows a target (manifest or index) down to the manifest for this host. */
  async target(desc: Descriptor, what: string): Promise<Omit<PlannedImage, 'names' | 'target'>> {
    if (isManifestType(desc.mediaType)) return this.manifest(desc, what);
    if (!isIndexType(desc.mediaType)) throw invalidArgument(`${what}: media type ${JSON.stringify(desc.mediaType)} is not an image manifest or index`);
    this.file(desc, what, true);
    const idx = parseIndex(await this.read(desc), `index ${desc.digest}`);
    this.plan.childLabels.set(desc.digest, childGcLabels(idx.manifests));
    const host = hostPlatform();
    const chosen = selectManifest(idx.manifests.filter((m) => isManifestType(m.mediaType) && this.byDigest.has(m.digest)), host);
    if (!chosen) throw invalidArgument(`${what}: index ${desc.digest} has no ${formatPlatform(host)} image in the archive`);
    return this.manifest(chosen, `index ${desc.digest} (${formatPlatform(host)})`);
  }

  add(names: string[], target: Descriptor, found: Omit<PlannedImage, 'names' | 'target'>): void {
    const same = this.plan.images.find((i) => i.target.digest === target.digest);
    if (same) {
      for (const n of names) if (!same.names.includes(n)) same.names.push(n);
      return;
    }
    this.plan.images.push({ names: [...new Set(names)], target, ...found });
  }
}

/** Decides what to create from an archive that has been read into the content store. */
export async function planImport(contents: ArchiveContents, read: BlobReader): Promise<ImportPlan> {
  const index = contents.metadata.get(OCI_INDEX);
  const dockerManifest = contents.metadata.get(DOCKER_MANIFEST);
  if (!index && !dockerManifest) {
    throw invalidArgument('not an image archive: it has neither manifest.json (docker-archive) nor index.json (OCI image layout)');
  }
  const p = new Planner(contents, read);

  if (index) {
    const layout = contents.metadata.get(OCI_LAYOUT);
    if (layout) checkLayout(layout);
    const entries = ociEntries(parseLayoutIndex(index));
    for (const [i, e] of entries.entries()) {
      if (e.warning) p.plan.warnings.push(e.warning);
      p.add(e.name ? [e.name] : [], e.descriptor, await p.target(e.descriptor, `index.json manifests[${i}]`));
    }
  }

  if (dockerManifest) {
    for (const [i, entry] of parseDockerManifest(dockerManifest).entries()) {
      const img = dockerImage(contents, entry, i);
      const covered = p.plan.images.find((x) => x.config.digest === img.config.digest);
      if (covered) {
        for (const n of img.names) if (!covered.names.includes(n)) covered.names.push(n);
        continue;
      }
      const imageConfig = parseImageConfig(await read({ mediaType: '', digest: img.config.digest, size: img.config.size }), `manifest.json[${i}].Config ${JSON.stringify(entry.Config)}`);
      const diffIds = imageConfig.rootfs.diff_ids;
      if (diffIds.length !== img.layers.length) {
        throw invalidArgument(`manifest.json[${i}]: ${img.layers.length} layers, but its config lists ${diffIds.length} diff_ids`);
      }
      const target: Descriptor = { ...img.descriptor };
      if (imageConfig.os && imageConfig.architecture) {
        target.platform = { os: imageConfig.os, architecture: imageConfig.architecture, ...(imageConfig.variant ? { variant: imageConfig.variant } : {}) };
      }
      const manifest = parseManifest(img.manifest, `manifest made for manifest.json[${i}]`);
      const verifiedDiffIds = p.verifyLayers(manifest.layers, diffIds, (j) => `manifest.json[${i}].Layers[${j}]`);
      p.plan.generated.push({ descriptor: img.descriptor, bytes: img.manifest });
      p.plan.childLabels.set(img.descriptor.digest, childGcLabels([manifest.config, ...manifest.layers]));
      p.add(img.names, target, { manifest: img.descriptor, config: manifest.config, imageConfig, layers: manifest.layers, verifiedDiffIds });
    }
  }
  return p.plan;
}
