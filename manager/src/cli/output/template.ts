// The subset of Go's text/template that Docker's --format strings use:
//
//   text {{.Field}} {{.A.B}} {{.}} {{json .X}} {{join .Names ", "}} {{.Name | upper}}
//   {{- trims blanks before, -}} after; string ("…", `…`) and integer arguments; ( ) grouping.
//
// with Docker's functions json, join, split, lower, upper, title, truncate, pad and println.
// Control actions (if, range, with, define, …) and variables are not supported and are
// refused when the template is parsed. Values print as Go's fmt prints them: slices as
// [a b], maps as map[k:v] (sorted keys), a missing map key as <no value>. The data given is
// the row: a field it lacks is an error (a typo in a field name), as Go's is for a struct.
//
// Header mode renders a table's header line as Docker does: every field is replaced by its
// column title and functions pass their argument through unchanged.

import { invalidArgument } from '../../core/errors';

type Node = { kind: 'text'; text: string } | { kind: 'action'; pipeline: Pipeline; source: string };
type Pipeline = Command[];
type Command = Operand[];
type Operand =
  | { kind: 'dot' }
  | { kind: 'field'; path: string[] }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'func'; name: string }
  | { kind: 'group'; pipeline: Pipeline };

export interface Template {
  source: string;
  nodes: Node[];
  /** The top-level fields it refers to, in order (for table headers). */
  fields: string[];
}

export class TemplateError extends Error {}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue', 'nil']);

type Fn = (...args: unknown[]) => unknown;

const str = (v: unknown, fn: string): string => {
  if (typeof v === 'string') return v;
  throw new TemplateError(`${fn}: expected a string, got ${printValue(v)}`);
};

/** json as Go's encoding/json writes it (HTML characters escaped). */
function goJsonText(v: unknown): string {
  return (JSON.stringify(v ?? null) ?? 'null').replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const FUNCTIONS: Record<string, Fn> = {
  json: (v) => goJsonText(v),
  join: (list, sep) => {
    if (!Array.isArray(list)) throw new TemplateError(`join: expected a list, got ${printValue(list)}`);
    return list.map((x) => printValue(x)).join(str(sep, 'join'));
  },
  split: (s, sep) => str(s, 'split').split(str(sep, 'split')),
  lower: (s) => str(s, 'lower').toLowerCase(),
  upper: (s) => str(s, 'upper').toUpperCase(),
  title: (s) => str(s, 'title').replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, a: string, b: string) => a + b.toUpperCase()),
  truncate: (s, n) => [...str(s, 'truncate')].slice(0, Math.max(0, Number(n))).join(''),
  pad: (s, left, right) => ' '.repeat(Math.max(0, Number(left))) + printValue(s) + ' '.repeat(Math.max(0, Number(right))),
  println: (...args) => args.map((a) => printValue(a)).join(' ') + '\n',
};

/** A value as Go's fmt %v prints it. */
export function printValue(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `[${v.map(printValue).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o)
      .sort()
      .map((k) => `${k}:${printValue(o[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

// ---- parsing ----

function tokenize(src: string, action: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += c === '"' && src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new TemplateError(`unterminated string in ${action}`);
      tokens.push(src.slice(i, j + 1));
      i = j + 1;
    } else if (c === '(' || c === ')' || c === '|') {
      tokens.push(c);
      i++;
    } else {
      let j = i;
      while (j < src.length && !/[\s()|"`]/.test(src[j]!)) j++;
      tokens.push(src.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

function parsePipeline(tokens: string[], pos: { i: number }, action: string, inGroup: boolean): Pipeline {
  const pipeline: Pipeline = [];
  let command: Command = [];
  for (; pos.i < tokens.length; pos.i++) {
    const t = tokens[pos.i]!;
    if (t === ')') {
      if (!inGroup) throw new TemplateError(`unexpected ")" in ${action}`);
      break;
    }
    if (t === '|') {
      if (command.length === 0) throw new TemplateError(`missing command before "|" in ${action}`);
      pipeline.push(command);
      command = [];
      continue;
    }
    if (t === '(') {
      pos.i++;
      const inner = parsePipeline(tokens, pos, action, true);
      if (tokens[pos.i] !== ')') throw new TemplateError(`unclosed "(" in ${action}`);
      command.push({ kind: 'group', pipeline: inner });
      continue;
    }
    command.push(parseOperand(t, action));
  }
  if (command.length === 0) throw new TemplateError(`missing value in ${action}`);
  pipeline.push(command);
  return pipeline;
}

function parseOperand(t: string, action: string): Operand {
  if (t === '.') return { kind: 'dot' };
  if (t.startsWith('.')) {
    const path = t.slice(1).split('.');
    if (path.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) throw new TemplateError(`bad field ${t} in ${action}`);
    return { kind: 'field', path };
  }
  if (t.startsWith('"')) {
    try {
      return { kind: 'string', value: JSON.parse(t) as string };
    } catch {
      throw new TemplateError(`bad string ${t} in ${action}`);
    }
  }
  if (t.startsWith('`')) return { kind: 'string', value: t.slice(1, -1) };
  if (/^-?\d+$/.test(t)) return { kind: 'number', value: Number(t) };
  if (t === 'true' || t === 'false') return { kind: 'bool', value: t === 'true' };
  if (t.startsWith('$')) throw new TemplateError(`variables are not supported (${action})`);
  if (KEYWORDS.has(t)) throw new TemplateError(`"${t}" actions are not supported (${action}); berth's templates have fields, functions and pipes`);
  if (FUNCTIONS[t]) return { kind: 'func', name: t };
  throw new TemplateError(`function "${t}" not defined`);
}

/** Parses a template; errors are InvalidArgument ("template parsing error: …"), as Docker words them. */
export function parseTemplate(source: string): Template {
  try {
    const nodes: Node[] = [];
    const fields: string[] = [];
    let i = 0;
    let trimNext = false;
    while (i < source.length) {
      const open = source.indexOf('{{', i);
      let text = open === -1 ? source.slice(i) : source.slice(i, open);
      if (trimNext) text = text.replace(/^\s+/, '');
      trimNext = false;
      if (open === -1) {
        if (text) nodes.push({ kind: 'text', text });
        break;
      }
      let start = open + 2;
      if (source.startsWith('- ', start) || source.startsWith('-\t', start) || source.startsWith('-\n', start)) {
        text = text.replace(/\s+$/, '');
        start += 1;
      }
      if (text) nodes.push({ kind: 'text', text });
      // the closing braces, skipping strings that may contain them
      let j = start;
      let quote = '';
      for (; j < source.length; j++) {
        const c = source[j]!;
        if (quote) {
          if (c === '\\' && quote === '"') j++;
          else if (c === quote) quote = '';
        } else if (c === '"' || c === '`') quote = c;
        else if (source.startsWith('}}', j)) break;
      }
      if (j >= source.length) throw new TemplateError(`unclosed action starting at offset ${open}`);
      let end = j;
      if (/\s-$/.test(source.slice(start, end))) {
        end -= 1;
        trimNext = true;
      }
      const inner = source.slice(start, end).trim();
      const shown = `{{${inner}}}`;
      if (inner.startsWith('/*')) {
        i = j + 2;
        continue; // a comment
      }
      if (inner === '') throw new TemplateError(`missing value in ${shown}`);
      const pos = { i: 0 };
      const pipeline = parsePipeline(tokenize(inner, shown), pos, shown, false);
      collectFields(pipeline, fields);
      nodes.push({ kind: 'action', pipeline, source: shown });
      i = j + 2;
    }
    return { source, nodes, fields };
  } catch (err) {
    if (err instanceof TemplateError) throw invalidArgument(`template parsing error: ${err.message}`);
    throw err;
  }
}

function collectFields(p: Pipeline, out: string[]): void {
  for (const cmd of p) {
    for (const op of cmd) {
      if (op.kind === 'field' && !out.includes(op.path[0]!)) out.push(op.path[0]!);
      if (op.kind === 'group') collectFields(op.pipeline, out);
    }
  }
}

// ---- execution ----

interface Scope {
  dot: unknown;
  /** Header mode: field → column title. */
  header?: (field: string[]) => string;
}

function field(dot: unknown, path: string[], action: string): unknown {
  let v: unknown = dot;
  for (const [depth, name] of path.entries()) {
    if (v === null || v === undefined) {
      if (depth === 0) throw new TemplateError(`${action}: nil data; no entry for key "${name}"`);
      return undefined;
    }
    if (typeof v !== 'object' || Array.isArray(v) || v instanceof Date) {
      throw new TemplateError(`${action}: can't evaluate field ${name} in type ${Array.isArray(v) ? 'slice' : typeof v}`);
    }
    const o = v as Record<string, unknown>;
    if (!(name in o)) {
      // a row's own field missing is a typo; a key missing from a nested map prints <no value>
      if (depth === 0) throw new TemplateError(`${action}: can't evaluate field ${name}`);
      return undefined;
    }
    v = o[name];
  }
  return v;
}

function evalOperand(op: Operand, scope: Scope, action: string): unknown {
  switch (op.kind) {
    case 'dot':
      return scope.header ? '' : scope.dot;
    case 'field':
      return scope.header ? scope.header(op.path) : field(scope.dot, op.path, action);
    case 'string':
    case 'number':
    case 'bool':
      return op.value;
    case 'group':
      return evalPipeline(op.pipeline, scope, action);
    case 'func':
      return FUNCTIONS[op.name]!();
  }
}

function evalPipeline(p: Pipeline, scope: Scope, action: string): unknown {
  let piped: unknown;
  let hasPiped = false;
  for (const cmd of p) {
    const [head, ...rest] = cmd;
    let value: unknown;
    if (head!.kind === 'func') {
      const args = rest.map((o) => evalOperand(o, scope, action));
      if (hasPiped) args.push(piped);
      if (scope.header) {
        // Docker's header functions hand the column title through
        value = hasPiped ? piped : args[0];
      } else {
        try {
          value = FUNCTIONS[head.name]!(...args);
        } catch (err) {
          if (err instanceof TemplateError) throw new TemplateError(`${action}: ${err.message}`);
          throw err;
        }
      }
    } else {
      if (rest.length > 0 || hasPiped) throw new TemplateError(`${action}: can't give argument to non-function`);
      value = evalOperand(head!, scope, action);
    }
    piped = value;
    hasPiped = true;
  }
  return piped;
}

function run(t: Template, scope: Scope): string {
  let out = '';
  for (const n of t.nodes) {
    if (n.kind === 'text') out += n.text;
    else out += printValue(evalPipeline(n.pipeline, scope, n.source));
  }
  return out;
}

/** Renders the template for one value; errors are InvalidArgument ("template: …"). */
export function execute(t: Template, data: unknown): string {
  try {
    return run(t, { dot: data });
  } catch (err) {
    if (err instanceof TemplateError) throw invalidArgument(`template: ${err.message}`);
    throw err;
  }
}

/** Renders the header line: each field as its title (`titles`, else the field in capitals). */
export function executeHeader(t: Template, titles: Record<string, string>): string {
  return run(t, { dot: null, header: (path) => titles[path.join('.')] ?? titles[path[0]!] ?? defaultTitle(path[path.length - 1]!) });
}

/** "CreatedAt" → "CREATED AT", "ID" → "ID". */
export function defaultTitle(field: string): string {
  return field.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();
}
