/* sqllint_tokens.c - SQL text into tokens and statements. */
#include "lint/sqllint_private.h"

#include <ctype.h>
#include <string.h>

#include "base/xalloc.h"

struct lexer {
	const char *s;
	size_t len, i;
	int line, col;
};

static void adv(struct lexer *lx)
{
	unsigned char c = (unsigned char)lx->s[lx->i++];
	if (c == '\n') {
		lx->line++;
		lx->col = 1;
	} else if ((c & 0xC0) != 0x80) {
		lx->col++;
	}
}

static void adv_n(struct lexer *lx, size_t n)
{
	while (n-- && lx->i < lx->len)
		adv(lx);
}

static int peek(const struct lexer *lx, size_t ahead)
{
	return lx->i + ahead < lx->len ? (unsigned char)lx->s[lx->i + ahead] : -1;
}

static bool ident_start(int c)
{
	return c >= 0 && (isalpha(c) || c == '_' || c >= 0x80);
}

static bool ident_char(int c)
{
	return ident_start(c) || (c >= 0 && isdigit(c)) || c == '$';
}

/* quoted reads '...' or "..." whose opening quote is at lx->i; a doubled
 * quote is a quote, a backslash escapes in E'' strings. */
static bool quoted(struct lexer *lx, char q, bool backslash)
{
	adv(lx);
	while (lx->i < lx->len) {
		char c = lx->s[lx->i];
		if (backslash && c == '\\') {
			adv_n(lx, 2);
		} else if (c == q) {
			adv(lx);
			if (peek(lx, 0) != q)
				return true;
			adv(lx);
		} else {
			adv(lx);
		}
	}
	return false;
}

/* dollar_tag returns the length of "$tag$" at lx->i, or 0. */
static size_t dollar_tag(const struct lexer *lx)
{
	size_t k = 1;
	if (peek(lx, k) == '$')
		return 2;
	if (!ident_start(peek(lx, k)))
		return 0;
	while (ident_char(peek(lx, k)) && peek(lx, k) != '$')
		k++;
	return peek(lx, k) == '$' ? k + 1 : 0;
}

static void push_token(struct sql_token **v, size_t *n, size_t *alloc, const struct sql_token *t)
{
	ALLOC_GROW(*v, *n + 1, *alloc);
	(*v)[(*n)++] = *t;
}

size_t sql_tokenize(const char *text, size_t len, struct sql_token **tokens)
{
	struct lexer lx = { text, len, 0, 1, 1 };
	struct sql_token *v = NULL;
	size_t n = 0, alloc = 0;

	while (lx.i < lx.len) {
		int c = peek(&lx, 0), next = peek(&lx, 1);
		struct sql_token t = { SQL_TOKEN_OPERATOR, lx.i, 0, lx.line, lx.col, false };

		if (isspace(c)) {
			adv(&lx);
			continue;
		}
		if (c == '-' && next == '-') {
			while (lx.i < lx.len && lx.s[lx.i] != '\n')
				adv(&lx);
			continue;
		}
		if (c == '/' && next == '*') {
			int depth = 0;
			while (lx.i < lx.len) {
				if (peek(&lx, 0) == '/' && peek(&lx, 1) == '*') {
					depth++;
					adv_n(&lx, 2);
				} else if (peek(&lx, 0) == '*' && peek(&lx, 1) == '/') {
					adv_n(&lx, 2);
					if (--depth == 0)
						break;
				} else {
					adv(&lx);
				}
			}
			continue;
		}
		if (c == '\\') {
			t.kind = SQL_TOKEN_META;
			while (lx.i < lx.len && lx.s[lx.i] != '\n')
				adv(&lx);
		} else if (c == '\'') {
			t.kind = SQL_TOKEN_STRING;
			t.unterminated = !quoted(&lx, '\'', false);
		} else if ((c == 'E' || c == 'e') && next == '\'') {
			t.kind = SQL_TOKEN_STRING;
			adv(&lx);
			t.unterminated = !quoted(&lx, '\'', true);
		} else if (strchr("BbXxNn", c) && next == '\'') {
			t.kind = SQL_TOKEN_STRING;
			adv(&lx);
			t.unterminated = !quoted(&lx, '\'', false);
		} else if ((c == 'U' || c == 'u') && next == '&' &&
			   (peek(&lx, 2) == '\'' || peek(&lx, 2) == '"')) {
			char q = (char)peek(&lx, 2);
			t.kind = q == '\'' ? SQL_TOKEN_STRING : SQL_TOKEN_QUOTED_IDENT;
			adv_n(&lx, 2);
			t.unterminated = !quoted(&lx, q, false);
		} else if (c == '"') {
			t.kind = SQL_TOKEN_QUOTED_IDENT;
			t.unterminated = !quoted(&lx, '"', false);
		} else if (c == '$' && next >= 0 && isdigit(next)) {
			t.kind = SQL_TOKEN_PARAM;
			adv(&lx);
			while (peek(&lx, 0) >= 0 && isdigit(peek(&lx, 0)))
				adv(&lx);
		} else if (c == '$' && dollar_tag(&lx)) {
			size_t tag = dollar_tag(&lx);
			const char *open = lx.s + lx.i;
			t.kind = SQL_TOKEN_DOLLAR;
			t.unterminated = true;
			adv_n(&lx, tag);
			while (lx.i < lx.len) {
				if (lx.s[lx.i] == '$' && lx.len - lx.i >= tag &&
				    !memcmp(lx.s + lx.i, open, tag)) {
					adv_n(&lx, tag);
					t.unterminated = false;
					break;
				}
				adv(&lx);
			}
		} else if (c == '$' && ident_start(next)) {
			/* a shell variable left in the text: $TABLE */
			t.kind = SQL_TOKEN_PARAM;
			adv(&lx);
			while (ident_char(peek(&lx, 0)) && peek(&lx, 0) != '$')
				adv(&lx);
		} else if (ident_start(c)) {
			t.kind = SQL_TOKEN_WORD;
			while (ident_char(peek(&lx, 0)))
				adv(&lx);
		} else if (isdigit(c) || (c == '.' && next >= 0 && isdigit(next))) {
			t.kind = SQL_TOKEN_NUMBER;
			for (int d = peek(&lx, 0); d >= 0 && (isalnum(d) || d == '.' || d == '_');
			     d = peek(&lx, 0)) {
				adv(&lx);
				if ((d == 'e' || d == 'E') && (peek(&lx, 0) == '+' || peek(&lx, 0) == '-'))
					adv(&lx);
			}
		} else if (c == ':' && next == ':') {
			adv_n(&lx, 2);
		} else if (c == ':' && (ident_start(next) || next == '\'' || next == '"')) {
			t.kind = SQL_TOKEN_PARAM;
			adv(&lx);
			if (next == '\'' || next == '"')
				t.unterminated = !quoted(&lx, (char)next, false);
			else
				while (ident_char(peek(&lx, 0)) && peek(&lx, 0) != '$')
					adv(&lx);
		} else {
			switch (c) {
			case '(': t.kind = SQL_TOKEN_LPAREN; break;
			case ')': t.kind = SQL_TOKEN_RPAREN; break;
			case ',': t.kind = SQL_TOKEN_COMMA; break;
			case ';': t.kind = SQL_TOKEN_SEMICOLON; break;
			case '.': t.kind = SQL_TOKEN_DOT; break;
			default: break;
			}
			adv(&lx);
		}
		t.len = lx.i - t.offset;
		push_token(&v, &n, &alloc, &t);
	}
	*tokens = v;
	return n;
}


size_t sql_statements(const char *text, const struct sql_token *tokens, size_t n,
		      struct sql_statement **stmts)
{
	struct sql_statement *v = NULL;
	size_t nr = 0, alloc = 0, start = 0;
	int parens = 0, atomic = 0;

	for (size_t i = 0; i <= n; i++) {
		bool end = i == n;
		bool meta = !end && tokens[i].kind == SQL_TOKEN_META;
		if (!end && !meta) {
			const struct sql_token *t = &tokens[i];
			if (t->kind == SQL_TOKEN_LPAREN)
				parens++;
			else if (t->kind == SQL_TOKEN_RPAREN && parens > 0)
				parens--;
			else if (token_is(text, t, "begin") && i + 1 < n &&
				 token_is(text, &tokens[i + 1], "atomic") &&
				 token_is(text, &tokens[start], "create"))
				atomic++;
			else if (atomic && token_is(text, t, "case"))
				atomic++;
			else if (atomic && token_is(text, t, "end"))
				atomic--;
			if (t->kind != SQL_TOKEN_SEMICOLON || parens > 0 || atomic > 0)
				continue;
		}
		if (i > start) {
			ALLOC_GROW(v, nr + 1, alloc);
			v[nr].first = start;
			v[nr].ntokens = i - start;
			nr++;
		}
		if (meta) {
			ALLOC_GROW(v, nr + 1, alloc);
			v[nr].first = i;
			v[nr].ntokens = 1;
			nr++;
		}
		start = i + 1;
		parens = 0;
		atomic = 0;
	}
	*stmts = v;
	return nr;
}
