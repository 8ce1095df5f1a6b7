/* shell.h - shell blocks run as if typed into one terminal session.
 *
 * A `struct shell` is one long-lived `bash --noprofile --norc` per run.
 * Blocks are written to files in the shell's private directory and sourced
 * at the shell's top level, so variables (exported or not), `cd`, functions,
 * aliases and `set`/`shopt` options carry from block to block.  Spawning a
 * shell per block would cost about 1.8 ms; sourcing into the live one costs
 * a few tens of microseconds.
 *
 * A block stops at its first failing command, with `pipefail`: an ERR trap
 * returns from the sourced block with the failing status, which keeps the
 * state built before the failure (errexit would kill the shell).  A failure
 * inside `$(...)` or `( ... )` fails the block too, as with bash's
 * `inherit_errexit`.  `allow_fail` runs every command regardless.
 *
 * A block that kills its shell (`exit`, `exec`, `set -u` on an unset
 * variable, a timeout, Ctrl-C) ends as failed and the shell is restarted from
 * a state snapshot: the one taken just before the block when the block's text
 * mentions `exit`, `exec`, `kill`, `logout` or `suspend`, otherwise the one
 * the dying shell's EXIT trap wrote.  Only a SIGKILL leaves no snapshot; then
 * the state of the last snapshot is restored and shell_result.state_lost is
 * set.
 *
 * The shell and everything it starts run in their own process group; a
 * timeout sends SIGTERM to the group, then SIGKILL after the grace period.
 */
#ifndef RUNBOOK_SHELL_H
#define RUNBOOK_SHELL_H

#include <stdbool.h>
#include <stdint.h>

#include "sys/proc.h"
#include "base/strbuf.h"

struct shell;

struct shell_opts {
	const char *work_dir;      /* private directory (0700) for block files, state, spill files */
	const char *const *env;    /* extra "NAME=VALUE" for the shell, or NULL */
	const char *const *unset;  /* names removed from its environment, or NULL */
	int tty_fd;                /* the operator's terminal for interactive blocks, or -1 */
	int64_t kill_grace_ms;     /* SIGTERM -> SIGKILL grace; 0 for the default (3 s) */
	size_t capture_cap;        /* bytes of each stream kept in memory; 0 for the default */
	const char *prelude;       /* shell text run at every start, before any state is
				    * restored (functions the runbook's blocks get), or NULL */
	bool spill;                /* keep what outgrows capture_cap in spill files in
				    * work_dir (struct capture), as `runbook run` does;
				    * writing them costs about a third of the CPU of a
				    * block printing 1 GiB */
};

struct shell_block {
	const char *text;
	const char *name;          /* how bash names the block in its messages: "guide.md:59" */
	bool allow_fail;           /* run every command even when one fails */
	bool interactive;          /* stdin (and the foreground) is the terminal */
	int64_t timeout_ms;        /* 0 for none */
	/* echo gets output as it arrives; tick is called every 100 ms */
	void (*echo)(void *data, enum io_stream which, const char *buf, size_t len);
	void (*tick)(void *data);
	void *data;
};

struct shell_result {
	int exit_code;          /* the block's status; 128+N when killed by signal N */
	bool timed_out;
	bool interrupted;       /* Ctrl-C reached the block */
	bool shell_died;        /* the block ended its shell; it was restarted */
	int shell_status;       /* ... with this status (`exit 0` is 0; exit_code is then 1) */
	bool state_lost;        /* ... and no snapshot of the moment before could be restored */
	int64_t start_wall_ms;  /* realtime, ms since the epoch */
	int64_t duration_ms;
	struct capture out, err;
};

/* shell_start starts the shell; NULL with err filled on failure. */
struct shell *shell_start(const struct shell_opts *opts, struct strbuf *err);

/* shell_run runs one block and fills r (release it with
 * shell_result_release).  Returns 0 when the block ran, whatever its
 * status; -1 when the shell could not be (re)started (err filled). */
int shell_run(struct shell *sh, const struct shell_block *b, struct shell_result *r,
	      struct strbuf *err);
void shell_result_release(struct shell_result *r);

/* shell_set_var exports NAME=value in the shell.  The value travels through
 * a file and `read`, never through command text, so it cannot inject code.
 * Returns -1 for an invalid name or a dead shell. */
int shell_set_var(struct shell *sh, const char *name, const char *value, struct strbuf *err);

/* shell_get_var reads variable NAME from the shell into value; *set says
 * whether it is set at all.  Returns -1 for an invalid name or a dead
 * shell. */
int shell_get_var(struct shell *sh, const char *name, struct strbuf *value, bool *set,
		  struct strbuf *err);

/* shell_pgid is the shell's process group (for the watchdog), or 0. */
pid_t shell_pgid(const struct shell *sh);

/* shell_free stops the shell (SIGTERM, then SIGKILL to its group) and
 * removes nothing from work_dir (the caller owns it). */
void shell_free(struct shell *sh);

/* shell_valid_name says whether name is a shell variable name. */
bool shell_valid_name(const char *name);

#endif
