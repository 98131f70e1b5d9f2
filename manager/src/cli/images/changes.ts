// `import -c` (and later `commit -c`): Dockerfile instructions applied to an image's config,
// the ones Docker accepts there — CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL,
// USER, VOLUME, WORKDIR — with the Dockerfile's syntax: JSON (exec) or shell form for CMD and
// ENTRYPOINT, `ENV k=v k2="v 2"` or `ENV k v`, `LABEL k=v ...`, `EXPOSE 80 443/udp`, relative
// WORKDIR joined to the previous one. Pure: config in, config out.

import { posix } from 'node:path';
import { CliError } from '../errors';

export type ContainerConfig = Record<string, unknown>;

const ALLOWED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

const bad = (change: string, why: string) => new CliError(`invalid change ${JSON.stringify(change)}: ${why}`);

/** A JSON array of strings, or undefined when `s` is not one (then it is the shell form). */
function jsonArray(s: string): string[] | undefined {
  if (!s.trimStart().startsWith('[')) return undefined;
  try {
    const v = JSON.parse(s) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // not JSON: the shell form, as Docker treats it
  }
  return undefined;
}

/** Words of `k=v` pairs, with Dockerfile quoting ("a b", 'a b', \ escapes). */
function words(s: string, change: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw bad(change, 'unterminated quote');
  if (inWord) out.push(cur);
  return out;
}

/** `k=v k2=v2` (every word has "="), or the old `k v with spaces` form. */
function pairs(rest: string, change: string, instr: string): [string, string][] {
  const ws = words(rest, change);
  if (ws.length === 0) throw bad(change, `${instr} requires at least one argument`);
  if (!ws[0]!.includes('=')) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(rest.trim());
    if (!m) throw bad(change, `${instr} must have two arguments`);
    return [[m[1]!, m[2]!]];
  }
  return ws.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw bad(change, `${instr} names must be followed by "=": ${JSON.stringify(w)}`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

const shellForm = (rest: string): string[] => ['/bin/sh', '-c', rest];

/** The config with `changes` applied in order. */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const c: ContainerConfig = { ...config };
  for (const change of changes) {
    const m = /^\s*(\S+)(?:\s+([\s\S]*))?$/.exec(change);
    if (!m) throw bad(change, 'empty');
    const instr = m[1]!.toUpperCase();
    const rest = (m[2] ?? '').trim();
    if (!ALLOWED.includes(instr)) throw bad(change, `${m[1]} is not a valid change command (valid: ${ALLOWED.join(', ')})`);
    switch (instr) {
      case 'CMD':
      case 'ENTRYPOINT': {
        const key = instr === 'CMD' ? 'Cmd' : 'Entrypoint';
        c[key] = jsonArray(rest) ?? (rest === '' ? null : shellForm(rest));
        // as in a Dockerfile, a new ENTRYPOINT clears the CMD the image had
        if (instr === 'ENTRYPOINT') c.Cmd = null;
        break;
      }
      case 'ENV': {
        const env = [...((c.Env as string[] | null | undefined) ?? [])];
        for (const [k, v] of pairs(rest, change, 'ENV')) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        c.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...((c.Labels as Record<string, string> | null | undefined) ?? {}) };
        for (const [k, v] of pairs(rest, change, 'LABEL')) labels[k] = v;
        c.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...((c.ExposedPorts as Record<string, object> | null | undefined) ?? {}) };
        const ws = words(rest, change);
        if (ws.length === 0) throw bad(change, 'EXPOSE requires at least one argument');
        for (const p of ws) {
          const pm = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
          if (!pm) throw bad(change, `invalid port ${JSON.stringify(p)}`);
          const proto = (pm[3] ?? 'tcp').toLowerCase();
          const from = Number(pm[1]);
          const to = pm[2] === undefined ? from : Number(pm[2]);
          if (from < 1 || to > 65535 || to < from) throw bad(change, `invalid port range ${JSON.stringify(p)}`);
          for (let n = from; n <= to; n++) ports[`${n}/${proto}`] = {};
        }
        c.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...((c.Volumes as Record<string, object> | null | undefined) ?? {}) };
        const list = jsonArray(rest) ?? words(rest, change);
        if (list.length === 0) throw bad(change, 'VOLUME requires at least one argument');
        for (const v of list) vols[v] = {};
        c.Volumes = vols;
        break;
      }
      case 'WORKDIR': {
        if (!rest) throw bad(change, 'WORKDIR requires exactly one argument');
        const prev = typeof c.WorkingDir === 'string' && c.WorkingDir ? c.WorkingDir : '/';
        c.WorkingDir = posix.normalize(rest.startsWith('/') ? rest : posix.join(prev, rest));
        break;
      }
      case 'USER':
        if (!rest) throw bad(change, 'USER requires exactly one argument');
        c.User = rest;
        break;
      case 'STOPSIGNAL':
        if (!rest) throw bad(change, 'STOPSIGNAL requires exactly one argument');
        c.StopSignal = rest;
        break;
      case 'ONBUILD':
        if (!rest) throw bad(change, 'ONBUILD requires at least one argument');
        c.OnBuild = [...((c.OnBuild as string[] | null | undefined) ?? []), rest];
        break;
    }
  }
  return c;
}
