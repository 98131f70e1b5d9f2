#include "line.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"

/* A plan line holds at most one env value, hook or state JSON; 16 MiB bounds a confused peer. */
#define LINE_MAX_BYTES (16u << 20)

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *field_decode(const char *in, size_t len)
{
	char *out, *o;
	size_t i;

	if (len == 1 && in[0] == '%')
		return strdup("");
	out = malloc(len + 1);
	if (!out) {
		fail(ENOMEM, "decode field");
		return NULL;
	}
	o = out;
	for (i = 0; i < len; i++) {
		if (in[i] != '%') {
			*o++ = in[i];
			continue;
		}
		if (len - i < 3 || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0) {
			free(out);
			fail_msg(EINVAL, "bad percent escape in field \"%.*s\"", (int)(len > 200 ? 200 : len), in);
			return NULL;
		}
		*o++ = (char)(hexval(in[i + 1]) << 4 | hexval(in[i + 2]));
		i += 2;
	}
	*o = '\0';
	return out;
}

static int needs_escape(unsigned char c)
{
	return c == '%' || c == ' ' || c < 0x21 || c == 0x7f;
}

char *line_encode(const char *const *fields, size_t n, size_t *len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, need = 1;
	char *out, *o;

	for (i = 0; i < n; i++) {
		const unsigned char *s = (const unsigned char *)fields[i];
		need += 1 + (*s ? 0 : 1);
		for (; *s; s++)
			need += needs_escape(*s) ? 3 : 1;
	}
	out = malloc(need);
	if (!out) {
		fail(ENOMEM, "encode line");
		return NULL;
	}
	o = out;
	for (i = 0; i < n; i++) {
		const unsigned char *s = (const unsigned char *)fields[i];
		if (i)
			*o++ = ' ';
		if (!*s)
			*o++ = '%';
		for (; *s; s++) {
			if (needs_escape(*s)) {
				*o++ = '%';
				*o++ = hex[*s >> 4];
				*o++ = hex[*s & 15];
			} else {
				*o++ = (char)*s;
			}
		}
	}
	*o++ = '\n';
	*len = (size_t)(o - out);
	return out;
}

void line_free(struct line *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->f[i]);
	free(l->f);
	l->f = NULL;
	l->n = 0;
}

static int split(const char *s, size_t len, struct line *out)
{
	size_t i, start = 0, cap = 8;

	out->n = 0;
	out->f = malloc(cap * sizeof(char *));
	if (!out->f)
		return fail(ENOMEM, "split line");
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (out->n == cap) {
			char **nf = realloc(out->f, 2 * cap * sizeof(char *));
			if (!nf) {
				line_free(out);
				return fail(ENOMEM, "split line");
			}
			out->f = nf;
			cap *= 2;
		}
		/* An empty field cannot be produced by the encoder ("%" stands for it). */
		if (i == start) {
			line_free(out);
			return fail_msg(EINVAL, "malformed line: empty field");
		}
		out->f[out->n] = field_decode(s + start, i - start);
		if (!out->f[out->n]) {
			line_free(out);
			return -1;
		}
		out->n++;
		start = i + 1;
	}
	return 0;
}

int line_read(struct line_reader *r, struct line *out)
{
	for (;;) {
		char *nl = r->len ? memchr(r->buf + r->start, '\n', r->len) : NULL;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - (r->buf + r->start));
			int rc = split(r->buf + r->start, l, out);

			r->start += l + 1;
			r->len -= l + 1;
			return rc < 0 ? -1 : 1;
		}
		if (r->start && r->len)
			memmove(r->buf, r->buf + r->start, r->len);
		r->start = 0;
		if (r->len == r->cap) {
			size_t ncap = r->cap ? r->cap * 2 : 4096;
			char *nb;

			if (ncap > LINE_MAX_BYTES)
				return fail_msg(E2BIG, "line longer than %u bytes", LINE_MAX_BYTES);
			nb = realloc(r->buf, ncap);
			if (!nb)
				return fail(ENOMEM, "read line");
			r->buf = nb;
			r->cap = ncap;
		}
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno, "read from sync socket");
		}
		if (n == 0) {
			if (r->len)
				return fail_msg(EPIPE, "sync socket closed in the middle of a line");
			return 0;
		}
		r->len += (size_t)n;
	}
}
