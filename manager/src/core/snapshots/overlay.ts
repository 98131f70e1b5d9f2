// The overlayfs snapshotter: each snapshot's fs dir is one overlay layer.
//
// Mounts, as containerd's overlay snapshotter returns them:
//   no parent                        bind of its own fs dir (rw for active, ro for a view)
//   view with exactly one parent     read-only bind of the parent's fs dir (overlay needs two
//                                    lower dirs when there is no upper)
//   active with parents              overlay: upperdir=<own fs>, workdir=<own work>,
//                                    lowerdir=<nearest parent>:…:<base>
//   view with two or more parents    overlay with lowerdir only (read-only by construction)
// Options: index=off whenever the kernel knows the option (a committed upper dir is later a
// lower dir under another upper; the inode index would tie them together and refuse or
// mis-handle that reuse); userxattr inside a user namespace (trusted.* xattrs are not
// writable there). redirect_dir and metacopy keep the kernel's defaults.
//
// open() probes: a real overlay mount with these options in a scratch dir under the root, so a
// root on a filesystem that cannot hold an upper dir (overlayfs itself, some network
// filesystems) fails at start-up with Unavailable rather than at the first container.

import { access, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { invalidArgument, unavailable } from '../errors';
import { removeAll } from './fsutil';
import { mountAll, unmount } from './mount';
import { copyDirAttrs, DirSnapshotter } from './snapshotter';
import type { MetaStore } from './store';
import { Kind, type Mount } from './types';

export interface OverlayOptions {
  /** extra overlay mount options appended to every overlay mount (e.g. 'volatile') */
  mountOptions?: string[];
}

export class OverlaySnapshotter extends DirSnapshotter {
  private constructor(
    root: string,
    store: MetaStore,
    private readonly baseOptions: string[],
  ) {
    super(root, store);
  }

  static async open(root: string, opts: OverlayOptions = {}): Promise<OverlaySnapshotter> {
    if (/[,:]/.test(root)) {
      throw invalidArgument(`overlay snapshotter root ${JSON.stringify(root)} contains ',' or ':', which overlay options cannot carry`);
    }
    const baseOptions = [...(await overlayDefaults()), ...(opts.mountOptions ?? [])];
    const store = await DirSnapshotter.openStore(root);
    const s = new OverlaySnapshotter(root, store, baseOptions);
    try {
      await probeOverlay(root, baseOptions);
      await s.cleanup();
    } catch (err) {
      await store.close();
      throw err;
    }
    return s;
  }

  protected async populate(dir: string, _kind: Kind, parentIds: number[]): Promise<void> {
    const fs = path.join(dir, 'fs');
    await mkdir(fs, { mode: 0o755 });
    await mkdir(path.join(dir, 'work'), { mode: 0o711 });
    // the merged root takes the upper dir's owner and mode: carry the parent's over
    if (parentIds.length > 0) await copyDirAttrs(this.fsPath(parentIds[0]!), fs);
  }

  protected mountsFor(id: number, kind: Kind, parentIds: number[]): Mount[] {
    if (parentIds.length === 0) {
      return [{ type: 'bind', source: this.fsPath(id), options: [kind === Kind.View ? 'ro' : 'rw', 'rbind'] }];
    }
    if (kind === Kind.View && parentIds.length === 1) {
      return [{ type: 'bind', source: this.fsPath(parentIds[0]!), options: ['ro', 'rbind'] }];
    }
    const options = [...this.baseOptions];
    if (kind === Kind.Active) options.push(`workdir=${this.workPath(id)}`, `upperdir=${this.fsPath(id)}`);
    options.push(`lowerdir=${parentIds.map((p) => this.fsPath(p)).join(':')}`);
    return [{ type: 'overlay', source: 'overlay', options }];
  }
}

/** index=off when the kernel has the parameter; userxattr in a user namespace. */
async function overlayDefaults(): Promise<string[]> {
  const opts: string[] = [];
  try {
    await access('/sys/module/overlay/parameters/index');
    opts.push('index=off');
  } catch {
    // module not loaded yet or too old: the probe mount loads it; without the parameter the
    // kernel has no index feature to turn off
  }
  if (await inUserNamespace()) opts.push('userxattr');
  return opts;
}

async function inUserNamespace(): Promise<boolean> {
  try {
    const map = (await readFile('/proc/self/uid_map', 'utf8')).trim().split(/\s+/);
    return !(map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {
    return false;
  }
}

/**
 * Mount a two-layer overlay (one lower, one upper) under <root>/probe-*, read a lower file
 * through it, unmount, remove. Leftover probe dirs from a crash are unmounted and removed first.
 */
async function probeOverlay(root: string, options: string[]): Promise<void> {
  for (const name of await readdir(root)) {
    if (!name.startsWith('probe-')) continue;
    await unmount(path.join(root, name, 'merged')).catch(() => undefined);
    await removeAll(path.join(root, name));
  }
  const dir = await mkdtemp(path.join(root, 'probe-'));
  const merged = path.join(dir, 'merged');
  let mounted = false;
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(path.join(dir, d));
    await writeFile(path.join(dir, 'lower', 'probe'), 'ok');
    const opts = [...options, `lowerdir=${path.join(dir, 'lower')}`, `upperdir=${path.join(dir, 'upper')}`, `workdir=${path.join(dir, 'work')}`];
    await mountAll([{ type: 'overlay', source: 'overlay', options: opts }], merged);
    mounted = true;
    if ((await readFile(path.join(merged, 'probe'), 'utf8')) !== 'ok') throw new Error('a lower file is not visible through the mount');
  } catch (err) {
    throw unavailable(`overlayfs is not usable on ${root}: ${(err as Error).message}`);
  } finally {
    if (mounted) await unmount(merged).catch(() => undefined);
    await removeAll(dir).catch(() => undefined);
  }
}
