/* The control socket: one line request, one line reply (PROTOCOL.md "Control socket"). */
#include "shim.h"
#include "cleanup.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct client {
	int fd;                /* -1: closed, freed by control_collect() */
	char in[CLIENT_IN];
	size_t len;
	struct proc *waiting;  /* a wait / wait-exec in progress */
	int oom_waiting;       /* a wait-oom in progress: answered once oom_count > oom_after */
	unsigned long long oom_after;
	int deferred;          /* an exec waits until the berth-init being started is reaped */
	int attached;          /* stream mask: the connection is attach_proc's I/O now */
	struct proc *attach_proc;
	int close_stdin;       /* attach --close-stdin: this client's EOF closes the process's stdin */
	int output_done;       /* shut down for writing: every stream it watches has ended */
	int input_eof;
};

static struct client *clients[MAX_CLIENTS];

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->waiting = NULL;
	c->oom_waiting = 0;
	c->attached = 0;
	c->attach_proc = NULL;
}

/* EOF for an attach client once every stream it watches has ended (the process and whatever
 * inherited its stdio are gone): the client knows the output is complete. Its input side stays. */
static void attach_check_done(struct client *c)
{
	struct proc *p = c->attach_proc;

	if (c->fd < 0 || !c->attached || c->output_done || !p)
		return;
	if (((c->attached & 1) && !p->out[0].ended) || ((c->attached & 2) && !p->out[1].ended))
		return;
	c->output_done = 1;
	shutdown(c->fd, SHUT_WR);
}

void control_stream_ended(struct proc *p)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i] && clients[i]->attach_proc == p)
			attach_check_done(clients[i]);
	}
}

void control_proc_released(struct proc *p)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i] && clients[i]->fd >= 0 && clients[i]->attach_proc == p)
			client_close(clients[i]);
	}
}

void control_collect(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i] && clients[i]->fd < 0) {
			free(clients[i]);
			clients[i] = NULL;
		}
	}
}

void control_accept(void)
{
	int fd = accept4(g.ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int i;

	if (fd < 0)
		return;
	for (i = 0; i < MAX_CLIENTS && clients[i]; i++)
		;
	if (i == MAX_CLIENTS || !(clients[i] = calloc(1, sizeof(struct client)))) {
		static const char busy[] = "error too%20many%20connections\n";
		send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	clients[i]->fd = fd;
}

/* Sends one reply line made of the given fields. */
static void reply(struct client *c, int n, ...)
{
	char out[1024];
	size_t len = 0;
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		len = field_append(out, sizeof(out) - 1, len, va_arg(ap, const char *));
	va_end(ap);
	if (len >= sizeof(out) - 1)
		len = sizeof(out) - 2;
	out[len++] = '\n';
	/* Replies are short and the socket buffer empty between requests: never blocks. */
	if (send(c->fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
		client_close(c);
}

static void reply_error(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_error(struct client *c, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply(c, 2, "error", msg);
}

static void reply_count(struct client *c, unsigned long long n)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", n);
	reply(c, 2, "ok", num);
}

static void reply_exit(struct client *c, struct proc *p)
{
	char st[16];

	snprintf(st, sizeof(st), "%d", p->status);
	reply(c, 3, "ok", st, p->exited_at);
}

static void reply_state(struct client *c, struct proc *p)
{
	char num[16];

	switch (p->state) {
	case P_CREATED:
		reply(c, 2, "ok", "created");
		break;
	case P_RUNNING:
		snprintf(num, sizeof(num), "%d", p->pid);
		reply(c, 3, "ok", "running", num);
		break;
	case P_EXITED:
		snprintf(num, sizeof(num), "%d", p->status);
		reply(c, 4, "ok", "exited", num, p->exited_at);
		break;
	}
}

static int valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > ID_MAX)
		return 0;
	for (const char *s = id; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.' || *s == '-'))
			return 0;
	}
	return strcmp(id, ".") && strcmp(id, "..");
}

enum { DONE, DEFER };

static int do_exec(struct client *c, char **f, int n)
{
	struct launch_opts o = { .sync_socket = n > 2 ? f[2] : NULL };
	_cleanup_free_ struct proc *p = NULL;
	int slot;

	if (n < 3)
		return reply_error(c, "usage: exec <id> <sync-socket> [--terminal] [--stdin F] [--open-stdin] [--stdout F] [--stderr F] [--attachable]"), DONE;
	if (!valid_id(f[1]))
		return reply_error(c, "bad exec id \"%s\": 1-%d of [A-Za-z0-9_.-]", f[1], ID_MAX), DONE;
	if (exec_find(f[1]))
		return reply_error(c, "exec id %s is in use", f[1]), DONE;
	for (int i = 3; i < n; i++) {
		const char **dst = NULL;
		if (strcmp(f[i], "--terminal") == 0)
			o.terminal = 1;
		else if (strcmp(f[i], "--attachable") == 0)
			o.attachable = 1;
		else if (strcmp(f[i], "--open-stdin") == 0)
			o.open_stdin = 1;
		else if (strcmp(f[i], "--stdin") == 0)
			dst = &o.stdin_fifo;
		else if (strcmp(f[i], "--stdout") == 0)
			dst = &o.stdout_fifo;
		else if (strcmp(f[i], "--stderr") == 0)
			dst = &o.stderr_fifo;
		else
			return reply_error(c, "exec: unknown option \"%s\"", f[i]), DONE;
		if (dst) {
			if (++i == n)
				return reply_error(c, "exec: %s needs a path", f[i - 1]), DONE;
			*dst = f[i];
		}
	}
	if (g.init.state != P_RUNNING)
		return reply_error(c, "the container's process is not running"), DONE;
	/* One berth-init at a time: its child is found by elimination when stage0 exits. */
	if (g.launching)
		return DEFER;
	for (slot = 0; slot < MAX_EXECS && g.execs[slot]; slot++)
		;
	if (slot == MAX_EXECS)
		return reply_error(c, "too many execs (at most %d): delete-exec the exited ones", MAX_EXECS), DONE;
	p = malloc(sizeof(*p));
	if (!p)
		return reply_error(c, "out of memory"), DONE;
	proc_init(p, f[1]);
	if (proc_launch(p, &o) < 0) {
		proc_release(p);
		return reply_error(c, "%s", g_err.msg), DONE;
	}
	g.execs[slot] = take_ptr(p);
	reply(c, 1, "ok");
	return DONE;
}

static void do_shutdown(struct client *c)
{
	if (g.init.state != P_EXITED || g.launching) {
		reply_error(c, "the container's process is running: signal it and wait first");
		return;
	}
	/* Execs outlive the container's process only without a pid namespace. */
	for (int i = 0; i < MAX_EXECS; i++) {
		struct proc *p = g.execs[i];
		if (p && p->state == P_RUNNING && kill(p->pid, SIGKILL) == 0)
			waitpid(p->pid, NULL, 0);
	}
	shim_cleanup_files();
	reply(c, 1, "ok");
	_exit(0);
}

/* The process a request names: the container's, or the exec of f[1] for the -exec forms. */
static struct proc *target(struct client *c, char **f, int n, int exec, int need)
{
	struct proc *p;

	if (n != need + exec + 1) {
		reply_error(c, "%s: expected %d argument(s)", f[0], need + exec);
		return NULL;
	}
	if (!exec)
		return &g.init;
	p = exec_find(f[1]);
	if (!p)
		reply_error(c, "no exec %s", f[1]);
	return p;
}

static int handle(struct client *c, char **f, int n)
{
	const char *cmd = f[0];
	int ex = strstr(cmd, "-exec") != NULL;
	struct proc *p;
	unsigned long long a, b;

	if (!strcmp(cmd, "state") || !strcmp(cmd, "state-exec")) {
		if ((p = target(c, f, n, ex, 0)))
			reply_state(c, p);
	} else if (!strcmp(cmd, "wait") || !strcmp(cmd, "wait-exec")) {
		if (!(p = target(c, f, n, ex, 0)))
			return DONE;
		if (p->state == P_EXITED)
			reply_exit(c, p);
		else
			c->waiting = p;
	} else if (!strcmp(cmd, "signal") || !strcmp(cmd, "signal-exec")) {
		int sig;
		if (!(p = target(c, f, n, ex, 1)))
			return DONE;
		if ((sig = parse_signal(f[1 + ex])) < 0)
			reply_error(c, "%s", g_err.msg);
		else if (p->state != P_RUNNING)
			reply_error(c, "the process %s", p->state == P_EXITED ? "has exited" : "does not exist yet");
		/* Never a stranger: the pid stays ours until we reap it, and then state is P_EXITED. */
		else if (kill(p->pid, sig) < 0)
			reply_error(c, "kill %d: %s", p->pid, strerror(errno));
		else
			reply(c, 1, "ok");
	} else if (!strcmp(cmd, "resize") || !strcmp(cmd, "resize-exec")) {
		if (!(p = target(c, f, n, ex, 2)))
			return DONE;
		if (parse_uint(f[1 + ex], 65535, &a) < 0 || parse_uint(f[2 + ex], 65535, &b) < 0 ||
		    proc_resize(p, (unsigned)a, (unsigned)b) < 0)
			reply_error(c, "%s", g_err.msg);
		else
			reply(c, 1, "ok");
	} else if (!strcmp(cmd, "close-stdin") || !strcmp(cmd, "close-stdin-exec")) {
		if (!(p = target(c, f, n, ex, 0)))
			return DONE;
		stdin_close(p);
		reply(c, 1, "ok");
	} else if (!strcmp(cmd, "reopen-log")) {
		if (n != 1 || log_reopen() < 0)
			reply_error(c, "%s", n != 1 ? "reopen-log takes no argument" : g_err.msg);
		else
			reply(c, 1, "ok");
	} else if (!strcmp(cmd, "exec")) {
		return do_exec(c, f, n);
	} else if (!strcmp(cmd, "delete-exec")) {
		char name[ID_MAX + 16];
		if (!(p = target(c, f, n, 1, 0)))
			return DONE;
		if (p->state != P_EXITED)
			return reply_error(c, "exec %s has not exited", p->id), DONE;
		snprintf(name, sizeof(name), "exec-%s.exit", p->id);
		unlinkat(g.dirfd, name, 0);
		control_proc_released(p);
		proc_release(p);
		p->deleted = 1; /* freed at the top of the loop: the poll set may still name it */
		reply(c, 1, "ok");
	} else if (!strcmp(cmd, "attach") || !strcmp(cmd, "attach-exec")) {
		int mask = 3, close_stdin = 0, i = 1;
		if (ex) {
			if (n < 2)
				return reply_error(c, "usage: attach-exec <id> [stdout|stderr] [--close-stdin]"), DONE;
			if (!(p = exec_find(f[1])))
				return reply_error(c, "no exec %s", f[1]), DONE;
			i = 2;
		} else {
			p = &g.init;
		}
		for (; i < n; i++) {
			if (!strcmp(f[i], "stdout") && mask == 3)
				mask = 1;
			else if (!strcmp(f[i], "stderr") && mask == 3)
				mask = 2;
			else if (!strcmp(f[i], "--close-stdin"))
				close_stdin = 1;
			else
				return reply_error(c, "usage: %s [stdout|stderr] [--close-stdin]", ex ? "attach-exec <id>" : "attach"), DONE;
		}
		reply(c, 1, "ok");
		c->attached = mask;
		c->attach_proc = p;
		c->close_stdin = close_stdin;
		attach_check_done(c);
	} else if (!strcmp(cmd, "oom-watch")) {
		if (n != 2)
			reply_error(c, "usage: oom-watch <memory-cgroup-dir>");
		else if (oom_watch(f[1]) < 0)
			reply_error(c, "%s", g_err.msg);
		else
			reply(c, 1, "ok");
	} else if (!strcmp(cmd, "oom")) {
		if (n != 1)
			reply_error(c, "oom takes no argument");
		else
			reply_count(c, g.oom_count);
	} else if (!strcmp(cmd, "wait-oom")) {
		if (n != 2 || parse_uint(f[1], ~0ULL, &a) < 0)
			reply_error(c, "usage: wait-oom <count>");
		else if (g.oom_count > a)
			reply_count(c, g.oom_count);
		else {
			c->oom_waiting = 1;
			c->oom_after = a;
		}
	} else if (!strcmp(cmd, "shutdown")) {
		do_shutdown(c);
	} else {
		reply_error(c, "unknown request \"%s\"", cmd);
	}
	return DONE;
}

/* Handles the complete requests buffered on c, until one has to wait. */
static void client_process(struct client *c)
{
	while (c->fd >= 0 && !c->waiting && !c->oom_waiting && !c->deferred && !c->attached) {
		char line[CLIENT_IN], *f[16];
		char *nl = memchr(c->in, '\n', c->len);
		size_t ll;
		int n;

		if (!nl)
			break;
		ll = (size_t)(nl - c->in);
		memcpy(line, c->in, ll);
		line[ll] = 0;
		n = line_split(line, f, 16);
		if (n == 0) {
			reply_error(c, "empty request");
		} else if (n < 0) {
			reply_error(c, "%s", g_err.msg);
		} else if (handle(c, f, n) == DEFER) {
			/* The line stays buffered and is handled again by control_launch_done(). */
			c->deferred = 1;
			break;
		}
		memmove(c->in, nl + 1, c->len - ll - 1);
		c->len -= ll + 1;
	}
	if (c->fd >= 0 && c->attached && c->len) {
		/* Bytes that came right behind `attach` are already input for the process. */
		struct proc *p = c->attach_proc;
		if (p->stdin_fd >= 0 && !p->inlen) {
			memcpy(p->in, c->in, c->len);
			p->inoff = 0;
			p->inlen = c->len;
			stdin_flush(p);
		}
		c->len = 0;
	}
}

void control_launch_done(void)
{
	for (int i = 0; i < MAX_CLIENTS && !g.launching; i++) {
		if (clients[i] && clients[i]->fd >= 0 && clients[i]->deferred) {
			clients[i]->deferred = 0;
			client_process(clients[i]);
		}
	}
}

void control_proc_exited(struct proc *p)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = clients[i];
		if (c && c->fd >= 0 && c->waiting == p) {
			c->waiting = NULL;
			reply_exit(c, p);
			client_process(c);
		}
	}
}

void control_oom_changed(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = clients[i];
		if (c && c->fd >= 0 && c->oom_waiting && g.oom_count > c->oom_after) {
			c->oom_waiting = 0;
			reply_count(c, g.oom_count);
			client_process(c);
		}
	}
}

void control_broadcast(struct proc *p, int which, const char *buf, size_t n)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = clients[i];
		/* Non-blocking: a client that does not keep up loses output; the log does not. */
		if (c && c->fd >= 0 && c->attach_proc == p && (c->attached & which) &&
		    send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
			client_close(c);
	}
}

int control_watch(struct pollfd *pfd, struct client **who, int n, int max)
{
	for (int i = 0; i < MAX_CLIENTS && n < max; i++) {
		struct client *c = clients[i];
		struct proc *p = c ? c->attach_proc : NULL;
		short ev = 0;

		if (!c || c->fd < 0)
			continue;
		if (c->attached)
			ev = !c->input_eof && p->stdin_fd >= 0 && !p->inlen ? POLLIN : 0;
		else if (!c->waiting && !c->oom_waiting && !c->deferred)
			ev = POLLIN;
		/* With no events asked, poll still reports POLLHUP: a client gone while waiting. */
		pfd[n] = (struct pollfd){ .fd = c->fd, .events = ev };
		who[n++] = c;
	}
	return n;
}

void control_event(struct client *c, int fd, short revents)
{
	struct proc *p = c->attach_proc;
	ssize_t n;

	if (c->fd != fd)
		return;
	if (c->attached) {
		if (!(revents & POLLIN)) {
			if (revents & (POLLHUP | POLLERR))
				client_close(c);
			return;
		}
		if (p->stdin_fd < 0 || p->inlen)
			return;
		n = read(c->fd, p->in, sizeof(p->in));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		if (n <= 0) {
			/* The client's EOF is not the process's, unless it asked (--close-stdin): then
			 * the stdin closes after every byte the client sent, in order. */
			c->input_eof = 1;
			if (n == 0 && c->close_stdin)
				stdin_close(p);
			if (n < 0)
				client_close(c);
			return;
		}
		p->inoff = 0;
		p->inlen = (size_t)n;
		stdin_flush(p);
		return;
	}
	if (!(revents & POLLIN)) {
		if (revents & (POLLHUP | POLLERR))
			client_close(c);
		return;
	}
	if (c->len == sizeof(c->in)) {
		reply_error(c, "request longer than %d bytes", CLIENT_IN);
		client_close(c);
		return;
	}
	n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	client_process(c);
}
