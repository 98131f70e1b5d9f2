export * from './types';
export { LocalContentStore, MemoryLabelStore } from './local';
export type { LabelStore } from './local';
export { hasBlob, readBlob, readStream, writeBlob } from './helpers';
