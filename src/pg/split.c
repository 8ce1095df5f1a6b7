/* split.c - a ```sql block split into statements as psql splits it. */
#include "pg/pg.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* The rules follow psql's lexer (psqlscan.l): what hides a semicolon there
 * hides it here, so a block splits where psql would split it. */

struct splitter {
	const char *text;
	size_t i;
	int line, col; /* of text[i] */
	struct strbuf *err;
	int err_line;
};

static bool ident_start(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch >= 0x80;
}

static bool ident_cont(unsigned char ch)
{
	return ident_start(ch) || (ch >= '0' && ch <= '9') || ch == '$';
}

static void advance(struct splitter *s)
{
	unsigned char ch = (unsigned char)s->text[s->i++];

	if (ch == '\n') {
		s->line++;
		s->col = 1;
	} else if ((ch & 0xC0) != 0x80) {
		s->col++;
	}
}

static int split_error(struct splitter *s, int line, const char *what)
{
	s->err_line = line;
	strbuf_addf(s->err, "line %d: %s", line, what);
	return -1;
}

static int skip_block_comment(struct splitter *s)
{
	int line = s->line, depth = 0;

	do {
		const char *p = s->text + s->i;
		if (!*p)
			return split_error(s, line, "unterminated /* comment");
		if (p[0] == '/' && p[1] == '*') {
			depth++;
			advance(s);
		} else if (p[0] == '*' && p[1] == '/') {
			depth--;
			advance(s);
		}
		advance(s);
	} while (depth > 0);
	return 0;
}

/* skip_quoted skips '...' (backslash escapes too when escapes is set) or
 * "...", with the quote doubled inside. */
static int skip_quoted(struct splitter *s, char quote, bool escapes)
{
	int line = s->line;

	advance(s);
	for (;;) {
		char ch = s->text[s->i];
		if (!ch)
			return split_error(s, line, quote == '"' ? "unterminated quoted identifier"
								 : "unterminated quoted string");
		if (ch == quote) {
			advance(s);
			if (s->text[s->i] != quote)
				return 0;
		} else if (escapes && ch == '\\' && s->text[s->i + 1]) {
			advance(s);
		}
		advance(s);
	}
}

/* dollar_tag returns the length of a $tag$ or $$ delimiter at p, or 0. */
static size_t dollar_tag(const char *p)
{
	size_t n = 1;

	if (p[n] == '$')
		return 2;
	if (!ident_start((unsigned char)p[n]) || p[n] == '$')
		return 0;
	while (ident_cont((unsigned char)p[n]) && p[n] != '$')
		n++;
	return p[n] == '$' ? n + 1 : 0;
}

static int skip_dollar_quoted(struct splitter *s, size_t taglen)
{
	int line = s->line;
	const char *tag = s->text + s->i;
	char *needle = xmemdupz(tag, taglen);
	const char *end = strstr(tag + taglen, needle);

	if (!end) {
		struct strbuf what = STRBUF_INIT;
		strbuf_addf(&what, "unterminated dollar-quoted string %s", needle);
		split_error(s, line, what.buf);
		strbuf_release(&what);
		free(needle);
		return -1;
	}
	free(needle);
	while (s->text + s->i < end + taglen)
		advance(s);
	return 0;
}

static int refuse_meta_command(struct splitter *s)
{
	struct strbuf what = STRBUF_INIT;
	const char *p = s->text + s->i;
	size_t n = 1;

	while (p[n] && !isspace((unsigned char)p[n]) && n < 32)
		n++;
	strbuf_addstr(&what, "psql meta-command \"");
	strbuf_add(&what, p, n);
	strbuf_addstr(&what, "\" is not SQL; run it in a bash block with psql");
	split_error(s, s->line, what.buf);
	strbuf_release(&what);
	return -1;
}

struct stmt_state {
	bool started;
	size_t start;
	int line, col;
	int paren_depth, begin_depth;
	char identifiers[4]; /* first letters of CREATE [OR REPLACE] FUNCTION|PROCEDURE */
	int identifier_count;
	struct strbuf keywords;
	int nkeywords;
};

/* track_word follows psql: inside CREATE [OR REPLACE] FUNCTION|PROCEDURE,
 * BEGIN (and CASE within it) ... END hide semicolons of a SQL-standard
 * function body. */
static void track_word(struct stmt_state *st, const char *word, size_t len)
{
	char lower[64];
	size_t n = len < sizeof(lower) - 1 ? len : sizeof(lower) - 1;

	for (size_t i = 0; i < n; i++)
		lower[i] = (char)tolower((unsigned char)word[i]);
	lower[n] = '\0';

	if (st->identifier_count == 0)
		memset(st->identifiers, 0, sizeof(st->identifiers));
	if (!strcmp(lower, "create") || !strcmp(lower, "function") || !strcmp(lower, "procedure") ||
	    !strcmp(lower, "or") || !strcmp(lower, "replace")) {
		if (st->identifier_count < (int)sizeof(st->identifiers))
			st->identifiers[st->identifier_count] = lower[0];
	}
	st->identifier_count++;
	if (st->identifiers[0] == 'c' &&
	    (st->identifiers[1] == 'f' || st->identifiers[1] == 'p' ||
	     (st->identifiers[1] == 'o' && st->identifiers[2] == 'r' &&
	      (st->identifiers[3] == 'f' || st->identifiers[3] == 'p'))) &&
	    st->paren_depth == 0) {
		if (!strcmp(lower, "begin"))
			st->begin_depth++;
		else if (!strcmp(lower, "case") && st->begin_depth >= 1)
			st->begin_depth++;
		else if (!strcmp(lower, "end") && st->begin_depth > 0)
			st->begin_depth--;
	}
	if (st->nkeywords < 6) {
		if (st->keywords.len)
			strbuf_addch(&st->keywords, ' ');
		strbuf_addstr(&st->keywords, lower);
		st->nkeywords++;
	}
}

static void push_statement(struct sql_stmt **items, size_t *nr, size_t *alloc, struct stmt_state *st,
			   const char *text, size_t end)
{
	size_t len = end - st->start;
	const char *p = text + st->start;

	while (len && isspace((unsigned char)p[len - 1]))
		len--;
	if (len) {
		ALLOC_GROW(*items, *nr + 1, *alloc);
		(*items)[*nr].text = xmemdupz(p, len);
		(*items)[*nr].line = st->line;
		(*items)[*nr].column = st->col;
		(*items)[*nr].keywords = strbuf_detach(&st->keywords, NULL);
		(*nr)++;
	}
	strbuf_release(&st->keywords);
	memset(st, 0, sizeof(*st));
	strbuf_init(&st->keywords, 0);
}

int sql_split(const char *text, struct sql_stmt **stmts, size_t *n, int *err_line, struct strbuf *err)
{
	struct splitter s = { .text = text, .line = 1, .col = 1, .err = err };
	struct stmt_state st;
	struct sql_stmt *items = NULL;
	size_t nr = 0, alloc = 0;

	memset(&st, 0, sizeof(st));
	strbuf_init(&st.keywords, 0);
	*stmts = NULL;
	*n = 0;
	while (text[s.i]) {
		unsigned char ch = (unsigned char)text[s.i], next = (unsigned char)text[s.i + 1];

		if (isspace(ch)) {
			advance(&s);
			continue;
		}
		if (ch == '-' && next == '-') {
			while (text[s.i] && text[s.i] != '\n')
				advance(&s);
			continue;
		}
		if (ch == '/' && next == '*') {
			if (skip_block_comment(&s) < 0)
				goto fail;
			continue;
		}
		if (ch == ';' && !st.started) {
			advance(&s); /* an empty statement */
			continue;
		}
		if (!st.started) {
			st.started = true;
			st.start = s.i;
			st.line = s.line;
			st.col = s.col;
		}
		if (ch == ';') {
			if (st.paren_depth == 0 && st.begin_depth == 0) {
				advance(&s);
				push_statement(&items, &nr, &alloc, &st, text, s.i);
				continue;
			}
			advance(&s);
		} else if (ch == '\'') {
			if (skip_quoted(&s, '\'', false) < 0)
				goto fail;
		} else if (ch == '"') {
			if (skip_quoted(&s, '"', false) < 0)
				goto fail;
		} else if (ch == '$') {
			size_t taglen = dollar_tag(text + s.i);
			if (!taglen)
				advance(&s);
			else if (skip_dollar_quoted(&s, taglen) < 0)
				goto fail;
		} else if (ch == '\\') {
			refuse_meta_command(&s);
			goto fail;
		} else if (ch == '(') {
			st.paren_depth++;
			advance(&s);
		} else if (ch == ')') {
			if (st.paren_depth > 0)
				st.paren_depth--;
			advance(&s);
		} else if (ident_start(ch)) {
			size_t start = s.i, len;
			while (ident_cont((unsigned char)text[s.i]))
				advance(&s);
			len = s.i - start;
			if (len == 1 && (ch == 'e' || ch == 'E') && text[s.i] == '\'') {
				if (skip_quoted(&s, '\'', true) < 0)
					goto fail;
			} else {
				track_word(&st, text + start, len);
			}
		} else if (ch >= '0' && ch <= '9') {
			while (ident_cont((unsigned char)text[s.i]) || text[s.i] == '.')
				advance(&s);
		} else {
			advance(&s);
		}
	}
	if (st.started)
		push_statement(&items, &nr, &alloc, &st, text, s.i);
	strbuf_release(&st.keywords);
	*stmts = items;
	*n = nr;
	return 0;

fail:
	strbuf_release(&st.keywords);
	sql_stmts_free(items, nr);
	if (err_line)
		*err_line = s.err_line;
	return -1;
}

void sql_stmts_free(struct sql_stmt *stmts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(stmts[i].text);
		free(stmts[i].keywords);
	}
	free(stmts);
}

