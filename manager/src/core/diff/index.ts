// Layers: apply one to a directory, compute one from two directories (or an overlay upper).
export { applyLayer } from './apply';
export type { ApplyOptions, ApplyResult } from './apply';
export { computeDiff } from './compute';
export type { DiffDigests, DiffMode, DiffOptions, LayerDiff } from './compute';
export { MEDIA_TYPES, compressionOf } from './compression';
export type { Compression } from './compression';
export { directApplyTarget } from './target';
export type { ApplyTarget } from './target';
