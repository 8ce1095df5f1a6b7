/* proc.h - child processes: pipes, one poll loop, timeouts, process groups,
 * capped capture.
 *
 * Start a child with a `struct proc` (PROC_INIT, fill argv and options,
 * proc_start()), read its output through a `struct proc_io` loop
 * (proc_io_wait()), and reap it with proc_wait().  proc_run() does all three
 * for a one-shot command.
 *
 * Every pipe is created O_CLOEXEC; between fork and exec the child only makes
 * async-signal-safe calls, and a failed exec is reported to the parent over a
 * CLOEXEC pipe, so proc_start() fails with "cannot run X: No such file or
 * directory" rather than a child exiting 127.  Each child gets its own process
 * group when own_pgroup is set (the default), so that a timeout or Ctrl-C can
 * signal the whole tree, grandchildren included.
 *
 * Output is captured in a `struct capture`: at most `cap` bytes in memory, the
 * whole stream counted and hashed (SHA-256), and written to a spill file
 * (mode 0600) once it outgrows the cap, up to spill_max bytes.  Memory use is
 * therefore bounded by the caps whatever a command prints.
 *
 * Signals: proc_signals_install() routes SIGINT, SIGTERM, SIGHUP and SIGCHLD
 * to a self-pipe that proc_io_wait() watches; proc_take_signal() tells which
 * arrived.  proc_guard_start() forks a watchdog that kills the registered
 * process group if this program dies, even by SIGKILL.
 */
#ifndef RUNBOOK_PROC_H
#define RUNBOOK_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sign/sign.h"
#include "base/strbuf.h"

#define CAPTURE_CAP_DEFAULT ((size_t)8 << 20)        /* 8 MiB per stream in memory */
#define CAPTURE_SPILL_MAX_DEFAULT ((uint64_t)1 << 30) /* 1 GiB per stream on disk */

struct capture {
	struct strbuf text;  /* the first `cap` bytes of the stream */
	size_t cap;          /* memory cap */
	uint64_t total;      /* bytes seen in all */
	bool truncated;      /* total > cap: text holds only the beginning */
	struct sha256 hash;  /* over every byte */
	char sha256[SHA256_HEX_LEN + 1]; /* set by capture_finish() */
	const char *spill_dir; /* where a spill file goes; NULL: never spill */
	char *spill_path;    /* the spill file, once created (owned) */
	int spill_fd;
	uint64_t spill_max;
	bool spill_truncated; /* the spill file stopped at spill_max */
};

void capture_init(struct capture *c, size_t cap, const char *spill_dir);
void capture_add(struct capture *c, const char *data, size_t len);
/* capture_finish computes the hash and closes the spill file. */
void capture_finish(struct capture *c);
/* capture_release frees memory and removes the spill file. */
void capture_release(struct capture *c);

struct proc {
	const char *const *argv;  /* argv[0] is looked up in PATH */
	const char *const *env;   /* "NAME=VALUE" added to (or replacing in) our environment; NULL-terminated, or NULL */
	const char *const *unset; /* names removed from the environment, or NULL */
	const char *dir;          /* working directory, or NULL */
	int in_fd;                /* stdin: -1 for /dev/null, else this fd (not closed) */
	bool capture;             /* stdout/stderr to pipes (out_fd, err_fd); else ours */
	bool own_pgroup;          /* setpgid(0, 0) in the child */
	bool die_with_parent;     /* PR_SET_PDEATHSIG(SIGKILL) */
	bool switch_user;         /* setgid/setuid to gid/uid before exec */
	uid_t uid;
	gid_t gid;
	int map_from[4], map_to[4]; /* extra fds: dup2(map_from[i], map_to[i]) in the child */
	int nmap;

	pid_t pid;   /* set by proc_start */
	int out_fd;  /* read ends when capture is set, else -1; the caller closes them */
	int err_fd;
};

#define PROC_INIT { .in_fd = -1, .own_pgroup = true, .out_fd = -1, .err_fd = -1 }

/* proc_start forks and execs.  Returns 0, or -1 with a message in err
 * ("cannot run 'pg_ctl': No such file or directory"). */
int proc_start(struct proc *p, struct strbuf *err);

/* proc_wait reaps the child (blocking) and returns its exit code: the
 * status, or 128 + signal number when it was killed. */
int proc_wait(struct proc *p);
/* proc_try_wait is proc_wait without blocking: -1 while it still runs. */
int proc_try_wait(struct proc *p);
/* proc_kill_group signals the child's process group (or the child alone
 * when it has none). */
void proc_kill_group(const struct proc *p, int sig);

/* ---- the poll loop ---- */

enum io_event {
	IO_STATUS,  /* a complete line arrived on status_fd; it is in status_line */
	IO_EOF,     /* stdout and stderr are both closed */
	IO_TIMEOUT, /* the deadline passed */
	IO_SIGNAL,  /* a signal arrived: see proc_take_signal() */
	IO_ERROR,   /* poll or read failed; errno is set */
};

enum io_stream { IO_STDOUT = 1, IO_STDERR = 2 };

struct proc_io {
	int out_fd, err_fd;     /* -1 when closed */
	struct capture *out, *err;
	/* echo is called with each chunk read, in order of arrival */
	void (*echo)(void *data, enum io_stream which, const char *buf, size_t len);
	int status_fd;          /* -1 when unused */
	struct strbuf status_pending;
	struct strbuf status_line;
	int64_t deadline_ms;    /* proc_now_ms() value; 0 for none */
	void (*tick)(void *data); /* called every tick_ms while waiting, or NULL */
	int tick_ms;
	void *data;
};

void proc_io_init(struct proc_io *io);
void proc_io_release(struct proc_io *io);
enum io_event proc_io_wait(struct proc_io *io);
/* proc_io_drain reads whatever is already buffered in the pipes, without
 * waiting, up to EOF or EAGAIN. */
void proc_io_drain(struct proc_io *io);

/* proc_run runs a command to completion with its output captured (when
 * out/err are non-NULL) and returns its exit code, 128+signal, or -1 when
 * it could not be started (message in err).  timeout_ms 0 means none; on
 * timeout the group gets SIGTERM, then SIGKILL after 2 s, and *timed_out is
 * set. */
int proc_run(struct proc *p, struct capture *out, struct capture *err, int64_t timeout_ms,
	     bool *timed_out, struct strbuf *errmsg);

/* ---- time and signals ---- */

int64_t proc_now_ms(void);      /* monotonic clock */
int64_t proc_wall_ms(void);     /* realtime clock, for records */

/* proc_signals_install routes SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGCHLD to
 * the self-pipe and ignores SIGPIPE.  Returns the self-pipe's read end. */
int proc_signals_install(void);
/* proc_take_signal returns a pending signal number (SIGCHLD last), or 0. */
int proc_take_signal(void);
/* proc_sigint_count counts SIGINTs since the last reset. */
int proc_sigint_count(void);
void proc_sigint_reset(void);

/* proc_guard_start forks the watchdog; proc_guard_set tells it which process
 * group to kill if we die (0 for none).  Both are no-ops when it failed. */
void proc_guard_start(void);
void proc_guard_set(pid_t pgid);
/* proc_guard_remove tells the watchdog to remove dir (recursively) after
 * killing the process group, if we die first; NULL for none. */
void proc_guard_remove(const char *dir);

/* proc_find_program returns a malloc'd path for name searched in PATH (or
 * name itself when it contains a '/'), or NULL. */
char *proc_find_program(const char *name);

#endif
