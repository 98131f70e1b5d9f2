#define _GNU_SOURCE
#include "ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
	const char *name;
	int flag;
} kinds[NS_COUNT] = {
	[NS_USER] = { "user", CLONE_NEWUSER }, [NS_PID] = { "pid", CLONE_NEWPID },
	[NS_NET] = { "net", CLONE_NEWNET },    [NS_IPC] = { "ipc", CLONE_NEWIPC },
	[NS_UTS] = { "uts", CLONE_NEWUTS },    [NS_MNT] = { "mnt", CLONE_NEWNS },
	[NS_CGROUP] = { "cgroup", CLONE_NEWCGROUP }, [NS_TIME] = { "time", CLONE_NEWTIME },
};

/* user first: joining it grants the capabilities needed to join the namespaces it owns.
 * mnt last: once joined, the host paths the other steps might need are gone. time (new) is
 * handled between the two, see ns_join_all. */
static const enum ns_kind join_order[] = { NS_USER, NS_IPC, NS_UTS, NS_NET, NS_PID, NS_CGROUP,
					   NS_TIME, NS_MNT };

int ns_open_all(struct plan *p)
{
	for (int k = 0; k < NS_COUNT; k++) {
		struct ns_rec *n = &p->ns[k];

		if (!n->present || !n->path)
			continue;
		n->fd = open(n->path, O_RDONLY | O_CLOEXEC);
		if (n->fd < 0)
			return fail(errno, "open %s namespace \"%s\"", kinds[k].name, n->path);
	}
	return 0;
}

static int write_offset(int fd, int clock, const struct timens_rec *t, const char *name)
{
	char buf[96];
	int len = snprintf(buf, sizeof(buf), "%d %lld %ld\n", clock, t->secs, t->nsecs);

	if (write(fd, buf, (size_t)len) != len)
		return fail(errno, "set %s offset of the time namespace to %lld.%09ld s", name, t->secs,
			    t->nsecs);
	return 0;
}

/* unshare(CLONE_NEWTIME) only moves our future children into the new namespace; its offsets
 * can be written only until the first process enters it, i.e. before clone(). */
static int new_time_ns(struct plan *p)
{
	_cleanup_close_ int fd = -1;

	if (unshare(CLONE_NEWTIME) < 0)
		return fail(errno, "unshare time namespace");
	if (!p->timens_monotonic.present && !p->timens_boottime.present)
		return 0;
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open \"/proc/self/timens_offsets\"");
	if (p->timens_monotonic.present &&
	    write_offset(fd, CLOCK_MONOTONIC, &p->timens_monotonic, "monotonic") < 0)
		return -1;
	if (p->timens_boottime.present &&
	    write_offset(fd, CLOCK_BOOTTIME, &p->timens_boottime, "boottime") < 0)
		return -1;
	return 0;
}

int ns_join_all(struct plan *p)
{
	for (size_t i = 0; i < sizeof(join_order) / sizeof(join_order[0]); i++) {
		enum ns_kind k = join_order[i];
		struct ns_rec *n = &p->ns[k];

		/* A new time namespace is made before joining mnt: writing its offsets goes through
		 * our own /proc, which a joined container's /proc would not show. */
		if (k == NS_TIME && ns_is_new(p, k)) {
			if (new_time_ns(p) < 0)
				return -1;
			continue;
		}
		if (n->fd < 0)
			continue;
		if (setns(n->fd, kinds[k].flag) < 0)
			return fail(errno, "join %s namespace \"%s\"", kinds[k].name, n->path);
		close(n->fd);
		n->fd = -1;
	}
	return 0;
}

unsigned long ns_clone_flags(const struct plan *p)
{
	unsigned long flags = 0;

	for (int k = 0; k < NS_COUNT; k++) {
		/* cgroup: unshared by the child once the library moved it into its cgroup.
		 * time: clone() has no bit for it (0x80 is CSIGNAL's), see new_time_ns. */
		if (k == NS_CGROUP || k == NS_TIME)
			continue;
		if (ns_is_new(p, (enum ns_kind)k))
			flags |= (unsigned long)kinds[k].flag;
	}
	return flags;
}
