// --format for every command that prints data, with Docker's meanings:
//
//   (none) or "table"        the command's default table
//   "table TEMPLATE"         a table of the template's columns, with a header line
//   "json"                   one JSON object per line ({{json .}})
//   "TEMPLATE"               the template once per item, no header, no alignment
//
// `\t` and `\n` written literally in the format become a tab and a newline (Docker does this,
// so `--format "table {{.A}}\t{{.B}}"` works from a shell without $'…').

import { execute, executeHeader, parseTemplate } from './template';
import { DOCKER_TABLE, tabwrite } from './tabwriter';

export const TABLE_KEY = 'table';
export const JSON_KEY = 'json';
const JSON_TEMPLATE = '{{json .}}';

export interface ListSpec {
  /** The default table, e.g. "table {{.Repository}}\t{{.Tag}}\t{{.ID}}". */
  defaultFormat: string;
  /** Column titles by field ("ID" → "IMAGE ID"); others are the field in capitals. */
  titles?: Record<string, string>;
}

interface Resolved {
  table: boolean;
  template: string;
}

function resolve(format: string | undefined, spec: ListSpec): Resolved {
  let f = format === undefined || format === '' || format.trim() === TABLE_KEY ? spec.defaultFormat : format;
  if (f.trim() === JSON_KEY) return { table: false, template: JSON_TEMPLATE };
  const table = f.startsWith(TABLE_KEY);
  if (table) f = f.slice(TABLE_KEY.length);
  f = f.replace(/^ +| +$/g, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return { table, template: f };
}

/** Renders a list of items (rows are plain objects whose keys are the template's fields). */
export function formatList(items: object[], format: string | undefined, spec: ListSpec): string {
  const r = resolve(format, spec);
  const t = parseTemplate(r.template);
  const body = items.map((item) => execute(t, item) + '\n').join('');
  if (!r.table) return body;
  return tabwrite(executeHeader(t, spec.titles ?? {}) + '\n' + body, DOCKER_TABLE);
}

/**
 * Renders one object with a user's --format (version, inspect): "json" or a template, with
 * a newline after it. Returns undefined when no format was given (the caller prints its own).
 */
export function formatOne(item: object, format: string | undefined): string | undefined {
  if (format === undefined || format === '') return undefined;
  const template = format.trim() === JSON_KEY ? JSON_TEMPLATE : format.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return execute(parseTemplate(template), item) + '\n';
}
