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
 * The SQL is read by base/sqllex.h, the lexer the executor splits blocks
 * with, so that SQL quoted, commented out or inside a function body is
 * never mistaken for a statement, and a block is linted statement by
 * statement exactly as it will be sent; sqllint_scan() shows what is read.
 */
#ifndef RUNBOOK_SQLLINT_H
#define RUNBOOK_SQLLINT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/sqllex.h"
#include "model/diag.h"

/* ---------------------------------------------------------------------
 * What the lint reads
 * ------------------------------------------------------------------- */

/* sqllint_scan reads len bytes of SQL into lx (SQLLEX_INIT or released;
 * release it with sqllex_release()) exactly as sqllint_sql() and the psql
 * calls of sqllint_shell() read them before their rules look: the tokens
 * and the statements the rules are given (base/sqllex.h).  An unclosed
 * quote or comment is read past, never refused. */
void sqllint_scan(const char *text, size_t len, struct sqllex *lx);

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
