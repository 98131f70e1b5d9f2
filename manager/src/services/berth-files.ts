// berth.files.v1.Files: a container's files for `berth cp`, `berth export` and `berth diff`
// (proto/berth/files/v1/files.proto; the file work is core/files).
//
// Which tree: while the container has a task, its rootfs mounted at the task's bundle (the
// same overlay the container sees, so a copy in is visible to it at once); without one, the
// container's snapshot mounted for the call under <state>/files/ and unmounted after. Stat,
// CopyFrom and CopyTo see it as the container does, with the bind mounts of its spec over it
// (core/files/view.ts: those exist only in the container's mount namespace, or not at all
// while it is stopped): a path under `-v /host:/data` is read and written in /host, and a
// copy into a read-only mount (or the rootfs of a --read-only container) is refused. Export
// is the rootfs alone, as Docker's. Diff needs no mount: it reads the overlay's upper and
// lower directories from the snapshot's mount options.

import { lstat, mkdir, mkdtemp, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { FILES, addService, timestamp, type ServiceImpl } from '../api';
import { failedPrecondition, invalidArgument, notFound } from '../core/errors';
import { containerView, extractInView, followLinks, mountsBelow, overlayChanges, overlayDirs, packPath, readOnlyReason, resolveInRoot, statPath, type ContainerView, type ViewSpec } from '../core/files';
import type { Metadata } from '../core/metadata';
import { mountAll, unmount } from '../core/snapshots';
import type { Tasks } from '../core/tasks';
import { METADATA_PLUGIN } from '../daemon/core-plugins';
import { requireNamespace, toStatus, unary } from '../daemon/grpc';
import { optionalPlugin, type Plugin } from '../daemon/plugin';
import { SNAPSHOTTER_PLUGIN, namespacedSnapshotters } from '../plugins/storage';
import { TASKS_PLUGIN } from '../plugins/tasks';
import { send, serverStream, streamRequests } from './content';
import type { NamespacedSnapshotters } from './snapshots';

/** Tar bytes are sent in messages of about this size (a tar's headers come in 512-byte pieces). */
const MESSAGE_BYTES = 1 << 20;


interface FilesDeps {
  md: Metadata;
  tasks: Tasks | undefined;
  snapshotters: NamespacedSnapshotters;
  state: string;
}

/** Runs fn on the container's root filesystem (see the header), mounting it when needed. */
async function withRootfs<T>(deps: FilesDeps, ns: string, id: string, fn: (root: string) => Promise<T>): Promise<T> {
  const c = deps.md.containers.get(ns, id);
  const tm = deps.tasks?.namespace(ns);
  if (tm && (await tm.get(id).then(() => true, () => false))) {
    const bundle = tm.bundleDir(id);
    const root = join(bundle, 'rootfs');
    const [b, r] = await Promise.all([stat(bundle), stat(root).catch(() => undefined)]);
    if (r && r.dev !== b.dev) return fn(root);
  }
  if (!c.snapshotKey || !c.snapshotter) throw failedPrecondition(`container ${id} has no snapshot (no root filesystem berthd manages)`);
  const mounts = await deps.snapshotters.get(ns, c.snapshotter).mounts(c.snapshotKey);
  const base = join(deps.state, 'files');
  await mkdir(base, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(base, `${id.slice(0, 12)}-`));
  try {
    await mountAll(mounts, dir);
    try {
      return await fn(dir);
    } finally {
      await unmount(dir, { recursive: true });
    }
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

interface ContainerSpec extends ViewSpec {
  process?: { user?: { uid?: number; gid?: number } };
}

/** The container's OCI spec; undefined when its record holds none berthd can read (not JSON). */
function specOf(md: Metadata, ns: string, id: string): ContainerSpec | undefined {
  try {
    return JSON.parse(Buffer.from(md.containers.get(ns, id).spec.value).toString('utf8')) as ContainerSpec;
  } catch {
    return undefined;
  }
}

/** Runs fn on the container's files as it sees them: the rootfs with its spec's bind mounts. */
function withView<T>(deps: FilesDeps, ns: string, id: string, fn: (view: ContainerView) => Promise<T>): Promise<T> {
  const spec = specOf(deps.md, ns, id);
  return withRootfs(deps, ns, id, async (root) => fn(await containerView(root, spec)));
}

/** Sends a byte stream as Chunk messages of about MESSAGE_BYTES. */
async function sendChunks(call: grpc.ServerWritableStream<unknown, { data: Buffer }>, source: AsyncIterable<Buffer>): Promise<void> {
  let pending: Buffer[] = [];
  let bytes = 0;
  for await (const b of source) {
    if (call.cancelled) return;
    pending.push(b);
    bytes += b.length;
    if (bytes >= MESSAGE_BYTES) {
      await send(call, { data: Buffer.concat(pending) });
      pending = [];
      bytes = 0;
    }
  }
  if (bytes > 0) await send(call, { data: Buffer.concat(pending) });
}

interface CopyToRequest {
  containerId: string;
  path: string;
  noOverwriteDirNonDir: boolean;
  copyUidGid: boolean;
  data: Buffer;
}

/** The uid and gid of the container's process (its spec's process.user). */
function containerUser(md: Metadata, ns: string, id: string): { uid: number; gid: number } {
  const user = specOf(md, ns, id)?.process?.user;
  return { uid: user?.uid ?? 0, gid: user?.gid ?? 0 };
}

async function copyTo(deps: FilesDeps, call: grpc.ServerReadableStream<CopyToRequest, unknown>): Promise<void> {
  const ns = requireNamespace(call);
  const it = streamRequests<CopyToRequest>(call, 'copy')[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw invalidArgument('copy: no request');
  const req = first.value;
  if (!req.containerId) throw invalidArgument('container_id: required');
  if (!req.path) throw invalidArgument('path: required');
  async function* data(): AsyncGenerator<Buffer> {
    if (req.data.length) yield req.data;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      if (r.value.data.length) yield r.value.data;
    }
  }
  const owner = req.copyUidGid ? containerUser(deps.md, ns, req.containerId) : { uid: 0, gid: 0 };
  await withView(deps, ns, req.containerId, async (view) => {
    const dest = await followLinks(view, await resolveInRoot(view, req.path));
    const st = await stat(dest.host).catch(() => undefined);
    if (!st) throw notFound(`no such directory in the container: ${req.path}`);
    if (!st.isDirectory()) throw invalidArgument(`extraction point is not a directory: ${req.path}`);
    // Docker refuses before reading anything when the destination itself cannot be written
    const refused = readOnlyReason(view, dest.location);
    if (refused) throw failedPrecondition(refused);
    // each entry where the container sees it: the rootfs or a bind mount's source, confined to it
    await extractInView(view, [...dest.dir, dest.base].filter(Boolean), data(), { owner, noOverwriteDirNonDir: req.noOverwriteDirNonDir });
  });
}

export function filesService(deps: FilesDeps): ServiceImpl<typeof FILES> {
  return {
    Stat: unary(async (call) => {
      const ns = requireNamespace(call);
      const s = await withView(deps, ns, call.request.containerId, (view) => statPath(view, call.request.path));
      return { stat: { name: s.name, size: s.size, mode: s.mode, mtime: timestamp(s.mtime), linkTarget: s.linkTarget } };
    }),

    CopyFrom: serverStream(async (call) => {
      const ns = requireNamespace(call);
      const { containerId, path } = call.request;
      await withView(deps, ns, containerId, async (view) => {
        let r = await resolveInRoot(view, path);
        // "dir/" and "dir/." mean the directory a symlink leads to (Docker's resolvePath)
        const contentsOnly = /\/\.$/.test(path);
        if (contentsOnly || path.endsWith('/')) r = await followLinks(view, r);
        if (!(await lstat(r.host).catch(() => undefined))) throw notFound(`no such file or directory: ${path}`);
        const name = contentsOnly ? '.' : r.base || '.';
        // bind mounts under a copied directory are copied from their sources
        await sendChunks(call, packPath(r.host, { name, mountsBelow: mountsBelow(view, [...r.dir, r.base].filter(Boolean)) }));
      });
    }),

    CopyTo: (call, cb) => {
      copyTo(deps, call).then(
        () => cb(null, {}),
        (err) => cb(toStatus(err)),
      );
    },

    Export: serverStream(async (call) => {
      const ns = requireNamespace(call);
      await withRootfs(deps, ns, call.request.containerId, (root) => sendChunks(call, packPath(root, { name: '', oneFileSystem: true })));
    }),

    Diff: unary(async (call) => {
      const ns = requireNamespace(call);
      const c = deps.md.containers.get(ns, call.request.containerId);
      if (!c.snapshotKey || !c.snapshotter) throw failedPrecondition(`container ${c.id} has no snapshot (no root filesystem berthd manages)`);
      const mounts = await deps.snapshotters.get(ns, c.snapshotter).mounts(c.snapshotKey);
      const m = mounts[0];
      if (mounts.length !== 1 || !m) throw failedPrecondition(`container ${c.id}: its snapshot has ${mounts.length} mounts; diff reads one`);
      let changes;
      if (m.type === 'overlay') {
        const { upper, lowers } = overlayDirs(m.options);
        if (!upper) throw failedPrecondition(`container ${c.id}: its snapshot is read-only (no upper directory)`);
        changes = await overlayChanges(upper, lowers);
      } else if (m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind')) {
        // a snapshot without a parent: everything in it was added
        changes = await overlayChanges(m.source, []);
      } else {
        throw failedPrecondition(`container ${c.id}: diff reads overlay snapshots, not ${m.type}`);
      }
      return { changes };
    }),
  };
}

export const filesPlugin: Plugin<FilesDeps> = {
  type: 'io.containerd.grpc.v1',
  id: 'berth-files',
  requires: [METADATA_PLUGIN, SNAPSHOTTER_PLUGIN],
  // without tasks (disabled or failed) every container is treated as stopped
  optionalRequires: [TASKS_PLUGIN],
  async init(ctx) {
    return {
      md: ctx.get<Metadata>(METADATA_PLUGIN),
      tasks: optionalPlugin<Tasks>(ctx, TASKS_PLUGIN),
      snapshotters: namespacedSnapshotters(ctx),
      state: ctx.state,
    };
  },
  register(server, deps) {
    addService(server, FILES, filesService(deps));
  },
};
