export * from './types';
export { parseFilters, type Matcher } from './filter';
export { mountAll, unmount } from './mount';
export { diskUsage } from './fsutil';
export { DirSnapshotter } from './snapshotter';
export { OverlaySnapshotter, type OverlayOptions } from './overlay';
export { NativeSnapshotter } from './native';
export { exclusive, exclusiveAll } from './exclusive';
