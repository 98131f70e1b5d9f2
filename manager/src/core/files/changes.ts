// The changes of a container's filesystem against its image (`docker diff`), read from its
// overlay snapshot: everything in the upper directory is a change. A whiteout (a 0/0
// character device, or a file with the trusted.overlay.whiteout xattr) is a deletion (D); an
// entry that also exists in a lower directory is modified (C) — directories on the path of a
// change are copied up, so they show as C like in Docker; anything else was added (A). The
// contents of an added or opaque directory are reported too, as Docker's overlay driver does.

import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readTreeXattrs } from '../diff/host';
import { compareBytes } from '../diff/tar';

export type ChangeKind = 'MODIFIED' | 'ADDED' | 'DELETED';

export interface Change {
  path: string;
  kind: ChangeKind;
}

const WHITEOUT_XATTR = 'trusted.overlay.whiteout';
const OPAQUE_XATTR = 'trusted.overlay.opaque';

async function existsIn(lowers: string[], rel: string): Promise<boolean> {
  for (const l of lowers) {
    if (await lstat(join(l, rel)).then(() => true, () => false)) return true;
  }
  return false;
}

/** The changes an overlay upper dir holds over its lower dirs, sorted by path. */
export async function overlayChanges(upper: string, lowers: string[]): Promise<Change[]> {
  const xattrs = await readTreeXattrs(upper);
  const out: Change[] = [];
  const walk = async (rel: string, underNew: boolean): Promise<void> => {
    for (const name of (await readdir(join(upper, rel))).sort(compareBytes)) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(upper, r));
      const x = xattrs.get(join(upper, r)); // getfattr names paths absolutely
      if ((st.isCharacterDevice() && st.rdev === 0) || x?.has(WHITEOUT_XATTR)) {
        out.push({ path: `/${r}`, kind: 'DELETED' });
        continue;
      }
      const existed = !underNew && (await existsIn(lowers, r));
      out.push({ path: `/${r}`, kind: existed ? 'MODIFIED' : 'ADDED' });
      if (st.isDirectory()) await walk(r, underNew || !existed || x?.get(OPAQUE_XATTR)?.toString() === 'y');
    }
  };
  await walk('', false);
  return out.sort((a, b) => compareBytes(a.path, b.path));
}

/** upperdir and lowerdirs of an overlay mount's options ("lowerdir=a:b", "upperdir=c"). */
export function overlayDirs(options: string[]): { upper?: string; lowers: string[] } {
  let upper: string | undefined;
  let lowers: string[] = [];
  for (const o of options) {
    if (o.startsWith('upperdir=')) upper = o.slice('upperdir='.length);
    else if (o.startsWith('lowerdir=')) lowers = o.slice('lowerdir='.length).split(':');
  }
  return { ...(upper ? { upper } : {}), lowers };
}
