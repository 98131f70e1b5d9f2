// Chain ids: the name of the snapshot that holds layers 0..n applied in order. The first
// layer's chain id is its diffID; each next one is sha256 of "<parent chain id> <diffID>"
// (OCI image-spec, config.md). Snapshots are committed under these names, so an image whose
// lower layers another image already unpacked shares their snapshots.

import { createHash } from 'node:crypto';

export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const parent = out[out.length - 1];
    out.push(parent === undefined ? d : `sha256:${createHash('sha256').update(`${parent} ${d}`).digest('hex')}`);
  }
  return out;
}
