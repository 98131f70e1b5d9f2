/* Paths inside the container's rootfs, resolved by the kernel (openat2 RESOLVE_IN_ROOT) so
 * that no symlink, absolute or "..", can lead out of the rootfs. */
#ifndef BERTH_ROOTPATH_H
#define BERTH_ROOTPATH_H

#include <stdbool.h>

/* Open `path` (a container path) under rootfd as O_PATH. -1 with errno set, g_err untouched,
 * so callers can treat ENOENT as they need. */
int root_open_raw(int rootfd, const char *path, int flags);

/* Open the directory `path` under rootfd, creating it and its parents (mode 0755) as needed.
 * Returns an O_PATH fd, or -1 (g_err filled). */
int root_mkdir_all(int rootfd, const char *path);

/* Open `path` under rootfd, creating it when missing: an empty file when `file`, else a
 * directory (parents too). Returns an O_PATH fd, or -1 (g_err filled). */
int root_create(int rootfd, const char *path, bool file);

/* Split a container path into its parent directory and last component (both malloc'd). */
int path_split(const char *path, char **dir, char **base);

/* "/proc/self/fd/<fd>": lets mount(2) act on exactly the file an fd refers to. */
struct fdpath { char s[40]; };
struct fdpath fd_path(int fd);

#endif
