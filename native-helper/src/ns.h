/* Namespaces: opening and joining existing ones, and the clone flags of new ones (stage0). */
#ifndef BERTH_NS_H
#define BERTH_NS_H

#include "plan.h"

/* Open every namespace path of the plan (while the host's paths are still visible). */
int ns_open_all(struct plan *p);

/* Join the opened namespaces (user first, mnt last) and create a new time namespace with its
 * offsets when asked. Closes the namespace fds. */
int ns_join_all(struct plan *p);

/* CLONE_NEW* flags of every new namespace that clone() itself creates. */
unsigned long ns_clone_flags(const struct plan *p);

/* The new namespace kind is asked for (present without a path). */
static inline int ns_is_new(const struct plan *p, enum ns_kind k)
{
	return p->ns[k].present && !p->ns[k].path;
}

#endif
