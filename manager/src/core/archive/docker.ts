// The docker-archive format (`docker save`, Docker Image Spec v1.2): manifest.json lists
// images as {Config, RepoTags, Layers} with paths inside the archive. Layers carry no media
// type and may be plain or compressed tars, so a manifest is made for each image, the layer
// types from the blobs' first bytes.
//
// The manifest made is an OCI one (as Docker ≥25 writes in its own saves), not Docker schema 2
// (as containerd's importer makes): OCI tools skip Docker media types in an OCI layout
// (skopeo's oci-archive: finds no image), so a schema 2 manifest would make the OCI half of
// a later `berth save` unreadable to them. A Docker config is a valid OCI config.

import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors';
import { MEDIA_TYPES, goDescriptor, goJson, normalizeName, type Descriptor } from '../images';
import type { Compression } from '../diff/compression';
import { resolveFile, type ArchiveContents, type ArchiveFile } from './reader';

export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/** Parses and checks manifest.json; `null` RepoTags (an untagged image) read as []. */
export function parseDockerManifest(bytes: Buffer): DockerManifestEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`manifest.json: not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(v)) throw invalidArgument('manifest.json: expected an array of images');
  return v.map((e: unknown, i) => {
    const what = `manifest.json[${i}]`;
    if (typeof e !== 'object' || e === null) throw invalidArgument(`${what}: expected an object`);
    const o = e as Record<string, unknown>;
    if (typeof o.Config !== 'string' || o.Config === '') throw invalidArgument(`${what}.Config: must be a path`);
    if (!Array.isArray(o.Layers) || o.Layers.some((l) => typeof l !== 'string')) throw invalidArgument(`${what}.Layers: must be an array of paths`);
    const tags = o.RepoTags ?? [];
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw invalidArgument(`${what}.RepoTags: must be an array of names`);
    return { Config: o.Config, RepoTags: tags as string[], Layers: o.Layers as string[] };
  });
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const LAYER_TYPES: Record<Compression, string> = {
  none: MEDIA_TYPES.ociLayer,
  gzip: MEDIA_TYPES.ociLayerGzip,
  zstd: MEDIA_TYPES.ociLayerZstd,
};

export interface DockerImage {
  /** Normalised names from RepoTags (docker.io/library/busybox:latest). */
  names: string[];
  /** The manifest berth made for it, and its descriptor. */
  manifest: Buffer;
  descriptor: Descriptor;
  config: ArchiveFile;
  layers: ArchiveFile[];
}

function mustResolve(contents: ArchiveContents, path: string, what: string): ArchiveFile {
  const f = resolveFile(contents, path);
  if (!f) throw invalidArgument(`${what}: ${JSON.stringify(path)} is not in the archive`);
  return f;
}

/** The image of manifest.json entry `i`: its files resolved (through links) and a manifest made. */
export function dockerImage(contents: ArchiveContents, entry: DockerManifestEntry, i: number): DockerImage {
  const what = `manifest.json[${i}]`;
  const config = mustResolve(contents, entry.Config, `${what}.Config`);
  const layers = entry.Layers.map((l, j) => mustResolve(contents, l, `${what}.Layers[${j}]`));
  const names = entry.RepoTags.map((t, j) => {
    try {
      return normalizeName(t);
    } catch (err) {
      throw invalidArgument(`${what}.RepoTags[${j}]: ${(err as Error).message}`);
    }
  });
  const manifest = goJson({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: goDescriptor({ mediaType: MEDIA_TYPES.ociConfig, digest: config.digest, size: config.size }),
    layers: layers.map((l) => goDescriptor({ mediaType: LAYER_TYPES[l.compression], digest: l.digest, size: l.size })),
  });
  const descriptor: Descriptor = { mediaType: MEDIA_TYPES.ociManifest, digest: sha256(manifest), size: manifest.length };
  return { names: [...new Set(names)], manifest, descriptor, config, layers };
}
