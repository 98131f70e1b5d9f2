// Image references as Docker reads them (distribution/reference's ParseNormalizedNamed):
// `busybox` → docker.io/library/busybox:latest, `me/app:1` → docker.io/me/app:1,
// `quay.io/x/y@sha256:…` stays as it is. Records are stored under the full form (as
// containerd and ctr expect); users are shown the familiar form (`busybox:latest`).
//
// No I/O here: the CLI (load, save, later pull/run/tag) and berthd's CRI image service share it.

import { invalidArgument } from '../errors';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT = new RegExp('^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$');
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}$/;
const IDENTIFIER = /^[a-f0-9]{64}$/;

export interface Reference {
  /** registry host[:port], e.g. docker.io */
  domain: string;
  /** repository path inside the registry, e.g. library/busybox */
  path: string;
  tag?: string;
  digest?: string;
}

const fail = (ref: string, why: string) => invalidArgument(`invalid reference ${JSON.stringify(ref)}: ${why}`);

/** Splits a name into domain and path the way Docker does (a first component with '.' or ':', or localhost, is a registry). */
function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf('/');
  let domain: string;
  let path: string;
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    domain = first;
    path = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

/**
 * Parses a reference as Docker's CLI does, without adding a default tag. Throws
 * InvalidArgument naming the reference for anything Docker would refuse.
 */
export function parseReference(ref: string): Reference {
  if (ref === '') throw fail(ref, 'empty');
  if (IDENTIFIER.test(ref)) throw fail(ref, 'cannot specify 64-byte hexadecimal strings as a repository name');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw fail(ref, `bad digest ${JSON.stringify(digest)}`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw fail(ref, `bad tag ${JSON.stringify(tag)}`);
  }
  if (rest === '') throw fail(ref, 'no repository name');
  const { domain, path } = splitDomain(rest);
  if (path.toLowerCase() !== path) throw fail(ref, 'repository name must be lowercase');
  if (!DOMAIN.test(domain)) throw fail(ref, `bad registry ${JSON.stringify(domain)}`);
  for (const c of path.split('/')) {
    if (!PATH_COMPONENT.test(c)) throw fail(ref, `bad repository path component ${JSON.stringify(c)}`);
  }
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) throw fail(ref, `repository name longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The repository: domain/path. */
export const repositoryOf = (r: Reference): string => `${r.domain}/${r.path}`;

/** The full form: docker.io/library/busybox:latest, with the tag and/or digest it has. */
export function formatReference(r: Reference): string {
  return `${repositoryOf(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** Docker's short form: busybox:latest, me/app:1, quay.io/x/y:2. */
export function familiarRepository(r: Reference): string {
  if (r.domain !== DEFAULT_DOMAIN) return repositoryOf(r);
  if (r.path.startsWith(OFFICIAL_REPO_PREFIX) && !r.path.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) return r.path.slice(OFFICIAL_REPO_PREFIX.length);
  return r.path;
}

export function familiarReference(r: Reference): string {
  return `${familiarRepository(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** Parses and adds the default tag when there is neither tag nor digest (Docker's TagNameOnly). */
export function parseNormalized(ref: string): Reference {
  const r = parseReference(ref);
  return r.tag === undefined && r.digest === undefined ? { ...r, tag: DEFAULT_TAG } : r;
}

/** `busybox` → `docker.io/library/busybox:latest`: the name an image record is stored under. */
export const normalizeName = (ref: string): string => formatReference(parseNormalized(ref));

/** The familiar form of a stored (full) name; a name that does not parse is shown as it is. */
export function familiarName(name: string): string {
  try {
    return familiarReference(parseReference(name));
  } catch {
    return name;
  }
}

/** The tag part of a reference, or the whole name when it has none (what ctr puts in org.opencontainers.image.ref.name). */
export function ociRefName(name: string): string {
  try {
    const r = parseReference(name);
    return r.tag ?? r.digest ?? name;
  } catch {
    return name;
  }
}
