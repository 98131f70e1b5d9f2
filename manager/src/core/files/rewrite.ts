// Rewriting a tar's entries as it streams: new names (cp's rebasing of "src" to "dst"), new
// owners (root's inside a container, the caller's on the host), entries refused or dropped.
// Bodies pass through untouched.

import { encodeHeader, endOfArchive, padding, readTar, type TarHeader } from '../diff/tar';

/** Returns the header to write (changed or not), or null to drop the entry. */
export type HeaderRewrite = (h: TarHeader) => TarHeader | null | Promise<TarHeader | null>;

export async function* rewriteTar(source: AsyncIterable<Buffer>, fn: HeaderRewrite): AsyncGenerator<Buffer> {
  for await (const { header, body } of readTar(source)) {
    const h = await fn(header);
    if (!h) continue; // readTar skips a body nobody read
    yield* entryBytes(h, body);
  }
  yield endOfArchive();
}

/** One entry as tar bytes: its header (as given) and, for a file, its body and padding. */
export async function* entryBytes(h: TarHeader, body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield encodeHeader({
    name: h.name,
    type: h.type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.type === 'file' ? h.size : 0,
    mtime: h.mtime,
    linkname: h.linkname,
    devmajor: h.devmajor,
    devminor: h.devminor,
    ...(h.xattrs.size ? { xattrs: h.xattrs } : {}),
  });
  if (h.type === 'file') {
    for await (const chunk of body) yield chunk;
    yield padding(h.size);
  }
}

/**
 * Docker's RebaseArchiveEntries: a name that is `from` or starts with `from/` gets `to` in its
 * place (cp of "dir" to a new "copy": "dir/x" becomes "copy/x"); hard link targets likewise.
 */
export function rebaseName(name: string, from: string, to: string): string {
  if (from === to || from === '') return name;
  if (name === from) return to;
  if (name.startsWith(`${from}/`)) return `${to}${name.slice(from.length)}`;
  return name;
}
