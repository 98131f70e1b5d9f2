// Blobs in berthd's content store, over the Content service: written as streams (never held
// whole: a layer is sent in 1 MiB messages as it is read), read back, labelled.
//
// A write names its expected digest and size when it knows them (a blob named by digest) so
// that berthd verifies them at commit; berth also hashes what it sends, so a mismatch is
// reported naming the archive entry before anything is committed. Blobs berthd already has
// are not sent again, but their bytes are still read and hashed (a corrupt archive is refused
// even when its blobs are known) and they are added to the lease like written ones.

import { randomBytes } from 'node:crypto';
import type { Daemon } from '../daemon';
import { grpcCode, NOT_FOUND, ALREADY_EXISTS } from '../errors';
import type { BlobSink, SinkEntry } from '../../core/archive';
import type { Descriptor } from '../../core/images';

const CHUNK = 1 << 20;

export async function blobExists(d: Daemon, digest: string): Promise<boolean> {
  try {
    await d.content.Info({ digest });
    return true;
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return false;
    throw err;
  }
}

/** Reads a whole (small) blob: manifests, indexes, configs. */
export async function readBlob(d: Daemon, desc: Pick<Descriptor, 'digest' | 'size'>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of readBlobStream(d, desc)) parts.push(chunk);
  const data = Buffer.concat(parts);
  if (desc.size && data.length !== desc.size) throw new Error(`blob ${desc.digest}: read ${data.length} bytes, expected ${desc.size}`);
  return data;
}

/** Streams a blob from the content store. */
export async function* readBlobStream(d: Daemon, desc: Pick<Descriptor, 'digest'>): AsyncGenerator<Buffer> {
  const stream = d.content.Read({ digest: desc.digest, offset: 0, size: 0 });
  try {
    for await (const msg of stream as AsyncIterable<{ data: Buffer }>) yield msg.data;
  } finally {
    stream.cancel();
  }
}

/** Sets labels on a blob, leaving its other labels alone. */
export async function setLabels(d: Daemon, digest: string, labels: Record<string, string>): Promise<void> {
  const keys = Object.keys(labels);
  if (keys.length === 0) return;
  await d.content.Update({ info: { digest, labels }, updateMask: { paths: keys.map((k) => `labels.${k}`) } });
}

export interface WriteOptions {
  lease: string;
  /** Total size, when known up front. */
  size?: number;
  /** The digest the bytes must have, when known up front (berthd checks it at commit). */
  expected?: string;
  /** The digest of everything sent, read once the data has ended (berth's own hash). */
  digest: () => string;
  labels?: Record<string, string>;
}

/**
 * Writes `data` as one blob through Content.Write and commits it. A blob that exists already
 * counts as written (the rest of `data` is still consumed). Aborts the ingest on failure.
 */
export async function writeBlob(d: Daemon, ref: string, data: AsyncIterable<Buffer>, opts: WriteOptions): Promise<void> {
  const call = d.content.Write({ lease: opts.lease });
  let failure: unknown;
  const finished = new Promise<{ action: string }[]>((resolve, reject) => {
    const responses: { action: string }[] = [];
    call.on('data', (r: { action: string }) => responses.push(r));
    call.on('error', (err: unknown) => {
      failure = err;
      reject(err);
    });
    call.on('end', () => resolve(responses));
  });
  finished.catch(() => undefined); // observed below
  const send = async (req: object) => {
    if (failure) throw failure;
    if (!call.write(req)) await Promise.race([new Promise((r) => call.once('drain', r)), finished]);
    if (failure) throw failure;
  };
  const base = { ref, ...(opts.size !== undefined ? { total: opts.size } : {}), ...(opts.expected ? { expected: opts.expected } : {}) };
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const it = data[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      pending.push(r.value);
      pendingBytes += r.value.length;
      if (pendingBytes >= CHUNK) {
        const chunk = Buffer.concat(pending);
        pending = [];
        pendingBytes = 0;
        await send({ action: 'WRITE', ...base, offset, data: chunk });
        offset += chunk.length;
      }
    }
    const last = Buffer.concat(pending);
    const digest = opts.digest();
    await send({ action: 'COMMIT', ...base, total: offset + last.length, expected: digest, offset, data: last, labels: opts.labels ?? {} });
    call.end();
    const responses = await finished;
    if (responses[responses.length - 1]?.action !== 'COMMIT') throw new Error(`writing blob ${digest}: berthd did not confirm the commit`);
  } catch (err) {
    if (grpcCode(err) === ALREADY_EXISTS) {
      // someone (another load, another namespace's identical blob) has it: read the rest, so it is verified
      for (;;) if ((await it.next()).done) break;
      const digest = opts.digest();
      await d.leases.AddResource({ id: opts.lease, resource: { id: digest, type: 'content' } });
      return;
    }
    call.end();
    await finished.catch(() => undefined);
    await d.content.Abort({ ref }).catch(() => undefined);
    throw err;
  }
}

/** A fresh ingest ref (refs are per namespace; a random part keeps concurrent loads apart). */
export const ingestRef = (what: string): string => `berth-${what}-${randomBytes(6).toString('hex')}`;

/** The archive reader's sink: every blob file of the archive into the content store, under a lease. */
export class ContentSink implements BlobSink {
  constructor(
    private readonly d: Daemon,
    private readonly lease: string,
    private readonly onBlob?: (entry: SinkEntry, stored: boolean) => void,
  ) {}

  async put(entry: SinkEntry, body: AsyncIterable<Buffer>, digest: () => string): Promise<void> {
    if (entry.expected && (await blobExists(this.d, entry.expected))) {
      for await (const _ of body) void _; // hashed by the reader: refused if it is not what it says
      await this.d.leases.AddResource({ id: this.lease, resource: { id: entry.expected, type: 'content' } });
      this.onBlob?.(entry, false);
      return;
    }
    await writeBlob(this.d, ingestRef('load'), body, { lease: this.lease, size: entry.size, ...(entry.expected ? { expected: entry.expected } : {}), digest });
    this.onBlob?.(entry, true);
  }
}
