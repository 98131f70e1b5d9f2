// The OCI descriptor and the JSON documents of an image (index, manifest, config), with
// parsers that check the fields berth relies on and name the field that is wrong.

import { invalidArgument } from '../errors';
import { isIndexType, isManifestType } from './mediatypes';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The parts of an image config (OCI / Docker) that unpacking and listing need. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
  history?: unknown[];
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`${what}: not valid JSON (${(err as Error).message})`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) throw invalidArgument(`${what}: expected an object of strings`);
  return v as Record<string, string>;
}

/** Checks one descriptor; `what` names it in errors ("manifest sha256:…: layers[2]"). */
export function checkDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw invalidArgument(`${what}: expected a descriptor object`);
  if (typeof v.mediaType !== 'string' || v.mediaType === '') throw invalidArgument(`${what}.mediaType: must be a non-empty string`);
  if (typeof v.digest !== 'string' || !DIGEST.test(v.digest)) throw invalidArgument(`${what}.digest: ${JSON.stringify(v.digest)} is not a sha256 digest`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw invalidArgument(`${what}.size: ${JSON.stringify(v.size)} is not a size`);
  const d: Descriptor = { mediaType: v.mediaType, digest: v.digest, size: v.size };
  const annotations = stringMap(v.annotations, `${what}.annotations`);
  if (annotations) d.annotations = annotations;
  if (Array.isArray(v.urls)) d.urls = v.urls.map(String);
  if (isObject(v.platform)) {
    const p = v.platform;
    if (typeof p.architecture !== 'string' || typeof p.os !== 'string') throw invalidArgument(`${what}.platform: os and architecture must be strings`);
    d.platform = { architecture: p.architecture, os: p.os, ...(typeof p.variant === 'string' ? { variant: p.variant } : {}) };
  }
  return d;
}

export function parseManifest(bytes: Buffer, what: string): Manifest {
  const v = parseJson(bytes, what);
  if (!isObject(v)) throw invalidArgument(`${what}: expected a JSON object`);
  if (v.schemaVersion !== 2) throw invalidArgument(`${what}.schemaVersion: ${JSON.stringify(v.schemaVersion)}, expected 2`);
  if (v.mediaType !== undefined && (typeof v.mediaType !== 'string' || !isManifestType(v.mediaType))) {
    throw invalidArgument(`${what}.mediaType: ${JSON.stringify(v.mediaType)} is not an image manifest type`);
  }
  if (!Array.isArray(v.layers)) throw invalidArgument(`${what}.layers: must be an array`);
  const m: Manifest = {
    schemaVersion: 2,
    config: checkDescriptor(v.config, `${what}.config`),
    layers: v.layers.map((l, i) => checkDescriptor(l, `${what}.layers[${i}]`)),
  };
  if (typeof v.mediaType === 'string') m.mediaType = v.mediaType;
  const annotations = stringMap(v.annotations, `${what}.annotations`);
  if (annotations) m.annotations = annotations;
  return m;
}

export function parseIndex(bytes: Buffer, what: string): Index {
  const v = parseJson(bytes, what);
  if (!isObject(v)) throw invalidArgument(`${what}: expected a JSON object`);
  if (v.schemaVersion !== 2) throw invalidArgument(`${what}.schemaVersion: ${JSON.stringify(v.schemaVersion)}, expected 2`);
  if (v.mediaType !== undefined && (typeof v.mediaType !== 'string' || !isIndexType(v.mediaType))) {
    throw invalidArgument(`${what}.mediaType: ${JSON.stringify(v.mediaType)} is not an image index type`);
  }
  if (!Array.isArray(v.manifests)) throw invalidArgument(`${what}.manifests: must be an array`);
  const idx: Index = { schemaVersion: 2, manifests: v.manifests.map((m, i) => checkDescriptor(m, `${what}.manifests[${i}]`)) };
  if (typeof v.mediaType === 'string') idx.mediaType = v.mediaType;
  const annotations = stringMap(v.annotations, `${what}.annotations`);
  if (annotations) idx.annotations = annotations;
  return idx;
}

export function parseImageConfig(bytes: Buffer, what: string): ImageConfig {
  const v = parseJson(bytes, what);
  if (!isObject(v)) throw invalidArgument(`${what}: expected a JSON object`);
  const rootfs = v.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) throw invalidArgument(`${what}.rootfs.diff_ids: must be an array`);
  rootfs.diff_ids.forEach((d, i) => {
    if (typeof d !== 'string' || !DIGEST.test(d)) throw invalidArgument(`${what}.rootfs.diff_ids[${i}]: ${JSON.stringify(d)} is not a sha256 digest`);
  });
  return {
    ...(v as object),
    architecture: typeof v.architecture === 'string' ? v.architecture : '',
    os: typeof v.os === 'string' ? v.os : '',
    rootfs: { type: typeof rootfs.type === 'string' ? rootfs.type : 'layers', diff_ids: rootfs.diff_ids as string[] },
  } as ImageConfig;
}

/**
 * A descriptor as Go's encoding/json writes image-spec's Descriptor: the same key order and
 * omitted empties, so the JSON berth makes has the bytes (and digest) Go tools would make.
 */
export function goDescriptor(d: Descriptor): Record<string, unknown> {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls && d.urls.length ? { urls: d.urls } : {}),
    ...(d.annotations && Object.keys(d.annotations).length ? { annotations: sortedObject(d.annotations) } : {}),
    ...(d.platform ? { platform: d.platform } : {}),
  };
}

/** Go marshals maps with sorted keys. */
export function sortedObject(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(m).sort().map((k) => [k, m[k]!]));
}

/**
 * JSON as Go's json.Marshal writes it: compact, and <, > and & escaped as \u003c, \u003e,
 * \u0026 (digests of generated manifests depend on these bytes).
 */
export function goJson(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
