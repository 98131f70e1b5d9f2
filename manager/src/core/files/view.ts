// A container's filesystem as its processes see it, for `berth cp`: its root filesystem with
// the bind mounts of its OCI spec laid over it (`-v /host/dir:/data`, berthd's /etc/hosts,
// /etc/hostname, /etc/resolv.conf, --init's binary). While a task runs, the bind mounts exist
// only in the container's mount namespace, never on the rootfs berthd mounted; and a stopped
// container has none at all. So a path is mapped here, as Docker's daemon does with its
// container's mount points: a path at or under a bind mount's destination is that mount's
// source on the host, the rest is the rootfs. The deepest destination wins; of two with the
// same destination, the later one (it is mounted over the other).
//
// Other mounts (proc, sysfs, tmpfs, devpts, mqueue) have no host directory to map to: their
// paths are the rootfs's directories under them, as for a stopped container.

import { realpath } from 'node:fs/promises';
import { join, posix } from 'node:path';

export interface ViewMount {
  /** The destination's components ("/data/x" → ["data", "x"]). */
  destination: string[];
  /** The host path mounted there (symlinks resolved, as mount(2) resolves them). */
  source: string;
  readonly: boolean;
}

export interface ContainerView {
  rootfs: string;
  /** The bind mounts, in the spec's order. */
  mounts: ViewMount[];
  /** The spec's root.readonly (--read-only). */
  readonlyRootfs: boolean;
}

/** Where a container path lives on the host. */
export interface Location {
  /** The host directory the path is under: the rootfs, or a bind mount's source. */
  root: string;
  /** The path's components below `root` ([] when the path is the mount point or "/" itself). */
  rel: string[];
  host: string;
  /** The bind mount the path is in; undefined for the rootfs. */
  mount?: ViewMount;
}

/** The parts of an OCI spec a view is made from. */
export interface ViewSpec {
  root?: { readonly?: boolean };
  mounts?: { destination?: string; type?: string; source?: string; options?: string[] }[];
}

export const pathComponents = (p: string): string[] => posix.normalize(`/${p}`).split('/').filter((c) => c !== '' && c !== '.');

const isBind = (m: { type?: string; options?: string[] }): boolean => m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');

/** The view of a container whose rootfs is at `rootfs` (on the host) and whose spec is `spec`. */
export async function containerView(rootfs: string, spec: ViewSpec | undefined): Promise<ContainerView> {
  const mounts: ViewMount[] = [];
  for (const m of spec?.mounts ?? []) {
    if (!isBind(m) || !m.source?.startsWith('/') || !m.destination) continue;
    const destination = pathComponents(m.destination);
    if (destination.length === 0) continue; // over "/" itself: not a layout berth makes
    const source = await realpath(m.source).catch(() => m.source!);
    mounts.push({ destination, source, readonly: (m.options ?? []).includes('ro') });
  }
  return { rootfs, mounts, readonlyRootfs: spec?.root?.readonly === true };
}

/** A view of a plain directory tree: no mounts. */
export const plainView = (rootfs: string): ContainerView => ({ rootfs, mounts: [], readonlyRootfs: false });

const isPrefix = (prefix: string[], parts: string[]): boolean => prefix.length <= parts.length && prefix.every((c, i) => parts[i] === c);

/** Where the container path of these (symlink-free) components is on the host. */
export function locate(view: ContainerView, parts: string[]): Location {
  let best: ViewMount | undefined;
  for (const m of view.mounts) {
    if (isPrefix(m.destination, parts) && (!best || m.destination.length >= best.destination.length)) best = m;
  }
  if (!best) return { root: view.rootfs, rel: parts, host: join(view.rootfs, ...parts) };
  const rel = parts.slice(best.destination.length);
  return { root: best.source, rel, host: join(best.source, ...rel), mount: best };
}

/** The bind mounts strictly below a container path, by their destination relative to it ("x/y"). */
export function mountsBelow(view: ContainerView, parts: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of view.mounts) {
    if (m.destination.length > parts.length && isPrefix(parts, m.destination)) out.set(m.destination.slice(parts.length).join('/'), m.source);
  }
  return out;
}

/** Docker's refusal to write where the container cannot: a read-only bind mount or rootfs. */
export function readOnlyReason(view: ContainerView, at: Location): string | undefined {
  if (at.mount) return at.mount.readonly ? 'mounted volume is marked read-only' : undefined;
  return view.readonlyRootfs ? 'container rootfs is marked read-only' : undefined;
}
