// The little of the DNS wire format (RFC 1035) the networks' name server needs: read a query's
// header and first question, and write an answer (A and PTR records) or an empty/error reply.
// Anything it does not answer itself is forwarded byte for byte (dns-server.ts).

export const TYPE_A = 1;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;

export interface Question {
  id: number;
  /** Header flags of the query (opcode and RD are echoed). */
  flags: number;
  /** Lower-case, without the trailing dot. */
  name: string;
  type: number;
  klass: number;
  /** Offset just past the question (where answers start in a reply). */
  end: number;
}

/** The first question of a query; undefined when the message is not a well-formed query. */
export function parseQuery(msg: Buffer): Question | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response, not a query
  if (msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    if (len === 0) {
      off++;
      break;
    }
    if (len & 0xc0) return undefined; // no compression in a question we answer
    if (off + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  if (off + 4 > msg.length) return undefined;
  return { id: msg.readUInt16BE(0), flags, name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), klass: msg.readUInt16BE(off + 2), end: off + 4 };
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])), Buffer.from([0])]);
}

export interface Answer {
  type: typeof TYPE_A | typeof TYPE_PTR;
  ttl: number;
  /** A: dotted-quad; PTR: a name. */
  data: string;
}

/**
 * A reply to `q` (whose raw query is `query`): the question copied, then `answers`, each
 * naming the question by a pointer to offset 12. Authoritative, recursion available.
 */
export function buildReply(query: Buffer, q: Question, rcode: number, answers: Answer[] = []): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, the query's opcode and RD, AA, RA, rcode.
  header.writeUInt16BE(0x8000 | (q.flags & 0x7900) | 0x0400 | 0x0080 | (rcode & 0xf), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const parts: Buffer[] = [header, query.subarray(12, q.end)];
  for (const a of answers) {
    const rdata = a.type === TYPE_A ? Buffer.from(a.data.split('.').map(Number)) : encodeName(a.data);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(a.type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(a.ttl, 6);
    rr.writeUInt16BE(rdata.length, 10);
    parts.push(rr, rdata);
  }
  return Buffer.concat(parts);
}

/** "4.3.2.1.in-addr.arpa" → "1.2.3.4"; undefined for other names. */
export function reverseName(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  return m ? [m[4], m[3], m[2], m[1]].join('.') : undefined;
}

/** A query for `name`/`type` (tests, and the forwarder's own probes). */
export function buildQuery(id: number, name: string, type: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(CLASS_IN, 2);
  return Buffer.concat([header, encodeName(name), tail]);
}

/** The rcode and A/PTR answers of a reply (tests). */
export function parseReply(msg: Buffer): { id: number; rcode: number; answers: { type: number; data: string }[] } {
  const id = msg.readUInt16BE(0);
  const rcode = msg.readUInt16BE(2) & 0xf;
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let off = 12;
  const skipName = (): void => {
    for (;;) {
      const len = msg[off]!;
      if (len === 0) {
        off++;
        return;
      }
      if ((len & 0xc0) === 0xc0) {
        off += 2;
        return;
      }
      off += 1 + len;
    }
  };
  const readName = (at: number): string => {
    const labels: string[] = [];
    for (let p = at; ; ) {
      const len = msg[p]!;
      if (len === 0) break;
      if ((len & 0xc0) === 0xc0) {
        p = msg.readUInt16BE(p) & 0x3fff;
        continue;
      }
      labels.push(msg.toString('latin1', p + 1, p + 1 + len));
      p += 1 + len;
    }
    return labels.join('.');
  };
  for (let i = 0; i < qd; i++) {
    skipName();
    off += 4;
  }
  const answers: { type: number; data: string }[] = [];
  for (let i = 0; i < an; i++) {
    skipName();
    const type = msg.readUInt16BE(off);
    const rdlen = msg.readUInt16BE(off + 8);
    const rdata = off + 10;
    answers.push({ type, data: type === TYPE_A ? [...msg.subarray(rdata, rdata + 4)].join('.') : type === TYPE_PTR ? readName(rdata) : msg.subarray(rdata, rdata + rdlen).toString('hex') });
    off = rdata + rdlen;
  }
  return { id, rcode, answers };
}
