// berth save, the work: the images the arguments name, everything they need on this host
// checked to be in the content store first (so a missing blob fails before any output), then
// the combined docker-archive + OCI layout streamed from the content store.

import type { Daemon } from '../daemon';
import { CliError } from '../errors';
import { blobExists, readBlobStream } from './content';
import { findImages, resolveTarget } from './resolve';
import { writeArchive, type ExportImage } from '../../core/archive';

export async function collectImages(d: Daemon, args: string[]): Promise<ExportImage[]> {
  const out: ExportImage[] = [];
  for (const arg of args) {
    for (const found of await findImages(d, arg, { allTags: true })) {
      const r = await resolveTarget(d, found.target, arg);
      const blobs = [...(r.index ? [r.index] : []), r.manifest, r.config, ...r.layers];
      for (const b of blobs) {
        if (!(await blobExists(d, b.digest))) throw new CliError(`image ${arg}: blob ${b.digest} is not in berthd's content store (the image is incomplete)`);
      }
      out.push({ names: found.names, target: found.target, manifest: r.manifest, config: r.config, layers: r.layers, blobs });
    }
  }
  return out;
}

export function archiveStream(d: Daemon, images: ExportImage[]): AsyncGenerator<Buffer> {
  return writeArchive(images, (desc) => readBlobStream(d, desc));
}
