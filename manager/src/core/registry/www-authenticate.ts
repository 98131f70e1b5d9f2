// WWW-Authenticate challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"`, `Basic
// realm="…"`, several challenges in one header or in several headers. Registries use the
// Bearer one to say where a token comes from and for which scope; pure parsing, no I/O.

export interface Challenge {
  /** Lower-case scheme: "bearer", "basic", … */
  scheme: string;
  /** Parameters by lower-case name, values unquoted. */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/** Every challenge in the header value(s), in order; garbage between them is skipped. */
export function parseWwwAuthenticate(header: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const h of Array.isArray(header) ? header : header === undefined ? [] : [header]) parseOne(h, out);
  return out;
}

function parseOne(h: string, out: Challenge[]): void {
  let i = 0;
  let current: Challenge | undefined;
  const skipSpace = () => {
    while (i < h.length && (h[i] === ' ' || h[i] === '\t')) i++;
  };
  const token = (): string => {
    const m = TOKEN.exec(h.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  const quoted = (): string => {
    let v = '';
    i++; // opening quote
    while (i < h.length && h[i] !== '"') {
      if (h[i] === '\\' && i + 1 < h.length) i++;
      v += h[i++];
    }
    i++; // closing quote (or end)
    return v;
  };
  while (i < h.length) {
    skipSpace();
    if (h[i] === ',') {
      i++;
      continue;
    }
    const name = token();
    if (!name) {
      i++; // not a token: skip the character
      continue;
    }
    skipSpace();
    if (h[i] === '=' && current) {
      i++;
      skipSpace();
      const value = h[i] === '"' ? quoted() : token();
      current.params[name.toLowerCase()] = value;
      continue;
    }
    // A token not followed by '=' starts a new challenge. (token68 credentials, as in
    // `Negotiate abc==`, are not used by registries; they parse as an empty parameter.)
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
  }
}

/** The first challenge of `scheme` (lower-case). */
export const findChallenge = (challenges: Challenge[], scheme: string): Challenge | undefined => challenges.find((c) => c.scheme === scheme);
