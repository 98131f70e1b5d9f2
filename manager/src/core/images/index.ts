// Images as data: references, media types, descriptors and documents, chain ids, platforms,
// and containerd's GC labels. Pure (no I/O): shared by the berth CLI and berthd.
export * from './reference';
export * from './mediatypes';
export * from './types';
export * from './labels';
export { chainIds } from './chain';
export { hostPlatform, formatPlatform, platformMatches, selectManifest } from './platform';
