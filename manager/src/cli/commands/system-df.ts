// berth system df [-v] [--format]: Docker's disk usage summary from System.Df (every blob's
// and snapshot's size in one call) and the image and container records.
//   Images: total, active (used by a container), SIZE = the unpacked layers, each counted
//           once however many images share it; RECLAIMABLE = the layers only unused images have.
//   Containers: total, active (running), SIZE = their writable layers; RECLAIMABLE = those of
//           the ones not running.
//   Local Volumes: total, active (used by a container), SIZE = their files; RECLAIMABLE = those
//           of the ones no container uses (berth.volumes.v1 List with sizes: a walk of each).
//   Build Cache: none yet (builds bring it).

import type { CommandSpec } from '../command';
import { inventory, diskUsage, type ImageInfo } from '../images/inventory';
import { imagesInUse } from '../images/inventory';
import { listContainers } from '../containers/resolve';
import { formatList } from '../output/format';
import { ago, humanSize, shortId } from '../output/units';
import { familiarName } from '../../core/images';
import type { Daemon } from '../daemon';
import type { VolumeMessage } from '../volumes/view';

/** Every volume with its size; none from a berthd without the volumes service. */
async function volumeUsage(d: Daemon): Promise<VolumeMessage[]> {
  const UNIMPLEMENTED = 12;
  try {
    return (await d.volumes.List({ filters: [], size: true })).volumes as VolumeMessage[];
  } catch (err) {
    if ((err as { code?: number }).code === UNIMPLEMENTED) return [];
    throw err;
  }
}

export interface DfRow {
  Type: string;
  TotalCount: number;
  Active: number;
  Size: string;
  Reclaimable: string;
}

export const reclaimable = (bytes: number, total: number): string => (total > 0 ? `${humanSize(bytes)} (${Math.floor((bytes * 100) / total)}%)` : humanSize(bytes));

/** Sum of distinct layers' sizes over the images. */
function layersSize(images: ImageInfo[]): number {
  const sizes = new Map<string, number>();
  for (const img of images) img.chain.forEach((c, i) => sizes.set(c, img.layerSizes[i] ?? 0));
  let total = 0;
  for (const s of sizes.values()) total += s;
  return total;
}

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Show berth disk usage',
  options: [
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
    { long: 'verbose', short: 'v', type: 'boolean', description: 'Show detailed information on space usage' },
  ],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const usage = await diskUsage(d);
    const images = await inventory(d, { usage: usage.snapshots, warn: (m) => ctx.log.debug(m) });
    const containers = await listContainers(d);
    const { tasks } = await d.tasks.List({ filter: '' });
    const running = new Set(tasks.filter((t) => t.status === 'RUNNING' || t.status === 'PAUSED').map((t) => t.containerId));
    const { containers: all } = await d.containers.List({ filters: [] });
    const used = imagesInUse(images, all.map((c) => c.image));
    const volumes = await volumeUsage(d);
    const volumesTotal = volumes.reduce((a, v) => a + Math.max(0, v.size), 0);
    const volumesIdle = volumes.filter((v) => v.usedBy.length === 0).reduce((a, v) => a + Math.max(0, v.size), 0);

    const imagesTotal = layersSize(images);
    const activeLayers = layersSize(images.filter((i) => used.has(i.id)));
    const rwSize = (c: { snapshotKey: string }) => usage.snapshots.get(c.snapshotKey) ?? 0;
    const containersTotal = containers.reduce((a, c) => a + rwSize(c), 0);
    const containersIdle = containers.filter((c) => !running.has(c.id)).reduce((a, c) => a + rwSize(c), 0);

    if (parsed.bool('verbose') && !parsed.string('format')) {
      const out = ctx.io.stdout;
      out.write(`Images space usage:\n\n`);
      const imageRows = images.flatMap((img) => {
        const users = all.filter((c) => img.records.some((r) => r.name === c.image) || c.image === img.id).length;
        const names = img.names.length ? img.names.map(familiarName) : ['<none>:<none>'];
        return names.map((n) => {
          const colon = n.lastIndexOf(':');
          return { Repository: n.slice(0, colon), Tag: n.slice(colon + 1), ID: shortId(img.id), CreatedSince: ago(img.created), Size: humanSize(img.size), Containers: users };
        });
      });
      out.write(formatList(imageRows, undefined, { defaultFormat: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.Containers}}', titles: { ID: 'IMAGE ID', CreatedSince: 'CREATED' } }));
      out.write(`\nContainers space usage:\n\n`);
      const containerRows = containers.map((c) => ({ ID: shortId(c.id), Image: familiarName(c.image), Size: humanSize(rwSize(c)), CreatedSince: ago(c.createdAt), Status: running.has(c.id) ? 'running' : 'stopped', Names: c.name }));
      out.write(formatList(containerRows, undefined, { defaultFormat: 'table {{.ID}}\t{{.Image}}\t{{.Size}}\t{{.CreatedSince}}\t{{.Status}}\t{{.Names}}', titles: { ID: 'CONTAINER ID', CreatedSince: 'CREATED' } }));
      out.write(`\nLocal Volumes space usage:\n\n`);
      const volumeRows = volumes.map((v) => ({ Name: v.name, Links: v.usedBy.length, Size: humanSize(Math.max(0, v.size)) }));
      out.write(formatList(volumeRows, undefined, { defaultFormat: 'table {{.Name}}\t{{.Links}}\t{{.Size}}', titles: { Name: 'VOLUME NAME' } }));
      out.write(`\nBuild cache usage: 0B\n`);
      return;
    }
    const rows: DfRow[] = [
      { Type: 'Images', TotalCount: images.length, Active: used.size, Size: humanSize(imagesTotal), Reclaimable: reclaimable(imagesTotal - activeLayers, imagesTotal) },
      { Type: 'Containers', TotalCount: containers.length, Active: containers.filter((c) => running.has(c.id)).length, Size: humanSize(containersTotal), Reclaimable: reclaimable(containersIdle, containersTotal) },
      { Type: 'Local Volumes', TotalCount: volumes.length, Active: volumes.filter((v) => v.usedBy.length > 0).length, Size: humanSize(volumesTotal), Reclaimable: reclaimable(volumesIdle, volumesTotal) },
      { Type: 'Build Cache', TotalCount: 0, Active: 0, Size: '0B', Reclaimable: '0B' },
    ];
    ctx.io.stdout.write(
      formatList(rows, parsed.string('format'), {
        defaultFormat: 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}',
        titles: { TotalCount: 'TOTAL' },
      }),
    );
  },
};
