/* berth-shim: start-up (double fork, readiness), the one poll loop. See ../PROTOCOL.md. */
#include "shim.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct shim g = { .log_fd = -1, .ctl_fd = -1, .sig_fd = -1, .dirfd = -1, .oom_fd = -1 };

/* The container's streams are logged through these (only pages that get used count). */
static char g_line_out[LINE_CAP], g_line_err[LINE_CAP];

static char g_ctl_path[108];

static void usage(void)
{
	fputs("usage: berth-shim --id ID --namespace NS --state-dir DIR --init PATH --sync-socket PATH\n"
	      "                  [--log-path FILE] [--log-format raw|cri] [--log-max-size BYTES]\n"
	      "                  [--stdin FIFO] [--open-stdin]\n"
	      "                  [--stdout FIFO] [--stderr FIFO] [--terminal]\n",
	      stderr);
	exit(2);
}

void shim_cleanup_files(void)
{
	proc_release(&g.init);
	for (int i = 0; i < MAX_EXECS; i++) {
		if (g.execs[i])
			proc_release(g.execs[i]);
	}
	if (g_ctl_path[0])
		unlink(g_ctl_path);
	if (g.dirfd >= 0)
		unlinkat(g.dirfd, "shim.pid", 0);
}

/* Everything up to readiness; returns -1 with g_err filled. */
static int setup(struct launch_opts *o)
{
	sigset_t mask;
	char pidtext[32];
	int fd, n;

	/* Before any fork: without it the container process would be reparented past us. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return fail(errno, "prctl PR_SET_CHILD_SUBREAPER");
	/* Lowering oom_score_adj needs CAP_SYS_RESOURCE, which even root may lack: keep ours. */
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "-999", 4) < 0 && errno != EACCES && errno != EPERM) {
			/* nothing else is expected either; the shim runs with the score it has */
		}
		close(fd);
	}
	if (chdir("/") < 0)
		return fail(errno, "chdir /");
	/* SIGCHLD is blocked before the first fork: unblocked, its default disposition would drop
	 * an early exit instead of leaving it pending for the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return fail(errno, "sigprocmask");
	g.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (g.sig_fd < 0)
		return fail(errno, "signalfd");
	signal(SIGPIPE, SIG_IGN);

	g.dirfd = open(g.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g.dirfd < 0)
		return fail(errno, "open state dir %s", g.dir);
	if (log_open(0) < 0)
		return -1;
	if (g.log_path) {
		g.init.out[0].line = g_line_out;
		g.init.out[1].line = g_line_err;
	}
	snprintf(g_ctl_path, sizeof(g_ctl_path), "%s/control.sock", g.dir);
	g.ctl_fd = unix_listen(g_ctl_path);
	if (g.ctl_fd < 0) {
		g_ctl_path[0] = 0;
		return -1;
	}
	n = snprintf(pidtext, sizeof(pidtext), "%d\n", getpid());
	if (write_file_atomic(g.dirfd, "shim.pid", pidtext, (size_t)n) < 0)
		return -1;
	return proc_launch(&g.init, o);
}

/* The shim proper, after the double fork: set up, report on `notify`, then serve. */
static void run(struct launch_opts *o, int notify)
{
	static struct pollfd pfd[3 + (MAX_EXECS + 1) * 7 + MAX_CLIENTS];
	static struct { int kind; struct proc *p; int i; struct client *c; } w[sizeof(pfd) / sizeof(pfd[0])];
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* The starter's pipes must not stay open in a process that lives for days. */
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (setup(o) < 0) {
		char msg[sizeof(g_err.msg) + 8];
		int n = snprintf(msg, sizeof(msg), "error %s", g_err.msg);
		if (write(notify, msg, (size_t)n) < 0) {
			/* the starter is gone; nobody to tell */
		}
		shim_cleanup_files();
		_exit(1);
	}
	if (write(notify, "ok", 2) < 0) {
		/* the starter is gone: serve anyway, berthd finds us by shim.pid */
	}
	close(notify);

	for (;;) {
		int n = 0;
		struct proc *procs[MAX_EXECS + 1];
		int np = 0;

		control_collect();
		for (int i = 0; i < MAX_EXECS; i++) {
			if (g.execs[i] && g.execs[i]->deleted) {
				free(g.execs[i]);
				g.execs[i] = NULL;
			}
		}
		procs[np++] = &g.init;
		for (int i = 0; i < MAX_EXECS; i++) {
			if (g.execs[i])
				procs[np++] = g.execs[i];
		}
		w[n].kind = 0;
		pfd[n++] = (struct pollfd){ .fd = g.sig_fd, .events = POLLIN };
		w[n].kind = 1;
		pfd[n++] = (struct pollfd){ .fd = g.ctl_fd, .events = POLLIN };
		if (g.oom_fd >= 0) {
			w[n].kind = 8;
			pfd[n++] = (struct pollfd){ .fd = g.oom_fd, .events = POLLIN };
		}
		for (int k = 0; k < np; k++) {
			struct proc *p = procs[k];
#define WATCH(K, I, FD, EV) do { w[n].kind = (K); w[n].p = p; w[n].i = (I); \
		pfd[n++] = (struct pollfd){ .fd = (FD), .events = (EV) }; } while (0)
			if (p->console_listen >= 0)
				WATCH(2, 0, p->console_listen, POLLIN);
			if (p->console_conn >= 0)
				WATCH(3, 0, p->console_conn, POLLIN);
			for (int i = 0; i < 2; i++) {
				if (p->out[i].fd >= 0)
					WATCH(4, i, p->out[i].fd, POLLIN);
			}
			/* Only read input that can be written on: a FIFO whose writer left reports
			 * POLLHUP even when nothing is asked, so it is not watched meanwhile. */
			if (p->stdin_src >= 0 && p->stdin_fd >= 0 && !p->inlen)
				WATCH(5, 0, p->stdin_src, POLLIN);
			if (p->stdin_fd >= 0 && p->inlen)
				WATCH(6, 0, p->stdin_fd, POLLOUT);
#undef WATCH
		}
		{
			static struct client *who[sizeof(pfd) / sizeof(pfd[0])];
			int m = control_watch(pfd, who, n, (int)(sizeof(pfd) / sizeof(pfd[0])));
			for (int i = n; i < m; i++) {
				w[i].kind = 7;
				w[i].c = who[i];
			}
			n = m;
		}
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(3);
		}
		for (int i = 0; i < n; i++) {
			struct proc *p = w[i].p;
			short re = pfd[i].revents;

			if (!re)
				continue;
			switch (w[i].kind) {
			case 0: {
				struct signalfd_siginfo si;
				while (read(g.sig_fd, &si, sizeof(si)) > 0)
					;
				reap_children();
				break;
			}
			case 1:
				control_accept();
				break;
			/* Each case checks the fd is still the one polled: an earlier handler in this
			 * turn may have closed it (and the number been reused). */
			case 2:
				if (p->console_listen == pfd[i].fd)
					console_accept(p);
				break;
			case 3:
				if (p->console_conn == pfd[i].fd)
					console_receive(p);
				break;
			case 4:
				if (p->out[w[i].i].fd == pfd[i].fd)
					stream_pump(p, &p->out[w[i].i], 0);
				break;
			case 5:
				if (p->stdin_src == pfd[i].fd && !p->inlen)
					stdin_pull_fifo(p);
				break;
			case 6:
				if (p->stdin_fd == pfd[i].fd)
					stdin_flush(p);
				break;
			case 7:
				control_event(w[i].c, pfd[i].fd, re);
				break;
			case 8:
				if (g.oom_fd == pfd[i].fd)
					oom_check();
				break;
			}
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, 0, 'i' },          { "namespace", required_argument, 0, 'n' },
		{ "state-dir", required_argument, 0, 'd' },   { "init", required_argument, 0, 'x' },
		{ "sync-socket", required_argument, 0, 's' }, { "log-path", required_argument, 0, 'l' },
		{ "log-max-size", required_argument, 0, 'm' }, { "stdin", required_argument, 0, '0' },
		{ "stdout", required_argument, 0, '1' },      { "stderr", required_argument, 0, '2' },
		{ "terminal", no_argument, 0, 't' },          { "open-stdin", no_argument, 0, 'o' },
		{ "log-format", required_argument, 0, 'f' },
		{ 0, 0, 0, 0 },
	};
	struct launch_opts o = { 0 };
	int c, pipefd[2];
	pid_t pid;
	char msg[sizeof(g_err.msg) + 8];
	ssize_t n, got = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': g.id = optarg; break;
		case 'n': g.ns = optarg; break;
		case 'd': g.dir = optarg; break;
		case 'x': g.init_path = optarg; break;
		case 's': o.sync_socket = optarg; break;
		case 'l': g.log_path = optarg; break;
		case 'm':
			if (parse_uint(optarg, ~0ULL, &g.log_max) < 0) {
				fprintf(stderr, "berth-shim: --log-max-size: %s\n", g_err.msg);
				return 2;
			}
			break;
		case 'f':
			if (log_set_format(optarg) < 0) {
				fprintf(stderr, "berth-shim: --log-format: %s\n", g_err.msg);
				return 2;
			}
			break;
		case '0': o.stdin_fifo = optarg; break;
		case '1': o.stdout_fifo = optarg; break;
		case '2': o.stderr_fifo = optarg; break;
		case 't': o.terminal = 1; break;
		case 'o': o.open_stdin = 1; break;
		default: usage();
		}
	}
	if (optind != argc || !g.id || !g.ns || !g.dir || !g.init_path || !o.sync_socket)
		usage();
	{
		const char *paths[] = { g.dir, g.init_path, o.sync_socket, g.log_path, o.stdin_fifo,
					o.stdout_fifo, o.stderr_fifo };
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			if (paths[i] && paths[i][0] != '/') {
				fprintf(stderr, "berth-shim: %s: every path must be absolute\n", paths[i]);
				return 2;
			}
		}
	}
	o.log = g.log_path != NULL;
	g.umask = umask(0077);
	proc_init(&g.init, "");

	/* Nothing the starter leaked may live as long as the container. */
	close_range(3, ~0U, 0);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("berth-shim: pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("berth-shim: fork");
		return 1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		/* A new session, then a second fork: the shim is no session leader, so opening a
		 * terminal can never make it its controlling tty, and its parent exits at once. */
		if (setsid() < 0)
			_exit(1);
		pid = fork();
		if (pid < 0)
			_exit(1);
		if (pid > 0)
			_exit(0);
		prctl(PR_SET_NAME, "berth-shim", 0, 0, 0);
		run(&o, pipefd[1]);
		_exit(0);
	}
	close(pipefd[1]);
	waitpid(pid, NULL, 0);
	while ((n = read(pipefd[0], msg + got, sizeof(msg) - 1 - (size_t)got)) > 0 ||
	       (n < 0 && errno == EINTR))
		got += n > 0 ? n : 0;
	msg[got] = 0;
	if (strcmp(msg, "ok") == 0)
		return 0;
	fprintf(stderr, "berth-shim: %s\n", got > 6 ? msg + 6 : "exited during start-up");
	return 1;
}
