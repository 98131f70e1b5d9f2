// Progress of a pull or push, per item (index, manifest, config, layer), as berth.images.v1's
// Progress messages carry it: an item is sent in full whenever it changed, at most ~10 times
// a second (a layer's offset changes on every chunk); lines for the user go out at once.
//
// Statuses of a pull's layer: waiting → downloading (offset: bytes in the content store) →
// verifying (the digest is checked at commit) → extracting (the unpacker still catching up;
// offset: compressed bytes it has read) → unpacked (its snapshot is committed). A layer whose
// blob and snapshot are both there already: exists; whose blob is there but not its snapshot:
// extracting → unpacked. With skip_unpack a layer ends at done (or exists).
// Documents (index, manifest, config): resolving → downloading → done, or exists.
// unpacked, exists, mounted, done and failed are final: an item never leaves them.
// A push's items: waiting → exists (the registry has it) | mounted | uploading → done.
// Any item: failed.

export type ItemKind = 'index' | 'manifest' | 'config' | 'layer';
export type ItemStatus =
  | 'waiting'
  | 'resolving'
  | 'downloading'
  | 'exists'
  | 'mounted'
  | 'uploading'
  | 'verifying'
  | 'extracting'
  | 'unpacked'
  | 'done'
  | 'failed';

const FINAL = new Set<ItemStatus>(['unpacked', 'exists', 'mounted', 'done', 'failed']);

export interface ProgressItem {
  digest: string;
  mediaType: string;
  kind: ItemKind;
  status: ItemStatus;
  /** Bytes done, and in all (0 when unknown). */
  offset: number;
  total: number;
  /** Bytes already in the content store's ingest when the pull started (a resume). */
  resumed: number;
}

export interface ProgressUpdate {
  items: ProgressItem[];
  /** A line for the user ('' when none). */
  message: string;
}

export type ProgressSink = (update: ProgressUpdate) => void;

export class ProgressTracker {
  private readonly items = new Map<string, ProgressItem>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly sink: ProgressSink | undefined,
    /** Least time between two messages carrying only item changes. */
    private readonly intervalMs = 100,
  ) {}

  /** Adds an item (or resets one seen before, e.g. a layer listed twice keeps one item). */
  add(desc: { digest: string; mediaType: string; size: number }, kind: ItemKind, status: ItemStatus = 'waiting'): void {
    const existing = this.items.get(desc.digest);
    if (existing) return;
    this.items.set(desc.digest, { digest: desc.digest, mediaType: desc.mediaType, kind, status, offset: 0, total: desc.size, resumed: 0 });
    this.touch(desc.digest);
  }

  get(digest: string): ProgressItem | undefined {
    const it = this.items.get(digest);
    return it && { ...it };
  }

  update(digest: string, patch: Partial<Omit<ProgressItem, 'digest' | 'kind' | 'mediaType'>>): void {
    const it = this.items.get(digest);
    if (!it) return;
    // late offsets of a finished item do not bring it back; a failed one stays failed
    if (it.status === 'failed' || (FINAL.has(it.status) && patch.status === undefined)) return;
    Object.assign(it, patch);
    this.touch(digest);
  }

  /** Sends a line now, with the items changed so far. */
  message(line: string): void {
    this.flush(line);
  }

  /** Sends what changed, if anything (and the line). */
  flush(line = ''): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.closed || !this.sink) {
      this.dirty.clear();
      return;
    }
    if (this.dirty.size === 0 && !line) return;
    const items = [...this.dirty].map((d) => ({ ...this.items.get(d)! }));
    this.dirty.clear();
    this.sink({ items, message: line });
  }

  /** Flushes and stops: later changes are dropped. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private touch(digest: string): void {
    this.dirty.add(digest);
    if (!this.timer && !this.closed) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.intervalMs);
      this.timer.unref?.();
    }
  }
}
