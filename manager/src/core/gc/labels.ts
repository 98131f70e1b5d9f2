// The labels garbage collection reads, with containerd 1.6's meaning (metadata/gc.go):
//
//   containerd.io/gc.root                      on a blob or a snapshot: keep it (and what it refers to)
//   containerd.io/gc.ref.content[(.|/)<name>]  on an image, container, blob or snapshot: refers to the
//                                              blob whose digest is the value (e.g. `.config`, `.l.0`, `.m.1`)
//   containerd.io/gc.ref.snapshot.<snapshotter>[/<name>]
//                                              refers to that snapshotter's snapshot whose key is the value
//   containerd.io/gc.expire                    on a lease: RFC3339 time after which the lease is dropped
//   containerd.io/gc.flat                      on a lease: hold only the listed resources, not what
//                                              their labels refer to (a snapshot's parents are still held)

export { LABEL_GC_EXPIRE } from '../metadata/leases';

export const LABEL_GC_ROOT = 'containerd.io/gc.root';
export const LABEL_GC_REF_CONTENT = 'containerd.io/gc.ref.content';
export const LABEL_GC_REF_SNAPSHOT = 'containerd.io/gc.ref.snapshot.';
export const LABEL_GC_FLAT = 'containerd.io/gc.flat';

export interface LabelRefs {
  /** Digests of referenced blobs (same namespace). */
  content: string[];
  /** Referenced snapshots (same namespace). */
  snapshots: Array<{ snapshotter: string; key: string }>;
}

/** What a labels map refers to through its gc.ref labels. */
export function labelRefs(labels: Record<string, string> | undefined): LabelRefs {
  const out: LabelRefs = { content: [], snapshots: [] };
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (k.startsWith(LABEL_GC_REF_CONTENT)) {
      // the bare label, or a name after '.' or '/'; "gc.ref.contentX" is some other label
      const sep = k[LABEL_GC_REF_CONTENT.length];
      if (sep === undefined || sep === '.' || sep === '/') out.content.push(v);
    } else if (k.startsWith(LABEL_GC_REF_SNAPSHOT)) {
      const rest = k.slice(LABEL_GC_REF_SNAPSHOT.length);
      const slash = rest.indexOf('/');
      const snapshotter = slash >= 0 ? rest.slice(0, slash) : rest;
      if (snapshotter) out.snapshots.push({ snapshotter, key: v });
    }
  }
  return out;
}

export const isRoot = (labels: Record<string, string> | undefined): boolean => labels !== undefined && LABEL_GC_ROOT in labels;
export const isFlat = (labels: Record<string, string>): boolean => LABEL_GC_FLAT in labels;
