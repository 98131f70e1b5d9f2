// The work of `image prune` and `system prune`: the client removes what Docker would (stopped
// berth containers, untagged or unused images) through the containerd services, then asks
// berthd for a garbage collection (System.Prune); the space reclaimed is what the collections
// since the first deletion freed (the growth of the collector's totals), so it counts blobs
// and snapshot directories really deleted — not an estimate.

import type { CommandContext } from '../command';
import type { Daemon } from '../daemon';
import { grpcCode, NOT_FOUND } from '../errors';
import { inventory } from '../images/inventory';
import { containerUses, deleteImage, usersOf } from '../images/records';
import { listContainers } from '../containers/resolve';


/** Docker's prompt: the warning, then "Are you sure you want to continue? [y/N] "; true on y/yes. */
export async function confirm(ctx: CommandContext, warning: string): Promise<boolean> {
  ctx.io.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const line = await readLine(ctx.io.stdin);
  return /^\s*y(es)?\s*$/i.test(line);
}

function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const done = () => {
      stream.off('data', onData);
      stream.off('end', done);
      stream.pause();
      resolve(buf.split('\n')[0] ?? '');
    };
    const onData = (chunk: Buffer | string) => {
      buf += chunk.toString();
      if (buf.includes('\n')) done();
    };
    stream.on('data', onData);
    stream.once('end', done);
    stream.resume();
  });
}

export const gcBefore = async (d: Daemon): Promise<number> => (await d.system.GcTotals({})).bytesFreed;

/** Collects now; the bytes freed since `before`. */
export async function collect(d: Daemon, before: number): Promise<number> {
  const r = await d.system.Prune({});
  return Math.max(0, (r.totals?.bytesFreed ?? 0) - before);
}

const ignoreNotFound = (err: unknown) => {
  if (grpcCode(err) !== NOT_FOUND) throw err;
};

/** Removes every berth container that is not running (no task, or a stopped one); their ids. */
export async function pruneContainers(d: Daemon): Promise<string[]> {
  const { tasks } = await d.tasks.List({ filter: '' });
  const status = new Map(tasks.map((t) => [t.containerId, t.status]));
  const removed: string[] = [];
  for (const c of await listContainers(d)) {
    const s = status.get(c.id);
    if (s !== undefined && s !== 'STOPPED') continue;
    if (s === 'STOPPED') await d.tasks.Delete({ containerId: c.id }).catch(ignoreNotFound);
    await d.containers.Delete({ id: c.id }).catch(ignoreNotFound);
    if (c.snapshotKey && c.snapshotter) await d.snapshots.Remove({ snapshotter: c.snapshotter, key: c.snapshotKey }).catch(ignoreNotFound);
    removed.push(c.id);
  }
  return removed;
}

/** Removes untagged images (all: every image) no container uses; Docker's "untagged:"/"deleted:" lines. */
export async function pruneImages(d: Daemon, opts: { all: boolean }): Promise<string[]> {
  const images = await inventory(d, { usage: new Map() });
  const containers = await containerUses(d);
  const lines: string[] = [];
  for (const img of images) {
    if (!opts.all && img.names.length > 0) continue;
    if (usersOf(img, containers).length > 0) continue;
    for (const l of await deleteImage(d, img)) lines.push(l.replace(/^Untagged:/, 'untagged:').replace(/^Deleted:/, 'deleted:'));
  }
  return lines;
}
