#define _GNU_SOURCE
#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static const char *kind_name(enum hook_kind k)
{
	return k == HOOK_CREATE_CONTAINER ? "createContainer" : "startContainer";
}

/* Fill a pipe with the whole state before the hook starts: it cannot block us however the
 * hook reads, and a hook that never reads cannot make us wait. */
static int state_pipe(const char *state, const char *what, int *rd)
{
	_cleanup_close_ int r = -1, w = -1;
	size_t len = strlen(state);
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return fail(errno, "%s: pipe", what);
	r = fds[0];
	w = fds[1];
	if (len > 65536 && fcntl(w, F_SETPIPE_SZ, (int)len) < 0)
		return fail(errno, "%s: grow the state pipe to %zu bytes", what, len);
	if (len && write(w, state, len) != (ssize_t)len)
		return fail(errno, "%s: write the state", what);
	*rd = take_fd(&r);
	return 0;
}

static void hook_child(const struct hook_rec *h, int state_rd, int err_wr)
{
	sigset_t none;

	if (dup2(state_rd, 0) < 0)
		goto out;
	/* Nothing of ours but stdio reaches the hook; err_wr is close-on-exec already. */
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(h->path, h->argv, h->envp);
out:
	{
		int e = errno;
		ssize_t ignored = write(err_wr, &e, sizeof(e));
		(void)ignored;
	}
	_exit(127);
}

static int hook_run(const struct hook_rec *h, const char *state)
{
	char what[4200];
	_cleanup_close_ int state_rd = -1, err_rd = -1, err_wr = -1, pidfd = -1;
	int fds[2], status, exec_errno;
	pid_t pid;
	ssize_t n;

	snprintf(what, sizeof(what), "%s hook \"%s\"", kind_name(h->kind), h->path);
	if (state_pipe(state, what, &state_rd) < 0)
		return -1;
	/* Close-on-exec pipe: EOF means execve worked, an int is the errno it failed with. */
	if (pipe2(fds, O_CLOEXEC) < 0)
		return fail(errno, "%s: pipe", what);
	err_rd = fds[0];
	err_wr = fds[1];

	pid = fork();
	if (pid < 0)
		return fail(errno, "%s: fork", what);
	if (pid == 0)
		hook_child(h, state_rd, err_wr);
	close(err_wr);
	err_wr = -1;

	do
		n = read(err_rd, &exec_errno, sizeof(exec_errno));
	while (n < 0 && errno == EINTR);
	if (n == sizeof(exec_errno)) {
		waitpid(pid, NULL, 0);
		return fail(exec_errno, "%s: exec", what);
	}

	if (h->timeout) {
		struct pollfd pfd = { .events = POLLIN };
		int r;

		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0) {
			int e = errno;
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return fail(e, "%s: pidfd_open", what);
		}
		pfd.fd = pidfd;
		do
			r = poll(&pfd, 1, (int)(h->timeout > 2000000 ? 2000000000 : h->timeout * 1000));
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return fail_msg(ETIMEDOUT, "%s: timed out after %u s", what, h->timeout);
		}
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return fail(errno, "%s: wait", what);
	}
	if (WIFSIGNALED(status))
		return fail_msg(0, "%s: killed by signal %d", what, WTERMSIG(status));
	if (WEXITSTATUS(status))
		return fail_msg(0, "%s: exited with status %d", what, WEXITSTATUS(status));
	return 0;
}

int hooks_run(const struct plan *p, enum hook_kind kind, const char *state)
{
	for (size_t i = 0; i < p->n_hooks; i++)
		if (p->hooks[i].kind == kind && hook_run(&p->hooks[i], state) < 0)
			return -1;
	return 0;
}
