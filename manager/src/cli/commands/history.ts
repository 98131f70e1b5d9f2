// berth history [OPTIONS] IMAGE: the image's history from its config, newest first (Docker's
// layout). A step that made a layer shows that layer's size (its snapshot's disk use); the
// top row carries the image id, the rows below <missing> (berth keeps no intermediate images,
// like an image pulled from a registry).

import type { CommandSpec } from '../command';
import { CliError } from '../errors';
import { inventory } from '../images/inventory';
import { findImages } from '../images/resolve';
import { formatList } from '../output/format';
import { ago, ellipsis, humanSize, shortId } from '../output/units';

interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface HistoryRow {
  ID: string;
  CreatedSince: string;
  CreatedAt: string;
  CreatedBy: string;
  Size: string;
  Comment: string;
}

export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE',
  summary: 'Show the history of an image',
  options: [
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
    { long: 'human', short: 'H', type: 'boolean', description: 'Print sizes and dates in human readable format', defaultText: 'true' },
    { long: 'no-trunc', type: 'boolean', description: "Don't truncate output" },
    { long: 'quiet', short: 'q', type: 'boolean', description: 'Only show image IDs' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const [found] = await findImages(d, parsed.args[0]!);
    const img = (await inventory(d)).find((i) => i.target.digest === found!.target.digest);
    if (!img) throw new CliError(`no such image: ${parsed.args[0]}`);
    const human = !parsed.has('human') || parsed.bool('human');
    const noTrunc = parsed.bool('no-trunc');
    const raw = (img.resolved.imageConfig.history ?? []) as HistoryEntry[];
    // a config without history: one step per layer (what the layers are is all that is known)
    const history: HistoryEntry[] = raw.length ? raw : img.layerSizes.map(() => ({ created: img.resolved.imageConfig.created ?? '' }));
    let layer = 0;
    const now = new Date();
    const rows: HistoryRow[] = history.map((h) => {
      const size = h.empty_layer ? 0 : (img.layerSizes[layer++] ?? 0);
      const created = h.created ? new Date(h.created) : undefined;
      const createdBy = (h.created_by ?? '').replace(/\t/g, ' ');
      return {
        ID: '<missing>',
        CreatedSince: human ? ago(created, now) : (h.created ?? ''),
        CreatedAt: h.created ?? '',
        CreatedBy: noTrunc ? createdBy : ellipsis(createdBy, 45),
        Size: human ? humanSize(size) : String(size),
        Comment: h.comment ?? '',
      };
    });
    rows.reverse();
    if (rows[0]) rows[0].ID = noTrunc ? img.id : shortId(img.id);
    if (parsed.bool('quiet')) {
      for (const r of rows) ctx.io.stdout.write(`${r.ID}\n`);
      return;
    }
    ctx.io.stdout.write(
      formatList(rows, parsed.string('format'), {
        defaultFormat: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
        titles: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY' },
      }),
    );
  },
};
