/* Capability sets through the raw capget/capset syscalls and prctl. */
#ifndef BERTH_CAPS_H
#define BERTH_CAPS_H

#include <stdint.h>

/* Drop every capability not in `keep` from the bounding set. */
int caps_limit_bounding(uint64_t keep);

/* Set the effective, permitted and inheritable sets exactly. */
int caps_set(uint64_t effective, uint64_t permitted, uint64_t inheritable);

/* Make the ambient set exactly `ambient`. */
int caps_set_ambient(uint64_t ambient);

#endif
