/* Scope-bound release of fds and heap memory, so early returns cannot leak. */
#ifndef SHIM_CLEANUP_H
#define SHIM_CLEANUP_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_close(int *fd)
{
	if (*fd >= 0) {
		int saved = errno; /* close() must not clobber the errno a caller reports */
		close(*fd);
		errno = saved;
	}
}

static inline void cleanup_free(void *p)
{
	free(*(void **)p);
}

#define _cleanup_close_ __attribute__((cleanup(cleanup_close)))
#define _cleanup_free_ __attribute__((cleanup(cleanup_free)))

/* Hand an fd out of a _cleanup_close_ variable. */
static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

#define take_ptr(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })

#endif
