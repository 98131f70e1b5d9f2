// Reading an image archive (docker-archive, OCI image layout, or both in one tar) as a stream.
//
// The tar is read once, front to back, never buffered whole: each file that can be a blob is
// handed to a BlobSink as it streams past (the CLI's sink writes it into berthd's content
// store), hashed on the way; the few small metadata files (manifest.json, index.json,
// oci-layout, repositories) are kept in memory. Which files are blobs is only known once
// manifest.json or index.json has been read, and `docker save` writes those last, so every
// other regular file goes to the sink; the importer's lease makes the ones nothing refers to
// collectable. Links are recorded and resolved afterwards (docker-archives made by skopeo or
// Docker link `<id>/layer.tar` to a file elsewhere in the archive).
//
// A file under blobs/sha256/ must hash to its name: a mismatch fails the body's stream at its
// end (before the sink commits) with an error naming the entry. A gzip file is also
// decompressed on the way and that digest kept, so that every layer's diffID is checked
// against its config before anything is unpacked — also the layers whose snapshots exist
// already and will not be unpacked again. The whole archive may be
// gzip- or zstd-compressed (what `docker load` accepts).

import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import * as posix from 'node:path/posix';
import { invalidArgument } from '../errors';
import { decompress, sniff, type Compression } from '../diff/compression';
import { readTar, type TarHeader } from '../diff/tar';

/** The metadata files of both formats. */
export const DOCKER_MANIFEST = 'manifest.json';
export const DOCKER_REPOSITORIES = 'repositories';
export const OCI_INDEX = 'index.json';
export const OCI_LAYOUT = 'oci-layout';
const METADATA_FILES = new Set([DOCKER_MANIFEST, DOCKER_REPOSITORIES, OCI_INDEX, OCI_LAYOUT]);
/** A metadata file larger than this is not one (an index of 16 MiB would be a million images). */
const MAX_METADATA = 16 << 20;

const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;
/** The per-layer `json` and `VERSION` files of the pre-1.10 docker-archive layout: never blobs. */
const LEGACY_LAYER_FILE = /^[a-f0-9]{64}\/(json|VERSION)$/;

/** The path of a blob in an OCI layout (and in Docker ≥25's docker-archive). */
export const blobPath = (digest: string): string => `blobs/sha256/${digest.slice('sha256:'.length)}`;

export interface ArchiveFile {
  path: string;
  digest: string;
  size: number;
  /** What the first bytes say (layers in a docker-archive carry no media type). */
  compression: Compression;
  /**
   * The digest of the decompressed bytes (the diffID, if it is a layer): the digest itself
   * for an uncompressed file, computed while streaming for gzip; absent for zstd (berth has
   * no streaming zstd decoder; such layers are checked when they are unpacked).
   */
  uncompressed?: string;
  /** Why the decompressed digest could not be computed (not valid gzip). */
  uncompressedError?: string;
}

export interface SinkEntry {
  /** The path inside the archive, normalised ("./a//b" → "a/b"). */
  path: string;
  size: number;
  /** The digest the path promises (blobs/sha256/<hex>), when it promises one. */
  expected?: string;
}

/**
 * Where blob files go. put() must consume `body` to its end (it fails at the end when an
 * expected digest does not match, before the sink should commit) and may read `digest()`
 * only after that.
 */
export interface BlobSink {
  put(entry: SinkEntry, body: AsyncIterable<Buffer>, digest: () => string): Promise<void>;
}

export interface ArchiveContents {
  /** Regular files handed to the sink, by normalised path. */
  files: Map<string, ArchiveFile>;
  /** Symbolic and hard links: path → normalised target path (inside the archive). */
  links: Map<string, string>;
  /** The metadata files present, by name. */
  metadata: Map<string, Buffer>;
}

/** Normalises a path inside the archive; null for one that leaves it. */
export function normalizePath(p: string): string | null {
  const n = posix.normalize(p.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../') || n === '.' || n === '') return null;
  return n;
}

/** The file a path names, following links (at most 16), or undefined. */
export function resolveFile(contents: ArchiveContents, path: string): ArchiveFile | undefined {
  let p: string | null = normalizePath(path);
  for (let hops = 0; p !== null && hops <= 16; hops++) {
    const f = contents.files.get(p);
    if (f) return f;
    const target = contents.links.get(p);
    if (target === undefined) return undefined;
    p = target;
  }
  return undefined;
}

/** The files of the archive by digest (the first of each). */
export function filesByDigest(contents: ArchiveContents): Map<string, ArchiveFile> {
  const m = new Map<string, ArchiveFile>();
  for (const f of contents.files.values()) if (!m.has(f.digest)) m.set(f.digest, f);
  return m;
}

async function collect(body: AsyncIterable<Buffer>, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) throw invalidArgument(`archive entry ${JSON.stringify(what)}: larger than ${max} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** Reads the whole archive from `source`, sending blob files to `sink`. */
export async function readArchive(source: AsyncIterable<Buffer>, sink: BlobSink): Promise<ArchiveContents> {
  const contents: ArchiveContents = { files: new Map(), links: new Map(), metadata: new Map() };
  let entries = 0;
  // For errors: the entry being read, else the last one read (a failure between entries).
  let current: string | null = null;
  let last = '';
  try {
    for await (const { header, body } of readTar(decompress(source))) {
      entries++;
      current = header.name;
      await readEntry(contents, sink, header, body);
      last = current;
      current = null;
    }
  } catch (err) {
    throw withEntry(err, current, last);
  }
  if (entries === 0) throw invalidArgument('archive is empty (not a tar, or nothing in it)');
  return contents;
}

async function readEntry(contents: ArchiveContents, sink: BlobSink, header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
  const path = normalizePath(header.name);
  if (path === null) {
    if (header.type === 'directory') return; // "./" itself
    throw invalidArgument('path leaves the archive');
  }
  if (header.type === 'symlink' || header.type === 'link') {
    // symlinks are relative to their directory, hard links to the archive's root
    const target = normalizePath(header.type === 'symlink' && !header.linkname.startsWith('/') ? posix.join(posix.dirname(path), header.linkname) : header.linkname);
    if (target !== null) contents.links.set(path, target);
    return;
  }
  if (header.type !== 'file') return;
  if (METADATA_FILES.has(path)) {
    contents.metadata.set(path, await collect(body, MAX_METADATA, path));
    return;
  }
  if (LEGACY_LAYER_FILE.test(path)) {
    for await (const _ of body) void _; // read here, so a truncation is blamed on this entry
    return;
  }
  const m = BLOB_PATH.exec(path);
  const expected = m ? `sha256:${m[1]}` : undefined;
  const file: ArchiveFile = { path, digest: '', size: header.size, compression: 'none' };
  const hash = createHash('sha256');
  // the first bytes are held until there are 4 of them, to tell the compression
  let head: Buffer[] | null = [];
  let headBytes = 0;
  let gunzip: GunzipHasher | null = null;
  const decided = async (first: Buffer[]) => {
    file.compression = sniff(Buffer.concat(first));
    if (file.compression === 'gzip') {
      gunzip = new GunzipHasher();
      for (const c of first) await gunzip.write(c);
    }
  };
  let digest = '';
  const hashed = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      hash.update(chunk);
      if (head !== null) {
        head.push(chunk);
        headBytes += chunk.length;
        if (headBytes >= 4) {
          const first = head;
          head = null;
          await decided(first);
        }
      } else if (gunzip) {
        await (gunzip as GunzipHasher).write(chunk);
      }
      yield chunk;
    }
    if (head !== null) await decided(head);
    digest = `sha256:${hash.digest('hex')}`;
    if (expected && digest !== expected) throw invalidArgument(`content is ${digest}, not the digest its name says`);
    if (file.compression === 'none') file.uncompressed = digest;
    else if (gunzip) Object.assign(file, await (gunzip as GunzipHasher).end());
  };
  await sink.put({ path, size: header.size, ...(expected ? { expected } : {}) }, hashed(), () => {
    if (!digest) throw new Error(`digest of ${path} read before its body was consumed`);
    return digest;
  });
  if (!digest) throw new Error(`the blob sink did not consume ${path}`);
  file.digest = digest;
  contents.files.set(path, file);
}

/** The sha256 of a gzip stream's decompressed bytes, fed chunk by chunk (with backpressure). */
class GunzipHasher {
  private readonly gz = createGunzip();
  private readonly hash = createHash('sha256');
  private error: Error | undefined;
  private readonly ended: Promise<void>;

  constructor() {
    this.gz.on('data', (c: Buffer) => this.hash.update(c));
    this.ended = new Promise((resolve) => {
      this.gz.once('end', resolve);
      this.gz.once('error', (err) => {
        this.error = err;
        resolve();
      });
    });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.error) return;
    if (!this.gz.write(chunk)) await Promise.race([new Promise((r) => this.gz.once('drain', r)), this.ended]);
  }

  async end(): Promise<{ uncompressed?: string; uncompressedError?: string }> {
    if (!this.error) this.gz.end();
    await this.ended;
    return this.error ? { uncompressedError: `not valid gzip (${this.error.message})` } : { uncompressed: `sha256:${this.hash.digest('hex')}` };
  }
}

/** Prefixes an error with the archive entry it happened in, or the one before it (once). */
function withEntry(err: unknown, entry: string | null, last: string): unknown {
  if (!(err instanceof Error) || (err as { archiveEntry?: boolean }).archiveEntry) return err;
  const where = entry !== null ? `archive entry ${JSON.stringify(entry)}` : last ? `archive, after entry ${JSON.stringify(last)}` : 'archive';
  err.message = `${where}: ${err.message}`;
  (err as { archiveEntry?: boolean }).archiveEntry = true;
  return err;
}
