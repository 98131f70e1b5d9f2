#include "shim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct shim_error g_err;

static void vset(int err, int with_strerror, const char *fmt, va_list ap)
{
	int n = vsnprintf(g_err.msg, sizeof(g_err.msg), fmt, ap);

	g_err.err = err;
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(g_err.msg))
		n = sizeof(g_err.msg) - 1;
	if (with_strerror)
		snprintf(g_err.msg + n, sizeof(g_err.msg) - n, ": %s", strerror(err));
}

int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, 1, fmt, ap);
	va_end(ap);
	errno = err;
	return -1;
}

int fail_msg(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, 0, fmt, ap);
	va_end(ap);
	errno = err;
	return -1;
}
