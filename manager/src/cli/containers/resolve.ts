// Finding containers the way Docker's commands accept them, shared by every command that
// names one: the full id, the name (with or without Docker's leading "/"), or a prefix of the
// id that only one container has. Only berth's containers (label berth/created-by=berth) are
// seen, as Docker sees only its own; ctr's stay ctr's.

import type { Daemon } from '../daemon';
import { CliError } from '../errors';
import { dateOf } from '../../api';
import { CREATED_BY, NAME } from '../../core/containers/labels';
import { RUN_CONFIG_EXTENSION, parseRunConfig, type RunConfig } from '../../core/containers/run-config';

export interface AnyBytes {
  typeUrl: string;
  value: Uint8Array;
}

/** A container record as the client uses it. */
export interface ContainerRecord {
  id: string;
  name: string;
  labels: Record<string, string>;
  image: string;
  spec: AnyBytes | null;
  snapshotter: string;
  snapshotKey: string;
  createdAt: Date;
  extensions: Record<string, AnyBytes>;
  runtime: { name: string };
}

interface ProtoContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  spec: AnyBytes | null;
  snapshotter: string;
  snapshotKey: string;
  createdAt: { seconds: number; nanos: number } | null;
  extensions: Record<string, AnyBytes>;
  runtime: { name: string } | null;
}

export const BERTH = 'berth';

export function fromProto(c: ProtoContainer): ContainerRecord {
  return {
    id: c.id,
    name: c.labels[NAME] ?? c.id.slice(0, 12),
    labels: c.labels,
    image: c.image,
    spec: c.spec,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    createdAt: dateOf(c.createdAt) ?? new Date(0),
    extensions: c.extensions ?? {},
    runtime: { name: c.runtime?.name ?? '' },
  };
}

/** The OCI spec of a record (parsed JSON; {} when there is none). */
export function specOf(c: ContainerRecord): OciSpecLike {
  if (!c.spec) return {};
  try {
    return JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as OciSpecLike;
  } catch {
    return {};
  }
}

export function runConfigOf(c: ContainerRecord): RunConfig | undefined {
  return parseRunConfig(c.extensions[RUN_CONFIG_EXTENSION]);
}

/** The few spec fields the client reads back (spec.ts builds the full one). */
export interface OciSpecLike {
  process?: { args?: string[]; env?: string[]; cwd?: string; terminal?: boolean; user?: { uid: number; gid: number } };
  hostname?: string;
  root?: { readonly?: boolean };
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux?: Record<string, unknown>;
}

/** Every berth container of the namespace, newest first (Docker's ps order). */
export async function listContainers(d: Daemon): Promise<ContainerRecord[]> {
  const { containers } = await d.containers.List({ filters: [`labels."${CREATED_BY}"==${BERTH}`] });
  return (containers as unknown as ProtoContainer[]).map(fromProto).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}

/** Docker's order: the exact id, then the exact name, then a unique id prefix. */
export function matchContainer(all: ContainerRecord[], ref: string): ContainerRecord {
  const wanted = ref.startsWith('/') ? ref.slice(1) : ref;
  const byId = all.find((c) => c.id === wanted);
  if (byId) return byId;
  const byName = all.find((c) => c.labels[NAME] === wanted);
  if (byName) return byName;
  if (wanted !== '') {
    const byPrefix = all.filter((c) => c.id.startsWith(wanted));
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw new CliError(`multiple IDs found with provided prefix: ${ref}`);
  }
  throw new CliError(`No such container: ${ref}`);
}

export async function resolveContainer(d: Daemon, ref: string): Promise<ContainerRecord> {
  return matchContainer(await listContainers(d), ref);
}
