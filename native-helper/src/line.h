/* The line encoding of PROTOCOL.md: space-separated, percent-encoded fields ending in '\n'. */
#ifndef BERTH_LINE_H
#define BERTH_LINE_H

#include <stddef.h>

/* Buffered reader of lines on one fd. Bytes read past a line stay in the buffer, which the
 * child inherits with the rest of stage0's memory at clone(). */
struct line_reader {
	int fd;
	char *buf;
	size_t start, len, cap;
};

/* One decoded line. */
struct line {
	char **f;   /* fields, each NUL-terminated; f[i] may be taken (set to NULL) */
	size_t n;
};

/* Read and decode the next line. Returns 1 with a line, 0 on EOF before any byte, -1 on error
 * (g_err filled). */
int line_read(struct line_reader *r, struct line *out);

void line_free(struct line *l);

/* Encode fields into one line (with '\n'); returns malloc'd string or NULL (g_err filled). */
char *line_encode(const char *const *fields, size_t n, size_t *len);

/* Decode one percent-encoded field; returns malloc'd string or NULL (g_err filled). */
char *field_decode(const char *in, size_t len);

#endif
