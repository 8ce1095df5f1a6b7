/* split.c - a ```sql block split into the statements psql would send
 * (base/sqllex does the reading); what cannot be sent is refused. */
#include "pg/pg.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/sqllex.h"
#include "base/xalloc.h"

#define MAX_KEYWORDS 6
#define MAX_KEYWORD_LEN 63

/* keywords joins the first MAX_KEYWORDS words of a statement, lower-cased. */
static char *keywords(const char *text, const struct sqllex *lx, const struct sql_statement *st)
{
	struct strbuf sb = STRBUF_INIT;
	int n = 0;

	for (size_t i = st->first; i < st->first + st->ntokens && n < MAX_KEYWORDS; i++) {
		const struct sql_token *t = &lx->tokens[i];
		if (t->kind != SQL_TOKEN_WORD)
			continue;
		if (n++)
			strbuf_addch(&sb, ' ');
		for (size_t k = 0; k < t->len && k < MAX_KEYWORD_LEN; k++)
			strbuf_addch(&sb, (char)tolower((unsigned char)text[t->offset + k]));
	}
	return strbuf_detach(&sb, NULL);
}

static void refuse_meta_command(const char *text, const struct sql_statement *st,
				struct strbuf *err)
{
	const char *p = text + st->offset;
	size_t n = 1;

	while (n < st->len && !isspace((unsigned char)p[n]) && n < 32)
		n++;
	strbuf_addf(err, "line %d: psql meta-command \"", st->line);
	strbuf_add(err, p, n);
	strbuf_addstr(err, "\" is not SQL; run it in a bash block with psql");
}

int sql_split(const char *text, struct sql_stmt **stmts, size_t *n, int *err_line,
	      struct strbuf *err)
{
	struct sqllex lx = SQLLEX_INIT;
	int line = 0;

	*stmts = NULL;
	*n = 0;
	sqllex_scan(&lx, text, strlen(text));
	/* a meta-command comes before any problem: a problem swallows the rest */
	for (size_t i = 0; i < lx.nstmts && !line; i++)
		if (lx.stmts[i].meta) {
			refuse_meta_command(text, &lx.stmts[i], err);
			line = lx.stmts[i].line;
		}
	if (!line && lx.problem != SQLLEX_OK) {
		line = lx.problem_line;
		strbuf_addf(err, "line %d: ", line);
		sqllex_describe(&lx, text, err);
	}
	if (line) {
		if (err_line)
			*err_line = line;
		sqllex_release(&lx);
		return -1;
	}
	if (lx.nstmts)
		*stmts = xcalloc(lx.nstmts, sizeof(**stmts));
	for (size_t i = 0; i < lx.nstmts; i++) {
		const struct sql_statement *st = &lx.stmts[i];
		(*stmts)[i].text = xmemdupz(text + st->offset, st->len);
		(*stmts)[i].line = st->line;
		(*stmts)[i].column = st->col;
		(*stmts)[i].keywords = keywords(text, &lx, st);
	}
	*n = lx.nstmts;
	sqllex_release(&lx);
	return 0;
}

void sql_stmts_free(struct sql_stmt *stmts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(stmts[i].text);
		free(stmts[i].keywords);
	}
	free(stmts);
}
