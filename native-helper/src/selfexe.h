/* CVE-2019-5736: berth-init never runs from the host's file. See PROTOCOL.md "Protection of the
 * berth-init binary". */
#ifndef BERTH_SELFEXE_H
#define BERTH_SELFEXE_H

/* Unless /proc/self/exe is already a sealed memfd, copy it into one, seal it and re-exec
 * from it with the same argv and environment (fds 3+ that are not close-on-exec survive).
 * Returns 0 when already running from a sealed memfd; does not return when the re-exec
 * works; -1 (g_err filled, message "memfd re-exec: …") otherwise. */
int selfexe_ensure_sealed(char **argv);

#endif
