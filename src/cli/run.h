/* cli_run.h - the state of one `runbook run`, shared by the cli_run*.c files.
 *
 * cli_run.c owns the flow and the terminal (steps, prompts, live output,
 * summary); cli_steps.c judges outcomes, runs SQL, handles failures,
 * checks prerequisites and the final state.  Only these files print.
 */
#ifndef RUNBOOK_CLI_RUN_H
#define RUNBOOK_CLI_RUN_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "sys/proc.h"
#include "base/redact.h"
#include "model/runbook.h"
#include "base/strbuf.h"

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

const char *verdict_name(enum verdict v);
/* verdict_ok: the run may go on after this verdict */
bool verdict_ok(enum verdict v);
void format_duration(int64_t ms, char *buf, size_t len);

struct run_var {
	char *name;
	char *value;
};

enum run_mode {
	MODE_RUN,      /* runbook run: setup, steps, final verification */
	MODE_ROLLBACK, /* runbook rollback: setup, then the Rollback Procedure */
};

struct run_opts {
	enum run_mode mode;
	bool yes, dry_run, keep_going, no_color, quiet_output;
	bool auto_fix;             /* --auto-fix: run documented fixes unattended */
	bool on_fail_rollback;     /* --on-fail=rollback */
	int from, only;            /* step numbers; 0 when unset */
	int64_t timeout_ms;        /* default per block */
	int64_t kill_grace_ms;     /* 0: the shell's default */
	struct run_var *vars;      /* --var, in order */
	size_t nvars, vars_alloc;
	bool accept_deviations;    /* --accept-deviations */
	bool verbose;
	const char *log_path;      /* --log */
	const char *sign_key;      /* --sign */
	bool resume;               /* --resume[=LOG] */
	const char *resume_log;
	bool allow_changed;        /* --allow-changed */
	const char *in_flight;     /* --in-flight=verify|rerun|done:REASON */
};

/* What one execution of a block produced. */
struct block_outcome {
	enum verdict verdict;
	char reason[512];          /* one line: "exit 1", "timed out after 5 s", a deviation's reason */
	int exit_code;             /* -1 when it did not run */
	int64_t start_wall_ms, duration_ms;
	bool shell_died, state_lost, env_error;
	bool conn_lost;             /* SQL blocks: the database connection broke */
	bool have_capture;
	struct capture out, err;
	struct strbuf diff;        /* a deviation's diff */
	char sqlstate[6];          /* SQL blocks: the error's SQLSTATE */
	int line;                  /* file line of what ran */
	struct run_var *captures;  /* what its expected output captured */
	size_t ncaptures, captures_alloc;
};

void block_outcome_release(struct block_outcome *o);

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

void step_state_release(struct step_state *ss);

enum prereq_status { PREREQ_ASK, PREREQ_OK, PREREQ_FAILED };
struct prereq_check {
	enum prereq_status status;
	char evidence[512];
};

struct run {
	struct runbook *rb;
	struct run_opts opts;
	bool interactive;          /* prompts: stdin is a terminal and no --yes */
	bool tty_out;
	struct shell *sh;
	char *work_dir;            /* private temp dir, removed at the end */
	char **shell_env;          /* extra environment for the shell (sandbox), or NULL */
	char **shell_unset;
	struct step_state *states;
	size_t nstates;
	struct run_var *captured;  /* {{NAME:regex}} captures, in order */
	size_t ncaptured, captured_alloc;
	int exit_code;
	bool env_failure;
	bool rollback_requested;
	bool rolled_back;          /* a rollback ran to its end */
	bool rollback_failed;      /* a rollback command failed */
	int64_t t0;
	struct redactor red;
	/* live output */
	struct strbuf pending[3];
	struct strbuf echo_masked;      /* echoed output not written yet (echo_flush) */
	struct strbuf echo_mark[3];     /* what starts an echoed line, per stream */
	int64_t last_output_ms, block_start_ms;
	bool spinner_shown;
	int spinner_frame;
	bool block_interactive;    /* the running block reads the terminal */
	/* stream=both: the running block's stdout and stderr together, in the
	 * order they arrived (capped like a capture) */
	bool both_wanted, both_truncated;
	struct strbuf both;
	/* compiled expected-output blocks, by rb_block.index */
	struct expectation **expectations;
	size_t nexpectations;
	/* back ends added by later modules */
	void *backend;
	void *journal;
	char *log_path;
	bool resumed;
	bool usage_error;          /* the command line must say more (exit 2) */
	struct resume_info *resume;
};

enum flow {
	FLOW_CONTINUE, /* go on with the next block */
	FLOW_RETRY,    /* run the same block again */
	FLOW_END_STEP, /* leave the step with its failure */
	FLOW_QUIT,     /* the operator aborted */
	FLOW_INTERRUPT,
};

/* cli_run.c */
/* run_fix_command runs a documented fix as a shell block (state carried). */
void run_fix_command(struct run *r, const char *text, int line, struct block_outcome *o);
/* run_rollback_commands runs cmds in order (prompting when interactive);
 * returns 0 when all ran or were skipped, -1 when one failed (the rest are
 * not run), FLOW_QUIT/INTERRUPT style negatives via *flow. */
int run_rollback_commands(struct run *r, struct step_state *ss, const struct rb_command *const *cmds,
			  size_t n, enum flow *flow);
bool run_rollback_available(const struct run *r);
void run_echo(struct run *r, enum io_stream which, const char *buf, size_t len);
void run_tick(struct run *r);
void run_flush(struct run *r);
void run_out(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int run_init(struct run *r);
int run_file(struct run *r, const char *path, struct run_var **captures, size_t *ncaptures);
void run_release(struct run *r);
void plan_states(struct run *r);
int run_steps(struct run *r);

/* cli_steps.c */

int prepare_expectations(struct run *r);
void release_expectations(struct run *r);
/* run_add_capture records a captured variable and exports it to the shell. */
void run_add_capture(struct run *r, const char *name, const char *value);
void judge_output(struct run *r, const struct rb_block *b, const char *expected_text,
		  const struct rb_block *expected, struct block_outcome *o);
void run_sql_block(struct run *r, const struct rb_block *b, struct block_outcome *o);
/* on_failure decides what follows a failed block; *final gets the block's
 * final verdict when the answer is not a retry. */
enum flow on_failure(struct run *r, struct step_state *ss, const struct rb_block *b,
		     const struct block_outcome *o, enum verdict *final);
void step_begin(struct run *r, struct step_state *ss);
void step_end(struct run *r, struct step_state *ss);
void step_note_outcome(struct run *r, struct step_state *ss, const struct rb_block *b,
		       const struct block_outcome *o);
void step_note_skip(struct run *r, struct step_state *ss, const struct rb_block *b, const char *reason);
struct failure_hit;
void record_decision(struct run *r, const char *choice, const char *reason, const char *about);
/* run_confirm_prereq has a prerequisite that cannot be checked confirmed:
 * by --yes when unattended, by the operator (y/n) at a terminal. */
enum flow run_confirm_prereq(struct run *r, const struct rb_item *it, const struct prereq_check *pc);
void record_suggestions(struct run *r, struct step_state *ss, const struct rb_block *b,
			const struct rb_failure_row *rows, const struct failure_hit *hits, size_t n);
void check_prerequisite(struct run *r, const struct rb_item *it, struct prereq_check *pc);
void record_prereq(struct run *r, const struct rb_item *it, const char *status, const char *evidence);
void check_final_state(struct run *r, struct step_state *ss);
void run_rollback_after(struct run *r);
int run_backends_start(struct run *r);
enum flow after_setup(struct run *r);
void backend_tick(struct run *r);
void backend_after_block(struct run *r, struct block_outcome *o);
void run_backends_release(struct run *r);

/* cli_journal.c */
int journal_open(struct run *r, const char *mode);
void journal_close(struct run *r, const char *result);
bool journal_failed(struct run *r);
int journal_option(struct run *r, int c, const char *arg);
void journal_usage(void);
void journal_step_start(struct run *r, struct step_state *ss);
void journal_step_end(struct run *r, struct step_state *ss);
int journal_block_start(struct run *r, struct step_state *ss, const struct rb_block *b, const char *text,
			int line, int attempt);
void journal_block_end(struct run *r, struct step_state *ss, const struct rb_block *b, int line,
		       const struct block_outcome *o);
void record_final_state(struct run *r, const char *metric, const char *expected, const char *actual,
			bool ok);
void record_monitor(struct run *r, const char *summary, int64_t longest_blocked_ms, size_t blocked,
		    size_t blocking);
void record_target(struct run *r);
struct jrec;
void journal_add_target(struct run *r, struct jrec *rec);
int journal_resume(struct run *r, struct strbuf *err);
/* journal_resume_plan marks the steps done in the earlier session; returns
 * a flow (FLOW_QUIT when the operator or the options say stop). */
enum flow journal_resume_plan(struct run *r);
void journal_resume_release(struct run *r);
/* journal_resume_inflight asks what to do with the step a crash interrupted
 * (after the setup ran again). */
enum flow journal_resume_inflight(struct run *r);
/* cli_run.c helpers for resuming */
char *run_ask_reason(struct run *r, const char *what);
int run_verify_only(struct run *r, struct step_state *ss);

/* options the back ends add to `runbook run` */
#define RUN_BACKEND_OPTIONS \
	{ "accept-deviations", no_argument, NULL, 1001 }, \
	{ "verbose", no_argument, NULL, 1002 }, \
	{ "db", required_argument, NULL, 1003 }, \
	{ "sandbox", optional_argument, NULL, 1004 }, \
	{ "keep", no_argument, NULL, 1005 }, \
	{ "max-blocking", required_argument, NULL, 1006 }, \
	{ "lock-timeout", required_argument, NULL, 1007 }, \
	{ "no-preflight", no_argument, NULL, 1008 }, \
	{ "auto-fix", no_argument, NULL, 1009 }, \
	{ "on-fail", required_argument, NULL, 1010 }, \
	{ "log", required_argument, NULL, 1011 }, \
	{ "sign", required_argument, NULL, 1012 }, \
	{ "resume", optional_argument, NULL, 1013 }, \
	{ "allow-changed", no_argument, NULL, 1014 }, \
	{ "in-flight", required_argument, NULL, 1015 },
int run_backend_option(struct run *r, int c, const char *arg);
void run_backend_usage(void);

#endif
