/* sqllint.c - lock-safety lint for the SQL a runbook runs. */
#include "lint/sqllint.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lint/shscan.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

/* ---------------------------------------------------------------------
 * Tokenizer
 * ------------------------------------------------------------------- */

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

static bool token_is(const char *text, const struct sql_token *t, const char *word)
{
	size_t len = strlen(word);
	return t->kind == SQL_TOKEN_WORD && t->len == len &&
	       !strncasecmp(text + t->offset, word, len);
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

/* ---------------------------------------------------------------------
 * Lint: state
 * ------------------------------------------------------------------- */

/* A set of strings: items in the order they were added, and a hash table
 * of their indexes (+ 1; 0 is an empty slot) so that a runbook adding
 * thousands of columns stays linear. */
struct strset {
	char **items;
	size_t nr, alloc;
	size_t *slots;
	size_t nslots; /* 0 or a power of two, at least twice nr */
};

static size_t hash(const char *v)
{
	size_t h = 2166136261u;
	for (; *v; v++)
		h = (h ^ (unsigned char)*v) * 16777619u;
	return h;
}

static bool set_has(const struct strset *s, const char *v)
{
	if (!v || !s->nslots)
		return false;
	for (size_t h = hash(v) & (s->nslots - 1); s->slots[h]; h = (h + 1) & (s->nslots - 1))
		if (!strcmp(s->items[s->slots[h] - 1], v))
			return true;
	return false;
}

static void slot_insert(struct strset *s, size_t index)
{
	size_t h = hash(s->items[index]) & (s->nslots - 1);
	while (s->slots[h])
		h = (h + 1) & (s->nslots - 1);
	s->slots[h] = index + 1;
}

static void set_add(struct strset *s, const char *v)
{
	if (!v || set_has(s, v))
		return;
	ALLOC_GROW(s->items, s->nr + 1, s->alloc);
	s->items[s->nr++] = xstrdup(v);
	if (s->nr * 2 > s->nslots) {
		free(s->slots);
		s->nslots = s->nslots ? s->nslots * 2 : 16;
		s->slots = xcalloc(s->nslots, sizeof(*s->slots));
		for (size_t i = 0; i < s->nr; i++)
			slot_insert(s, i);
	} else {
		slot_insert(s, s->nr - 1);
	}
}

static void set_clear(struct strset *s)
{
	for (size_t i = 0; i < s->nr; i++)
		free(s->items[i]);
	s->nr = 0;
	if (s->nslots)
		memset(s->slots, 0, s->nslots * sizeof(*s->slots));
}

static void set_free(struct strset *s)
{
	set_clear(s);
	free(s->items);
	free(s->slots);
}

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

struct sqllint *sqllint_new(const char *path, struct diag_list *out)
{
	struct sqllint *l = xcalloc(1, sizeof(*l));
	l->path = path;
	l->out = out;
	return l;
}

void sqllint_free(struct sqllint *l)
{
	if (!l)
		return;
	set_free(&l->new_tables);
	set_free(&l->new_columns);
	set_free(&l->new_indexes);
	set_free(&l->backed_up);
	set_free(&l->not_null_checked);
	set_free(&l->not_null_pending);
	free(l);
}

static void position(struct source *src, size_t off, int *line, int *col)
{
	size_t at = src->map ? src->map[off] : off;
	size_t k = 0;
	int l = 0, c = 0;
	if (at >= src->seen_at) {
		k = src->seen_at;
		l = src->seen_line;
		c = src->seen_col;
	}
	for (; k < at && src->script[k]; k++) {
		if (src->script[k] == '\n') {
			l++;
			c = 0;
		} else if (((unsigned char)src->script[k] & 0xC0) != 0x80) {
			c++;
		}
	}
	src->seen_at = k;
	src->seen_line = l;
	src->seen_col = c;
	*line = src->line + l;
	*col = src->col + c;
}

/* ---------------------------------------------------------------------
 * Lint: reading a statement
 * ------------------------------------------------------------------- */

struct stmt {
	const struct sql_token *t;
	size_t n;
	const char *sql;
	struct sqllint *lint;
	struct session *ss;
};

static bool kw(const struct stmt *st, size_t i, const char *word)
{
	return i < st->n && token_is(st->sql, &st->t[i], word);
}

static bool kw2(const struct stmt *st, size_t i, const char *a, const char *b)
{
	return kw(st, i, a) && kw(st, i + 1, b);
}

static bool kind(const struct stmt *st, size_t i, enum sql_token_kind k)
{
	return i < st->n && st->t[i].kind == k;
}

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

static bool op_is(const struct stmt *st, size_t i, char c)
{
	return kind(st, i, SQL_TOKEN_OPERATOR) && st->t[i].len == 1 && st->sql[st->t[i].offset] == c;
}

/* placeholder: a template's {{NAME}}, which stands for one identifier */
static bool placeholder(const struct stmt *st, size_t i)
{
	return op_is(st, i, '{') && op_is(st, i + 1, '{') && kind(st, i + 2, SQL_TOKEN_WORD) &&
	       op_is(st, i + 3, '}') && op_is(st, i + 4, '}');
}

static bool is_name(const struct stmt *st, size_t i)
{
	return kind(st, i, SQL_TOKEN_WORD) || kind(st, i, SQL_TOKEN_QUOTED_IDENT) ||
	       kind(st, i, SQL_TOKEN_PARAM) || placeholder(st, i);
}

/* one_name reads one identifier at *i and returns it (free() it), or NULL
 * when there is none.  Pieces written without a blank between them make one
 * name: a template's {{TABLE}}_idx, a script's ${T}_old. */
static char *one_name(const struct stmt *st, size_t *i)
{
	struct strbuf b = STRBUF_INIT;
	size_t end = 0;
	bool any = false;

	while (is_name(st, *i) && (!any || st->t[*i].offset == end)) {
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

/* name_at reads a name, schema-qualified or not, at *i and returns its last
 * part (free() it), or NULL when there is none. */
static char *name_at(const struct stmt *st, size_t *i)
{
	char *name = NULL;
	while (is_name(st, *i)) {
		free(name);
		name = one_name(st, i);
		if (!kind(st, *i, SQL_TOKEN_DOT))
			break;
		(*i)++;
	}
	return name;
}

/* skip_parens moves *i past the group whose '(' is at *i. */
static void skip_parens(const struct stmt *st, size_t *i)
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

/* find_kw finds word at parenthesis depth 0 in [from, to); returns to if absent. */
static size_t find_kw(const struct stmt *st, size_t from, size_t to, const char *word)
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

static bool is_new_table(const struct stmt *st, const char *table)
{
	return table && set_has(&st->lint->new_tables, table);
}

static bool backed_up(const struct stmt *st, const char *table)
{
	return st->lint->backup_all || (table && set_has(&st->lint->backed_up, table));
}

/* atomic: the statement runs inside a transaction, so a failure leaves
 * nothing half done and a re-run starts from scratch. */
static bool atomic(const struct session *ss)
{
	return ss->in_tx || ss->single_tx || ss->implicit_tx;
}

static void report(const struct stmt *st, size_t i, enum diag_severity sev, const char *rule,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report(const struct stmt *st, size_t i, enum diag_severity sev, const char *rule,
		   const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;
	int line, col;

	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	position(st->ss->src, st->t[i < st->n ? i : 0].offset, &line, &col);
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

/* note_sources marks as backed up every table read in [from, to): after
 * FROM and JOIN, in comma lists, and after TABLE. */
static void note_sources(const struct stmt *st, size_t from, size_t to)
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
			if (!is_name(st, k) || is_clause_word(st, k))
				break;
			char *name = name_at(st, &k);
			set_add(&st->lint->backed_up, name);
			free(name);
			if (kw(st, k, "as"))
				k++;
			if (is_name(st, k) && !is_clause_word(st, k))
				k++;
			if (!kind(st, k, SQL_TOKEN_COMMA))
				break;
			k++;
		}
	}
}

/* ---------------------------------------------------------------------
 * Lint: the checks shared by several statements
 * ------------------------------------------------------------------- */

static void lock_taking(const struct stmt *st, size_t at, const char *what, const char *table)
{
	const struct session *ss = st->ss;
	if (is_new_table(st, table) || ss->lock_timeout || ss->local_lock_timeout)
		return;
	if (ss->shell)
		report(st, at, DIAG_WARNING, "require-lock-timeout",
		       "%s%s%s through psql has no lock_timeout: while it waits for its lock, every "
		       "query on the table queues behind it; SET lock_timeout first, or export "
		       "PGOPTIONS='-c lock_timeout=3s'",
		       what, table ? " " : "", table ? table : "");
	else
		report(st, at, DIAG_WARNING, "require-lock-timeout",
		       "%s%s%s runs after the block switched lock_timeout off: while it waits for "
		       "its lock, every query on the table queues behind it",
		       what, table ? " " : "", table ? table : "");
}

static void no_concurrently_in_tx(const struct stmt *st, const char *what)
{
	const struct session *ss = st->ss;
	const char *rule = "ban-concurrent-index-creation-in-transaction";
	if (ss->in_tx)
		report(st, 0, DIAG_ERROR, rule,
		       "%s CONCURRENTLY cannot run inside a transaction block, and BEGIN at line %d "
		       "is still open",
		       what, ss->begin_line);
	else if (ss->single_tx)
		report(st, 0, DIAG_ERROR, rule,
		       "%s CONCURRENTLY cannot run inside a transaction block, and psql "
		       "--single-transaction (-1) runs everything in one",
		       what);
	else if (ss->implicit_tx)
		report(st, 0, DIAG_ERROR, rule,
		       "%s CONCURRENTLY cannot run inside a transaction block, and psql -c sends "
		       "several statements as one transaction: give it a -c of its own",
		       what);
}

static void robust(const struct stmt *st, size_t at, const char *what, const char *name,
		   bool if_not)
{
	if (atomic(st->ss))
		return;
	report(st, at, DIAG_WARNING, "prefer-robust-stmts",
	       "%s%s%s without IF%s EXISTS fails when the step is run again", what, name ? " " : "",
	       name ? name : "", if_not ? " NOT" : "");
}

static void rollback_drop(const struct stmt *st, size_t at, const char *what, const char *table)
{
	if (!(st->ss->flags & SQLLINT_ROLLBACK) || is_new_table(st, table) || backed_up(st, table))
		return;
	report(st, at, DIAG_WARNING, "rollback-drops-without-backup",
	       "rollback %s %s, and no step before it backs the table up (pg_dump, COPY ... TO, "
	       "CREATE TABLE ... AS SELECT, \\copy ... to)",
	       what, table ? table : "a table");
}

/* ---------------------------------------------------------------------
 * Lint: statements
 * ------------------------------------------------------------------- */

static void begin_tx(struct stmt *st)
{
	struct session *ss = st->ss;
	if (ss->in_tx)
		return;
	ss->in_tx = true;
	position(ss->src, st->t[0].offset, &ss->begin_line, &ss->begin_col);
	set_clear(&ss->not_valid);
}

static void end_tx(struct session *ss)
{
	ss->in_tx = false;
	ss->local_lock_timeout = false;
	set_clear(&ss->not_valid);
}

/* timeout_on says whether a lock_timeout value switches the timeout on:
 * 0, '0', '0s', DEFAULT switch it off. */
static bool timeout_on(const struct stmt *st, size_t i)
{
	if (i >= st->n || kw(st, i, "default"))
		return false;
	const char *v = st->sql + st->t[i].offset;
	size_t len = st->t[i].len;
	if (st->t[i].kind == SQL_TOKEN_STRING && len >= 2) {
		v++;
		len -= 2;
	}
	size_t k = 0;
	while (k < len && (v[k] == '0' || v[k] == '.'))
		k++;
	return k == 0 || (k < len && isdigit((unsigned char)v[k]));
}

static void set_stmt(struct stmt *st)
{
	struct session *ss = st->ss;
	size_t i = 1;
	bool local = false;
	if (kw(st, i, "session"))
		i++;
	else if (kw(st, i, "local")) {
		local = true;
		i++;
	}
	if (!kw(st, i, "lock_timeout"))
		return;
	i++;
	if (kw(st, i, "to") || kind(st, i, SQL_TOKEN_OPERATOR))
		i++;
	bool on = timeout_on(st, i);
	if (local) {
		if (atomic(ss))
			ss->local_lock_timeout = on;
	} else {
		ss->lock_timeout = on;
		ss->local_lock_timeout = false;
	}
}

/* set_config('lock_timeout', '2s', false) anywhere in a statement */
static void set_config_calls(struct stmt *st)
{
	for (size_t i = 0; i + 4 < st->n; i++) {
		if (!kw(st, i, "set_config") || !kind(st, i + 1, SQL_TOKEN_LPAREN) ||
		    !kind(st, i + 2, SQL_TOKEN_STRING))
			continue;
		const struct sql_token *t = &st->t[i + 2];
		if (t->len != 14 || strncasecmp(st->sql + t->offset, "'lock_timeout'", 14))
			continue;
		bool on = timeout_on(st, i + 4);
		if (kw(st, i + 6, "true")) {
			if (atomic(st->ss))
				st->ss->local_lock_timeout = on;
		} else {
			st->ss->lock_timeout = on;
		}
	}
}

static void create_index(struct stmt *st, size_t i)
{
	struct sqllint *l = st->lint;
	bool concurrently = false, if_not_exists = false;
	char *index = NULL, *table = NULL;

	if (kw(st, i, "concurrently")) {
		concurrently = true;
		i++;
	}
	if (kw(st, i, "if") && kw2(st, i + 1, "not", "exists")) {
		if_not_exists = true;
		i += 3;
	}
	if (!kw(st, i, "on"))
		index = name_at(st, &i);
	i = find_kw(st, i, st->n, "on");
	if (kw(st, i, "on")) {
		i++;
		if (kw(st, i, "only"))
			i++;
		table = name_at(st, &i);
	}
	bool is_new = is_new_table(st, table);
	if (concurrently) {
		no_concurrently_in_tx(st, "CREATE INDEX");
	} else if (!is_new) {
		report(st, 0, DIAG_WARNING, "require-concurrent-index-creation",
		       "CREATE INDEX on %s blocks writes to the table until it is built; use CREATE "
		       "INDEX CONCURRENTLY",
		       table ? table : "an existing table");
		lock_taking(st, 0, "CREATE INDEX on", table);
	}
	if (!if_not_exists && !index && !atomic(st->ss))
		report(st, 0, DIAG_WARNING, "prefer-robust-stmts",
		       "CREATE INDEX without a name builds another index each time the step is run; "
		       "name it and add IF NOT EXISTS");
	else if (!if_not_exists)
		robust(st, 0, "CREATE INDEX", index, true);
	if (is_new && index)
		set_add(&l->new_indexes, index);
	free(index);
	free(table);
}

static void create_table(struct stmt *st, size_t i, bool temp)
{
	bool if_not_exists = false;
	if (kw(st, i, "if") && kw2(st, i + 1, "not", "exists")) {
		if_not_exists = true;
		i += 3;
	}
	char *table = name_at(st, &i);
	size_t as = find_kw(st, i, st->n, "as");
	if (as < st->n)
		note_sources(st, as, st->n);
	if (!if_not_exists && !temp)
		robust(st, 0, "CREATE TABLE", table, true);
	if (!(st->ss->flags & SQLLINT_ROLLBACK))
		set_add(&st->lint->new_tables, table);
	free(table);
}

static void create_stmt(struct stmt *st)
{
	size_t i = 1;
	bool temp = false;
	if (kw2(st, i, "or", "replace"))
		i += 2;
	while (kw(st, i, "temp") || kw(st, i, "temporary") || kw(st, i, "unlogged") ||
	       kw(st, i, "global") || kw(st, i, "local")) {
		temp = temp || kw(st, i, "temp") || kw(st, i, "temporary");
		i++;
	}
	if (kw(st, i, "unique"))
		i++;
	if (kw(st, i, "index")) {
		create_index(st, i + 1);
	} else if (kw(st, i, "table")) {
		create_table(st, i + 1, temp);
	} else if (kw(st, i, "trigger") || kw2(st, i, "constraint", "trigger")) {
		size_t on = find_kw(st, i, st->n, "on");
		if (on < st->n) {
			size_t k = on + 1;
			char *table = name_at(st, &k);
			lock_taking(st, 0, "CREATE TRIGGER on", table);
			free(table);
		}
	} else if (kw(st, i, "sequence") || kw(st, i, "schema") || kw(st, i, "extension")) {
		const char *what = kw(st, i, "sequence") ? "CREATE SEQUENCE"
				   : kw(st, i, "schema")  ? "CREATE SCHEMA"
							  : "CREATE EXTENSION";
		i++;
		if (!(kw(st, i, "if") && kw2(st, i + 1, "not", "exists"))) {
			char *name = name_at(st, &i);
			robust(st, 0, what, name, true);
			free(name);
		}
	}
}

static void drop_stmt(struct stmt *st)
{
	struct sqllint *l = st->lint;
	size_t i = 1;
	const char *what = NULL;
	bool index = false, table = false, trigger = false, concurrently = false;

	if (kw(st, i, "index")) {
		what = "DROP INDEX";
		index = true;
	} else if (kw(st, i, "table")) {
		what = "DROP TABLE";
		table = true;
	} else if (kw(st, i, "trigger")) {
		what = "DROP TRIGGER";
		trigger = true;
	} else if (kw2(st, i, "materialized", "view")) {
		what = "DROP MATERIALIZED VIEW";
		i++;
	} else if (kw(st, i, "view") || kw(st, i, "sequence") || kw(st, i, "function") ||
		   kw(st, i, "procedure") || kw(st, i, "type") || kw(st, i, "schema") ||
		   kw(st, i, "extension")) {
		what = "DROP";
	} else {
		return;
	}
	i++;
	if (index && kw(st, i, "concurrently")) {
		concurrently = true;
		i++;
	}
	bool if_exists = kw2(st, i, "if", "exists");
	if (if_exists)
		i += 2;
	char *first = NULL, *locked = NULL; /* the first name; the first one that takes a lock */
	for (;;) {
		char *name = name_at(st, &i);
		if (!name)
			break;
		if (table) {
			if (st->ss->flags & SQLLINT_ROLLBACK)
				rollback_drop(st, 0, "drops table", name);
			else if (!is_new_table(st, name) && !backed_up(st, name))
				report(st, 0, DIAG_WARNING, "ban-drop-table",
				       "DROP TABLE %s, and no step before it backs the table up (pg_dump, "
				       "COPY ... TO, CREATE TABLE ... AS SELECT, \\copy ... to)",
				       name);
		}
		if (!locked && ((table && !is_new_table(st, name)) ||
				(index && !concurrently && !set_has(&l->new_indexes, name))))
			locked = xstrdup(name);
		if (!first)
			first = name;
		else
			free(name);
		if (kind(st, i, SQL_TOKEN_LPAREN))
			skip_parens(st, &i);
		if (!kind(st, i, SQL_TOKEN_COMMA))
			break;
		i++;
	}
	if (index && concurrently) {
		no_concurrently_in_tx(st, "DROP INDEX");
	} else if (index && locked) {
		report(st, 0, DIAG_WARNING, "require-concurrent-index-deletion",
		       "DROP INDEX %s locks its table against reads and writes while it waits and "
		       "runs; use DROP INDEX CONCURRENTLY",
		       locked);
		lock_taking(st, 0, "DROP INDEX", locked);
	} else if (table && locked) {
		lock_taking(st, 0, "DROP TABLE", locked);
	} else if (trigger && kw(st, i, "on")) {
		i++;
		char *on = name_at(st, &i);
		lock_taking(st, 0, "DROP TRIGGER on", on);
		free(on);
	}
	if (!if_exists)
		robust(st, 0, what, first, false);
	free(first);
	free(locked);
}

static const char *const volatile_functions[] = {
	"random", "random_normal", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
	"uuid_generate_v4", "uuidv4", "uuidv7", "clock_timestamp", "timeofday", "nextval",
	"gen_random_bytes", "setseed", NULL,
};

static bool column_keyword(const struct stmt *st, size_t i)
{
	static const char *const words[] = { "default", "not", "null", "constraint", "check",
					     "unique", "primary", "references", "generated",
					     "collate", NULL };
	for (size_t k = 0; words[k]; k++)
		if (kw(st, i, words[k]))
			return true;
	return false;
}

/* add_column checks ALTER TABLE ... ADD [COLUMN] in tokens [a, b). */
static void add_column(struct stmt *st, size_t a, size_t b, const char *table)
{
	size_t i = a + 1;
	bool if_not_exists = false;
	if (kw(st, i, "column"))
		i++;
	if (kw(st, i, "if") && kw2(st, i + 1, "not", "exists")) {
		if_not_exists = true;
		i += 3;
	}
	if (i >= b || !is_name(st, i))
		return;
	char *column = one_name(st, &i);
	if (!if_not_exists)
		robust(st, a, "ADD COLUMN", column, true);
	if (is_new_table(st, table)) {
		free(column);
		return;
	}
	if (!(st->ss->flags & SQLLINT_ROLLBACK) && table) {
		char *key = xasprintf("%s.%s", table, column);
		set_add(&st->lint->new_columns, key);
		free(key);
	}

	bool serial = kw(st, i, "serial") || kw(st, i, "bigserial") || kw(st, i, "smallserial") ||
		      kw(st, i, "serial2") || kw(st, i, "serial4") || kw(st, i, "serial8");
	bool has_default = false, not_null = false, generated = false, stored = false;
	bool unique = false, fk = false, check = false;
	const char *volatile_fn = NULL;
	int depth = 0;
	for (size_t k = i; k < b; k++) {
		if (st->t[k].kind == SQL_TOKEN_LPAREN)
			depth++;
		else if (st->t[k].kind == SQL_TOKEN_RPAREN)
			depth--;
		if (depth)
			continue;
		if (kw(st, k, "default")) {
			has_default = true;
			int d = 0;
			for (size_t e = k + 1; e < b && (d || !column_keyword(st, e)); e++) {
				if (st->t[e].kind == SQL_TOKEN_LPAREN)
					d++;
				else if (st->t[e].kind == SQL_TOKEN_RPAREN)
					d--;
				else if (kind(st, e + 1, SQL_TOKEN_LPAREN))
					for (size_t f = 0; volatile_functions[f] && !volatile_fn; f++)
						if (kw(st, e, volatile_functions[f]))
							volatile_fn = volatile_functions[f];
			}
		} else if (kw2(st, k, "not", "null") || kw2(st, k, "primary", "key")) {
			not_null = true;
			unique = unique || kw(st, k, "primary");
		} else if (kw(st, k, "unique")) {
			unique = true;
		} else if (kw(st, k, "references")) {
			fk = true;
		} else if (kw(st, k, "check")) {
			check = true;
		} else if (kw(st, k, "generated")) {
			generated = true;
		} else if (kw(st, k, "stored") || kw(st, k, "identity")) {
			stored = true;
		}
	}

	if (volatile_fn)
		report(st, a, DIAG_WARNING, "adding-field-with-default",
		       "column %s gets a volatile default (%s()): every row of %s is rewritten under an "
		       "ACCESS EXCLUSIVE lock; add the column without it, then backfill in batches",
		       column, volatile_fn, table ? table : "the table");
	else if (serial)
		report(st, a, DIAG_WARNING, "adding-field-with-default",
		       "serial column %s fills every row of %s from a sequence, rewriting the table "
		       "under an ACCESS EXCLUSIVE lock",
		       column, table ? table : "the table");
	else if (generated && stored)
		report(st, a, DIAG_WARNING, "adding-field-with-default",
		       "generated column %s is computed for every row of %s, rewriting the table "
		       "under an ACCESS EXCLUSIVE lock",
		       column, table ? table : "the table");
	if (not_null && !has_default && !generated && !serial)
		report(st, a, DIAG_ERROR, "adding-required-field",
		       "column %s is NOT NULL without a DEFAULT: adding it fails as soon as %s has a "
		       "row; add it nullable or with a default",
		       column, table ? table : "the table");
	if (unique)
		report(st, a, DIAG_WARNING, "disallowed-unique-constraint",
		       "a UNIQUE or PRIMARY KEY column builds its index under an ACCESS EXCLUSIVE lock "
		       "on %s; add the column, CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT "
		       "... USING INDEX",
		       table ? table : "the table");
	if (fk)
		report(st, a, DIAG_WARNING, "adding-foreign-key-constraint",
		       "a REFERENCES column checks every row of %s while it locks both tables; add "
		       "the column, then the constraint NOT VALID, then VALIDATE CONSTRAINT",
		       table ? table : "the table");
	if (check)
		report(st, a, DIAG_WARNING, "constraint-missing-not-valid",
		       "a CHECK on a new column scans %s under an ACCESS EXCLUSIVE lock; add the "
		       "column, then the constraint NOT VALID, then VALIDATE CONSTRAINT",
		       table ? table : "the table");
	free(column);
}

/* add_constraint checks ALTER TABLE ... ADD [CONSTRAINT name] ... in [a, b). */
static void add_constraint(struct stmt *st, size_t a, size_t b, const char *table)
{
	size_t i = a + 1;
	char *name = NULL;
	if (kw(st, i, "constraint")) {
		i++;
		name = one_name(st, &i);
	}
	bool not_valid = false;
	for (size_t k = i; k + 1 < b; k++)
		if (kw2(st, k, "not", "valid"))
			not_valid = true;
	const char *t = table ? table : "the table";
	bool is_new = is_new_table(st, table);

	if (kw(st, i, "check") || kw2(st, i, "foreign", "key")) {
		bool check = kw(st, i, "check");
		if (not_valid && name && atomic(st->ss))
			set_add(&st->ss->not_valid, name);
		/* CHECK (column IS NOT NULL): once valid, SET NOT NULL needs no scan */
		size_t c = i + 2;
		char *column = check && kind(st, i + 1, SQL_TOKEN_LPAREN) ? one_name(st, &c) : NULL;
		if (column && kw(st, c, "is") && kw2(st, c + 1, "not", "null") &&
		    kind(st, c + 3, SQL_TOKEN_RPAREN) && table) {
			char *key = xasprintf("%s.%s", table, column);
			if (!not_valid) {
				set_add(&st->lint->not_null_checked, key);
			} else if (name) {
				char *pending = xasprintf("%s=%s", name, key);
				set_add(&st->lint->not_null_pending, pending);
				free(pending);
			}
			free(key);
		}
		free(column);
		if (!not_valid && !is_new && check)
			report(st, a, DIAG_WARNING, "constraint-missing-not-valid",
			       "CHECK constraint %s without NOT VALID scans %s under an ACCESS EXCLUSIVE "
			       "lock; add it NOT VALID, then VALIDATE CONSTRAINT",
			       name ? name : "", t);
		else if (!not_valid && !is_new)
			report(st, a, DIAG_WARNING, "adding-foreign-key-constraint",
			       "FOREIGN KEY %s without NOT VALID checks every row of %s while it locks "
			       "both tables; add it NOT VALID, then VALIDATE CONSTRAINT",
			       name ? name : "", t);
	} else if ((kw(st, i, "unique") || kw2(st, i, "primary", "key")) && !is_new) {
		size_t k = i + (kw(st, i, "unique") ? 1 : 2);
		if (kw(st, k, "nulls"))
			k += kw(st, k + 1, "not") ? 3 : 2;
		if (!kw2(st, k, "using", "index"))
			report(st, a, DIAG_WARNING, "disallowed-unique-constraint",
			       "%s %s builds its index under an ACCESS EXCLUSIVE lock on %s; CREATE "
			       "UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... %s USING INDEX",
			       kw(st, i, "unique") ? "UNIQUE constraint" : "PRIMARY KEY",
			       name ? name : "", t, kw(st, i, "unique") ? "UNIQUE" : "PRIMARY KEY");
	}
	free(name);
}

static void drop_column(struct stmt *st, size_t a, const char *table)
{
	size_t i = a + 1;
	if (kw(st, i, "constraint")) {
		i++;
		if (!kw2(st, i, "if", "exists")) {
			char *name = one_name(st, &i);
			robust(st, a, "DROP CONSTRAINT", name, false);
			free(name);
		}
		return;
	}
	if (kw(st, i, "column"))
		i++;
	bool if_exists = kw2(st, i, "if", "exists");
	if (if_exists)
		i += 2;
	char *column = one_name(st, &i);
	if (!column)
		return;
	char *key = xasprintf("%s.%s", table ? table : "", column);
	if (!if_exists)
		robust(st, a, "DROP COLUMN", column, false);
	if (!is_new_table(st, table) && !set_has(&st->lint->new_columns, key)) {
		if (st->ss->flags & SQLLINT_ROLLBACK) {
			if (!backed_up(st, table)) {
				char *what = xasprintf("drops column %s of", column);
				rollback_drop(st, a, what, table);
				free(what);
			}
		} else if (!backed_up(st, table)) {
			report(st, a, DIAG_WARNING, "ban-drop-column",
			       "dropping column %s of %s, and no step before it backs the table up: its "
			       "data is gone, and code that still reads it breaks",
			       column, table ? table : "the table");
		}
	}
	free(key);
	free(column);
}

static void alter_column(struct stmt *st, size_t a, size_t b, const char *table)
{
	size_t i = a + 1;
	if (kw(st, i, "column"))
		i++;
	if (!is_name(st, i) || is_new_table(st, table))
		return;
	char *column = one_name(st, &i);
	char *key = xasprintf("%s.%s", table ? table : "", column);
	bool checked = set_has(&st->lint->not_null_checked, key);
	free(key);
	if (kw(st, i, "set") && kw2(st, i + 1, "not", "null") && !checked)
		report(st, a, DIAG_WARNING, "adding-not-nullable-field",
		       "SET NOT NULL on %s scans %s under an ACCESS EXCLUSIVE lock; add CHECK (%s IS "
		       "NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL",
		       column, table ? table : "the table", column);
	else if (kw(st, i, "type") || (kw(st, i, "set") && kw2(st, i + 1, "data", "type")))
		report(st, a, DIAG_WARNING, "changing-column-type",
		       "changing the type of %s rewrites %s and its indexes under an ACCESS "
		       "EXCLUSIVE lock, and may break the code that uses it",
		       column, table ? table : "the table");
	(void)b;
	free(column);
}

static void alter_table(struct stmt *st)
{
	struct session *ss = st->ss;
	size_t i = 2;
	if (kw2(st, i, "if", "exists"))
		i += 2;
	if (kw(st, i, "only"))
		i++;
	char *table = name_at(st, &i);
	if (op_is(st, i, '*'))
		i++;
	bool is_new = is_new_table(st, table);
	bool locks = false;

	if (kw(st, i, "rename")) {
		size_t r = i + 1;
		if (kw(st, r, "to")) {
			if (!is_new)
				report(st, 0, DIAG_WARNING, "renaming-table",
				       "renaming table %s breaks the code that still uses the old name; "
				       "keep a view under the old name, or deploy the code first",
				       table ? table : "");
		} else if (!kw(st, r, "constraint")) {
			if (kw(st, r, "column"))
				r++;
			char *column = one_name(st, &r);
			if (!is_new && column)
				report(st, 0, DIAG_WARNING, "renaming-column",
				       "renaming column %s of %s breaks the code that still uses the old "
				       "name; add the new column and migrate instead",
				       column, table ? table : "the table");
			free(column);
		}
		lock_taking(st, 0, "ALTER TABLE", table);
		free(table);
		return;
	}

	size_t a = i;
	int depth = 0;
	for (size_t k = i; k <= st->n; k++) {
		if (k < st->n) {
			if (st->t[k].kind == SQL_TOKEN_LPAREN)
				depth++;
			else if (st->t[k].kind == SQL_TOKEN_RPAREN)
				depth--;
			if (depth || st->t[k].kind != SQL_TOKEN_COMMA)
				continue;
		}
		/* one action: tokens [a, k) */
		if (kw(st, a, "add")) {
			size_t c = a + 1;
			if (kw(st, c, "constraint") || kw(st, c, "check") ||
			    kw2(st, c, "foreign", "key") || kw(st, c, "unique") ||
			    kw2(st, c, "primary", "key") || kw(st, c, "exclude"))
				add_constraint(st, a, k, table);
			else
				add_column(st, a, k, table);
			locks = true;
		} else if (kw(st, a, "drop")) {
			drop_column(st, a, table);
			locks = true;
		} else if (kw(st, a, "alter")) {
			alter_column(st, a, k, table);
			locks = true;
		} else if (kw2(st, a, "validate", "constraint")) {
			size_t v = a + 2;
			char *name = one_name(st, &v);
			if (name) {
				size_t nlen = strlen(name);
				for (size_t p = 0; p < st->lint->not_null_pending.nr; p++) {
					const char *e = st->lint->not_null_pending.items[p];
					if (!strncmp(e, name, nlen) && e[nlen] == '=')
						set_add(&st->lint->not_null_checked, e + nlen + 1);
				}
				if (set_has(&ss->not_valid, name))
					report(st, a, DIAG_WARNING, "constraint-missing-not-valid",
					       "VALIDATE CONSTRAINT %s in the transaction that added it NOT "
					       "VALID keeps the ACCESS EXCLUSIVE lock while it scans; commit "
					       "first",
					       name);
				free(name);
			}
		} else if (a < k) {
			locks = true;
		}
		a = k + 1;
	}
	if (locks)
		lock_taking(st, 0, "ALTER TABLE", table);
	free(table);
}

static void alter_stmt(struct stmt *st)
{
	if (kw(st, 1, "table")) {
		alter_table(st);
	} else if (kw(st, 1, "index")) {
		size_t i = 2;
		if (kw2(st, i, "if", "exists"))
			i += 2;
		char *index = name_at(st, &i);
		if (!set_has(&st->lint->new_indexes, index))
			lock_taking(st, 0, "ALTER INDEX", NULL);
		free(index);
	}
}

static void truncate_stmt(struct stmt *st)
{
	size_t i = 1;
	const char *locked = NULL;
	char *first = NULL;
	if (kw(st, i, "table"))
		i++;
	for (;;) {
		if (kw(st, i, "only"))
			i++;
		char *table = name_at(st, &i);
		if (!table)
			break;
		rollback_drop(st, 0, "truncates", table);
		if (!locked && !is_new_table(st, table)) {
			locked = "TRUNCATE";
			first = xstrdup(table);
		}
		free(table);
		if (kind(st, i, SQL_TOKEN_OPERATOR))
			i++;
		if (!kind(st, i, SQL_TOKEN_COMMA))
			break;
		i++;
	}
	if (locked)
		lock_taking(st, 0, locked, first);
	free(first);
}

static void dml_stmt(struct stmt *st)
{
	size_t i = 0;
	if (kw(st, 0, "with")) {
		i = 1;
		if (kw(st, i, "recursive"))
			i++;
		for (;;) {
			if (!is_name(st, i))
				return;
			i++;
			if (kind(st, i, SQL_TOKEN_LPAREN))
				skip_parens(st, &i);
			if (kw(st, i, "as"))
				i++;
			if (kw(st, i, "not"))
				i++;
			if (kw(st, i, "materialized"))
				i++;
			if (kind(st, i, SQL_TOKEN_LPAREN))
				skip_parens(st, &i);
			if (!kind(st, i, SQL_TOKEN_COMMA))
				break;
			i++;
		}
	}
	bool update = kw(st, i, "update");
	if (!update && !kw2(st, i, "delete", "from"))
		return;
	i += update ? 1 : 2;
	if (kw(st, i, "only"))
		i++;
	char *table = name_at(st, &i);
	if (!table)
		return;
	bool where = find_kw(st, i, st->n, "where") < st->n;
	if (!where && !is_new_table(st, table))
		report(st, 0, DIAG_WARNING, "unbounded-dml",
		       update ? "UPDATE of %s without WHERE changes every row in one transaction, "
				"locking them all; add a WHERE, or update in batches"
			      : "DELETE from %s without WHERE removes every row in one transaction; "
				"add a WHERE, or use TRUNCATE if that is really meant",
		       table);
	if (!update)
		rollback_drop(st, 0, "deletes from", table);
	free(table);
}

/* copy_backup notes `COPY table TO` and `COPY (query) TO`, also for \copy. */
static void copy_backup(struct stmt *st, size_t i)
{
	if (kind(st, i, SQL_TOKEN_LPAREN)) {
		size_t open = i;
		skip_parens(st, &i);
		if (kw(st, i, "to"))
			note_sources(st, open, i);
		return;
	}
	char *table = name_at(st, &i);
	if (kind(st, i, SQL_TOKEN_LPAREN))
		skip_parens(st, &i);
	if (table && kw(st, i, "to"))
		set_add(&st->lint->backed_up, table);
	free(table);
}

static void meta_stmt(struct stmt *st)
{
	const struct sql_token *t = &st->t[0];
	const char *s = st->sql + t->offset;
	if (t->len >= 5 && !strncasecmp(s, "\\copy", 5) &&
	    (t->len == 5 || isspace((unsigned char)s[5]))) {
		struct sql_token *sub;
		size_t n = sql_tokenize(s + 5, t->len - 5, &sub);
		struct stmt inner = { sub, n, s + 5, st->lint, st->ss };
		copy_backup(&inner, 0);
		free(sub);
	} else if ((t->len == 2 && !strncmp(s, "\\c", 2)) ||
		   (t->len >= 3 && !strncmp(s, "\\c ", 3)) || !strncmp(s, "\\connect", 8)) {
		st->ss->lock_timeout = st->ss->initial_lock_timeout;
		st->ss->local_lock_timeout = false;
	}
}

static void other_lock_stmts(struct stmt *st)
{
	size_t i = 1;
	if (kw(st, 0, "lock")) {
		if (kw(st, i, "table"))
			i++;
		if (kw(st, i, "only"))
			i++;
		char *table = name_at(st, &i);
		if (find_kw(st, i, st->n, "nowait") == st->n)
			lock_taking(st, 0, "LOCK", table);
		free(table);
	} else if (kw(st, 0, "reindex")) {
		bool concurrently = false;
		for (size_t k = 1; k < st->n; k++)
			concurrently = concurrently || kw(st, k, "concurrently");
		if (concurrently)
			no_concurrently_in_tx(st, "REINDEX");
		else
			lock_taking(st, 0, "REINDEX", NULL);
	} else if (kw(st, 0, "cluster")) {
		lock_taking(st, 0, "CLUSTER", NULL);
	} else if (kw(st, 0, "vacuum")) {
		bool full = false;
		for (size_t k = 1; k < st->n; k++)
			full = full || kw(st, k, "full");
		if (full)
			lock_taking(st, 0, "VACUUM FULL", NULL);
	} else if (kw2(st, 0, "refresh", "materialized")) {
		if (!kw(st, 3, "concurrently"))
			lock_taking(st, 0, "REFRESH MATERIALIZED VIEW", NULL);
	}
}

static void analyze(struct sqllint *l, struct session *ss, const char *sql,
		    const struct sql_token *t, size_t n)
{
	struct stmt st = { t, n, sql, l, ss };

	if (t[0].kind == SQL_TOKEN_META) {
		if (ss->shell)
			meta_stmt(&st);
		return;
	}
	set_config_calls(&st);
	if (kw(&st, 0, "begin") || kw2(&st, 0, "start", "transaction")) {
		begin_tx(&st);
	} else if (kw(&st, 0, "commit") || kw(&st, 0, "end") || kw(&st, 0, "abort") ||
		   kw2(&st, 0, "prepare", "transaction") ||
		   (kw(&st, 0, "rollback") && !kw(&st, 1, "to") && !kw(&st, 1, "prepared"))) {
		if (!kw(&st, 1, "prepared"))
			end_tx(ss);
	} else if (kw(&st, 0, "set")) {
		set_stmt(&st);
	} else if (kw(&st, 0, "reset")) {
		if (kw(&st, 1, "lock_timeout") || kw(&st, 1, "all")) {
			ss->lock_timeout = ss->shell ? ss->initial_lock_timeout : false;
			ss->local_lock_timeout = false;
		}
	} else if (kw(&st, 0, "create")) {
		create_stmt(&st);
	} else if (kw(&st, 0, "drop")) {
		drop_stmt(&st);
	} else if (kw(&st, 0, "alter")) {
		alter_stmt(&st);
	} else if (kw(&st, 0, "truncate")) {
		truncate_stmt(&st);
	} else if (kw(&st, 0, "update") || kw(&st, 0, "delete") || kw(&st, 0, "with")) {
		dml_stmt(&st);
	} else if (kw(&st, 0, "copy")) {
		copy_backup(&st, 1);
	} else if (kw(&st, 0, "insert")) {
		size_t sel = find_kw(&st, 1, n, "select");
		if (sel < n)
			note_sources(&st, sel, n);
	} else if (kw(&st, 0, "select")) {
		size_t into = find_kw(&st, 1, n, "into");
		if (into < n) {
			size_t k = into + 1;
			while (kw(&st, k, "temp") || kw(&st, k, "temporary") ||
			       kw(&st, k, "unlogged") || kw(&st, k, "table"))
				k++;
			char *table = name_at(&st, &k);
			note_sources(&st, k, n);
			if (!(ss->flags & SQLLINT_ROLLBACK))
				set_add(&l->new_tables, table);
			free(table);
		}
	} else {
		other_lock_stmts(&st);
	}
}

/* lint_text lints one piece of SQL of a session.  one_query: psql -c, which
 * sends the whole text as one query, run as one transaction. */
static void lint_text(struct sqllint *l, struct session *ss, struct source *src,
		      size_t len, bool one_query)
{
	struct sql_token *tokens;
	struct sql_statement *stmts;
	size_t ntokens = sql_tokenize(src->sql, len, &tokens);
	size_t nstmts = sql_statements(src->sql, tokens, ntokens, &stmts);

	ss->src = src;
	ss->implicit_tx = one_query && nstmts > 1 && !ss->single_tx;
	for (size_t i = 0; i < nstmts; i++)
		analyze(l, ss, src->sql, tokens + stmts[i].first, stmts[i].ntokens);
	if (ss->implicit_tx) {
		ss->implicit_tx = false;
		if (!ss->in_tx) {
			ss->local_lock_timeout = false;
			set_clear(&ss->not_valid);
		}
	}
	free(stmts);
	free(tokens);
}

static void end_session(struct sqllint *l, struct session *ss)
{
	if (ss->in_tx && !ss->single_tx)
		diag_add(l->out, l->path, ss->begin_line, ss->begin_col, DIAG_ERROR,
			 "ban-uncommitted-transaction", "%s",
			 ss->shell ? "transaction opened here is never committed: psql exits with it "
				     "open and the server rolls it back; end it with COMMIT"
				   : "transaction opened here is never committed: it stays open after "
				     "the block, holding its locks; end it with COMMIT");
	set_free(&ss->not_valid);
}

void sqllint_sql(struct sqllint *l, const char *text, int line, int col, unsigned flags)
{
	struct source src = { text, NULL, text, line, col, 0, 0, 0 };
	struct session ss;

	memset(&ss, 0, sizeof(ss));
	ss.flags = flags;
	ss.initial_lock_timeout = true; /* runbook sets lock_timeout before each statement */
	ss.lock_timeout = true;
	lint_text(l, &ss, &src, strlen(text), false);
	end_session(l, &ss);
}

/* ---------------------------------------------------------------------
 * Lint: shell scripts
 * ------------------------------------------------------------------- */

/* has_lock_timeout says whether s (PGOPTIONS, a connection string) sets a
 * lock_timeout other than 0. */
static bool has_lock_timeout(const char *s)
{
	const char *p = strstr(s, "lock_timeout");
	if (!p)
		return false;
	p += strlen("lock_timeout");
	while (*p == ' ')
		p++;
	if (*p == '=')
		p++;
	else if (!strncasecmp(p, "%3d", 3)) /* '=' in a URI */
		p += 3;
	while (*p == ' ' || *p == '\'' || *p == '"')
		p++;
	size_t k = 0;
	while (p[k] == '0' || p[k] == '.')
		k++;
	return k == 0 || isdigit((unsigned char)p[k]);
}

static bool word_is(const struct sh_command *c, size_t i, const char *s)
{
	return i < c->nwords && !strcmp(c->words[i].text, s);
}

static void note_pgoptions(struct sqllint *l, const struct sh_command *c)
{
	size_t first = c->nassign;
	if (c->nassign == c->nwords) {
		first = 0;
	} else if (word_is(c, c->nassign, "export")) {
		first = c->nassign + 1;
	} else if (word_is(c, c->nassign, "unset")) {
		for (size_t k = c->nassign + 1; k < c->nwords; k++)
			if (word_is(c, k, "PGOPTIONS"))
				l->pgoptions_lock_timeout = false;
		return;
	} else {
		return;
	}
	for (size_t k = first; k < c->nwords; k++)
		if (!strncmp(c->words[k].text, "PGOPTIONS=", 10))
			l->pgoptions_lock_timeout = has_lock_timeout(c->words[k].text + 10);
}

/* program finds the program a command runs, looking through wrappers
 * (sudo, env, docker exec, kubectl exec ...); returns its word index or
 * c->nwords. */
static size_t program(const struct sh_command *c)
{
	static const char *const interesting[] = { "psql", "pg_dump", "pg_dumpall", "pg_basebackup",
						   NULL };
	static const char *const wrappers[] = { "sudo", "doas", "env", "time", "nohup", "exec",
						"command", "nice", "timeout", "docker", "podman",
						"kubectl", "oc", "runuser", "stdbuf", NULL };
	size_t p = c->nassign;
	if (p >= c->nwords)
		return c->nwords;
	const char *base = sh_basename(c->words[p].text);
	for (size_t k = 0; interesting[k]; k++)
		if (!strcmp(base, interesting[k]))
			return p;
	bool wrapped = false;
	for (size_t k = 0; wrappers[k]; k++)
		wrapped = wrapped || !strcmp(base, wrappers[k]);
	if (!wrapped)
		return c->nwords;
	for (size_t w = p + 1; w < c->nwords; w++) {
		base = sh_basename(c->words[w].text);
		for (size_t k = 0; interesting[k]; k++)
			if (!strcmp(base, interesting[k]))
				return w;
	}
	return c->nwords;
}

static void add_dump_table(struct sqllint *l, const char *pattern)
{
	if (strpbrk(pattern, "*?")) {
		l->backup_all = true;
		return;
	}
	const char *dot = strrchr(pattern, '.');
	const char *name = dot ? dot + 1 : pattern;
	struct strbuf b = STRBUF_INIT;
	if (*name == '"') {
		for (name++; *name && *name != '"'; name++)
			strbuf_addch(&b, *name);
	} else {
		for (; *name; name++)
			strbuf_addch(&b, tolower((unsigned char)*name));
	}
	set_add(&l->backed_up, b.buf);
	strbuf_release(&b);
}

/* dump_backup reads the options of pg_dump, pg_dumpall and pg_basebackup. */
static void dump_backup(struct sqllint *l, const struct sh_command *c, size_t p)
{
	const char *prog = sh_basename(c->words[p].text);
	bool dumpall = !strcmp(prog, "pg_dumpall");
	bool schema_only = false;
	struct strset tables = { NULL, 0, 0, NULL, 0 };

	if (!strcmp(prog, "pg_basebackup")) {
		l->backup_all = true;
		return;
	}
	const char *with_arg = dumpall ? "fdhlpUSE" : "fFdhpUnNtTjZESe";
	for (size_t k = p + 1; k < c->nwords; k++) {
		const char *a = c->words[k].text;
		if (!strncmp(a, "--", 2)) {
			if (!strcmp(a, "--schema-only") || !strcmp(a, "--globals-only") ||
			    !strcmp(a, "--roles-only") || !strcmp(a, "--tablespaces-only") ||
			    !strcmp(a, "--section=pre-data") || !strcmp(a, "--section=post-data"))
				schema_only = true;
			else if (!strncmp(a, "--table=", 8) && !dumpall)
				set_add(&tables, a + 8);
			else if (!strcmp(a, "--table") && !dumpall && k + 1 < c->nwords)
				set_add(&tables, c->words[++k].text);
			continue;
		}
		if (a[0] != '-')
			continue;
		for (size_t j = 1; a[j]; j++) {
			if (a[j] == 's' || (dumpall && (a[j] == 'g' || a[j] == 'r' || a[j] == 't')))
				schema_only = true;
			if (strchr(with_arg, a[j]) || (!dumpall && a[j] == 't')) {
				const char *v = a + j + 1;
				if (!*v && k + 1 < c->nwords)
					v = c->words[++k].text;
				if (a[j] == 't' && !dumpall)
					set_add(&tables, v);
				break;
			}
		}
	}
	if (!schema_only) {
		if (!tables.nr)
			l->backup_all = true;
		for (size_t k = 0; k < tables.nr; k++)
			add_dump_table(l, tables.items[k]);
	}
	set_free(&tables);
}

/* A piece of SQL a psql call runs: a -c string, or its standard input. */
struct psql_input {
	struct sh_text text; /* a view: nothing in it is owned */
	bool command;        /* -c: sent as one query */
};

static struct sh_text text_view(const struct sh_text *t, size_t skip)
{
	struct sh_text v = { t->text + skip, t->len - skip, t->map + skip };
	return v;
}

/* stdin_of finds what a psql call reads on standard input from the script:
 * its own here-documents, or those of `cat <<EOF |`, or `echo '...' |`. */
static size_t stdin_of(const struct sh_script *s, size_t k, struct psql_input *in, size_t max)
{
	const struct sh_command *c = &s->cmds[k];
	size_t n = 0;
	for (size_t i = 0; i < c->ninput && n < max; i++) {
		in[n].text = c->input[i];
		in[n++].command = false;
	}
	if (!n && c->pipe_in && k > 0 && s->cmds[k - 1].pipe_out) {
		const struct sh_command *prev = &s->cmds[k - 1];
		size_t p = prev->nassign;
		if (word_is(prev, p, "cat")) {
			for (size_t i = 0; i < prev->ninput && n < max; i++) {
				in[n].text = prev->input[i];
				in[n++].command = false;
			}
		} else if ((word_is(prev, p, "echo") || word_is(prev, p, "printf")) &&
			   prev->nwords == p + 2) {
			in[n].text = prev->words[p + 1];
			in[n++].command = false;
		}
	}
	return n;
}

static bool long_opt_takes_arg(const char *name, size_t len)
{
	static const char *const opts[] = { "command", "dbname", "file", "field-separator",
					    "host", "log-file", "output", "port", "pset",
					    "record-separator", "set", "table-attr", "username",
					    "variable", NULL };
	for (size_t k = 0; opts[k]; k++)
		if (strlen(opts[k]) == len && !strncmp(opts[k], name, len))
			return true;
	return false;
}

static void psql_call(struct sqllint *l, const struct sh_script *s, size_t k, size_t p,
		      const char *script, int line, int col, unsigned flags)
{
	const struct sh_command *c = &s->cmds[k];
	struct psql_input in[64];
	size_t nin = 0;
	bool single = false, reads_stdin = true, lock_timeout = l->pgoptions_lock_timeout;

	for (size_t w = 0; w < p; w++)
		if (!strncmp(c->words[w].text, "PGOPTIONS=", 10))
			lock_timeout = has_lock_timeout(c->words[w].text + 10);

	for (size_t w = p + 1; w < c->nwords && nin < 60; w++) {
		const struct sh_text *word = &c->words[w];
		const char *a = word->text;
		if (a[0] == '-' && a[1] == '-' && a[2]) {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
			struct sh_text value = { NULL, 0, NULL };
			bool has_value = false;
			if (long_opt_takes_arg(name, nlen)) {
				if (eq) {
					value = text_view(word, (size_t)(eq + 1 - a));
					has_value = true;
				} else if (w + 1 < c->nwords) {
					value = c->words[++w];
					has_value = true;
				}
			}
			if (nlen == 18 && !strncmp(name, "single-transaction", nlen))
				single = true;
			if (!has_value)
				continue;
			if (nlen == 7 && !strncmp(name, "command", nlen)) {
				in[nin].text = value;
				in[nin++].command = true;
				reads_stdin = false;
			} else if (nlen == 4 && !strncmp(name, "file", nlen)) {
				reads_stdin = false;
				if (!strcmp(value.text, "-"))
					nin += stdin_of(s, k, in + nin, 60 - nin);
			} else if (nlen == 6 && !strncmp(name, "dbname", nlen)) {
				lock_timeout = lock_timeout || has_lock_timeout(value.text);
			}
			continue;
		}
		if (a[0] == '-' && a[1]) {
			for (size_t j = 1; a[j]; j++) {
				if (a[j] == '1')
					single = true;
				if (!strchr("cdfFhLopPRTUv", a[j]))
					continue;
				struct sh_text value;
				if (a[j + 1])
					value = text_view(word, j + 1);
				else if (w + 1 < c->nwords)
					value = c->words[++w];
				else
					break;
				if (a[j] == 'c') {
					in[nin].text = value;
					in[nin++].command = true;
					reads_stdin = false;
				} else if (a[j] == 'f') {
					reads_stdin = false;
					if (!strcmp(value.text, "-"))
						nin += stdin_of(s, k, in + nin, 60 - nin);
				} else if (a[j] == 'd') {
					lock_timeout = lock_timeout || has_lock_timeout(value.text);
				}
				break;
			}
			continue;
		}
		lock_timeout = lock_timeout || has_lock_timeout(a);
	}
	if (reads_stdin)
		nin += stdin_of(s, k, in + nin, 60 - nin);

	struct session ss;
	memset(&ss, 0, sizeof(ss));
	ss.flags = flags;
	ss.shell = true;
	ss.single_tx = single;
	ss.initial_lock_timeout = lock_timeout;
	ss.lock_timeout = lock_timeout;
	for (size_t i = 0; i < nin; i++) {
		struct source src = { in[i].text.text, in[i].text.map, script, line, col, 0, 0, 0 };
		lint_text(l, &ss, &src, in[i].text.len, in[i].command);
	}
	end_session(l, &ss);
}

void sqllint_shell(struct sqllint *l, const char *text, int line, int col, unsigned flags)
{
	struct sh_script s = SH_SCRIPT_INIT;

	shscan(text, strlen(text), &s);
	for (size_t k = 0; k < s.ncmds; k++) {
		const struct sh_command *c = &s.cmds[k];
		if (!c->subst)
			note_pgoptions(l, c);
		size_t p = program(c);
		if (p >= c->nwords)
			continue;
		const char *prog = sh_basename(c->words[p].text);
		if (!strcmp(prog, "psql"))
			psql_call(l, &s, k, p, text, line, col, flags);
		else
			dump_backup(l, c, p);
	}
	sh_script_release(&s);
}
