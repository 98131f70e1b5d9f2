// berth images [OPTIONS] [REPOSITORY[:TAG]]: Docker's image list — one row per name, an
// untagged image as <none> <none>, newest first; -q ids only (each once), --digests adds the
// DIGEST column (the target's digest: what a registry would call the image by), --no-trunc
// full ids, -f dangling=true|false / reference=PATTERN, --format.

import type { CommandSpec } from '../command';
import { UsageError } from '../errors';
import { inventory, type ImageInfo } from '../images/inventory';
import { formatList } from '../output/format';
import { ago, humanSize, shortId } from '../output/units';
import { familiarRepository, parseReference } from '../../core/images';

export interface ImageRow {
  ID: string;
  Repository: string;
  Tag: string;
  Digest: string;
  CreatedSince: string;
  CreatedAt: string;
  Size: string;
  VirtualSize: string;
  SharedSize: string;
  UniqueSize: string;
  Containers: string;
}

/** Docker's CreatedAt: "2024-01-02 15:04:05 +0000 UTC". */
export function goTime(d: Date | undefined): string {
  if (!d) return '';
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000 UTC`;
}

/** Rows of one image: one per name (repository and tag), or one <none> row. */
export function rowsOf(img: ImageInfo, opts: { noTrunc: boolean; now?: Date }): ImageRow[] {
  const base = {
    ID: opts.noTrunc ? img.id : shortId(img.id),
    Digest: img.target.digest,
    CreatedSince: ago(img.created, opts.now),
    CreatedAt: goTime(img.created),
    Size: humanSize(img.size),
    VirtualSize: humanSize(img.size),
    SharedSize: 'N/A',
    UniqueSize: 'N/A',
    Containers: 'N/A',
  };
  if (img.names.length === 0) return [{ ...base, Repository: '<none>', Tag: '<none>' }];
  return img.names.map((name) => {
    try {
      const r = parseReference(name);
      return { ...base, Repository: familiarRepository(r), Tag: r.tag ?? '<none>' };
    } catch {
      return { ...base, Repository: name, Tag: '<none>' };
    }
  });
}

// A Docker-style pattern ("busy*", "me/app:1*"): * matches within a path component.
function globRegex(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
}

interface Filters {
  dangling?: boolean;
  references: RegExp[];
}

function parseFilters(values: string[], commandPath: string): Filters {
  const f: Filters = { references: [] };
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? v : v.slice(0, eq);
    const value = eq < 0 ? '' : v.slice(eq + 1);
    if (key === 'dangling') {
      if (!['true', 'false', '1', '0'].includes(value)) throw new UsageError(`invalid filter 'dangling=${value}': expected true or false`, commandPath);
      f.dangling = value === 'true' || value === '1';
    } else if (key === 'reference') {
      f.references.push(globRegex(value));
    } else {
      throw new UsageError(`invalid filter '${key}' (supported: dangling, reference)`, commandPath);
    }
  }
  return f;
}

const matchesReference = (row: ImageRow, patterns: RegExp[]): boolean =>
  patterns.every((p) => p.test(row.Repository) || p.test(`${row.Repository}:${row.Tag}`));

export const command: CommandSpec = {
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images',
  options: [
    { long: 'all', short: 'a', type: 'boolean', description: 'Show all images (berth keeps no intermediate images: the same as without)' },
    { long: 'digests', type: 'boolean', description: 'Show digests' },
    { long: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided (dangling=true|false, reference=PATTERN)' },
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
    { long: 'no-trunc', type: 'boolean', description: "Don't truncate output" },
    { long: 'quiet', short: 'q', type: 'boolean', description: 'Only show image IDs' },
  ],
  args: { min: 0, max: 1 },
  async run(ctx, parsed) {
    const filters = parseFilters(parsed.list('filter'), ctx.commandPath);
    const d = await ctx.daemon();
    const images = await inventory(d, { warn: (m) => ctx.log.debug(m) });
    const noTrunc = parsed.bool('no-trunc');
    const wanted = parsed.args[0];
    const now = new Date();
    let rows: ImageRow[] = [];
    for (const img of images) {
      if (filters.dangling !== undefined && (img.names.length === 0) !== filters.dangling) continue;
      rows.push(...rowsOf(img, { noTrunc, now }));
    }
    if (filters.references.length) rows = rows.filter((r) => matchesReference(r, filters.references));
    if (wanted !== undefined) {
      const tagged = /:[^/]*$/.test(wanted);
      const pattern = [globRegex(wanted.replace(/^docker\.io\/(library\/)?/, ''))];
      rows = rows.filter((r) => (tagged ? pattern[0]!.test(`${r.Repository}:${r.Tag}`) : pattern[0]!.test(r.Repository)));
    }
    if (parsed.bool('quiet')) {
      const seen = new Set<string>();
      for (const r of rows) {
        if (seen.has(r.ID)) continue;
        seen.add(r.ID);
        ctx.io.stdout.write(`${r.ID}\n`);
      }
      return;
    }
    const defaultFormat = parsed.bool('digests')
      ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
      : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
    ctx.io.stdout.write(
      formatList(rows, parsed.string('format'), {
        defaultFormat,
        titles: { ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE' },
      }),
    );
  },
};
