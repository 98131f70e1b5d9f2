// Moving bytes between berth and files or its own stdin/stdout, with backpressure and
// without ever ending the process's stdout.

import { open, rename, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';

const READ_CHUNK = 1 << 20;

export interface FileChunks {
  chunks: AsyncIterable<Buffer>;
  /** Closes the file (also when `chunks` was never read); idempotent. */
  close(): Promise<void>;
}

/**
 * A file's bytes as a stream of chunks. The file is opened now, so that a missing or
 * unreadable file fails here (ENOENT naming it), before any work starts.
 */
export async function openFileChunks(file: string): Promise<FileChunks> {
  const fh = await open(file, 'r');
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const buf = Buffer.allocUnsafe(READ_CHUNK);
        const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
        if (bytesRead === 0) return;
        yield buf.subarray(0, bytesRead);
      }
    } finally {
      await close();
    }
  }
  return { chunks: chunks(), close };
}

export function readStreamChunks(stream: Readable): AsyncIterable<Buffer> {
  return stream as AsyncIterable<Buffer>;
}

/** Writes every chunk to `out`, waiting when it asks to; fails if `out` fails (EPIPE, ENOSPC). */
export async function writeAll(out: Writable, chunks: AsyncIterable<Buffer>): Promise<void> {
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onError = (err: Error) => {
    failure = err;
    wake?.();
  };
  out.on('error', onError);
  try {
    for await (const chunk of chunks) {
      if (failure) throw failure;
      if (!out.write(chunk)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          out.once('drain', resolve);
        });
        wake = undefined;
      }
      if (failure) throw failure;
    }
    // flushed: a write with a callback runs it once everything before it is handed over
    await new Promise<void>((resolve, reject) => out.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  } finally {
    out.off('error', onError);
  }
}

/**
 * Writes a file atomically: into a temporary file beside it, renamed over it only when
 * everything was written (so a failed save never leaves half an archive under the name).
 */
export async function writeFileAtomic(file: string, chunks: AsyncIterable<Buffer>): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    for await (const chunk of chunks) {
      for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
