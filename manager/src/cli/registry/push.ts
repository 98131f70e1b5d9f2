// A push as Docker's client shows it (`berth push`):
//
//   The push refers to repository [127.0.0.1:5000/app]
//   5f70bf18a086: Pushed                            (Preparing, Pushing [==>  ], Layer already
//   1: digest: sha256:… size: 527                    exists, Mounted from …; bars on a terminal)
//
// berthd does the work (berth.images.v1.Images/Push) with the credentials stored for the
// destination's registry, which the client reads and sends.

import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import type { Logger } from '../log';
import { ProgressView } from '../output/progress';
import { familiarReference, formatReference, repositoryOf, type Reference } from '../../core/images';
import { sourceLabelKey } from '../../core/pull/labels';
import { authForHost } from './auth';
import type { TerminalStream } from './pull';
import { followTransfer, transferError, type ImageResult } from './transfer';


export interface PushOptions {
  platform?: string;
  out?: TerminalStream;
  env: Record<string, string | undefined>;
  log: Logger;
}

/** Pushes the local image `ref` (a tag) to where its name says; prints Docker's lines to `out`. */
export async function pushImage(d: Daemon, ref: Reference, opts: PushOptions): Promise<ImageResult> {
  const name = formatReference(ref);
  try {
    await d.images.Get({ name });
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) throw new CliError(`An image does not exist locally with the tag: ${familiarReference(ref)}`);
    throw err;
  }
  const out = opts.out;
  const view = out ? new ProgressView(out, { tty: out.isTTY === true, ...(out.columns ? { columns: out.columns } : {}) }) : undefined;
  const header = `The push refers to repository [${repositoryOf(ref)}]`;
  view?.line(header);
  const auth = await authForHost(opts.env, ref.domain);
  let stream;
  try {
    stream = d.berthImages.Push({ reference: name, platform: opts.platform ?? '', ...(auth ? { auth } : {}) });
  } catch (err) {
    throw transferError(err);
  }
  // berthd mounts a layer from a repository its distribution-source label names; the client
  // reads the same label to say which (the push adds our repository to it: not that one)
  const mountedFrom = async (digest: string) => {
    const { info } = await d.content.Info({ digest });
    const repos = (info?.labels[sourceLabelKey(ref.domain)] ?? '').split(',').filter((r) => r && r !== ref.path);
    return repos[0];
  };
  const image = await followTransfer(stream, 'push', { ...(view ? { view } : {}), log: opts.log, mountedFrom, printed: new Set([header]) });
  view?.line(`${ref.tag ?? ref.digest}: digest: ${image.digest} size: ${image.size}`);
  return image;
}
