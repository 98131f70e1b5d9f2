/* berth-shim: the per-container monitor (PROTOCOL.md). Shared types and entry points. */
#ifndef SHIM_H
#define SHIM_H

#include <stddef.h>
#include <poll.h>
#include <sys/types.h>

#define ID_MAX      64
#define MAX_EXECS   64
#define MAX_CLIENTS 64
#define CLIENT_IN   4096   /* longest request line */
#define LINE_CAP    8192   /* CRI line buffer of a logged stream: longer lines become P pieces */
#define STDIN_BUF   4096
#define TIME_LEN    40

/* ---- the one error object: berth-init's (native-helper/src/errors.[ch]), shared ---- */
#include "errors.h"

/* ---- util.c ---- */
void now_rfc3339(char out[TIME_LEN]);
/* Encodes one field (native-helper/PROTOCOL.md) at out+len; returns the new length, or cap
 * when it does not fit (the caller checks len < cap). */
size_t field_append(char *out, size_t cap, size_t len, const char *s);
/* Splits a NUL-terminated line in place into decoded fields; returns how many, or -1. */
int line_split(char *line, char **f, int max);
/* temp + fsync + rename + fsync(dir), under dirfd. */
int write_file_atomic(int dirfd, const char *name, const char *data, size_t len);
int parse_signal(const char *s);
int parse_uint(const char *s, unsigned long long max, unsigned long long *out);
int set_nonblock(int fd);
int unix_listen(const char *path);
int unix_connect(const char *path);

/* ---- processes (proc.c) ---- */
enum pstate { P_CREATED, P_RUNNING, P_EXITED };

struct stream {
	int fd;        /* pipe read end or pty master; -1 once at EOF */
	int fifo;      /* a raw copy goes here; -1 if none */
	int which;     /* 1 stdout, 2 stderr: the attach mask bit */
	char *line;    /* CRI line buffer (LINE_CAP) when logged, else NULL */
	size_t len;
	int ended;     /* at EOF, or never existed: attach clients watching only ended streams get EOF */
};

struct proc {
	char id[ID_MAX + 1];   /* "" for the container's process */
	pid_t pid;             /* 0 until found */
	pid_t stage0;          /* berth-init's stage0 while it runs */
	enum pstate state;
	int status;
	char exited_at[TIME_LEN];
	int terminal;
	int deleted;           /* freed at the top of the next loop turn */
	struct stream out[2];
	int stdin_src;         /* the --stdin FIFO */
	int stdin_fd;          /* the container's stdin: pipe write end, or a dup of the pty master */
	int stdin_eof;         /* close stdin_fd once `in` is written */
	char in[STDIN_BUF];
	size_t inoff, inlen;
	int console_listen, console_conn;
	char console_path[108];
	unsigned short rows, cols;
};

struct launch_opts {
	const char *sync_socket, *stdin_fifo, *stdout_fifo, *stderr_fifo;
	int terminal, open_stdin, log;
	int attachable;        /* an exec's stdout/stderr are pipes even without FIFOs, for attach-exec */
};

struct shim {
	const char *id, *ns, *dir, *init_path, *log_path;
	unsigned long long log_max;
	int dirfd;
	int log_fd;
	off_t log_size;
	int ctl_fd, sig_fd;
	mode_t umask;          /* the starter's, restored for berth-init */
	struct proc init;
	struct proc *execs[MAX_EXECS];
	struct proc *launching; /* whose stage0 runs now: one at a time (PROTOCOL.md) */
	int oom_fd;             /* oom.c's eventfd (v1) or inotify fd (v2); -1 until oom-watch */
	unsigned long long oom_count; /* OOM kills counted since oom-watch */
};
extern struct shim g;

void proc_init(struct proc *p, const char *id);
int proc_launch(struct proc *p, const struct launch_opts *o);
struct proc *exec_find(const char *id);
void reap_children(void);
void stream_pump(struct proc *p, struct stream *s, int drain);
void stdin_pull_fifo(struct proc *p);
void stdin_flush(struct proc *p);
void stdin_close(struct proc *p);
void console_accept(struct proc *p);
void console_receive(struct proc *p);
int proc_resize(struct proc *p, unsigned rows, unsigned cols);
void proc_release(struct proc *p);

/* ---- log.c ---- */
int log_set_format(const char *name); /* "raw" or "cri" (the default) */
int log_open(int truncate);
int log_reopen(void);
void log_data(struct stream *s, const char *buf, size_t n);
void log_flush_partial(struct stream *s);

/* ---- oom.c ---- */
/* Starts counting the OOM kills of the memory cgroup DIR (v1 or v2, whichever it has). */
int oom_watch(const char *dir);
/* Takes in what the kernel has reported, without blocking; 1 if the count moved. */
int oom_take(void);
/* oom_take, then answers the wait-oom clients the new count satisfies. */
void oom_check(void);

/* ---- control.c ---- */
struct client;
void control_accept(void);
/* Adds the clients to the poll set from index n; who[i] names the client of entry i. */
int control_watch(struct pollfd *pfd, struct client **who, int n, int max);
void control_event(struct client *c, int fd, short revents);
void control_broadcast(struct proc *p, int which, const char *buf, size_t n);
/* A stream of p ended: attach clients with nothing left to read get EOF. */
void control_stream_ended(struct proc *p);
/* p is about to be freed (delete-exec): its attach clients are closed. */
void control_proc_released(struct proc *p);
void control_proc_exited(struct proc *p);
void control_launch_done(void);
void control_oom_changed(void);
void control_collect(void);
void shim_cleanup_files(void);

#endif
