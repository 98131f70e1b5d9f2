import { encodeField, decodeField, encodeLine, decodeLine } from '../src/plan/codec';

describe('plan line codec', () => {
  it('leaves plain fields alone', () => {
    expect(encodeField('/usr/bin/env')).toBe('/usr/bin/env');
  });
  it('escapes percent, space, control bytes and DEL', () => {
    expect(encodeField('a b%c\nd\te\x7f')).toBe('a%20b%25c%0Ad%09e%7F');
  });
  it('writes the empty string as a lone percent', () => {
    expect(encodeField('')).toBe('%');
    expect(decodeField('%')).toBe('');
  });
  it('round-trips unicode and every escaped byte', () => {
    const s = 'héllo wörld 🙂 %41 \r\n\x01';
    expect(decodeField(encodeField(s))).toBe(s);
  });
  it('round-trips whole lines', () => {
    const fields = ['mount', 'tmpfs', '/dev', 'tmpfs', '2', '0', 'mode=755,size=65536k', ''];
    const line = encodeLine(fields);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trimEnd().split(' ')).toHaveLength(fields.length);
    expect(decodeLine(line.trimEnd())).toEqual(fields);
  });
  it('rejects a broken escape', () => {
    expect(() => decodeField('ab%Z1')).toThrow(/bad escape/);
  });
});
