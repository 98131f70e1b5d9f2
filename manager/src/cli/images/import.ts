// berth import, the work: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer
// image, as `docker import` makes it. The tar is streamed once: decompressed, hashed (its
// sha256 is the layer's diffID and, stored uncompressed, its digest) and written to the
// content store; then the config (host platform, `-c` changes, history with `-m` or
// "Imported from -"), the OCI manifest with containerd's GC labels, the unpack into overlayfs
// and last the record — all under one lease, so a failure leaves nothing referenced.

import { createHash } from 'node:crypto';
import type { Daemon } from '../daemon';
import { applyChanges } from './changes';
import { ingestRef, writeBlob } from './content';
import { withLease } from './lease';
import { danglingName, putRecord } from './load';
import { tagImage } from './records';
import { unpack } from './unpack';
import { decompress } from '../../core/diff/compression';
import { MEDIA_TYPES, childGcLabels, familiarName, hostPlatform, type Descriptor, type ImageConfig } from '../../core/images';

export interface ImportOptions {
  /** The full name to give it (docker.io/library/x:latest), or none (untagged). */
  name?: string;
  changes: string[];
  /** The history comment; Docker's default is "Imported from <source>". */
  message: string;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

/** Imports the tarball `source`; returns the image id (its config digest). */
export async function importImage(d: Daemon, source: AsyncIterable<Buffer>, opts: ImportOptions): Promise<string> {
  return withLease(d, 'import', async (lease) => {
    const hash = createHash('sha256');
    let size = 0;
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const chunk of decompress(source)) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }
    let diffId = '';
    await writeBlob(d, ingestRef('import'), hashed(), { lease, digest: () => (diffId ||= `sha256:${hash.digest('hex')}`) });
    const layer: Descriptor = { mediaType: MEDIA_TYPES.ociLayer, digest: diffId, size };

    const platform = hostPlatform();
    const created = new Date().toISOString();
    const config = applyChanges({}, opts.changes);
    const imageConfig: ImageConfig & Record<string, unknown> = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created,
      comment: opts.message,
      config,
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, comment: opts.message }],
    };
    const configBytes = Buffer.from(JSON.stringify(imageConfig));
    const configDesc: Descriptor = { mediaType: MEDIA_TYPES.ociConfig, digest: sha256(configBytes), size: configBytes.length };
    await writeBlob(d, ingestRef('config'), once(configBytes), { lease, size: configBytes.length, expected: configDesc.digest, digest: () => configDesc.digest });

    const manifest = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: configDesc, layers: [layer] };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const target: Descriptor = { mediaType: MEDIA_TYPES.ociManifest, digest: sha256(manifestBytes), size: manifestBytes.length };
    await writeBlob(d, ingestRef('manifest'), once(manifestBytes), {
      lease,
      size: manifestBytes.length,
      expected: target.digest,
      digest: () => target.digest,
      labels: childGcLabels([configDesc, layer]),
    });

    await unpack(d, { config: configDesc, imageConfig, layers: [layer], verifiedDiffIds: [diffId] }, { lease, what: opts.name ? familiarName(opts.name) : `image ${configDesc.digest}` });
    if (opts.name) await tagImage(d, opts.name, target);
    else await putRecord(d, danglingName(target.digest), target);
    return configDesc.digest;
  });
}
