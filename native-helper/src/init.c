#define _GNU_SOURCE
#include "init.h"
#include "rootpath.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "caps.h"
#include "cleanup.h"
#include "console.h"
#include "errors.h"
#include "exec.h"
#include "hooks.h"
#include "mounts.h"
#include "ns.h"
#include "seccomp.h"
#include "settings.h"
#include "sync.h"
#include "user.h"

/* Step 4: the filesystem. createContainer hooks run between building the rootfs and entering
 * it: they see the finished tree from the host's root, inside the container's namespaces. */
static int step_rootfs(struct plan *p, const char *state)
{
	_cleanup_close_ int rootfd = -1;

	if (!p->rootfs)
		return hooks_run(p, HOOK_CREATE_CONTAINER, state);
	rootfd = rootfs_prepare(p);
	if (rootfd < 0 || rootfs_populate(rootfd, p) < 0)
		return -1;
	if (hooks_run(p, HOOK_CREATE_CONTAINER, state) < 0)
		return -1;
	return rootfs_enter(rootfd, p);
}

/* Step 9. The bounding set is cut while we still hold CAP_SETPCAP. KEEPCAPS keeps the permitted
 * set across the uid change, which would otherwise empty it, so capset can then pick exactly
 * the plan's sets; ambient caps go last since they must be in permitted and inheritable. */
static int step_caps_and_user(const struct plan *p)
{
	bool keep = p->has_caps && p->has_user;

	if (p->has_caps && caps_limit_bounding(p->caps[CAPSET_BOUNDING]) < 0)
		return -1;
	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return fail(errno, "prctl PR_SET_KEEPCAPS");
	if (user_set_groups(p) < 0)
		return -1;
	if (p->has_user && user_switch(p->uid, p->gid) < 0)
		return -1;
	if (keep && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return fail(errno, "prctl PR_SET_KEEPCAPS off");
	if (!p->has_caps)
		return 0;
	if (caps_set(p->caps[CAPSET_EFFECTIVE], p->caps[CAPSET_PERMITTED], p->caps[CAPSET_INHERITABLE]) < 0)
		return -1;
	return caps_set_ambient(p->caps[CAPSET_AMBIENT]);
}

/* The exec fifo's write end after `start` opened it, until execve; -1 before. */
static int g_start_fd = -1;

/* Step 11: `ready`, then wait for `start` on the exec fifo. */
static int step_ready(struct plan *p)
{
	char path[64];
	_cleanup_close_ int fd = -1;

	if (sync_send_ready() < 0)
		return -1;
	if (p->fifo_fd < 0)
		return 0;
	/* Reopening our O_PATH fd through /proc gives a real fifo open, which blocks until the
	 * reader (`start`) opens the other end. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p->fifo_fd);
	do
		fd = open(path, O_WRONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return fail(errno, "open exec fifo \"%s\"", p->exec_fifo);
	if (write(fd, "0", 1) != 1)
		return fail(errno, "write exec fifo \"%s\"", p->exec_fifo);
	close(p->fifo_fd);
	p->fifo_fd = -1;
	/* Keep the write end open (it is close-on-exec) until execve: `start` reads on to EOF,
	 * so its poststart hooks run only after the startContainer hooks and the exec of the
	 * user's program (or our death), as the OCI spec requires. A failure in between is
	 * written here too, since `create` and its sync socket are gone by then. */
	g_start_fd = take_fd(&fd);
	return 0;
}

static int run(struct plan *p, struct line_reader *r)
{
	_cleanup_free_ char *state = NULL;
	_cleanup_free_ char *exe = NULL;

	if (sync_wait_go(r, &state) < 0)
		return -1;

	/* 1. The library has written our uid/gid maps by now (before that, ids 0 do not exist
	 *    in the namespace); become its root. */
	if (ns_is_new(p, NS_USER)) {
		if (setresgid(0, 0, 0) < 0)
			return fail(errno, "setresgid 0 in the new user namespace");
		if (setresuid(0, 0, 0) < 0)
			return fail(errno, "setresuid 0 in the new user namespace");
	}
	/* 2. Only now: a cgroup namespace is rooted at the cgroup we are in when it is made,
	 *    and the library moved us into the container's cgroup before `go`. */
	if (ns_is_new(p, NS_CGROUP) && unshare(CLONE_NEWCGROUP) < 0)
		return fail(errno, "unshare cgroup namespace");
	/* 3. A session of our own, needed before a pty can become the controlling terminal. */
	if (setsid() < 0)
		return fail(errno, "setsid");
	/* 4. */
	if (step_rootfs(p, state) < 0)
		return -1;
	/* 4b. Like runc, a cwd missing from the image is created (as root, before the root
	 *     may become read-only); after pivot_root "/" is the container's root. */
	if (p->rootfs && p->cwd && access(p->cwd, F_OK) < 0 && errno == ENOENT) {
		_cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		_cleanup_close_ int cwdfd = -1;

		if (rootfd < 0)
			return fail(errno, "open \"/\" to create cwd");
		cwdfd = root_mkdir_all(rootfd, p->cwd);
		if (cwdfd < 0)
			return -1;
	}
	/* 5. /dev/pts is mounted by now. */
	if (p->terminal && console_setup(p) < 0)
		return -1;
	/* 6. */
	if (settings_names(p) < 0 || settings_loopback(p) < 0)
		return -1;
	/* 7. sysctls before the masked/readonly paths: /proc/sys becomes read-only there. */
	if (settings_sysctls(p) < 0 || rootfs_restrict(p) < 0)
		return -1;
	/* 8. While still root: writing oom_score_adj and raising rlimits need privileges. */
	if (settings_process(p) < 0)
		return -1;
	/* 8b. Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the user switch
	 *     and capset below may take away: load it now (runc's order). What follows runs
	 *     under the filter. With no_new_privs it waits until just before execve. */
	if (p->seccomp.present && !p->no_new_privileges && seccomp_load_plan(p) < 0)
		return -1;
	/* 9. */
	if (step_caps_and_user(p) < 0)
		return -1;
	/* 10. From here on no execve, startContainer hooks included, can gain privileges. cwd
	 *     and the lookup come after the user switch so they are checked with its rights. */
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(errno, "prctl PR_SET_NO_NEW_PRIVS");
	if (p->cwd && chdir(p->cwd) < 0)
		return fail(errno, "chdir to cwd \"%s\"", p->cwd);
	exe = exec_lookup(p);
	if (!exe)
		return -1;
	/* 11. */
	if (step_ready(p) < 0)
		return -1;
	/* 12. */
	if (hooks_run(p, HOOK_START_CONTAINER, state) < 0)
		return -1;
	if (exec_arrange_fds(p) < 0)
		return -1;
	return exec_container(p, exe);
}

void init_main(struct plan *p, struct line_reader *r)
{
	sigset_t none;

	prctl(PR_SET_NAME, "berth:init", 0, 0, 0);
	/* stage0 blocked signals around clone(); we take the defaults. SIGPIPE is ignored until
	 * execve so that a vanished peer gives EPIPE instead of killing us silently. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	run(p, r);
	/* After the exec byte only `start` is listening, on the fifo: tell it what failed. */
	if (g_start_fd >= 0)
		dprintf(g_start_fd, "%s\n", g_err.msg);
	sync_send_error();
	/* _exit: stdio buffers and atexit handlers belong to stage0's copy of memory. */
	_exit(1);
}
