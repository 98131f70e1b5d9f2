// resolve(): from a reference to the descriptor of its manifest or index. A tag is resolved
// with HEAD (Docker-Content-Digest, Content-Type, Content-Length), falling back to GET when
// the registry's HEAD does not say all of that; a digest is resolved with GET and the bytes
// must hash to it, so a registry (or mirror) cannot answer a pinned reference with anything
// else. The GET's bytes are kept for fetchBytes, which would ask for them next.

import { failedPrecondition, notImplemented } from '../errors';
import { MEDIA_TYPES } from '../images/mediatypes';
import { formatReference } from '../images/reference';
import { repositoryScope } from './auth';
import { checkDigest, digestOf } from './digest';
import { statusError } from './errors';
import type { RegistryHost } from './hosts';
import { isManifestOrIndex, MANIFEST_ACCEPT, mirrorQuery, tryHosts, type Repository } from './repository';
import { drain, readBody } from './transport';
import type { Resolved } from './types';

/** Manifests larger than this are refused (distribution's own limit is 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** "application/vnd.oci.image.index.v1+json; charset=utf-8" → the media type alone. */
export const mediaTypeOf = (contentType: string | undefined): string => (contentType ?? '').split(';')[0]!.trim().toLowerCase();

export async function resolveReference(repo: Repository, manifestCache: Map<string, Buffer>): Promise<Resolved> {
  const ref = repo.ref;
  if (ref.digest) checkDigest(ref.digest, `reference ${formatReference(ref)}`);
  const name = formatReference(ref);
  const target = ref.digest ?? ref.tag!;
  const scopes = [repositoryScope(ref.path, ['pull'])];
  const path = `/${ref.path}/manifests/${target}`;
  const accept = MANIFEST_ACCEPT.join(', ');

  return tryHosts(repo, 'resolve', async (host: RegistryHost) => {
    const query = mirrorQuery(repo, host);
    if (!ref.digest) {
      const head = await repo.client.request(host, { method: 'HEAD', path, query, headers: { accept }, scopes });
      if (head.status === 200) {
        drain(head);
        const digest = head.headers['docker-content-digest'];
        const mediaType = mediaTypeOf(head.headers['content-type']);
        const size = Number(head.headers['content-length']);
        if (typeof digest === 'string' && /^sha(256|512):[a-f0-9]+$/.test(digest) && isManifestOrIndex(mediaType) && Number.isSafeInteger(size) && size > 0) {
          return { name, desc: { mediaType, digest, size } };
        }
      }
      // Anything else: GET tells (and carries the registry's error text).
    }
    const res = await repo.client.request(host, { method: 'GET', path, query, headers: { accept }, scopes });
    if (res.status !== 200) {
      throw statusError(res.status, res.detail, { what: `manifest for ${name}`, repository: repo.name, action: 'pull', request: `GET ${res.url.href}` });
    }
    const bytes = await readBody(res, MAX_MANIFEST_BYTES);
    const digest = digestOf(bytes, ref.digest);
    if (ref.digest && digest !== ref.digest) {
      throw failedPrecondition(`${name}: the registry's manifest does not match the reference: its digest is ${digest}`);
    }
    const mediaType = manifestMediaType(res.headers['content-type'], bytes, name);
    manifestCache.set(digest, bytes);
    return { name, desc: { mediaType, digest, size: bytes.length } };
  });
}

/** The media type of a manifest: its Content-Type, or (for registries that send application/json) its mediaType field. */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer, name: string): string {
  const fromHeader = mediaTypeOf(contentType);
  if (isManifestOrIndex(fromHeader)) return fromHeader;
  let doc: { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown; config?: unknown } = {};
  try {
    doc = JSON.parse(bytes.toString());
  } catch {
    throw failedPrecondition(`${name}: the manifest is not JSON (Content-Type ${JSON.stringify(fromHeader)})`);
  }
  if (doc.schemaVersion === 1 || fromHeader.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw notImplemented(`${name}: Docker image manifest schema 1 is not supported (push the image again with a current client)`);
  }
  if (typeof doc.mediaType === 'string' && isManifestOrIndex(doc.mediaType)) return doc.mediaType;
  // OCI documents may leave mediaType out: tell index from manifest by shape.
  if (doc.schemaVersion === 2 && Array.isArray(doc.manifests)) return MEDIA_TYPES.ociIndex;
  if (doc.schemaVersion === 2 && typeof doc.config === 'object') return MEDIA_TYPES.ociManifest;
  throw failedPrecondition(`${name}: unsupported manifest media type ${JSON.stringify(fromHeader || doc.mediaType || 'none')}`);
}
