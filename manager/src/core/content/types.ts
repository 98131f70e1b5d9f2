// The content store's narrow interfaces, after containerd's core/content:
//
//   Provider       readerAt(desc)                      read a committed blob
//   InfoProvider   info(digest)
//   Manager        info / update / walk / delete       committed blobs and their labels
//   IngestManager  status / listStatuses / abort       partial writes
//   Ingester       writer(ref, opts)                   start or resume a write
//   Store          all of the above
//
// Two implementations: LocalContentStore (the shared blob files under <root>/content) and
// the namespaced view over it in metadata/content.ts (labels and visibility per namespace).
// test/content-conformance.ts is the one suite both must pass.

export interface Descriptor {
  digest: string;
  size?: number;
  mediaType?: string;
}

export interface Info {
  digest: string;
  size: number;
  createdAt: Date;
  updatedAt: Date;
  labels: Record<string, string>;
}

export interface Status {
  ref: string;
  /** Bytes written so far: where the next write must start. */
  offset: number;
  /** The expected total size, 0 when unknown. */
  total: number;
  /** The expected digest, when the writer was opened with one. */
  expected?: string;
  startedAt: Date;
  updatedAt: Date;
}

export interface ReaderAt {
  readonly size: number;
  /** Reads up to buf.length bytes at `offset`; returns how many (0 at the end). */
  readAt(buf: Uint8Array, offset: number): Promise<number>;
  close(): Promise<void>;
}

export interface WriterOptions {
  /** The expected digest: the write is refused (AlreadyExists) when it is already stored. */
  expected?: string;
  /** The expected size, 0 or undefined when unknown. */
  total?: number;
  /** A lease (namespaced view only) that the committed blob is added to, in the same txn. */
  lease?: string;
}

export interface CommitOptions {
  labels?: Record<string, string>;
}

export interface Writer {
  readonly ref: string;
  /**
   * Writes `data` at `offset` (default: the current offset) and returns data.length.
   * An offset equal to the current offset appends; offset 0 on a non-empty ingest
   * restarts it (truncate); any other offset is refused (FailedPrecondition).
   */
  write(data: Uint8Array, offset?: number): Promise<number>;
  status(): Promise<Status>;
  /** The digest of what has been written so far. */
  digest(): string;
  /** Only truncate(0) (restart the ingest) is supported. */
  truncate(size: number): Promise<void>;
  /**
   * Verifies size (when > 0) and digest (`expected`, or the one given to writer()) and
   * moves the data into place atomically. Mismatch: FailedPrecondition, the ingest is
   * kept (resume or abort it). Already stored: AlreadyExists, the ingest is removed.
   * The writer is closed afterwards either way.
   */
  commit(size: number, expected?: string, opts?: CommitOptions): Promise<void>;
  /** Closes without committing; the ingest stays and can be resumed by ref. */
  close(): Promise<void>;
}

export interface InfoProvider {
  info(digest: string): Promise<Info>;
}

export interface Provider {
  readerAt(desc: Descriptor): Promise<ReaderAt>;
}

export interface Manager extends InfoProvider {
  /** Field paths "labels" or "labels.<key>"; none means "labels" (replace all). */
  update(info: Pick<Info, 'digest'> & Partial<Pick<Info, 'labels'>>, fieldpaths?: string[]): Promise<Info>;
  /** Calls fn for each blob matching any of the filters (fields: digest, size, labels.<k>). */
  walk(fn: (info: Info) => void | Promise<void>, ...filters: string[]): Promise<void>;
  delete(digest: string): Promise<void>;
}

export interface IngestManager {
  status(ref: string): Promise<Status>;
  /** Filters on field `ref`. */
  listStatuses(...filters: string[]): Promise<Status[]>;
  abort(ref: string): Promise<void>;
  /**
   * Reads the bytes written so far to the ingest `ref` (NotFound without one). `size` is the
   * offset when opened; readAt reads whatever the data holds at the time of the call, so a
   * reader can follow a writer that is still appending (the pull pipeline unpacks a layer
   * while it downloads, and re-reads a resumed ingest's first bytes). The reader holds the
   * data file open: a commit (a rename) does not disturb it.
   */
  ingestReaderAt(ref: string): Promise<ReaderAt>;
}

export interface Ingester {
  /** Opens (or resumes) the ingest `ref`; a ref held by another writer is Unavailable. */
  writer(ref: string, opts?: WriterOptions): Promise<Writer>;
}

export interface ContentStore extends Manager, Provider, IngestManager, Ingester {}
