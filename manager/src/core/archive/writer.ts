// Writing images as one tar that is both an OCI image layout and a docker-archive, as Docker
// ≥25's `docker save` does: oci-layout, index.json (one entry per name, with containerd's and
// OCI's name annotations), manifest.json (one entry per image: Config, RepoTags, Layers as
// blobs/sha256/<hex> paths), repositories, then blobs/sha256/<hex>. So `docker load`,
// `podman load`, `ctr images import`, `skopeo … docker-archive:` and `… oci-archive:` read it.
//
// The small files come first, so that a reader that streams (berth load) knows what the
// blobs are before it meets them; the output is deterministic (fixed owners, modes and
// times), so saving the same images twice gives the same bytes.

import { invalidArgument } from '../errors';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  MEDIA_TYPES,
  familiarReference,
  familiarRepository,
  goDescriptor,
  goJson,
  ociRefName,
  parseReference,
  type Descriptor,
} from '../images';
import { encodeHeader, endOfArchive, padding, type WriteHeader } from '../diff/tar';
import { DOCKER_MANIFEST, DOCKER_REPOSITORIES, OCI_INDEX, OCI_LAYOUT, blobPath } from './reader';

export interface ExportImage {
  /** Full names to save it under; empty for an image saved by id (untagged). */
  names: string[];
  /** What its records point at: a manifest or an index. */
  target: Descriptor;
  /** The manifest for this host (the target itself, or chosen from the index). */
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  /** Every blob of the image to include: target, index children present, config, layers. */
  blobs: Descriptor[];
}

/** The bytes of a blob, streamed. */
export type BlobSource = (desc: Descriptor) => AsyncIterable<Buffer>;

const EPOCH = { sec: 0, nsec: 0 };
const fileHeader = (name: string, size: number): WriteHeader => ({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: EPOCH });
const dirHeader = (name: string): WriteHeader => ({ name, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: EPOCH });

function* smallFile(name: string, data: Buffer): Generator<Buffer> {
  yield encodeHeader(fileHeader(name, data.length));
  yield data;
  yield padding(data.length);
}

const hex = (digest: string): string => digest.slice('sha256:'.length);

/** index.json: one entry per name (and one bare entry for an untagged image). */
export function ociIndex(images: ExportImage[]): Buffer {
  const manifests: Record<string, unknown>[] = [];
  for (const img of images) {
    const base: Descriptor = { mediaType: img.target.mediaType, digest: img.target.digest, size: img.target.size, ...(img.target.platform ? { platform: img.target.platform } : {}) };
    if (img.names.length === 0) manifests.push(goDescriptor(base));
    for (const name of img.names) {
      manifests.push(goDescriptor({ ...base, annotations: { [ANNOTATION_IMAGE_NAME]: name, [ANNOTATION_REF_NAME]: ociRefName(name) } }));
    }
  }
  return goJson({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests });
}

/** The familiar name:tag forms Docker puts in RepoTags (names with only a digest have none). */
function repoTags(names: string[]): { repo: string; tag: string; full: string }[] {
  const out: { repo: string; tag: string; full: string }[] = [];
  for (const n of names) {
    const r = parseReference(n);
    if (r.tag === undefined) continue;
    const tagged = { domain: r.domain, path: r.path, tag: r.tag };
    out.push({ repo: familiarRepository(tagged), tag: r.tag, full: familiarReference(tagged) });
  }
  return out;
}

/** manifest.json: one entry per image, layers of the host's manifest; RepoTags null when untagged (as Docker writes it). */
export function dockerManifest(images: ExportImage[]): Buffer {
  return goJson(
    images.map((img) => {
      const tags = repoTags(img.names).map((t) => t.full);
      return { Config: blobPath(img.config.digest), RepoTags: tags.length ? tags : null, Layers: img.layers.map((l) => blobPath(l.digest)) };
    }),
  );
}

/** repositories: {repository: {tag: top layer id}}, the pre-1.10 index Docker still writes. */
export function dockerRepositories(images: ExportImage[]): Buffer | null {
  const repos: Record<string, Record<string, string>> = {};
  for (const img of images) {
    const top = img.layers[img.layers.length - 1];
    if (!top) continue;
    for (const t of repoTags(img.names)) (repos[t.repo] ??= {})[t.tag] = hex(top.digest);
  }
  return Object.keys(repos).length ? goJson(repos) : null;
}

/** Merges images that share a target (one manifest.json entry, all their names). */
function merge(images: ExportImage[]): ExportImage[] {
  const out: ExportImage[] = [];
  for (const img of images) {
    const same = out.find((o) => o.target.digest === img.target.digest);
    if (!same) out.push({ ...img, names: [...new Set(img.names)] });
    else for (const n of img.names) if (!same.names.includes(n)) same.names.push(n);
  }
  return out;
}

/** The archive's bytes, streamed; each blob is read from `source` and must be as long as its descriptor says. */
export async function* writeArchive(input: ExportImage[], source: BlobSource): AsyncGenerator<Buffer> {
  const images = merge(input);
  yield* smallFile(OCI_LAYOUT, goJson({ imageLayoutVersion: '1.0.0' }));
  yield* smallFile(OCI_INDEX, ociIndex(images));
  yield* smallFile(DOCKER_MANIFEST, dockerManifest(images));
  const repositories = dockerRepositories(images);
  if (repositories) yield* smallFile(DOCKER_REPOSITORIES, repositories);
  yield encodeHeader(dirHeader('blobs/'));
  yield encodeHeader(dirHeader('blobs/sha256/'));
  const written = new Set<string>();
  for (const img of images) {
    for (const blob of img.blobs) {
      if (written.has(blob.digest)) continue;
      written.add(blob.digest);
      yield encodeHeader(fileHeader(blobPath(blob.digest), blob.size));
      let n = 0;
      for await (const chunk of source(blob)) {
        n += chunk.length;
        if (n > blob.size) break;
        yield chunk;
      }
      if (n !== blob.size) throw invalidArgument(`blob ${blob.digest}: the store gave ${n > blob.size ? 'more' : n} bytes, its descriptor says ${blob.size}`);
      yield padding(blob.size);
    }
  }
  yield endOfArchive();
}
