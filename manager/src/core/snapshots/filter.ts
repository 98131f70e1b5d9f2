// containerd's filter syntax, the subset snapshots need:
//
//   filters   := filter*                       (a list: a snapshot matches if ANY filter matches)
//   filter    := selector ( ',' selector )*    (all selectors must match)
//   selector  := fieldpath [ op value ]        (no op: the field is present)
//   fieldpath := field ( '.' field )*
//   field     := quoted | [A-Za-z0-9_/-]+
//   op        := '==' | '!=' | '~='            ('~=' is a regular expression match)
//   value     := quoted | /regexp/ | any run of characters up to ','
//   quoted    := '"' with JSON escapes '"'
//
// Snapshot fields: name, parent, kind (view|active|committed), labels.<key>. A label key with
// dots may be written quoted (labels."a.b") or plain (labels.a.b): the rest of the path is
// joined with '.' as containerd does.
//
// This is generic enough to move to core/filters once another store needs it.

import { invalidArgument } from '../errors';
import type { Info } from './types';

type Op = 'present' | '==' | '!=' | '~=';
interface Selector {
  path: string[];
  op: Op;
  value: string;
  re?: RegExp;
}
type Filter = Selector[];

export type Matcher = (info: Info) => boolean;

/** Parse a list of filters; an empty list (or only empty strings) matches everything. */
export function parseFilters(filters: readonly string[] = []): Matcher {
  const parsed = filters.filter((f) => f.trim() !== '').map(parseFilter);
  if (parsed.length === 0) return () => true;
  return (info) => parsed.some((f) => f.every((s) => matchSelector(s, info)));
}

function parseFilter(src: string): Filter {
  const p = new Parser(src);
  const selectors: Selector[] = [];
  for (;;) {
    selectors.push(p.selector());
    p.ws();
    if (p.eof()) break;
    p.expect(',');
  }
  return selectors;
}

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  eof(): boolean {
    return this.i >= this.s.length;
  }
  ws(): void {
    while (!this.eof() && /\s/.test(this.s[this.i]!)) this.i++;
  }
  fail(what: string): never {
    throw invalidArgument(`invalid filter ${JSON.stringify(this.s)}: ${what} at offset ${this.i}`);
  }
  expect(c: string): void {
    if (this.s[this.i] !== c) this.fail(`expected ${JSON.stringify(c)}`);
    this.i++;
  }

  selector(): Selector {
    this.ws();
    const path = [this.field()];
    while (this.s[this.i] === '.') {
      this.i++;
      path.push(this.field());
    }
    this.ws();
    const two = this.s.slice(this.i, this.i + 2);
    if (two === '==' || two === '!=' || two === '~=') {
      this.i += 2;
      this.ws();
      const value = this.value();
      const sel: Selector = { path, op: two, value };
      if (two === '~=') {
        try {
          sel.re = new RegExp(value);
        } catch {
          this.fail(`bad regular expression ${JSON.stringify(value)}`);
        }
      }
      return sel;
    }
    return { path, op: 'present', value: '' };
  }

  field(): string {
    if (this.s[this.i] === '"') return this.quoted();
    const m = /^[A-Za-z0-9_/-]+/.exec(this.s.slice(this.i));
    if (!m) this.fail('expected a field name');
    this.i += m[0].length;
    return m[0];
  }

  value(): string {
    const c = this.s[this.i];
    if (c === '"') return this.quoted();
    if (c === '/') {
      const end = this.s.indexOf('/', this.i + 1);
      if (end < 0) this.fail('unterminated /regexp/');
      const v = this.s.slice(this.i + 1, end);
      this.i = end + 1;
      return v;
    }
    let end = this.s.indexOf(',', this.i);
    if (end < 0) end = this.s.length;
    const v = this.s.slice(this.i, end).trim();
    if (v === '') this.fail('expected a value');
    this.i = end;
    return v;
  }

  quoted(): string {
    let j = this.i + 1;
    while (j < this.s.length && this.s[j] !== '"') j += this.s[j] === '\\' ? 2 : 1;
    if (j >= this.s.length) this.fail('unterminated quoted string');
    const raw = this.s.slice(this.i, j + 1);
    this.i = j + 1;
    try {
      return JSON.parse(raw) as string;
    } catch {
      return this.fail(`bad quoted string ${raw}`);
    }
  }
}

/** The value of a field path on a snapshot, or undefined when it is not present. */
function lookup(info: Info, path: string[]): string | undefined {
  const [head, ...rest] = path;
  switch (head) {
    case 'name':
      return rest.length === 0 ? info.name : undefined;
    case 'parent':
      return rest.length === 0 && info.parent !== '' ? info.parent : undefined;
    case 'kind':
      return rest.length === 0 ? info.kind : undefined;
    case 'labels': {
      if (rest.length === 0) return undefined;
      const key = rest.join('.');
      return Object.prototype.hasOwnProperty.call(info.labels, key) ? info.labels[key] : undefined;
    }
    default:
      return undefined;
  }
}

function matchSelector(s: Selector, info: Info): boolean {
  let v = lookup(info, s.path);
  if (v === undefined) return false;
  let want = s.value;
  if (s.path[0] === 'kind') {
    // kinds compare case-insensitively: ctr prints them capitalised
    v = v.toLowerCase();
    want = want.toLowerCase();
  }
  switch (s.op) {
    case 'present':
      return true;
    case '==':
      return v === want;
    case '!=':
      return v !== want;
    case '~=':
      return s.re!.test(v);
  }
}
