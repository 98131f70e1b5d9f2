// A pull as Docker's client shows it, for `berth pull` and for `berth run/create` when the
// image is missing:
//
//   Using default tag: latest                       (when the name had neither tag nor digest)
//   latest: Pulling from library/busybox
//   a3ed95caeb02: Pull complete                     (a ProgressView: bars on a terminal)
//   Digest: sha256:…
//   Status: Downloaded newer image for busybox:latest   (or "Image is up to date for …")
//
// berthd does the work (berth.images.v1.Images/Pull); the client adds the stored credentials
// of the registry and tells "newer" from "up to date" by the image record before and after.

import type { Writable } from 'node:stream';
import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import type { Logger } from '../log';
import { ProgressView } from '../output/progress';
import { familiarReference, formatReference, parseReference, DEFAULT_TAG, type Reference } from '../../core/images';
import { authForHost } from './auth';
import { followTransfer, transferError, type ImageResult } from './transfer';


export type TerminalStream = Writable & { isTTY?: boolean; columns?: number };

export interface PullOptions {
  /** "os/arch[/variant]"; empty or undefined: this machine's. */
  platform?: string;
  /** Where the progress and status lines go; undefined prints nothing (-q). */
  out?: TerminalStream;
  env: Record<string, string | undefined>;
  log: Logger;
}

export interface PullResult {
  /** The full name: docker.io/library/busybox:latest. */
  name: string;
  image: ImageResult;
  upToDate: boolean;
}

/** Parses a user's reference with Docker's message for one that does not parse. */
export function parseUserReference(reference: string): Reference {
  try {
    return parseReference(reference);
  } catch (err) {
    throw new CliError(`invalid reference format: ${(err as Error).message}`);
  }
}

async function recordTarget(d: Daemon, name: string): Promise<string | undefined> {
  try {
    const { image } = await d.images.Get({ name });
    return image?.target?.digest;
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return undefined;
    throw err;
  }
}

export async function pullImage(d: Daemon, reference: string, opts: PullOptions): Promise<PullResult> {
  const parsed = parseUserReference(reference);
  const ref: Reference = parsed.tag === undefined && parsed.digest === undefined ? { ...parsed, tag: DEFAULT_TAG } : parsed;
  const name = formatReference(ref);
  const out = opts.out;
  const view = out ? new ProgressView(out, { tty: out.isTTY === true, ...(out.columns ? { columns: out.columns } : {}) }) : undefined;

  // asked first: berthd unreachable or a config file that does not parse fail before any line
  const before = await recordTarget(d, name);
  const auth = await authForHost(opts.env, ref.domain);
  if (parsed.tag === undefined && parsed.digest === undefined) view?.line(`Using default tag: ${DEFAULT_TAG}`);
  view?.line(`${ref.digest ?? ref.tag}: Pulling from ${ref.path}`);
  let stream;
  try {
    stream = d.berthImages.Pull({ reference: name, platform: opts.platform ?? '', ...(auth ? { auth } : {}) });
  } catch (err) {
    throw transferError(err);
  }
  const image = await followTransfer(stream, 'pull', { ...(view ? { view } : {}), log: opts.log });
  const upToDate = before !== undefined && before === image.digest;
  view?.line(`Digest: ${image.digest}`);
  view?.line(`Status: ${upToDate ? 'Image is up to date for' : 'Downloaded newer image for'} ${familiarReference(ref)}`);
  return { name: image.name || name, image, upToDate };
}
