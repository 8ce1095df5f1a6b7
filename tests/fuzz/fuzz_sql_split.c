/* fuzz_sql_split.c - a ```sql block read by the SQL lexer, and split into
 * statements by the executor (sql_split) and by the linter (sqllint_scan).
 *
 * Input: the block's text; it ends at the first NUL byte, as a C string does.
 * Checked: the lexer's tokens and statements lie in the text, in order, and
 * the statements start at their first token; the two splits agree (same
 * statements, lines, columns and text), and where the executor refuses the
 * block the linter saw why on the same line. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "base/sqllex.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "lint/sqllint.h"
#include "pg/pg.h"

static void check_lexer(const struct sqllex *lx, size_t size)
{
	size_t end = 0;
	int line = 1;

	for (size_t i = 0; i < lx->ntokens; i++) {
		const struct sql_token *t = &lx->tokens[i];
		if (t->offset < end || !t->len || t->offset + t->len > size || t->line < line ||
		    t->col < 1)
			abort();
		end = t->offset + t->len;
		line = t->line;
	}
	end = 0;
	for (size_t i = 0; i < lx->nstmts; i++) {
		const struct sql_statement *st = &lx->stmts[i];
		const struct sql_token *first = &lx->tokens[st->first];
		if (!st->ntokens || st->first + st->ntokens > lx->ntokens || st->offset < end ||
		    st->offset != first->offset || st->line != first->line ||
		    st->col != first->col || !st->len || st->offset + st->len > size ||
		    (st->meta && (st->ntokens != 1 || first->kind != SQL_TOKEN_META)))
			abort();
		end = st->offset + st->len;
	}
	if (lx->problem != SQLLEX_OK && (lx->problem_line < 1 || !lx->problem_len ||
					 lx->problem_offset + lx->problem_len > size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmemdupz(data, size);
	size_t len = strlen(text);
	struct strbuf err = STRBUF_INIT;
	struct sqllex lx = SQLLEX_INIT;
	struct sql_stmt *stmts = NULL;
	size_t n = 99;
	int err_line = -1;

	sqllint_scan(text, len, &lx);
	check_lexer(&lx, len);
	if (sql_split(text, &stmts, &n, &err_line, &err) < 0) {
		/* documented: no statements, a message and the line it concerns,
		 * which is the first meta-command's, else the problem's */
		int line = lx.problem != SQLLEX_OK ? lx.problem_line : 0;
		for (size_t i = lx.nstmts; i-- > 0;)
			if (lx.stmts[i].meta)
				line = lx.stmts[i].line;
		if (stmts || !err.len || err_line < 1 || err_line != line)
			abort();
	} else {
		if (err.len || (n && !stmts) || n != lx.nstmts || lx.problem != SQLLEX_OK)
			abort();
		for (size_t i = 0; i < n; i++) {
			const struct sql_statement *st = &lx.stmts[i];
			if (!stmts[i].keywords || stmts[i].line != st->line ||
			    stmts[i].column != st->col || strlen(stmts[i].text) != st->len ||
			    memcmp(stmts[i].text, text + st->offset, st->len))
				abort();
		}
	}
	sql_stmts_free(stmts, n);
	sqllex_release(&lx);
	strbuf_release(&err);
	free(text);
	return 0;
}
