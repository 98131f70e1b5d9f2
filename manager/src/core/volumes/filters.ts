// Docker's filters for volume ls and prune: `key=value` strings; values of one key are OR'ed,
// different keys AND'ed. ls: dangling=true|false, name=SUBSTRING, label=KEY[=VALUE],
// label!=KEY[=VALUE], driver=NAME. prune: label and label! only.

import { invalidArgument } from '../errors';

export interface VolumeFacts {
  name: string;
  driver: string;
  labels: Record<string, string>;
  inUse: boolean;
}

export type VolumePredicate = (v: VolumeFacts) => boolean;

const LIST_KEYS = ['dangling', 'name', 'label', 'label!', 'driver'];
const PRUNE_KEYS = ['label', 'label!'];

function labelMatches(labels: Record<string, string>, want: string): boolean {
  const eq = want.indexOf('=');
  if (eq < 0) return Object.prototype.hasOwnProperty.call(labels, want);
  return labels[want.slice(0, eq)] === want.slice(eq + 1);
}

function parse(filters: string[], allowed: string[]): Map<string, string[]> {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    if (f.trim() === '') continue;
    // "label!=k" before "label=k": the key is everything before the first "=", so "label!" here
    const eq = f.indexOf('=');
    if (eq <= 0) throw invalidArgument(`bad format of filter (expected name=value): ${JSON.stringify(f)}`);
    const key = f.slice(0, eq);
    if (!allowed.includes(key)) throw invalidArgument(`invalid filter '${key}'`);
    const value = f.slice(eq + 1);
    if (key === 'dangling' && !['true', 'false', '1', '0'].includes(value.toLowerCase())) {
      throw invalidArgument(`invalid filter 'dangling=${value}'`);
    }
    byKey.set(key, [...(byKey.get(key) ?? []), value]);
  }
  return byKey;
}

function predicate(byKey: Map<string, string[]>): VolumePredicate {
  return (v) => {
    for (const [key, values] of byKey) {
      switch (key) {
        case 'dangling': {
          const dangling = values.map((x) => x.toLowerCase() === 'true' || x === '1');
          if (!dangling.includes(!v.inUse)) return false;
          break;
        }
        case 'name':
          if (!values.some((x) => v.name.includes(x))) return false;
          break;
        case 'driver':
          if (!values.includes(v.driver)) return false;
          break;
        case 'label':
          if (!values.every((x) => labelMatches(v.labels, x))) return false;
          break;
        case 'label!':
          if (values.some((x) => labelMatches(v.labels, x))) return false;
          break;
      }
    }
    return true;
  };
}

export const listFilter = (filters: string[]): VolumePredicate => predicate(parse(filters, LIST_KEYS));
export const pruneFilter = (filters: string[]): VolumePredicate => predicate(parse(filters, PRUNE_KEYS));
