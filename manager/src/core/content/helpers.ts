// Helpers over the narrow interfaces, for the parts that pull, unpack and serve content.

import { isKind } from '../errors';
import type { Descriptor, InfoProvider, Ingester, IngestManager, Provider, WriterOptions, CommitOptions } from './types';

/** Reads a whole blob (manifests, configs, indexes: small things). */
export async function readBlob(provider: Provider, desc: Descriptor): Promise<Buffer> {
  const ra = await provider.readerAt(desc);
  try {
    const buf = Buffer.alloc(ra.size);
    let off = 0;
    while (off < ra.size) {
      const n = await ra.readAt(buf.subarray(off), off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    await ra.close();
  }
}

/** Whether the blob `digest` is stored (info succeeds; NotFound → false, other errors thrown). */
export async function hasBlob(store: InfoProvider, digest: string): Promise<boolean> {
  try {
    await store.info(digest);
    return true;
  } catch (err) {
    if (isKind(err, 'NotFound')) return false;
    throw err;
  }
}

/** Streams a blob in chunks, from byte `offset`. */
export async function* readStream(provider: Provider, desc: Descriptor, chunkSize = 1 << 20, offset = 0): AsyncGenerator<Buffer> {
  const ra = await provider.readerAt(desc);
  try {
    for (let off = offset; off < ra.size; ) {
      // only the bytes read are ever handed out: no need to zero the buffer first
      const buf = Buffer.allocUnsafe(Math.min(chunkSize, ra.size - off));
      const n = await ra.readAt(buf, off);
      if (n === 0) return;
      off += n;
      yield buf.subarray(0, n);
    }
  } finally {
    await ra.close();
  }
}

/**
 * Writes a blob under `ref` and commits it, like containerd's content.WriteBlob: resumes a
 * partial ingest by skipping the bytes already written, and treats "already exists" as
 * success. `source` is the whole blob (bytes or chunks from the start).
 */
export async function writeBlob(
  store: Ingester & Partial<IngestManager>,
  ref: string,
  source: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  desc: { digest: string; size?: number },
  opts: Pick<WriterOptions, 'lease'> & CommitOptions = {},
): Promise<void> {
  let w;
  try {
    w = await store.writer(ref, { expected: desc.digest, ...(desc.size ? { total: desc.size } : {}), ...(opts.lease ? { lease: opts.lease } : {}) });
  } catch (err) {
    if (isKind(err, 'AlreadyExists')) return;
    throw err;
  }
  try {
    let skip = (await w.status()).offset;
    if (desc.size !== undefined && skip > desc.size) {
      await w.truncate(0);
      skip = 0;
    }
    if (!(desc.size !== undefined && skip === desc.size && skip > 0)) {
      const chunks = source instanceof Uint8Array ? [source] : source;
      for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
        if (skip >= chunk.length) {
          skip -= chunk.length;
          continue;
        }
        await w.write(skip > 0 ? chunk.subarray(skip) : chunk);
        skip = 0;
      }
    }
    await w.commit(desc.size ?? 0, desc.digest, opts.labels ? { labels: opts.labels } : {});
  } catch (err) {
    await w.close();
    if (isKind(err, 'AlreadyExists')) return;
    throw err;
  }
}
