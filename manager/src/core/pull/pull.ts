// The pull pipeline: a reference → the image's blobs in the content store, its layers unpacked
// into snapshots, and the image record — in that order, so a record never names an image that
// is not all there.
//
//   1. resolve the reference (the registry client verifies a pinned digest); the top document
//      must be an image index or manifest
//   2. a lease for the whole pull, expiring (default 24 h): what an interrupted pull stored
//      (ingests, blobs, snapshots) stays for the retry to reuse, and goes eventually if none
//      comes. A successful pull drops it: the record holds everything by then.
//   3. the index (platform chosen as containerd's platforms.Only does), manifest and config:
//      fetched whole and verified, or read from the content store when already there
//   4. the layers: downloaded in parallel (max_concurrent_downloads at a time, lower layers
//      first) into ingests with stable refs (download.ts), each unpacked into its snapshot as
//      its bytes land (unpack.ts), committed in chain order; layers whose chain's snapshot
//      exists are only fetched (if missing), not unpacked again
//   5. containerd's labels: gc.ref.content.* on the index and manifest, gc.ref.snapshot.<s> on
//      the config, containerd.io/uncompressed on unpacked layers, the distribution source on
//      every blob; then the image record, created or moved to the new target
//
// Anything that fails aborts the rest, removes active snapshots and leaves the ingests (minus
// a corrupted one) under the lease for the next attempt. Errors name the image and the item.

import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import type { ContentStore } from '../content';
import { readBlob, readStream, writeBlob } from '../content';
import { compressionOf } from '../diff';
import { ManagerError, failedPrecondition, isKind, notFound, notImplemented } from '../errors';
import {
  LABEL_UNCOMPRESSED,
  chainIds,
  childGcLabels,
  gcSnapshotLabel,
  isConfigType,
  isIndexType,
  isManifestType,
  parseImageConfig,
  parseIndex,
  parseManifest,
  parseReference,
  type Descriptor,
  type ImageConfig,
  type Manifest,
  type Platform,
} from '../images';
import { LABEL_GC_EXPIRE, type Image, type ImageStore, type LeaseStore } from '../metadata';
import type { Fetcher, Resolver } from '../registry/types';
import { DigestMismatch, startDownload, type BlobDownload } from './download';
import { Limit } from './limit';
import { recordSource, setLabels, sourceLabelKey } from './labels';
import { chooseManifest, defaultPlatform, formatPlatform, platformRank } from './platform';
import { ProgressTracker, type ItemKind, type ProgressSink } from './progress';
import { PULL_LEASE_PREFIX } from './recover';
import { unpackLayer, type PullSnapshotter } from './unpack';

export interface PullDeps {
  namespace: string;
  resolver: Resolver;
  /** The namespace's content store. */
  content: ContentStore;
  images: ImageStore;
  leases: LeaseStore;
  /** Where layers are unpacked (absent with skipUnpack). */
  snapshotter?: { name: string; sn: PullSnapshotter };
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export interface PullOptions {
  reference: string;
  /** Default: this machine's. */
  platform?: Platform;
  skipUnpack?: boolean;
  /** Labels of the image record. */
  labels?: Record<string, string>;
  maxConcurrentDownloads?: number;
  /** How long an interrupted pull's lease keeps its parts (default 24 h). */
  leaseExpiryMs?: number;
  /** Overlayfs: unpack layers side by side and commit them in chain order (default true). */
  stagedUnpack?: boolean;
  /** Re-fetches of a blob body cut short. */
  retries?: number;
  onProgress?: ProgressSink;
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

export interface PullResult {
  image: Image;
  /** Whether the record was created (false: an existing name was moved to this target). */
  created: boolean;
  /** The platform's manifest and config, and the top chain id ('' without unpacking). */
  manifest: Descriptor;
  configDigest: string;
  chainId: string;
}

export const DEFAULT_LEASE_EXPIRY_MS = 24 * 60 * 60 * 1000;

/** `layer 2 (sha256:0123456789ab…)`. */
const short = (digest: string): string => `${digest.slice(0, 19)}…`;

/** Prefixes an error's message with `prefix`, keeping its kind. */
export function named(err: unknown, prefix: string): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.message.includes(prefix)) return e;
  if (e instanceof ManagerError) return Object.assign(new ManagerError(e.kind, `${prefix}: ${e.message}`), { cause: e });
  return new Error(`${prefix}: ${e.message}`, { cause: e });
}

function zstdAvailable(): boolean {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    try {
      accessSync(path.join(dir || '.', 'zstd'), fsConstants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

interface LayerPlan {
  index: number;
  desc: Descriptor;
  diffId: string;
  chainId: string;
  /** Its chain's snapshot exists already (this or another image unpacked it). */
  unpacked: boolean;
  what: string;
}

class Pull {
  private readonly progress: ProgressTracker;
  private readonly abort = new AbortController();
  private readonly signal: AbortSignal;
  private lease = '';
  private fetcher!: Fetcher;
  private host = '';
  private repository = '';
  private name = '';

  constructor(
    private readonly deps: PullDeps,
    private readonly opts: PullOptions,
  ) {
    this.progress = new ProgressTracker(opts.onProgress, opts.progressIntervalMs);
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.abort.signal]) : this.abort.signal;
  }

  async run(): Promise<PullResult> {
    const { deps, opts } = this;
    const started = Date.now();
    const want = opts.platform ?? defaultPlatform();
    this.progress.message(`Resolving ${opts.reference}`);
    let resolved;
    try {
      resolved = await deps.resolver.resolve(opts.reference);
    } catch (err) {
      throw named(err, opts.reference);
    }
    this.name = resolved.name;
    const ref = parseReference(resolved.name);
    this.host = ref.domain;
    this.repository = ref.path;
    const top = resolved.desc;
    if (!isIndexType(top.mediaType) && !isManifestType(top.mediaType)) {
      throw notImplemented(`${this.name}: unsupported manifest media type ${JSON.stringify(top.mediaType)} (an OCI image index or manifest, or a Docker schema 2 manifest or manifest list, is needed)`);
    }
    this.fetcher = deps.resolver.fetcher(resolved.name);
    await this.createLease();
    /** From the layers on, an interrupted pull has something for a retry to resume. */
    let keepLease = false;
    try {
      // 3. documents
      let manifestDesc = top;
      if (isIndexType(top.mediaType)) manifestDesc = await this.chooseFromIndex(top, want);
      const manifestBytes = await this.document(manifestDesc, 'manifest');
      const manifest = parseManifest(manifestBytes, `${this.name}: manifest ${manifestDesc.digest}`);
      if (manifest.mediaType && manifest.mediaType !== manifestDesc.mediaType) {
        throw failedPrecondition(`${this.name}: manifest ${manifestDesc.digest} says it is ${manifest.mediaType}, its descriptor says ${manifestDesc.mediaType}`);
      }
      if (!isConfigType(manifest.config.mediaType)) {
        throw notImplemented(`${this.name}: manifest ${manifestDesc.digest}: config media type ${JSON.stringify(manifest.config.mediaType)} is not an image config (not a container image?)`);
      }
      await this.storeLabels(manifestDesc.digest, childGcLabels([manifest.config, ...manifest.layers]));
      const config = parseImageConfig(await this.document(manifest.config, 'config'), `${this.name}: config ${manifest.config.digest}`);
      if (top === manifestDesc && config.os && config.architecture && platformRank({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }, want) < 0) {
        throw notFound(`${this.name}: no match for platform ${formatPlatform(want)} in manifest ${manifestDesc.digest} (the image is ${formatPlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) })})`);
      }
      if (config.rootfs.diff_ids.length !== manifest.layers.length) {
        throw failedPrecondition(`${this.name}: manifest ${manifestDesc.digest} has ${manifest.layers.length} layers, its config's rootfs.diff_ids ${config.rootfs.diff_ids.length}`);
      }

      // 4. layers
      keepLease = true;
      const chainId = await this.layers(manifest, config);

      // 5. labels and the record
      if (chainId && deps.snapshotter) await this.storeLabels(manifest.config.digest, { [gcSnapshotLabel(deps.snapshotter.name)]: chainId });
      const { image, created } = await this.putImage(top);
      this.progress.close();
      await deps.leases.delete(deps.namespace, this.lease).catch((err: Error) => deps.log?.warn({ lease: this.lease, err: err.message }, 'pull: lease not deleted'));
      deps.log?.info(
        { image: this.name, digest: top.digest, layers: manifest.layers.length, bytes: manifest.layers.reduce((n, l) => n + l.size, 0), ms: Date.now() - started },
        'pulled image',
      );
      return { image, created, manifest: manifestDesc, configDigest: manifest.config.digest, chainId };
    } catch (err) {
      // once layers were being fetched the lease stays: it keeps what this pull stored for a
      // retry, and expires; before that there is nothing worth keeping
      this.progress.close();
      if (!keepLease) await deps.leases.delete(deps.namespace, this.lease).catch(() => undefined);
      deps.log?.warn({ image: this.name, ...(keepLease ? { lease: this.lease } : {}), err: (err as Error).message }, 'pull failed');
      throw err;
    }
  }

  private async createLease(): Promise<void> {
    const expiry = this.opts.leaseExpiryMs ?? DEFAULT_LEASE_EXPIRY_MS;
    this.lease = `${PULL_LEASE_PREFIX}${Date.now()}-${randomBytes(4).toString('hex')}`;
    await this.deps.leases.create(this.deps.namespace, this.lease, { [LABEL_GC_EXPIRE]: new Date(Date.now() + expiry).toISOString() });
  }

  /** Keeps a blob that was stored before this pull for as long as the pull runs. */
  private async holdContent(digest: string): Promise<void> {
    await this.deps.leases.addResource(this.deps.namespace, this.lease, { type: 'content', id: digest });
  }

  private async chooseFromIndex(top: Descriptor, want: Platform): Promise<Descriptor> {
    let desc = top;
    // an index may name another index (rarely): follow a few levels
    for (let depth = 0; depth < 4 && isIndexType(desc.mediaType); depth++) {
      const index = parseIndex(await this.document(desc, 'index'), `${this.name}: index ${desc.digest}`);
      const candidates = index.manifests.filter((m) => isManifestType(m.mediaType) || isIndexType(m.mediaType));
      const chosen = chooseManifest(candidates, want);
      if (!chosen) {
        const have = index.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : '?')).join(', ');
        throw notFound(`${this.name}: no match for platform ${formatPlatform(want)} in index ${desc.digest} (it has ${have || 'no manifests'})`);
      }
      await this.labelIndexChild(desc.digest, chosen.digest);
      desc = chosen;
    }
    if (!isManifestType(desc.mediaType)) throw notImplemented(`${this.name}: ${desc.digest}: unsupported manifest media type ${JSON.stringify(desc.mediaType)}`);
    return desc;
  }

  /** A small document (index, manifest, config): from the content store, else fetched, verified and stored. */
  private async document(desc: Descriptor, kind: ItemKind): Promise<Buffer> {
    const { content } = this.deps;
    this.progress.add(desc, kind, 'resolving');
    try {
      // held first: a blob stored before this pull is not collected between seeing it and using it
      await this.holdContent(desc.digest);
      try {
        const bytes = await readBlob(content, desc);
        await recordSource(content, desc.digest, this.host, this.repository);
        this.progress.update(desc.digest, { status: 'exists', offset: desc.size });
        return bytes;
      } catch (err) {
        if (!isKind(err, 'NotFound')) throw err;
      }
      this.progress.update(desc.digest, { status: 'downloading' });
      const bytes = await this.fetcher.fetchBytes(desc, { signal: this.signal, maxBytes: 16 << 20 });
      await this.store(`${kind}-${desc.digest}`, bytes, desc);
      await recordSource(content, desc.digest, this.host, this.repository);
      this.progress.update(desc.digest, { status: 'done', offset: desc.size });
      return bytes;
    } catch (err) {
      this.progress.update(desc.digest, { status: 'failed' });
      throw named(err, `${this.name}: ${kind} ${desc.digest}`);
    }
  }

  /** Stores a verified document; another pull writing the same one holds its ref: wait for it. */
  private async store(ref: string, bytes: Buffer, desc: Descriptor): Promise<void> {
    for (;;) {
      try {
        await writeBlob(this.deps.content, ref, bytes, desc, { lease: this.lease, labels: { [sourceLabelKey(this.host)]: this.repository } });
        return;
      } catch (err) {
        if (!isKind(err, 'Unavailable')) throw err;
      }
      await new Promise((r) => setTimeout(r, 20));
      if (this.signal.aborted) throw this.signal.reason;
    }
  }

  /**
   * Adds the chosen manifest to the index's gc.ref.content.m.<n> labels, keeping those of
   * platforms pulled before: the record names the index, and each platform pulled stays held.
   */
  private async labelIndexChild(index: string, child: string): Promise<void> {
    const prefix = 'containerd.io/gc.ref.content.m.';
    const labels = (await this.deps.content.info(index)).labels;
    const held = Object.entries(labels).filter(([k]) => k.startsWith(prefix));
    if (held.some(([, v]) => v === child)) return;
    const used = new Set(held.map(([k]) => k.slice(prefix.length)));
    let n = 0;
    while (used.has(String(n))) n++;
    await this.storeLabels(index, { [`${prefix}${n}`]: child });
  }

  private storeLabels(digest: string, labels: Record<string, string>): Promise<void> {
    return setLabels(this.deps.content, digest, labels);
  }

  /** Fetches and unpacks every layer; returns the top chain id ('' without unpacking). */
  private async layers(manifest: Manifest, config: ImageConfig): Promise<string> {
    const { deps, opts } = this;
    const diffIds = config.rootfs.diff_ids;
    const chains = chainIds(diffIds);
    const unpack = !opts.skipUnpack && deps.snapshotter !== undefined && manifest.layers.length > 0;
    const plans: LayerPlan[] = manifest.layers.map((desc, i) => ({
      index: i,
      desc,
      diffId: diffIds[i]!,
      chainId: chains[i]!,
      unpacked: false,
      what: `${this.name}: layer ${i} (${desc.digest}, ${desc.mediaType})`,
    }));
    for (const p of plans) this.progress.add(p.desc, 'layer');
    // held before they are looked at: what is stored already is not collected while in use
    for (const digest of new Set(plans.map((p) => p.desc.digest))) await this.holdContent(digest);

    if (unpack) {
      const sn = deps.snapshotter!;
      for (const p of plans) await deps.leases.addResource(deps.namespace, this.lease, { type: `snapshots/${sn.name}`, id: p.chainId });
      // the highest chain whose snapshot exists: everything below it exists too
      for (let i = plans.length - 1; i >= 0; i--) {
        const info = await sn.sn.stat(plans[i]!.chainId).catch((err: unknown) => {
          if (isKind(err, 'NotFound')) return undefined;
          throw err;
        });
        if (info?.kind === 'committed') {
          for (const p of plans.slice(0, i + 1)) p.unpacked = true;
          break;
        }
      }
      // media types berth cannot unpack are refused before a byte is fetched
      for (const p of plans.filter((q) => !q.unpacked)) {
        let compression;
        try {
          compression = compressionOf(p.desc.mediaType);
        } catch (err) {
          throw named(err, p.what);
        }
        if (compression === 'zstd' && !zstdAvailable()) {
          throw notImplemented(`${p.what}: media type ${p.desc.mediaType} is zstd-compressed: Node.js ${process.version}'s zlib has no zstd and the zstd program is not installed (Debian package zstd)`);
        }
      }
    }

    const limit = new Limit(Math.max(1, opts.maxConcurrentDownloads ?? 3));
    const downloads = new Map<string, Promise<BlobDownload>>();
    const followed = new Set<string>(); // digests whose landing bytes one unpacker reads
    const needsBytes = new Set(plans.filter((p) => unpack && !p.unpacked).map((p) => p.desc.digest));
    const snapshotDone: Promise<void>[] = [];
    const staged = unpack && deps.snapshotter!.name === 'overlayfs' && opts.stagedUnpack !== false;

    const download = (p: LayerPlan): Promise<BlobDownload> => {
      let d = downloads.get(p.desc.digest);
      if (!d) {
        d = this.startLayerDownload(p, limit, needsBytes.has(p.desc.digest));
        downloads.set(p.desc.digest, d);
      }
      return d;
    };

    const jobs: Promise<unknown>[] = [];
    for (const p of plans) {
      const dl = download(p);
      if (!unpack || p.unpacked) {
        snapshotDone.push(Promise.resolve());
        jobs.push(
          dl.then((d) => d.committed).then(() => {
            if (this.progress.get(p.desc.digest)?.status !== 'exists') this.progress.update(p.desc.digest, { status: 'done', offset: p.desc.size });
          }),
        );
        continue;
      }
      const parentCommitted = p.index === 0 ? Promise.resolve() : snapshotDone[p.index - 1]!;
      const job = (async () => {
        const d = await dl;
        // one unpacker follows the landing bytes; a layer listed twice reads the stored blob
        const first = !followed.has(p.desc.digest);
        followed.add(p.desc.digest);
        const bytes = first ? d.bytes((pos) => this.unpackRead(p, pos)) : this.storedBytes(p, d);
        const r = await unpackLayer({
          sn: deps.snapshotter!.sn,
          lease: this.lease,
          chainId: p.chainId,
          parent: p.index === 0 ? '' : plans[p.index - 1]!.chainId,
          parentCommitted,
          bytes,
          mediaType: p.desc.mediaType,
          diffId: p.diffId,
          blobCommitted: d.committed,
          downloadFailure: () => d.failure(),
          staged,
          what: p.what,
        });
        await setLabels(deps.content, p.desc.digest, { [LABEL_UNCOMPRESSED]: p.diffId });
        this.progress.update(p.desc.digest, { status: 'unpacked', offset: p.desc.size });
        return r;
      })();
      const done = job.then(() => undefined);
      done.catch(() => undefined); // the next layer awaits it; the last one nobody does
      snapshotDone.push(done);
      jobs.push(job);
    }
    // the first failure stops the rest; all of them settle before it goes up
    let first: unknown;
    for (const j of jobs) {
      j.catch((err: unknown) => {
        if (first === undefined || (isAbortOnly(first) && !isAbortOnly(err))) first = err;
        this.abort.abort(new ManagerError('Aborted', `${this.name}: pull aborted`));
      });
    }
    await Promise.allSettled(jobs);
    if (first !== undefined) {
      for (const p of plans) {
        const status = this.progress.get(p.desc.digest)?.status;
        if (status !== 'unpacked' && status !== 'done' && status !== 'exists') this.progress.update(p.desc.digest, { status: 'failed' });
      }
      throw first;
    }
    return unpack ? chains[chains.length - 1]! : '';
  }

  private async startLayerDownload(p: LayerPlan, limit: Limit, follow: boolean): Promise<BlobDownload> {
    const release = await limit.acquire();
    const { content } = this.deps;
    try {
      if (this.signal.aborted) throw this.signal.reason;
      const d = await startDownload({
        content,
        fetcher: this.fetcher,
        desc: p.desc,
        ref: `layer-${p.desc.digest}`,
        lease: this.lease,
        labels: { [sourceLabelKey(this.host)]: this.repository },
        signal: this.signal,
        what: p.what,
        follow,
        ...(this.opts.retries !== undefined ? { retries: this.opts.retries } : {}),
        onProgress: (offset) => this.progress.update(p.desc.digest, { status: offset >= p.desc.size ? 'verifying' : 'downloading', offset }),
        onRetry: (attempt, of, err, ms) => this.progress.message(`Retrying layer ${short(p.desc.digest)} (${attempt}/${of}) in ${ms} ms: ${err.message}`),
      });
      if (d.existed) {
        await recordSource(content, p.desc.digest, this.host, this.repository);
        // 'exists' is final: a stored blob whose snapshot is missing is straight to extracting
        this.progress.update(p.desc.digest, follow ? { status: 'extracting', offset: 0 } : { status: 'exists', offset: p.desc.size });
      } else if (d.resumed > 0) {
        this.progress.update(p.desc.digest, { resumed: d.resumed });
        this.progress.message(`Resuming layer ${short(p.desc.digest)} at ${d.resumed} of ${p.desc.size} bytes`);
      }
      d.committed.then(
        () => {
          release();
          const it = this.progress.get(p.desc.digest);
          if (follow && it?.status !== 'unpacked' && it?.status !== 'extracting') this.progress.update(p.desc.digest, { status: 'extracting' });
        },
        () => release(),
      );
      return d;
    } catch (err) {
      release();
      throw named(err, p.what);
    }
  }

  /** The unpacker's position, shown once the download is complete. */
  private unpackRead(p: LayerPlan, pos: number): void {
    const it = this.progress.get(p.desc.digest);
    if (it?.status === 'extracting') this.progress.update(p.desc.digest, { offset: pos });
  }

  private async *storedBytes(p: LayerPlan, d: BlobDownload): AsyncGenerator<Buffer> {
    await d.committed;
    yield* readStream(this.deps.content, p.desc);
  }

  private async putImage(top: Descriptor): Promise<{ image: Image; created: boolean }> {
    const { images, namespace } = this.deps;
    const labels = this.opts.labels ?? {};
    const target = { mediaType: top.mediaType, digest: top.digest, size: top.size, ...(top.annotations ? { annotations: top.annotations } : {}) };
    try {
      return { image: await images.create(namespace, { name: this.name, target, labels }), created: true };
    } catch (err) {
      if (!isKind(err, 'AlreadyExists')) throw err;
    }
    const paths = ['target', ...Object.keys(labels).map((k) => `labels.${k}`)];
    return { image: await images.update(namespace, { name: this.name, target, labels }, paths), created: false };
  }
}

const isAbortOnly = (err: unknown): boolean => isKind(err, 'Aborted') || (err instanceof Error && err.name === 'AbortError');

/**
 * Pulls an image (see the top of this file). A corrupted layer whose ingest held bytes from an
 * earlier pull is tried once more from scratch: those earlier bytes may be what was wrong.
 */
export async function pull(deps: PullDeps, opts: PullOptions): Promise<PullResult> {
  try {
    return await new Pull(deps, opts).run();
  } catch (err) {
    if (err instanceof DigestMismatch && err.resumed > 0) {
      deps.log?.warn({ image: opts.reference, err: err.message }, 'pull: a resumed layer did not verify; pulling again from scratch');
      return new Pull(deps, opts).run();
    }
    throw err;
  }
}
