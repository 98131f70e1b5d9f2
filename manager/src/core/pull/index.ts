// The pull pipeline (pull.ts) and its parts: platform choice, resumable downloads that an
// unpacker follows, layer unpacking in chain order, progress, distribution-source labels.
export { pull, named, DEFAULT_LEASE_EXPIRY_MS } from './pull';
export type { PullDeps, PullOptions, PullResult } from './pull';
export { parsePlatform, formatPlatform, normalizePlatform, chooseManifest, platformRank, defaultPlatform, acceptedPlatforms } from './platform';
export { ProgressTracker } from './progress';
export type { ItemKind, ItemStatus, ProgressItem, ProgressUpdate, ProgressSink } from './progress';
export { LABEL_DISTRIBUTION_SOURCE, sourceLabelKey, sourcesOf, appendSource, hostName, recordSource } from './labels';
export type { PullSnapshotter } from './unpack';
export { Limit } from './limit';
export { removeInterruptedUnpacks, PULL_LEASE_PREFIX } from './recover';
