// Walk filters for snapshots: containerd's filter syntax (parsed by metadata/filters.ts, the
// one parser every store uses) over a snapshot's fields: name, parent, kind
// (view|active|committed) and labels.<key> (a key with dots may be quoted or written plain).

import { labelField, parseFilters as parseGeneric, type Adaptor } from '../metadata/filters';
import type { Info } from './types';

export type Matcher = (info: Info) => boolean;

/** Parse a list of filters (OR'ed); an empty list (or only empty strings) matches everything. */
export function parseFilters(filters: readonly string[] = []): Matcher {
  const filter = parseGeneric(...filters.filter((f) => f.trim() !== ''));
  return (info) => filter.match(snapshotFields(info));
}

function snapshotFields(info: Info): Adaptor {
  return (path) => {
    switch (path[0]?.toLowerCase()) {
      case 'name':
        return path.length === 1 ? info.name : undefined;
      case 'parent':
        // '' means no parent: absent, so the bare `parent` filter (present) does not match it.
        return path.length === 1 && info.parent !== '' ? info.parent : undefined;
      case 'kind':
        return path.length === 1 ? info.kind : undefined;
      case 'labels':
        return labelField(info.labels, path.slice(1));
      default:
        return undefined;
    }
  };
}
