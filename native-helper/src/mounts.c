#define _GNU_SOURCE
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"
#include "rootpath.h"

#define ATIME_FLAGS (MS_NOATIME | MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME)

/* Flags of the mount at `path` that a bind remount must repeat: in a user namespace the kernel
 * refuses to clear nosuid/nodev/noexec/atime flags the source mount carries ("locked"). */
static int locked_flags(const char *path, const char *what, unsigned long want, unsigned long *out)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(path, &sv) < 0)
		return fail(errno, "statvfs \"%s\"", what);
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	/* Repeat the atime mode only when the caller asks for none of its own. */
	if (!(want & ATIME_FLAGS)) {
		if (sv.f_flag & ST_NOATIME)
			f |= MS_NOATIME;
		if (sv.f_flag & ST_NODIRATIME)
			f |= MS_NODIRATIME;
		if (sv.f_flag & ST_RELATIME)
			f |= MS_RELATIME;
	}
	*out = f;
	return 0;
}

/* Decode the octal escapes (\040 …) of a /proc/self/mountinfo path in place. */
static void unescape_mountinfo(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static int path_has_prefix(const char *path, const char *mp)
{
	size_t l = strlen(mp);

	if (!strcmp(mp, "/"))
		return 1;
	return !strncmp(path, mp, l) && (path[l] == '/' || path[l] == '\0');
}

/* pivot_root and MS_MOVE refuse a new root whose parent mount is shared; with a shared
 * rootfs-propagation the mount holding the rootfs would be, so make it private. */
static int make_parent_private(const char *rootfs)
{
	_cleanup_free_ char *real = realpath(rootfs, NULL);
	_cleanup_free_ char *best = NULL;
	_cleanup_free_ char *line = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	size_t cap = 0;

	if (!real)
		return fail(errno, "resolve rootfs \"%s\"", rootfs);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return fail(errno, "open \"/proc/self/mountinfo\"");
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok = strtok_r(line, " ", &save);

		/* field 5 is the mount point */
		for (int i = 1; tok && i < 5; i++)
			tok = strtok_r(NULL, " ", &save);
		if (!tok)
			continue;
		unescape_mountinfo(tok);
		/* Longest prefix wins; among equals the later line, which is the mount on top. */
		if (path_has_prefix(real, tok) && (!best || strlen(tok) >= strlen(best))) {
			free(best);
			best = strdup(tok);
			if (!best)
				return fail(ENOMEM, "mountinfo");
		}
	}
	if (!best)
		return fail_msg(ENOENT, "no mount holds rootfs \"%s\"", real);
	if (mount(NULL, best, NULL, MS_PRIVATE, NULL) < 0)
		return fail(errno, "make \"%s\" (parent mount of the rootfs) private", best);
	return 0;
}

int rootfs_prepare(const struct plan *p)
{
	int fd;

	/* First, so that none of the mounts below propagates back into the host (slave). */
	if (p->rootfs_propagation && mount(NULL, "/", NULL, p->rootfs_propagation, NULL) < 0)
		return fail(errno, "set propagation 0x%lx on \"/\"", p->rootfs_propagation);
	if (make_parent_private(p->rootfs) < 0)
		return -1;
	/* pivot_root needs the new root to be a mount point; binding it onto itself makes it one
	 * even when the bundle's rootfs is a plain directory. */
	if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail(errno, "bind rootfs \"%s\" onto itself", p->rootfs);
	/* Opened after the bind so the fd refers to the new mount, not the directory below it. */
	fd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open rootfs \"%s\"", p->rootfs);
	return fd;
}

/* Remount the mount on top of `dst` with its (reopened) fd. A fresh fd is needed after a mount
 * on dst: the old one still names the directory underneath. */
static int reopen(int rootfd, const char *dst)
{
	int fd = root_open_raw(rootfd, dst, 0);

	if (fd < 0)
		return fail(errno, "open \"%s\" in rootfs after mounting it", dst);
	return fd;
}

static int mount_bind(int rootfd, const struct mount_rec *m)
{
	const unsigned long extra = m->flags & ~(unsigned long)(MS_BIND | MS_REC);
	_cleanup_close_ int fd = -1, top = -1;
	struct stat st;
	unsigned long locked;

	if (stat(m->src, &st) < 0)
		return fail(errno, "bind mount \"%s\" on \"%s\": stat source", m->src, m->dst);
	fd = root_create(rootfd, m->dst, !S_ISDIR(st.st_mode));
	if (fd < 0)
		return -1;
	if (mount(m->src, fd_path(fd).s, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
		return fail(errno, "bind mount \"%s\" on \"%s\"", m->src, m->dst);
	if (!extra)
		return 0;
	/* The bind itself ignores every other flag: a second call applies ro, nosuid, … */
	top = reopen(rootfd, m->dst);
	if (top < 0 || locked_flags(fd_path(top).s, m->dst, m->flags, &locked) < 0)
		return -1;
	if (mount(NULL, fd_path(top).s, NULL, extra | locked | MS_BIND | MS_REMOUNT, NULL) < 0)
		return fail(errno, "remount bind mount \"%s\" with flags 0x%lx", m->dst, extra | locked);
	return 0;
}

static int mount_one(int rootfd, const struct mount_rec *m)
{
	const char *data = m->data[0] ? m->data : NULL;

	if (m->flags & MS_BIND) {
		if (mount_bind(rootfd, m) < 0)
			return -1;
	} else if (m->flags & MS_REMOUNT) {
		_cleanup_close_ int fd = root_open_raw(rootfd, m->dst, 0);

		if (fd < 0)
			return fail(errno, "remount \"%s\": open", m->dst);
		if (mount(NULL, fd_path(fd).s, NULL, m->flags, data) < 0)
			return fail(errno, "remount \"%s\" with flags 0x%lx", m->dst, m->flags);
	} else {
		_cleanup_close_ int fd = root_create(rootfd, m->dst, false);

		if (fd < 0)
			return -1;
		if (mount(m->src, fd_path(fd).s, m->fstype[0] ? m->fstype : NULL, m->flags, data) < 0)
			return fail(errno, "mount \"%s\" on \"%s\" (type %s)", m->src, m->dst, m->fstype);
	}
	if (m->propflags) {
		_cleanup_close_ int top = reopen(rootfd, m->dst);

		if (top < 0)
			return -1;
		if (mount(NULL, fd_path(top).s, NULL, m->propflags, NULL) < 0)
			return fail(errno, "set propagation 0x%lx on \"%s\"", m->propflags, m->dst);
	}
	return 0;
}

static int device_one(int rootfd, const struct device_rec *d, bool bind)
{
	_cleanup_free_ char *dir = NULL, *base = NULL;
	_cleanup_close_ int dirfd = -1;
	mode_t type;

	if (path_split(d->path, &dir, &base) < 0)
		return -1;
	dirfd = root_mkdir_all(rootfd, dir);
	if (dirfd < 0)
		return -1;
	/* Replace whatever the image has there; unlinkat never follows a symlink. */
	if (unlinkat(dirfd, base, 0) < 0 && errno != ENOENT)
		return fail(errno, "device \"%s\": remove existing file", d->path);

	if (bind && d->type != 'p') {
		_cleanup_close_ int f = openat(dirfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
		_cleanup_close_ int target = -1;

		if (f < 0)
			return fail(errno, "device \"%s\": create bind target", d->path);
		target = openat(dirfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (target < 0)
			return fail(errno, "device \"%s\": open bind target", d->path);
		/* The host's node at the same path: user namespaces cannot mknod. */
		if (mount(d->path, fd_path(target).s, NULL, MS_BIND, NULL) < 0)
			return fail(errno, "bind mount device \"%s\"", d->path);
		return 0;
	}

	type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
	if (mknodat(dirfd, base, type | d->mode, makedev(d->major, d->minor)) < 0)
		return fail(errno, "mknod \"%s\" (%c %u:%u)", d->path, d->type, d->major, d->minor);
	if (fchownat(dirfd, base, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(errno, "chown device \"%s\" to %u:%u", d->path, d->uid, d->gid);
	/* mknod applied our umask; the plan's mode is exact. */
	if (fchmodat(dirfd, base, d->mode, 0) < 0)
		return fail(errno, "chmod device \"%s\" to %04o", d->path, d->mode);
	return 0;
}

static int symlink_one(int rootfd, const struct symlink_rec *s)
{
	_cleanup_free_ char *dir = NULL, *base = NULL;
	_cleanup_close_ int dirfd = -1;

	if (path_split(s->linkpath, &dir, &base) < 0)
		return -1;
	dirfd = root_mkdir_all(rootfd, dir);
	if (dirfd < 0)
		return -1;
	if (symlinkat(s->target, dirfd, base) < 0 && errno != EEXIST)
		return fail(errno, "symlink \"%s\" -> \"%s\"", s->linkpath, s->target);
	return 0;
}

int rootfs_populate(int rootfd, const struct plan *p)
{
	size_t i;

	for (i = 0; i < p->n_mounts; i++)
		if (mount_one(rootfd, &p->mounts[i]) < 0)
			return -1;
	for (i = 0; i < p->n_devices; i++)
		if (device_one(rootfd, &p->devices[i], p->bind_devices) < 0)
			return -1;
	for (i = 0; i < p->n_symlinks; i++)
		if (symlink_one(rootfd, &p->symlinks[i]) < 0)
			return -1;
	return 0;
}

int rootfs_enter(int rootfd, const struct plan *p)
{
	if (fchdir(rootfd) < 0)
		return fail(errno, "chdir to rootfs \"%s\"", p->rootfs);
	if (p->no_pivot) {
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			return fail(errno, "move rootfs \"%s\" to \"/\"", p->rootfs);
		if (chroot(".") < 0)
			return fail(errno, "chroot to rootfs \"%s\"", p->rootfs);
	} else {
		/* pivot_root(".", ".") stacks the old root on top of the new one, so no put_old
		 * directory is needed inside the rootfs. */
		if (syscall(SYS_pivot_root, ".", ".") < 0)
			return fail(errno, "pivot_root to \"%s\"", p->rootfs);
		/* Make the old root a slave before detaching it: unmounting a shared mount would
		 * propagate the unmount to the host's copies. */
		if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			return fail(errno, "make the old root a slave");
		if (umount2(".", MNT_DETACH) < 0)
			return fail(errno, "detach the old root");
	}
	if (chdir("/") < 0)
		return fail(errno, "chdir to \"/\"");
	return 0;
}

static int mask_one(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail(errno, "masked path \"%s\": stat", path);
	}
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
			return fail(errno, "mask directory \"%s\" with a read-only tmpfs", path);
	} else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
		return fail(errno, "mask \"%s\" with /dev/null", path);
	}
	return 0;
}

static int remount_readonly(const char *path)
{
	unsigned long locked;

	if (locked_flags(path, path, 0, &locked) < 0)
		return -1;
	if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked, NULL) < 0)
		return fail(errno, "remount \"%s\" read-only", path);
	return 0;
}

static int readonly_one(const char *path)
{
	/* A bind onto itself gives the path its own mount, which can be made read-only alone. */
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail(errno, "readonly path \"%s\": bind onto itself", path);
	}
	return remount_readonly(path);
}

int rootfs_restrict(const struct plan *p)
{
	size_t i;

	for (i = 0; i < p->n_masked; i++)
		if (mask_one(p->masked[i]) < 0)
			return -1;
	for (i = 0; i < p->n_readonly; i++)
		if (readonly_one(p->readonly[i]) < 0)
			return -1;
	if (p->readonly_rootfs && remount_readonly("/") < 0)
		return -1;
	return 0;
}
