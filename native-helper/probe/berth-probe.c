/* berth-probe: run inside containers by the e2e tests; prints one JSON object describing what
 * the process sees. See ../README.md for the output. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void jstr(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				printf("\\u%04x", *p);
			else
				putchar(*p);
		}
	}
	putchar('"');
}

static void key(const char *k, int *first)
{
	if (!*first)
		putchar(',');
	*first = 0;
	jstr(k);
	putchar(':');
}

/* Whole file into a malloc'd string (NULL with errno on failure). */
static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 4096;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	while (buf && (n = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap) {
			char *nb = realloc(buf, (cap *= 2) + 1);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

static void status_caps(int *first)
{
	static const char *const names[][2] = { { "CapInh:", "inheritable" }, { "CapPrm:", "permitted" },
						{ "CapEff:", "effective" },   { "CapBnd:", "bounding" },
						{ "CapAmb:", "ambient" } };
	char *st = slurp("/proc/self/status");
	int f = 1;

	key("caps", first);
	putchar('{');
	for (size_t i = 0; i < 5; i++) {
		char *l = st ? strstr(st, names[i][0]) : NULL;
		char val[32] = { 0 };

		if (l)
			sscanf(l + strlen(names[i][0]), " %31s", val);
		key(names[i][1], &f);
		jstr(l ? val : NULL);
	}
	putchar('}');
	free(st);
}

static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static void mounts(int *first)
{
	char *mi = slurp("/proc/self/mountinfo"), *save = NULL, *line;
	int fm = 1;

	key("mounts", first);
	putchar('[');
	for (line = mi ? strtok_r(mi, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent major:minor root mountpoint options [optional…] - fstype source superopts */
		char *f[6] = { 0 }, *sep = strstr(line, " - "), *s2 = NULL, *fstype, *source;
		int n = 0, ff = 1;

		if (!sep)
			continue;
		*sep = '\0';
		for (char *t = strtok_r(line, " ", &s2); t && n < 6; t = strtok_r(NULL, " ", &s2))
			f[n++] = t;
		fstype = strtok_r(sep + 3, " ", &s2);
		source = strtok_r(NULL, " ", &s2);
		if (n < 6 || !fstype)
			continue;
		unescape(f[4]);
		if (source)
			unescape(source);
		if (!fm)
			putchar(',');
		fm = 0;
		putchar('{');
		key("mountpoint", &ff);
		jstr(f[4]);
		key("fstype", &ff);
		jstr(fstype);
		key("options", &ff);
		jstr(f[5]);
		key("source", &ff);
		jstr(source);
		putchar('}');
	}
	putchar(']');
	free(mi);
}

static void rlimits(int *first)
{
	static const struct { const char *name; int res; } rl[] = {
		{ "cpu", RLIMIT_CPU }, { "fsize", RLIMIT_FSIZE }, { "data", RLIMIT_DATA },
		{ "stack", RLIMIT_STACK }, { "core", RLIMIT_CORE }, { "rss", RLIMIT_RSS },
		{ "nproc", RLIMIT_NPROC }, { "nofile", RLIMIT_NOFILE }, { "memlock", RLIMIT_MEMLOCK },
		{ "as", RLIMIT_AS }, { "locks", RLIMIT_LOCKS }, { "sigpending", RLIMIT_SIGPENDING },
		{ "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE }, { "rtprio", RLIMIT_RTPRIO },
		{ "rttime", RLIMIT_RTTIME },
	};
	int f = 1;

	key("rlimits", first);
	putchar('{');
	for (size_t i = 0; i < sizeof(rl) / sizeof(rl[0]); i++) {
		struct rlimit r;
		int g = 1;

		if (getrlimit(rl[i].res, &r) < 0)
			continue;
		key(rl[i].name, &f);
		putchar('{');
		key("soft", &g);
		if (r.rlim_cur == RLIM_INFINITY)
			jstr("unlimited");
		else
			printf("%llu", (unsigned long long)r.rlim_cur);
		key("hard", &g);
		if (r.rlim_max == RLIM_INFINITY)
			jstr("unlimited");
		else
			printf("%llu", (unsigned long long)r.rlim_max);
		putchar('}');
	}
	putchar('}');
}

static void fds(int *first)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int f = 1;

	key("fds", first);
	putchar('[');
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		if (!f)
			putchar(',');
		f = 0;
		printf("%d", atoi(e->d_name));
	}
	putchar(']');
	if (d)
		closedir(d);
}

static void report(int argc, char **argv)
{
	int first = 1, n;
	gid_t groups[NGROUPS_MAX];
	char cwd[PATH_MAX];
	struct utsname u;
	mode_t um = umask(0);
	char buf[32];
	char *oom;

	umask(um);
	putchar('{');
	key("uid", &first); printf("%u", getuid());
	key("gid", &first); printf("%u", getgid());
	key("euid", &first); printf("%u", geteuid());
	key("egid", &first); printf("%u", getegid());
	key("groups", &first);
	n = getgroups(NGROUPS_MAX, groups);
	putchar('[');
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", groups[i]);
	putchar(']');
	status_caps(&first);
	key("no_new_privs", &first);
	fputs(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? "true" : "false", stdout);
	key("umask", &first);
	snprintf(buf, sizeof(buf), "%04o", um);
	jstr(buf);
	key("cwd", &first);
	jstr(getcwd(cwd, sizeof(cwd)));
	uname(&u);
	key("hostname", &first); jstr(u.nodename);
	key("domainname", &first); jstr(u.domainname);
	key("pid", &first); printf("%d", getpid());
	key("ppid", &first); printf("%d", getppid());
	key("sid", &first); printf("%d", getsid(0));
	key("pgid", &first); printf("%d", getpgid(0));
	key("env", &first);
	putchar('[');
	for (char **e = environ; e && *e; e++) {
		if (e != environ)
			putchar(',');
		jstr(*e);
	}
	putchar(']');
	key("args", &first);
	putchar('[');
	for (int i = 0; i < argc; i++) {
		if (i)
			putchar(',');
		jstr(argv[i]);
	}
	putchar(']');
	rlimits(&first);
	key("oom_score_adj", &first);
	oom = slurp("/proc/self/oom_score_adj");
	if (oom)
		printf("%d", atoi(oom));
	else
		fputs("null", stdout);
	free(oom);
	mounts(&first);
	fds(&first);
	key("ttyname", &first);
	jstr(isatty(0) ? ttyname(0) : NULL);
	puts("}");
}

static void one(const char *k, const char *v)
{
	int first = 1;

	putchar('{');
	key(k, &first);
	jstr(v);
	puts("}");
}

static void do_cat(const char *path)
{
	char *s = slurp(path);
	int first = 1;

	putchar('{');
	key("cat", &first);
	jstr(s);
	if (!s) {
		key("error", &first);
		jstr(strerror(errno));
	}
	puts("}");
	free(s);
}

static void do_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, "berth-probe\n", 12) != 12) {
		one("write", strerror(errno));
	} else {
		one("write", "ok");
	}
	if (fd >= 0)
		close(fd);
}

static void do_sysctl(const char *name)
{
	char path[PATH_MAX], *s, *p;
	int first = 1;

	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	if (!strchr(name, '/'))
		for (p = path + 10; *p; p++)
			if (*p == '.')
				*p = '/';
	s = slurp(path);
	if (s && *s && s[strlen(s) - 1] == '\n')
		s[strlen(s) - 1] = '\0';
	putchar('{');
	key("sysctl", &first);
	jstr(s);
	if (!s) {
		key("error", &first);
		jstr(strerror(errno));
	}
	puts("}");
	free(s);
}

static void do_alloc(long mb)
{
	long i;

	for (i = 0; i < mb; i++) {
		char *p = malloc(1 << 20);

		if (!p) {
			printf("{\"alloc\":\"failed\",\"mb\":%ld}\n", i);
			fflush(stdout);
			return;
		}
		memset(p, 0x5a, 1 << 20);
		printf("{\"allocated_mb\":%ld}\n", i + 1);
		fflush(stdout);
	}
	printf("{\"alloc\":\"ok\",\"mb\":%ld}\n", mb);
}

static void do_fork(long n)
{
	pid_t *pids = calloc((size_t)(n > 0 ? n : 1), sizeof(pid_t));
	long ok = 0;
	int err = 0;

	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			pause();
			_exit(0);
		}
		pids[ok++] = pid;
	}
	for (long i = 0; i < ok; i++)
		kill(pids[i], SIGKILL);
	for (long i = 0; i < ok; i++)
		waitpid(pids[i], NULL, 0);
	printf("{\"fork\":{\"requested\":%ld,\"succeeded\":%ld,\"error\":", n, ok);
	jstr(err ? strerror(err) : NULL);
	puts("}}");
	free(pids);
}

int main(int argc, char **argv)
{
	int exit_code = 0, actions = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v && (!strcmp(a, "--cat") || !strcmp(a, "--write") || !strcmp(a, "--sysctl") ||
			   !strcmp(a, "--exit") || !strcmp(a, "--sleep") || !strcmp(a, "--alloc") ||
			   !strcmp(a, "--fork"))) {
			fprintf(stderr, "berth-probe: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--cat")) {
			do_cat(v), i++, actions++;
		} else if (!strcmp(a, "--write")) {
			do_write(v), i++, actions++;
		} else if (!strcmp(a, "--sysctl")) {
			do_sysctl(v), i++, actions++;
		} else if (!strcmp(a, "--alloc")) {
			do_alloc(atol(v)), i++, actions++;
		} else if (!strcmp(a, "--fork")) {
			do_fork(atol(v)), i++, actions++;
		} else if (!strcmp(a, "--exit")) {
			exit_code = atoi(v), i++;
		} else if (!strcmp(a, "--sleep")) {
			sleep((unsigned)atoi(v)), i++;
		} else if (!strncmp(a, "--", 2)) {
			fprintf(stderr, "berth-probe: unknown option %s\n", a);
			return 2;
		} /* other arguments are only reported (in "args") */
		fflush(stdout);
	}
	if (!actions)
		report(argc, argv);
	fflush(stdout);
	return exit_code;
}
