// The push pipeline: a local image (its record's target, an index or manifest) → a registry
// repository, as containerd's and Docker's pushers do it:
//
//   - blobs (configs, layers) first, a few at a time: HEAD says the repository has it → skip;
//     else, when the blob's containerd.io/distribution.source.<host> label names another
//     repository of the same registry, a cross-repository mount; else an upload (monolithic,
//     or chunked with upload_chunk_size), resumable where the registry reports what it got
//   - each manifest after its blobs, an index after its manifests, the top one last and the
//     only one under the tag — so the tag never names something incomplete
//   - non-distributable (foreign) layers are not pushed (containerd's default): their
//     descriptors carry the URLs to fetch them from
//   - an index whose manifests are not all in the content store (a pull keeps one platform):
//     the host's platform's manifest is pushed in its place, with a message, or the one named
//     by `platform`
// Every blob that ends up in the repository (pushed, mounted or found) gets that repository
// in its distribution-source label, so a later push elsewhere in the registry can mount it.

import { Readable } from 'node:stream';
import type { ContentStore } from '../content';
import { hasBlob, readBlob, readStream } from '../content';
import { failedPrecondition, invalidArgument, isKind, notFound } from '../errors';
import { isIndexType, isManifestType, normalizeName, parseIndex, parseManifest, parseReference, type Descriptor, type Platform } from '../images';
import type { Image, ImageStore } from '../metadata';
import type { Pusher, Resolver } from '../registry/types';
import { Limit } from '../pull/limit';
import { recordSource, sourcesOf } from '../pull/labels';
import { chooseManifest, defaultPlatform, formatPlatform } from '../pull/platform';
import { named } from '../pull/pull';
import { ProgressTracker, type ItemKind, type ProgressSink } from '../pull/progress';

export interface PushDeps {
  namespace: string;
  resolver: Resolver;
  content: ContentStore;
  images: ImageStore;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export interface PushOptions {
  /** The local image (a record's name; normalized here). */
  reference: string;
  /** Where to push when not to `reference` itself. */
  destination?: string;
  /** Push only this platform's manifest of an index. */
  platform?: Platform;
  maxConcurrentUploads?: number;
  /** Bytes per PATCH; 0 or absent: one monolithic PUT per blob. */
  chunkSize?: number;
  onProgress?: ProgressSink;
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

export interface PushResult {
  /** The destination's full name ("127.0.0.1:5000/app:1"). */
  name: string;
  /** What the tag now points at in the registry. */
  target: Descriptor;
  /** Blobs by outcome (counts), for logs and tests. */
  uploaded: number;
  mounted: number;
  skipped: number;
}

const NON_DISTRIBUTABLE = /nondistributable|foreign/;

/** A manifest and its blobs, or an index and its manifests. */
interface Node {
  desc: Descriptor;
  bytes: Buffer;
  kind: 'index' | 'manifest';
  blobs: Descriptor[];
  children: Node[];
}

class Push {
  private readonly progress: ProgressTracker;
  private readonly abort = new AbortController();
  private readonly signal: AbortSignal;
  private pusher!: Pusher;
  private host = '';
  private repository = '';
  private name = '';
  private readonly blobJobs = new Map<string, Promise<void>>();
  private readonly counts = { uploaded: 0, mounted: 0, skipped: 0 };
  private readonly limit: Limit;

  constructor(
    private readonly deps: PushDeps,
    private readonly opts: PushOptions,
  ) {
    this.progress = new ProgressTracker(opts.onProgress, opts.progressIntervalMs);
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.abort.signal]) : this.abort.signal;
    this.limit = new Limit(Math.max(1, opts.maxConcurrentUploads ?? 3));
  }

  async run(): Promise<PushResult> {
    const { deps, opts } = this;
    const started = Date.now();
    const localName = normalizeName(opts.reference);
    let image: Image;
    try {
      image = deps.images.get(deps.namespace, localName);
    } catch (err) {
      if (isKind(err, 'NotFound')) throw notFound(`An image does not exist locally with the tag: ${opts.reference}`);
      throw err;
    }
    this.name = opts.destination ? normalizeName(opts.destination) : image.name;
    const dest = parseReference(this.name);
    this.host = dest.domain;
    this.repository = dest.path;
    if (dest.digest && dest.tag === undefined && dest.digest !== image.target.digest) {
      throw invalidArgument(`${this.name}: the digest does not match the image's (${image.target.digest})`);
    }
    this.pusher = deps.resolver.pusher(this.name);
    this.progress.message(`The push refers to repository [${dest.domain}/${dest.path}]`);

    try {
      const root = await this.plan(image.target);
      await this.pushNode(root, dest.tag);
      this.progress.close();
      deps.log?.info({ image: localName, destination: this.name, digest: root.desc.digest, ...this.counts, ms: Date.now() - started }, 'pushed image');
      return { name: this.name, target: root.desc, ...this.counts };
    } catch (err) {
      this.abort.abort(err);
      this.progress.close();
      throw err;
    }
  }

  private async read(desc: Descriptor, what: string): Promise<Buffer> {
    try {
      return await readBlob(this.deps.content, desc);
    } catch (err) {
      if (isKind(err, 'NotFound')) throw failedPrecondition(`${this.name}: ${what} ${desc.digest} is not in the content store`);
      throw err;
    }
  }

  /** The tree to push from `desc`, checking that every blob it needs is stored. */
  private async plan(desc: Descriptor): Promise<Node> {
    const what = isIndexType(desc.mediaType) ? 'index' : 'manifest';
    const bytes = await this.read(desc, what);
    if (isManifestType(desc.mediaType)) {
      const m = parseManifest(bytes, `manifest ${desc.digest}`);
      const blobs = [m.config, ...m.layers].filter((b) => !(NON_DISTRIBUTABLE.test(b.mediaType) || (b.urls?.length ?? 0) > 0));
      for (const b of blobs) if (!(await hasBlob(this.deps.content, b.digest))) throw failedPrecondition(`${this.name}: blob ${b.digest} of manifest ${desc.digest} is not in the content store`);
      const node: Node = { desc, bytes, kind: 'manifest', blobs, children: [] };
      this.progress.add(desc, 'manifest');
      this.progress.add(m.config, 'config');
      for (const l of blobs.slice(1)) this.progress.add(l, 'layer');
      return node;
    }
    if (!isIndexType(desc.mediaType)) throw failedPrecondition(`${this.name}: cannot push ${desc.digest}: media type ${JSON.stringify(desc.mediaType)} is not an image index or manifest`);
    const index = parseIndex(bytes, `index ${desc.digest}`);
    const present: Descriptor[] = [];
    for (const m of index.manifests) if (await hasBlob(this.deps.content, m.digest)) present.push(m);
    const want = this.opts.platform;
    if (want || present.length < index.manifests.length) {
      // one platform: its manifest is pushed alone, under the tag
      const p = want ?? defaultPlatform();
      const chosen = chooseManifest(present, p);
      if (!chosen) throw notFound(`${this.name}: no manifest for platform ${formatPlatform(p)} in the content store (index ${desc.digest})`);
      if (!want) this.progress.message(`Only ${present.length} of the ${index.manifests.length} manifests of index ${desc.digest} are stored: pushing the ${formatPlatform(p)} one`);
      return this.plan(chosen);
    }
    const children: Node[] = [];
    for (const m of index.manifests) children.push(await this.plan(m));
    this.progress.add(desc, 'index');
    return { desc, bytes, kind: 'index', blobs: [], children };
  }

  /** Pushes a node's blobs and children, then the node itself (under `tag` for the top one). */
  private async pushNode(node: Node, tag: string | undefined): Promise<void> {
    await Promise.all([...node.children.map((c) => this.pushNode(c, undefined)), ...node.blobs.map((b) => this.blob(b))]);
    this.progress.update(node.desc.digest, { status: 'uploading' });
    try {
      await this.pusher.putManifest(node.desc, node.bytes, tag);
    } catch (err) {
      this.progress.update(node.desc.digest, { status: 'failed' });
      throw named(err, `${this.name}: ${node.kind} ${node.desc.digest}`);
    }
    await recordSource(this.deps.content, node.desc.digest, this.host, this.repository);
    this.progress.update(node.desc.digest, { status: 'done', offset: node.desc.size });
  }

  /** One blob, once per push whatever lists it. */
  private blob(desc: Descriptor): Promise<void> {
    let job = this.blobJobs.get(desc.digest);
    if (!job) {
      job = this.limit.run(() => this.pushBlob(desc));
      this.blobJobs.set(desc.digest, job);
    }
    return job;
  }

  private async pushBlob(desc: Descriptor): Promise<void> {
    const kind: ItemKind = this.progress.get(desc.digest)?.kind ?? 'layer';
    const what = `${this.name}: ${kind} ${desc.digest}`;
    try {
      if (this.signal.aborted) throw this.signal.reason;
      if (await this.pusher.exists(desc)) {
        this.counts.skipped++;
        this.progress.update(desc.digest, { status: 'exists', offset: desc.size });
      } else if (await this.mount(desc)) {
        this.counts.mounted++;
        this.progress.update(desc.digest, { status: 'mounted', offset: desc.size });
      } else {
        this.progress.update(desc.digest, { status: 'uploading', offset: 0 });
        await this.pusher.upload(desc, (offset) => this.open(desc, offset), {
          ...(this.opts.chunkSize ? { chunkSize: this.opts.chunkSize } : {}),
          onProgress: (sent) => this.progress.update(desc.digest, { offset: sent }),
          signal: this.signal,
        });
        this.counts.uploaded++;
        this.progress.update(desc.digest, { status: 'done', offset: desc.size });
      }
      await recordSource(this.deps.content, desc.digest, this.host, this.repository);
    } catch (err) {
      this.progress.update(desc.digest, { status: 'failed' });
      this.abort.abort(err);
      throw named(err, what);
    }
  }

  /** A cross-repository mount from a repository of this registry the blob came from. */
  private async mount(desc: Descriptor): Promise<boolean> {
    const info = await this.deps.content.info(desc.digest);
    for (const from of sourcesOf(info.labels, this.host)) {
      if (from === this.repository) continue;
      if (await this.pusher.mount(desc, from).catch(() => false)) return true;
    }
    return false;
  }

  /** The blob's bytes from `offset`. */
  private async open(desc: Descriptor, offset: number): Promise<Readable> {
    return Readable.from(readStream(this.deps.content, desc, 1 << 20, offset), { objectMode: false });
  }
}

export function push(deps: PushDeps, opts: PushOptions): Promise<PushResult> {
  return new Push(deps, opts).run();
}
