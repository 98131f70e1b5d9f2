// The line encoding of native-helper/PROTOCOL.md: space-separated fields, each percent-encoded
// (%, space and bytes below 0x21 or equal to 0x7f become %XX); a lone "%" is the empty string.

export function encodeField(value: string): string {
  if (value === '') return '%';
  const bytes = Buffer.from(value, 'utf8');
  let out = '';
  let plainFrom = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x25 || b < 0x21 || b === 0x7f) {
      out += bytes.toString('latin1', plainFrom, i) + '%' + b.toString(16).toUpperCase().padStart(2, '0');
      plainFrom = i + 1;
    }
  }
  if (plainFrom === 0) return value;
  // Only ASCII was escaped, so the untouched runs can be re-joined as bytes.
  return Buffer.from(out + bytes.toString('latin1', plainFrom), 'latin1').toString('utf8');
}

export function decodeField(field: string): string {
  if (field === '%') return '';
  if (!field.includes('%')) return field;
  const out: number[] = [];
  const bytes = Buffer.from(field, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x25) {
      const hex = bytes.toString('latin1', i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`bad escape in field ${JSON.stringify(field)}`);
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(bytes[i]!);
    }
  }
  return Buffer.from(out).toString('utf8');
}

export function encodeLine(fields: readonly (string | number)[]): string {
  return fields.map((f) => encodeField(String(f))).join(' ') + '\n';
}

export function decodeLine(line: string): string[] {
  return line.split(' ').map(decodeField);
}
