/* The container's filesystem: rootfs, mounts, devices, symlinks, pivot_root, masked and
 * read-only paths. */
#ifndef BERTH_MOUNTS_H
#define BERTH_MOUNTS_H

#include "plan.h"

/* Propagation of "/", a private parent for the rootfs, the rootfs bound onto itself.
 * Returns an O_PATH fd of the bound rootfs, or -1. */
int rootfs_prepare(const struct plan *p);

/* Every `mount`, `device` and `symlink` record, in plan order, under rootfd. */
int rootfs_populate(int rootfd, const struct plan *p);

/* Make rootfd the process's "/" (pivot_root, or MS_MOVE + chroot with no-pivot). */
int rootfs_enter(int rootfd, const struct plan *p);

/* After rootfs_enter: `masked` paths, `readonly` paths, then `readonly-rootfs`. */
int rootfs_restrict(const struct plan *p);

#endif
