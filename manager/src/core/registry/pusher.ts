// The Pusher: blobs and manifests into a repository, through the first host with the push
// capability (pushes never spread over mirrors). Uploads follow the distribution spec:
// POST /blobs/uploads/ opens a session (its Location moves on with every answer), then one
// PUT ?digest= with the whole blob (monolithic) or PATCHes with Content-Range then an empty
// PUT (chunked). A chunked upload that breaks asks the session how much arrived (GET → Range)
// and goes on from there; a monolithic one starts a new session. A cross-repository mount
// answered 202 (not mounted) leaves an open session, which the next upload of that blob uses.

import { Readable, Transform } from 'node:stream';
import { failedPrecondition, invalidArgument, isKind, ManagerError } from '../errors';
import { repositoryScope } from './auth';
import { checkDigest, digestOf } from './digest';
import { statusError } from './errors';
import { hostsWith, type RegistryHost } from './hosts';
import { isManifestOrIndex, type Repository } from './repository';
import { backoffMs, sleep } from './transport';
import type { Descriptor, Pusher } from './types';
import type { RegistryRequest, RegistryResponse } from './client';

type UploadOptions = { chunkSize?: number; onProgress?: (sent: number) => void; signal?: AbortSignal };

export class RegistryPusher implements Pusher {
  /** Upload sessions a refused mount left open, by digest. */
  private readonly openSessions = new Map<string, URL>();

  constructor(private readonly repo: Repository) {}

  private get path(): string {
    return this.repo.ref.path;
  }

  private scopes(extra: string[] = []): string[] {
    return [repositoryScope(this.path, ['pull', 'push']), ...extra];
  }

  private async host(): Promise<RegistryHost> {
    const hosts = hostsWith(await this.repo.hosts(), 'push');
    if (hosts.length === 0) throw failedPrecondition(`${this.repo.ref.domain}: no host in its hosts.toml has the push capability`);
    return hosts[0]!;
  }

  private async request(req: RegistryRequest): Promise<RegistryResponse> {
    return this.repo.client.request(await this.host(), req);
  }

  private fail(res: RegistryResponse, what: string): ManagerError {
    return statusError(res.status, res.detail, { what, repository: this.repo.name, action: 'push', request: `${res.method} ${res.url.href}` });
  }

  async exists(desc: Descriptor): Promise<boolean> {
    checkDigest(desc.digest, 'descriptor digest');
    const kind = isManifestOrIndex(desc.mediaType) ? 'manifests' : 'blobs';
    const res = await this.request({ method: 'HEAD', path: `/${this.path}/${kind}/${desc.digest}`, scopes: this.scopes(), headers: kind === 'manifests' ? { accept: desc.mediaType } : {} });
    res.body.resume();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw this.fail(res, `${desc.digest} in ${this.repo.name}`);
  }

  async mount(desc: Descriptor, fromRepository: string): Promise<boolean> {
    checkDigest(desc.digest, 'descriptor digest');
    // "127.0.0.1:5000/app" or "app": a path in this registry.
    const domainPrefix = `${this.repo.ref.domain}/`;
    const from = fromRepository.startsWith(domainPrefix) ? fromRepository.slice(domainPrefix.length) : fromRepository;
    if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(from)) {
      throw invalidArgument(`mount source ${JSON.stringify(fromRepository)}: not a repository of ${this.repo.ref.domain}`);
    }
    const res = await this.request({
      method: 'POST',
      path: `/${this.path}/blobs/uploads/`,
      query: { mount: desc.digest, from },
      body: Buffer.alloc(0),
      scopes: this.scopes([repositoryScope(from, ['pull'])]),
    });
    res.body.resume();
    if (res.status === 201) return true;
    if (res.status === 202 && res.headers.location) {
      // Not mounted (the source lacks it, or we may not read it): keep the session for the upload.
      this.openSessions.set(desc.digest, new URL(res.headers.location, res.url));
      return false;
    }
    throw this.fail(res, `mount of ${desc.digest} from ${from} into ${this.repo.name}`);
  }

  async upload(desc: Descriptor, body: (offset: number) => Promise<Readable>, opts: UploadOptions = {}): Promise<void> {
    checkDigest(desc.digest, 'descriptor digest');
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) throw invalidArgument(`descriptor size: ${desc.size} is not a byte count`);
    if (opts.chunkSize !== undefined && (!Number.isSafeInteger(opts.chunkSize) || opts.chunkSize <= 0)) throw invalidArgument(`chunk size: ${opts.chunkSize} is not a positive byte count`);
    const { retries, retryBaseMs, onRetry } = this.repo.client.opts;
    for (let attempt = 0; ; attempt++) {
      try {
        const session = this.openSessions.get(desc.digest) ?? (await this.startSession(opts.signal));
        this.openSessions.delete(desc.digest);
        if (opts.chunkSize) await this.chunked(session, desc, body, opts.chunkSize, opts);
        else await this.monolithic(session, desc, body, opts);
        return;
      } catch (err) {
        // A broken upload starts over in a new session; 4xx answers are final.
        if (!isKind(err, 'Unavailable') || opts.signal?.aborted || attempt + 1 >= retries) throw err;
        const delay = backoffMs(attempt, retryBaseMs);
        onRetry?.(`uploading ${desc.digest} to ${this.repo.name}`, attempt + 1, err as Error, delay);
        await sleep(delay, opts.signal);
      }
    }
  }

  /** POST /blobs/uploads/ → the session's Location. */
  private async startSession(signal?: AbortSignal): Promise<URL> {
    const res = await this.request({ method: 'POST', path: `/${this.path}/blobs/uploads/`, body: Buffer.alloc(0), scopes: this.scopes(), signal });
    res.body.resume();
    if (res.status !== 202 || !res.headers.location) throw this.fail(res, `upload session in ${this.repo.name}`);
    return new URL(res.headers.location, res.url);
  }

  private async monolithic(session: URL, desc: Descriptor, body: (offset: number) => Promise<Readable>, opts: UploadOptions): Promise<void> {
    const stream = await body(0);
    const url = new URL(session);
    url.searchParams.set('digest', desc.digest);
    const res = await this.request({
      method: 'PUT',
      url,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body: () => counted(stream, 0, opts.onProgress),
      scopes: this.scopes(),
      signal: opts.signal,
    });
    res.body.resume();
    if (res.status !== 201) throw this.fail(res, `upload of ${desc.digest} to ${this.repo.name}`);
    checkCommitted(res, desc);
  }

  private async chunked(session: URL, desc: Descriptor, body: (offset: number) => Promise<Readable>, chunkSize: number, opts: UploadOptions): Promise<void> {
    const { retries, retryBaseMs, onRetry } = this.repo.client.opts;
    let location = session;
    let offset = 0;
    let reader = new ChunkReader(await body(0));
    let failures = 0;
    try {
      while (offset < desc.size) {
        const chunk = await reader.read(Math.min(chunkSize, desc.size - offset));
        if (chunk.length === 0) throw failedPrecondition(`${desc.digest}: the blob's bytes ended at ${offset} of ${desc.size}`);
        try {
          const res = await this.request({
            method: 'PATCH',
            url: location,
            headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
            // sent once: after a failure, the session says how much arrived
            body: () => bufferStream(chunk),
            scopes: this.scopes(),
            signal: opts.signal,
          });
          res.body.resume();
          if (res.status !== 202) throw this.fail(res, `chunk ${offset}-${offset + chunk.length - 1} of ${desc.digest}`);
          if (res.headers.location) location = new URL(res.headers.location, res.url);
          offset += chunk.length;
          failures = 0;
          opts.onProgress?.(offset);
        } catch (err) {
          if (!(isKind(err, 'Unavailable') || isKind(err, 'FailedPrecondition')) || opts.signal?.aborted || ++failures >= retries) throw err;
          const delay = backoffMs(failures - 1, retryBaseMs);
          onRetry?.(`chunk at ${offset} of ${desc.digest}`, failures, err as Error, delay);
          await sleep(delay, opts.signal);
          const status = await this.sessionStatus(location, opts.signal);
          location = status.location;
          offset = status.received;
          reader.destroy();
          reader = new ChunkReader(await body(offset));
        }
      }
    } finally {
      reader.destroy();
    }
    const url = new URL(location);
    url.searchParams.set('digest', desc.digest);
    const res = await this.request({ method: 'PUT', url, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(0), scopes: this.scopes(), signal: opts.signal });
    res.body.resume();
    if (res.status !== 201) throw this.fail(res, `upload of ${desc.digest} to ${this.repo.name}`);
    checkCommitted(res, desc);
  }

  /** GET of an upload session: how many bytes it holds (Range: 0-N) and where it is now. */
  private async sessionStatus(location: URL, signal?: AbortSignal): Promise<{ received: number; location: URL }> {
    const res = await this.request({ method: 'GET', url: location, scopes: this.scopes(), signal });
    res.body.resume();
    if (res.status !== 204) throw this.fail(res, `upload session ${location.pathname}`);
    const m = /^(?:bytes=)?0-(\d+)$/.exec(String(res.headers.range ?? ''));
    return { received: m ? Number(m[1]) + 1 : 0, location: res.headers.location ? new URL(res.headers.location, res.url) : location };
  }

  async putManifest(desc: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    checkDigest(desc.digest, 'descriptor digest');
    if (!isManifestOrIndex(desc.mediaType)) throw invalidArgument(`manifest media type ${JSON.stringify(desc.mediaType)}: not an OCI or Docker schema 2 manifest or index`);
    if (bytes.length !== desc.size || digestOf(bytes, desc.digest) !== desc.digest) {
      throw invalidArgument(`manifest ${desc.digest}: the bytes given are ${digestOf(bytes, desc.digest)} (${bytes.length} bytes), not the descriptor's`);
    }
    if (tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(tag)) throw invalidArgument(`tag ${JSON.stringify(tag)}: not a valid tag`);
    const res = await this.request({
      method: 'PUT',
      path: `/${this.path}/manifests/${tag ?? desc.digest}`,
      headers: { 'content-type': desc.mediaType },
      body: bytes,
      scopes: this.scopes(),
    });
    res.body.resume();
    if (res.status !== 201 && res.status !== 200) throw this.fail(res, `manifest ${tag ?? desc.digest} in ${this.repo.name}`);
    checkCommitted(res, desc);
  }
}

/** The registry's Docker-Content-Digest, when it sends one, must be what we meant to store. */
function checkCommitted(res: RegistryResponse, desc: Descriptor): void {
  const got = res.headers['docker-content-digest'];
  if (typeof got === 'string' && got !== desc.digest) throw failedPrecondition(`${desc.digest}: the registry stored it as ${got}`);
}

/** `stream` with progress reported as bytes go by (from `start`). */
function counted(stream: Readable, start: number, onProgress?: (sent: number) => void): Readable {
  if (!onProgress) return stream;
  let sent = start;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sent += chunk.length;
      onProgress(sent);
      cb(null, chunk);
    },
  });
  stream.on('error', (err) => t.destroy(err));
  return stream.pipe(t);
}

const bufferStream = (b: Buffer): Readable => Readable.from([b], { objectMode: false });

/** Reads exact-size pieces from a stream (the last one shorter). */
class ChunkReader {
  private readonly it: AsyncIterator<Buffer>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private done = false;

  constructor(private readonly stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }

  async read(size: number): Promise<Buffer> {
    while (this.pendingBytes < size && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        this.pending.push(r.value);
        this.pendingBytes += r.value.length;
      }
    }
    const all = Buffer.concat(this.pending);
    const out = all.subarray(0, size);
    const rest = all.subarray(size);
    this.pending = rest.length ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }

  destroy(): void {
    this.stream.destroy();
  }
}
