/* The one error object of the process: filled where a step fails, sent as `error`. */
#ifndef BERTH_ERRORS_H
#define BERTH_ERRORS_H

struct berth_error {
	int err;         /* errno of the failed system call, 0 if none failed */
	char msg[4096];  /* names the step and its argument */
};

extern struct berth_error g_err;

/* Record a failed system call: message is "<fmt>: strerror(err)". Returns -1. */
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record a failure whose message stands alone (no strerror suffix). Returns -1. */
int fail_msg(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
