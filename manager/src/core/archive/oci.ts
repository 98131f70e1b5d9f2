// The OCI image layout (image-spec layout.md) as a tar: oci-layout, index.json, blobs/sha256/.
// Each manifest (or nested index) index.json lists is an image; its name comes from the
// `io.containerd.image.name` annotation (containerd, Docker ≥25) or else from
// `org.opencontainers.image.ref.name` (skopeo, umoci), read as a Docker reference: a bare tag
// such as "test" names docker.io/library/test:latest, as `docker tag … test` would.

import { invalidArgument } from '../errors';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, normalizeName, parseIndex, type Descriptor, type Index } from '../images';

export interface OciEntry {
  descriptor: Descriptor;
  /** The normalised name, or undefined for an untagged image. */
  name?: string;
  /** Why a name annotation was not usable (shown to the user; the image loads untagged). */
  warning?: string;
}

/** Checks oci-layout: {"imageLayoutVersion": "1.x"}. */
export function checkLayout(bytes: Buffer): void {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`oci-layout: not valid JSON (${(err as Error).message})`);
  }
  const version = (v as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
  if (typeof version !== 'string' || !/^1\.\d+\.\d+$/.test(version)) {
    throw invalidArgument(`oci-layout: imageLayoutVersion ${JSON.stringify(version)} is not supported (want 1.x.y)`);
  }
}

export function parseLayoutIndex(bytes: Buffer): Index {
  return parseIndex(bytes, 'index.json');
}

/** The images of index.json with their names. */
export function ociEntries(index: Index): OciEntry[] {
  return index.manifests.map((descriptor, i) => {
    const a = descriptor.annotations ?? {};
    const raw = a[ANNOTATION_IMAGE_NAME] || a[ANNOTATION_REF_NAME];
    if (!raw) return { descriptor };
    const key = a[ANNOTATION_IMAGE_NAME] ? ANNOTATION_IMAGE_NAME : ANNOTATION_REF_NAME;
    try {
      return { descriptor, name: normalizeName(raw) };
    } catch (err) {
      return { descriptor, warning: `index.json manifests[${i}]: annotation ${key}: ${(err as Error).message}; loaded untagged` };
    }
  });
}
