/* OCI hooks run by berth-init: createContainer and startContainer. */
#ifndef BERTH_HOOKS_H
#define BERTH_HOOKS_H

#include "plan.h"

/* Run every hook of `kind`, in plan order, with `state` on its stdin. */
int hooks_run(const struct plan *p, enum hook_kind kind, const char *state);

#endif
