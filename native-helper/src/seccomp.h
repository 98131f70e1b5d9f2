/* The container's seccomp filter: `seccomp-*` plan records, built and loaded with libseccomp. */
#ifndef BERTH_SECCOMP_H
#define BERTH_SECCOMP_H

#include "line.h"
#include "plan.h"

/* Parse one `seccomp-default|arch|flag|rule` record into p->seccomp; every name is resolved
 * here, before clone(). 0 or -1 (g_err filled). */
int seccomp_parse_record(struct plan *p, struct line *l);

/* Build the filter of p->seccomp and load it into the calling thread. 0 or -1 (g_err filled,
 * message "seccomp: <step> …"). */
int seccomp_load_plan(const struct plan *p);

#endif
