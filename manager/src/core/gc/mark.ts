// Mark and sweep of the metadata (meta.lmdb), namespace by namespace, inside one write
// transaction: what containerd 1.6's scanRoots / references / scanAll / remove do over bolt.
//
// Nodes are a namespace's blobs (by digest), ingests (by ref) and snapshots (by
// "<snapshotter>/<key>"); references never leave a namespace.
//
// Roots:
//   - every lease that has not expired (containerd.io/gc.expire in the past; an unparsable
//     value keeps the lease) holds each of its resources: content, ingests, snapshots;
//     a `containerd.io/gc.flat` lease holds them flat (below)
//   - every image: its target digest, and its gc.ref labels
//   - every container: its snapshot (snapshotter/snapshotKey), and its gc.ref labels
//   - every blob and snapshot labelled containerd.io/gc.root
//   - every ingest whose expiresAt (unleased ingests) has not passed
// References:
//   - a blob: its gc.ref labels (content and snapshots)
//   - a snapshot: its parent, and its gc.ref labels
//   - an ingest: the blob it is expected to become
//   - flat nodes (reached from a flat lease) follow a snapshot's parents only; a node
//     reached both flat and not is followed fully
// Sweep: every lease that expired, and every blob, ingest and snapshot record not marked,
// is deleted. Snapshot records of a snapshotter that is not loaded are left alone (their
// labels cannot be read, and there is nothing to remove them from).
//
// The files (blobs, ingest data, snapshot directories) are not touched here: the collector
// removes them after this transaction commits (collector.ts).

import type { Txn } from '../metadata/db';
import { leaseExpiry } from '../metadata/leases';
import { keys, type BlobRecord, type ContainerRecord, type ImageRecord, type IngestRecord, type LeaseRecord, type SnapshotRef } from '../metadata/schema';
import { isFlat, isRoot, labelRefs, type LabelRefs } from './labels';

export interface MarkInput {
  /** The time leases and ingests are judged against (epoch ms). */
  now: number;
  /**
   * The labels of every snapshot of each loaded snapshotter, by backend key (read under the
   * snapshotters' exclusive() locks, so they agree with the records).
   */
  snapshotLabels: ReadonlyMap<string, ReadonlyMap<string, Record<string, string>>>;
}

export interface SweepResult {
  leases: number;
  content: number;
  ingests: number;
  snapshots: number;
  /** Snapshotters that lost a record: their snapshot directories need a sweep. */
  snapshotters: Set<string>;
}

type Kind = 'content' | 'ingest' | 'snapshot';

interface Node {
  kind: Kind;
  key: string;
  flat: boolean;
}

/** Everything a namespace holds, read once. */
interface Objects {
  blobs: Map<string, BlobRecord>;
  ingests: Map<string, IngestRecord>;
  /** snapshotter → key → record */
  snapshots: Map<string, Map<string, SnapshotRef>>;
}

const last = (key: string[]): string => key[key.length - 1] as string;

function readObjects(txn: Txn, ns: string): Objects {
  const blobs = new Map(txn.range<BlobRecord>(keys.blobs(ns), 1).map((e) => [last(e.key), e.value]));
  const ingests = new Map(txn.range<IngestRecord>(keys.ingests(ns), 1).map((e) => [last(e.key), e.value]));
  const snapshots = new Map<string, Map<string, SnapshotRef>>();
  for (const s of txn.children(keys.snapshotters(ns))) {
    snapshots.set(s, new Map(txn.range<SnapshotRef>(keys.snapshots(ns, s), 1).map((e) => [last(e.key), e.value])));
  }
  return { blobs, ingests, snapshots };
}

const snapshotNode = (snapshotter: string, key: string, flat = false): Node => ({ kind: 'snapshot', key: `${snapshotter}/${key}`, flat });

/** Splits a snapshot node key at its first '/' (snapshotter names hold none). */
function splitSnapshot(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

function refNodes(refs: LabelRefs): Node[] {
  return [...refs.content.map((d): Node => ({ kind: 'content', key: d, flat: false })), ...refs.snapshots.map((s) => snapshotNode(s.snapshotter, s.key))];
}

/** Marks and sweeps namespace `ns`; adds what it deleted to `out`. */
function collectNamespace(txn: Txn, ns: string, input: MarkInput, out: SweepResult): void {
  const objs = readObjects(txn, ns);
  const snapshotLabels = (snapshotter: string, ref: SnapshotRef): Record<string, string> | undefined =>
    input.snapshotLabels.get(snapshotter)?.get(ref.backendKey);

  const seen = new Set<string>();
  const reached: Record<Kind, Set<string>> = { content: new Set(), ingest: new Set(), snapshot: new Set() };
  const work: Node[] = [];
  const visit = (n: Node): void => {
    const id = `${n.kind}${n.flat ? '!' : ':'}${n.key}`;
    if (seen.has(id)) return;
    seen.add(id);
    work.push(n);
  };

  // roots: leases
  const expired: string[] = [];
  for (const { key, value } of txn.range<LeaseRecord>(keys.leases(ns), 1)) {
    const id = last(key);
    const labels = value.labels ?? {};
    const exp = leaseExpiry({ labels });
    if (exp && input.now > exp.getTime()) {
      expired.push(id);
      continue;
    }
    const flat = isFlat(labels);
    for (const r of txn.range(keys.leaseResources(ns, id), 2)) {
      const type = r.key[r.key.length - 2] as string;
      const rid = last(r.key);
      if (type === 'content') visit({ kind: 'content', key: rid, flat });
      else if (type === 'ingests') visit({ kind: 'ingest', key: rid, flat });
      else if (type.startsWith('snapshots/')) visit(snapshotNode(type.slice('snapshots/'.length), rid, flat));
    }
  }
  // roots: images, containers
  for (const { value } of txn.range<ImageRecord>(keys.images(ns), 1)) {
    visit({ kind: 'content', key: value.target.digest, flat: false });
    refNodes(labelRefs(value.labels)).forEach(visit);
  }
  for (const { value } of txn.range<ContainerRecord>(keys.containers(ns), 1)) {
    if (value.snapshotter) visit(snapshotNode(value.snapshotter, value.snapshotKey));
    refNodes(labelRefs(value.labels)).forEach(visit);
  }
  // roots: gc.root labels, live ingests
  for (const [digest, rec] of objs.blobs) if (isRoot(rec.labels)) visit({ kind: 'content', key: digest, flat: false });
  for (const [s, refs] of objs.snapshots) {
    for (const [k, ref] of refs) if (isRoot(snapshotLabels(s, ref))) visit(snapshotNode(s, k));
  }
  for (const [ref, rec] of objs.ingests) {
    if (rec.expiresAt !== undefined && input.now <= rec.expiresAt) visit({ kind: 'ingest', key: ref, flat: false });
  }

  // mark
  while (work.length > 0) {
    const n = work.pop() as Node;
    reached[n.kind].add(n.key);
    if (n.kind === 'content') {
      const rec = objs.blobs.get(n.key);
      if (rec && !n.flat) refNodes(labelRefs(rec.labels)).forEach(visit);
    } else if (n.kind === 'ingest') {
      const expected = objs.ingests.get(n.key)?.expected;
      if (expected) visit({ kind: 'content', key: expected, flat: false });
    } else {
      const [s, k] = splitSnapshot(n.key);
      const ref = objs.snapshots.get(s)?.get(k);
      if (!ref) continue; // a reference to something that is not there
      if (ref.parent) visit(snapshotNode(s, ref.parent, n.flat));
      if (!n.flat) refNodes(labelRefs(snapshotLabels(s, ref))).forEach(visit);
    }
  }

  // sweep
  for (const id of expired) txn.removeTree(keys.lease(ns, id));
  out.leases += expired.length;
  for (const digest of objs.blobs.keys()) {
    if (reached.content.has(digest)) continue;
    txn.remove(keys.blob(ns, digest));
    out.content++;
  }
  for (const ref of objs.ingests.keys()) {
    if (reached.ingest.has(ref)) continue;
    txn.remove(keys.ingest(ns, ref));
    out.ingests++;
  }
  for (const [s, refs] of objs.snapshots) {
    if (!input.snapshotLabels.has(s)) continue;
    for (const k of refs.keys()) {
      if (reached.snapshot.has(`${s}/${k}`)) continue;
      txn.remove(keys.snapshot(ns, s, k));
      out.snapshots++;
      out.snapshotters.add(s);
    }
  }
}

/** Marks and sweeps every namespace in `txn` (a write transaction). */
export function markAndSweep(txn: Txn, input: MarkInput): SweepResult {
  const out: SweepResult = { leases: 0, content: 0, ingests: 0, snapshots: 0, snapshotters: new Set() };
  for (const ns of txn.children(keys.namespaces())) collectNamespace(txn, ns, input, out);
  return out;
}
