#define _GNU_SOURCE
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

static volatile sig_atomic_t winch;

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

int relay_socketpair(int *stage0_end, int *child_end)
{
	int sv[2];

	/* Close-on-exec: neither end may reach a hook or the container. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return fail(errno, "terminal relay: socketpair");
	*stage0_end = sv[0];
	*child_end = sv[1];
	return 0;
}

/* The one message of console.c: the pty name as data, the master as SCM_RIGHTS. Returns the
 * master, -1 at EOF (the child is gone without sending one), -2 on error (g_err filled). */
static int recv_master(int sock)
{
	char name[128];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		fail(errno, "terminal relay: receive the pty master");
		return -2;
	}
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static void copy_window_size(int master)
{
	struct winsize ws;

	/* Best effort: a failure leaves the pty at its size (console-size, or 0x0). */
	if (ioctl(0, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

/* Write all of buf to fd 1; false once stdout is gone (the container's output is then
 * dropped, but still read, so the container never blocks on a full pty). */
static bool write_out(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(1, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Copy until the master reports EOF or EIO. The master is non-blocking and stdin is read only
 * when the previous chunk has gone into the pty: a container that does not read its input
 * must not stop us from reading its output. */
static int pump(int master, const sigset_t *pollmask, bool tty)
{
	char in[4096], out[16384];
	size_t in_len = 0, in_off = 0;
	bool in_open = true, out_open = true;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = (in_open && !in_len) ? 0 : -1, .events = POLLIN },
			{ .fd = master, .events = POLLIN | (in_len ? POLLOUT : 0) },
		};
		ssize_t n;

		if (winch) {
			winch = 0;
			if (tty)
				copy_window_size(master);
		}
		/* ppoll unblocks SIGWINCH only while waiting: a resize between the check above
		 * and the wait still interrupts it, and is not lost. */
		if (ppoll(pfd, 2, NULL, pollmask) < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno, "terminal relay: poll");
		}
		/* Both directions in every round: a container flooding its output must not keep
		 * our input (a ^C) from reaching it. */
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(master, out, sizeof(out));
			if (n > 0 && out_open)
				out_open = write_out(out, (size_t)n);
			/* EIO: every slave fd is closed. Reading first drains what the container
			 * wrote before it went. */
			if (n == 0 || (n < 0 && errno == EIO))
				return 0;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return fail(errno, "terminal relay: read the pty master");
		}
		if (pfd[0].revents) {
			n = read(0, in, sizeof(in));
			if (n > 0) {
				in_len = (size_t)n;
				in_off = 0;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* stdin ended: stop this direction only; the container goes on. */
				in_open = false;
			}
		}
		if (in_len && (pfd[1].revents & POLLOUT)) {
			n = write(master, in + in_off, in_len);
			if (n > 0) {
				in_off += (size_t)n;
				in_len -= (size_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				in_len = 0; /* the pty is going away; the read side sees it */
			}
		}
	}
}

int relay_run(int sock)
{
	_cleanup_close_ int master = -1;
	struct sigaction sa = { .sa_handler = on_winch };
	struct termios saved, raw;
	sigset_t pollmask;
	bool tty;
	int rc, flags;

	master = recv_master(sock);
	if (master == -2)
		return -1;
	if (master < 0)
		return 0;
	flags = fcntl(master, F_GETFL);
	if (flags < 0 || fcntl(master, F_SETFL, flags | O_NONBLOCK) < 0)
		return fail(errno, "terminal relay: make the pty master non-blocking");

	/* A vanished reader of our stdout must give EPIPE, not kill us with the terminal left
	 * in raw mode. */
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGWINCH, &sa, NULL);
	sigprocmask(SIG_SETMASK, NULL, &pollmask);
	sigdelset(&pollmask, SIGWINCH);

	tty = isatty(0) && tcgetattr(0, &saved) == 0;
	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		if (tcsetattr(0, TCSANOW, &raw) < 0)
			return fail(errno, "terminal relay: raw mode on stdin");
		copy_window_size(master);
	}
	rc = pump(master, &pollmask, tty);
	/* TCSADRAIN: what we wrote in raw mode reaches the terminal before its modes change. */
	if (tty)
		tcsetattr(0, TCSADRAIN, &saved);
	return rc;
}
