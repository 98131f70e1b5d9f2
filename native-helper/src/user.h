/* Supplementary groups and the uid/gid switch. */
#ifndef BERTH_USER_H
#define BERTH_USER_H

#include "plan.h"

/* `groups`, or none (setgroups(0)) unless the user namespace denies setgroups. */
int user_set_groups(const struct plan *p);

/* `user`: gid before uid, because changing the uid away from 0 loses CAP_SETGID. */
int user_switch(uid_t uid, gid_t gid);

#endif
