/* Messages on the sync socket (PROTOCOL.md "Messages"). */
#ifndef BERTH_SYNC_H
#define BERTH_SYNC_H

#include <sys/types.h>

#include "line.h"

/* The sync socket; stage0 starts with fd 3, the child may move it above the preserved fds. */
extern int g_sync_fd;

int sync_send_pid(pid_t pid);
int sync_send_ready(void);

/* Send `error <errno> <message>` from g_err; best effort (the peer may be gone). */
void sync_send_error(void);

/* Wait for `go <state-json>`; *state is the (possibly empty) JSON. 0 or -1 (g_err filled). */
int sync_wait_go(struct line_reader *r, char **state);

#endif
