#define _GNU_SOURCE
#include "seccomp.h"

#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "errors.h"

#define ARCH_PREFIX "SCMP_ARCH_"
#define MAX_ARG_INDEX 5        /* a system call has 6 arguments */
#define MAX_RET 0xffff         /* SCMP_ACT_ERRNO/TRACE keep 16 bits */
#define MAX_CMPS 1024          /* sanity bound on a record's comparisons */

static const struct {
	const char *name;
	uint32_t action;
	bool takes_ret;        /* the plan's errno goes into the action */
} actions[] = {
	{ "SCMP_ACT_KILL", SCMP_ACT_KILL, false },
	{ "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false },
	{ "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false },
	{ "SCMP_ACT_TRAP", SCMP_ACT_TRAP, false },
	{ "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true },
	{ "SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true },
	{ "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false },
	{ "SCMP_ACT_LOG", SCMP_ACT_LOG, false },
};

static const struct {
	const char *name;
	enum scmp_compare op;
} ops[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
	{ "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
	{ "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

/* Fields f[i] (action) and f[i+1] (errno) of record rec. */
static int parse_action(const char *rec, struct line *l, size_t i, uint32_t *out)
{
	unsigned long long ret;

	if (plan_u64(rec, l->f[i + 1], MAX_RET, &ret) < 0)
		return -1;
	for (size_t k = 0; k < sizeof(actions) / sizeof(actions[0]); k++) {
		if (strcmp(l->f[i], actions[k].name))
			continue;
		*out = actions[k].action | (actions[k].takes_ret ? (uint32_t)ret : 0);
		return 0;
	}
	return fail_msg(EINVAL, "plan record \"%s\": unknown or unsupported action \"%s\"", rec, l->f[i]);
}

/* OCI arch names are libseccomp's, upper-cased and prefixed: SCMP_ARCH_X86_64 is "x86_64". */
static int parse_arch(struct plan *p, struct line *l)
{
	const char *name = l->f[1];
	char lower[32];
	struct seccomp_arch_rec *a;
	uint32_t token = 0;
	size_t n;

	if (plan_want(l, 2, 2) < 0)
		return -1;
	n = strlen(name);
	if (!strncmp(name, ARCH_PREFIX, strlen(ARCH_PREFIX)) && n - strlen(ARCH_PREFIX) < sizeof(lower)) {
		for (size_t i = strlen(ARCH_PREFIX); i <= n; i++)
			lower[i - strlen(ARCH_PREFIX)] = (char)tolower((unsigned char)name[i]);
		token = seccomp_arch_resolve_name(lower);
	}
	if (!token)
		return fail_msg(EINVAL, "plan record \"seccomp-arch\": unknown architecture \"%s\"", name);
	a = plan_push(&p->seccomp.arches, &p->seccomp.n_arches, sizeof(*a));
	if (!a)
		return -1;
	a->token = token;
	a->name = l->f[1];
	l->f[1] = NULL;
	return 0;
}

static int parse_flag(struct plan *p, struct line *l)
{
	const char *f = l->f[1];

	if (plan_want(l, 2, 2) < 0)
		return -1;
	if (!strcmp(f, "SECCOMP_FILTER_FLAG_LOG"))
		p->seccomp.flag_log = true;
	else if (!strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
		p->seccomp.flag_spec_allow = true;
	else if (!strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC"))
		p->seccomp.flag_tsync = true;
	else
		return fail_msg(EINVAL, "plan record \"seccomp-flag\": unknown flag \"%s\"", f);
	return 0;
}

/* seccomp-rule <action> <errno> <syscall> <nargs> [<index> <op> <value> <valueTwo>]… */
static int parse_rule(struct plan *p, struct line *l)
{
	const char *rec = l->f[0];
	struct seccomp_rule_rec *r;
	unsigned long long nargs;

	if (plan_want(l, 5, SIZE_MAX) < 0 || plan_u64(rec, l->f[4], MAX_CMPS, &nargs) < 0)
		return -1;
	if (l->n != 5 + 4 * nargs)
		return fail_msg(EINVAL, "plan record \"%s\": %llu comparisons need %llu fields, got %zu", rec,
				nargs, 4 + 4 * nargs, l->n - 1);
	r = plan_push(&p->seccomp.rules, &p->seccomp.n_rules, sizeof(*r));
	if (!r || parse_action(rec, l, 1, &r->action) < 0)
		return -1;
	r->cmps = calloc(nargs ? nargs : 1, sizeof(*r->cmps));
	if (!r->cmps)
		return fail(ENOMEM, "plan");
	for (size_t i = 0; i < nargs; i++) {
		struct seccomp_cmp_rec *c = &r->cmps[i];
		char **f = &l->f[5 + 4 * i];
		unsigned long long index, value, value_two;
		size_t k;

		if (plan_u64(rec, f[0], MAX_ARG_INDEX, &index) < 0)
			return -1;
		c->index = (unsigned int)index;
		for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
			if (!strcmp(f[1], ops[k].name))
				break;
		if (k == sizeof(ops) / sizeof(ops[0]))
			return fail_msg(EINVAL, "plan record \"%s\": unknown operator \"%s\"", rec, f[1]);
		c->op = ops[k].op;
		if (plan_u64(rec, f[2], UINT64_MAX, &value) < 0 || plan_u64(rec, f[3], UINT64_MAX, &value_two) < 0)
			return -1;
		c->value = value;
		c->value_two = value_two;
		r->n_cmps++;
	}
	r->syscall = l->f[3];
	l->f[3] = NULL;
	return 0;
}

int seccomp_parse_record(struct plan *p, struct line *l)
{
	const char *r = l->f[0];

	if (!strcmp(r, "seccomp-default")) {
		if (plan_want(l, 3, 3) < 0 || parse_action(r, l, 1, &p->seccomp.default_action) < 0)
			return -1;
		p->seccomp.present = true;
		return 0;
	}
	if (!strcmp(r, "seccomp-arch"))
		return parse_arch(p, l);
	if (!strcmp(r, "seccomp-flag"))
		return parse_flag(p, l);
	if (!strcmp(r, "seccomp-rule"))
		return parse_rule(p, l);
	return fail_msg(EINVAL, "unknown plan record \"%s\"", r);
}

static void release_filter(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

/* libseccomp takes one comparison per argument index in a rule; with two on the same index it
 * fails. Such a record becomes one rule per comparison, as runc does. */
static int add_rule(scmp_filter_ctx ctx, const struct seccomp_rule_rec *r, int nr)
{
	_cleanup_free_ struct scmp_arg_cmp *cmps = calloc(r->n_cmps ? r->n_cmps : 1, sizeof(*cmps));
	unsigned int seen = 0;
	bool split = false;
	int rc;

	if (!cmps)
		return fail(ENOMEM, "seccomp: add rule \"%s\"", r->syscall);
	for (size_t i = 0; i < r->n_cmps; i++) {
		const struct seccomp_cmp_rec *c = &r->cmps[i];

		if (seen & (1U << c->index))
			split = true;
		seen |= 1U << c->index;
		cmps[i] = (struct scmp_arg_cmp){ .arg = c->index, .op = (enum scmp_compare)c->op,
						 .datum_a = c->value, .datum_b = c->value_two };
	}
	if (!split) {
		rc = seccomp_rule_add_array(ctx, r->action, nr, (unsigned int)r->n_cmps, cmps);
		if (rc < 0)
			return fail(-rc, "seccomp: add rule \"%s\"", r->syscall);
		return 0;
	}
	for (size_t i = 0; i < r->n_cmps; i++) {
		rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &cmps[i]);
		if (rc < 0)
			return fail(-rc, "seccomp: add rule \"%s\" (comparison %zu)", r->syscall, i);
	}
	return 0;
}

static int set_attr(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value, const char *what)
{
	int rc = seccomp_attr_set(ctx, attr, value);

	if (rc < 0)
		return fail(-rc, "seccomp: set %s", what);
	return 0;
}

int seccomp_load_plan(const struct plan *p)
{
	const struct seccomp_plan *s = &p->seccomp;
	__attribute__((cleanup(release_filter))) scmp_filter_ctx ctx = NULL;
	int rc;

	ctx = seccomp_init(s->default_action);
	if (!ctx)
		return fail(ENOMEM, "seccomp: init (default action 0x%x)", s->default_action);
	/* libseccomp would set no_new_privs itself on load; only the plan decides that. Without
	 * it, the load needs CAP_SYS_ADMIN, which is why it comes before the user switch. */
	if (set_attr(ctx, SCMP_FLTATR_CTL_NNP, 0, "attribute NO_NEW_PRIVS off") < 0)
		return -1;
	if (s->flag_log && set_attr(ctx, SCMP_FLTATR_CTL_LOG, 1, "flag SECCOMP_FILTER_FLAG_LOG") < 0)
		return -1;
	if (s->flag_spec_allow &&
	    set_attr(ctx, SCMP_FLTATR_CTL_SSB, 1, "flag SECCOMP_FILTER_FLAG_SPEC_ALLOW") < 0)
		return -1;
	if (s->flag_tsync && set_attr(ctx, SCMP_FLTATR_CTL_TSYNC, 1, "flag SECCOMP_FILTER_FLAG_TSYNC") < 0)
		return -1;
	/* Architectures before rules: a rule is added for every architecture already in the
	 * filter. The native one is there from seccomp_init. */
	for (size_t i = 0; i < s->n_arches; i++) {
		rc = seccomp_arch_add(ctx, s->arches[i].token);
		if (rc < 0 && rc != -EEXIST)
			return fail(-rc, "seccomp: add arch %s", s->arches[i].name);
	}
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct seccomp_rule_rec *r = &s->rules[i];
		int nr;

		/* Same filter either way, and libseccomp refuses a rule with the default action. */
		if (r->action == s->default_action)
			continue;
		/* A name this libseccomp or architecture does not know: profiles list syscalls of
		 * every architecture and kernel version, so skip it (runc does the same). */
		nr = seccomp_syscall_resolve_name(r->syscall);
		if (nr == __NR_SCMP_ERROR)
			continue;
		if (add_rule(ctx, r, nr) < 0)
			return -1;
	}
	rc = seccomp_load(ctx);
	if (rc < 0)
		return fail(-rc, "seccomp: load");
	return 0;
}
