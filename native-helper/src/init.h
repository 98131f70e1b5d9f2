/* The child ("berth:init"): every step from `go` to execve, in PROTOCOL.md's order. */
#ifndef BERTH_INIT_H
#define BERTH_INIT_H

#include "line.h"
#include "plan.h"

/* Never returns: execs the container process or exits 1 after sending `error`. */
__attribute__((noreturn)) void init_main(struct plan *p, struct line_reader *r);

#endif
