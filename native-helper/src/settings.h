/* Per-container kernel settings: hostname, loopback, sysctls, oom score, rlimits, umask, personality. */
#ifndef BERTH_SETTINGS_H
#define BERTH_SETTINGS_H

#include "plan.h"

int settings_names(const struct plan *p);    /* hostname, domainname */
int settings_loopback(const struct plan *p); /* `lo` up in a new network namespace */
int settings_sysctls(const struct plan *p);
int settings_process(const struct plan *p);  /* oom-score-adj, rlimits, umask, personality */

#endif
