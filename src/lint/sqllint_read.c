/* sqllint_read.c - reading a statement's tokens: names, keywords, clauses,
 * and findings reported at a token. */
#include "lint/sqllint_private.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>

#include "base/strbuf.h"

/* ident returns token i as a name: lower case unless quoted. */
static char *ident(const struct stmt *st, size_t i)
{
	const struct sql_token *t = &st->t[i];
	const char *s = st->sql + t->offset;
	struct strbuf b = STRBUF_INIT;

	if (t->kind == SQL_TOKEN_QUOTED_IDENT) {
		size_t from = s[0] == '"' ? 1 : 3; /* "x" or U&"x" */
		for (size_t k = from; k < t->len; k++) {
			if (s[k] == '"' && k + 1 < t->len && s[k + 1] == '"')
				k++;
			else if (s[k] == '"')
				break;
			strbuf_addch(&b, s[k]);
		}
	} else {
		for (size_t k = 0; k < t->len; k++)
			strbuf_addch(&b, tolower((unsigned char)s[k]));
	}
	return strbuf_detach(&b, NULL);
}

/* placeholder: a template's {{NAME}}, which stands for one identifier */
static bool placeholder(const struct stmt *st, size_t i)
{
	return op_is(st, i, '{') && op_is(st, i + 1, '{') && kind(st, i + 2, SQL_TOKEN_WORD) &&
	       op_is(st, i + 3, '}') && op_is(st, i + 4, '}');
}

bool stmt_is_name(const struct stmt *st, size_t i)
{
	return kind(st, i, SQL_TOKEN_WORD) || kind(st, i, SQL_TOKEN_QUOTED_IDENT) ||
	       kind(st, i, SQL_TOKEN_PARAM) || placeholder(st, i);
}

/* stmt_one_name reads one identifier at *i and returns it (free() it), or NULL
 * when there is none.  Pieces written without a blank between them make one
 * name: a template's {{TABLE}}_idx, a script's ${T}_old. */
char *stmt_one_name(const struct stmt *st, size_t *i)
{
	struct strbuf b = STRBUF_INIT;
	size_t end = 0;
	bool any = false;

	while (stmt_is_name(st, *i) && (!any || st->t[*i].offset == end)) {
		size_t last = *i;
		if (placeholder(st, *i)) {
			const struct sql_token *w = &st->t[*i + 2];
			strbuf_addf(&b, "{{%.*s}}", (int)w->len, st->sql + w->offset);
			last = *i + 4;
		} else {
			char *piece = ident(st, *i);
			strbuf_addstr(&b, piece);
			free(piece);
		}
		end = st->t[last].offset + st->t[last].len;
		*i = last + 1;
		any = true;
	}
	if (!any) {
		strbuf_release(&b);
		return NULL;
	}
	return strbuf_detach(&b, NULL);
}

/* stmt_name_at reads a name, schema-qualified or not, at *i and returns its last
 * part (free() it), or NULL when there is none. */
char *stmt_name_at(const struct stmt *st, size_t *i)
{
	char *name = NULL;
	while (stmt_is_name(st, *i)) {
		free(name);
		name = stmt_one_name(st, i);
		if (!kind(st, *i, SQL_TOKEN_DOT))
			break;
		(*i)++;
	}
	return name;
}

/* stmt_skip_parens moves *i past the group whose '(' is at *i. */
void stmt_skip_parens(const struct stmt *st, size_t *i)
{
	int depth = 0;
	for (; *i < st->n; (*i)++) {
		if (st->t[*i].kind == SQL_TOKEN_LPAREN)
			depth++;
		else if (st->t[*i].kind == SQL_TOKEN_RPAREN && --depth == 0) {
			(*i)++;
			return;
		}
	}
}

/* stmt_find_kw finds word at parenthesis depth 0 in [from, to); returns to if absent. */
size_t stmt_find_kw(const struct stmt *st, size_t from, size_t to, const char *word)
{
	int depth = 0;
	for (size_t i = from; i < to; i++) {
		if (st->t[i].kind == SQL_TOKEN_LPAREN)
			depth++;
		else if (st->t[i].kind == SQL_TOKEN_RPAREN)
			depth--;
		else if (!depth && kw(st, i, word))
			return i;
	}
	return to;
}

bool stmt_is_new_table(const struct stmt *st, const char *table)
{
	return table && strset_has(&st->lint->new_tables, table);
}

bool stmt_backed_up(const struct stmt *st, const char *table)
{
	return st->lint->backup_all || (table && strset_has(&st->lint->backed_up, table));
}

/* session_atomic: the statement runs inside a transaction, so a failure leaves
 * nothing half done and a re-run starts from scratch. */
bool session_atomic(const struct session *ss)
{
	return ss->in_tx || ss->single_tx || ss->implicit_tx;
}

void stmt_report(const struct stmt *st, size_t i, enum diag_severity sev, const char *rule,
		 const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;
	int line, col;

	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	source_position(st->ss->src, st->t[i < st->n ? i : 0].offset, &line, &col);
	diag_add(st->lint->out, st->lint->path, line, col, sev, rule, "%s", msg.buf);
	strbuf_release(&msg);
}

static const char *const clause_words[] = {
	"where", "join", "inner", "left", "right", "full", "cross", "on", "group", "order",
	"limit", "offset", "union", "except", "intersect", "natural", "using", "having",
	"window", "for", "fetch", "returning", "to", "lateral", "as", "with", "set", NULL,
};

static bool is_clause_word(const struct stmt *st, size_t i)
{
	for (size_t k = 0; clause_words[k]; k++)
		if (kw(st, i, clause_words[k]))
			return true;
	return false;
}

/* stmt_note_sources marks as backed up every table read in [from, to): after
 * FROM and JOIN, in comma lists, and after TABLE. */
void stmt_note_sources(const struct stmt *st, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		bool table_kw = kw(st, i, "table") && i > from &&
				(kw(st, i - 1, "as") || kind(st, i - 1, SQL_TOKEN_LPAREN));
		if (!kw(st, i, "from") && !kw(st, i, "join") && !table_kw)
			continue;
		size_t k = i + 1;
		for (;;) {
			while (kw(st, k, "only") || kw(st, k, "lateral"))
				k++;
			if (!stmt_is_name(st, k) || is_clause_word(st, k))
				break;
			char *name = stmt_name_at(st, &k);
			strset_add(&st->lint->backed_up, name);
			free(name);
			if (kw(st, k, "as"))
				k++;
			if (stmt_is_name(st, k) && !is_clause_word(st, k))
				k++;
			if (!kind(st, k, SQL_TOKEN_COMMA))
				break;
			k++;
		}
	}
}

