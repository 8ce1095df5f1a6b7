/* sqllex.c - SQL text into tokens and statements, as psql reads it. */
#include "base/sqllex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"

struct scanner {
	struct sqllex *lx;
	const char *s;
	size_t len, i;
	int line, col; /* of s[i] */
};

/* ASCII classes by hand: the C library's depend on the locale, psql's
 * lexer does not. */
static bool is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool ident_cont(int c)
{
	return ident_start(c) || is_digit(c) || c == '$';
}

static int peek(const struct scanner *sc, size_t ahead)
{
	return sc->i + ahead < sc->len ? (unsigned char)sc->s[sc->i + ahead] : -1;
}

static void adv(struct scanner *sc)
{
	unsigned char c = (unsigned char)sc->s[sc->i++];

	if (c == '\n') {
		sc->line++;
		sc->col = 1;
	} else if ((c & 0xC0) != 0x80) {
		sc->col++;
	}
}

static void adv_n(struct scanner *sc, size_t n)
{
	while (n-- && sc->i < sc->len)
		adv(sc);
}

static void problem(struct scanner *sc, enum sqllex_problem what, int line, size_t offset,
		    size_t len)
{
	if (sc->lx->problem != SQLLEX_OK)
		return;
	sc->lx->problem = what;
	sc->lx->problem_line = line;
	sc->lx->problem_offset = offset;
	sc->lx->problem_len = len;
}

/* quoted reads '...' or "..." whose opening quote is at sc->i: a doubled
 * quote is a quote, and with backslash set (E'') a backslash escapes the
 * next byte.  Returns false when the text ends first. */
static bool quoted(struct scanner *sc, char q, bool backslash)
{
	adv(sc);
	while (sc->i < sc->len) {
		char c = sc->s[sc->i];
		if (backslash && c == '\\') {
			adv_n(sc, 2);
		} else if (c == q) {
			adv(sc);
			if (peek(sc, 0) != q)
				return true;
			adv(sc);
		} else {
			adv(sc);
		}
	}
	return false;
}

/* dollar_tag returns the length of a "$tag$" or "$$" delimiter at sc->i, or 0. */
static size_t dollar_tag(const struct scanner *sc)
{
	size_t k = 1;

	if (peek(sc, k) == '$')
		return 2;
	if (!ident_start(peek(sc, k)))
		return 0;
	while (ident_cont(peek(sc, k)) && peek(sc, k) != '$')
		k++;
	return peek(sc, k) == '$' ? k + 1 : 0;
}

/* block_comment skips a comment whose "/" "*" is at sc->i; they nest. */
static void block_comment(struct scanner *sc)
{
	size_t start = sc->i;
	int line = sc->line, depth = 0;

	while (sc->i < sc->len) {
		if (peek(sc, 0) == '/' && peek(sc, 1) == '*') {
			depth++;
			adv_n(sc, 2);
		} else if (peek(sc, 0) == '*' && peek(sc, 1) == '/') {
			adv_n(sc, 2);
			if (--depth == 0)
				return;
		} else {
			adv(sc);
		}
	}
	problem(sc, SQLLEX_UNTERMINATED_COMMENT, line, start, 2);
}

/* string reads a quoted token whose opening quote is prefix bytes after
 * the token's start (E'', U&"" ...). */
static void string(struct scanner *sc, struct sql_token *t, size_t prefix, bool backslash)
{
	char q;

	adv_n(sc, prefix);
	q = sc->s[sc->i];
	if (!quoted(sc, q, backslash)) {
		t->unterminated = true;
		problem(sc, q == '"' ? SQLLEX_UNTERMINATED_IDENT : SQLLEX_UNTERMINATED_STRING,
			t->line, t->offset, prefix + 1);
	}
}

static void dollar_quoted(struct scanner *sc, struct sql_token *t, size_t tag)
{
	const char *open = sc->s + sc->i;

	adv_n(sc, tag);
	while (sc->i < sc->len) {
		if (sc->s[sc->i] == '$' && sc->len - sc->i >= tag &&
		    !memcmp(sc->s + sc->i, open, tag)) {
			adv_n(sc, tag);
			return;
		}
		adv(sc);
	}
	t->unterminated = true;
	problem(sc, SQLLEX_UNTERMINATED_DOLLAR, t->line, t->offset, tag);
}

/* junk: letters right after a number or a $1 stay with it, '$'s included
 * (1a$b$ is one token to psql, 1$$ is a number and a dollar quote). */
static void junk(struct scanner *sc)
{
	if (ident_start(peek(sc, 0)))
		while (ident_cont(peek(sc, 0)))
			adv(sc);
}

static void digits(struct scanner *sc)
{
	while (is_digit(peek(sc, 0)))
		adv(sc);
}

static void number(struct scanner *sc)
{
	digits(sc);
	if (peek(sc, 0) == '.') {
		adv(sc);
		digits(sc);
	}
	if ((peek(sc, 0) == 'e' || peek(sc, 0) == 'E') &&
	    (is_digit(peek(sc, 1)) ||
	     ((peek(sc, 1) == '+' || peek(sc, 1) == '-') && is_digit(peek(sc, 2))))) {
		adv_n(sc, 2);
		digits(sc);
	}
	junk(sc);
}

/* token reads the token at sc->i (not a blank, not a comment). */
static void token(struct scanner *sc, struct sql_token *t)
{
	int c = peek(sc, 0), next = peek(sc, 1);
	size_t tag;

	if (c == '\\') {
		t->kind = SQL_TOKEN_META;
		while (sc->i < sc->len && sc->s[sc->i] != '\n')
			adv(sc);
	} else if (c == '\'' || c == '"') {
		t->kind = c == '"' ? SQL_TOKEN_QUOTED_IDENT : SQL_TOKEN_STRING;
		string(sc, t, 0, false);
	} else if ((c == 'E' || c == 'e') && next == '\'') {
		t->kind = SQL_TOKEN_STRING;
		string(sc, t, 1, true);
	} else if (c > 0 && strchr("BbXxNn", c) && next == '\'') {
		t->kind = SQL_TOKEN_STRING;
		string(sc, t, 1, false);
	} else if ((c == 'U' || c == 'u') && next == '&' &&
		   (peek(sc, 2) == '\'' || peek(sc, 2) == '"')) {
		t->kind = peek(sc, 2) == '\'' ? SQL_TOKEN_STRING : SQL_TOKEN_QUOTED_IDENT;
		string(sc, t, 2, false);
	} else if (c == '$' && is_digit(next)) {
		t->kind = SQL_TOKEN_PARAM;
		adv(sc);
		digits(sc);
		junk(sc);
	} else if (c == '$' && (tag = dollar_tag(sc)) != 0) {
		t->kind = SQL_TOKEN_DOLLAR;
		dollar_quoted(sc, t, tag);
	} else if (c == '$' && ident_start(next)) {
		/* a shell variable left in the text: $TABLE (a '$' in the name
		 * would have made it a dollar quote) */
		t->kind = SQL_TOKEN_PARAM;
		adv(sc);
		while (ident_cont(peek(sc, 0)))
			adv(sc);
	} else if (ident_start(c)) {
		t->kind = SQL_TOKEN_WORD;
		while (ident_cont(peek(sc, 0)))
			adv(sc);
	} else if (is_digit(c) || (c == '.' && is_digit(next))) {
		t->kind = SQL_TOKEN_NUMBER;
		number(sc);
	} else if (c == ':' && next == ':') {
		adv_n(sc, 2);
	} else if (c == ':' && (next == '\'' || next == '"')) {
		t->kind = SQL_TOKEN_PARAM;
		string(sc, t, 1, false);
	} else if (c == ':' && ident_start(next)) {
		t->kind = SQL_TOKEN_PARAM;
		adv(sc);
		while (ident_cont(peek(sc, 0)) && peek(sc, 0) != '$')
			adv(sc);
	} else {
		switch (c) {
		case '(': t->kind = SQL_TOKEN_LPAREN; break;
		case ')': t->kind = SQL_TOKEN_RPAREN; break;
		case ',': t->kind = SQL_TOKEN_COMMA; break;
		case ';': t->kind = SQL_TOKEN_SEMICOLON; break;
		case '.': t->kind = SQL_TOKEN_DOT; break;
		default: break;
		}
		adv(sc);
	}
	t->len = sc->i - t->offset;
}

static void tokenize(struct scanner *sc)
{
	struct sqllex *lx = sc->lx;

	while (sc->i < sc->len) {
		int c = peek(sc, 0), next = peek(sc, 1);

		if (is_space(c)) {
			adv(sc);
		} else if (c == '-' && next == '-') {
			while (sc->i < sc->len && sc->s[sc->i] != '\n')
				adv(sc);
		} else if (c == '/' && next == '*') {
			block_comment(sc);
		} else {
			struct sql_token t = { SQL_TOKEN_OPERATOR, sc->i, 0, sc->line, sc->col,
					       false };
			token(sc, &t);
			ALLOC_GROW(lx->tokens, lx->ntokens + 1, lx->alloc_tokens);
			lx->tokens[lx->ntokens++] = t;
		}
	}
}

/* ---------------------------------------------------------------------
 * Statements
 * ------------------------------------------------------------------- */

/* What psql keeps of the statement being read (psqlscan.l's state). */
struct splitting {
	size_t start;        /* its first token; SIZE_MAX: none yet */
	int paren_depth;
	int begin_depth;
	char identifiers[4]; /* first letters of CREATE [OR REPLACE] FUNCTION|PROCEDURE */
	int identifier_count;
};

/* track_word follows psql: inside CREATE [OR REPLACE] FUNCTION|PROCEDURE,
 * BEGIN (and CASE within it) ... END hide the semicolons of a SQL-standard
 * function body. */
static void track_word(struct splitting *sp, const char *text, const struct sql_token *t)
{
	static const char *const heads[] = { "create", "function", "procedure", "or", "replace",
					     NULL };
	char *id = sp->identifiers;

	if (sp->identifier_count < (int)sizeof(sp->identifiers))
		for (size_t k = 0; heads[k]; k++)
			if (sqllex_is_word(text, t, heads[k]))
				id[sp->identifier_count] = heads[k][0];
	sp->identifier_count++;
	if (id[0] != 'c' || sp->paren_depth != 0 ||
	    !(id[1] == 'f' || id[1] == 'p' ||
	      (id[1] == 'o' && id[2] == 'r' && (id[3] == 'f' || id[3] == 'p'))))
		return;
	if (sqllex_is_word(text, t, "begin"))
		sp->begin_depth++;
	else if (sqllex_is_word(text, t, "case") && sp->begin_depth >= 1)
		sp->begin_depth++;
	else if (sqllex_is_word(text, t, "end") && sp->begin_depth > 0)
		sp->begin_depth--;
}

/* push_statement adds tokens [start, end) as a statement whose text ends
 * at byte `stop` (the semicolon's end, or where it was cut off). */
static void push_statement(struct sqllex *lx, const char *text, size_t start, size_t end,
			   size_t stop, bool trim)
{
	const struct sql_token *first = &lx->tokens[start];
	struct sql_statement *st;

	while (trim && stop > first->offset && is_space((unsigned char)text[stop - 1]))
		stop--;
	ALLOC_GROW(lx->stmts, lx->nstmts + 1, lx->alloc_stmts);
	st = &lx->stmts[lx->nstmts++];
	st->first = start;
	st->ntokens = end - start;
	st->offset = first->offset;
	st->len = stop - first->offset;
	st->line = first->line;
	st->col = first->col;
	st->meta = first->kind == SQL_TOKEN_META;
}

static void split(struct sqllex *lx, const char *text, size_t len)
{
	struct splitting sp = { SIZE_MAX, 0, 0, { 0 }, 0 };
	const struct splitting fresh = sp;

	for (size_t i = 0; i < lx->ntokens; i++) {
		const struct sql_token *t = &lx->tokens[i];

		if (t->kind == SQL_TOKEN_META) {
			if (sp.start != SIZE_MAX)
				push_statement(lx, text, sp.start, i, t->offset, true);
			push_statement(lx, text, i, i + 1, t->offset + t->len, true);
			sp = fresh;
			continue;
		}
		if (sp.start == SIZE_MAX) {
			if (t->kind == SQL_TOKEN_SEMICOLON)
				continue; /* an empty statement */
			sp.start = i;
		}
		if (t->kind == SQL_TOKEN_LPAREN) {
			sp.paren_depth++;
		} else if (t->kind == SQL_TOKEN_RPAREN) {
			if (sp.paren_depth > 0)
				sp.paren_depth--;
		} else if (t->kind == SQL_TOKEN_WORD) {
			track_word(&sp, text, t);
		} else if (t->kind == SQL_TOKEN_SEMICOLON && sp.paren_depth == 0 &&
			   sp.begin_depth == 0) {
			push_statement(lx, text, sp.start, i, t->offset + t->len, false);
			sp = fresh;
		}
	}
	if (sp.start != SIZE_MAX)
		push_statement(lx, text, sp.start, lx->ntokens, len, true);
}

void sqllex_scan(struct sqllex *lx, const char *text, size_t len)
{
	struct scanner sc = { lx, text, len, 0, 1, 1 };

	tokenize(&sc);
	split(lx, text, len);
}

void sqllex_release(struct sqllex *lx)
{
	free(lx->tokens);
	free(lx->stmts);
	memset(lx, 0, sizeof(*lx));
}

void sqllex_describe(const struct sqllex *lx, const char *text, struct strbuf *out)
{
	switch (lx->problem) {
	case SQLLEX_OK:
		break;
	case SQLLEX_UNTERMINATED_COMMENT:
		strbuf_addstr(out, "unterminated /* comment");
		break;
	case SQLLEX_UNTERMINATED_STRING:
		strbuf_addstr(out, "unterminated quoted string");
		break;
	case SQLLEX_UNTERMINATED_IDENT:
		strbuf_addstr(out, "unterminated quoted identifier");
		break;
	case SQLLEX_UNTERMINATED_DOLLAR:
		strbuf_addstr(out, "unterminated dollar-quoted string ");
		strbuf_add(out, text + lx->problem_offset, lx->problem_len);
		break;
	}
}

bool sqllex_is_word(const char *text, const struct sql_token *t, const char *word)
{
	size_t len = strlen(word);

	return t->kind == SQL_TOKEN_WORD && t->len == len &&
	       !strncasecmp(text + t->offset, word, len);
}
