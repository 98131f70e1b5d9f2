// Following a pull or push that berthd runs (berth.images.v1 Pull/Push, a stream of Progress
// messages): each layer's state becomes Docker's wording on a ProgressView line, the last
// message's image result is returned, and a failure becomes one line and exit status 1.
//
// Only layers get lines, as in Docker's output (the manifest and config are small and quick);
// the id is the layer digest's first 12 hex digits, as Docker shows it.

import type { ClientReadableStream } from '@grpc/grpc-js';
import type { berth } from '../../api';
import { CliError, isGrpcError } from '../errors';
import type { Logger } from '../log';
import type { ProgressView } from '../output/progress';
import { shortId } from '../output/units';

type Progress = berth.images.v1.Progress;
type Item = berth.images.v1.Item;
export type ImageResult = berth.images.v1.ImageResult;

export type TransferKind = 'pull' | 'push';

/** Docker's words for a layer's state; undefined for states that get no line of their own. */
export function statusText(kind: TransferKind, item: Pick<Item, 'status'>, opts: { unpack?: boolean } = {}): string | undefined {
  const pull = kind === 'pull';
  switch (item.status) {
    case 'waiting':
      return 'Waiting';
    case 'resolving':
      return pull ? 'Pulling fs layer' : 'Preparing';
    case 'downloading':
      return 'Downloading';
    case 'verifying':
      return 'Verifying Checksum';
    case 'extracting':
      return 'Extracting';
    case 'unpacked':
      return 'Pull complete';
    case 'exists':
      return pull ? 'Already exists' : 'Layer already exists';
    case 'mounted':
      return 'Mounted from another repository';
    case 'uploading':
      return 'Pushing';
    case 'done':
      return pull ? (opts.unpack === false ? 'Download complete' : 'Pull complete') : 'Pushed';
    case 'failed':
      return 'Failed';
    default:
      return undefined;
  }
}

/** States that show bytes: a bar while they last. */
const WITH_BYTES = new Set(['downloading', 'extracting', 'uploading']);
/** States a layer never leaves: a late message for it cannot take the line back. */
const FINAL = new Set(['unpacked', 'exists', 'mounted', 'done', 'failed']);

export interface TransferOptions {
  /** Where lines go; undefined shows nothing (-q). */
  view?: ProgressView;
  log: Logger;
  /** pull with skip_unpack: "Download complete" rather than "Pull complete". */
  unpack?: boolean;
  /** push: where a mounted layer came from ("library/busybox"), for "Mounted from …". */
  mountedFrom?: (digest: string) => Promise<string | undefined>;
  /** Lines the caller printed already: the same line from berthd is not shown twice. */
  printed?: Set<string>;
}

/**
 * A daemon error during a transfer: exit 1 with berthd's message on one line (Docker's 1 too).
 * UNAVAILABLE is berthd's own answer for a registry it cannot reach once berthd has answered
 * at all (`answered`); before that it is berthd that cannot be reached (errors.ts says so).
 */
export function transferError(err: unknown, answered = false): unknown {
  const UNAVAILABLE = 14;
  const CANCELLED = 1;
  if (isGrpcError(err) && (answered || err.code !== UNAVAILABLE) && err.code !== CANCELLED) {
    return new CliError(`error from berthd: ${(err.details || err.message).replace(/\s*\n\s*/g, '; ').trim()}`, 1);
  }
  return err;
}

/** Reads the stream to its end, showing the layers' states; resolves with the image result. */
export function followTransfer(stream: ClientReadableStream<Progress>, kind: TransferKind, opts: TransferOptions): Promise<ImageResult> {
  const shown = new Map<string, string>(); // digest → the status its line shows
  /** "Mounted from …" lines waiting for the source's name: the result waits for them. */
  const lookups: Promise<void>[] = [];
  let result: ImageResult | null = null;
  /** berthd sent headers or a message: an error from here on is its answer, not the connection's. */
  let answered = false;
  return new Promise<ImageResult>((resolve, reject) => {
    stream.on('metadata', () => (answered = true));
    stream.on('data', (msg: Progress) => {
      answered = true;
      if (msg.message) {
        // "Resolving …" is berthd's note to itself; Docker prints nothing like it
        if (/^Resolving\b/.test(msg.message)) opts.log.debug(msg.message);
        // the caller prints the digest after the layers itself, in Docker's order
        else if (msg.image && msg.message.startsWith('Digest: ')) opts.log.debug(msg.message);
        else if (!opts.printed?.has(msg.message)) opts.view?.line(msg.message);
      }
      for (const item of msg.items) {
        if (item.kind !== 'layer') {
          opts.log.debug(`${item.kind} ${item.digest}: ${item.status}`);
          continue;
        }
        const previous = shown.get(item.digest);
        if (previous !== undefined && FINAL.has(previous) && !FINAL.has(item.status)) continue;
        const text = statusText(kind, item, { unpack: opts.unpack !== false });
        if (text === undefined) continue;
        shown.set(item.digest, item.status);
        if (item.status === 'mounted' && opts.mountedFrom && opts.view) {
          const view = opts.view;
          lookups.push(
            opts.mountedFrom(item.digest).then(
              (from) => view.update(shortId(item.digest), from ? `Mounted from ${from}` : text),
              () => view.update(shortId(item.digest), text),
            ),
          );
          continue;
        }
        const bytes = WITH_BYTES.has(item.status) ? { current: Number(item.offset), total: Number(item.total) } : undefined;
        opts.view?.update(shortId(item.digest), text, bytes);
      }
      if (msg.image) result = msg.image;
    });
    stream.on('error', (err) => reject(transferError(err, answered)));
    stream.on('end', () => {
      void Promise.all(lookups).then(() => {
        if (result) resolve(result);
        else reject(new CliError(`berthd ended the ${kind} without a result`, 1));
      });
    });
  });
}
