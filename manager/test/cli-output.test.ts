// The CLI's output helpers: Go tabwriter alignment as Docker uses it, the Go-template subset,
// and --format's table / json / template modes.

import { formatList, formatOne } from '../src/cli/output/format';
import { tabwrite } from '../src/cli/output/tabwriter';
import { defaultTitle, execute, executeHeader, parseTemplate, printValue } from '../src/cli/output/template';
import { expectKind } from './support/metadata-tmp';

describe('tabwrite (Go text/tabwriter, minwidth 10, padding 3)', () => {
  it('pads each column to its widest cell plus 3, at least 10; the last cell is not padded', () => {
    expect(tabwrite('REPOSITORY\tTAG\tIMAGE ID\nbusybox\tlatest\tabc\n')).toBe('REPOSITORY   TAG       IMAGE ID\nbusybox      latest    abc\n');
  });

  it('as docker ps prints an empty list', () => {
    expect(tabwrite('CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n')).toBe('CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n');
  });

  it('counts characters, not bytes', () => {
    expect(tabwrite('ÄÖÜäöüßéèêx\tb\nc\td\n')).toBe('ÄÖÜäöüßéèêx   b\nc             d\n');
  });

  it('columns are sized per block of consecutive lines that have them (Go semantics)', () => {
    // line 2 has no cell in column 0, so lines 1 and 3 form separate blocks
    expect(tabwrite('aaaaaaaaaaaaa\tx\nno tabs here\nb\ty\n')).toBe('aaaaaaaaaaaaa   x\nno tabs here\nb         y\n');
  });

  it('an empty cell is padded; no trailing newline is kept as given', () => {
    expect(tabwrite('\tx\nlonger\ty')).toBe('          x\nlonger    y');
  });

  it('other widths (docker version: 20, 1)', () => {
    expect(tabwrite(' Version:\tv1\n', { minWidth: 20, padding: 1 })).toBe(' Version:           v1\n');
  });
});

describe('templates', () => {
  const row = { ID: 'abc', Names: ['a', 'b'], Labels: { z: '1', a: '2' }, Size: 42, Ok: true, Nil: null, Nested: { Deep: { Value: 'v' } }, Text: 'Hello <world> & co' };
  const run = (t: string, data: unknown = row) => execute(parseTemplate(t), data);

  it('fields, nested fields, dot, text around them', () => {
    expect(run('id={{.ID}} deep={{.Nested.Deep.Value}} size={{ .Size }} ok={{.Ok}}')).toBe('id=abc deep=v size=42 ok=true');
    expect(run('{{.}}', 'plain')).toBe('plain');
  });

  it('values print as Go prints them', () => {
    expect(run('{{.Names}} {{.Labels}} {{.Nil}} {{.Labels.missing}}')).toBe('[a b] map[a:2 z:1] <nil> <no value>');
    expect(printValue(undefined)).toBe('<no value>');
  });

  it('json, as Go encodes it (HTML characters escaped)', () => {
    expect(run('{{json .Labels}}')).toBe('{"z":"1","a":"2"}');
    expect(run('{{json .Text}}')).toBe('"Hello \\u003cworld\\u003e \\u0026 co"');
    expect(run('{{json .}}', { A: 1 })).toBe('{"A":1}');
  });

  it("Docker's functions, as calls and in pipes", () => {
    expect(run('{{join .Names ", "}}|{{upper .ID}}|{{.ID | upper}}|{{lower "ABC"}}|{{title "hello world"}}')).toBe('a, b|ABC|ABC|abc|Hello World');
    expect(run('{{truncate .ID 2}}|{{pad .ID 1 2}}|{{join (split "a:b:c" ":") "-"}}|{{println .ID .Size}}')).toBe('ab| abc  |a-b-c|abc 42\n');
    expect(run('{{.ID | json}}')).toBe('"abc"');
  });

  it('trim markers', () => {
    expect(run('a  {{- .ID -}}  b')).toBe('aabcb');
    expect(run('{{/* a comment */}}x')).toBe('x');
  });

  it.each([
    ['{{.Missing}}', /template: \{\{\.Missing\}\}: can't evaluate field Missing/],
    ['{{.ID.Sub}}', /can't evaluate field Sub in type string/],
    ['{{upper .Size}}', /upper: expected a string, got 42/],
    ['{{.ID .Size}}', /can't give argument to non-function/],
  ])('execution error %s', async (t, why) => {
    await expectKind(() => run(t), 'InvalidArgument', why);
  });

  it.each([
    ['{{.ID', /template parsing error: unclosed action/],
    ['{{if .Ok}}x{{end}}', /"if" actions are not supported/],
    ['{{range .Names}}{{.}}{{end}}', /"range" actions are not supported/],
    ['{{$x := 1}}', /variables are not supported/],
    ['{{nosuch .ID}}', /function "nosuch" not defined/],
    ['{{}}', /missing value/],
    ['{{"unterminated}}', /unterminated string|unclosed action/],
    ['{{(.ID}}', /unclosed "\("/],
  ])('parse error %s', async (t, why) => {
    await expectKind(() => parseTemplate(t), 'InvalidArgument', why);
  });

  it('header mode: fields become titles, functions hand them through', () => {
    const t = parseTemplate('{{.ID}}\t{{upper .Name}}\t{{.CreatedAt | lower}}\t{{json .Labels}}');
    expect(t.fields).toEqual(['ID', 'Name', 'CreatedAt', 'Labels']);
    expect(executeHeader(t, { ID: 'IMAGE ID' })).toBe('IMAGE ID\tNAME\tCREATED AT\tLABELS');
    expect(defaultTitle('RepoDigests')).toBe('REPO DIGESTS');
  });
});

describe('--format', () => {
  const rows = [
    { Repository: 'busybox', Tag: 'latest', ID: 'sha256:abc', Size: '4MB' },
    { Repository: 'quay.io/some/longer-name', Tag: '1', ID: 'sha256:def', Size: '10MB' },
  ];
  const spec = { defaultFormat: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}', titles: { ID: 'IMAGE ID' } };

  it('the default table (also "table" alone)', () => {
    const want = [
      'REPOSITORY                 TAG       IMAGE ID     SIZE',
      'busybox                    latest    sha256:abc   4MB',
      'quay.io/some/longer-name   1         sha256:def   10MB',
      '',
    ].join('\n');
    expect(formatList(rows, undefined, spec)).toBe(want);
    expect(formatList(rows, 'table', spec)).toBe(want);
  });

  it('"table TEMPLATE" with literal \\t from a shell', () => {
    expect(formatList(rows, 'table {{.Tag}}\\t{{.Repository}}', spec)).toBe('TAG       REPOSITORY\nlatest    busybox\n1         quay.io/some/longer-name\n');
  });

  it('a header only, when the list is empty', () => {
    expect(formatList([], undefined, spec)).toBe('REPOSITORY   TAG       IMAGE ID   SIZE\n');
  });

  it('"json": one object per line', () => {
    expect(formatList(rows, 'json', spec).split('\n').filter(Boolean).map((l) => JSON.parse(l))).toEqual(rows);
  });

  it('a plain template: no header, no alignment', () => {
    expect(formatList(rows, '{{.Repository}}:{{.Tag}}', spec)).toBe('busybox:latest\nquay.io/some/longer-name:1\n');
    expect(formatList(rows, '{{.ID}}\\n', spec)).toBe('sha256:abc\n\nsha256:def\n\n');
  });

  it('formatOne: json or a template; undefined without a format', () => {
    expect(formatOne({ A: { B: 1 } }, '{{.A.B}}')).toBe('1\n');
    expect(formatOne({ A: 1 }, 'json')).toBe('{"A":1}\n');
    expect(formatOne({ A: 1 }, undefined)).toBeUndefined();
  });
});
