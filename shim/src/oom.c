/* Counting the OOM kills in the container's memory cgroup (PROTOCOL.md "OOM"). berthd names the
 * cgroup; the shim only counts. cgroup v1 notifies an eventfd registered through
 * cgroup.event_control on memory.oom_control; cgroup v2 has no such notification, so an inotify
 * watch on memory.events says when to re-read its oom_kill counter. */
#include "shim.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

enum { OOM_NONE, OOM_V1, OOM_V2 };

static struct {
	int kind;
	char dir[PATH_MAX];
	char events[PATH_MAX + 16]; /* v2: DIR/memory.events */
	unsigned long long base;    /* v2: its oom_kill when the watch began */
} w;

/* The oom_kill line of a memory.events file; -1 with errno when it cannot be read. */
static int read_oom_kill(const char *path, unsigned long long *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[1024], *line, *save = NULL;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	*out = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "oom_kill ", 9) == 0)
			*out = strtoull(line + 9, NULL, 10);
	}
	return 0;
}

/* v1: an eventfd the kernel signals on each OOM of the cgroup (and once when it is removed). */
static int watch_v1(int control)
{
	_cleanup_close_ int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), ctl = -1;
	char path[PATH_MAX + 32], cmd[32];
	int n;

	if (efd < 0)
		return fail(errno, "eventfd");
	snprintf(path, sizeof(path), "%s/cgroup.event_control", w.dir);
	ctl = open(path, O_WRONLY | O_CLOEXEC);
	if (ctl < 0)
		return fail(errno, "open %s", path);
	n = snprintf(cmd, sizeof(cmd), "%d %d", efd, control);
	if (write(ctl, cmd, (size_t)n) != n)
		return fail(errno, "register with %s", path);
	g.oom_fd = take_fd(&efd);
	w.kind = OOM_V1;
	return 0;
}

/* v2: memory.events is modified (and inotify says so) whenever one of its counters moves. The
 * base is read before the watch is added: a kill in between is then found by the next read. */
static int watch_v2(void)
{
	_cleanup_close_ int fd = -1;

	snprintf(w.events, sizeof(w.events), "%s/memory.events", w.dir);
	if (read_oom_kill(w.events, &w.base) < 0)
		return fail(errno, "%s: neither memory.oom_control (cgroup v1) nor memory.events (cgroup v2) can be read", w.dir);
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return fail(errno, "inotify_init1");
	if (inotify_add_watch(fd, w.events, IN_MODIFY) < 0)
		return fail(errno, "inotify_add_watch %s", w.events);
	g.oom_fd = take_fd(&fd);
	w.kind = OOM_V2;
	return 0;
}

int oom_watch(const char *dir)
{
	char path[PATH_MAX + 32];
	_cleanup_close_ int control = -1;

	if (dir[0] != '/')
		return fail_msg(EINVAL, "%s: the cgroup path must be absolute", dir);
	if (strlen(dir) >= sizeof(w.dir))
		return fail_msg(ENAMETOOLONG, "%s: path too long", dir);
	if (w.kind != OOM_NONE) {
		/* berthd asks again after a restart: the same cgroup is no change. */
		if (strcmp(w.dir, dir) == 0)
			return 0;
		return fail_msg(EBUSY, "already watching %s", w.dir);
	}
	snprintf(w.dir, sizeof(w.dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/memory.oom_control", dir);
	control = open(path, O_RDONLY | O_CLOEXEC);
	/* The kernel takes what it needs from the control file at registration: it closes here. */
	if ((control >= 0 ? watch_v1(control) : watch_v2()) < 0) {
		w.dir[0] = 0;
		return -1;
	}
	return 0;
}

static void oom_stop(void)
{
	if (g.oom_fd >= 0)
		close(g.oom_fd);
	g.oom_fd = -1;
	w.kind = OOM_NONE;
}

int oom_take(void)
{
	unsigned long long before = g.oom_count;

	if (w.kind == OOM_V1) {
		uint64_t n;
		if (read(g.oom_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
			return 0; /* EAGAIN: nothing new */
		/* The same eventfd is signalled when the cgroup is removed: not an OOM. */
		if (access(w.dir, F_OK) < 0 && errno == ENOENT) {
			oom_stop();
			return 0;
		}
		g.oom_count += n;
	} else if (w.kind == OOM_V2) {
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		unsigned long long v;
		/* The events only say "look again"; the counter is the file's. */
		while (read(g.oom_fd, buf, sizeof(buf)) > 0)
			;
		if (read_oom_kill(w.events, &v) < 0) {
			if (errno == ENOENT || errno == ENODEV)
				oom_stop(); /* the cgroup is gone */
			return 0;
		}
		if (v > w.base + g.oom_count)
			g.oom_count = v - w.base;
	}
	return g.oom_count != before;
}

void oom_check(void)
{
	if (oom_take())
		control_oom_changed();
}
