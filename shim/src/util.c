/* Small helpers: times, the line encoding, durable files, signal names, sockets. */
#include "shim.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void now_rfc3339(char out[TIME_LEN])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, TIME_LEN - n, ".%09ldZ", ts.tv_nsec);
}

size_t field_append(char *out, size_t cap, size_t len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	if (len && len < cap)
		out[len++] = ' ';
	if (!*s) {
		if (len + 1 >= cap)
			return cap;
		out[len++] = '%';
		return len;
	}
	for (; *s; s++) {
		unsigned char b = (unsigned char)*s;
		if (len + 3 >= cap)
			return cap;
		if (b == '%' || b < 0x21 || b == 0x7f) {
			out[len++] = '%';
			out[len++] = hex[b >> 4];
			out[len++] = hex[b & 15];
		} else {
			out[len++] = (char)b;
		}
	}
	return len;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int field_decode(char *s)
{
	char *w = s;

	if (strcmp(s, "%") == 0) {
		*s = 0;
		return 0;
	}
	for (char *r = s; *r; r++) {
		if (*r == '%') {
			int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
			if (lo < 0)
				return fail_msg(EINVAL, "bad escape in field \"%s\"", s);
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
	return 0;
}

int line_split(char *line, char **f, int max)
{
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == max)
			return fail_msg(E2BIG, "too many fields (at most %d)", max);
		if (field_decode(t) < 0)
			return -1;
		f[n++] = t;
	}
	return n;
}

int write_file_atomic(int dirfd, const char *name, const char *data, size_t len)
{
	char tmp[ID_MAX + 32];
	_cleanup_close_ int fd = -1;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(errno, "open %s", tmp);
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno, "write %s", tmp);
		data += n;
		len -= (size_t)n;
	}
	/* The data must be on disk before the name points at it, and the rename before anyone is
	 * told: a crash in between leaves the old file or none, never an empty one. */
	if (fsync(fd) < 0)
		return fail(errno, "fsync %s", tmp);
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		return fail(errno, "rename %s to %s", tmp, name);
	if (fsync(dirfd) < 0)
		return fail(errno, "fsync the state directory");
	return 0;
}

static const char *const SIGNAMES[] = {
	[SIGHUP] = "HUP", [SIGINT] = "INT", [SIGQUIT] = "QUIT", [SIGILL] = "ILL", [SIGTRAP] = "TRAP",
	[SIGABRT] = "ABRT", [SIGBUS] = "BUS", [SIGFPE] = "FPE", [SIGKILL] = "KILL", [SIGUSR1] = "USR1",
	[SIGSEGV] = "SEGV", [SIGUSR2] = "USR2", [SIGPIPE] = "PIPE", [SIGALRM] = "ALRM", [SIGTERM] = "TERM",
	[SIGSTKFLT] = "STKFLT", [SIGCHLD] = "CHLD", [SIGCONT] = "CONT", [SIGSTOP] = "STOP",
	[SIGTSTP] = "TSTP", [SIGTTIN] = "TTIN", [SIGTTOU] = "TTOU", [SIGURG] = "URG", [SIGXCPU] = "XCPU",
	[SIGXFSZ] = "XFSZ", [SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF", [SIGWINCH] = "WINCH",
	[SIGIO] = "IO", [SIGPWR] = "PWR", [SIGSYS] = "SYS",
};

int parse_signal(const char *s)
{
	unsigned long long n;

	if (parse_uint(s, 64, &n) == 0 && n > 0)
		return (int)n;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 1; i < sizeof(SIGNAMES) / sizeof(SIGNAMES[0]); i++) {
		if (SIGNAMES[i] && strcasecmp(s, SIGNAMES[i]) == 0)
			return (int)i;
	}
	return fail_msg(EINVAL, "unknown signal \"%s\"", s);
}

int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s < '0' || *s > '9')
		return fail_msg(EINVAL, "\"%s\" is not a number", s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno || v > max)
		return fail_msg(EINVAL, "\"%s\" is not a number up to %llu", s, max);
	*out = v;
	return 0;
}

int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return fail(errno, "fcntl O_NONBLOCK");
	return 0;
}

static int sun_fill(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return fail_msg(ENAMETOOLONG, "socket path %s is too long (%zu bytes, at most %zu)", path,
				strlen(path), sizeof(a->sun_path) - 1);
	strcpy(a->sun_path, path);
	return 0;
}

int unix_listen(const char *path)
{
	struct sockaddr_un a;
	_cleanup_close_ int fd = -1;

	if (sun_fill(&a, path) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(errno, "socket");
	unlink(path); /* a stale socket of an earlier shim would make bind fail */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return fail(errno, "bind %s", path);
	if (listen(fd, 16) < 0)
		return fail(errno, "listen %s", path);
	return take_fd(&fd);
}

int unix_connect(const char *path)
{
	struct sockaddr_un a;
	_cleanup_close_ int fd = -1;

	if (sun_fill(&a, path) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(errno, "socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return fail(errno, "connect %s", path);
	return take_fd(&fd);
}
