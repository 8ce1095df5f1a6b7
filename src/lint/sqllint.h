/* sqllint.h - lock-safety lint for the SQL a runbook runs.
 *
 * The SQL comes from ```sql blocks, which runbook runs itself over libpq
 * with a lock_timeout guard rail, and from shell blocks that call psql
 * (`psql -c "..."`, `--command=...`, here-documents, here-strings, and
 * `cat <<EOF | psql`), which run without one.  Findings are added to a
 * diag_list as `FILE:LINE:COL` diagnostics pointing at the statement (or
 * ALTER TABLE action) in the Markdown file; docs/lint-rules.md lists every
 * rule.
 *
 * Feed the blocks of one runbook in the order they run, through one
 * `struct sqllint`, because what earlier blocks did matters: a table created
 * earlier in the runbook is new (no one else uses it, no lock matters), a
 * table dumped earlier is backed up, a PGOPTIONS exported earlier carries a
 * lock_timeout to every later psql:
 *
 *	struct sqllint *l = sqllint_new(rb->path, &rb->diags);
 *	sqllint_sql(l, block->text, block->text_line, block->col, 0);
 *	sqllint_shell(l, other->text, other->text_line, other->col, SQLLINT_ROLLBACK);
 *	sqllint_free(l);
 *
 * Findings are not filtered: the caller applies `check=off:` attributes and
 * `<!-- runbook: off -->` pragmas.  Nothing here prints or exits; none of it
 * can fail.
 *
 * The tokenizer underneath is public for tests and other linters: it knows
 * `--` and nested block comments, '...' with '', E'...' with backslash
 * escapes, "quoted identifiers", $$...$$ and $tag$...$tag$ bodies, and psql
 * backslash meta-commands, so that SQL quoted, commented out or inside a
 * function body is never mistaken for a statement.
 */
#ifndef RUNBOOK_SQLLINT_H
#define RUNBOOK_SQLLINT_H

#include <stdbool.h>
#include <stddef.h>

#include "model/diag.h"

/* ---------------------------------------------------------------------
 * Tokens
 * ------------------------------------------------------------------- */

enum sql_token_kind {
	SQL_TOKEN_WORD,         /* keyword or unquoted identifier: users, CREATE, a$b */
	SQL_TOKEN_QUOTED_IDENT, /* "Quoted ""ident""" */
	SQL_TOKEN_STRING,       /* 'x', E'x', B'01', X'ff', N'x', U&'x' */
	SQL_TOKEN_DOLLAR,       /* $$body$$, $tag$body$tag$ */
	SQL_TOKEN_NUMBER,       /* 42, 1.5e3, .5 */
	SQL_TOKEN_PARAM,        /* $1, and psql variables :name :'name' :"name" */
	SQL_TOKEN_LPAREN,
	SQL_TOKEN_RPAREN,
	SQL_TOKEN_COMMA,
	SQL_TOKEN_SEMICOLON,
	SQL_TOKEN_DOT,
	SQL_TOKEN_OPERATOR, /* any other character: = < > + - * / :: [ ] ... */
	SQL_TOKEN_META,     /* a psql meta-command, from its backslash to the end of the line */
};

struct sql_token {
	enum sql_token_kind kind;
	size_t offset, len; /* the token's bytes in the text, quotes and tags included */
	int line;           /* 1-based line in the text */
	int col;            /* 1-based column in the text, in characters */
	bool unterminated;  /* a string, identifier, comment or dollar quote that never ends */
};

/* sql_tokenize splits len bytes of text into tokens, comments and blanks
 * dropped (an unterminated block comment swallows the rest silently).
 * Returns the number of tokens and sets *tokens (free() it; NULL when 0). */
size_t sql_tokenize(const char *text, size_t len, struct sql_token **tokens);

/* A statement: tokens [first, first + ntokens) of a sql_tokenize() result,
 * without its semicolon.  A psql meta-command is a statement of its own. */
struct sql_statement {
	size_t first, ntokens;
};

/* sql_statements splits the n tokens of text into statements the way psql
 * does: semicolons inside parentheses or a BEGIN ATOMIC ... END body do not
 * end one; empty statements are dropped.  Returns the count and sets *stmts
 * (free() it; NULL when 0). */
size_t sql_statements(const char *text, const struct sql_token *tokens, size_t n,
		      struct sql_statement **stmts);

/* ---------------------------------------------------------------------
 * Lint
 * ------------------------------------------------------------------- */

enum sqllint_flags {
	SQLLINT_ROLLBACK = 1 << 0, /* the block undoes the migration (rollback section or a
				      step's own rollback) */
};

struct sqllint;

/* sqllint_new starts linting one runbook: findings name path and go to out,
 * which must outlive the linter.  Free with sqllint_free(). */
struct sqllint *sqllint_new(const char *path, struct diag_list *out);
void sqllint_free(struct sqllint *lint);

/* sqllint_sql lints text, the contents of a ```sql block, whose first
 * character sits at file line `line`, column `col`.  flags: enum
 * sqllint_flags. */
void sqllint_sql(struct sqllint *lint, const char *text, int line, int col, unsigned flags);

/* sqllint_shell lints the psql calls of text, a shell script (a bash block
 * or one console command), and remembers its backups (pg_dump, \copy ...
 * to) and PGOPTIONS.  Positions as for sqllint_sql(); a console command's
 * continuation lines are taken to start at the same column as its first. */
void sqllint_shell(struct sqllint *lint, const char *text, int line, int col, unsigned flags);

#endif
