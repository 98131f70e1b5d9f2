#define _GNU_SOURCE
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

int console_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(path) >= sizeof(addr.sun_path))
		return fail(ENAMETOOLONG, "connect console socket \"%s\"", path);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(errno, "console socket: socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return fail(errno, "connect console socket \"%s\"", path);
	return take_fd(&fd);
}

/* One message: the pty's name as data, the master fd as SCM_RIGHTS. */
static int send_master(int sock, int master, const char *name)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return fail(errno, "send the pty master over the console socket");
	}
	return 0;
}

/* The spec: with a terminal, the container's /dev/console is its pty. Bind the slave we hold
 * (through its fd, not a path a container file could redirect) over an empty file. */
static int mount_dev_console(int slave, const char *name)
{
	char src[40];
	int fd = open("/dev/console", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);

	if (fd < 0)
		return fail(errno, "create \"/dev/console\" for \"%s\"", name);
	close(fd);
	snprintf(src, sizeof(src), "/proc/self/fd/%d", slave);
	if (mount(src, "/dev/console", NULL, MS_BIND, NULL) < 0)
		return fail(errno, "bind \"%s\" on \"/dev/console\"", name);
	return 0;
}

int console_setup(struct plan *p)
{
	_cleanup_close_ int master = -1, slave = -1;
	char name[64];
	int unlock = 0, n;

	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return fail(errno, "open \"/dev/ptmx\"");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return fail(errno, "unlock pty");
	if (ioctl(master, TIOCGPTN, &n) < 0)
		return fail(errno, "get pty number");
	snprintf(name, sizeof(name), "/dev/pts/%d", n);
	/* TIOCGPTPEER opens the slave of exactly this master, without a path lookup that a file
	 * in the container's /dev/pts could redirect. */
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return fail(errno, "open pty slave \"%s\"", name);
	if (p->has_console_size) {
		struct winsize ws = { .ws_row = p->rows, .ws_col = p->cols };

		if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
			return fail(errno, "set console size %ux%u", p->rows, p->cols);
	}
	/* Only the container's init gets a console; exec (no rootfs) leaves /dev alone. */
	if (p->rootfs && mount_dev_console(slave, name) < 0)
		return -1;
	if (send_master(p->console_fd, master, name) < 0)
		return -1;
	close(p->console_fd);
	p->console_fd = -1;
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0)
			return fail(errno, "dup pty slave to fd %d", fd);
	/* We are a session leader (setsid) without a terminal: this one becomes ours. */
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		return fail(errno, "make \"%s\" the controlling terminal", name);
	return 0;
}
