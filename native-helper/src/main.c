/* berth-init: stage0 ("berth:stage0"). Re-executes itself from a sealed memfd, reads the plan,
 * opens what must be opened from the host, joins namespaces, clones the child and reports its
 * pid; with `wait`, relays the terminal and waits. See PROTOCOL.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "console.h"
#include "errors.h"
#include "init.h"
#include "line.h"
#include "ns.h"
#include "plan.h"
#include "relay.h"
#include "selfexe.h"
#include "sync.h"

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

static volatile pid_t child_pid;

/* stage0's end of the terminal relay's socketpair, -1 without the relay. */
static int relay_fd = -1;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

static void forwarded_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(set, forwarded[i]);
}

/* Create the exec fifo (Node.js has no mkfifo) and hold it by an O_PATH fd: a real open would
 * block until `start`. The child reopens it for writing through /proc/self/fd. */
static int open_exec_fifo(struct plan *p)
{
	struct stat st;

	if (mkfifo(p->exec_fifo, 0622) < 0 && errno != EEXIST)
		return fail(errno, "mkfifo exec fifo \"%s\"", p->exec_fifo);
	p->fifo_fd = open(p->exec_fifo, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (p->fifo_fd < 0)
		return fail(errno, "open exec fifo \"%s\"", p->exec_fifo);
	if (fstat(p->fifo_fd, &st) < 0)
		return fail(errno, "stat exec fifo \"%s\"", p->exec_fifo);
	if (!S_ISFIFO(st.st_mode))
		return fail_msg(EEXIST, "exec fifo \"%s\" exists and is not a fifo", p->exec_fifo);
	/* Exactly 0622 whatever our umask: the container's user, maybe not root, opens it for
	 * writing after the user switch. */
	if (fchmodat(AT_FDCWD, p->exec_fifo, 0622, 0) < 0)
		return fail(errno, "chmod exec fifo \"%s\"", p->exec_fifo);
	return 0;
}

/* Everything stage0 must open while it still sees the host's filesystem. */
static int open_host_side(struct plan *p)
{
	for (int i = 0; i < p->preserve_fds; i++)
		if (fcntl(4 + i, F_GETFD) < 0)
			return fail(errno, "preserve-fds: fd %d", 4 + i);
	if (ns_open_all(p) < 0)
		return -1;
	if (p->exec_fifo && open_exec_fifo(p) < 0)
		return -1;
	if (p->terminal && p->console_socket) {
		p->console_fd = console_connect(p->console_socket);
		if (p->console_fd < 0)
			return -1;
	} else if (p->terminal && relay_socketpair(&relay_fd, &p->console_fd) < 0) {
		return -1;
	}
	return 0;
}

static int wait_child(pid_t pid)
{
	sigset_t set;
	int status;

	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };

		/* The relay resizes the pty instead: the kernel then signals the container's
		 * foreground process group itself. */
		if (forwarded[i] == SIGWINCH && relay_fd >= 0)
			continue;
		sigaction(forwarded[i], &sa, NULL);
	}
	/* Blocked since before clone(): a signal that came meanwhile is delivered (forwarded)
	 * right here, with child_pid already set. SIGWINCH stays blocked for the relay, which
	 * takes it only inside ppoll. */
	forwarded_set(&set);
	if (relay_fd >= 0)
		sigdelset(&set, SIGWINCH);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	if (relay_fd >= 0 && relay_run(relay_fd) < 0) {
		/* Nobody can reach the container's terminal any more: do not leave it running. */
		fprintf(stderr, "berth-init: %s\n", g_err.msg);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return 1;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int joins_namespaces(const struct plan *p)
{
	for (int k = 0; k < NS_COUNT; k++)
		if (p->ns[k].present && p->ns[k].path)
			return 1;
	return 0;
}

static int stage0(struct plan *p, struct line_reader *r)
{
	sigset_t set;
	pid_t pid;

	/* Joining a running container: its processes must not ptrace us or open our
	 * /proc/<pid>/fd (host fds: exec fifo, console socket). Non-dumpable makes /proc/<pid>
	 * root-owned and ptrace refused; execve makes the container process dumpable again. */
	if (joins_namespaces(p) && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail(errno, "prctl PR_SET_DUMPABLE");
	if (open_host_side(p) < 0 || ns_join_all(p) < 0)
		return -1;

	/* Block the forwarded signals across clone(): the child must not run our handler (it
	 * would see child_pid 0 and signal its whole process group); it unblocks them itself. */
	forwarded_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);

	/* Fork-like clone: no CLONE_VM, no new stack; the child gets a copy of our memory,
	 * including the parsed plan and the reader's buffer. */
	pid = (pid_t)syscall(SYS_clone, ns_clone_flags(p) | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		return fail(errno, "clone (flags 0x%lx)", ns_clone_flags(p));
	if (pid == 0) {
		if (relay_fd >= 0)
			close(relay_fd);
		init_main(p, r);
	}
	child_pid = pid;

	if (sync_send_pid(pid) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	if (!p->wait)
		_exit(0);

	/* We stay, but must not hold the sync socket: the library sees EOF at the child's
	 * execve only once every copy of it is closed. Our other fds are no use either. */
	close(g_sync_fd);
	if (p->fifo_fd >= 0)
		close(p->fifo_fd);
	if (p->console_fd >= 0)
		close(p->console_fd);
	_exit(wait_child(pid));
}

int main(int argc, char **argv)
{
	struct line_reader reader = { .fd = 3 };
	struct plan plan;

	/* First of all, before anything can join a container: run from a sealed copy of
	 * ourselves, never from the host's file (CVE-2019-5736). fd 3 is still inheritable. */
	if (selfexe_ensure_sealed(argv) < 0) {
		fprintf(stderr, "berth-init: %s\n", g_err.msg);
		if (argc == 2 && !strcmp(argv[1], "init"))
			sync_send_error();
		return 1;
	}
	if (argc != 2 || strcmp(argv[1], "init")) {
		fprintf(stderr, "usage: berth-init init  (driven by the berth library, see PROTOCOL.md)\n");
		return 2;
	}
	prctl(PR_SET_NAME, "berth:stage0", 0, 0, 0);
	/* Nothing we exec may inherit the sync socket; the child moves it when needed. */
	if (fcntl(g_sync_fd, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "berth-init: fd 3 (sync socket): %s\n", strerror(errno));
		return 1;
	}
	if (plan_read(&reader, &plan) < 0 || stage0(&plan, &reader) < 0) {
		sync_send_error();
		return 1;
	}
	return 0;
}
