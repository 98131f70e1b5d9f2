// The native snapshotter: every snapshot is a full copy of its parent, mounted with a bind.
// It works on any filesystem (no overlay needed) at the cost of space and prepare time.
//
// Copying: `cp -a --reflink=auto <parent>/fs <new>/fs` (GNU coreutils). Why not a copier of
// our own: Node has no setxattr/getxattr and no mknod, so it cannot copy xattrs (security
// capabilities, ACLs) or device nodes at all. `cp -a` keeps owners, modes, timestamps, xattrs,
// ACLs, device nodes, fifos, symlinks, and hard links within the tree; it uses
// copy_file_range and keeps sparse files sparse; and --reflink=auto makes the copy a cheap
// clone on btrfs/XFS. One process per prepare is noise beside the copy itself.
//
// Mounts: a bind of the snapshot's own fs dir, rw for active, ro for a view (a view is a copy
// too, so that removing or changing nothing else can affect it). Usage is the whole copy.

import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { run } from './mount';
import { DirSnapshotter } from './snapshotter';
import type { MetaStore } from './store';
import { Kind, type Mount } from './types';

export class NativeSnapshotter extends DirSnapshotter {
  private constructor(root: string, store: MetaStore) {
    super(root, store);
  }

  static async open(root: string): Promise<NativeSnapshotter> {
    const store = await DirSnapshotter.openStore(root);
    const s = new NativeSnapshotter(root, store);
    try {
      await s.cleanup();
    } catch (err) {
      await store.close();
      throw err;
    }
    return s;
  }

  protected async populate(dir: string, _kind: Kind, parentIds: number[]): Promise<void> {
    const fs = path.join(dir, 'fs');
    if (parentIds.length === 0) {
      await mkdir(fs, { mode: 0o755 });
      return;
    }
    // fs does not exist yet: cp creates it with the attributes of the parent's fs dir
    await run('cp', ['-a', '--reflink=auto', '--', this.fsPath(parentIds[0]!), fs]);
  }

  protected mountsFor(id: number, kind: Kind): Mount[] {
    return [{ type: 'bind', source: this.fsPath(id), options: [kind === Kind.View ? 'ro' : 'rw', 'rbind'] }];
  }
}
