// A container's files, for cp, export and diff (berthd's berth.files.v1 service and the
// client's cp): the container's view (its rootfs with its bind mounts), paths resolved in it,
// Docker's path stat, tars of paths, extraction into it, tar rewriting, and the changes of an
// overlay upper dir.
export { resolveInRoot, followLinks, type ResolvedPath, type Root } from './resolve';
export { containerView, plainView, locate, mountsBelow, readOnlyReason, type ContainerView, type ViewMount, type ViewSpec, type Location } from './view';
export { extractInView, type ExtractOptions } from './extract';
export { statPath, goFileMode, isGoDir, isGoSymlink, GO_MODE, type PathStat } from './stat';
export { packPath, type PackOptions } from './pack';
export { rewriteTar, rebaseName, entryBytes, type HeaderRewrite } from './rewrite';
export { overlayChanges, overlayDirs, type Change, type ChangeKind } from './changes';
