// A small tar reader and writer for layers (POSIX ustar + PAX, GNU long names on read).
//
// berth has its own instead of tar-stream's for one reason: fidelity. Layers carry binary
// xattr values in PAX records (security.capability, POSIX ACLs) and sub-second times; tar-stream
// decodes PAX values as UTF-8 text and writes none of them, which would corrupt a capability
// such as cap_setuid (its bit pattern is not valid UTF-8). Here PAX values stay bytes.
//
// Reading follows Go's archive/tar (what containerd and Docker use) where formats disagree:
// header-only types (links, devices, dirs, fifos) carry no data whatever their size field
// says; an old-style regular entry whose name ends in '/' is a directory; PAX global headers
// are skipped.

import { invalidArgument, notImplemented } from '../errors';

export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

/** Seconds and nanoseconds since the epoch; a tar time can be finer than a JS number holds. */
export interface TarTime {
  sec: number;
  nsec: number;
}

export interface TarHeader {
  name: string;
  type: EntryType;
  /** permission bits incl. setuid/setgid/sticky (no file-type bits) */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: TarTime;
  atime?: TarTime;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** xattr name → raw value, from PAX SCHILY.xattr.* (and LIBARCHIVE.xattr.*) records */
  xattrs: Map<string, Buffer>;
}

const BLOCK = 512;
const MAX_EXTENDED_HEADER = 16 * 1024 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function describe(name: string): string {
  const shown = name.length > 1024 ? `${name.slice(0, 1024)}…` : name;
  return JSON.stringify(shown);
}

/** A string from raw header bytes; names that are not UTF-8 are refused rather than mangled. */
function decodeString(buf: Buffer, what: string): string {
  try {
    return utf8.decode(buf);
  } catch {
    throw invalidArgument(`tar: ${what} is not valid UTF-8: ${JSON.stringify(buf.toString('latin1'))}`);
  }
}

function cString(buf: Buffer, off: number, len: number): Buffer {
  const field = buf.subarray(off, off + len);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

function parseNumeric(buf: Buffer, off: number, len: number, what: string): number {
  const field = buf.subarray(off, off + len);
  if (field[0]! & 0x80) {
    // base-256 (GNU): big-endian two's complement, first byte's top bit is the marker
    if (field[0] === 0xff) throw invalidArgument(`tar: negative ${what}`);
    let v = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i]!;
    if (!Number.isSafeInteger(v)) throw invalidArgument(`tar: ${what} too large`);
    return v;
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw invalidArgument(`tar: bad ${what} field ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function parsePaxTime(value: string, key: string): TarTime {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value);
  if (!m) throw invalidArgument(`tar: bad PAX ${key} ${JSON.stringify(value)}`);
  const sec = Number(m[2]);
  const nsec = Number(((m[3] ?? '') + '000000000').slice(0, 9));
  if (m[1] === '-') return nsec === 0 ? { sec: -sec, nsec: 0 } : { sec: -sec - 1, nsec: 1e9 - nsec };
  return { sec, nsec };
}

function parsePaxInt(value: string, key: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw invalidArgument(`tar: bad PAX ${key} ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** PAX records: "<len> <key>=<value>\n", len counting the whole record in bytes. */
function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // some writers pad with NULs
    const sp = buf.indexOf(0x20, pos);
    if (sp === -1) throw invalidArgument('tar: malformed PAX record');
    const len = Number(buf.toString('latin1', pos, sp));
    if (!Number.isInteger(len) || len <= sp - pos + 1 || pos + len > buf.length || buf[pos + len - 1] !== 0x0a) {
      throw invalidArgument('tar: malformed PAX record');
    }
    const rec = buf.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw invalidArgument('tar: malformed PAX record');
    out.set(decodeString(rec.subarray(0, eq), 'PAX key'), Buffer.from(rec.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

function checksumOk(block: Buffer): boolean {
  const stored = parseNumeric(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** Pulls exact byte counts out of an async stream of chunks. */
class ByteReader {
  private pending: Buffer[] = [];
  private buffered = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.pending.push(r.value);
        this.buffered += r.value.length;
      }
    }
    return this.buffered >= n;
  }

  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = this.pending[0]!;
      if (head.length <= need) {
        parts.push(head);
        this.pending.shift();
        need -= head.length;
      } else {
        parts.push(head.subarray(0, need));
        this.pending[0] = head.subarray(need);
        need = 0;
      }
    }
    this.buffered -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Exactly n bytes, or null at a clean end of stream; a short read is an error. */
  async read(n: number): Promise<Buffer | null> {
    if (await this.fill(n)) return this.take(n);
    if (this.buffered === 0) return null;
    throw invalidArgument('tar: unexpected end of archive');
  }

  /** n bytes as chunks, without buffering them all. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill(1))) throw invalidArgument('tar: unexpected end of archive');
      const chunk = this.take(Math.min(left, this.pending[0]!.length));
      left -= chunk.length;
      yield chunk;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) void _;
  }

  /** Reads everything that is left (after the end-of-archive marker), so it is hashed too. */
  async drain(): Promise<void> {
    this.pending = [];
    this.buffered = 0;
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
    }
  }
}

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

export interface TarEntry {
  header: TarHeader;
  /** the entry's data; must be consumed (or left alone: the reader skips what is not read) */
  body: AsyncIterable<Buffer>;
}

/**
 * Iterates the entries of an uncompressed tar stream. The source is read to its very end, so
 * that a hash computed over it covers the whole stream (the diffID does).
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source);
  let paxLocal: Map<string, Buffer> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;

  for (;;) {
    const block = await r.read(BLOCK);
    if (block === null) break; // no end marker: Go accepts this too
    if (block.every((b) => b === 0)) {
      await r.drain();
      return;
    }
    if (!checksumOk(block)) throw invalidArgument('tar: invalid header checksum');

    const flag = String.fromCharCode(block[156]!);
    const size = parseNumeric(block, 124, 12, 'size');
    const magic = block.toString('latin1', 257, 263);
    const version = block.toString('latin1', 263, 265);

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_EXTENDED_HEADER) throw invalidArgument(`tar: extended header of ${size} bytes is too large`);
      const data = size === 0 ? Buffer.alloc(0) : await r.read(size);
      if (data === null) throw invalidArgument('tar: unexpected end of archive');
      await r.skip(pad(size));
      if (flag === 'x') paxLocal = parsePax(data);
      else if (flag === 'L') longName = decodeString(cString(data, 0, data.length), 'long name');
      else if (flag === 'K') longLink = decodeString(cString(data, 0, data.length), 'long link name');
      // 'g' (global PAX): skipped, as containerd does
      continue;
    }

    let name: string;
    if (magic === 'ustar\0' && version === '00') {
      const prefix = cString(block, 345, 155);
      const base = cString(block, 0, 100);
      name = decodeString(prefix.length ? Buffer.concat([prefix, Buffer.from('/'), base]) : base, 'entry name');
    } else {
      name = decodeString(cString(block, 0, 100), 'entry name');
    }
    let linkname = decodeString(cString(block, 157, 100), 'link name');
    let mode = parseNumeric(block, 100, 8, 'mode') & 0o7777;
    let uid = parseNumeric(block, 108, 8, 'uid');
    let gid = parseNumeric(block, 116, 8, 'gid');
    let mtime: TarTime = { sec: parseNumeric(block, 136, 12, 'mtime'), nsec: 0 };
    let atime: TarTime | undefined;
    let dataSize = size;
    const devmajor = parseNumeric(block, 329, 8, 'devmajor');
    const devminor = parseNumeric(block, 337, 8, 'devminor');
    const xattrs = new Map<string, Buffer>();

    if (longName !== null) name = longName;
    if (longLink !== null) linkname = longLink;
    longName = longLink = null;

    if (paxLocal) {
      for (const [key, raw] of paxLocal) {
        const text = () => decodeString(raw, `PAX ${key}`);
        if (key === 'path') name = text();
        else if (key === 'linkpath') linkname = text();
        else if (key === 'size') dataSize = parsePaxInt(text(), key);
        else if (key === 'uid') uid = parsePaxInt(text(), key);
        else if (key === 'gid') gid = parsePaxInt(text(), key);
        else if (key === 'mtime') mtime = parsePaxTime(text(), key);
        else if (key === 'atime') atime = parsePaxTime(text(), key);
        else if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), raw);
        else if (key.startsWith('LIBARCHIVE.xattr.')) {
          xattrs.set(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(raw.toString('latin1'), 'base64'));
        } else if (key.startsWith('GNU.sparse.')) {
          throw notImplemented(`tar: entry ${describe(name)}: sparse files are not supported`);
        }
      }
      paxLocal = null;
    }

    let type: EntryType;
    switch (flag) {
      case '\0':
        type = name.endsWith('/') ? 'directory' : 'file';
        break;
      case '0':
      case '7':
        type = 'file';
        break;
      case '1':
        type = 'link';
        break;
      case '2':
        type = 'symlink';
        break;
      case '3':
        type = 'char';
        break;
      case '4':
        type = 'block';
        break;
      case '5':
        type = 'directory';
        break;
      case '6':
        type = 'fifo';
        break;
      default:
        throw notImplemented(`tar: entry ${describe(name)}: unsupported type flag ${JSON.stringify(flag)}`);
    }
    if (type !== 'file') dataSize = 0;

    const header: TarHeader = { name, type, mode, uid, gid, size: dataSize, mtime, linkname, devmajor, devminor, xattrs };
    if (atime) header.atime = atime;

    let consumed = 0;
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => {
        const inner = r.stream(dataSize - consumed);
        return {
          next: async () => {
            const n = await inner.next();
            if (!n.done) consumed += n.value.length;
            return n;
          },
        };
      },
    };
    yield { header, body };
    if (consumed < dataSize) await r.skip(dataSize - consumed);
    await r.skip(pad(dataSize));
  }
  await r.drain();
}

// ---- writing ----

export interface WriteHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: TarTime;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  // the length prefix counts its own digits
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

const isAscii = (s: string) => /^[\x20-\x7e]*$/.test(s);

function writeOctal(block: Buffer, off: number, len: number, value: number): boolean {
  const digits = value.toString(8);
  if (digits.length > len - 1) return false;
  block.write(digits.padStart(len - 1, '0') + '\0', off, len, 'latin1');
  return true;
}

function rawHeader(h: {
  name: string;
  flag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(h.name, 0, 100, 'utf8');
  writeOctal(block, 100, 8, h.mode);
  writeOctal(block, 108, 8, h.uid);
  writeOctal(block, 116, 8, h.gid);
  writeOctal(block, 124, 12, h.size);
  writeOctal(block, 136, 12, h.mtime);
  block.write(h.flag, 156, 1, 'latin1');
  block.write(h.linkname, 157, 100, 'utf8');
  block.write('ustar\0' + '00', 257, 8, 'latin1');
  writeOctal(block, 329, 8, h.devmajor);
  writeOctal(block, 337, 8, h.devminor);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return block;
}

const FLAGS: Record<EntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
};

const fitsUstar = (s: string) => isAscii(s) && Buffer.byteLength(s) <= 100;

/**
 * The header blocks for one entry: a PAX header first when a field does not fit ustar
 * (long or non-ASCII names, big ids or sizes, sub-second mtime, xattrs). Deterministic: the
 * same input gives the same bytes.
 */
export function encodeHeader(h: WriteHeader): Buffer {
  const name = h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const linkname = h.linkname ?? '';
  const pax: Buffer[] = [];
  const MAX7 = 0o7777777;
  const MAX11 = 0o77777777777;
  if (!fitsUstar(name)) pax.push(paxRecord('path', Buffer.from(name)));
  if (!fitsUstar(linkname)) pax.push(paxRecord('linkpath', Buffer.from(linkname)));
  if (h.uid > MAX7) pax.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > MAX7) pax.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (h.size > MAX11) pax.push(paxRecord('size', Buffer.from(String(h.size))));
  if (h.mtime.nsec !== 0 || h.mtime.sec < 0 || h.mtime.sec > MAX11) {
    const frac = h.mtime.nsec ? `.${String(h.mtime.nsec).padStart(9, '0').replace(/0+$/, '')}` : '';
    pax.push(paxRecord('mtime', Buffer.from(`${h.mtime.sec}${frac}`)));
  }
  if (h.xattrs) {
    const names = [...h.xattrs.keys()].sort(compareBytes);
    for (const x of names) pax.push(paxRecord(`SCHILY.xattr.${x}`, h.xattrs.get(x)!));
  }
  const fixed = {
    name: fitsUstar(name) ? name : asciiPrefix(name, 100),
    flag: FLAGS[h.type],
    mode: h.mode & 0o7777,
    uid: Math.min(h.uid, MAX7),
    gid: Math.min(h.gid, MAX7),
    size: h.type === 'file' ? Math.min(h.size, MAX11) : 0,
    mtime: Math.max(0, Math.min(h.mtime.sec, MAX11)),
    linkname: fitsUstar(linkname) ? linkname : asciiPrefix(linkname, 100),
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  };
  const main = rawHeader(fixed);
  if (pax.length === 0) return main;
  const paxData = Buffer.concat(pax);
  const slash = name.replace(/\/$/, '').lastIndexOf('/');
  const paxName = asciiPrefix(
    slash === -1 ? `PaxHeaders.0/${name.replace(/\/$/, '')}` : `${name.slice(0, slash)}/PaxHeaders.0/${name.slice(slash + 1).replace(/\/$/, '')}`,
    100,
  );
  const paxHead = rawHeader({ ...fixed, name: paxName, flag: 'x', size: paxData.length, linkname: '', devmajor: 0, devminor: 0 });
  return Buffer.concat([paxHead, paxData, Buffer.alloc(pad(paxData.length)), main]);
}

/** An ASCII stand-in for a name that lives in the PAX record (readers that skip PAX see this). */
function asciiPrefix(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, max);
}

export const padding = (size: number): Buffer => Buffer.alloc(pad(size));
export const endOfArchive = (): Buffer => Buffer.alloc(2 * BLOCK);

/** Byte order of the UTF-8 encodings (what Go's sort of names gives), not UTF-16 order. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
