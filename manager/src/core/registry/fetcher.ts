// The Fetcher: manifests and blobs by descriptor, from the first host with the pull
// capability that has them. A body cut mid-way (connection reset, registry restarted, a
// proxy that drops) is resumed inside the stream with a Range request from the byte reached,
// so the caller reads one continuous stream; a Range the server ignores is handled by
// skipping what was already delivered. Foreign layers (descriptor urls) are fetched from
// their URLs when no registry host has them.

import { Readable } from 'node:stream';
import { failedPrecondition, invalidArgument, isKind, unavailable } from '../errors';
import { repositoryScope } from './auth';
import { checkDigest, digestOf } from './digest';
import { statusError } from './errors';
import type { RegistryHost } from './hosts';
import { isManifestOrIndex, MANIFEST_ACCEPT, mirrorQuery, tryHosts, type Repository } from './repository';
import { backoffMs, codedError, isRetryableError, send, sleep, type HttpResponse } from './transport';
import type { Descriptor, FetchedStream, Fetcher } from './types';

/** Default limit of fetchBytes: configs can be large, but not this large. */
const MAX_DOCUMENT_BYTES = 32 << 20;

interface Opened {
  res: HttpResponse;
  /** Where the body starts in the blob. */
  offset: number;
}

export class RegistryFetcher implements Fetcher {
  constructor(
    private readonly repo: Repository,
    private readonly manifestCache: Map<string, Buffer>,
  ) {}

  async fetch(desc: Descriptor, opts: { offset?: number; signal?: AbortSignal } = {}): Promise<FetchedStream> {
    checkDigest(desc.digest, 'descriptor digest');
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalidArgument(`fetch offset: ${offset} is not a byte offset`);
    const first = await this.open(desc, offset, opts.signal);
    return { stream: Readable.from(this.resumable(desc, first, opts.signal), { objectMode: false }), offset: first.offset };
  }

  async fetchBytes(desc: Descriptor, opts: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<Buffer> {
    checkDigest(desc.digest, 'descriptor digest');
    const max = opts.maxBytes ?? MAX_DOCUMENT_BYTES;
    if (desc.size > max) throw failedPrecondition(`${desc.digest}: ${desc.size} bytes is more than the ${max} allowed for a ${desc.mediaType}`);
    const cached = this.manifestCache.get(desc.digest);
    if (cached && cached.length === desc.size) return cached;
    const { stream } = await this.fetch(desc, { signal: opts.signal });
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of stream) {
      n += (c as Buffer).length;
      if (n > desc.size) {
        stream.destroy();
        throw failedPrecondition(`${desc.digest} in ${this.repo.name}: more than the ${desc.size} bytes its descriptor says`);
      }
      chunks.push(c as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    if (bytes.length !== desc.size) throw failedPrecondition(`${desc.digest} in ${this.repo.name}: ${bytes.length} bytes, its descriptor says ${desc.size}`);
    const got = digestOf(bytes, desc.digest);
    if (got !== desc.digest) throw failedPrecondition(`${desc.digest} in ${this.repo.name}: content digest mismatch: got ${got}`);
    return bytes;
  }

  /** The first host (or foreign URL) that answers with the content, from `offset`. */
  private async open(desc: Descriptor, offset: number, signal?: AbortSignal): Promise<Opened> {
    try {
      return await tryHosts(this.repo, 'pull', (host) => this.openFrom(host, desc, offset, signal));
    } catch (err) {
      if (!isKind(err, 'NotFound') || !desc.urls?.length) throw err;
      return this.openForeign(desc, offset, signal, err as Error);
    }
  }

  private async openFrom(host: RegistryHost, desc: Descriptor, offset: number, signal?: AbortSignal): Promise<Opened> {
    const manifest = isManifestOrIndex(desc.mediaType);
    const kind = manifest ? 'manifests' : 'blobs';
    const headers: Record<string, string> = { accept: manifest ? [...new Set([desc.mediaType, ...MANIFEST_ACCEPT])].join(', ') : '*/*' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await this.repo.client.request(host, {
      method: 'GET',
      path: `/${this.repo.ref.path}/${kind}/${desc.digest}`,
      query: mirrorQuery(this.repo, host),
      headers,
      scopes: [repositoryScope(this.repo.ref.path, ['pull'])],
      signal,
    });
    if (res.status === 200 || res.status === 206) return { res, offset: rangeStart(res, offset, desc) };
    throw statusError(res.status, res.detail, {
      what: `${manifest ? 'manifest' : 'blob'} ${desc.digest} in ${this.repo.name}`,
      repository: this.repo.name,
      action: 'pull',
      request: `GET ${res.url.href}`,
    });
  }

  /** A non-distributable layer from the URLs in its descriptor (plain GET, no registry auth). */
  private async openForeign(desc: Descriptor, offset: number, signal: AbortSignal | undefined, notFound: Error): Promise<Opened> {
    let last: Error = notFound;
    for (const u of desc.urls ?? []) {
      let url: URL;
      try {
        url = new URL(u);
      } catch {
        continue;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
      try {
        const res = await send({ method: 'GET', url, headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, signal });
        if (res.status === 200 || res.status === 206) return { res, offset: rangeStart(res, offset, desc) };
        res.body.resume();
        last = unavailable(`GET ${url.href}: ${res.status}`);
      } catch (err) {
        last = err as Error;
      }
    }
    throw last;
  }

  /**
   * The body from `first` on; when it breaks off (or ends short of desc.size), asks again
   * from the byte reached, up to the client's retries, and carries on.
   */
  private async *resumable(desc: Descriptor, first: Opened, signal?: AbortSignal): AsyncGenerator<Buffer> {
    let current = first;
    let pos = first.offset;
    /** Bytes to drop from the current body: a resumed request that got the whole blob again. */
    let skip = 0;
    const { retries, retryBaseMs, onRetry } = this.repo.client.opts;
    let failures = 0;
    try {
      for (;;) {
        try {
          for await (const chunk of current.res.body as AsyncIterable<Buffer>) {
            let c = chunk;
            if (skip > 0) {
              const drop = Math.min(skip, c.length);
              skip -= drop;
              c = c.subarray(drop);
              if (c.length === 0) continue;
            }
            pos += c.length;
            if (desc.size >= 0 && pos > desc.size) throw failedPrecondition(`${desc.digest} in ${this.repo.name}: more than the ${desc.size} bytes its descriptor says`);
            failures = 0; // progress made: the budget is per stall, not per blob
            yield c;
          }
          if (pos >= desc.size) return;
          throw codedError('ETRUNCATED', `${desc.digest}: the body ended at byte ${pos} of ${desc.size}`);
        } catch (err) {
          if (!isRetryableError(err) || signal?.aborted || ++failures >= retries) {
            if (isRetryableError(err)) throw unavailable(`fetching ${desc.digest} from ${this.repo.name}: ${(err as Error).message} (at byte ${pos} of ${desc.size})`);
            throw err;
          }
          current.res.body.destroy();
          const delay = backoffMs(failures - 1, retryBaseMs);
          onRetry?.(`resuming ${desc.digest} at byte ${pos}`, failures, err as Error, delay);
          await sleep(delay, signal);
          current = await this.open(desc, pos, signal);
          skip = pos - current.offset;
        }
      }
    } finally {
      current.res.body.destroy();
    }
  }
}

/** Where a 200/206 body starts: 0 for 200 (Range ignored), the Content-Range start for 206 (which must be what was asked). */
function rangeStart(res: HttpResponse, asked: number, desc: Descriptor): number {
  if (res.status === 200) return 0;
  const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
  const start = m ? Number(m[1]) : NaN;
  if (start !== asked) {
    res.body.destroy();
    throw unavailable(`${desc.digest}: asked for bytes from ${asked}, the registry sent ${res.headers['content-range'] ?? 'no Content-Range'}`);
  }
  return start;
}
