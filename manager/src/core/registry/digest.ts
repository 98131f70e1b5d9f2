// Content digests as the registry client checks them: sha256 (and sha512, which the OCI
// spec allows) of bytes; "algorithm:hex" strings validated before they go into a URL.

import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors';

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** Throws InvalidArgument naming `what` unless `digest` is a sha256/sha512 digest. */
export function checkDigest(digest: string, what: string): void {
  if (!DIGEST.test(digest)) throw invalidArgument(`${what}: ${JSON.stringify(digest)} is not a sha256 or sha512 digest`);
}

/** The digest of `bytes` with the algorithm of `like` ("sha256:…" by default). */
export function digestOf(bytes: Buffer, like = 'sha256:'): string {
  const algorithm = like.startsWith('sha512:') ? 'sha512' : 'sha256';
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
