#include "sync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

int g_sync_fd = 3;

static int send_all(const char *buf, size_t len)
{
	while (len) {
		/* MSG_NOSIGNAL: after `ready` the library may be gone; EPIPE must not kill us. */
		ssize_t n = send(g_sync_fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(g_sync_fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno, "write to sync socket");
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_fields(const char *const *fields, size_t n)
{
	size_t len;
	_cleanup_free_ char *line = line_encode(fields, n, &len);

	if (!line)
		return -1;
	return send_all(line, len);
}

int sync_send_pid(pid_t pid)
{
	char num[24];
	const char *f[] = { "pid", num };

	snprintf(num, sizeof(num), "%d", (int)pid);
	return send_fields(f, 2);
}

int sync_send_ready(void)
{
	const char *f[] = { "ready" };

	return send_fields(f, 1);
}

void sync_send_error(void)
{
	char num[24];
	const char *f[] = { "error", num, g_err.msg };

	snprintf(num, sizeof(num), "%d", g_err.err);
	send_fields(f, 3);
}

int sync_wait_go(struct line_reader *r, char **state)
{
	struct line l;
	int rc = line_read(r, &l);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return fail_msg(EPIPE, "sync socket closed while waiting for \"go\"");
	if (strcmp(l.f[0], "go") || l.n != 2) {
		fail_msg(EINVAL, "expected \"go <state-json>\", got \"%s\"", l.f[0]);
		line_free(&l);
		return -1;
	}
	*state = l.f[1];
	l.f[1] = NULL;
	line_free(&l);
	return 0;
}
