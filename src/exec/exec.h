/* exec.h - the execution layer: runs a parsed runbook, block by block.
 *
 * This layer prints nothing and reads no terminal.  Everything it does is
 * reported through a `struct run_ui` (events.h): the terminal UI in
 * src/cli/ is one implementation, the JSON event stream (`run
 * --events=json`) another, a scripted one in tests/unit/test_exec.c a
 * third.  Decisions the runbook leaves to a person are asked through the
 * same interface; unattended (opts.interactive false) a policy decides,
 * and acts only on what it verified.
 *
 *	struct exec_opts o;
 *	exec_opts_init(&o);
 *	o.yes = true;
 *	struct runbook *rb = runbook_load(path, &err, NULL);   (model)
 *	lint_runbook(rb);                                      (errors: do not run)
 *	struct exec_run *x = exec_new(rb, &o, &ui, &err);      (takes rb)
 *	int code = x ? exec_execute(x) : EXIT_INVALID;
 *	exec_free(x);
 *	exec_opts_release(&o);
 *
 * exec_execute() walks the plan: the prerequisites (checked against the
 * database where SQL can see them, asked otherwise), the run lock, the
 * setup, each selected step (its commands, each shown before it runs and
 * confirmed when interactive, then its verifications), the final
 * verification and the expected final state; a failure is diagnosed from
 * the runbook's failure guidance and decided (retry, fix, continue,
 * accept, skip, roll back, abort).  Every event also goes to the journal
 * (journal.c), which is written before the UI hears of it.
 *
 * The result is an exit code (base/exitcode.h): EXIT_OK, EXIT_FAIL (a step
 * failed or deviated), EXIT_ENV (database, lock, journal), EXIT_ABORTED,
 * EXIT_INTERRUPTED (resumable), EXIT_USAGE (the options must say more, e.g.
 * what to do with an in-flight step).
 */
#ifndef RUNBOOK_EXEC_H
#define RUNBOOK_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/exitcode.h"
#include "base/strbuf.h"
#include "model/runbook.h"
#include "sys/proc.h"

#define RUN_DEFAULT_TIMEOUT_S 3600

enum verdict {
	V_PENDING,
	V_PASSED,
	V_ACCEPTED,    /* failed or deviated, accepted by the operator with a reason */
	V_SKIPPED,     /* skipped by the operator with a reason */
	V_NOT_RUN,     /* not selected (--from, --only) */
	V_DEVIATED,    /* ran, but the output is not what the runbook says */
	V_FAILED,
	V_TIMED_OUT,
	V_ABORTED,     /* the operator quit before the step's commands were all run */
	V_INTERRUPTED,
};

/* verdict_name: "passed", "not reached", ... as the journal and screen say. */
const char *verdict_name(enum verdict v);
/* verdict_ok: the run may go on after this verdict */
bool verdict_ok(enum verdict v);
/* format_duration writes "250 ms", "1.5 s" or "2m05s". */
void format_duration(int64_t ms, char *buf, size_t len);

struct run_var {
	char *name;
	char *value;
};

enum run_mode {
	MODE_RUN,      /* runbook run: setup, steps, final verification */
	MODE_ROLLBACK, /* runbook rollback: setup, then the Rollback Procedure */
};

/* What a run is asked to do.  Strings are borrowed (argv), vars owned. */
struct exec_opts {
	enum run_mode mode;
	bool interactive;          /* someone answers questions (the UI can ask) */
	bool tty;                  /* stdin is the operator's terminal: `interactive` blocks may read it */
	bool yes, dry_run, keep_going, quiet_output, verbose;
	bool auto_fix;             /* --auto-fix: run documented fixes unattended */
	bool on_fail_rollback;     /* --on-fail=rollback */
	bool accept_deviations;    /* --accept-deviations */
	int from, only;            /* step numbers; 0 when unset */
	int64_t timeout_ms;        /* default per block */
	int64_t kill_grace_ms;     /* 0: the shell's default */
	struct run_var *vars;      /* --var, in order */
	size_t nvars, vars_alloc;
	/* the journal */
	const char *log_path;      /* --log */
	const char *sign_key;      /* --sign (else $RUNBOOK_SIGNING_KEY) */
	bool resume;               /* --resume[=LOG] */
	const char *resume_log;
	bool allow_changed;        /* --allow-changed */
	const char *in_flight;     /* --in-flight=verify|rerun|done:REASON */
	/* the target */
	const char *db;            /* --db */
	bool sandbox;              /* --sandbox[=SEED] */
	const char *seed;
	bool keep;                 /* --keep: leave the sandbox running */
	bool no_preflight;
	int lock_timeout_ms;       /* --lock-timeout */
	int64_t max_blocking_ms;   /* --max-blocking */
	bool max_blocking_given;
};

void exec_opts_init(struct exec_opts *o);
void exec_opts_release(struct exec_opts *o);
/* exec_opts_add_var takes "NAME=VALUE" (NAME a shell variable name);
 * returns 0 or -1 when arg is not of that form. */
int exec_opts_add_var(struct exec_opts *o, const char *arg);

/* What one execution of a block produced. */
struct block_outcome {
	enum verdict verdict;
	char reason[512];          /* one line: "exit 1", "timed out after 5 s", a deviation's reason */
	int exit_code;             /* -1 when it did not run */
	int64_t start_wall_ms, duration_ms;
	bool shell_died, state_lost, env_error;
	bool conn_lost;            /* SQL blocks: the database connection broke */
	bool have_capture;
	struct capture out, err;
	struct strbuf diff;        /* a deviation's diff */
	char sqlstate[6];          /* SQL blocks: the error's SQLSTATE */
	int line;                  /* file line of what ran */
	struct run_var *captures;  /* what its expected output captured */
	size_t ncaptures, captures_alloc;
};

void block_outcome_release(struct block_outcome *o);

/* Where a step of the plan stands; the UI reads these in EV_RUN_END. */
struct step_state {
	const struct rb_step *step;
	bool selected;
	bool ran;
	enum verdict verdict;
	int64_t duration_ms;
	char *note;                /* skip or accept reason */
	int fix_attempts;          /* --auto-fix runs a fix once per step */
	bool done_earlier;         /* resumed: done in an earlier session */
	struct strbuf last_output; /* stdout of the step's last block, for the final state */
};

struct run_ui;
struct exec_run;

/* exec_new prepares a run of rb (which it takes over: exec_free frees it):
 * compiles the expected outputs, plans the steps the options select.
 * Returns NULL with a message in err when an expected output cannot be
 * compiled (rb is freed then too).  ui must outlive the run. */
struct exec_run *exec_new(struct runbook *rb, struct exec_opts *opts, const struct run_ui *ui,
			  struct strbuf *err);

/* exec_execute runs it and returns the exit code (see above).  With
 * opts.dry_run it only reports the plan (EV_PLAN events). */
int exec_execute(struct exec_run *x);

/* exec_take_captures hands over the {{NAME:regex}} values captured (the
 * caller frees names, values and the array). */
void exec_take_captures(struct exec_run *x, struct run_var **captures, size_t *n);

/* exec_log_path: the journal the run wrote, or NULL. */
const char *exec_log_path(const struct exec_run *x);

void exec_free(struct exec_run *x);

/* exec_block_timeout_ms: the timeout a block runs with (its timeout=
 * attribute, else the run's default). */
int64_t exec_block_timeout_ms(const struct exec_opts *o, const struct rb_block *b);

#endif
