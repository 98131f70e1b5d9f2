/* The container's terminal: a pty inside the container, its master sent to the library. */
#ifndef BERTH_CONSOLE_H
#define BERTH_CONSOLE_H

#include "plan.h"

/* Connect to the console socket (stage0, while the host's paths are visible). Returns the fd. */
int console_connect(const char *path);

/* Open a pty from the container's /dev/ptmx, send the master over p->console_fd, make the
 * slave fds 0-2 and our controlling terminal. Needs setsid() done. */
int console_setup(struct plan *p);

#endif
