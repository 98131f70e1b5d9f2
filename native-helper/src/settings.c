#define _GNU_SOURCE
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"
#include "ns.h"

int settings_names(const struct plan *p)
{
	if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
		return fail(errno, "sethostname \"%s\"", p->hostname);
	if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0)
		return fail(errno, "setdomainname \"%s\"", p->domainname);
	return 0;
}

/* A new network namespace starts with `lo` down: nothing in the container could reach even
 * itself at 127.0.0.1. runc brings it up in every namespace it creates, and Docker's containers
 * (even --network none) rely on that. */
int settings_loopback(const struct plan *p)
{
	struct ifreq ifr;
	_cleanup_close_ int fd = -1;

	if (!ns_is_new(p, NS_NET))
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(errno, "loopback: socket");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return fail(errno, "loopback: get flags of \"lo\"");
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return fail(errno, "loopback: bring \"lo\" up");
	return 0;
}

static int write_file(const char *path, const char *what, const char *value)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	size_t len = strlen(value);

	if (fd < 0)
		return fail(errno, "%s: open \"%s\"", what, path);
	if (write(fd, value, len) != (ssize_t)len)
		return fail(errno, "%s: write \"%s\" to \"%s\"", what, value, path);
	return 0;
}

int settings_sysctls(const struct plan *p)
{
	for (size_t i = 0; i < p->n_sysctls; i++) {
		const struct sysctl_rec *s = &p->sysctls[i];
		char path[4096];

		/* Relative to /proc/sys; ".." would leave it. */
		if (s->key[0] == '/' || strstr(s->key, "..") || !s->key[0])
			return fail_msg(EINVAL, "sysctl \"%s\": bad name", s->key);
		snprintf(path, sizeof(path), "/proc/sys/%s", s->key);
		if (write_file(path, "sysctl", s->value) < 0)
			return -1;
	}
	return 0;
}

int settings_process(const struct plan *p)
{
	if (p->has_oom_score_adj) {
		char buf[16];

		snprintf(buf, sizeof(buf), "%d", p->oom_score_adj);
		if (write_file("/proc/self/oom_score_adj", "oom-score-adj", buf) < 0)
			return -1;
	}
	for (size_t i = 0; i < p->n_rlimits; i++) {
		const struct rlimit_rec *r = &p->rlimits[i];

		if (setrlimit(r->resource, &r->lim) < 0)
			return fail(errno, "setrlimit %d soft=%llu hard=%llu", r->resource,
				    (unsigned long long)r->lim.rlim_cur, (unsigned long long)r->lim.rlim_max);
	}
	if (p->has_umask)
		umask(p->umask);
	/* The execution domain is kept across execve: set it here, it reaches the container. */
	if (p->has_personality && personality(p->personality) < 0)
		return fail(errno, "personality 0x%lx", p->personality);
	return 0;
}
