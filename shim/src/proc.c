/* Starting berth-init, finding and reaping the processes it leaves us, and relaying their stdio. */
#include "shim.h"
#include "cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

/* One read buffer for every stream: each read is fully handled before the next. */
static char g_buf[8192];

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void proc_init(struct proc *p, const char *id)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->out[0] = (struct stream){ .fd = -1, .fifo = -1, .which = 1 };
	p->out[1] = (struct stream){ .fd = -1, .fifo = -1, .which = 2 };
	p->stdin_src = p->stdin_fd = p->console_listen = p->console_conn = -1;
}

struct proc *exec_find(const char *id)
{
	for (int i = 0; i < MAX_EXECS; i++) {
		if (g.execs[i] && !g.execs[i]->deleted && strcmp(g.execs[i]->id, id) == 0)
			return g.execs[i];
	}
	return NULL;
}

static struct proc *proc_by_pid(pid_t pid)
{
	if (g.init.pid == pid && g.init.state == P_RUNNING)
		return &g.init;
	for (int i = 0; i < MAX_EXECS; i++) {
		if (g.execs[i] && g.execs[i]->pid == pid && g.execs[i]->state == P_RUNNING)
			return g.execs[i];
	}
	return NULL;
}

/* Our end of a pipe: non-blocking, so one stuck peer never stops the loop. */
static int make_pipe(int fds[2], int ours)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return fail(errno, "pipe");
	if (set_nonblock(fds[ours]) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	return 0;
}

int proc_launch(struct proc *p, const struct launch_opts *o)
{
	_cleanup_close_ int sync = -1, devnull = -1, in_r = -1, in_w = -1, out_r = -1, out_w = -1,
			    err_r = -1, err_w = -1, src = -1, f_out = -1, f_err = -1, con = -1;
	char *argv[] = { "berth-init", "init", NULL };
	int fds[2];
	pid_t pid;

	if (access(g.init_path, X_OK) < 0)
		return fail(errno, "berth-init %s", g.init_path);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return fail(errno, "open /dev/null");
	if (o->stdin_fifo) {
		/* O_NONBLOCK: do not wait for a writer. poll() reports nothing until one has come and
		 * written, and POLLHUP only after a writer came and went. */
		src = open(o->stdin_fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (src < 0)
			return fail(errno, "open stdin fifo %s", o->stdin_fifo);
	}
	/* O_RDWR: opening for writing alone fails (ENXIO) or blocks while nobody reads. */
	if (o->stdout_fifo && (f_out = open(o->stdout_fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
		return fail(errno, "open stdout fifo %s", o->stdout_fifo);
	if (o->stderr_fifo && (f_err = open(o->stderr_fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
		return fail(errno, "open stderr fifo %s", o->stderr_fifo);
	if (o->terminal) {
		if (p->id[0])
			snprintf(p->console_path, sizeof(p->console_path), "%s/console-%s.sock", g.dir, p->id);
		else
			snprintf(p->console_path, sizeof(p->console_path), "%s/console.sock", g.dir);
		con = unix_listen(p->console_path);
		if (con < 0)
			return -1;
	} else {
		/* The container's process (not an exec) always gets pipes: attach may come later. */
		int want_out = o->log || o->stdout_fifo || !p->id[0] || o->attachable;
		int want_err = o->log || o->stderr_fifo || !p->id[0] || o->attachable;
		if (want_out) {
			if (make_pipe(fds, 0) < 0)
				return -1;
			out_r = fds[0];
			out_w = fds[1];
		}
		if (want_err) {
			if (make_pipe(fds, 0) < 0)
				return -1;
			err_r = fds[0];
			err_w = fds[1];
		}
		if (o->stdin_fifo || o->open_stdin) {
			if (make_pipe(fds, 1) < 0)
				return -1;
			in_r = fds[0];
			in_w = fds[1];
		}
	}
	sync = unix_connect(o->sync_socket);
	if (sync < 0)
		return -1;

	pid = fork();
	if (pid < 0)
		return fail(errno, "fork berth-init");
	if (pid == 0) {
		sigset_t none;
		int fd0 = in_r >= 0 ? in_r : devnull, fd1 = out_w >= 0 ? out_w : devnull,
		    fd2 = err_w >= 0 ? err_w : devnull;

		/* The blocked SIGCHLD and the ignored SIGPIPE would survive execve into the container. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		umask(g.umask);
		/* 0–2 first: none of them is a source (the shim's own 0–2 are /dev/null, so every fd
		 * it opened is 3 or more). The sync socket goes to 3 last, because 3 may be one of the
		 * sources just moved; dup2 onto itself would keep FD_CLOEXEC, so clear it instead. */
		if (dup2(fd0, 0) < 0 || dup2(fd1, 1) < 0 || dup2(fd2, 2) < 0)
			_exit(127);
		if (sync == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(sync, 3) < 0)
			_exit(127);
		close_range(4, ~0U, 0);
		execve(g.init_path, argv, environ);
		_exit(127);
	}
	p->stage0 = pid;
	p->state = P_CREATED;
	p->terminal = o->terminal;
	p->out[0].fd = take_fd(&out_r);
	p->out[1].fd = take_fd(&err_r);
	p->out[0].fifo = take_fd(&f_out);
	p->out[1].fifo = take_fd(&f_err);
	/* A stream that does not exist has nothing to give an attach client; a terminal's output
	 * (out[0]) exists once the pty master arrives. */
	p->out[0].ended = p->out[0].fd < 0 && !o->terminal;
	p->out[1].ended = p->out[1].fd < 0;
	p->stdin_fd = take_fd(&in_w);
	p->stdin_src = take_fd(&src);
	p->console_listen = take_fd(&con);
	g.launching = p;
	/* Our copies of the child's ends and of the sync socket close here (cleanup): the sync
	 * socket's EOF must mean berth-init's side is gone, and the pipes' EOF that the
	 * container's are. */
	return 0;
}

/* A child of ours we do not track yet, preferring berth-init's child (PROTOCOL.md). */
static pid_t find_new_child(pid_t stage0)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t self = getpid(), best = 0;
	unsigned long long best_start = ~0ULL;
	int best_named = -1;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[64], buf[512], *rp, *save = NULL, *t;
		unsigned long long start = 0;
		long ppid = -1;
		pid_t pid;
		ssize_t n;
		int fd, named, i;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid = (pid_t)atoi(e->d_name);
		if (pid == stage0 || proc_by_pid(pid))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		/* comm may hold spaces and parentheses: the fields resume after the last ')'. */
		rp = strrchr(buf, ')');
		if (!rp)
			continue;
		*rp = 0;
		named = strcmp(strchr(buf, '(') ? strchr(buf, '(') + 1 : "", "berth:init") == 0;
		for (i = 3, t = strtok_r(rp + 2, " ", &save); t; t = strtok_r(NULL, " ", &save), i++) {
			if (i == 4)
				ppid = atol(t);
			if (i == 22) {
				start = strtoull(t, NULL, 10);
				break;
			}
		}
		if (ppid != self)
			continue;
		if (named > best_named || (named == best_named && start < best_start)) {
			best = pid;
			best_named = named;
			best_start = start;
		}
	}
	closedir(d);
	return best;
}

static int exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

static void proc_exited(struct proc *p, int status)
{
	char text[TIME_LEN + 16], name[ID_MAX + 16];
	int n, oom_moved;

	p->state = P_EXITED;
	p->status = status;
	now_rfc3339(p->exited_at);
	/* What the process wrote before it died is in the log before anyone hears of the exit. */
	for (int i = 0; i < 2; i++) {
		if (p->out[i].fd >= 0)
			stream_pump(p, &p->out[i], 1);
	}
	close_fd(&p->stdin_src);
	p->inlen = 0;
	close_fd(&p->stdin_fd);
	/* An OOM kill that ended it is counted before anyone hears of the exit: the kernel reports
	 * it (eventfd, memory.events) before it sends the SIGKILL, so it is there to be read. The
	 * wait-oom clients are answered after the exit file exists, then the exit's waiters. */
	oom_moved = oom_take();
	n = snprintf(text, sizeof(text), "%d %s\n", status, p->exited_at);
	if (p->id[0])
		snprintf(name, sizeof(name), "exec-%s.exit", p->id);
	else
		snprintf(name, sizeof(name), "exit");
	/* Durable before reported: berthd may restart right after a wait returns. */
	write_file_atomic(g.dirfd, name, text, (size_t)n);
	if (oom_moved)
		control_oom_changed();
	control_proc_exited(p);
}

static void stage0_exited(void)
{
	struct proc *p = g.launching;
	pid_t child;
	int status = 0;

	/* stage0's child was reparented to us before stage0 became waitable (same tasklist lock
	 * in the kernel's exit path), so it is among our children now, alive or a zombie. */
	child = find_new_child(p->stage0);
	waitpid(p->stage0, &status, 0);
	p->stage0 = 0;
	g.launching = NULL;
	if (child > 0) {
		p->pid = child;
		p->state = P_RUNNING;
	} else {
		int st = exit_status(status);
		proc_exited(p, st ? st : 255);
	}
	control_launch_done();
}

void reap_children(void)
{
	for (;;) {
		siginfo_t si = { 0 }, s0 = { 0 };
		struct proc *p;
		int status;

		/* Peek (WNOWAIT) before reaping anything: a child that berth-init left us must not be
		 * reaped as an unknown orphan before stage0's exit tells us to look for it. */
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			return;
		if (g.launching &&
		    (si.si_pid == g.launching->stage0 ||
		     (waitid(P_PID, (id_t)g.launching->stage0, &s0, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		      s0.si_pid == g.launching->stage0))) {
			stage0_exited();
			continue;
		}
		if (waitpid(si.si_pid, &status, WNOHANG) <= 0)
			continue;
		p = proc_by_pid(si.si_pid);
		if (p)
			proc_exited(p, exit_status(status));
	}
}

static void stream_eof(struct proc *p, struct stream *s)
{
	log_flush_partial(s);
	close_fd(&s->fd);
	/* We are the FIFO's only writer: closing it gives its reader EOF. */
	close_fd(&s->fifo);
	s->ended = 1;
	control_stream_ended(p);
}

static void write_some(int fd, const char *buf, size_t n)
{
	/* Non-blocking: a FIFO nobody drains loses bytes instead of stopping the shim. */
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

void stream_pump(struct proc *p, struct stream *s, int drain)
{
	do {
		ssize_t n = read(s->fd, g_buf, sizeof(g_buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* EOF; or EIO from a pty master once every slave is closed. */
			stream_eof(p, s);
			return;
		}
		if (s->fifo >= 0)
			write_some(s->fifo, g_buf, (size_t)n);
		if (s->line)
			log_data(s, g_buf, (size_t)n);
		control_broadcast(p, s->which, g_buf, (size_t)n);
	} while (drain);
}

void stdin_close(struct proc *p)
{
	close_fd(&p->stdin_src);
	if (p->terminal) {
		/* A pty has no EOF of its own: only stop relaying input. */
		p->inlen = 0;
		close_fd(&p->stdin_fd);
		return;
	}
	p->stdin_eof = 1;
	if (!p->inlen)
		close_fd(&p->stdin_fd);
}

void stdin_flush(struct proc *p)
{
	while (p->inlen) {
		ssize_t n = write(p->stdin_fd, p->in + p->inoff, p->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			/* EPIPE: the container closed its stdin; nothing more can go there. */
			p->inlen = 0;
			close_fd(&p->stdin_fd);
			close_fd(&p->stdin_src);
			return;
		}
		p->inoff += (size_t)n;
		p->inlen -= (size_t)n;
	}
	p->inoff = 0;
	if (p->stdin_eof)
		close_fd(&p->stdin_fd);
}

void stdin_pull_fifo(struct proc *p)
{
	ssize_t n = read(p->stdin_src, p->in, sizeof(p->in));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* The FIFO's writer left: the container's stdin ends too. */
		stdin_close(p);
		return;
	}
	p->inoff = 0;
	p->inlen = (size_t)n;
	stdin_flush(p);
}

void console_accept(struct proc *p)
{
	int fd = accept4(p->console_listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (p->console_conn >= 0) {
		close(fd); /* only berth-init's stage0 connects, once */
		return;
	}
	p->console_conn = fd;
}

void console_receive(struct proc *p)
{
	char name[128];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { name, sizeof(name) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			      .msg_controllen = sizeof(cm.buf) };
	struct cmsghdr *c;
	int master = -1;
	ssize_t n = recvmsg(p->console_conn, &msg, MSG_CMSG_CLOEXEC);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	for (c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&master, CMSG_DATA(c), sizeof(int));
	}
	/* Got it, or the child died before sending it: either way this socket is done. */
	close_fd(&p->console_conn);
	close_fd(&p->console_listen);
	unlink(p->console_path);
	p->console_path[0] = 0;
	if (master < 0) {
		p->out[0].ended = 1; /* no terminal will come: nothing to attach to */
		control_stream_ended(p);
		return;
	}
	set_nonblock(master);
	p->out[0].fd = master;
	/* A second fd for input keeps one job per fd in the poll set. */
	p->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
	if (p->rows)
		proc_resize(p, p->rows, p->cols);
}

int proc_resize(struct proc *p, unsigned rows, unsigned cols)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

	if (!p->terminal)
		return fail_msg(EINVAL, "the process has no terminal");
	p->rows = (unsigned short)rows;
	p->cols = (unsigned short)cols;
	if (p->out[0].fd < 0)
		return 0; /* applied when the master arrives */
	if (ioctl(p->out[0].fd, TIOCSWINSZ, &ws) < 0)
		return fail(errno, "TIOCSWINSZ");
	return 0;
}

void proc_release(struct proc *p)
{
	for (int i = 0; i < 2; i++) {
		close_fd(&p->out[i].fd);
		close_fd(&p->out[i].fifo);
	}
	close_fd(&p->stdin_src);
	close_fd(&p->stdin_fd);
	close_fd(&p->console_conn);
	close_fd(&p->console_listen);
	if (p->console_path[0])
		unlink(p->console_path);
	p->console_path[0] = 0;
}
