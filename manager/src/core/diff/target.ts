// Where a layer can be written for a snapshot's mounts without mounting them: the upper dir of
// a single overlay mount (overlayfs whiteouts), or the source of a single writable bind mount
// (whiteouts acted out on the tree). The walking differ (services/diff.ts) mounts anything
// else in a temp dir; the pull's unpacker (core/pull/unpack.ts) needs one of these two.

import * as path from 'node:path';
import type { Mount } from '../snapshots';

export interface ApplyTarget {
  dir: string;
  overlay: boolean;
}

export function directApplyTarget(mounts: readonly Mount[]): ApplyTarget | undefined {
  const only = mounts.length === 1 ? mounts[0]! : undefined;
  if (!only) return undefined;
  const upper = only.type === 'overlay' ? only.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length) : undefined;
  if (upper && path.isAbsolute(upper)) return { dir: upper, overlay: true };
  const bind = only.type === 'bind' || only.options.includes('bind') || only.options.includes('rbind');
  if (bind && !only.options.includes('ro') && !only.target && path.isAbsolute(only.source)) return { dir: only.source, overlay: false };
  return undefined;
}
