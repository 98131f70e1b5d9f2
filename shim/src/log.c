/* The container log: CRI log lines (or the raw bytes), size-based rotation, reopen on request. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* raw: the output as it came, both streams into one file, as containerd's shim appends to a
 * file:// stdio URI. cri: one timestamped line per line, which a CRI log reader parses. */
static int g_log_raw;

int log_set_format(const char *name)
{
	if (strcmp(name, "raw") == 0)
		g_log_raw = 1;
	else if (strcmp(name, "cri") == 0)
		g_log_raw = 0;
	else
		return fail_msg(EINVAL, "expected raw or cri, not \"%s\"", name);
	return 0;
}

int log_open(int truncate)
{
	struct stat st;
	int fd;

	if (!g.log_path)
		return 0;
	fd = open(g.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0640);
	if (fd < 0)
		return fail(errno, "open log %s", g.log_path);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return fail(errno, "fstat log %s", g.log_path);
	}
	if (g.log_fd >= 0)
		close(g.log_fd);
	g.log_fd = fd;
	g.log_size = st.st_size;
	return 0;
}

int log_reopen(void)
{
	if (!g.log_path)
		return fail_msg(EINVAL, "no log file (--log-path)");
	return log_open(0);
}

static void log_rotate(void)
{
	char old[PATH_MAX];

	if (snprintf(old, sizeof(old), "%s.1", g.log_path) >= (int)sizeof(old))
		return;
	/* rename first, then open a new file: a reader holding FILE keeps reading the old one
	 * to its end, and a crash in between leaves FILE.1 complete. */
	if (rename(g.log_path, old) < 0)
		return;
	log_open(1);
}

static void log_line(int which, char tag, const char *text, size_t len)
{
	char hdr[TIME_LEN + 16];
	struct iovec iov[3];
	size_t total;
	ssize_t n;
	int h;

	if (g.log_fd < 0)
		return;
	now_rfc3339(hdr);
	h = (int)strlen(hdr);
	h += snprintf(hdr + h, sizeof(hdr) - h, " %s %c ", which == 2 ? "stderr" : "stdout", tag);
	total = (size_t)h + len + 1;
	if (g.log_max && g.log_size > 0 && (unsigned long long)g.log_size + total > g.log_max)
		log_rotate();
	iov[0] = (struct iovec){ hdr, (size_t)h };
	iov[1] = (struct iovec){ (void *)text, len };
	iov[2] = (struct iovec){ "\n", 1 };
	/* One writev per line with O_APPEND: a line is never interleaved with another. A full disk
	 * loses the line; there is nobody to tell. */
	n = writev(g.log_fd, iov, 3);
	if (n > 0)
		g.log_size += n;
}

/* Raw: every read goes out whole, in one write where the file takes it (O_APPEND keeps the two
 * streams' chunks apart); rotation, when asked for, happens between reads, never inside one. */
static void log_raw(const char *buf, size_t n)
{
	if (g.log_fd < 0)
		return;
	if (g.log_max && g.log_size > 0 && (unsigned long long)g.log_size + n > g.log_max)
		log_rotate();
	while (n) {
		ssize_t w = write(g.log_fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* disk full: the rest of this read is lost, as a CRI line would be */
		g.log_size += w;
		buf += w;
		n -= (size_t)w;
	}
}

void log_data(struct stream *s, const char *buf, size_t n)
{
	if (g_log_raw) {
		log_raw(buf, n);
		return;
	}
	while (n) {
		const char *nl = memchr(buf, '\n', n);
		size_t take = nl ? (size_t)(nl - buf) : n;

		while (take) {
			size_t c;
			/* Full and more to come: this piece of the line goes out as a partial. */
			if (s->len == LINE_CAP) {
				log_line(s->which, 'P', s->line, s->len);
				s->len = 0;
			}
			c = LINE_CAP - s->len < take ? LINE_CAP - s->len : take;
			memcpy(s->line + s->len, buf, c);
			s->len += c;
			buf += c;
			n -= c;
			take -= c;
		}
		if (nl) {
			log_line(s->which, 'F', s->line, s->len);
			s->len = 0;
			buf++;
			n--;
		}
	}
}

void log_flush_partial(struct stream *s)
{
	if (s->line && s->len) {
		log_line(s->which, 'P', s->line, s->len);
		s->len = 0;
	}
}
