/* events.h - how the execution layer reports a run and asks for decisions.
 *
 * A UI is a `struct run_ui`: `event` hears of everything that happens, in
 * order; `ask` is called when a person must decide; `tick` about ten
 * times a second while a block runs (for a spinner; the monitor has
 * already sampled).  Strings in events and questions are as the runbook
 * and the commands have them: a UI passes everything it shows or writes
 * through exec_mask(ev->run, ...) first (the run's redactor knows the
 * secrets of this run, and learns new ones from what it masks), so that
 * no secret reaches a screen or a stream.  The journal hears every event
 * first and masks what it records itself.
 *
 * Events, by type (fields not listed are zero/NULL):
 *
 *   EV_RUN_START     title, path, count (steps), interactive, mode, dry_run
 *   EV_NOTE          level, text: a one-off line (database, sandbox,
 *                    journal, warnings); text may start with blanks and
 *                    newlines for layout, the rest is the message
 *   EV_PREREQ        text (the item), status ("checked", "failed",
 *                    "confirmed", "overridden", "not met", "deferred"),
 *                    evidence, by ("operator", "--yes", "policy"), line
 *   EV_STEP_START    step, counter ("2 (2 of 3)")
 *   EV_STEP_END      step, verdict, duration_ms, reason (the note)
 *   EV_BLOCK_SHOW    step, block, label ("command", "verification",
 *                    "rollback", "block", "fix"), index, count, line,
 *                    text (what will run), comment
 *   EV_BLOCK_NOT_RUN step, block, label, index, count, line, reason
 *   EV_BLOCK_START   step, block, line, attempt, text
 *   EV_OUTPUT        stream, text/len: output, whole lines each
 *                    ending in '\n' except, when `partial`, the last
 *   EV_BLOCK_END     step, block, line, outcome (verdict, reason, ...)
 *   EV_CAPTURE       name, value
 *   EV_DIFF          text: a deviation's unified diff
 *   EV_SUGGESTIONS   step, block, sqlstate, suggestions/count, general,
 *                    text (the troubleshooting section when none matched), line
 *   EV_DECISION      choice, reason, about, by ("operator" or "policy")
 *   EV_MONITOR       text (summary), count (sessions we block), index
 *                    (sessions blocking us), duration_ms (longest blocked)
 *   EV_FINAL_STATE   name (metric), expected, value (actual, NULL: no such
 *                    column), ok; or, with name NULL, the heading (count =
 *                    rows, ok = a table was found)
 *   EV_ROLLBACK_START count, text ("the Rollback Procedure", ...)
 *   EV_ROLLBACK_STATE rollback/count: what ran, what did not
 *   EV_ROLLBACK_END  ok
 *   EV_RESUME_STEP   name (step key), value (its earlier verdict)
 *   EV_IN_FLIGHT     name (step key), text (its last command, or NULL), ts,
 *                    ok (the command was cut short rather than never ended)
 *   EV_PLAN          step, block, index (1-based, over the run), line,
 *                    duration_ms (timeout), label ("command" or
 *                    "verification"), text; with block NULL: a step heading
 *   EV_TARGET        text: the database now targeted (password removed)
 *   EV_RUN_END       code (exit code), states/count, duration_ms, mode,
 *                    rolled_back, rollback_failed; of a dry run: dry_run,
 *                    count = the blocks that would run
 */
#ifndef RUNBOOK_EVENTS_H
#define RUNBOOK_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"
#include "exec/exec.h"

enum ev_type {
	EV_RUN_START,
	EV_NOTE,
	EV_PREREQ,
	EV_STEP_START,
	EV_STEP_END,
	EV_BLOCK_SHOW,
	EV_BLOCK_NOT_RUN,
	EV_BLOCK_START,
	EV_OUTPUT,
	EV_BLOCK_END,
	EV_CAPTURE,
	EV_DIFF,
	EV_SUGGESTIONS,
	EV_DECISION,
	EV_MONITOR,
	EV_FINAL_STATE,
	EV_ROLLBACK_START,
	EV_ROLLBACK_STATE,
	EV_ROLLBACK_END,
	EV_RESUME_STEP,
	EV_IN_FLIGHT,
	EV_PLAN,
	EV_TARGET,
	EV_RUN_END,
	EV_TYPE_COUNT
};

/* ev_type_name: "run.start", "note", ... the names --events=json uses. */
const char *ev_type_name(enum ev_type t);

enum note_level {
	NOTE_PLAIN,
	NOTE_DIM,     /* context: where things are, what happens next */
	NOTE_INFO,    /* a value learnt or restored */
	NOTE_OK,
	NOTE_WARN,
	NOTE_ERROR,
	NOTE_HEADING,
	NOTE_FATAL,   /* the program's own trouble (a terminal shows it on stderr) */
};

const char *note_level_name(enum note_level l);

/* One documented fix offered for a failure, best first. */
struct suggestion {
	int line;              /* the row's line in the runbook */
	const char *error, *cause, *solution, *fix; /* fix: the command in the solution, or NULL */
	const char *why;       /* why it matched: "pattern hit", "words: ..." */
	bool pattern_hit;
	double score;
	bool shown;            /* the terminal lists it (as good as the best) */
};

/* One command of a rollback and what became of it. */
struct rollback_item {
	const char *text;      /* its comment, else its first line */
	int line;
	enum verdict verdict;  /* V_PENDING: not run */
};

struct event {
	enum ev_type type;
	struct exec_run *run;
	enum note_level level;
	const struct rb_step *step;
	const struct rb_block *block;
	const char *label, *counter, *title, *path;
	const char *text, *comment;
	size_t len;
	bool partial;
	enum io_stream stream;
	size_t index, count;
	int line, attempt, code;
	bool interactive, ok, general, rolled_back, rollback_failed;
	bool dry_run;          /* EV_RUN_START, EV_RUN_END of a dry run */
	enum run_mode mode;
	enum verdict verdict;
	int64_t duration_ms;
	const char *reason, *name, *value, *expected, *status, *evidence, *by, *choice, *about, *ts;
	const char *sqlstate;
	const struct block_outcome *outcome;
	const struct suggestion *suggestions;
	const struct rollback_item *rollback;
	const struct step_state *states;
};

/* What a person is asked, and the keys that answer it. */
enum ask_kind {
	ASK_BEFORE_BLOCK,   /* [Enter] run · s skip · q quit */
	ASK_ON_FAILURE,     /* r retry · f fix · c continue · a accept · s skip · b roll back · q abort */
	ASK_PREREQ,         /* y confirm · n not met; text: the item, evidence in `detail` */
	ASK_PREREQ_FAILED,  /* c continue anyway · q quit */
	ASK_GUARD,          /* the monitor's threshold: k stop the block · w keep waiting */
	ASK_IN_FLIGHT,      /* v verify · r re-run · d mark done · q abort */
	ASK_REASON,         /* a line of text, required (text: "reason for skipping") */
	ASK_CONDITION,      /* does the runbook's condition hold?  y yes · n no (text: the condition) */
};

struct choice {
	int key;            /* '\n' for Enter */
	const char *label;  /* "run", "fix: CMD" */
};

struct question {
	struct exec_run *run;  /* set by the execution layer: for exec_mask() */
	enum ask_kind kind;
	const char *text;   /* what is asked about (masked) */
	const char *detail; /* evidence, or NULL */
	const struct choice *choices;
	size_t nchoices;
};

const char *ask_kind_name(enum ask_kind k);

/* exec_mask appends text with this run's secrets masked to out. */
void exec_mask(struct exec_run *x, const char *text, size_t len, struct strbuf *out);

#define ANSWER_EOF (-1)         /* nobody can answer any more (the terminal went away) */
#define ANSWER_INTERRUPTED (-2) /* Ctrl-C, SIGTERM, SIGHUP while asking */

struct run_ui {
	void (*event)(void *data, const struct event *ev);
	/* ask returns the key chosen (one of q->choices), ANSWER_EOF or
	 * ANSWER_INTERRUPTED; for ASK_REASON it returns '\n' with a
	 * non-empty, trimmed line in *answer. */
	int (*ask)(void *data, const struct question *q, struct strbuf *answer);
	/* tick: a block has been running for running_ms; reads_terminal
	 * when the block itself uses the terminal (no spinner then).  May
	 * be NULL. */
	void (*tick)(void *data, int64_t running_ms, bool reads_terminal);
	void *data;
};

#endif
