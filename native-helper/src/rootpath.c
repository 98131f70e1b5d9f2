#define _GNU_SOURCE
#include "rootpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

struct fdpath fd_path(int fd)
{
	struct fdpath p;

	snprintf(p.s, sizeof(p.s), "/proc/self/fd/%d", fd);
	return p;
}

int root_open_raw(int rootfd, const char *path, int flags)
{
	/* RESOLVE_IN_ROOT: "/", ".." and absolute symlinks all stop at rootfd.
	 * RESOLVE_NO_MAGICLINKS: a /proc/<pid>/fd/… link in the rootfs cannot jump out either. */
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_PATH | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd, tries = 0;

	if (!*path)
		path = "/";
	do {
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		/* EAGAIN: a rename raced with the lookup; the kernel asks us to retry. */
	} while (fd < 0 && (errno == EAGAIN || errno == EINTR) && ++tries < 64);
	return fd;
}

int path_split(const char *path, char **dir, char **base)
{
	size_t len = strlen(path);
	const char *slash;

	while (len > 1 && path[len - 1] == '/')
		len--;
	slash = memrchr(path, '/', len);
	if (!slash) {
		*dir = strdup("/");
		*base = strndup(path, len);
	} else {
		*dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
		*base = strndup(slash + 1, len - (size_t)(slash + 1 - path));
	}
	if (!*dir || !*base) {
		free(*dir);
		free(*base);
		return fail(ENOMEM, "split path \"%s\"", path);
	}
	return 0;
}

/* Symlinks followed while creating directories; like the kernel's limit on nested links. */
#define MAX_LINK_DEPTH 40

static int mkdir_all(int rootfd, const char *path, int depth);

/* mkdirat met an existing name that does not resolve: a dangling symlink. Create its target,
 * itself resolved under the rootfs, the way mkdir -p through a symlink would. */
static int mkdir_link_target(int rootfd, int dirfd, const char *name, const char *prefix,
			     size_t parent_len, int depth)
{
	_cleanup_free_ char *target = NULL, *full = NULL;
	ssize_t n;
	int fd;

	if (depth >= MAX_LINK_DEPTH)
		return fail(ELOOP, "mkdir \"%s\" in rootfs", prefix);
	target = malloc(PATH_MAX);
	if (!target)
		return fail(ENOMEM, "mkdir \"%s\" in rootfs", prefix);
	n = readlinkat(dirfd, name, target, PATH_MAX - 1);
	if (n < 0)
		return fail(errno, "mkdir \"%s\" in rootfs: readlink", prefix);
	target[n] = '\0';
	/* A relative target is relative to the link's directory. */
	if (target[0] == '/')
		full = strdup(target);
	else if (asprintf(&full, "%.*s/%s", (int)parent_len, prefix, target) < 0)
		full = NULL;
	if (!full)
		return fail(ENOMEM, "mkdir \"%s\" in rootfs", prefix);
	fd = mkdir_all(rootfd, full, depth + 1);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int mkdir_all(int rootfd, const char *path, int depth)
{
	_cleanup_free_ char *prefix = strdup(path);
	_cleanup_close_ int cur = -1;
	size_t len, i = 0, parent_len = 0;

	if (!prefix)
		return fail(ENOMEM, "mkdir \"%s\"", path);
	len = strlen(prefix);
	cur = root_open_raw(rootfd, "/", O_DIRECTORY);
	if (cur < 0)
		return fail(errno, "open rootfs");
	/* Walk component by component; every prefix is resolved from the rootfs again so that a
	 * symlink met on the way is still scoped to the rootfs, never to the current directory. */
	while (i < len) {
		size_t start, end;
		int next;

		while (i < len && prefix[i] == '/')
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && prefix[i] != '/')
			i++;
		end = i;
		prefix[end] = '\0';
		next = root_open_raw(rootfd, prefix, O_DIRECTORY);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(cur, prefix + start, 0755) < 0) {
				if (errno != EEXIST)
					return fail(errno, "mkdir \"%s\" in rootfs", prefix);
				if (mkdir_link_target(rootfd, cur, prefix + start, prefix, parent_len, depth) < 0)
					return -1;
			}
			next = root_open_raw(rootfd, prefix, O_DIRECTORY);
		}
		if (next < 0)
			return fail(errno, "open directory \"%s\" in rootfs", prefix);
		close(cur);
		cur = next;
		parent_len = end;
		if (end < len)
			prefix[end] = '/';
	}
	return take_fd(&cur);
}

int root_mkdir_all(int rootfd, const char *path)
{
	return mkdir_all(rootfd, path, 0);
}

int root_create(int rootfd, const char *path, bool file)
{
	_cleanup_free_ char *dir = NULL, *base = NULL;
	_cleanup_close_ int dirfd = -1;
	int fd;

	fd = root_open_raw(rootfd, path, 0);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		return fail(errno, "open \"%s\" in rootfs", path);
	if (path_split(path, &dir, &base) < 0)
		return -1;
	dirfd = root_mkdir_all(rootfd, dir);
	if (dirfd < 0)
		return -1;
	if (file) {
		/* O_NOFOLLOW|O_EXCL: never create through a symlink planted as the last component. */
		int f = openat(dirfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);

		if (f < 0 && errno != EEXIST)
			return fail(errno, "create file \"%s\" in rootfs", path);
		if (f >= 0)
			close(f);
	} else if (mkdirat(dirfd, base, 0755) < 0 && errno != EEXIST) {
		return fail(errno, "mkdir \"%s\" in rootfs", path);
	}
	fd = root_open_raw(rootfd, path, 0);
	if (fd < 0)
		return fail(errno, "open \"%s\" in rootfs", path);
	return fd;
}
