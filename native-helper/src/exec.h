/* The last steps: finding args[0], arranging the fds, execve. */
#ifndef BERTH_EXEC_H
#define BERTH_EXEC_H

#include "plan.h"

/* Resolve args[0] in the container (PATH of the plan's env). Returns a malloc'd path. */
char *exec_lookup(const struct plan *p);

/* Preserved fds 4.. become 3..; everything from 3+N up is marked close-on-exec. */
int exec_arrange_fds(const struct plan *p);

/* Reset signals, load the seccomp filter when it waits for the end (no-new-privileges), execve;
 * returns only on failure (-1, g_err filled). */
int exec_container(const struct plan *p, const char *path);

#endif
