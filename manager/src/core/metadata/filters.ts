// The filter language of containerd's List/Walk calls, the subset berth needs.
//
//   filters   := selector ( ',' selector )*          selectors joined by ',' must all match
//   selector  := fieldpath [ operator value ]        no operator: the field is present
//   fieldpath := field ( '.' field )*
//   field     := [A-Za-z0-9_-]+ | quoted
//   operator  := '==' | '!=' | '~='                 '~=' takes a regular expression
//   value     := quoted | /regex/ | bare             bare runs to the next ',' or the end
//   quoted    := '"' with backslash escapes '"'
//
// Several filter strings given to one call are OR'ed: parseFilters('a==1', 'b==2') matches
// an object with a==1 or b==2. No filter strings at all matches everything.
//
// The filter does not know the object: each store supplies an Adaptor that answers a
// field path with the field's value, or undefined when the object has no such field.
// Field names are matched case-insensitively by the adaptors (containerd's `mediatype`
// and the proto's `mediaType` both work); label keys are case-sensitive.
//
// This module is a leaf (no imports besides errors) so that content/ can use it too.

import { invalidArgument } from '../errors';

export type Adaptor = (fieldpath: string[]) => string | undefined;

export interface Filter {
  match(adaptor: Adaptor): boolean;
}

type Operator = 'present' | '==' | '!=' | '~=';

interface Selector {
  fieldpath: string[];
  operator: Operator;
  value: string;
  re?: RegExp;
}

const ALWAYS: Filter = { match: () => true };

/** Parses filter strings (OR'ed together); an empty list matches everything. */
export function parseFilters(...filters: string[]): Filter {
  const nonEmpty = filters.filter((f) => f.trim() !== '');
  if (nonEmpty.length === 0) return ALWAYS;
  const alternatives = nonEmpty.map(parseOne);
  return {
    match: (adaptor) => alternatives.some((sels) => sels.every((s) => matchSelector(s, adaptor))),
  };
}

function matchSelector(s: Selector, adaptor: Adaptor): boolean {
  const value = adaptor(s.fieldpath);
  switch (s.operator) {
    case 'present':
      return value !== undefined;
    case '==':
      return value !== undefined && value === s.value;
    case '!=':
      return value !== s.value;
    case '~=':
      return value !== undefined && (s.re as RegExp).test(value);
  }
}

function parseOne(input: string): Selector[] {
  const p = new Parser(input);
  const selectors: Selector[] = [];
  for (;;) {
    selectors.push(p.selector());
    p.skipSpace();
    if (p.done()) return selectors;
    p.expect(',');
  }
}

const FIELD_CHAR = /[A-Za-z0-9_\-/]/;

class Parser {
  private pos = 0;
  constructor(private readonly input: string) {}

  done(): boolean {
    return this.pos >= this.input.length;
  }

  skipSpace(): void {
    while (!this.done() && /\s/.test(this.input[this.pos] as string)) this.pos++;
  }

  expect(ch: string): void {
    if (this.input[this.pos] !== ch) this.fail(`expected ${JSON.stringify(ch)}`);
    this.pos++;
  }

  fail(why: string): never {
    throw invalidArgument(`filter ${JSON.stringify(this.input)}: ${why} at position ${this.pos}`);
  }

  selector(): Selector {
    this.skipSpace();
    const fieldpath = [this.field()];
    while (this.input[this.pos] === '.') {
      this.pos++;
      fieldpath.push(this.field());
    }
    this.skipSpace();
    const op = this.input.slice(this.pos, this.pos + 2);
    if (op !== '==' && op !== '!=' && op !== '~=') {
      if (this.done() || this.input[this.pos] === ',') return { fieldpath, operator: 'present', value: '' };
      this.fail('expected an operator (==, != or ~=)');
    }
    this.pos += 2;
    this.skipSpace();
    const value = this.value(op === '~=');
    const sel: Selector = { fieldpath, operator: op, value };
    if (op === '~=') {
      try {
        sel.re = new RegExp(value);
      } catch (err) {
        this.fail(`bad regular expression ${JSON.stringify(value)}: ${(err as Error).message}`);
      }
    }
    return sel;
  }

  private field(): string {
    if (this.input[this.pos] === '"') return this.quoted();
    const start = this.pos;
    while (!this.done() && FIELD_CHAR.test(this.input[this.pos] as string)) this.pos++;
    if (this.pos === start) this.fail('expected a field name');
    return this.input.slice(start, this.pos);
  }

  private value(regex: boolean): string {
    const ch = this.input[this.pos];
    if (ch === '"') return this.quoted();
    if (regex && ch === '/') {
      const end = this.input.indexOf('/', this.pos + 1);
      if (end < 0) this.fail('unterminated /regex/');
      const v = this.input.slice(this.pos + 1, end);
      this.pos = end + 1;
      return v;
    }
    const start = this.pos;
    while (!this.done() && this.input[this.pos] !== ',') this.pos++;
    const v = this.input.slice(start, this.pos).trim();
    if (v === '') this.fail('expected a value');
    return v;
  }

  private quoted(): string {
    const start = this.pos;
    this.pos++;
    while (!this.done() && this.input[this.pos] !== '"') {
      if (this.input[this.pos] === '\\') this.pos++;
      this.pos++;
    }
    if (this.done()) this.fail('unterminated quoted string');
    this.pos++;
    try {
      return JSON.parse(this.input.slice(start, this.pos)) as string;
    } catch {
      this.pos = start;
      return this.fail('bad quoted string');
    }
  }
}

/** Adaptor helper for a `labels` map: fieldpath ['labels', 'a', 'b'] reads key "a.b". */
export function labelField(labels: Record<string, string> | undefined, rest: string[]): string | undefined {
  if (!labels || rest.length === 0) return undefined;
  const key = rest.join('.');
  return Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : undefined;
}
