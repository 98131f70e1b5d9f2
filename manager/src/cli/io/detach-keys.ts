// Docker's detach keys: a comma-separated sequence of keys, each a single character or
// `ctrl-X` (X one of a-z @ [ \ ] ^ _), default ctrl-p,ctrl-q. Typed into an attached stdin,
// the sequence detaches the client and is not sent; a partial sequence is held back until the
// next byte shows whether it goes on (as Docker's escape proxy does).

import { UsageError } from '../errors';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** The bytes of a detach key sequence; UsageError naming the flag for a bad one. */
export function parseDetachKeys(spec: string, commandPath: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length === 1) {
      bytes.push(k.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-(.)$/i.exec(k);
    const c = m?.[1]?.toLowerCase();
    if (c !== undefined && c >= 'a' && c <= 'z') bytes.push(c.charCodeAt(0) - 0x60);
    else if (c !== undefined && '@[\\]^_'.includes(c)) bytes.push('@[\\]^_'.indexOf(c) === 0 ? 0 : 27 + '[\\]^_'.indexOf(c));
    else throw new UsageError(`invalid detach keys ${JSON.stringify(spec)}: ${JSON.stringify(k)} is not a key (a character, or ctrl-<a-z@[\\]^_>)`, commandPath);
  }
  if (bytes.length === 0) throw new UsageError('--detach-keys must not be empty', commandPath);
  return Buffer.from(bytes);
}

/** Watches input for the sequence: what to pass on, and whether the sequence was typed. */
export class DetachMatcher {
  private held = 0;

  constructor(private readonly keys: Buffer) {}

  feed(chunk: Buffer): { pass: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) return { pass: Buffer.from(out), detached: true };
        continue;
      }
      // The sequence broke: what was held back is input after all.
      if (this.held) out.push(...this.keys.subarray(0, this.held));
      this.held = b === this.keys[0] ? 1 : 0;
      if (!this.held) out.push(b);
    }
    return { pass: Buffer.from(out), detached: false };
  }
}
