// berth load, the work: an archive stream → blobs in the content store → images unpacked
// → image records. All of it under one lease (lease.ts); the records are made last, only
// once every image of the archive is complete and unpacked, so an archive that fails
// anywhere leaves no image behind.
//
// Names: an image keeps every name the archive gives it; a name that already exists is moved
// to the new image (as `docker load` moves a tag). An untagged image gets a record named
// `berth-dangling@<digest>` (Docker keeps such images too, shown as <none>); it is removed
// when a name points at that image.

import type { Daemon } from '../daemon';
import { grpcCode, NOT_FOUND, ALREADY_EXISTS } from '../errors';
import { ContentSink, ingestRef, readBlob, setLabels, writeBlob } from './content';
import { withLease } from './lease';
import { unpack } from './unpack';
import { planImport, readArchive, type PlannedImage, type SinkEntry } from '../../core/archive';
import { familiarName, type Descriptor } from '../../core/images';

export const DANGLING_PREFIX = 'berth-dangling';
export const danglingName = (digest: string): string => `${DANGLING_PREFIX}@${digest}`;


export interface LoadedImage {
  names: string[];
  /** The image id: its config's digest (as Docker shows it). */
  id: string;
  target: Descriptor;
}

export interface LoadOptions {
  log?: { debug(msg: string): void; warn(msg: string): void };
  onBlob?: (entry: SinkEntry, stored: boolean) => void;
}

function protoImage(name: string, target: Descriptor) {
  return {
    name,
    labels: {},
    target: { mediaType: target.mediaType, digest: target.digest, size: target.size, annotations: target.annotations ?? {} },
  };
}

/** Creates or moves the record `name` to `target`. */
export async function putRecord(d: Daemon, name: string, target: Descriptor): Promise<void> {
  try {
    await d.images.Create({ image: protoImage(name, target) });
  } catch (err) {
    if (grpcCode(err) !== ALREADY_EXISTS) throw err;
    await d.images.Update({ image: protoImage(name, target), updateMask: { paths: ['target'] } });
  }
}

async function createRecords(d: Daemon, img: PlannedImage): Promise<void> {
  if (img.names.length === 0) {
    await putRecord(d, danglingName(img.target.digest), img.target);
    return;
  }
  for (const name of img.names) await putRecord(d, name, img.target);
  try {
    await d.images.Delete({ name: danglingName(img.target.digest), sync: false });
  } catch (err) {
    if (grpcCode(err) !== NOT_FOUND) throw err;
  }
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

/** Loads every image of the archive `source`; returns them in archive order. */
export async function loadImages(d: Daemon, source: AsyncIterable<Buffer>, opts: LoadOptions = {}): Promise<LoadedImage[]> {
  return withLease(d, 'load', async (lease) => {
    const contents = await readArchive(source, new ContentSink(d, lease, opts.onBlob));
    const plan = await planImport(contents, (desc) => readBlob(d, desc));
    for (const w of plan.warnings) opts.log?.warn(w);

    for (const g of plan.generated) {
      await writeBlob(d, ingestRef('manifest'), once(g.bytes), {
        lease,
        size: g.bytes.length,
        expected: g.descriptor.digest,
        digest: () => g.descriptor.digest,
        labels: plan.childLabels.get(g.descriptor.digest) ?? {},
      });
    }
    const generated = new Set(plan.generated.map((g) => g.descriptor.digest));
    for (const [digest, labels] of plan.childLabels) if (!generated.has(digest)) await setLabels(d, digest, labels);

    for (const img of plan.images) {
      const what = img.names[0] ? familiarName(img.names[0]) : `image ${img.config.digest}`;
      await unpack(d, img, { lease, what, log: (m) => opts.log?.debug(m) });
    }
    for (const img of plan.images) await createRecords(d, img);
    return plan.images.map((img) => ({ names: img.names, id: img.config.digest, target: img.target }));
  });
}
