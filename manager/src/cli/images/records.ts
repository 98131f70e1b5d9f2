// Image records as Docker's tags: pointing a name at an image (tag, import), removing names
// and images (rmi, prune), with Docker's rules:
//   - an image that loses its last name stays, untagged (<none>): berth keeps it with a
//     `berth-dangling@<digest>` record (load.ts), so the collector does not take it;
//   - removing a name that other names share only untags; removing the last one (or the image
//     by id) deletes the image, unless a container uses it (then -f is needed, and a running
//     container's image is never deleted by id);
//   - what a deletion frees is collected by berthd's garbage collector afterwards.

import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import { danglingName, putRecord } from './load';
import { isDanglingName, type ImageInfo } from './inventory';
import { familiarName, type Descriptor } from '../../core/images';
import { shortId } from '../output/units';


async function deleteRecord(d: Daemon, name: string): Promise<void> {
  try {
    await d.images.Delete({ name, sync: false });
  } catch (err) {
    if (grpcCode(err) !== NOT_FOUND) throw err;
  }
}

/** Points `name` (full form) at `target`; the image it leaves keeps existing untagged. */
export async function tagImage(d: Daemon, name: string, target: Descriptor): Promise<void> {
  let previous: Descriptor | undefined;
  try {
    const { image } = await d.images.Get({ name });
    if (image?.target) previous = { mediaType: image.target.mediaType, digest: image.target.digest, size: image.target.size };
  } catch (err) {
    if (grpcCode(err) !== NOT_FOUND) throw err;
  }
  if (previous?.digest === target.digest) return;
  if (previous) {
    // the image this name leaves gets its untagged record first: between the move and a
    // later record, the collector could take an image nothing names
    const { images } = await d.images.List({ filters: [`target.digest==${previous.digest}`] });
    if (images.length === 1) await putRecord(d, danglingName(previous.digest), previous);
  }
  await putRecord(d, name, target);
  await deleteRecord(d, danglingName(target.digest));
}

export interface ContainerUse {
  id: string;
  image: string;
  running: boolean;
}

/** The containers that use an image: their `image` field is one of its names, or its id. */
export const usersOf = (img: ImageInfo, containers: ContainerUse[]): ContainerUse[] =>
  containers.filter((c) => c.image === img.id || c.image === img.target.digest || img.records.some((r) => r.name === c.image));

/** Deletes every record of the image; the lines Docker prints for it. */
export async function deleteImage(d: Daemon, img: ImageInfo): Promise<string[]> {
  const lines: string[] = [];
  for (const r of img.records) {
    await deleteRecord(d, r.name);
    if (!isDanglingName(r.name)) lines.push(`Untagged: ${familiarName(r.name)}`);
  }
  lines.push(`Deleted: ${img.id}`);
  return lines;
}

/**
 * `rmi` of one argument, whose image is `img`; `byName` is the record it named (undefined
 * when named by id). Returns Docker's lines.
 */
export async function removeImage(d: Daemon, arg: string, img: ImageInfo, byName: string | undefined, opts: { force: boolean; containers: ContainerUse[] }): Promise<string[]> {
  const users = usersOf(img, opts.containers);
  if (byName !== undefined && img.names.length > 1) {
    // one of several names: only the name goes
    await deleteRecord(d, byName);
    return [`Untagged: ${familiarName(byName)}`];
  }
  if (byName === undefined && img.names.length > 1 && !opts.force) {
    throw new CliError(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`);
  }
  const running = users.find((c) => c.running);
  if (running && (byName === undefined || !opts.force)) {
    throw new CliError(
      byName === undefined
        ? `conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image is being used by running container ${shortId(running.id)}`
        : `conflict: unable to remove repository reference "${arg}" (must force) - container ${shortId(running.id)} is using its referenced image ${shortId(img.id)}`,
    );
  }
  const stopped = users[0];
  if (stopped && !opts.force) {
    throw new CliError(
      byName === undefined
        ? `conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container ${shortId(stopped.id)}`
        : `conflict: unable to remove repository reference "${arg}" (must force) - container ${shortId(stopped.id)} is using its referenced image ${shortId(img.id)}`,
    );
  }
  if (users.length > 0) {
    // forced, image in use: Docker untags it but keeps the image for its containers (the
    // untagged record is made first, so the collector never sees it unnamed)
    await putRecord(d, danglingName(img.target.digest), img.target);
    const lines: string[] = [];
    for (const r of img.records) {
      if (isDanglingName(r.name)) continue;
      await deleteRecord(d, r.name);
      lines.push(`Untagged: ${familiarName(r.name)}`);
    }
    return lines;
  }
  return deleteImage(d, img);
}

/** Every container of the namespace (ctr's too: their images are in use as well) and whether it runs. */
export async function containerUses(d: Daemon): Promise<ContainerUse[]> {
  const [{ containers }, { tasks }] = await Promise.all([d.containers.List({ filters: [] }), d.tasks.List({ filter: '' })]);
  const running = new Set(tasks.filter((t) => t.status === 'RUNNING' || t.status === 'PAUSED' || t.status === 'CREATED').map((t) => t.containerId));
  return containers.map((c) => ({ id: c.id, image: c.image, running: running.has(c.id) }));
}
