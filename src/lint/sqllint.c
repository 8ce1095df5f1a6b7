/* sqllint.c - lock-safety lint for the SQL a runbook runs: what the runbook
 * and each session have done so far, and each statement sent to its rules. */
#include "lint/sqllint_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"

static size_t hash(const char *v)
{
	size_t h = 2166136261u;
	for (; *v; v++)
		h = (h ^ (unsigned char)*v) * 16777619u;
	return h;
}

bool strset_has(const struct strset *s, const char *v)
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

void strset_add(struct strset *s, const char *v)
{
	if (!v || strset_has(s, v))
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

void strset_clear(struct strset *s)
{
	for (size_t i = 0; i < s->nr; i++)
		free(s->items[i]);
	s->nr = 0;
	if (s->nslots)
		memset(s->slots, 0, s->nslots * sizeof(*s->slots));
}

void strset_free(struct strset *s)
{
	strset_clear(s);
	free(s->items);
	free(s->slots);
}
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
	strset_free(&l->new_tables);
	strset_free(&l->new_columns);
	strset_free(&l->new_indexes);
	strset_free(&l->backed_up);
	strset_free(&l->not_null_checked);
	strset_free(&l->not_null_pending);
	free(l);
}

void source_position(struct source *src, size_t off, int *line, int *col)
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
 * Transactions and lock_timeout, and each statement to its rule
 * ------------------------------------------------------------------- */

static void begin_tx(struct stmt *st)
{
	struct session *ss = st->ss;
	if (ss->in_tx)
		return;
	ss->in_tx = true;
	source_position(ss->src, st->t[0].offset, &ss->begin_line, &ss->begin_col);
	strset_clear(&ss->not_valid);
}

static void end_tx(struct session *ss)
{
	ss->in_tx = false;
	ss->local_lock_timeout = false;
	strset_clear(&ss->not_valid);
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
		if (session_atomic(ss))
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
			if (session_atomic(st->ss))
				st->ss->local_lock_timeout = on;
		} else {
			st->ss->lock_timeout = on;
		}
	}
}

static void analyze(struct sqllint *l, struct session *ss, const char *sql,
		    const struct sql_token *t, size_t n)
{
	struct stmt st = { t, n, sql, l, ss };

	if (t[0].kind == SQL_TOKEN_META) {
		if (ss->shell)
			rule_meta(&st);
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
		rule_create(&st);
	} else if (kw(&st, 0, "drop")) {
		rule_drop(&st);
	} else if (kw(&st, 0, "alter")) {
		rule_alter(&st);
	} else if (kw(&st, 0, "truncate")) {
		rule_truncate(&st);
	} else if (kw(&st, 0, "update") || kw(&st, 0, "delete") || kw(&st, 0, "with")) {
		rule_dml(&st);
	} else if (kw(&st, 0, "copy")) {
		rule_copy(&st, 1);
	} else if (kw(&st, 0, "insert")) {
		size_t sel = stmt_find_kw(&st, 1, n, "select");
		if (sel < n)
			stmt_note_sources(&st, sel, n);
	} else if (kw(&st, 0, "select")) {
		size_t into = stmt_find_kw(&st, 1, n, "into");
		if (into < n) {
			size_t k = into + 1;
			while (kw(&st, k, "temp") || kw(&st, k, "temporary") ||
			       kw(&st, k, "unlogged") || kw(&st, k, "table"))
				k++;
			char *table = stmt_name_at(&st, &k);
			stmt_note_sources(&st, k, n);
			if (!(ss->flags & SQLLINT_ROLLBACK))
				strset_add(&l->new_tables, table);
			free(table);
		}
	} else {
		rule_other_locks(&st);
	}
}

void sqllint_scan(const char *text, size_t len, struct sqllex *lx)
{
	sqllex_scan(lx, text, len);
}

void session_lint(struct sqllint *l, struct session *ss, struct source *src, size_t len,
		  bool one_query)
{
	struct sqllex lx = SQLLEX_INIT;

	sqllint_scan(src->sql, len, &lx);

	ss->src = src;
	ss->implicit_tx = one_query && lx.nstmts > 1 && !ss->single_tx;
	for (size_t i = 0; i < lx.nstmts; i++)
		analyze(l, ss, src->sql, lx.tokens + lx.stmts[i].first, lx.stmts[i].ntokens);
	if (ss->implicit_tx) {
		ss->implicit_tx = false;
		if (!ss->in_tx) {
			ss->local_lock_timeout = false;
			strset_clear(&ss->not_valid);
		}
	}
	sqllex_release(&lx);
}

void session_end(struct sqllint *l, struct session *ss)
{
	if (ss->in_tx && !ss->single_tx)
		diag_add(l->out, l->path, ss->begin_line, ss->begin_col, DIAG_ERROR,
			 "ban-uncommitted-transaction", "%s",
			 ss->shell ? "transaction opened here is never committed: psql exits with it "
				     "open and the server rolls it back; end it with COMMIT"
				   : "transaction opened here is never committed: it stays open after "
				     "the block, holding its locks; end it with COMMIT");
	strset_free(&ss->not_valid);
}

void sqllint_sql(struct sqllint *l, const char *text, int line, int col, unsigned flags)
{
	struct source src = { text, NULL, text, line, col, 0, 0, 0 };
	struct session ss;

	memset(&ss, 0, sizeof(ss));
	ss.flags = flags;
	ss.initial_lock_timeout = true; /* runbook sets lock_timeout before each statement */
	ss.lock_timeout = true;
	session_lint(l, &ss, &src, strlen(text), false);
	session_end(l, &ss);
}

