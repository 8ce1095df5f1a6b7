/* exec_int.h - what the files of the execution layer share; nothing
 * outside src/exec/ includes it.
 *
 *   run.c      the plan, the step loop, prompts around blocks, rollback
 *   block.c    one block: shell or SQL -> struct block_outcome, live output
 *   judge.c    expected output, captures, diagnosis, decisions on failure,
 *              the expected final state
 *   target.c   the database or sandbox, prerequisites, run lock, monitor
 *   journal.c  the journal, written from the events
 *   resume.c   continuing an interrupted run from its journal
 *   events.c   event names, emitting, asking
 */
#ifndef RUNBOOK_EXEC_INT_H
#define RUNBOOK_EXEC_INT_H

#include <stdarg.h>

#include "base/redact.h"
#include "exec/events.h"
#include "exec/exec.h"

enum flow {
	FLOW_CONTINUE, /* go on with the next block */
	FLOW_RETRY,    /* run the same block again */
	FLOW_END_STEP, /* leave the step with its failure */
	FLOW_QUIT,     /* the operator aborted */
	FLOW_INTERRUPT,
};

struct target;
struct journal;
struct resume_info;
struct expectation;
struct failure_matcher;

struct exec_run {
	struct runbook *rb;
	struct exec_opts opts;     /* a copy; vars owned */
	const struct run_ui *ui;
	bool interactive;          /* prompts: opts.interactive */
	struct shell *sh;
	char *work_dir;            /* private temp dir, removed at the end */
	char **shell_env;          /* extra environment for the shell, or NULL */
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
	/* live output: what a block printed, assembled into lines */
	struct strbuf pending[3];
	int64_t last_output_ms, block_start_ms;
	bool block_interactive;    /* the running block reads the terminal */
	/* stream=both: the running block's stdout and stderr together, in the
	 * order they arrived (capped like a capture) */
	bool both_wanted, both_truncated;
	struct strbuf both;
	/* compiled expected-output blocks, by rb_block.index */
	struct expectation **expectations;
	size_t nexpectations;
	/* failure tables compiled once: one per step, then the general one */
	struct failure_matcher **matchers;
	bool *matcher_done;
	size_t nmatchers;
	struct target *target;     /* always set after exec_new */
	struct journal *journal;   /* set once the journal is open */
	char *log_path;
	bool resumed;
	bool usage_error;          /* the command line must say more (exit 2) */
	struct resume_info *resume;
};

/* events.c */
/* emit hands ev to the journal, then to the UI; returns -1 when the
 * journal could not record it (the run must stop). */
int emit(struct exec_run *r, struct event *ev);
void note(struct exec_run *r, enum note_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* ask puts a question to the UI (never call it unattended). */
int ask(struct exec_run *r, const struct question *q, struct strbuf *answer);
/* ask_reason reads a non-empty reason; NULL when interrupted. */
char *ask_reason(struct exec_run *r, const char *what);
void record_decision(struct exec_run *r, const char *choice, const char *reason, const char *about);

/* run.c */
enum flow run_one(struct exec_run *r, struct step_state *ss, const struct rb_command *cmd,
		  const char *label, size_t i, size_t n, bool ask_first);
int run_rollback_commands(struct exec_run *r, struct step_state *ss,
			  const struct rb_command *const *cmds, size_t n, enum flow *flow);
bool run_rollback_available(const struct exec_run *r);
void run_rollback_after(struct exec_run *r);
int run_verify_only(struct exec_run *r, struct step_state *ss);
void step_state_release(struct step_state *ss);
void step_note_skip(struct step_state *ss, const char *reason);
char *step_key(const struct rb_step *st); /* "setup", "step-2", "final" */

/* block.c */
void execute(struct exec_run *r, const struct rb_block *b, const char *text, int line,
	     const char *expected_text, const struct rb_block *expected, struct block_outcome *o);
void run_fix_command(struct exec_run *r, const char *text, int line, struct block_outcome *o);
void run_sql_block(struct exec_run *r, const struct rb_block *b, struct block_outcome *o);
int ensure_shell(struct exec_run *r);
void output_flush(struct exec_run *r);
void block_tick(struct exec_run *r);

/* judge.c */
int prepare_expectations(struct exec_run *r, struct strbuf *err);
void release_expectations(struct exec_run *r);
void run_add_capture(struct exec_run *r, const char *name, const char *value);
void judge_output(struct exec_run *r, const struct rb_block *b, const char *expected_text,
		  const struct rb_block *expected, struct block_outcome *o);
enum flow on_failure(struct exec_run *r, struct step_state *ss, const struct rb_block *b,
		     const struct block_outcome *o, enum verdict *final);
void check_final_state(struct exec_run *r, struct step_state *ss);
void judge_release(struct exec_run *r);

/* target.c */
struct target *target_new(const struct exec_opts *o);
void target_free(struct exec_run *r);
int target_start(struct exec_run *r);
enum flow target_preflight(struct exec_run *r);
enum flow target_after_setup(struct exec_run *r);
void target_step_begin(struct exec_run *r, const struct step_state *ss);
void target_tick(struct exec_run *r);
void target_after_block(struct exec_run *r, struct block_outcome *o);
bool target_needs_db(const struct exec_run *r);
/* the target for the journal's records */
struct jrec;
void target_add_json(const struct exec_run *r, struct jrec *rec);
/* SQL blocks: the connection (connected on demand), or NULL with the
 * outcome filled */
struct pg_conn *target_conn(struct exec_run *r, struct block_outcome *o);
void target_sql_begin(struct exec_run *r);
void target_sql_end(struct exec_run *r, bool conn_lost);
int target_lock_timeout_ms(const struct exec_run *r);
int target_retries(const struct exec_run *r);
/* target_eval runs a one-row query and says whether its first column is
 * true (1) or not (0); -1 with err when it cannot (no database, an error).
 * *value gets the value as printed. */
int target_eval(struct exec_run *r, const char *sql, struct strbuf *value, struct strbuf *err);

/* journal.c */
int journal_open(struct exec_run *r, const char *mode);
void journal_close(struct exec_run *r, const char *result);
bool journal_failed(const struct exec_run *r);
int journal_event(struct exec_run *r, const struct event *ev);
struct runlog;
struct runlog *journal_log(struct exec_run *r);
/* journal_write emits a record built on journal_log(); -1 stops the run */
int journal_write(struct exec_run *r, struct jrec *rec);
struct sign_key *journal_key(struct exec_run *r);
void journal_set_open(struct exec_run *r, const char *path);
/* journal_file_sha256: the hex SHA-256 of a file's bytes, "" when unreadable */
void journal_file_sha256(const char *path, char out[65]);

/* resume.c */
int resume_open(struct exec_run *r, struct strbuf *err);
enum flow resume_plan(struct exec_run *r);
enum flow resume_inflight(struct exec_run *r);
void resume_release(struct exec_run *r);

#endif
