// Validation of names that become keys: namespaces, container and lease ids, labels, digests.
// The rules are containerd's, so a name ctr accepts is accepted here and the other way round.

import { invalidArgument } from '../errors';

const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$/;
const MAX_IDENTIFIER = 76;
const MAX_LABEL = 4096;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function validateName(what: string, s: string): void {
  if (s === '') throw invalidArgument(`${what} must not be empty`);
  if (s.length > MAX_IDENTIFIER) {
    throw invalidArgument(`${what} ${JSON.stringify(s)} greater than maximum length (${MAX_IDENTIFIER} characters)`);
  }
  if (!IDENTIFIER.test(s)) {
    throw invalidArgument(`${what} ${JSON.stringify(s)} must match ${IDENTIFIER.source}`);
  }
}

/** A namespace name: letters and digits, separated by single '.', '_' or '-'; at most 76. */
export const validateNamespace = (ns: string): void => validateName('namespace', ns);

/** Container, lease (and later network, volume) ids follow the namespace rule. */
export const validateIdentifier = (id: string, what = 'identifier'): void => validateName(what, id);

/** Labels: non-empty keys, and key plus value at most 4096 bytes. */
export function validateLabels(labels: Record<string, string> | undefined, what = 'labels'): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (k === '') throw invalidArgument(`${what}: label key must not be empty`);
    if (typeof v !== 'string') throw invalidArgument(`${what}: label ${JSON.stringify(k)} value must be a string`);
    const n = Buffer.byteLength(k) + Buffer.byteLength(v);
    if (n > MAX_LABEL) {
      throw invalidArgument(`${what}: label key and value length (${n} bytes) greater than maximum size (${MAX_LABEL} bytes) for ${JSON.stringify(k)}`);
    }
  }
}

/**
 * A lease id: containerd keeps no naming rule for leases, and ctr's own random ids
 * (`<nanoseconds>-<base64url>`) may end in '-' or hold '--'. Only what a key cannot
 * carry is refused.
 */
export function validateLeaseId(id: string): void {
  if (id === '') throw invalidArgument('lease id must not be empty');
  if (id.length > 255 || /[\u0000/]/.test(id)) throw invalidArgument(`lease id ${JSON.stringify(id)}: at most 255 characters, no '/' or NUL`);
}

/** A content digest; berth stores sha256 only. */
export function validateDigest(d: string): void {
  if (typeof d !== 'string' || !DIGEST.test(d)) {
    throw invalidArgument(`invalid digest ${JSON.stringify(d)}: want sha256:<64 lower-case hex>`);
  }
}

export const isDigest = (d: string): boolean => DIGEST.test(d);

/** A free-form name used as a key part (image name, ingest ref, snapshot key): no NUL, bounded. */
export function validateKeyPart(s: string, what: string): void {
  if (s.includes('\0')) throw invalidArgument(`${what} ${JSON.stringify(s)} must not contain NUL`);
  if (Buffer.byteLength(s) > 1024) throw invalidArgument(`${what} longer than 1024 bytes`);
}
