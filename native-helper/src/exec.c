#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "errors.h"
#include "seccomp.h"
#include "sync.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *env_path(const struct plan *p)
{
	for (size_t i = 0; i < p->n_env; i++)
		if (!strncmp(p->env[i], "PATH=", 5))
			return p->env[i] + 5;
	return DEFAULT_PATH;
}

static int is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *exec_lookup(const struct plan *p)
{
	const char *name = p->args[0];
	const char *path = env_path(p);
	char *cand;

	if (!*name) {
		fail_msg(ENOENT, "exec: \"\": empty args[0]");
		return NULL;
	}
	if (strchr(name, '/')) {
		struct stat st;

		if (stat(name, &st) < 0) {
			fail(errno, "exec: \"%s\"", name);
			return NULL;
		}
		if (S_ISDIR(st.st_mode)) {
			fail(EISDIR, "exec: \"%s\"", name);
			return NULL;
		}
		if (access(name, X_OK) < 0) {
			fail(errno, "exec: \"%s\"", name);
			return NULL;
		}
		cand = strdup(name);
		if (!cand)
			fail(ENOMEM, "exec lookup");
		return cand;
	}
	for (;;) {
		const char *colon = strchr(path, ':');
		size_t dlen = colon ? (size_t)(colon - path) : strlen(path);

		/* An empty PATH entry means the current directory. */
		if (asprintf(&cand, "%.*s/%s", (int)(dlen ? dlen : 1), dlen ? path : ".", name) < 0) {
			fail(ENOMEM, "exec lookup");
			return NULL;
		}
		if (is_executable(cand))
			return cand;
		free(cand);
		if (!colon)
			break;
		path = colon + 1;
	}
	fail_msg(ENOENT, "exec: \"%s\": executable file not found in $PATH", name);
	return NULL;
}

int exec_arrange_fds(const struct plan *p)
{
	int n = p->preserve_fds;

	if (n > 0 && g_sync_fd < 3 + n + 1) {
		/* Keep the sync socket above the range the preserved fds move into, so errors can
		 * still be reported up to execve (it is close-on-exec). */
		int fd = fcntl(g_sync_fd, F_DUPFD_CLOEXEC, 3 + n + 1);

		if (fd < 0)
			return fail(errno, "move the sync socket");
		close(g_sync_fd);
		g_sync_fd = fd;
	}
	/* Ascending order: fd 4+i is read before 4+i+1's move overwrites it. dup2 leaves the new
	 * fd without close-on-exec, which is what the container needs. */
	for (int i = 0; i < n; i++)
		if (dup2(4 + i, 3 + i) < 0)
			return fail(errno, "move preserved fd %d to %d", 4 + i, 3 + i);
	if (syscall(SYS_close_range, 3 + n, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return fail(errno, "mark fds from %d close-on-exec", 3 + n);
	return 0;
}

/* The home directory of `uid` in the container's /etc/passwd, or NULL (not there, unreadable). */
static char *passwd_home(uid_t uid)
{
	FILE *f = fopen("/etc/passwd", "re");
	char *line = NULL, *home = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	while (!home && getline(&line, &cap, f) > 0) {
		/* name:password:uid:gid:gecos:home:shell */
		char *field[7] = { 0 }, *s = line;
		int n = 0;

		line[strcspn(line, "\n")] = 0;
		while (n < 7 && s) {
			field[n++] = s;
			s = strchr(s, ':');
			if (s)
				*s++ = 0;
		}
		if (n < 6 || !*field[2])
			continue;
		char *end;
		unsigned long id = strtoul(field[2], &end, 10);
		if (!*end && id == uid && *field[5])
			home = strdup(field[5]);
	}
	free(line);
	fclose(f);
	return home;
}

/* runc's rule: a process whose environment has no HOME gets the user's home directory from
 * the container's /etc/passwd, or "/" when the user has no entry there. Programs (shells,
 * ssh, git) rely on HOME being set; Docker users see HOME=/root in every container. */
static char **env_with_home(const struct plan *p)
{
	for (size_t i = 0; i < p->n_env; i++)
		if (!strncmp(p->env[i], "HOME=", 5))
			return p->env;
	char *home = passwd_home(getuid());
	char **env = calloc(p->n_env + 2, sizeof(char *));

	if (!env || asprintf(&env[p->n_env], "HOME=%s", home ? home : "/") < 0) {
		free(home);
		free(env);
		return p->env; /* out of memory: exec without HOME rather than fail the container */
	}
	free(home);
	memcpy(env, p->env, p->n_env * sizeof(char *));
	return env;
}

int exec_container(const struct plan *p, const char *path)
{
	sigset_t none;
	char **env = env_with_home(p);

	/* The container starts with default signal handling and nothing blocked. */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* With no_new_privs the filter needs no privilege, so it comes last: the fifo, the
	 * hooks and the signal reset above are not subject to it, only execve and the
	 * container are. Without it, it was loaded before the user switch (init.c step 8b). */
	if (p->seccomp.present && p->no_new_privileges && seccomp_load_plan(p) < 0)
		return -1;
	execve(path, p->args, env);
	return fail(errno, "exec \"%s\"", path);
}
