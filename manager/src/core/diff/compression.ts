// Layer media types and compression: what a layer blob is, and a stream of its tar bytes.

import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { invalidArgument, notImplemented } from '../errors';

export type Compression = 'none' | 'gzip' | 'zstd';

export const MEDIA_TYPES = {
  ociTar: 'application/vnd.oci.image.layer.v1.tar',
  ociGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

const KNOWN: Record<string, Compression> = {
  [MEDIA_TYPES.ociTar]: 'none',
  [MEDIA_TYPES.ociGzip]: 'gzip',
  [MEDIA_TYPES.ociZstd]: 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  [MEDIA_TYPES.dockerGzip]: 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
};

/** The compression a media type declares; unknown layer types (encrypted, …) are refused. */
export function compressionOf(mediaType: string): Compression {
  const c = KNOWN[mediaType];
  if (c === undefined) throw notImplemented(`unsupported layer media type ${JSON.stringify(mediaType)}`);
  return c;
}

export function sniff(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/**
 * The uncompressed bytes of a layer. Compression is detected from the magic bytes (as
 * containerd does: some registries label plain tars as gzip), except that a media type that
 * says plain tar is taken at its word.
 */
export async function* decompress(source: AsyncIterable<Buffer>, mediaType?: string): AsyncGenerator<Buffer> {
  const declared = mediaType === undefined ? undefined : compressionOf(mediaType);
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  while (headLen < 4) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head.push(r.value);
    headLen += r.value.length;
  }
  const first = Buffer.concat(head);
  const rest = async function* (): AsyncGenerator<Buffer> {
    if (first.length) yield first;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  };
  const kind = declared === 'none' ? 'none' : sniff(first);
  if (kind === 'none') {
    yield* rest();
  } else if (kind === 'gzip') {
    // 64 KiB pieces rather than zlib's 16 KiB: a quarter of the thread-pool trips and of
    // the chunks every consumer (tar reader, hash) handles, measurably less CPU per layer
    const gunzip = createGunzip({ chunkSize: 64 * 1024 });
    const input = Readable.from(rest());
    input.on('error', (e) => gunzip.destroy(e));
    input.pipe(gunzip);
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } catch (e) {
      input.destroy();
      const err = e as NodeJS.ErrnoException;
      if (err.code?.startsWith('Z_')) throw invalidArgument(`gzip: ${err.message}`);
      throw e;
    }
  } else {
    yield* zstdDecompress(rest());
  }
}

// Node 20 has no zstd in zlib: the zstd program does it, as a pipe.
async function* zstdDecompress(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? notImplemented('zstd layers need the zstd program (Debian package zstd)') : e),
    );
  });
  const exited = new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  child.stdin.on('error', () => undefined);
  await spawned;
  const feed = Readable.from(input);
  let feedError: unknown = null;
  feed.on('error', (e) => {
    feedError = e;
    child.kill();
  });
  feed.pipe(child.stdin);
  let drained = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    drained = true;
  } finally {
    // a consumer that stopped early leaves zstd running: stop it. One that read to the end
    // waits for its exit status (it may not have exited yet when its stdout closed).
    if (!drained && child.exitCode === null) child.kill();
  }
  const code = await exited;
  if (feedError) throw feedError;
  if (code !== 0) throw invalidArgument(`zstd: ${Buffer.concat(stderr).toString().trim() || `exit ${code}`}`);
}
