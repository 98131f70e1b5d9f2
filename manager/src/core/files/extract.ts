// Extracting a tar into a directory of a container (`berth cp` into it): each entry lands where
// the container sees its path (view.ts), so what goes under a bind mount is written to the
// mount's source on the host, the rest into the rootfs. The entries are applied in runs that
// share a host root, each run confined to that root (core/diff's applyLayer: symlinks in it
// cannot lead out). A run bound for a read-only mount, or for the rootfs of a --read-only
// container, is refused (Docker's words); so is a hard link across two roots (EXDEV).

import { stat } from 'node:fs/promises';
import { failedPrecondition, invalidArgument } from '../errors';
import { applyLayer } from '../diff';
import { cleanName } from '../diff/paths';
import { endOfArchive, readTar, type TarEntry, type TarHeader } from '../diff/tar';
import { entryBytes } from './rewrite';
import { locate, readOnlyReason, type ContainerView, type Location } from './view';

export interface ExtractOptions {
  /** Owner of every entry; undefined keeps the tar's. */
  owner?: { uid: number; gid: number };
  /** Refuse to replace a directory with a non-directory and the reverse (Docker's default). */
  noOverwriteDirNonDir: boolean;
}

interface Routed {
  header: TarHeader;
  body: AsyncIterable<Buffer>;
  at: Location;
}

const isDirType = (t: string) => t === 'directory';

/** Extracts the tar `source` under the container directory `destParts` (symlink-free components). */
export async function extractInView(view: ContainerView, destParts: string[], source: AsyncIterable<Buffer>, opts: ExtractOptions): Promise<void> {
  const entries = readTar(source)[Symbol.asyncIterator]();

  const route = async ({ header: h, body }: TarEntry): Promise<Routed | undefined> => {
    const parts = cleanName(h.name);
    if (parts.length === 0) return undefined; // "./": the extraction point itself stays as it is
    const full = [...destParts, ...parts];
    const at = locate(view, full);
    if (at.rel.length === 0) return undefined; // a mount point: the mounted directory stays as it is
    const refused = readOnlyReason(view, at);
    if (refused) throw failedPrecondition(refused);
    if (opts.noOverwriteDirNonDir && h.type !== 'symlink') {
      const existing = await stat(at.host).catch(() => undefined);
      if (existing && existing.isDirectory() !== isDirType(h.type)) {
        throw invalidArgument(
          existing.isDirectory()
            ? `cannot overwrite directory "/${full.join('/')}" with non-directory "${h.name}"`
            : `cannot overwrite non-directory "/${full.join('/')}" with directory "${h.name}"`,
        );
      }
    }
    let linkname = h.linkname;
    if (h.type === 'link') {
      const target = locate(view, [...destParts, ...cleanName(h.linkname)]);
      if (target.root !== at.root) throw invalidArgument(`cannot link "/${full.join('/')}" to "${h.linkname}": they are on different mounts`);
      linkname = target.rel.join('/');
    }
    const header = { ...h, name: at.rel.join('/'), linkname, ...(opts.owner ? { uid: opts.owner.uid, gid: opts.owner.gid } : {}) };
    return { header, body, at };
  };
  const next = async (): Promise<Routed | undefined> => {
    for (;;) {
      const r = await entries.next();
      if (r.done) return undefined;
      const routed = await route(r.value);
      if (routed) return routed;
    }
  };

  let pending = await next();
  while (pending) {
    const root = pending.at.root;
    // The entries while they share this root, as one tar; the next run starts where it stops.
    const run = async function* (): AsyncGenerator<Buffer> {
      while (pending && pending.at.root === root) {
        yield* entryBytes(pending.header, pending.body);
        pending = await next();
      }
      yield endOfArchive();
    };
    await applyLayer(run(), root, { overlay: false });
  }
}
