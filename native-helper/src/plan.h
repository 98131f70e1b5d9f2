/* The init plan: the records of PROTOCOL.md, parsed into plain C data. */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "line.h"

enum ns_kind { NS_USER, NS_PID, NS_NET, NS_IPC, NS_UTS, NS_MNT, NS_CGROUP, NS_TIME, NS_COUNT };

enum cap_set { CAPSET_BOUNDING, CAPSET_EFFECTIVE, CAPSET_INHERITABLE, CAPSET_PERMITTED,
	       CAPSET_AMBIENT, CAPSET_COUNT };

enum hook_kind { HOOK_CREATE_CONTAINER, HOOK_START_CONTAINER };

struct ns_rec {
	bool present;
	char *path;   /* NULL: a new namespace */
	int fd;       /* opened by stage0 when path is set */
};

struct mount_rec {
	char *src, *dst, *fstype, *data;
	unsigned long flags, propflags;
};

struct device_rec {
	char *path;
	char type;    /* c b u p */
	unsigned int major, minor;
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

struct symlink_rec {
	char *target, *linkpath;
};

struct sysctl_rec {
	char *key, *value;
};

struct rlimit_rec {
	int resource;
	struct rlimit lim;
};

struct hook_rec {
	enum hook_kind kind;
	unsigned int timeout;   /* seconds, 0 = none */
	char *path;
	char **argv;            /* NULL-terminated */
	char **envp;            /* NULL-terminated */
};

/* One comparison of a seccomp rule: arg[index] <op> value (MASKED_EQ: arg & value == value_two). */
struct seccomp_cmp_rec {
	unsigned int index;
	int op;                 /* enum scmp_compare */
	uint64_t value, value_two;
};

struct seccomp_rule_rec {
	uint32_t action;        /* SCMP_ACT_*, errno folded in */
	char *syscall;
	struct seccomp_cmp_rec *cmps; size_t n_cmps;
};

struct seccomp_arch_rec {
	char *name;             /* the OCI name, for messages */
	uint32_t token;         /* libseccomp's SCMP_ARCH_* value */
};

struct seccomp_plan {
	bool present;           /* a seccomp-default record: load a filter */
	uint32_t default_action;
	struct seccomp_arch_rec *arches; size_t n_arches;
	bool flag_log, flag_spec_allow, flag_tsync;
	struct seccomp_rule_rec *rules; size_t n_rules;
};

struct timens_rec {
	bool present;
	long long secs;
	long nsecs;
};

struct plan {
	bool wait;
	struct ns_rec ns[NS_COUNT];
	struct timens_rec timens_monotonic, timens_boottime;

	char *rootfs;
	unsigned long rootfs_propagation;
	bool readonly_rootfs, no_pivot, bind_devices;

	struct mount_rec *mounts;     size_t n_mounts;
	struct device_rec *devices;   size_t n_devices;
	struct symlink_rec *symlinks; size_t n_symlinks;
	char **masked;                size_t n_masked;
	char **readonly;              size_t n_readonly;

	char *hostname, *domainname;  /* NULL: not set */
	struct sysctl_rec *sysctls;   size_t n_sysctls;
	struct rlimit_rec *rlimits;   size_t n_rlimits;
	bool has_oom_score_adj;
	int oom_score_adj;

	bool has_caps;                /* any caps record: sets without one are empty */
	uint64_t caps[CAPSET_COUNT];
	bool no_new_privileges;
	bool has_user;
	uid_t uid;
	gid_t gid;
	bool has_groups;
	gid_t *groups;                size_t n_groups;
	bool has_umask;
	mode_t umask;
	char *cwd;

	char **env;                   size_t n_env;   /* NULL-terminated */
	char **args;                  size_t n_args;  /* NULL-terminated */

	bool terminal;
	char *console_socket;
	bool has_console_size;
	unsigned short rows, cols;

	char *exec_fifo;
	int preserve_fds;

	struct hook_rec *hooks;       size_t n_hooks;

	bool has_personality;
	unsigned long personality;
	struct seccomp_plan seccomp;

	/* Filled by stage0, used by the child. */
	int fifo_fd;
	int console_fd;
};

/* Grow a (pointer, count) array by one zeroed element; returns the new element or NULL
 * (g_err filled). */
void *plan_push(void *arrp, size_t *n, size_t size);

/* Check a record's field count (record name included): 0 or -1 (g_err filled). */
int plan_want(struct line *l, size_t min, size_t max);

/* Parse a decimal unsigned number field of record rec, at most max: 0 or -1 (g_err filled). */
int plan_u64(const char *rec, const char *s, unsigned long long max, unsigned long long *out);

/* Read records from r up to `end` and check them. Returns 0 or -1 (g_err filled). */
int plan_read(struct line_reader *r, struct plan *p);

#endif
