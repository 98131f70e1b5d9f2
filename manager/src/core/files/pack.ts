// A tar of a file or a directory tree, streamed as it is read: `berth cp` (both ways: berthd
// packs a path of the container, the client a path of the host) and `berth export` (the whole
// rootfs). Symlinks are stored as links, never followed; a file linked twice within the tar is
// stored once and then as a hard link; sockets are left out (tar cannot hold them). Entries of
// a directory are in byte order, the directory before its contents; modes (setuid, setgid,
// sticky included), owners and mtimes as they are. Extended attributes are not carried.

import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { compareBytes, encodeHeader, endOfArchive, padding } from '../diff/tar';
import { HardLinks, entryType, fileBytes, statHeader } from '../diff/stat-entry';


export interface PackOptions {
  /**
   * The tar name of the top entry ("etc", "./" for the contents of a directory as "./x");
   * '' writes a directory's entries without a top entry ("bin/", "bin/sh": export).
   */
  name: string;
  /** Leave out the contents of directories on another filesystem (mount points: export). */
  oneFileSystem?: boolean;
  /**
   * Entries below the top whose contents are elsewhere on the host, by their path relative to
   * the top ("data", "srv/www"): a container's bind mounts under a copied directory (view.ts).
   */
  mountsBelow?: Map<string, string>;
}

class Packer {
  private readonly links = new HardLinks();
  private rootDev = -1n;

  constructor(private readonly opts: PackOptions) {}

  async *entry(host: string, name: string, top: boolean, rel: string[] = []): AsyncGenerator<Buffer> {
    const st = await lstat(host, { bigint: true });
    if (top) this.rootDev = st.dev;
    const type = entryType(st);
    if (!type) return;
    const header = await statHeader(name, host, st, type);
    const first = this.links.seen(st, name);
    if (first !== undefined) {
      yield encodeHeader({ ...header, type: 'link', size: 0, linkname: first });
      return;
    }
    if (type === 'file') {
      yield encodeHeader(header);
      yield* fileBytes(host, header.size, 'pad', name);
      yield padding(header.size);
      return;
    }
    if (type !== 'directory') {
      yield encodeHeader(header);
      return;
    }
    if (name !== '') yield encodeHeader(header);
    if (this.opts.oneFileSystem && !top && st.dev !== this.rootDev) return;
    const children = (await readdir(host)).sort(compareBytes);
    const prefix = name === '' ? '' : name.endsWith('/') ? name : `${name}/`;
    for (const c of children) {
      const childRel = [...rel, c];
      const mounted = this.opts.mountsBelow?.get(childRel.join('/'));
      // a vanished mount source leaves the directory under it, as the container would see it unmounted
      const childHost = mounted !== undefined && (await lstat(mounted).then(() => true, () => false)) ? mounted : join(host, c);
      yield* this.entry(childHost, `${prefix}${c}`, false, childRel);
    }
  }
}

/** Exactly `size` bytes of the file: cut when it grew meanwhile, zero-filled when it shrank. */
/** The tar of `hostPath` (a file or a directory with everything in it). */
export async function* packPath(hostPath: string, opts: PackOptions): AsyncGenerator<Buffer> {
  yield* new Packer(opts).entry(hostPath, opts.name, true);
  yield endOfArchive();
}
