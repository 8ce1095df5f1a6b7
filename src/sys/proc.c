/* proc.c - child processes, the poll loop, capped capture, signals. */
#define _GNU_SOURCE
#include "sys/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/wrapper.h"

extern char **environ;

/* ---------- capture ---------- */

void capture_init(struct capture *c, size_t cap, const char *spill_dir)
{
	memset(c, 0, sizeof(*c));
	strbuf_init(&c->text, 0);
	c->cap = cap ? cap : CAPTURE_CAP_DEFAULT;
	c->spill_dir = spill_dir;
	c->spill_fd = -1;
	c->spill_max = CAPTURE_SPILL_MAX_DEFAULT;
	sha256_init(&c->hash);
}


static void spill(struct capture *c, const char *data, size_t len)
{
	if (c->spill_truncated)
		return; /* cut short (its limit, or a failed write): nothing after a gap */
	if (c->spill_fd < 0) {
		if (!c->spill_dir || c->spill_path)
			return;
		c->spill_path = xasprintf("%s/spill-XXXXXX", c->spill_dir);
		c->spill_fd = mkostemp(c->spill_path, O_CLOEXEC);
		if (c->spill_fd < 0) {
			free(c->spill_path);
			c->spill_path = NULL;
			c->spill_dir = NULL;
			return;
		}
		fchmod(c->spill_fd, 0600);
		if (write_in_full(c->spill_fd, c->text.buf, c->text.len) < 0)
			c->spill_truncated = true; /* a full disk: the file is not the whole stream */
	}
	uint64_t room = c->spill_max > c->total - len ? c->spill_max - (c->total - len) : 0;
	if (len > room) {
		len = (size_t)room;
		c->spill_truncated = true;
	}
	if (write_in_full(c->spill_fd, data, len) < 0)
		c->spill_truncated = true;
}

void capture_add(struct capture *c, const char *data, size_t len)
{
	if (!len)
		return;
	sha256_update(&c->hash, data, len);
	c->total += len;
	size_t keep = c->text.len < c->cap ? c->cap - c->text.len : 0;
	if (keep > len)
		keep = len;
	if (keep)
		strbuf_add(&c->text, data, keep);
	if (keep < len) {
		c->truncated = true;
		if (c->spill_fd >= 0 || (c->spill_dir && !c->spill_path))
			spill(c, data + keep, len - keep);
	}
}

void capture_finish(struct capture *c)
{
	unsigned char md[SHA256_LEN];
	sha256_final(&c->hash, md);
	hex_encode(md, SHA256_LEN, c->sha256);
	if (c->spill_fd >= 0) {
		close(c->spill_fd);
		c->spill_fd = -1;
	}
}

void capture_release(struct capture *c)
{
	strbuf_release(&c->text);
	if (c->spill_fd >= 0)
		close(c->spill_fd);
	if (c->spill_path) {
		unlink(c->spill_path);
		free(c->spill_path);
	}
	c->spill_path = NULL;
	c->spill_fd = -1;
}

/* ---------- time ---------- */

int64_t proc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t proc_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------- signals ---------- */

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t sigint_count;
static volatile sig_atomic_t pending[NSIG];

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (sig == SIGINT)
		sigint_count++;
	pending[sig] = 1;
	if (sig_pipe[1] >= 0) {
		ssize_t r = write(sig_pipe[1], &b, 1);
		(void)r;
	}
	errno = saved;
}

int proc_signals_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD };
	struct sigaction sa;

	if (sig_pipe[0] >= 0)
		return sig_pipe[0];
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return sig_pipe[0];
}

int proc_take_signal(void)
{
	static const int order[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD };
	char buf[64];
	while (sig_pipe[0] >= 0 && read(sig_pipe[0], buf, sizeof(buf)) > 0)
		;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (pending[order[i]]) {
			pending[order[i]] = 0;
			return order[i];
		}
	return 0;
}

int proc_sigint_count(void)
{
	return sigint_count;
}

void proc_sigint_reset(void)
{
	sigint_count = 0;
}

/* ---------- watchdog ---------- */

static int guard_fd = -1;

/* messages to the watchdog: two int32 (kind, value), then for GUARD_DIR
 * `value` bytes of path */
enum { GUARD_PGID = 1, GUARD_DIR = 2 };

static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void proc_guard_start(void)
{
	int fds[2];
	if (guard_fd >= 0 || pipe2(fds, O_CLOEXEC) < 0)
		return;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		/* the watchdog: its own session, so that the terminal's Ctrl-C
		 * does not reach it; it waits for EOF on the pipe */
		pid_t pgid = 0;
		int32_t msg[2];
		char dir[PATH_MAX] = "";
		close(fds[1]);
		setsid();
		for (int fd = 3; fd < 64; fd++)
			if (fd != fds[0])
				close(fd);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		for (;;) {
			ssize_t n = read_full(fds[0], msg, sizeof(msg));
			if (n != (ssize_t)sizeof(msg))
				break;
			if (msg[0] == GUARD_PGID) {
				pgid = (pid_t)msg[1];
			} else if (msg[0] == GUARD_DIR && msg[1] >= 0 && msg[1] < PATH_MAX) {
				if (read_full(fds[0], dir, (size_t)msg[1]) != msg[1])
					break;
				dir[msg[1]] = '\0';
			}
		}
		if (pgid > 0) {
			kill(-pgid, SIGTERM);
			kill(-pgid, SIGCONT);
			sleep(2);
			kill(-pgid, SIGKILL);
		}
		/* the work directory holds block files and the shell's state
		 * snapshots, secrets included: not left behind by a killed run */
		if (*dir)
			nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		_exit(0);
	}
	close(fds[0]);
	guard_fd = fds[1];
}

void proc_guard_set(pid_t pgid)
{
	int32_t msg[2] = { GUARD_PGID, (int32_t)pgid };
	if (guard_fd >= 0) {
		ssize_t n = write(guard_fd, msg, sizeof(msg));
		(void)n;
	}
}

void proc_guard_remove(const char *dir)
{
	size_t len = dir ? strlen(dir) : 0;
	if (guard_fd < 0 || len >= PATH_MAX)
		return;
	/* one write, under PIPE_BUF, so that it arrives whole */
	char buf[2 * sizeof(int32_t) + PATH_MAX];
	int32_t msg[2] = { GUARD_DIR, (int32_t)len };
	memcpy(buf, msg, sizeof(msg));
	memcpy(buf + sizeof(msg), dir ? dir : "", len);
	ssize_t n = write(guard_fd, buf, sizeof(msg) + len);
	(void)n;
}

/* ---------- starting ---------- */

char *proc_find_program(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t len = colon ? (size_t)(colon - path) : strlen(path);
		char *cand = len ? xasprintf("%.*s/%s", (int)len, path, name) : xasprintf("./%s", name);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		path += len + (colon ? 1 : 0);
	}
	return NULL;
}

static bool env_name_matches(const char *entry, const char *name_eq)
{
	/* name_eq is "NAME=..." or "NAME"; entry is "NAME=VALUE" */
	size_t n = strcspn(name_eq, "=");
	return !strncmp(entry, name_eq, n) && entry[n] == '=';
}

static char **build_env(const struct proc *p)
{
	size_t n = 0, extra = 0;
	while (environ[n])
		n++;
	if (p->env)
		while (p->env[extra])
			extra++;
	char **envp = xcalloc(n + extra + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool drop = false;
		for (size_t j = 0; p->env && p->env[j] && !drop; j++)
			drop = env_name_matches(environ[i], p->env[j]);
		for (size_t j = 0; p->unset && p->unset[j] && !drop; j++)
			drop = env_name_matches(environ[i], p->unset[j]);
		if (!drop)
			envp[k++] = environ[i];
	}
	for (size_t j = 0; j < extra; j++)
		envp[k++] = (char *)p->env[j];
	envp[k] = NULL;
	return envp;
}

/* child_fail reports errno over the CLOEXEC pipe and exits; only
 * async-signal-safe calls here. */
static void child_fail(int fd, int stage)
{
	int msg[2] = { stage, errno };
	ssize_t r = write(fd, msg, sizeof(msg));
	(void)r;
	_exit(127);
}

int proc_start(struct proc *p, struct strbuf *err)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, exec_pipe[2] = { -1, -1 };
	int devnull = -1;
	char *path = NULL;
	char **envp = NULL;
	int ret = -1;

	p->pid = -1;
	p->out_fd = p->err_fd = -1;
	path = proc_find_program(p->argv[0]);
	if (!path) {
		strbuf_addf(err, "cannot run '%s': not found in PATH", p->argv[0]);
		return -1;
	}
	envp = build_env(p);
	if (p->capture && (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)) {
		strbuf_addf(err, "pipe: %s", strerror(errno));
		goto out;
	}
#ifdef F_SETPIPE_SZ
	/* room for 1 MiB in flight: a command printing fast blocks, and wakes
	 * us, 16 times less often (a failure only leaves the default) */
	if (p->capture) {
		fcntl(outp[0], F_SETPIPE_SZ, 1 << 20);
		fcntl(errp[0], F_SETPIPE_SZ, 1 << 20);
	}
#endif
	if (pipe2(exec_pipe, O_CLOEXEC) < 0) {
		strbuf_addf(err, "pipe: %s", strerror(errno));
		goto out;
	}
	if (p->in_fd < 0 && (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		strbuf_addf(err, "/dev/null: %s", strerror(errno));
		goto out;
	}

	p->pid = fork();
	if (p->pid < 0) {
		strbuf_addf(err, "fork: %s", strerror(errno));
		goto out;
	}
	if (p->pid == 0) {
		struct sigaction sa;
		sigset_t none;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				sigaction(s, &sa, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (p->own_pgroup && setpgid(0, 0) < 0)
			child_fail(exec_pipe[1], 1);
		if (p->die_with_parent)
			prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* extra fds first: a source may be 0, 1 or 2 */
		for (int i = 0; i < p->nmap; i++) {
			if (p->map_from[i] == p->map_to[i]) {
				int fl = fcntl(p->map_from[i], F_GETFD);
				if (fl >= 0)
					fcntl(p->map_from[i], F_SETFD, fl & ~FD_CLOEXEC);
			} else if (dup2(p->map_from[i], p->map_to[i]) < 0) {
				child_fail(exec_pipe[1], 2);
			}
		}
		if (dup2(p->in_fd >= 0 ? p->in_fd : devnull, 0) < 0)
			child_fail(exec_pipe[1], 2);
		if (p->capture) {
			if (dup2(outp[1], 1) < 0 || dup2(errp[1], 2) < 0)
				child_fail(exec_pipe[1], 2);
		}
		if (p->dir && chdir(p->dir) < 0)
			child_fail(exec_pipe[1], 3);
		if (p->switch_user) {
			if (setgroups(0, NULL) < 0 && errno != EPERM)
				child_fail(exec_pipe[1], 4);
			if (setgid(p->gid) < 0 || setuid(p->uid) < 0)
				child_fail(exec_pipe[1], 4);
		}
		execve(path, (char *const *)p->argv, envp);
		child_fail(exec_pipe[1], 5);
	}

	close(exec_pipe[1]);
	exec_pipe[1] = -1;
	{
		int msg[2];
		ssize_t n;
		do {
			n = read(exec_pipe[0], msg, sizeof(msg));
		} while (n < 0 && errno == EINTR);
		if (n == (ssize_t)sizeof(msg)) {
			static const char *const stage[] = { "", "setpgid", "dup2", "chdir", "setuid", "exec" };
			int st;
			while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
				;
			p->pid = -1;
			if (msg[0] == 3)
				strbuf_addf(err, "cannot run '%s': directory %s: %s", p->argv[0], p->dir,
					    strerror(msg[1]));
			else
				strbuf_addf(err, "cannot run '%s': %s: %s", p->argv[0],
					    stage[msg[0] >= 1 && msg[0] <= 5 ? msg[0] : 0], strerror(msg[1]));
			goto out;
		}
	}
	if (p->capture) {
		p->out_fd = outp[0];
		p->err_fd = errp[0];
		outp[0] = errp[0] = -1;
		fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
		fcntl(p->err_fd, F_SETFL, fcntl(p->err_fd, F_GETFL) | O_NONBLOCK);
	}
	ret = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (exec_pipe[i] >= 0)
			close(exec_pipe[i]);
	}
	if (devnull >= 0)
		close(devnull);
	free(envp);
	free(path);
	return ret;
}

static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

int proc_wait(struct proc *p)
{
	int st;
	if (p->pid <= 0)
		return -1;
	while (waitpid(p->pid, &st, 0) < 0) {
		if (errno != EINTR) {
			p->pid = -1;
			return -1;
		}
	}
	p->pid = -1;
	return decode_status(st);
}

int proc_try_wait(struct proc *p)
{
	int st;
	if (p->pid <= 0)
		return -1;
	pid_t r = waitpid(p->pid, &st, WNOHANG);
	if (r == p->pid) {
		p->pid = -1;
		return decode_status(st);
	}
	return -1;
}

void proc_kill_group(const struct proc *p, int sig)
{
	if (p->pid <= 0)
		return;
	if (p->own_pgroup)
		kill(-p->pid, sig);
	else
		kill(p->pid, sig);
}

/* ---------- the poll loop ---------- */

void proc_io_init(struct proc_io *io)
{
	memset(io, 0, sizeof(*io));
	io->out_fd = io->err_fd = io->status_fd = -1;
	strbuf_init(&io->status_pending, 0);
	strbuf_init(&io->status_line, 0);
	io->tick_ms = 100;
}

void proc_io_release(struct proc_io *io)
{
	strbuf_release(&io->status_pending);
	strbuf_release(&io->status_line);
}

/* read_stream reads one chunk; returns bytes read, 0 on EOF (fd closed and
 * set to -1), -1 when nothing is available. */
static ssize_t read_stream(struct proc_io *io, int *fd, struct capture *cap, enum io_stream which)
{
	char buf[65536];
	ssize_t n;

	do {
		n = read(*fd, buf, sizeof(buf));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : 0;
	if (n == 0) {
		close(*fd);
		*fd = -1;
		return 0;
	}
	if (cap)
		capture_add(cap, buf, (size_t)n);
	if (io->echo)
		io->echo(io->data, which, buf, (size_t)n);
	return n;
}

/* read_more reads a stream that poll() found ready: while reads come back
 * full, more is likely waiting, so up to 1 MiB is taken before polling
 * again (a command printing fast cost one poll() per 64 KiB). */
static void read_more(struct proc_io *io, int *fd, struct capture *cap, enum io_stream which)
{
	for (int i = 0; i < 16 && *fd >= 0; i++)
		if (read_stream(io, fd, cap, which) < 65536)
			break;
}

void proc_io_drain(struct proc_io *io)
{
	while (io->out_fd >= 0 && read_stream(io, &io->out_fd, io->out, IO_STDOUT) > 0)
		;
	while (io->err_fd >= 0 && read_stream(io, &io->err_fd, io->err, IO_STDERR) > 0)
		;
}

static bool take_status_line(struct proc_io *io)
{
	char *nl = memchr(io->status_pending.buf, '\n', io->status_pending.len);
	if (!nl)
		return false;
	size_t len = (size_t)(nl - io->status_pending.buf);
	strbuf_reset(&io->status_line);
	strbuf_add(&io->status_line, io->status_pending.buf, len);
	memmove(io->status_pending.buf, nl + 1, io->status_pending.len - len - 1);
	strbuf_setlen(&io->status_pending, io->status_pending.len - len - 1);
	return true;
}

enum io_event proc_io_wait(struct proc_io *io)
{
	int sigfd = sig_pipe[0];
	int64_t next_tick = io->tick ? proc_now_ms() + io->tick_ms : 0;

	if (io->status_fd >= 0 && take_status_line(io))
		return IO_STATUS;
	for (;;) {
		struct pollfd pfd[4];
		int n = 0, i_out = -1, i_err = -1, i_status = -1, i_sig = -1;
		int64_t now = proc_now_ms();
		int timeout = -1;

		if (io->out_fd < 0 && io->err_fd < 0 && io->status_fd < 0)
			return IO_EOF;
		if (io->out_fd >= 0) {
			i_out = n;
			pfd[n].fd = io->out_fd;
			pfd[n++].events = POLLIN;
		}
		if (io->err_fd >= 0) {
			i_err = n;
			pfd[n].fd = io->err_fd;
			pfd[n++].events = POLLIN;
		}
		if (io->status_fd >= 0) {
			i_status = n;
			pfd[n].fd = io->status_fd;
			pfd[n++].events = POLLIN;
		}
		if (sigfd >= 0) {
			i_sig = n;
			pfd[n].fd = sigfd;
			pfd[n++].events = POLLIN;
		}
		if (io->deadline_ms) {
			if (now >= io->deadline_ms)
				return IO_TIMEOUT;
			timeout = (int)(io->deadline_ms - now);
		}
		if (next_tick) {
			int t = next_tick > now ? (int)(next_tick - now) : 0;
			if (timeout < 0 || t < timeout)
				timeout = t;
		}
		int r = poll(pfd, (nfds_t)n, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return IO_ERROR;
		}
		if (next_tick && proc_now_ms() >= next_tick) {
			io->tick(io->data);
			next_tick = proc_now_ms() + io->tick_ms;
		}
		if (r == 0)
			continue;
		/* output first, so that it is captured before the status line
		 * that says the block is over */
		if (i_out >= 0 && (pfd[i_out].revents & (POLLIN | POLLHUP | POLLERR)))
			read_more(io, &io->out_fd, io->out, IO_STDOUT);
		if (i_err >= 0 && (pfd[i_err].revents & (POLLIN | POLLHUP | POLLERR)))
			read_more(io, &io->err_fd, io->err, IO_STDERR);
		if (i_status >= 0 && (pfd[i_status].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[512];
			ssize_t k = read(io->status_fd, buf, sizeof(buf));
			if (k > 0) {
				strbuf_add(&io->status_pending, buf, (size_t)k);
				if (take_status_line(io))
					return IO_STATUS;
			} else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(io->status_fd);
				io->status_fd = -1;
			}
		}
		if (i_sig >= 0 && (pfd[i_sig].revents & POLLIN))
			return IO_SIGNAL;
	}
}

/* wait_exit waits for p to exit, until deadline_ms (0: for ever); returns
 * its exit code, or -1 when the deadline came first.  It polls: the
 * signal self-pipe belongs to the caller's loop. */
static int wait_exit(struct proc *p, int64_t deadline_ms)
{
	for (;;) {
		int code = proc_try_wait(p);
		if (code >= 0 || p->pid <= 0)
			return code >= 0 ? code : 255;
		int64_t left = deadline_ms ? deadline_ms - proc_now_ms() : 10;
		if (left <= 0)
			return -1;
		poll(NULL, 0, left < 10 ? (int)left : 10);
	}
}

int proc_run(struct proc *p, struct capture *out, struct capture *err, int64_t timeout_ms,
	     bool *timed_out, struct strbuf *errmsg)
{
	struct proc_io io;
	bool killed = false;
	int64_t kill_at = 0;

	if (timed_out)
		*timed_out = false;
	p->capture = true;
	if (proc_start(p, errmsg) < 0)
		return -1;
	proc_io_init(&io);
	io.out_fd = p->out_fd;
	io.err_fd = p->err_fd;
	io.out = out;
	io.err = err;
	if (timeout_ms)
		io.deadline_ms = proc_now_ms() + timeout_ms;
	for (;;) {
		enum io_event ev = proc_io_wait(&io);
		if (ev == IO_EOF)
			break;
		if (ev == IO_TIMEOUT) {
			if (!killed) {
				killed = true;
				if (timed_out)
					*timed_out = true;
				proc_kill_group(p, SIGTERM);
				kill_at = proc_now_ms() + 2000;
				io.deadline_ms = kill_at;
			} else {
				proc_kill_group(p, SIGKILL);
				io.deadline_ms = 0;
			}
			continue;
		}
		if (ev == IO_SIGNAL) {
			int sig = proc_take_signal();
			if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
				proc_kill_group(p, sig == SIGINT ? SIGINT : SIGTERM);
				if (!killed) {
					killed = true;
					io.deadline_ms = proc_now_ms() + 2000;
				}
			}
			continue;
		}
		if (ev == IO_ERROR)
			break;
	}
	if (io.out_fd >= 0)
		close(io.out_fd);
	if (io.err_fd >= 0)
		close(io.err_fd);
	proc_io_release(&io);
	/* both streams are closed, but a child that closed them itself may
	 * still run: the timeout holds until it exits */
	int code;
	while ((code = wait_exit(p, io.deadline_ms)) < 0) {
		if (!killed) {
			killed = true;
			if (timed_out)
				*timed_out = true;
			proc_kill_group(p, SIGTERM);
			io.deadline_ms = proc_now_ms() + 2000;
		} else {
			proc_kill_group(p, SIGKILL);
			code = proc_wait(p);
			break;
		}
	}
	if (out)
		capture_finish(out);
	if (err)
		capture_finish(err);
	return code;
}
