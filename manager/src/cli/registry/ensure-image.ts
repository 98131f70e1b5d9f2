// run/create's --pull (Docker's): "missing" (the default) pulls when no local image has the
// name, printing "Unable to find image 'busybox:latest' locally" and the pull's progress on
// stderr (stdout is the container's, or the id create prints); "always" pulls first whatever
// is there; "never" fails with Docker's "No such image" when it is not there.

import type { CommandContext } from '../command';
import type { Daemon } from '../daemon';
import { CliError, EXIT_BERTH } from '../errors';
import { findImages, type FoundImage } from '../images/resolve';
import type { PullPolicy } from '../containers/run-options';
import { familiarReference, DEFAULT_TAG } from '../../core/images';
import { parseUserReference, pullImage } from './pull';

/** The image as Docker names it in these messages: with its tag ("busybox:latest"). */
function displayName(image: string): string {
  try {
    const r = parseUserReference(image);
    return familiarReference(r.tag === undefined && r.digest === undefined ? { ...r, tag: DEFAULT_TAG } : r);
  } catch {
    return image;
  }
}

/**
 * Makes sure `image` is local as the policy says, pulling it if needed. Returns the local image
 * when no pull was done (createContainer takes it rather than looking it up again); undefined
 * after a pull.
 */
export async function ensureImage(ctx: CommandContext, d: Daemon, image: string, policy: PullPolicy): Promise<FoundImage | undefined> {
  let local: FoundImage | undefined;
  try {
    [local] = await findImages(d, image);
  } catch (err) {
    if (!(err instanceof CliError && /^no such image/.test(err.message))) throw err;
  }
  // An image named by its id has no registry to come from: there is nothing to pull.
  if (local && (policy !== 'always' || local.names.length === 0)) return local;
  if (!local && policy === 'never') throw new CliError(`No such image: ${displayName(image)}`, EXIT_BERTH);
  if (!local) ctx.io.stderr.write(`Unable to find image '${displayName(image)}' locally\n`);
  try {
    await pullImage(d, image, { env: ctx.io.env, log: ctx.log, out: ctx.io.stderr });
  } catch (err) {
    // run/create fail with 125 for anything before the container exists (Docker's)
    if (err instanceof CliError) throw new CliError(err.message, EXIT_BERTH);
    throw err;
  }
  return undefined;
}
