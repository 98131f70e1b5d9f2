// A container's files, for cp, export and diff (berthd's berth.files.v1 service and the
// client's cp): paths resolved inside a rootfs, Docker's path stat, tars of paths, tar
// rewriting, and the changes of an overlay upper dir.
export { resolveInRoot, followLinks, type ResolvedPath } from './resolve';
export { statPath, goFileMode, isGoDir, isGoSymlink, GO_MODE, type PathStat } from './stat';
export { packPath, type PackOptions } from './pack';
export { rewriteTar, rebaseName, type HeaderRewrite } from './rewrite';
export { overlayChanges, overlayDirs, type Change, type ChangeKind } from './changes';
