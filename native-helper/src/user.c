#define _GNU_SOURCE
#include "user.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

/* In a user namespace whose /proc/self/setgroups says "deny", setgroups always fails. */
static int setgroups_denied(void)
{
	_cleanup_close_ int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	char buf[16] = { 0 };

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		return 0;
	return !strncmp(buf, "deny", 4);
}

int user_set_groups(const struct plan *p)
{
	if (p->has_groups) {
		if (setgroups(p->n_groups, p->groups) < 0)
			return fail(errno, "setgroups (%zu groups)", p->n_groups);
		return 0;
	}
	if (setgroups_denied())
		return 0;
	if (setgroups(0, NULL) < 0)
		return fail(errno, "clear supplementary groups");
	return 0;
}

int user_switch(uid_t uid, gid_t gid)
{
	if (setresgid(gid, gid, gid) < 0)
		return fail(errno, "setresgid %u", gid);
	if (setresuid(uid, uid, uid) < 0)
		return fail(errno, "setresuid %u", uid);
	return 0;
}
