/* sqllint_private.h - what the files of the SQL lint share; sqllint.h is
 * its manual, and nothing outside these files includes this header.
 *
 *	sqllint.c        the runbook's and each session's state, statements
 *	                 sent to their rules, BEGIN/COMMIT and SET lock_timeout
 *	sqllint_read.c   reading a statement's tokens, reporting a finding
 *	sqllint_rules.c  CREATE, DROP, TRUNCATE, UPDATE/DELETE, COPY, psql
 *	                 meta-commands, other lock-taking statements, and the
 *	                 checks several of them share
 *	sqllint_alter.c  ALTER TABLE and ALTER INDEX
 *	sqllint_shell.c  psql calls in shell scripts, pg_dump backups, PGOPTIONS
 *
 * A rule is a function of a `struct stmt`: the statement's tokens, the
 * session it runs in and the linter.  It reads the tokens with kw(),
 * kind() and the stmt_ helpers and reports with stmt_report().
 */
#ifndef RUNBOOK_SQLLINT_PRIVATE_H
#define RUNBOOK_SQLLINT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include "lint/sqllint.h"

/* ---------------------------------------------------------------------
 * State
 * ------------------------------------------------------------------- */

/* A set of strings: items in the order they were added, and a hash table
 * of their indexes (+ 1; 0 is an empty slot) so that a runbook adding
 * thousands of columns stays linear.  Zero-initialised it is empty;
 * strset_free() releases it.  NULL is never a member and adding it does
 * nothing. */
struct strset {
	char **items;
	size_t nr, alloc;
	size_t *slots;
	size_t nslots; /* 0 or a power of two, at least twice nr */
};

bool strset_has(const struct strset *s, const char *v);
void strset_add(struct strset *s, const char *v);
void strset_clear(struct strset *s);
void strset_free(struct strset *s);

struct sqllint {
	const char *path;
	struct diag_list *out;
	struct strset new_tables;  /* created earlier in the runbook */
	struct strset new_columns; /* "table.column" added earlier in the runbook */
	struct strset new_indexes; /* created on new tables */
	struct strset backed_up;   /* tables a step has copied somewhere */
	struct strset not_null_checked; /* "table.column" with a valid CHECK (column IS NOT NULL) */
	struct strset not_null_pending; /* "constraint=table.column": such a CHECK, NOT VALID */
	bool backup_all;           /* a whole-database dump was taken */
	bool pgoptions_lock_timeout; /* PGOPTIONS exported with a lock_timeout */
};

/* Where the SQL text came from: its offsets map to the block's text (map
 * NULL: the SQL is the block's text), which starts at file line:col. */
struct source {
	const char *sql;
	const size_t *map;
	const char *script;
	int line, col;
	/* the last position computed: findings come mostly in order, so the
	 * next one is counted from here, not from the start of the script */
	size_t seen_at;
	int seen_line, seen_col;
};

/* source_position is the file line and column of offset off of src->sql. */
void source_position(struct source *src, size_t off, int *line, int *col);

/* One connection's worth of statements: a ```sql block or a psql call. */
struct session {
	struct source *src;
	unsigned flags;
	bool shell;           /* psql: no guard rail of runbook's */
	bool single_tx;       /* psql -1 */
	bool implicit_tx;     /* inside a psql -c string of several statements */
	bool in_tx;           /* after BEGIN */
	int begin_line, begin_col;
	bool initial_lock_timeout; /* what RESET goes back to */
	bool lock_timeout;
	bool local_lock_timeout; /* SET LOCAL: until the transaction ends */
	struct strset not_valid; /* constraints added NOT VALID in this transaction */
};

/* session_lint lints len bytes of src->sql, one piece of SQL of session
 * ss.  one_query: psql -c, which sends the whole text as one query, run as
 * one transaction. */
void session_lint(struct sqllint *l, struct session *ss, struct source *src, size_t len,
		  bool one_query);
/* session_end reports a transaction the session left open and releases
 * what it holds. */
void session_end(struct sqllint *l, struct session *ss);

/* session_atomic: the statement runs inside a transaction, so a failure
 * leaves nothing half done and a re-run starts from scratch. */
bool session_atomic(const struct session *ss);

/* ---------------------------------------------------------------------
 * Reading a statement
 * ------------------------------------------------------------------- */

struct stmt {
	const struct sql_token *t; /* its tokens, without the semicolon */
	size_t n;
	const char *sql;           /* the text the tokens' offsets point into */
	struct sqllint *lint;
	struct session *ss;
};

/* kw: token i is the keyword word (given in lower case). */
static inline bool kw(const struct stmt *st, size_t i, const char *word)
{
	return i < st->n && sqllex_is_word(st->sql, &st->t[i], word);
}

static inline bool kw2(const struct stmt *st, size_t i, const char *a, const char *b)
{
	return kw(st, i, a) && kw(st, i + 1, b);
}

static inline bool kind(const struct stmt *st, size_t i, enum sql_token_kind k)
{
	return i < st->n && st->t[i].kind == k;
}

/* op_is: token i is the one-character operator c. */
static inline bool op_is(const struct stmt *st, size_t i, char c)
{
	return kind(st, i, SQL_TOKEN_OPERATOR) && st->t[i].len == 1 && st->sql[st->t[i].offset] == c;
}

/* stmt_is_name: token i starts a name (a word, a quoted identifier, a
 * variable, a template's {{NAME}}). */
bool stmt_is_name(const struct stmt *st, size_t i);
/* stmt_one_name reads one identifier at *i and returns it (free() it), or
 * NULL when there is none. */
char *stmt_one_name(const struct stmt *st, size_t *i);
/* stmt_name_at reads a name, schema-qualified or not, at *i and returns
 * its last part (free() it), or NULL when there is none. */
char *stmt_name_at(const struct stmt *st, size_t *i);
/* stmt_skip_parens moves *i past the group whose '(' is at *i. */
void stmt_skip_parens(const struct stmt *st, size_t *i);
/* stmt_find_kw finds word at parenthesis depth 0 in [from, to); returns
 * to if absent. */
size_t stmt_find_kw(const struct stmt *st, size_t from, size_t to, const char *word);
/* stmt_is_new_table: table (may be NULL) was created earlier in the runbook. */
bool stmt_is_new_table(const struct stmt *st, const char *table);
/* stmt_backed_up: a step before this one copied table (may be NULL) somewhere. */
bool stmt_backed_up(const struct stmt *st, const char *table);
/* stmt_note_sources marks as backed up every table read in [from, to). */
void stmt_note_sources(const struct stmt *st, size_t from, size_t to);

/* stmt_report adds a finding of rule at token i (the statement's first
 * token when i is past its end). */
void stmt_report(const struct stmt *st, size_t i, enum diag_severity sev, const char *rule,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---------------------------------------------------------------------
 * Rules (sqllint_rules.c, sqllint_alter.c)
 * ------------------------------------------------------------------- */

/* The checks several statements share.  what names the statement
 * ("CREATE INDEX on"), table the table it locks (NULL: not known). */
void check_lock_taking(const struct stmt *st, size_t at, const char *what, const char *table);
void check_concurrently_in_tx(const struct stmt *st, const char *what);
void check_robust(const struct stmt *st, size_t at, const char *what, const char *name,
		  bool if_not);
void check_rollback_drop(const struct stmt *st, size_t at, const char *what, const char *table);

/* One rule function per statement; rule_copy reads COPY's arguments from
 * token i (1 for COPY, 0 for \copy's). */
void rule_create(struct stmt *st);
void rule_drop(struct stmt *st);
void rule_alter(struct stmt *st);
void rule_truncate(struct stmt *st);
void rule_dml(struct stmt *st);
void rule_copy(struct stmt *st, size_t i);
void rule_meta(struct stmt *st);
void rule_other_locks(struct stmt *st);

#endif
