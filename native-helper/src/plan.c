#include "plan.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "errors.h"
#include "seccomp.h"

#define MAX_FD_PRESERVE 65536

static const char *const ns_names[NS_COUNT] = {
	[NS_USER] = "user", [NS_PID] = "pid", [NS_NET] = "net", [NS_IPC] = "ipc",
	[NS_UTS] = "uts", [NS_MNT] = "mnt", [NS_CGROUP] = "cgroup", [NS_TIME] = "time",
};

static const char *const capset_names[CAPSET_COUNT] = {
	[CAPSET_BOUNDING] = "bounding", [CAPSET_EFFECTIVE] = "effective",
	[CAPSET_INHERITABLE] = "inheritable", [CAPSET_PERMITTED] = "permitted",
	[CAPSET_AMBIENT] = "ambient",
};

/* See plan.h. */
void *plan_push(void *arrp, size_t *n, size_t size)
{
	void **arr = arrp;
	char *na = realloc(*arr, (*n + 1) * size);

	if (!na) {
		fail(ENOMEM, "plan");
		return NULL;
	}
	*arr = na;
	memset(na + *n * size, 0, size);
	return na + (*n)++ * size;
}

/* Append s to a NULL-terminated string vector. */
static int push_str(char ***vec, size_t *n, char *s)
{
	char **nv = realloc(*vec, (*n + 2) * sizeof(char *));

	if (!nv)
		return fail(ENOMEM, "plan");
	*vec = nv;
	nv[(*n)++] = s;
	nv[*n] = NULL;
	return 0;
}

int plan_u64(const char *rec, const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s < '0' || *s > '9')
		return fail_msg(EINVAL, "plan record \"%s\": bad number \"%s\"", rec, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return fail_msg(EINVAL, "plan record \"%s\": bad number \"%s\"", rec, s);
	*out = v;
	return 0;
}

static int parse_s64(const char *rec, const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!*s)
		return fail_msg(EINVAL, "plan record \"%s\": bad number \"%s\"", rec, s);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return fail_msg(EINVAL, "plan record \"%s\": bad number \"%s\"", rec, s);
	*out = v;
	return 0;
}

#define U(rec, s, max, dst)                                             \
	({                                                              \
		unsigned long long _v;                                  \
		int _r = plan_u64(rec, s, max, &_v);                   \
		if (!_r)                                                \
			(dst) = _v;                                     \
		_r;                                                     \
	})

int plan_want(struct line *l, size_t min, size_t max)
{
	if (l->n < min || l->n > max)
		return fail_msg(EINVAL, "plan record \"%s\": wrong number of fields (%zu)", l->f[0], l->n - 1);
	return 0;
}

/* Take field i out of the line (the plan owns it from now on). */
static char *take(struct line *l, size_t i)
{
	char *s = l->f[i];

	l->f[i] = NULL;
	return s;
}

static int parse_ns(struct plan *p, struct line *l)
{
	int k;

	if (plan_want(l, 3, 3) < 0)
		return -1;
	for (k = 0; k < NS_COUNT; k++) {
		if (strcmp(l->f[1], ns_names[k]))
			continue;
		if (p->ns[k].present)
			return fail_msg(EINVAL, "plan record \"ns\": namespace \"%s\" given twice", l->f[1]);
		p->ns[k].present = true;
		p->ns[k].path = l->f[2][0] ? take(l, 2) : NULL;
		return 0;
	}
	return fail_msg(EINVAL, "plan record \"ns\": unknown namespace \"%s\"", l->f[1]);
}

static int parse_timens(struct plan *p, struct line *l)
{
	struct timens_rec *t;
	long long secs, nsecs;

	if (plan_want(l, 4, 4) < 0)
		return -1;
	if (!strcmp(l->f[1], "monotonic"))
		t = &p->timens_monotonic;
	else if (!strcmp(l->f[1], "boottime"))
		t = &p->timens_boottime;
	else
		return fail_msg(EINVAL, "plan record \"timens-offset\": unknown clock \"%s\"", l->f[1]);
	if (parse_s64(l->f[0], l->f[2], LLONG_MIN, LLONG_MAX, &secs) < 0 ||
	    parse_s64(l->f[0], l->f[3], 0, 999999999, &nsecs) < 0)
		return -1;
	t->present = true;
	t->secs = secs;
	t->nsecs = (long)nsecs;
	return 0;
}

static int parse_mount(struct plan *p, struct line *l)
{
	struct mount_rec *m;
	unsigned long flags = 0, prop = 0;

	if (plan_want(l, 7, 7) < 0 || U("mount", l->f[4], ULONG_MAX, flags) < 0 ||
	    U("mount", l->f[5], ULONG_MAX, prop) < 0)
		return -1;
	m = plan_push(&p->mounts, &p->n_mounts, sizeof(*m));
	if (!m)
		return -1;
	m->src = take(l, 1);
	m->dst = take(l, 2);
	m->fstype = take(l, 3);
	m->flags = flags;
	m->propflags = prop;
	m->data = take(l, 6);
	return 0;
}

static int parse_device(struct plan *p, struct line *l)
{
	struct device_rec d = { 0 }, *nd;
	const char *t = l->f[2];

	if (plan_want(l, 8, 8) < 0)
		return -1;
	if (strlen(t) != 1 || !strchr("cbup", t[0]))
		return fail_msg(EINVAL, "plan record \"device\": bad type \"%s\"", t);
	d.type = t[0];
	if (U("device", l->f[3], UINT_MAX, d.major) < 0 || U("device", l->f[4], UINT_MAX, d.minor) < 0 ||
	    U("device", l->f[5], 07777, d.mode) < 0 || U("device", l->f[6], UINT_MAX - 1, d.uid) < 0 ||
	    U("device", l->f[7], UINT_MAX - 1, d.gid) < 0)
		return -1;
	if (l->f[1][0] != '/')
		return fail_msg(EINVAL, "plan record \"device\": path \"%s\" is not absolute", l->f[1]);
	nd = plan_push(&p->devices, &p->n_devices, sizeof(*nd));
	if (!nd)
		return -1;
	*nd = d;
	nd->path = take(l, 1);
	return 0;
}

static int parse_caps(struct plan *p, struct line *l)
{
	size_t i;
	int k;

	if (plan_want(l, 2, SIZE_MAX) < 0)
		return -1;
	for (k = 0; k < CAPSET_COUNT; k++)
		if (!strcmp(l->f[1], capset_names[k]))
			break;
	if (k == CAPSET_COUNT)
		return fail_msg(EINVAL, "plan record \"caps\": unknown set \"%s\"", l->f[1]);
	p->has_caps = true;
	p->caps[k] = 0;
	for (i = 2; i < l->n; i++) {
		unsigned int c = 0;

		if (U("caps", l->f[i], 63, c) < 0)
			return -1;
		p->caps[k] |= 1ULL << c;
	}
	return 0;
}

static int parse_hook(struct plan *p, struct line *l)
{
	struct hook_rec *h;
	unsigned int timeout = 0;
	size_t argc = 0, i;

	if (plan_want(l, 5, SIZE_MAX) < 0 || U("hook", l->f[2], 86400 * 365, timeout) < 0 ||
	    U("hook", l->f[4], l->n - 5, argc) < 0)
		return -1;
	h = plan_push(&p->hooks, &p->n_hooks, sizeof(*h));
	if (!h)
		return -1;
	if (!strcmp(l->f[1], "createContainer"))
		h->kind = HOOK_CREATE_CONTAINER;
	else if (!strcmp(l->f[1], "startContainer"))
		h->kind = HOOK_START_CONTAINER;
	else
		return fail_msg(EINVAL, "plan record \"hook\": unknown kind \"%s\"", l->f[1]);
	h->timeout = timeout;
	h->path = take(l, 3);
	h->argv = calloc(argc + 2, sizeof(char *));
	h->envp = calloc(l->n - 5 - argc + 1, sizeof(char *));
	if (!h->argv || !h->envp)
		return fail(ENOMEM, "plan");
	/* OCI hook args include argv[0]; with none given the path stands in for it. */
	if (argc == 0)
		h->argv[0] = strdup(h->path);
	for (i = 0; i < argc; i++)
		h->argv[i] = take(l, 5 + i);
	for (i = 5 + argc; i < l->n; i++)
		h->envp[i - 5 - argc] = take(l, i);
	return 0;
}

static int parse_record(struct plan *p, struct line *l)
{
	const char *r = l->f[0];

	if (!strcmp(r, "wait")) {
		if (plan_want(l, 1, 1) < 0)
			return -1;
		p->wait = true;
	} else if (!strcmp(r, "ns")) {
		return parse_ns(p, l);
	} else if (!strcmp(r, "timens-offset")) {
		return parse_timens(p, l);
	} else if (!strcmp(r, "rootfs")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		if (l->f[1][0] != '/')
			return fail_msg(EINVAL, "plan record \"rootfs\": \"%s\" is not absolute", l->f[1]);
		free(p->rootfs);
		p->rootfs = take(l, 1);
	} else if (!strcmp(r, "rootfs-propagation")) {
		if (plan_want(l, 2, 2) < 0 || U(r, l->f[1], ULONG_MAX, p->rootfs_propagation) < 0)
			return -1;
	} else if (!strcmp(r, "readonly-rootfs")) {
		if (plan_want(l, 1, 1) < 0)
			return -1;
		p->readonly_rootfs = true;
	} else if (!strcmp(r, "no-pivot")) {
		if (plan_want(l, 1, 1) < 0)
			return -1;
		p->no_pivot = true;
	} else if (!strcmp(r, "mount")) {
		return parse_mount(p, l);
	} else if (!strcmp(r, "bind-devices")) {
		if (plan_want(l, 1, 1) < 0)
			return -1;
		p->bind_devices = true;
	} else if (!strcmp(r, "device")) {
		return parse_device(p, l);
	} else if (!strcmp(r, "symlink")) {
		struct symlink_rec *s;

		if (plan_want(l, 3, 3) < 0 || !(s = plan_push(&p->symlinks, &p->n_symlinks, sizeof(*s))))
			return -1;
		s->target = take(l, 1);
		s->linkpath = take(l, 2);
	} else if (!strcmp(r, "masked")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		return push_str(&p->masked, &p->n_masked, take(l, 1));
	} else if (!strcmp(r, "readonly")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		return push_str(&p->readonly, &p->n_readonly, take(l, 1));
	} else if (!strcmp(r, "hostname")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		free(p->hostname);
		p->hostname = take(l, 1);
	} else if (!strcmp(r, "domainname")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		free(p->domainname);
		p->domainname = take(l, 1);
	} else if (!strcmp(r, "sysctl")) {
		struct sysctl_rec *s;

		if (plan_want(l, 3, 3) < 0 || !(s = plan_push(&p->sysctls, &p->n_sysctls, sizeof(*s))))
			return -1;
		s->key = take(l, 1);
		s->value = take(l, 2);
	} else if (!strcmp(r, "rlimit")) {
		struct rlimit_rec rl;

		if (plan_want(l, 4, 4) < 0 || U(r, l->f[1], RLIM_NLIMITS - 1, rl.resource) < 0 ||
		    U(r, l->f[2], ULLONG_MAX, rl.lim.rlim_cur) < 0 || U(r, l->f[3], ULLONG_MAX, rl.lim.rlim_max) < 0)
			return -1;
		struct rlimit_rec *n = plan_push(&p->rlimits, &p->n_rlimits, sizeof(*n));
		if (!n)
			return -1;
		*n = rl;
	} else if (!strcmp(r, "oom-score-adj")) {
		long long v;

		if (plan_want(l, 2, 2) < 0 || parse_s64(r, l->f[1], -1000, 1000, &v) < 0)
			return -1;
		p->has_oom_score_adj = true;
		p->oom_score_adj = (int)v;
	} else if (!strcmp(r, "caps")) {
		return parse_caps(p, l);
	} else if (!strcmp(r, "no-new-privileges")) {
		if (plan_want(l, 1, 1) < 0)
			return -1;
		p->no_new_privileges = true;
	} else if (!strcmp(r, "user")) {
		if (plan_want(l, 3, 3) < 0 || U(r, l->f[1], UINT_MAX - 1, p->uid) < 0 ||
		    U(r, l->f[2], UINT_MAX - 1, p->gid) < 0)
			return -1;
		p->has_user = true;
	} else if (!strcmp(r, "groups")) {
		size_t i;

		free(p->groups);
		p->groups = calloc(l->n, sizeof(gid_t));
		if (!p->groups)
			return fail(ENOMEM, "plan");
		p->n_groups = l->n - 1;
		for (i = 1; i < l->n; i++)
			if (U(r, l->f[i], UINT_MAX - 1, p->groups[i - 1]) < 0)
				return -1;
		p->has_groups = true;
	} else if (!strcmp(r, "umask")) {
		if (plan_want(l, 2, 2) < 0 || U(r, l->f[1], 0777, p->umask) < 0)
			return -1;
		p->has_umask = true;
	} else if (!strcmp(r, "cwd")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		free(p->cwd);
		p->cwd = take(l, 1);
	} else if (!strcmp(r, "env")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		return push_str(&p->env, &p->n_env, take(l, 1));
	} else if (!strcmp(r, "arg")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		return push_str(&p->args, &p->n_args, take(l, 1));
	} else if (!strcmp(r, "terminal")) {
		if (plan_want(l, 1, 1) < 0)
			return -1;
		p->terminal = true;
	} else if (!strcmp(r, "console-socket")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		free(p->console_socket);
		p->console_socket = take(l, 1);
	} else if (!strcmp(r, "console-size")) {
		if (plan_want(l, 3, 3) < 0 || U(r, l->f[1], USHRT_MAX, p->rows) < 0 || U(r, l->f[2], USHRT_MAX, p->cols) < 0)
			return -1;
		p->has_console_size = true;
	} else if (!strcmp(r, "exec-fifo")) {
		if (plan_want(l, 2, 2) < 0)
			return -1;
		free(p->exec_fifo);
		p->exec_fifo = take(l, 1);
	} else if (!strcmp(r, "preserve-fds")) {
		if (plan_want(l, 2, 2) < 0 || U(r, l->f[1], MAX_FD_PRESERVE, p->preserve_fds) < 0)
			return -1;
	} else if (!strcmp(r, "hook")) {
		return parse_hook(p, l);
	} else if (!strcmp(r, "personality")) {
		if (plan_want(l, 2, 2) < 0 || U(r, l->f[1], UINT_MAX, p->personality) < 0)
			return -1;
		p->has_personality = true;
	} else if (!strncmp(r, "seccomp-", 8)) {
		return seccomp_parse_record(p, l);
	} else if (!strcmp(r, "version")) {
		return fail_msg(EINVAL, "plan record \"version\" given twice");
	} else {
		return fail_msg(EINVAL, "unknown plan record \"%s\"", r);
	}
	return 0;
}

/* Checks across records, so that a plan that would act on the host fails before clone(). */
static int plan_check(struct plan *p)
{
	if (!p->n_args)
		return fail_msg(EINVAL, "plan has no \"arg\" record");
	if (p->rootfs && !(p->ns[NS_MNT].present && !p->ns[NS_MNT].path))
		return fail_msg(EINVAL, "plan record \"rootfs\" needs a new mnt namespace");
	if ((p->timens_monotonic.present || p->timens_boottime.present) &&
	    !(p->ns[NS_TIME].present && !p->ns[NS_TIME].path))
		return fail_msg(EINVAL, "plan record \"timens-offset\" needs a new time namespace");
	if ((p->hostname || p->domainname) && !p->ns[NS_UTS].present)
		return fail_msg(EINVAL, "plan records \"hostname\"/\"domainname\" need a uts namespace");
	/* Without a console socket the pty is relayed by stage0, which must stay for that. */
	if (p->terminal && !p->console_socket && !p->wait)
		return fail_msg(EINVAL, "plan record \"terminal\" needs \"console-socket\" or \"wait\"");
	if (!p->seccomp.present && (p->seccomp.n_arches || p->seccomp.n_rules || p->seccomp.flag_log ||
				    p->seccomp.flag_spec_allow || p->seccomp.flag_tsync))
		return fail_msg(EINVAL, "plan records \"seccomp-*\" need \"seccomp-default\"");
	if (!p->env) { /* execve wants a vector even when it is empty */
		p->env = calloc(1, sizeof(char *));
		if (!p->env)
			return fail(ENOMEM, "plan");
	}
	return 0;
}

int plan_read(struct line_reader *r, struct plan *p)
{
	bool first = true;

	memset(p, 0, sizeof(*p));
	p->rootfs_propagation = (1UL << 19) | (1UL << 14); /* MS_SLAVE | MS_REC */
	p->fifo_fd = -1;
	p->console_fd = -1;
	for (int k = 0; k < NS_COUNT; k++)
		p->ns[k].fd = -1;

	for (;;) {
		struct line l;
		int rc = line_read(r, &l);

		if (rc < 0)
			return -1;
		if (rc == 0)
			return fail_msg(EPIPE, "sync socket closed before the plan's \"end\"");
		if (first) {
			first = false;
			if (strcmp(l.f[0], "version") || l.n != 2 || strcmp(l.f[1], "1")) {
				fail_msg(EINVAL, "plan must start with \"version 1\", got \"%s\"", l.f[0]);
				line_free(&l);
				return -1;
			}
			line_free(&l);
			continue;
		}
		if (!strcmp(l.f[0], "end")) {
			line_free(&l);
			return plan_check(p);
		}
		rc = parse_record(p, &l);
		line_free(&l);
		if (rc < 0)
			return -1;
	}
}
