/* runbook.h - the parsed runbook: steps, blocks, expectations, failure rows.
 *
 * A `struct runbook` is produced by mdparse (see mdparse.h) and owns every
 * string and array below through its arena: nothing inside is freed on its
 * own, runbook_free() releases it all.  Every element keeps the 1-based line
 * (and column where it matters) of its source in the Markdown file, so that
 * diagnostics, the journal and the terminal can point at it.
 *
 * Arrays are (pointer, count) pairs; a count of 0 means an empty array and
 * the pointer may then be NULL.  Strings are never NULL unless documented.
 */
#ifndef RUNBOOK_RUNBOOK_H
#define RUNBOOK_RUNBOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "model/diag.h"

/* What a fenced code block is, decided from its language and its place. */
enum block_kind {
	BLOCK_SHELL,   /* bash, sh, shell, zsh, or no language where a command is due */
	BLOCK_CONSOLE, /* console: `$ ` prompted commands followed by their output */
	BLOCK_SQL,     /* sql, psql, pgsql, postgresql: run through libpq */
	BLOCK_OUTPUT,  /* expected output: text, output, or no language where output is due */
	BLOCK_OTHER,   /* any other language: shown, never run */
};

/* One `key=value` (or bare `flag`) from the fence info string. */
struct rb_attr {
	const char *key;
	const char *value; /* "" for a bare flag */
	int col;           /* column of the key on the fence line */
};

struct rb_block {
	enum block_kind kind;
	const char *lang;   /* first word of the info string, lower case; "" if none */
	const char *info;   /* the whole info string as written */
	const char *text;   /* the contents; ends with '\n' unless empty */
	struct rb_attr *attrs;
	size_t nattrs, attrs_alloc;
	int line;           /* line of the opening fence */
	int col;            /* column of the opening fence */
	int text_line;      /* line of the first content line */
	int end_line;       /* line of the closing fence (last line if unclosed) */
	bool unclosed;      /* the fence is never closed */
	const char *comment; /* rollback commands: the comment lines above it; NULL otherwise */
	int index;          /* position among all runnable blocks of the runbook, from 0 */
};

/* A runnable block and the output the runbook says it prints. */
struct rb_command {
	struct rb_block *block;
	struct rb_block *expected; /* NULL when the runbook gives none */
};

/* One row of a failure table (Error | Cause | Solution). */
struct rb_failure_row {
	const char *error;    /* the Error cell, code spans kept in backticks */
	const char *cause;    /* "" when the table has no Cause column */
	const char *solution; /* "" when the cell is empty */
	const char **code_spans; /* every code span of the Solution cell, in order */
	size_t ncode_spans, code_spans_alloc;
	const char *fix;      /* the runnable code span offered as a fix, or NULL */
	int line;
};

/* One `- [ ] item` of the prerequisites or next steps. */
struct rb_item {
	const char *text; /* inline text, code spans kept in backticks */
	bool checked;
	bool is_task;     /* written as a task-list item */
	int line;
};

/* `**Key:** value` from the runbook's preamble. */
struct rb_meta {
	const char *key;
	const char *value;
	int line;
};

/* A row of the Expected Final State table (Metric | Expected Value). */
struct rb_final_row {
	const char *metric;
	const char *expected;
	int line;
};

/* A section the parser does not understand, kept as Markdown. */
struct rb_note {
	const char *heading; /* "" for text before any heading */
	const char *text;    /* the section's Markdown source, heading excluded */
	int line;
	int level;           /* heading level, 0 for none */
};

enum step_role {
	STEP_SETUP,    /* Environment Setup */
	STEP_MAIN,     /* Step N */
	STEP_FINAL,    /* Final Verification */
	STEP_ROLLBACK, /* Rollback Procedure */
};

struct rb_step {
	enum step_role role;
	int number;          /* as written for Step N; 0 otherwise */
	const char *title;   /* "Create Backup"; the section name for the others */
	const char *heading; /* the heading text as written */
	const char *why;     /* the Why text, or "" */
	int line;            /* line of the heading; 0 if the section is absent */
	int level;           /* heading level */
	struct rb_command *commands;
	size_t ncommands, commands_alloc;
	struct rb_command *verifications;
	size_t nverifications, verifications_alloc;
	struct rb_failure_row *failures;
	size_t nfailures, failures_alloc;
	int failure_table_line; /* 0 when the step has no failure table */
	struct rb_command *rollback; /* the step's own rollback blocks */
	size_t nrollback, rollback_alloc;
};

struct runbook {
	struct arena arena;
	const char *path;
	const char *source;  /* the whole file, NUL-terminated */
	size_t source_len;
	const char *title;   /* first H1, or "" */
	int title_line;

	struct rb_meta *meta;
	size_t nmeta, meta_alloc;
	struct rb_item *prereqs;
	size_t nprereqs, prereqs_alloc;
	int prereqs_line;

	struct rb_step setup;     /* line == 0 when absent */
	struct rb_step *steps;
	size_t nsteps, steps_alloc;
	struct rb_step final;     /* line == 0 when absent */
	struct rb_final_row *final_rows;
	size_t nfinal_rows, final_rows_alloc;
	int final_rows_line;
	struct rb_step rollback;  /* line == 0 when absent */

	struct rb_item *next_steps;
	size_t nnext_steps, next_steps_alloc;
	const char *troubleshooting; /* general troubleshooting section, Markdown, or NULL */
	int troubleshooting_line;
	struct rb_failure_row *general_failures; /* its table, if any */
	size_t ngeneral_failures, general_failures_alloc;

	struct rb_note *notes;
	size_t nnotes, notes_alloc;

	/* Comments `<!-- runbook: off rule-id -->` found in the file. */
	struct rb_attr *pragmas; /* key = rule id, col = line of the comment */
	size_t npragmas, pragmas_alloc;

	/* What the parser itself found wrong (unclosed fences, unknown
	 * attributes, unrecognised tables).  lint adds to this list. */
	struct diag_list diags;
	size_t nblocks; /* runnable blocks, numbered by rb_block.index */
};

/* runbook_free releases the runbook and everything it owns; NULL is fine. */
void runbook_free(struct runbook *rb);

/* rb_attr_get returns the value of attribute key on block, or NULL. */
const char *rb_attr_get(const struct rb_block *block, const char *key);
bool rb_attr_has(const struct rb_block *block, const char *key);

/* rb_attr_known says whether key is an attribute the program understands. */
bool rb_attr_known(const char *key);

const char *rb_block_kind_name(enum block_kind kind);
const char *rb_step_role_name(enum step_role role);
bool rb_block_runnable(const struct rb_block *block);
/* rb_step_counter writes where a main step stands: "2/3" when the steps
 * are numbered 1..N, otherwise its number and position, "7 (6 of 6)". */
void rb_step_counter(const struct runbook *rb, const struct rb_step *st, char *buf, size_t size);

/* A console block's prompted commands: "$ cmd" lines ("> " lines continue
 * them) and the lines after each, its expected output. */
struct rb_console_cmd {
	char *cmd;
	char *expected;
	int line;          /* file line of the "$ " line */
	int expected_line; /* file line of the first expected line */
};
/* rb_console_split splits a console block; free with rb_console_free(). */
size_t rb_console_split(const struct rb_block *b, struct rb_console_cmd **out);
void rb_console_free(struct rb_console_cmd *v, size_t n);

/* rb_for_each_command calls fn for every runnable block of the runbook in
 * document order: setup, steps (commands then verifications), final
 * verification, rollback.  Stops early when fn returns non-zero. */
typedef int (*rb_block_fn)(const struct rb_step *step, const struct rb_command *cmd,
			   bool verification, void *data);
int rb_for_each_command(const struct runbook *rb, rb_block_fn fn, void *data);

#endif
