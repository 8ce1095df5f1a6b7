/* shell.c - one long-lived bash per run, restarted from snapshots. */
#define _GNU_SOURCE
#include "sys/shell.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "base/wrapper.h"

/* File descriptors the shell sees: 62 for status lines to us, 61 for the
 * terminal, 60 and 59 for copies of its own stdout and stderr (the pipes to
 * us), from which each block's stdout and stderr are set up afresh, so that
 * a block that closes or redirects them with `exec` changes them for itself
 * only.  They are closed for the block's own commands. */
#define FD_STATUS 62
#define FD_TTY 61
#define FD_OUT 60
#define FD_ERR 59
#define STR_(x) #x
#define STR(x) STR_(x)

#define DEFAULT_GRACE_MS 3000

struct shell {
	struct shell_opts opts;
	char *dir;
	char *state_exit; /* written by the dying shell's EXIT trap */
	char *state_pre;  /* written before a block that may kill the shell */
	char *state_last; /* the last snapshot restored, kept for a SIGKILL */
	char *block_file; /* the current name of the file blocks are written to */
	int block_fd;     /* open on it, or -1 */
	size_t block_size;
	char *ctl_file;   /* the control commands around each block */
	int ctl_file_fd;  /* open on it, or -1 */
	size_t ctl_size;
	struct proc proc;
	int ctl_fd;       /* our end of the shell's stdin */
	int status_fd;    /* our end of fd 62 */
	unsigned long seq;
	bool alive;
};

/* The shell's own set-up, sent once after each start.  __rb_trap returns
 * from the sourced block with the failing status; in a subshell (BASHPID
 * differs) it exits the subshell instead, like inherit_errexit.  A block is
 * sourced from the control file, itself sourced at the top level, so
 * BASH_SOURCE holds at least the block and the control file while the
 * block runs, and only the control file once the block has returned.
 * __rb_save writes a snapshot of the state, secrets included, mode 0600
 * whatever the operator's umask (in a subshell, so the blocks' umask is not
 * touched). */
static const char init_script[] =
	"set +o history 2>/dev/null; set +e; set -o pipefail; shopt -s expand_aliases\n"
	"exec " STR(FD_OUT) ">&1 " STR(FD_ERR) ">&2\n"
	"__rb_pid=$BASHPID\n"
	"__rb_trap='__rb_rc=$?; if [[ $BASHPID != \"$__rb_pid\" ]]; then exit $__rb_rc; fi; "
	"if [[ ${#BASH_SOURCE[@]} -gt 1 ]]; then return $__rb_rc; fi'\n"
	"__rb_save() { ( umask 077; { declare -p; declare -f; alias -p; shopt -p; set +o; "
	"printf 'cd -- %q\\n' \"$PWD\"; } > \"$1.tmp\" ) 2>/dev/null && command mv -f -- \"$1.tmp\" \"$1\"; }\n"
	"trap '__rb_save \"$__RB_DIR/state.exit\"' EXIT\n";

bool shell_valid_name(const char *name)
{
	if (!name || !(isalpha((unsigned char)*name) || *name == '_'))
		return false;
	for (const char *s = name + 1; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}


static int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	int r = write_in_full(fd, data, len);
	if (close(fd) < 0)
		r = -1;
	return r;
}

/* rewrite replaces the contents of the open file fd (*size bytes long)
 * with data: cheaper than creating or truncating a file, which costs an
 * inode or its blocks on every block.  The file is only cut when the new
 * contents are shorter: on ext4 every ftruncate is a journalled metadata
 * change (perf: as much as the rename). */
static int rewrite(int fd, const char *data, size_t len, size_t *size)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, data + done, len - done, (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	if (len < *size && ftruncate(fd, (off_t)len) < 0)
		return -1;
	*size = len;
	return 0;
}

/* rewrite_at rewrites *fd, opened on path when it is not open yet. */
static int rewrite_at(int *fd, size_t *size, const char *path, const char *data, size_t len)
{
	if (*fd >= 0 && rewrite(*fd, data, len, size) == 0)
		return 0;
	if (*fd >= 0)
		close(*fd);
	*fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0)
		return -1;
	*size = 0;
	return rewrite(*fd, data, len, size);
}

/* write_block writes a block's text to path.  Every block goes into the
 * same file, renamed to the block's name: creating a new file per block
 * costs an inode allocation (on ext4 with many recent deletions, about as
 * much as all the rest of a trivial step), a rename only directory
 * entries. */
static int write_block(struct shell *sh, const char *path, const char *text, size_t len)
{
	if (sh->block_fd >= 0 && strcmp(sh->block_file, path)) {
		if (rename(sh->block_file, path) < 0) {
			close(sh->block_fd);
			sh->block_fd = -1;
		}
	}
	if (!sh->block_file || strcmp(sh->block_file, path)) {
		free(sh->block_file);
		sh->block_file = xstrdup(path);
	}
	return rewrite_at(&sh->block_fd, &sh->block_size, path, text, len);
}

/* shell_quote appends s single-quoted for bash. */
static void shell_quote(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			strbuf_addstr(sb, "'\\''");
		else
			strbuf_addch(sb, *s);
	}
	strbuf_addch(sb, '\'');
}

static void stop_proc(struct shell *sh)
{
	if (sh->ctl_fd >= 0)
		close(sh->ctl_fd);
	if (sh->status_fd >= 0)
		close(sh->status_fd);
	sh->ctl_fd = sh->status_fd = -1;
	if (sh->proc.out_fd >= 0)
		close(sh->proc.out_fd);
	if (sh->proc.err_fd >= 0)
		close(sh->proc.err_fd);
	sh->proc.out_fd = sh->proc.err_fd = -1;
	if (sh->proc.pid > 0) {
		proc_kill_group(&sh->proc, SIGTERM);
		int64_t until = proc_now_ms() + 1000;
		while (proc_try_wait(&sh->proc) < 0 && proc_now_ms() < until)
			usleep(2000);
		if (sh->proc.pid > 0) {
			proc_kill_group(&sh->proc, SIGKILL);
			proc_wait(&sh->proc);
		}
	}
	proc_guard_set(0);
	sh->alive = false;
}

/* wait_status waits for one status line from the shell (no block running);
 * the line goes to `line` when it is non-NULL. */
static int wait_status_line(struct shell *sh, char want, struct strbuf *line, struct strbuf *err)
{
	struct proc_io io;
	int ret = -1;

	proc_io_init(&io);
	io.status_fd = sh->status_fd;
	io.deadline_ms = proc_now_ms() + 10000;
	for (;;) {
		enum io_event ev = proc_io_wait(&io);
		if (ev == IO_STATUS) {
			if (io.status_line.len && io.status_line.buf[0] == want) {
				if (line)
					strbuf_addbuf(line, &io.status_line);
				ret = 0;
				break;
			}
			continue;
		}
		if (ev == IO_SIGNAL) {
			proc_take_signal();
			if (proc_try_wait(&sh->proc) >= 0) {
				strbuf_addstr(err, "shell: bash exited during set-up");
				break;
			}
			continue;
		}
		strbuf_addf(err, "shell: bash did not answer (%s)",
			    ev == IO_TIMEOUT ? "timed out" : "its status pipe closed");
		break;
	}
	if (io.status_fd < 0)
		sh->status_fd = -1;
	proc_io_release(&io);
	return ret;
}

static int wait_status(struct shell *sh, char want, struct strbuf *err)
{
	return wait_status_line(sh, want, NULL, err);
}

static int spawn(struct shell *sh, const char *restore, struct strbuf *err)
{
	static const char *const argv[] = { "bash", "--noprofile", "--norc", NULL };
	const char *default_unset[] = { "BASH_ENV", "ENV", "PROMPT_COMMAND", NULL };
	int ctl[2] = { -1, -1 }, st[2] = { -1, -1 };
	struct strbuf setup = STRBUF_INIT;
	char *dir_env = NULL;
	const char **env = NULL;
	const char **unset = NULL;
	size_t n = 0, k = 0;
	int ret = -1;

	if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0) {
		strbuf_addf(err, "shell: pipe: %s", strerror(errno));
		goto out;
	}
	dir_env = xasprintf("__RB_DIR=%s", sh->dir);
	if (sh->opts.env)
		while (sh->opts.env[n])
			n++;
	env = xcalloc(n + 2, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		env[i] = sh->opts.env[i];
	env[n] = dir_env;
	n = 0;
	if (sh->opts.unset)
		while (sh->opts.unset[n])
			n++;
	unset = xcalloc(n + 4, sizeof(*unset));
	for (size_t i = 0; i < n; i++)
		unset[k++] = sh->opts.unset[i];
	for (size_t i = 0; default_unset[i]; i++)
		unset[k++] = default_unset[i];

	struct proc p = PROC_INIT;
	p.argv = argv;
	p.env = env;
	p.unset = unset;
	p.in_fd = ctl[0];
	p.capture = true;
	p.own_pgroup = true;
	p.die_with_parent = true;
	p.map_from[p.nmap] = st[1];
	p.map_to[p.nmap++] = FD_STATUS;
	if (sh->opts.tty_fd >= 0) {
		p.map_from[p.nmap] = sh->opts.tty_fd;
		p.map_to[p.nmap++] = FD_TTY;
	}
	if (proc_start(&p, err) < 0)
		goto out;
	sh->proc = p;
	sh->ctl_fd = ctl[1];
	sh->status_fd = st[0];
	ctl[1] = st[0] = -1;
	fcntl(sh->status_fd, F_SETFL, fcntl(sh->status_fd, F_GETFL) | O_NONBLOCK);
	sh->alive = true;
	proc_guard_set(sh->proc.pid);

	strbuf_addstr(&setup, init_script);
	if (sh->opts.prelude) {
		strbuf_addstr(&setup, sh->opts.prelude);
		strbuf_addch(&setup, '\n');
	}
	/* the control file's name, short to send: bash reads its stdin one
	 * byte per read() */
	strbuf_addstr(&setup, "__rb_c=");
	shell_quote(&setup, sh->ctl_file);
	strbuf_addch(&setup, '\n');
	if (restore) {
		/* readonly and special variables cannot be set again: quiet */
		strbuf_addstr(&setup, "source -- ");
		shell_quote(&setup, restore);
		strbuf_addstr(&setup, " >/dev/null 2>&1; set +e; set -o pipefail; __rb_pid=$BASHPID\n");
		strbuf_addstr(&setup, "trap '__rb_save \"$__RB_DIR/state.exit\"' EXIT\n");
	}
	strbuf_addf(&setup, "printf 'R\\n' >&%d\n", FD_STATUS);
	if (write_in_full(sh->ctl_fd, setup.buf, setup.len) < 0) {
		strbuf_addf(err, "shell: cannot talk to bash: %s", strerror(errno));
		goto out;
	}
	ret = wait_status(sh, 'R', err);
out:
	for (int i = 0; i < 2; i++) {
		if (ctl[i] >= 0)
			close(ctl[i]);
		if (st[i] >= 0)
			close(st[i]);
	}
	if (ret < 0 && sh->alive)
		stop_proc(sh);
	strbuf_release(&setup);
	free(dir_env);
	free(env);
	free(unset);
	return ret;
}

struct shell *shell_start(const struct shell_opts *opts, struct strbuf *err)
{
	struct shell *sh = xcalloc(1, sizeof(*sh));

	sh->opts = *opts;
	sh->dir = xstrdup(opts->work_dir);
	sh->state_exit = xasprintf("%s/state.exit", sh->dir);
	sh->state_pre = xasprintf("%s/state.pre", sh->dir);
	sh->state_last = xasprintf("%s/state.last", sh->dir);
	sh->ctl_fd = sh->status_fd = -1;
	sh->block_fd = sh->ctl_file_fd = -1;
	sh->ctl_file = xasprintf("%s/control", sh->dir);
	sh->proc.pid = -1;
	sh->proc.out_fd = sh->proc.err_fd = -1;
	if (!sh->opts.kill_grace_ms)
		sh->opts.kill_grace_ms = DEFAULT_GRACE_MS;
	unlink(sh->state_exit);
	unlink(sh->state_pre);
	unlink(sh->state_last);
	if (spawn(sh, NULL, err) < 0) {
		shell_free(sh);
		return NULL;
	}
	return sh;
}

pid_t shell_pgid(const struct shell *sh)
{
	return sh->alive ? sh->proc.pid : 0;
}

/* may_kill_shell looks for the words that end a shell. */
static bool may_kill_shell(const char *text)
{
	static const char *const words[] = { "exit", "exec", "kill", "logout", "suspend", NULL };
	for (size_t i = 0; words[i]; i++) {
		size_t n = strlen(words[i]);
		for (const char *s = strstr(text, words[i]); s; s = strstr(s + 1, words[i])) {
			bool left = s == text || !(isalnum((unsigned char)s[-1]) || s[-1] == '_' || s[-1] == '-');
			bool right = !(isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-');
			if (left && right)
				return true;
		}
	}
	return false;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* restart brings a new shell up after the old one died during a block. */
static int restart(struct shell *sh, bool pre_taken, struct shell_result *r, struct strbuf *err)
{
	const char *from = NULL;

	stop_proc(sh);
	if (pre_taken && exists(sh->state_pre))
		from = sh->state_pre;
	else if (exists(sh->state_exit))
		from = sh->state_exit;
	else {
		r->state_lost = true;
		if (exists(sh->state_last))
			from = sh->state_last;
	}
	if (from && strcmp(from, sh->state_last))
		rename(from, sh->state_last);
	unlink(sh->state_pre);
	unlink(sh->state_exit);
	return spawn(sh, exists(sh->state_last) ? sh->state_last : NULL, err);
}

static void set_foreground(int tty, pid_t pgid)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTTOU);
	sigprocmask(SIG_BLOCK, &block, &old);
	tcsetpgrp(tty, pgid);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int shell_run(struct shell *sh, const struct shell_block *b, struct shell_result *r,
	      struct strbuf *err)
{
	struct strbuf line = STRBUF_INIT, path = STRBUF_INIT;
	struct proc_io io;
	bool pre_taken = false, interactive = b->interactive && sh->opts.tty_fd >= 0;
	int64_t t0, kill_at = 0;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	capture_init(&r->out, sh->opts.capture_cap, sh->opts.spill ? sh->dir : NULL);
	capture_init(&r->err, sh->opts.capture_cap, sh->opts.spill ? sh->dir : NULL);
	r->exit_code = -1;

	if (!sh->alive && restart(sh, false, r, err) < 0)
		return -1;

	/* the block's file is named after its place in the runbook so that
	 * bash's own messages point there */
	strbuf_addf(&path, "%s/", sh->dir);
	for (const char *s = b->name ? b->name : "block"; *s; s++)
		strbuf_addch(&path, *s == '/' ? '_' : *s);
	if (write_block(sh, path.buf, b->text, strlen(b->text)) < 0) {
		strbuf_addf(err, "shell: cannot write %s: %s", path.buf, strerror(errno));
		goto out;
	}

	sh->seq++;
	if (may_kill_shell(b->text)) {
		pre_taken = true;
		strbuf_addstr(&line, "__rb_save \"$__RB_DIR/state.pre\"; ");
	}
	strbuf_addstr(&line, "set +e; ");
	if (!b->allow_fail)
		strbuf_addstr(&line, "trap \"$__rb_trap\" ERR; set -E; ");
	strbuf_addstr(&line, "source -- ");
	shell_quote(&line, path.buf);
	if (interactive)
		strbuf_addf(&line, " <&%d %d>&-", FD_TTY, FD_STATUS);
	else
		strbuf_addf(&line, " </dev/null %d>&- %d>&-", FD_STATUS, FD_TTY);
	strbuf_addf(&line, " >&%d 2>&%d %d>&- %d>&-; ", FD_OUT, FD_ERR, FD_OUT, FD_ERR);
	strbuf_addf(&line, "__rb_rc=$?; trap - ERR; set +E; printf 'D %lu %%s\\n' \"$__rb_rc\" >&%d\n",
		    sh->seq, FD_STATUS);
	/* bash reads its stdin (a pipe) one byte per read(), so the commands
	 * around the block go in a file it reads whole, and only a line that
	 * sources it goes down the pipe */
	/* never shorter than before, padded with a comment line: the file is
	 * then rewritten in place without ever being cut */
	if (line.len < sh->ctl_size) {
		size_t pad = sh->ctl_size - line.len;
		if (pad == 1) {
			strbuf_addch(&line, '\n');
		} else {
			strbuf_addch(&line, '#');
			strbuf_addchars(&line, ' ', pad - 2);
			strbuf_addch(&line, '\n');
		}
	}
	if (rewrite_at(&sh->ctl_file_fd, &sh->ctl_size, sh->ctl_file, line.buf, line.len) < 0) {
		strbuf_addf(err, "shell: cannot write %s: %s", sh->ctl_file, strerror(errno));
		goto out;
	}
	strbuf_reset(&line);
	strbuf_addstr(&line, ". \"$__rb_c\"\n");

	proc_io_init(&io);
	io.out_fd = sh->proc.out_fd;
	io.err_fd = sh->proc.err_fd;
	io.status_fd = sh->status_fd;
	io.out = &r->out;
	io.err = &r->err;
	io.echo = b->echo;
	io.tick = b->tick;
	io.data = b->data;

	/* output left over from background jobs of earlier blocks is shown,
	 * not attributed to this block */
	io.out = io.err = NULL;
	proc_io_drain(&io);
	io.out = &r->out;
	io.err = &r->err;

	proc_sigint_reset();
	r->start_wall_ms = proc_wall_ms();
	t0 = proc_now_ms();
	if (b->timeout_ms)
		io.deadline_ms = t0 + b->timeout_ms;
	if (interactive)
		set_foreground(sh->opts.tty_fd, sh->proc.pid);
	if (write_in_full(sh->ctl_fd, line.buf, line.len) < 0) {
		/* the shell is gone: note it and restart below */
		r->shell_died = true;
	}

	bool done = r->shell_died;
	bool terminated = false;
	while (!done) {
		enum io_event ev = proc_io_wait(&io);
		switch (ev) {
		case IO_STATUS: {
			unsigned long seq;
			int code;
			if (sscanf(io.status_line.buf, "D %lu %d", &seq, &code) == 2 && seq == sh->seq) {
				r->exit_code = code;
				done = true;
			}
			break;
		}
		case IO_TIMEOUT:
			if (!terminated) {
				r->timed_out = true;
				terminated = true;
				proc_kill_group(&sh->proc, SIGTERM);
				proc_kill_group(&sh->proc, SIGCONT);
				kill_at = proc_now_ms() + sh->opts.kill_grace_ms;
				io.deadline_ms = kill_at;
			} else {
				proc_kill_group(&sh->proc, SIGKILL);
				io.deadline_ms = 0;
			}
			break;
		case IO_SIGNAL: {
			int sig;
			while ((sig = proc_take_signal())) {
				if (sig == SIGINT) {
					r->interrupted = true;
					if (proc_sigint_count() >= 2)
						proc_kill_group(&sh->proc, SIGKILL);
					else if (!interactive)
						proc_kill_group(&sh->proc, SIGINT);
				} else if (sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT) {
					r->interrupted = true;
					proc_kill_group(&sh->proc, SIGTERM);
					if (!terminated) {
						terminated = true;
						io.deadline_ms = proc_now_ms() + sh->opts.kill_grace_ms;
					}
				} else if (sig == SIGCHLD) {
					int code = proc_try_wait(&sh->proc);
					if (code >= 0) {
						r->shell_died = true;
						if (r->exit_code < 0)
							r->exit_code = code;
						done = true;
					}
				}
			}
			break;
		}
		case IO_EOF:
		case IO_ERROR:
			/* the status pipe closed: the shell is gone */
			r->shell_died = true;
			done = true;
			break;
		}
	}
	/* everything the block printed before it ended is in the pipes now */
	proc_io_drain(&io);
	if (interactive)
		set_foreground(sh->opts.tty_fd, getpgrp());
	r->duration_ms = proc_now_ms() - t0;
	if (io.status_fd < 0)
		sh->status_fd = -1;
	if (io.out_fd < 0)
		sh->proc.out_fd = -1;
	if (io.err_fd < 0)
		sh->proc.err_fd = -1;
	proc_io_release(&io);

	if (r->shell_died || (sh->proc.pid > 0 && proc_try_wait(&sh->proc) >= 0)) {
		r->shell_died = true;
		if (sh->proc.pid > 0) {
			/* make sure nothing of the old group survives */
			proc_kill_group(&sh->proc, SIGKILL);
			int code = proc_wait(&sh->proc);
			if (r->exit_code < 0)
				r->exit_code = code;
		}
		r->shell_status = r->exit_code;
		if (r->exit_code == 0)
			r->exit_code = 1; /* `exit 0` still ends the session: a failure */
		if (restart(sh, pre_taken, r, err) < 0)
			goto out_finish;
	} else if (pre_taken) {
		unlink(sh->state_pre);
	}
	if (r->timed_out && r->exit_code < 0)
		r->exit_code = 124;
	ret = 0;
out_finish:
	capture_finish(&r->out);
	capture_finish(&r->err);
out:
	strbuf_release(&line);
	strbuf_release(&path);
	return ret;
}

void shell_result_release(struct shell_result *r)
{
	capture_release(&r->out);
	capture_release(&r->err);
}

int shell_set_var(struct shell *sh, const char *name, const char *value, struct strbuf *err)
{
	struct strbuf line = STRBUF_INIT, path = STRBUF_INIT;
	int ret = -1;

	if (!shell_valid_name(name)) {
		strbuf_addf(err, "invalid variable name '%s'", name);
		return -1;
	}
	if (!sh->alive) {
		struct shell_result r;
		memset(&r, 0, sizeof(r));
		if (restart(sh, false, &r, err) < 0)
			return -1;
	}
	strbuf_addf(&path, "%s/var.value", sh->dir);
	if (write_file(path.buf, value, strlen(value)) < 0) {
		strbuf_addf(err, "shell: cannot write %s: %s", path.buf, strerror(errno));
		goto out;
	}
	strbuf_addf(&line, "IFS= read -r -d '' %s < ", name);
	shell_quote(&line, path.buf);
	strbuf_addf(&line, "; export %s; printf 'V\\n' >&%d\n", name, FD_STATUS);
	if (write_in_full(sh->ctl_fd, line.buf, line.len) < 0) {
		strbuf_addf(err, "shell: cannot talk to bash: %s", strerror(errno));
		goto out;
	}
	ret = wait_status(sh, 'V', err);
	unlink(path.buf);
out:
	strbuf_release(&line);
	strbuf_release(&path);
	return ret;
}

int shell_get_var(struct shell *sh, const char *name, struct strbuf *value, bool *set,
		  struct strbuf *err)
{
	struct strbuf line = STRBUF_INIT, path = STRBUF_INIT, status = STRBUF_INIT;
	int ret = -1;

	*set = false;
	if (!shell_valid_name(name)) {
		strbuf_addf(err, "invalid variable name '%s'", name);
		return -1;
	}
	if (!sh->alive) {
		strbuf_addstr(err, "shell: not running");
		return -1;
	}
	strbuf_addf(&path, "%s/var.out", sh->dir);
	strbuf_addf(&line, "if [[ -v %s ]]; then printf '%%s' \"$%s\" > ", name, name);
	shell_quote(&line, path.buf);
	strbuf_addf(&line, "; printf 'V1\\n' >&%d; else printf 'V0\\n' >&%d; fi\n", FD_STATUS,
		    FD_STATUS);
	if (write_in_full(sh->ctl_fd, line.buf, line.len) < 0) {
		strbuf_addf(err, "shell: cannot talk to bash: %s", strerror(errno));
		goto out;
	}
	if (wait_status_line(sh, 'V', &status, err) < 0)
		goto out;
	if (status.len >= 2 && status.buf[1] == '1') {
		int fd = open(path.buf, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || strbuf_read_fd(value, fd) < 0) {
			strbuf_addf(err, "shell: cannot read %s: %s", path.buf, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
		unlink(path.buf);
		*set = true;
	}
	ret = 0;
out:
	strbuf_release(&line);
	strbuf_release(&path);
	strbuf_release(&status);
	return ret;
}

void shell_free(struct shell *sh)
{
	if (!sh)
		return;
	stop_proc(sh);
	free(sh->dir);
	free(sh->state_exit);
	free(sh->state_pre);
	free(sh->state_last);
	free(sh->block_file);
	if (sh->block_fd >= 0)
		close(sh->block_fd);
	free(sh->ctl_file);
	if (sh->ctl_file_fd >= 0)
		close(sh->ctl_file_fd);
	free(sh);
}
