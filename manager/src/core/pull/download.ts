// One blob from the registry into the content store, resumable: the ingest has a stable ref
// ("layer-sha256:…"), so a pull that died (registry gone, berthd killed) left its bytes there
// and the next one asks for the rest with a Range. The digest is checked at commit; a blob
// whose bytes are wrong is never committed, and its ingest is dropped (resuming it again
// could only fail again).
//
// A registry that ignores the Range sends the blob from byte 0: the bytes the ingest already
// holds are read past and the rest appended — the same result as truncating and starting
// over, without writing them twice, and the unpacker reading the ingest never sees it shrink.
// A body cut short (connection reset, proxy gone) is fetched again from where the ingest got
// to, with backoff, `retries` times; HTTP errors are the registry client's to retry.

import { failedPrecondition, invalidArgument, isKind, ManagerError } from '../errors';
import { hasBlob, type ContentStore, type ReaderAt, type Writer } from '../content';
import { sleep } from '../registry/transport';
import type { Descriptor, Fetcher } from '../registry/types';
import { LandingBlob } from './follow';

export interface DownloadOptions {
  content: ContentStore;
  fetcher: Fetcher;
  desc: Descriptor;
  /** The ingest ref: the same for every pull of this blob, so a retry resumes it. */
  ref: string;
  lease: string;
  /** Labels of the committed blob. */
  labels?: Record<string, string>;
  signal: AbortSignal;
  /** Re-fetches of a body cut short (default 5). */
  retries?: number;
  /** Names the blob in errors: `layer 2 (sha256:…) of docker.io/library/x:1`. */
  what: string;
  /** The unpacker will read the bytes as they land (see follow.ts). */
  follow: boolean;
  onProgress?: (offset: number) => void;
  onRetry?: (attempt: number, of: number, err: Error, delayMs: number) => void;
  /** Wait between re-fetches: delay(attempt) ms (default 250 · 2^(attempt-1), at most 4 s). */
  delay?: (attempt: number) => number;
}

/** A download that started: where it began, and its bytes for the unpacker. */
export interface BlobDownload {
  /** The blob was stored already (by an earlier pull, or another namespace's). */
  existed: boolean;
  /** Bytes the ingest held when this pull opened it. */
  resumed: number;
  /** Resolves when the blob is committed (digest verified); rejects with the reason it is not. */
  committed: Promise<void>;
  /** Why the download failed, once it has. */
  failure(): Error | undefined;
  /** The blob's bytes 0..size as they land (call once, only with follow). */
  bytes(onRead?: (pos: number) => void): AsyncGenerator<Buffer>;
}

/** A commit refused because the bytes are not the blob: the ingest was dropped. */
export class DigestMismatch extends ManagerError {
  constructor(
    message: string,
    /** Bytes of the ingest that came from an earlier pull (which may be what was wrong). */
    readonly resumed: number,
  ) {
    super('FailedPrecondition', message);
  }
}

/**
 * Opens the ingest, or learns that the blob is stored. Another pull writing the same blob
 * holds its ref (Unavailable): wait until it commits it or lets the ref go.
 */
async function openWriter(o: DownloadOptions): Promise<Writer | undefined> {
  for (;;) {
    try {
      return await o.content.writer(o.ref, { expected: o.desc.digest, total: o.desc.size, lease: o.lease });
    } catch (err) {
      if (isKind(err, 'AlreadyExists')) return undefined;
      if (!isKind(err, 'Unavailable')) throw err;
    }
    await sleep(100, o.signal);
    if (await hasBlob(o.content, o.desc.digest)) return undefined;
  }
}

// Chunks are written in pieces of up to this size: fewer writes, and at most this much
// received but not yet in the ingest when berthd dies.
const COALESCE = 256 << 10;

export async function startDownload(o: DownloadOptions): Promise<BlobDownload> {
  const size = o.desc.size;
  const landing = new LandingBlob(size);
  const w = await openWriter(o);
  if (!w) {
    landing.advance(size);
    landing.end();
    return {
      existed: true,
      resumed: 0,
      committed: Promise.resolve(),
      failure: () => undefined,
      bytes: (onRead) => landing.read(lazyReader(() => o.content.readerAt(o.desc)), { ...(onRead ? { onRead } : {}) }),
    };
  }
  let offset: number;
  let ingestReader: ReaderAt | undefined;
  try {
    offset = (await w.status()).offset;
    if (offset > size) {
      await w.truncate(0);
      offset = 0;
    }
    // only a real ingest has data to follow; a blob another namespace holds reports it all
    if (o.follow && offset < size) ingestReader = await o.content.ingestReaderAt(o.ref);
  } catch (err) {
    await w.close().catch(() => undefined);
    throw err;
  }
  const resumed = offset;
  landing.advance(offset);
  o.onProgress?.(offset);

  const committed = (async () => {
    try {
      offset = await fetchRest(o, w, offset, landing);
      try {
        await w.commit(size, o.desc.digest, { labels: o.labels ?? {} });
      } catch (err) {
        if (isKind(err, 'AlreadyExists')) return;
        if (isKind(err, 'FailedPrecondition')) {
          await o.content.abort(o.ref).catch(() => undefined);
          throw new DigestMismatch(`${o.what}: the downloaded bytes are not the blob (${(err as Error).message}); it was not stored`, resumed);
        }
        throw err;
      }
    } catch (err) {
      await w.close().catch(() => undefined);
      throw err;
    }
  })();
  committed.then(
    () => landing.end(),
    (err: Error) => landing.end(err),
  );
  committed.catch(() => undefined); // the caller awaits it; never an unhandled rejection here

  return {
    existed: false,
    resumed,
    committed,
    failure: () => landing.failed,
    bytes: (onRead) => {
      // the ingest's data while it lands; with none (nothing left to fetch), the blob once committed
      const reader = ingestReader ?? lazyReader(async () => (await committed, o.content.readerAt(o.desc)));
      return landing.read(reader, { ...(onRead ? { onRead } : {}) });
    },
  };
}

/** Fetches from `offset` to the end into the writer, re-fetching a body cut short. Returns the size. */
async function fetchRest(o: DownloadOptions, w: Writer, offset: number, landing: LandingBlob): Promise<number> {
  const size = o.desc.size;
  const retries = o.retries ?? 5;
  const delay = o.delay ?? ((n: number) => Math.min(4000, 250 * 2 ** (n - 1)));
  for (let attempt = 0; offset < size; ) {
    const fetched = await o.fetcher.fetch(o.desc, { offset, signal: o.signal });
    if (fetched.offset > offset) {
      fetched.stream.destroy();
      throw failedPrecondition(`${o.what}: the registry answered from byte ${fetched.offset}, asked for ${offset}`);
    }
    let skip = offset - fetched.offset;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const flush = async () => {
      if (pendingLen === 0) return;
      const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
      await w.write(data);
      offset += data.length;
      landing.advance(offset);
      o.onProgress?.(offset);
    };
    try {
      for await (const raw of fetched.stream as AsyncIterable<Buffer>) {
        let chunk = raw;
        if (skip > 0) {
          if (skip >= chunk.length) {
            skip -= chunk.length;
            continue;
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        if (offset + pendingLen + chunk.length > size) throw invalidArgument(`${o.what}: the registry sent more than the ${size} bytes its descriptor says`);
        pending.push(chunk);
        pendingLen += chunk.length;
        if (pendingLen >= COALESCE) await flush();
      }
      await flush();
      if (offset < size) throw new Error(`the body ended after ${offset} of ${size} bytes`);
    } catch (err) {
      await flush().catch(() => undefined); // what arrived is good until the digest says otherwise
      fetched.stream.destroy();
      if (o.signal.aborted || err instanceof ManagerError) throw err;
      attempt++;
      if (attempt > retries) throw unavailableAfter(o, retries, err as Error, offset);
      const ms = delay(attempt);
      o.onRetry?.(attempt, retries, err as Error, ms);
      await sleep(ms, o.signal);
    }
  }
  return offset;
}

function unavailableAfter(o: DownloadOptions, retries: number, err: Error, offset: number): ManagerError {
  return new ManagerError('Unavailable', `${o.what}: download failed after ${retries} retries at byte ${offset} of ${o.desc.size}: ${err.message} (the bytes so far are kept: pull again to resume)`);
}

/** A ReaderAt opened on first use (the blob may be committed only later). */
function lazyReader(open: () => Promise<ReaderAt>): ReaderAt {
  let ra: Promise<ReaderAt> | undefined;
  const get = () => (ra ??= open());
  return {
    size: 0,
    readAt: async (buf, offset) => (await get()).readAt(buf, offset),
    close: async () => {
      if (ra) await (await ra).close();
    },
  };
}
