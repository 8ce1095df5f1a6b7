/* pg.c - connections, SQL blocks with psql's output, preflight, run lock, monitor. */
#define _GNU_SOURCE
#include "pg/pg.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "sys/proc.h"
#include "base/xalloc.h"

struct block_run;

struct pg_conn {
	PGconn *pg;            /* NULL once closed or abandoned */
	char *target;          /* effective target without password */
	int encoding;          /* client encoding id, for PQmblen/PQdsplen */
	bool utf8;
	struct block_run *run; /* where notices go while a block runs, else NULL */
};

/* ---------- small helpers ---------- */

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* oneline appends libpq's message on one line: newlines become spaces, the
 * two spaces libpq puts after "FATAL:" become one, trailing blanks go. */
static void oneline(struct strbuf *sb, const char *msg)
{
	size_t start = sb->len;
	bool space = false;

	if (!msg)
		return;
	for (const char *p = msg; *p; p++) {
		if (isspace((unsigned char)*p)) {
			space = true;
			continue;
		}
		if (space && sb->len > start)
			strbuf_addch(sb, ' ');
		space = false;
		strbuf_addch(sb, *p);
	}
}

/* cut_query collapses blanks and keeps about `max` characters. */
static char *cut_query(const char *q, size_t max)
{
	struct strbuf sb = STRBUF_INIT;
	size_t chars = 0;
	bool space = false;

	for (const unsigned char *p = (const unsigned char *)(q ? q : ""); *p; p++) {
		if (isspace(*p)) {
			space = true;
			continue;
		}
		if ((*p & 0xC0) != 0x80) {
			if (chars + (space && sb.len ? 1 : 0) >= max) {
				strbuf_addstr(&sb, "...");
				break;
			}
			if (space && sb.len) {
				strbuf_addch(&sb, ' ');
				chars++;
			}
			chars++;
		}
		space = false;
		strbuf_addch(&sb, (char)*p);
	}
	return strbuf_detach(&sb, NULL);
}

static int64_t to_i64(const char *s)
{
	return s && *s ? strtoll(s, NULL, 10) : 0;
}

/* ---------- connection strings shown without password ---------- */

static const char *const main_options[] = { "host", "hostaddr", "port", "user", "dbname", NULL };

static bool secret_option(const char *keyword)
{
	return !strcmp(keyword, "password") || !strcmp(keyword, "sslpassword");
}

static bool main_option(const char *keyword)
{
	for (size_t i = 0; main_options[i]; i++)
		if (!strcmp(main_options[i], keyword))
			return true;
	return false;
}

static void add_option(struct strbuf *sb, const char *keyword, const char *value)
{
	bool quote = !*value || strpbrk(value, " \t\r\n'\\") != NULL;

	if (sb->len)
		strbuf_addch(sb, ' ');
	strbuf_addf(sb, "%s=", keyword);
	if (!quote) {
		strbuf_addstr(sb, value);
		return;
	}
	strbuf_addch(sb, '\'');
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *p);
	}
	strbuf_addch(sb, '\'');
}

/* display_options renders host, port, user, dbname first, then (unless
 * main_only) every other option that has a value; secrets never. */
static char *display_options(const PQconninfoOption *opts, bool main_only)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; main_options[i]; i++)
		for (const PQconninfoOption *o = opts; o && o->keyword; o++)
			if (!strcmp(o->keyword, main_options[i]) && o->val && *o->val)
				add_option(&sb, o->keyword, o->val);
	if (!main_only)
		for (const PQconninfoOption *o = opts; o && o->keyword; o++)
			if (o->val && *o->val && !secret_option(o->keyword) && !main_option(o->keyword))
				add_option(&sb, o->keyword, o->val);
	return strbuf_detach(&sb, NULL);
}

/* is_conninfo is libpq's own test: a URI, or anything with an '='. */
static bool is_conninfo(const char *s)
{
	return !strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11) || strchr(s, '=');
}

/* may_hold_password says whether a string libpq could not parse might
 * carry a password, in which case its parse error (which quotes pieces of
 * the string) is not shown. */
static bool may_hold_password(const char *s)
{
	const char *p = strstr(s, "://");

	if (strcasestr(s, "password"))
		return true;
	if (p) {
		const char *at = strchr(p + 3, '@');
		const char *end = strpbrk(p + 3, "/?");
		if (at && (!end || at < end)) {
			const char *colon = memchr(p + 3, ':', (size_t)(at - (p + 3)));
			if (colon)
				return true;
		}
	}
	return false;
}

static const char *default_source(const char *conninfo)
{
	const char *src = conninfo;

	if (!src) {
		src = getenv("DATABASE_URL");
		if (src && !*src)
			src = NULL;
	}
	return src;
}

char *pg_display_conninfo(const char *conninfo)
{
	const char *src = default_source(conninfo);
	PQconninfoOption *opts;
	char *errmsg = NULL;
	char *shown;

	if (!src) {
		opts = PQconndefaults();
		shown = display_options(opts, true);
		PQconninfoFree(opts);
		return shown;
	}
	if (!is_conninfo(src)) {
		struct strbuf sb = STRBUF_INIT;
		add_option(&sb, "dbname", src);
		return strbuf_detach(&sb, NULL);
	}
	opts = PQconninfoParse(src, &errmsg);
	if (!opts) {
		PQfreemem(errmsg);
		return xstrdup("(invalid connection string)");
	}
	shown = display_options(opts, false);
	PQconninfoFree(opts);
	return shown;
}

static char *conn_target(PGconn *pg)
{
	PQconninfoOption *opts = PQconninfo(pg);
	char *shown = display_options(opts, true);

	PQconninfoFree(opts);
	return shown;
}

/* ---------- connections ---------- */

static void notice_receiver(void *arg, const PGresult *res);

struct pg_conn *pg_connect(const char *conninfo, const char *application_name, struct strbuf *err)
{
	const char *keys[8], *vals[8];
	const char *src = default_source(conninfo);
	struct pg_conn *c;
	PGconn *pg;
	int n = 0;

	if (src && is_conninfo(src)) {
		char *errmsg = NULL;
		PQconninfoOption *opts = PQconninfoParse(src, &errmsg);
		if (!opts) {
			if (may_hold_password(src))
				strbuf_addstr(err, "pg: the connection string is not valid (libpq's reason "
						   "is not shown because the string holds a password)");
			else {
				strbuf_addstr(err, "pg: the connection string is not valid: ");
				oneline(err, errmsg);
			}
			PQfreemem(errmsg);
			return NULL;
		}
		PQconninfoFree(opts);
	}

	/* Entries before dbname are defaults the string may override; those
	 * after it override the string (libpq processes them in order). */
	if (!getenv("PGCONNECT_TIMEOUT")) {
		keys[n] = "connect_timeout";
		vals[n++] = "10";
	}
	if (!getenv("PGCLIENTENCODING")) {
		keys[n] = "client_encoding";
		vals[n++] = "UTF8";
	}
	keys[n] = "fallback_application_name";
	vals[n++] = "runbook";
	if (src) {
		keys[n] = "dbname";
		vals[n++] = src;
	}
	if (application_name && *application_name) {
		keys[n] = "application_name";
		vals[n++] = application_name;
	}
	keys[n] = NULL;
	vals[n] = NULL;

	pg = PQconnectdbParams(keys, vals, 1);
	if (!pg) {
		strbuf_addstr(err, "pg: connect: libpq could not allocate a connection");
		return NULL;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		char *shown = conn_target(pg);
		strbuf_addf(err, "pg: connect \"%s\": ", shown);
		oneline(err, PQerrorMessage(pg));
		free(shown);
		PQfinish(pg);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->pg = pg;
	c->target = conn_target(pg);
	c->encoding = PQclientEncoding(pg);
	c->utf8 = c->encoding == pg_char_to_encoding("UTF8");
	PQsetNoticeReceiver(pg, notice_receiver, c);
	return c;
}

void pg_close(struct pg_conn *conn)
{
	if (!conn)
		return;
	if (conn->pg)
		PQfinish(conn->pg);
	free(conn->target);
	free(conn);
}

bool pg_conn_ok(const struct pg_conn *conn)
{
	return conn && conn->pg && PQstatus(conn->pg) == CONNECTION_OK;
}

bool pg_conn_alive(struct pg_conn *conn)
{
	if (!pg_conn_ok(conn))
		return false;
	PGresult *res = PQexec(conn->pg, "SELECT 1");
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	return ok;
}

const char *pg_conn_target(const struct pg_conn *conn)
{
	return conn->target;
}

int pg_conn_backend_pid(const struct pg_conn *conn)
{
	return conn->pg ? PQbackendPID(conn->pg) : 0;
}

int pg_conn_server_version(const struct pg_conn *conn)
{
	return conn->pg ? PQserverVersion(conn->pg) : 0;
}

/* query runs one parameterised statement and returns its result, or NULL
 * with "pg: WHAT: message" in err.  The caller PQclear()s the result. */
static PGresult *query(struct pg_conn *c, const char *what, const char *sql, int nparams,
		       const char *const *params, struct strbuf *err)
{
	PGresult *res;
	ExecStatusType st;

	if (!c->pg) {
		strbuf_addf(err, "pg: %s: the connection is closed", what);
		return NULL;
	}
	res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	strbuf_addf(err, "pg: %s: ", what);
	oneline(err, res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
	PQclear(res);
	return NULL;
}

int pg_exec(struct pg_conn *conn, const char *sql, struct strbuf *err)
{
	PGresult *res;
	ExecStatusType st;
	int ret = 0;

	if (!conn->pg) {
		strbuf_addstr(err, "pg: the connection is closed");
		return -1;
	}
	res = PQexec(conn->pg, sql);
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY) {
		strbuf_addstr(err, "pg: ");
		oneline(err, res ? PQresultErrorMessage(res) : PQerrorMessage(conn->pg));
		ret = -1;
	}
	PQclear(res);
	return ret;
}

int pg_set_application_name(struct pg_conn *conn, const char *name, struct strbuf *err)
{
	char *literal;
	char *sql;
	int ret;

	if (!conn->pg) {
		strbuf_addstr(err, "pg: set application_name: the connection is closed");
		return -1;
	}
	/* SET rather than SELECT set_config(): a utility statement takes no
	 * snapshot, so it is harmless even before SET TRANSACTION. */
	literal = PQescapeLiteral(conn->pg, name, strlen(name));
	if (!literal) {
		strbuf_addstr(err, "pg: set application_name: ");
		oneline(err, PQerrorMessage(conn->pg));
		return -1;
	}
	sql = xasprintf("SET application_name = %s", literal);
	PQfreemem(literal);
	ret = pg_exec(conn, sql, err);
	free(sql);
	return ret;
}

int pg_server_info(struct pg_conn *conn, struct pg_server_info *info, struct strbuf *err)
{
	static const char sql[] =
		"SELECT current_setting('server_version'),"
		" current_setting('server_version_num')::int,"
		" CASE WHEN has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE')"
		"  THEN (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) END,"
		" current_user, current_database(),"
		" (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),"
		" pg_backend_pid()";
	PGresult *res;

	memset(info, 0, sizeof(*info));
	res = query(conn, "server info", sql, 0, NULL, err);
	if (!res)
		return -1;
	info->version = xstrdup(PQgetvalue(res, 0, 0));
	info->version_num = atoi(PQgetvalue(res, 0, 1));
	info->system_identifier = xstrdup(PQgetvalue(res, 0, 2));
	info->user = xstrdup(PQgetvalue(res, 0, 3));
	info->database = xstrdup(PQgetvalue(res, 0, 4));
	info->superuser = !strcmp(PQgetvalue(res, 0, 5), "t");
	info->backend_pid = atoi(PQgetvalue(res, 0, 6));
	PQclear(res);
	return 0;
}

void pg_server_info_release(struct pg_server_info *info)
{
	free(info->version);
	free(info->system_identifier);
	free(info->user);
	free(info->database);
	memset(info, 0, sizeof(*info));
}

/* ---------- splitting a block into statements ---------- */

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

/* ---------- psql's aligned format ---------- */

/* This reproduces fe_utils/print.c's print_aligned_text() with psql's
 * defaults (border 1, ascii line style, no expanded or wrapped mode, NULL
 * shown as nothing) and mbprint.c's pg_wcsformat(): widths are display
 * widths from PQdsplen, newlines split a value into lines marked with '+',
 * \r and other control characters are shown escaped, tabs expanded. */

struct fline {
	size_t off, len;
	int width;
};

struct fcell {
	struct strbuf text;
	struct fline *lines;
	size_t nlines, alloc;
	int width; /* widest line */
};

static unsigned utf8_code_point(const unsigned char *c)
{
	if ((c[0] & 0x80) == 0)
		return c[0];
	if ((c[0] & 0xE0) == 0xC0)
		return ((c[0] & 0x1Fu) << 6) | (c[1] & 0x3Fu);
	if ((c[0] & 0xF0) == 0xE0)
		return ((c[0] & 0x0Fu) << 12) | ((c[1] & 0x3Fu) << 6) | (c[2] & 0x3Fu);
	if ((c[0] & 0xF8) == 0xF0)
		return ((c[0] & 0x07u) << 18) | ((c[1] & 0x3Fu) << 12) | ((c[2] & 0x3Fu) << 6) |
		       (c[3] & 0x3Fu);
	return 0xFFFFFFFFu;
}

static void fcell_end_line(struct fcell *fc, size_t start, int width)
{
	ALLOC_GROW(fc->lines, fc->nlines + 1, fc->alloc);
	fc->lines[fc->nlines].off = start;
	fc->lines[fc->nlines].len = fc->text.len - start;
	fc->lines[fc->nlines].width = width;
	fc->nlines++;
	if (width > fc->width)
		fc->width = width;
}

static void fcell_format(struct fcell *fc, const char *s, int encoding, bool utf8)
{
	size_t len = strlen(s), start = 0;
	int width = 0;

	strbuf_reset(&fc->text);
	fc->nlines = 0;
	fc->width = 0;
	while (*s && len > 0) {
		int chlen = PQmblen(s, encoding);
		int w;

		if (chlen < 1 || (size_t)chlen > len)
			break;
		w = PQdsplen(s, encoding);
		if (chlen == 1) {
			if (*s == '\n') {
				fcell_end_line(fc, start, width);
				width = 0;
				start = fc->text.len;
			} else if (*s == '\r') {
				strbuf_addstr(&fc->text, "\\r");
				width += 2;
			} else if (*s == '\t') {
				do {
					strbuf_addch(&fc->text, ' ');
					width++;
				} while (width % 8 != 0);
			} else if (w < 0) {
				strbuf_addf(&fc->text, "\\x%02X", (unsigned char)*s);
				width += 4;
			} else {
				strbuf_addch(&fc->text, *s);
				width += w;
			}
		} else if (w < 0) {
			if (utf8)
				strbuf_addf(&fc->text, "\\u%04X", utf8_code_point((const unsigned char *)s));
			else
				strbuf_addstr(&fc->text, "\\u????");
			width += 6;
		} else {
			strbuf_add(&fc->text, s, (size_t)chlen);
			width += w;
		}
		s += chlen;
		len -= (size_t)chlen;
	}
	fcell_end_line(fc, start, width);
}

/* right_aligned is psql's column_type_alignment(): numbers go right. */
static bool right_aligned(Oid type)
{
	switch (type) {
	case 20:   /* int8 */
	case 21:   /* int2 */
	case 23:   /* int4 */
	case 26:   /* oid */
	case 28:   /* xid */
	case 29:   /* cid */
	case 700:  /* float4 */
	case 701:  /* float8 */
	case 790:  /* money */
	case 1700: /* numeric */
	case 5069: /* xid8 */
		return true;
	default:
		return false;
	}
}

/* format_table writes a result as psql's aligned format.  A result too big
 * to hold arrives in parts (run_statement): the first has the header, the
 * last the "(N rows)" footer with the total, and each part is aligned on
 * its own, as psql does with FETCH_COUNT. */
static void format_table_part(const PGresult *res, int encoding, bool utf8, bool header, bool footer,
			      long long total, struct strbuf *out)
{
	int ncols = PQnfields(res), nrows = PQntuples(res);
	size_t n = (size_t)ncols + 1;
	int *width = xcalloc(n, sizeof(*width));
	bool *right = xcalloc(n, sizeof(*right));
	bool *done = xcalloc(n, sizeof(*done));
	size_t *cur = xcalloc(n, sizeof(*cur));
	struct fcell *cells = xcalloc(n, sizeof(*cells));

	for (int i = 0; i < ncols; i++) {
		strbuf_init(&cells[i].text, 0);
		fcell_format(&cells[i], PQfname(res, i), encoding, utf8);
		width[i] = cells[i].width;
		right[i] = right_aligned(PQftype(res, i));
	}
	for (int r = 0; r < nrows; r++)
		for (int i = 0; i < ncols; i++) {
			fcell_format(&cells[i], PQgetvalue(res, r, i), encoding, utf8);
			if (cells[i].width > width[i])
				width[i] = cells[i].width;
		}

	/* header: centred, '+' where a name goes on on the next line */
	if (header && ncols > 0) {
		int remaining = ncols;
		for (int i = 0; i < ncols; i++)
			fcell_format(&cells[i], PQfname(res, i), encoding, utf8);
		for (size_t k = 0; remaining > 0; k++) {
			for (int i = 0; i < ncols; i++) {
				strbuf_addch(out, ' ');
				if (!done[i]) {
					const struct fline *l = &cells[i].lines[k];
					int space = width[i] - l->width;
					strbuf_addchars(out, ' ', (size_t)(space / 2));
					strbuf_add(out, cells[i].text.buf + l->off, l->len);
					strbuf_addchars(out, ' ', (size_t)((space + 1) / 2));
					if (k + 1 >= cells[i].nlines) {
						done[i] = true;
						remaining--;
					}
				} else {
					strbuf_addchars(out, ' ', (size_t)width[i]);
				}
				strbuf_addch(out, done[i] ? ' ' : '+');
				if (i < ncols - 1)
					strbuf_addch(out, '|');
			}
			strbuf_addch(out, '\n');
		}
	}
	if (header) {
		strbuf_addch(out, '-');
		for (int i = 0; i < ncols; i++) {
			strbuf_addchars(out, '-', (size_t)width[i]);
			if (i < ncols - 1)
				strbuf_addstr(out, "-+-");
		}
		strbuf_addstr(out, "-\n");
	}

	for (int r = 0; r < nrows && ncols > 0; r++) {
		bool more;
		for (int i = 0; i < ncols; i++) {
			fcell_format(&cells[i], PQgetvalue(res, r, i), encoding, utf8);
			cur[i] = 0;
		}
		do {
			more = false;
			for (int j = 0; j < ncols; j++) {
				bool last = j == ncols - 1, newline;
				int chars = width[j];

				strbuf_addch(out, ' ');
				if (cur[j] >= cells[j].nlines) {
					if (!last)
						strbuf_addchars(out, ' ', (size_t)width[j]);
				} else {
					const struct fline *l = &cells[j].lines[cur[j]];
					chars = l->width;
					if (right[j])
						strbuf_addchars(out, ' ', (size_t)(width[j] - chars));
					strbuf_add(out, cells[j].text.buf + l->off, l->len);
					if (++cur[j] < cells[j].nlines)
						more = true;
				}
				newline = cur[j] < cells[j].nlines && cur[j] != 0;
				if (!right[j] && (!last || newline))
					strbuf_addchars(out, ' ', (size_t)(width[j] - chars));
				if (newline)
					strbuf_addch(out, '+');
				else if (!last)
					strbuf_addch(out, ' ');
				if (!last)
					strbuf_addch(out, '|');
			}
			strbuf_addch(out, '\n');
		} while (more);
	}
	if (footer)
		strbuf_addf(out, "(%lld row%s)\n\n", total, total == 1 ? "" : "s");

	for (int i = 0; i < ncols; i++) {
		strbuf_release(&cells[i].text);
		free(cells[i].lines);
	}
	free(cells);
	free(cur);
	free(done);
	free(right);
	free(width);
}

static void format_table(const PGresult *res, int encoding, bool utf8, struct strbuf *out)
{
	format_table_part(res, encoding, utf8, true, true, PQntuples(res), out);
}

/* ---------- running a block ---------- */

struct block_run {
	struct pg_conn *c;
	const struct pg_block_opts *opts;
	struct pg_outcome *o;
	const struct sql_stmt *stmts;
	size_t nstmts;
	int64_t deadline;              /* end of the block's budget (proc_now_ms), 0: none */
	bool author_lock_timeout;      /* the block SET lock_timeout itself */
	bool author_statement_timeout; /* the block SET statement_timeout itself */
	char guards_in_force[96];      /* the guards last SET outside a transaction, still in
					* force; "" when unknown */
};

/* How long past the block's budget we wait for the server's own
 * statement_timeout before cancelling from here (a server that does not
 * answer, a network that dropped). */
#define CANCEL_GRACE_MS 2000
/* How long we wait for the answer to a cancel request before giving the
 * connection up. */
#define ABANDON_MS 10000

static void emit(struct block_run *r, enum pg_stream stream, const char *text, size_t len)
{
	struct strbuf *sb = stream == PG_STDOUT ? &r->o->out : &r->o->err;
	bool *truncated = stream == PG_STDOUT ? &r->o->out_truncated : &r->o->err_truncated;
	size_t cap = r->opts->capture_cap;

	if (!len)
		return;
	if (sb->len + len <= cap) {
		strbuf_add(sb, text, len);
	} else {
		if (sb->len < cap)
			strbuf_add(sb, text, cap - sb->len);
		*truncated = true;
	}
	if (r->opts->output)
		r->opts->output(r->opts->data, stream, text, len);
}

static void emitf(struct block_run *r, enum pg_stream stream, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void emitf(struct block_run *r, enum pg_stream stream, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	emit(r, stream, sb.buf, sb.len);
	strbuf_release(&sb);
}

static void notice_receiver(void *arg, const PGresult *res)
{
	struct pg_conn *c = arg;
	const char *msg = PQresultErrorMessage(res);

	if (c->run && msg)
		emit(c->run, PG_STDERR, msg, strlen(msg));
}

static void error_clear(struct pg_error *e)
{
	free(e->severity);
	free(e->sqlstate);
	free(e->message);
	free(e->detail);
	free(e->hint);
	free(e->context);
	memset(e, 0, sizeof(*e));
	e->statement = -1;
}

static int file_line(const struct block_run *r, int block_line)
{
	return r->opts->first_line > 0 ? r->opts->first_line + block_line - 1 : block_line;
}

/* position_line maps the server's cursor position (1-based, in characters)
 * to a line of the block. */
static int position_line(const struct block_run *r, const struct sql_stmt *st, int position)
{
	int line = st->line;
	const char *p = st->text;

	for (int k = 1; *p && k < position; k++) {
		int len = PQmblen(p, r->c->encoding);
		if (*p == '\n')
			line++;
		for (int i = 0; i < len && *p; i++)
			p++;
	}
	return line;
}

static void record_error(struct block_run *r, size_t idx, const PGresult *res, const char *fallback)
{
	struct pg_error *e = &r->o->error;
	const struct sql_stmt *st = &r->stmts[idx];
	const char *f;

	error_clear(e);
	f = res ? PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;
	if (!f && res)
		f = PQresultErrorField(res, PG_DIAG_SEVERITY);
	e->severity = xstrdup(f ? f : "ERROR");
	f = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	e->sqlstate = xstrdup(f ? f : "");
	f = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (f) {
		e->message = xstrdup(f);
	} else {
		struct strbuf sb = STRBUF_INIT;
		oneline(&sb, fallback ? fallback : res ? PQresultErrorMessage(res) : "unknown error");
		e->message = strbuf_detach(&sb, NULL);
	}
	if (res) {
		e->detail = dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
		e->hint = dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
		e->context = dup_or_null(PQresultErrorField(res, PG_DIAG_CONTEXT));
		f = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
		e->position = f ? atoi(f) : 0;
	}
	e->statement = (int)idx;
	e->block_line = e->position > 0 ? position_line(r, st, e->position) : st->line;
	e->line = file_line(r, e->block_line);
}

/* emit_error_text prints an error the way psql does, then where it is. */
static void emit_error_text(struct block_run *r, const char *text)
{
	size_t len = strlen(text);

	emit(r, PG_STDERR, text, len);
	if (len && text[len - 1] != '\n')
		emit(r, PG_STDERR, "\n", 1);
	if (r->opts->file)
		emitf(r, PG_STDERR, "  at %s:%d\n", r->opts->file, r->o->error.line);
}

/* synthetic_error records an error that is ours, not the server's. */
static void synthetic_error(struct block_run *r, size_t idx, const char *sqlstate, const char *message)
{
	struct pg_error *e = &r->o->error;

	error_clear(e);
	e->severity = xstrdup("ERROR");
	e->sqlstate = xstrdup(sqlstate);
	e->message = xstrdup(message);
	e->statement = (int)idx;
	e->block_line = r->stmts[idx].line;
	e->line = file_line(r, e->block_line);
	emitf(r, PG_STDERR, "runbook: %s\n", message);
	if (r->opts->file)
		emitf(r, PG_STDERR, "  at %s:%d\n", r->opts->file, e->line);
}

static void keep_row(struct pg_row *row, const PGresult *res)
{
	size_t ncols = (size_t)PQnfields(res);

	pg_row_release(row);
	row->ncols = ncols;
	row->nrows = PQntuples(res);
	row->names = xcalloc(ncols + 1, sizeof(*row->names));
	row->values = xcalloc(ncols + 1, sizeof(*row->values));
	for (size_t i = 0; i < ncols; i++) {
		row->names[i] = xstrdup(PQfname(res, (int)i));
		if (row->nrows > 0 && !PQgetisnull(res, 0, (int)i))
			row->values[i] = xstrdup(PQgetvalue(res, 0, (int)i));
	}
}

/* psql adds the tag of INSERT/UPDATE/DELETE/MERGE ... RETURNING */
static void add_returning_tag(struct strbuf *text, const PGresult *res)
{
	const char *tag = PQcmdStatus((PGresult *)res);
	if (!strncmp(tag, "INSERT", 6) || !strncmp(tag, "UPDATE", 6) || !strncmp(tag, "DELETE", 6) ||
	    !strncmp(tag, "MERGE", 5))
		strbuf_addf(text, "%s\n", tag);
}

static void handle_result(struct block_run *r, size_t idx, const PGresult *res, bool *failed)
{
	struct strbuf text = STRBUF_INIT;

	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
		format_table(res, r->c->encoding, r->c->utf8, &text);
		add_returning_tag(&text, res);
		keep_row(&r->o->row, res);
		emit(r, PG_STDOUT, text.buf, text.len);
		break;
	case PGRES_COMMAND_OK:
		strbuf_addf(&text, "%s\n", PQcmdStatus((PGresult *)res));
		emit(r, PG_STDOUT, text.buf, text.len);
		break;
	case PGRES_FATAL_ERROR:
	case PGRES_NONFATAL_ERROR:
	case PGRES_BAD_RESPONSE:
		if (!*failed) {
			record_error(r, idx, res, NULL);
			*failed = true;
		}
		emit_error_text(r, PQresultErrorMessage(res));
		break;
	default:
		break;
	}
	strbuf_release(&text);
}

static void send_cancel(struct block_run *r)
{
	char errbuf[256];
	PGcancel *cancel = PQgetCancel(r->c->pg);

	if (!cancel) {
		emitf(r, PG_STDERR, "runbook: could not build a cancel request\n");
		return;
	}
	if (PQcancel(cancel, errbuf, (int)sizeof(errbuf))) {
		emitf(r, PG_STDERR, "Cancel request sent\n");
	} else {
		struct strbuf sb = STRBUF_INIT;
		oneline(&sb, errbuf);
		emitf(r, PG_STDERR, "runbook: the cancel request failed: %s\n", sb.buf);
		strbuf_release(&sb);
	}
	PQfreeCancel(cancel);
}

/* abandon gives up a connection whose statement cannot be cancelled: the
 * server ends the backend (and rolls its transaction back) once it notices
 * the socket is gone. */
static void abandon(struct block_run *r, const char *why)
{
	emitf(r, PG_STDERR, "runbook: %s; the connection was closed\n", why);
	PQfinish(r->c->pg);
	r->c->pg = NULL;
	r->o->conn_lost = true;
}

/* stop_signal_pending takes the signals the self-pipe reported and says
 * whether one of them asks us to stop (anything but SIGCHLD); the first
 * such signal is kept in the outcome for the caller. */
static bool stop_signal_pending(struct block_run *r)
{
	bool stop = false;
	int sig;

	while ((sig = proc_take_signal()) != 0)
		if (sig != SIGCHLD) {
			if (!r->o->signal)
				r->o->signal = sig;
			stop = true;
		}
	return stop;
}

/* connection_broke records that libpq could not send or read: the server
 * went away (shut down, crashed, pg_terminate_backend) or the network did.
 * When the server said why first (FATAL 57P01 "terminating connection due
 * to administrator command"), that error is kept; otherwise libpq's message
 * is recorded with SQLSTATE 08006 (connection_failure), so that a failure
 * table can name it. */
static void connection_broke(struct block_run *r, size_t idx, bool error_recorded)
{
	PGconn *pg = r->c->pg;
	const char *msg = PQerrorMessage(pg);
	bool lost = PQstatus(pg) == CONNECTION_BAD;

	if (lost)
		r->o->conn_lost = true;
	if (error_recorded) {
		/* the server's FATAL is on screen already; libpq repeats it */
		emitf(r, PG_STDERR, "server closed the connection\n");
		return;
	}
	record_error(r, idx, NULL, msg);
	if (lost) {
		free(r->o->error.sqlstate);
		r->o->error.sqlstate = xstrdup("08006");
	}
	emit_error_text(r, msg);
}

enum stmt_result { STMT_OK, STMT_ERROR, STMT_INTERRUPTED, STMT_TIMED_OUT };
enum cancel_reason { NOT_CANCELLED, CANCELLED_BY_SIGNAL, CANCELLED_BY_DEADLINE };

/* The rows of a result that arrive one by one (single-row mode): kept in a
 * batch until ROWS_BATCH_BYTES of values, then formatted, emitted and let
 * go.  A result that fits in one batch is formatted whole, exactly as psql
 * does. */
#define ROWS_BATCH_BYTES ((size_t)4 << 20)

struct rows {
	PGresult *batch;
	size_t bytes;
	long long shown;   /* rows already emitted */
	long long bare;    /* rows of no column (SELECT FROM t), which a PGresult cannot hold */
	bool streamed;     /* a part was emitted: the header is out */
};

static void rows_drop(struct rows *rows)
{
	if (rows->batch)
		PQclear(rows->batch);
	memset(rows, 0, sizeof(*rows));
}

static void rows_emit(struct block_run *r, struct rows *rows, bool footer, const PGresult *last)
{
	struct strbuf text = STRBUF_INIT;
	long long n = (rows->batch ? PQntuples(rows->batch) : 0) + rows->bare;
	const PGresult *shape = rows->batch ? rows->batch : last;

	if (rows->batch || footer)
		format_table_part(shape, r->c->encoding, r->c->utf8, !rows->streamed, footer, rows->shown + n,
				  &text);
	if (footer)
		add_returning_tag(&text, last);
	emit(r, PG_STDOUT, text.buf, text.len);
	strbuf_release(&text);
	rows->shown += n;
	rows->bare = 0;
	rows->streamed = true;
	if (rows->batch)
		PQclear(rows->batch);
	rows->batch = NULL;
	rows->bytes = 0;
}

static void rows_add(struct block_run *r, struct rows *rows, const PGresult *res)
{
	int ncols = PQnfields(res);

	if (!rows->batch) {
		rows->batch = PQcopyResult(res, PG_COPYRES_ATTRS);
		if (!rows->batch) {
			fprintf(stderr, "runbook: out of memory (copying a result's shape)\n");
			abort();
		}
		if (!rows->shown)
			keep_row(&r->o->row, res); /* the first row, for captures */
	}
	int at = PQntuples(rows->batch);
	if (!ncols)
		rows->bare++;
	for (int i = 0; i < ncols; i++) {
		bool null = PQgetisnull(res, 0, i);
		int len = PQgetlength(res, 0, i);
		if (!PQsetvalue(rows->batch, at, i, null ? NULL : PQgetvalue(res, 0, i), null ? -1 : len)) {
			fprintf(stderr, "runbook: out of memory (keeping a row)\n");
			abort();
		}
		rows->bytes += (size_t)len + 16;
	}
	if (rows->bytes >= ROWS_BATCH_BYTES)
		rows_emit(r, rows, false, res);
}

/* rows_flush ends a result that came row by row: last is its final,
 * empty PGRES_TUPLES_OK (with the command tag). */
static void rows_flush(struct block_run *r, struct rows *rows, const PGresult *last)
{
	if (!rows->streamed && rows->batch) {
		/* it fitted: as psql prints it */
		PGresult *whole = rows->batch;
		long long n = PQntuples(whole) + rows->bare;
		struct strbuf text = STRBUF_INIT;
		format_table_part(whole, r->c->encoding, r->c->utf8, true, true, n, &text);
		add_returning_tag(&text, last);
		emit(r, PG_STDOUT, text.buf, text.len);
		strbuf_release(&text);
		r->o->row.nrows = (long)n;
		rows_drop(rows);
		return;
	}
	rows_emit(r, rows, true, last);
	r->o->row.nrows = (long)rows->shown;
	rows_drop(rows);
}

static enum stmt_result run_statement_rows(struct block_run *r, size_t idx, struct rows *rows);

static enum stmt_result run_statement(struct block_run *r, size_t idx)
{
	struct rows rows = { 0 };
	enum stmt_result ret = run_statement_rows(r, idx, &rows);
	rows_drop(&rows);
	return ret;
}

static enum stmt_result run_statement_rows(struct block_run *r, size_t idx, struct rows *rows)
{
	const struct pg_block_opts *opts = r->opts;
	PGconn *pg = r->c->pg;
	enum cancel_reason cancelled = NOT_CANCELLED;
	int64_t cancelled_at = 0, next_tick = 0;
	bool failed = false, copy_out = false, after_copy_out = false;

	if (!PQsendQuery(pg, r->stmts[idx].text)) {
		connection_broke(r, idx, false);
		return STMT_ERROR;
	}
	/* rows one by one, so that a huge result is formatted and let go in
	 * parts instead of held whole (memory stays bounded) */
	PQsetSingleRowMode(pg);
	if (opts->tick && opts->tick_ms > 0)
		next_tick = proc_now_ms() + opts->tick_ms;
	for (;;) {
		struct pollfd fds[2];
		int64_t now, wake = -1;
		int nfds = 1, timeout, n;

		/* take everything libpq has already read */
		for (;;) {
			PGresult *res;
			if (copy_out) {
				char *buf = NULL;
				int len = PQgetCopyData(pg, &buf, 1);
				if (len > 0) {
					emit(r, PG_STDOUT, buf, (size_t)len);
					PQfreemem(buf);
					continue;
				}
				if (len == 0)
					break;
				copy_out = false; /* done or failed: PQgetResult says which */
				continue;
			}
			if (PQisBusy(pg))
				break;
			res = PQgetResult(pg);
			if (!res)
				goto finished;
			if (PQresultStatus(res) == PGRES_COPY_OUT) {
				copy_out = after_copy_out = true;
			} else if (after_copy_out && PQresultStatus(res) == PGRES_COMMAND_OK) {
				/* psql leaves out "COPY n" when it went where the data went */
				after_copy_out = false;
			} else if (PQresultStatus(res) == PGRES_COPY_IN) {
				PQputCopyEnd(pg, "COPY FROM STDIN is not supported in a sql block; "
						 "use \\copy in a bash block with psql");
			} else if (PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
				rows_add(r, rows, res);
			} else if (PQresultStatus(res) == PGRES_TUPLES_OK && (rows->batch || rows->streamed)) {
				rows_flush(r, rows, res);
			} else {
				/* an error ends the rows: like psql, the ones not shown yet are not */
				rows_drop(rows);
				handle_result(r, idx, res, &failed);
			}
			PQclear(res);
		}

		/* wait for the server, a signal, the deadline or a tick */
		now = proc_now_ms();
		if (next_tick)
			wake = next_tick;
		if (cancelled == NOT_CANCELLED && r->deadline &&
		    (wake < 0 || r->deadline + CANCEL_GRACE_MS < wake))
			wake = r->deadline + CANCEL_GRACE_MS;
		if (cancelled != NOT_CANCELLED && (wake < 0 || cancelled_at + ABANDON_MS < wake))
			wake = cancelled_at + ABANDON_MS;
		timeout = wake < 0 ? -1 : wake <= now ? 0 : wake - now > 60000 ? 60000 : (int)(wake - now);
		fds[0].fd = PQsocket(pg);
		fds[0].events = POLLIN;
		fds[0].revents = 0;
		if (opts->signal_fd >= 0) {
			fds[1].fd = opts->signal_fd;
			fds[1].events = POLLIN;
			fds[1].revents = 0;
			nfds = 2;
		}
		n = poll(fds, (nfds_t)nfds, timeout);
		if (n < 0 && errno != EINTR) {
			char msg[128];
			snprintf(msg, sizeof(msg), "poll: %s", strerror(errno));
			abandon(r, msg);
			synthetic_error(r, idx, "", msg);
			return STMT_ERROR;
		}
		if (n > 0 && nfds == 2 && (fds[1].revents & POLLIN) && stop_signal_pending(r)) {
			if (cancelled == CANCELLED_BY_SIGNAL) {
				abandon(r, "interrupted again while waiting for the cancel");
				synthetic_error(r, idx, "57014", "interrupted");
				return STMT_INTERRUPTED;
			}
			if (cancelled == NOT_CANCELLED) {
				send_cancel(r);
				cancelled_at = proc_now_ms();
			}
			cancelled = CANCELLED_BY_SIGNAL;
		}
		if (n > 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(pg)) {
			connection_broke(r, idx, failed);
			return cancelled == CANCELLED_BY_SIGNAL ? STMT_INTERRUPTED : STMT_ERROR;
		}
		now = proc_now_ms();
		if (cancelled == NOT_CANCELLED && r->deadline && now >= r->deadline + CANCEL_GRACE_MS) {
			send_cancel(r);
			cancelled = CANCELLED_BY_DEADLINE;
			cancelled_at = now;
		}
		if (cancelled != NOT_CANCELLED && now >= cancelled_at + ABANDON_MS) {
			bool by_signal = cancelled == CANCELLED_BY_SIGNAL;
			abandon(r, "the server did not answer the cancel request within 10 s");
			synthetic_error(r, idx, "57014", by_signal ? "interrupted" : "statement timeout");
			return by_signal ? STMT_INTERRUPTED : STMT_TIMED_OUT;
		}
		if (next_tick && now >= next_tick) {
			opts->tick(opts->data);
			next_tick = proc_now_ms() + opts->tick_ms;
		}
	}
finished:
	if (cancelled == CANCELLED_BY_SIGNAL) {
		if (!failed)
			synthetic_error(r, idx, "57014", "interrupted after the statement completed");
		return STMT_INTERRUPTED;
	}
	if (failed) {
		const struct pg_error *e = &r->o->error;
		if (!strcmp(e->sqlstate, "57014") &&
		    (cancelled == CANCELLED_BY_DEADLINE || strstr(e->message, "statement timeout")))
			return STMT_TIMED_OUT;
		return STMT_ERROR;
	}
	return STMT_OK;
}

static bool has_word(const char *words, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = words; (p = strstr(p, word)) != NULL; p += n)
		if ((p == words || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* word_at copies the index-th word of words into buf ("" when missing). */
static void word_at(const char *words, int index, char *buf, size_t size)
{
	const char *p = words;
	size_t n;

	for (int i = 0; i < index && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p) {
		buf[0] = '\0';
		return;
	}
	n = strcspn(p, " ");
	if (n >= size)
		n = size - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/* note_author_settings: once the block sets lock_timeout or
 * statement_timeout itself, its value stands for the rest of the block. */
static void note_author_settings(struct block_run *r, const struct sql_stmt *st)
{
	char verb[16], name[64];
	int at = 1;

	word_at(st->keywords, 0, verb, sizeof(verb));
	if (strcmp(verb, "set") && strcmp(verb, "reset"))
		return;
	word_at(st->keywords, at, name, sizeof(name));
	if (!strcmp(name, "session") || !strcmp(name, "local"))
		word_at(st->keywords, ++at, name, sizeof(name));
	if (!strcmp(name, "lock_timeout") || (!strcmp(verb, "reset") && !strcmp(name, "all")))
		r->author_lock_timeout = true;
	if (!strcmp(name, "statement_timeout") || (!strcmp(verb, "reset") && !strcmp(name, "all")))
		r->author_statement_timeout = true;
}

/* may_change_guards: a statement that may change lock_timeout or
 * statement_timeout for the session (SET, RESET, DISCARD, set_config(),
 * or text naming either setting, as dynamic SQL would). */
static bool may_change_guards(const struct sql_stmt *st)
{
	char verb[16];
	word_at(st->keywords, 0, verb, sizeof(verb));
	return !strcmp(verb, "set") || !strcmp(verb, "reset") || !strcmp(verb, "discard") ||
	       strcasestr(st->text, "set_config") || strcasestr(st->text, "lock_timeout") ||
	       strcasestr(st->text, "statement_timeout");
}

/* concurrently: CREATE INDEX CONCURRENTLY and friends wait for older
 * transactions through lock waits, and a lock_timeout there leaves an
 * INVALID index behind; they do not block the application's queries, so
 * they run without our lock_timeout. */
static bool concurrently(const struct sql_stmt *st)
{
	return has_word(st->keywords, "concurrently");
}

/* set_guards sets lock_timeout and statement_timeout for the next
 * statement.  SET is a utility statement: it takes no snapshot, so it may
 * run even between BEGIN and SET TRANSACTION ISOLATION LEVEL. */
static int set_guards(struct block_run *r, size_t idx)
{
	const struct pg_block_opts *opts = r->opts;
	const struct sql_stmt *st = &r->stmts[idx];
	struct strbuf sql = STRBUF_INIT;
	PGresult *res;
	int ret = 0;

	if (!r->author_lock_timeout) {
		if (opts->lock_timeout_ms < 0 || concurrently(st))
			strbuf_addstr(&sql, "RESET lock_timeout;");
		else
			strbuf_addf(&sql, "SET lock_timeout = %d;", opts->lock_timeout_ms);
	}
	if (!r->author_statement_timeout) {
		if (r->deadline) {
			int64_t left = r->deadline - proc_now_ms();
			strbuf_addf(&sql, "SET statement_timeout = %lld;", (long long)(left < 1 ? 1 : left));
		} else {
			strbuf_addstr(&sql, "RESET statement_timeout;");
		}
	}
	if (!sql.len)
		return 0;
	/* the same guards, set outside a transaction and not changed since,
	 * are still in force: no round trip (10,000 short statements took
	 * twice psql's time with one SET before each) */
	PGTransactionStatusType ts = PQtransactionStatus(r->c->pg);
	if (ts == PQTRANS_IDLE && !strcmp(sql.buf, r->guards_in_force)) {
		strbuf_release(&sql);
		return 0;
	}
	r->guards_in_force[0] = '\0';
	res = PQexec(r->c->pg, sql.buf);
	if (PQresultStatus(res) == PGRES_COMMAND_OK && ts == PQTRANS_IDLE && sql.len < sizeof(r->guards_in_force))
		memcpy(r->guards_in_force, sql.buf, sql.len + 1);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		record_error(r, idx, res, PQerrorMessage(r->c->pg));
		emit_error_text(r, res ? PQresultErrorMessage(res) : PQerrorMessage(r->c->pg));
		if (PQstatus(r->c->pg) == CONNECTION_BAD)
			r->o->conn_lost = true;
		ret = -1;
	}
	PQclear(res);
	strbuf_release(&sql);
	return ret;
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;

	if (!x)
		x = ((uint64_t)proc_wall_ms() * 0x9E3779B97F4A7C15ull) ^ (uint64_t)getpid() ^ 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

/* backoff is "equal jitter": half the exponential delay, plus a random
 * part of the other half, so that two runners do not retry in step. */
static int64_t backoff_ms(const struct pg_block_opts *opts, int attempt)
{
	int64_t delay = opts->retry_base_ms > 0 ? opts->retry_base_ms : 1;

	for (int i = 1; i < attempt && delay < opts->retry_max_ms; i++)
		delay *= 2;
	if (opts->retry_max_ms > 0 && delay > opts->retry_max_ms)
		delay = opts->retry_max_ms;
	return delay / 2 + (int64_t)(rng_next() % (uint64_t)(delay - delay / 2 + 1));
}

/* sleep_watching waits ms; false when a stop signal arrived meanwhile. */
static bool sleep_watching(struct block_run *r, int64_t ms)
{
	int64_t end = proc_now_ms() + ms;

	for (;;) {
		struct pollfd pfd = { .fd = r->opts->signal_fd, .events = POLLIN };
		int64_t left = end - proc_now_ms();
		if (left <= 0)
			return true;
		if (poll(&pfd, r->opts->signal_fd >= 0 ? 1 : 0, (int)left) > 0 && stop_signal_pending(r))
			return false;
	}
}

static enum pg_status stmt_status(enum stmt_result res)
{
	switch (res) {
	case STMT_OK:
		return PG_OK;
	case STMT_INTERRUPTED:
		return PG_INTERRUPTED;
	case STMT_TIMED_OUT:
		return PG_TIMED_OUT;
	default:
		return PG_FAILED;
	}
}

static enum pg_status run_with_retries(struct block_run *r, size_t idx)
{
	const struct pg_block_opts *opts = r->opts;
	const struct sql_stmt *st = &r->stmts[idx];
	int attempt = 0;

	for (;;) {
		PGTransactionStatusType before;
		enum stmt_result res;

		if (r->deadline && proc_now_ms() >= r->deadline) {
			char msg[160];
			snprintf(msg, sizeof(msg), "the block's statement_timeout (%lld ms) ran out before this statement",
				 (long long)opts->statement_timeout_ms);
			synthetic_error(r, idx, "57014", msg);
			return PG_TIMED_OUT;
		}
		before = PQtransactionStatus(r->c->pg);
		if (set_guards(r, idx) < 0)
			return PG_FAILED;
		res = run_statement(r, idx);
		if (may_change_guards(st))
			r->guards_in_force[0] = '\0';
		if (res == STMT_OK) {
			r->o->completed++;
			note_author_settings(r, st);
			return PG_OK;
		}
		if (res != STMT_ERROR || !r->c->pg || strcmp(r->o->error.sqlstate, "55P03") != 0 ||
		    concurrently(st))
			return stmt_status(res);
		if (before != PQTRANS_IDLE) {
			emitf(r, PG_STDERR, "runbook: not retried: the statement ran inside an explicit "
					    "transaction, which this error aborted\n");
			return PG_FAILED;
		}
		if (attempt >= opts->retries) {
			if (opts->retries > 0)
				emitf(r, PG_STDERR, "runbook: lock still not available after %d %s\n",
				      opts->retries, opts->retries == 1 ? "retry" : "retries");
			return PG_FAILED;
		}
		attempt++;
		{
			int64_t wait = backoff_ms(opts, attempt);
			struct pg_outcome *o = r->o;
			if (r->deadline && wait > r->deadline - proc_now_ms())
				wait = r->deadline - proc_now_ms() > 0 ? r->deadline - proc_now_ms() : 0;
			ALLOC_GROW(o->retries, o->nretries + 1, o->alloc_retries);
			o->retries[o->nretries].statement = (int)idx;
			o->retries[o->nretries].line = o->error.line;
			o->retries[o->nretries].attempt = attempt;
			o->retries[o->nretries].backoff_ms = wait;
			o->nretries++;
			emitf(r, PG_STDERR, "runbook: lock not available within lock_timeout (%d ms); "
					    "retry %d of %d in %lld ms\n",
			      opts->lock_timeout_ms, attempt, opts->retries, (long long)wait);
			error_clear(&o->error);
			if (!sleep_watching(r, wait)) {
				synthetic_error(r, idx, "57014", "interrupted while waiting to retry");
				return PG_INTERRUPTED;
			}
		}
	}
}

static void outcome_init(struct pg_outcome *o)
{
	memset(o, 0, sizeof(*o));
	strbuf_init(&o->out, 0);
	strbuf_init(&o->err, 0);
	o->error.statement = -1;
}

enum pg_status pg_run_block(struct pg_conn *conn, const char *text, const struct pg_block_opts *opts,
			    struct pg_outcome *o)
{
	static const struct pg_block_opts defaults = PG_BLOCK_OPTS_INIT;
	struct block_run r = { .c = conn, .opts = opts ? opts : &defaults, .o = o };
	struct sql_stmt *stmts = NULL;
	struct strbuf msg = STRBUF_INIT;
	int64_t t0 = proc_now_ms();
	size_t n = 0;
	int err_line = 0;

	outcome_init(o);
	if (sql_split(text, &stmts, &n, &err_line, &msg) < 0) {
		o->status = PG_INVALID;
		o->error.severity = xstrdup("ERROR");
		o->error.sqlstate = xstrdup("");
		o->error.message = strbuf_detach(&msg, NULL);
		o->error.block_line = err_line;
		o->error.line = file_line(&r, err_line);
		emitf(&r, PG_STDERR, "runbook: %s\n", o->error.message);
		if (r.opts->file)
			emitf(&r, PG_STDERR, "  at %s:%d\n", r.opts->file, o->error.line);
		goto out;
	}
	r.stmts = stmts;
	r.nstmts = n;
	o->nstatements = n;
	if (!conn->pg) {
		o->status = PG_FAILED;
		o->conn_lost = true;
		o->error.severity = xstrdup("ERROR");
		o->error.sqlstate = xstrdup("");
		o->error.message = xstrdup("the connection is closed");
		emitf(&r, PG_STDERR, "runbook: the connection is closed\n");
		goto out;
	}
	if (r.opts->statement_timeout_ms > 0)
		r.deadline = t0 + r.opts->statement_timeout_ms;

	conn->run = &r;
	o->status = PG_OK;
	for (size_t i = 0; i < n && o->status == PG_OK; i++)
		o->status = run_with_retries(&r, i);

	/* A failed block must not keep a transaction open: its locks would be
	 * held while the operator decides what to do. */
	if (o->status != PG_OK && conn->pg) {
		PGTransactionStatusType ts = PQtransactionStatus(conn->pg);
		if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
			PGresult *res = PQexec(conn->pg, "ROLLBACK");
			if (PQresultStatus(res) == PGRES_COMMAND_OK) {
				o->rolled_back = true;
				emitf(&r, PG_STDERR, "runbook: the open transaction was rolled back\n");
			}
			PQclear(res);
		}
	}
	if (o->status == PG_OK && PQtransactionStatus(conn->pg) == PQTRANS_INTRANS)
		o->in_transaction = true;
	if (conn->pg && PQstatus(conn->pg) == CONNECTION_BAD)
		o->conn_lost = true;
	conn->run = NULL;
out:
	strbuf_release(&msg);
	sql_stmts_free(stmts, n);
	o->ms = proc_now_ms() - t0;
	return o->status;
}

void pg_outcome_release(struct pg_outcome *o)
{
	strbuf_release(&o->out);
	strbuf_release(&o->err);
	error_clear(&o->error);
	free(o->retries);
	o->retries = NULL;
	o->nretries = o->alloc_retries = 0;
	pg_row_release(&o->row);
}

const char *pg_status_name(enum pg_status status)
{
	switch (status) {
	case PG_OK:
		return "ok";
	case PG_FAILED:
		return "failed";
	case PG_TIMED_OUT:
		return "timed out";
	case PG_INTERRUPTED:
		return "interrupted";
	case PG_INVALID:
		return "invalid";
	}
	return "unknown";
}

int pg_query_row(struct pg_conn *conn, const char *sql, struct pg_row *row, struct strbuf *err)
{
	struct pg_outcome o;
	int ret = 0;

	memset(row, 0, sizeof(*row));
	if (pg_run_block(conn, sql, NULL, &o) != PG_OK) {
		strbuf_addf(err, "pg: query failed (%s): %s", pg_status_name(o.status),
			    o.error.message ? o.error.message : "no message");
		ret = -1;
	} else {
		*row = o.row;
		memset(&o.row, 0, sizeof(o.row));
	}
	pg_outcome_release(&o);
	return ret;
}

const char *pg_row_get(const struct pg_row *row, const char *name, bool *found)
{
	for (size_t i = 0; i < row->ncols; i++)
		if (!strcmp(row->names[i], name)) {
			if (found)
				*found = true;
			return row->values[i];
		}
	if (found)
		*found = false;
	return NULL;
}

void pg_row_release(struct pg_row *row)
{
	for (size_t i = 0; i < row->ncols; i++) {
		free(row->names[i]);
		free(row->values[i]);
	}
	free(row->names);
	free(row->values);
	memset(row, 0, sizeof(*row));
}

/* ---------- preflight ---------- */

int pg_check_version(const struct pg_server_info *info, int min_major, struct strbuf *err)
{
	if (info->version_num >= min_major * 10000)
		return 0;
	strbuf_addf(err, "server is PostgreSQL %s; the runbook needs %d or later", info->version,
		    min_major);
	return -1;
}

int pg_check_privileges(struct pg_conn *conn, const char *schema, const char *table,
			struct pg_privileges *priv, struct strbuf *why, struct strbuf *err)
{
	static const char sql[] =
		"WITH t AS (SELECT c.oid, c.relowner, c.relnamespace FROM pg_catalog.pg_class c"
		"           WHERE c.oid = pg_catalog.to_regclass($2::text)),"
		" s AS (SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n"
		"       WHERE n.nspname = coalesce($1::text,"
		"             (SELECT nspname::text FROM pg_catalog.pg_namespace"
		"              WHERE oid = (SELECT relnamespace FROM t)),"
		"             current_schema()::text))"
		" SELECT r.rolsuper, has_database_privilege(current_database(), 'CREATE'),"
		"  EXISTS (SELECT 1 FROM s),"
		"  coalesce((SELECT has_schema_privilege(s.oid, 'CREATE') FROM s), false),"
		"  EXISTS (SELECT 1 FROM t),"
		"  coalesce((SELECT pg_has_role(t.relowner, 'USAGE') FROM t), false),"
		"  current_user, current_database(),"
		"  coalesce((SELECT nspname::text FROM s), $1::text, current_schema()::text, '')"
		" FROM pg_catalog.pg_roles r WHERE r.rolname = current_user";
	const char *params[2] = { schema, table };
	const char *user, *db, *nsp;
	PGresult *res;

	memset(priv, 0, sizeof(*priv));
	res = query(conn, "privileges", sql, 2, params, err);
	if (!res)
		return -1;
	if (PQntuples(res) != 1) {
		strbuf_addstr(err, "pg: privileges: the current user has no pg_roles entry");
		PQclear(res);
		return -1;
	}
	priv->superuser = !strcmp(PQgetvalue(res, 0, 0), "t");
	priv->create_on_database = !strcmp(PQgetvalue(res, 0, 1), "t");
	priv->schema_exists = !strcmp(PQgetvalue(res, 0, 2), "t");
	priv->create_on_schema = !strcmp(PQgetvalue(res, 0, 3), "t");
	priv->table_exists = !strcmp(PQgetvalue(res, 0, 4), "t");
	priv->owns_table = !strcmp(PQgetvalue(res, 0, 5), "t");
	user = PQgetvalue(res, 0, 6);
	db = PQgetvalue(res, 0, 7);
	nsp = PQgetvalue(res, 0, 8);
	if (table)
		priv->sufficient = priv->superuser || priv->owns_table;
	else
		priv->sufficient = priv->superuser || priv->create_on_schema || priv->create_on_database;
	if (!priv->sufficient && why) {
		if (table && !priv->table_exists)
			strbuf_addf(why, "table %s does not exist (or %s cannot see it)", table, user);
		else if (table)
			strbuf_addf(why, "%s is neither a superuser nor the owner of table %s; "
					 "connect as the table's owner",
				    user, table);
		else
			strbuf_addf(why, "%s is not a superuser and has no CREATE privilege on schema %s "
					 "or database %s",
				    user, *nsp ? nsp : "(none)", db);
	}
	PQclear(res);
	return 0;
}

static void session_from_row(struct pg_session *s, const PGresult *res, int row, int col)
{
	s->pid = atoi(PQgetvalue(res, row, col));
	s->state = xstrdup(PQgetvalue(res, row, col + 1));
	s->age_ms = to_i64(PQgetvalue(res, row, col + 2));
	s->wait_event = xstrdup(PQgetvalue(res, row, col + 3));
	s->application_name = xstrdup(PQgetvalue(res, row, col + 4));
	s->user = xstrdup(PQgetvalue(res, row, col + 5));
	s->query = cut_query(PQgetvalue(res, row, col + 6), 80);
}

static void session_release(struct pg_session *s)
{
	free(s->state);
	free(s->wait_event);
	free(s->application_name);
	free(s->user);
	free(s->query);
	memset(s, 0, sizeof(*s));
}

static void session_list_add(struct pg_session_list *list, const PGresult *res, int row, int col)
{
	ALLOC_GROW(list->items, list->nr + 1, list->alloc);
	session_from_row(&list->items[list->nr++], res, row, col);
}

void pg_session_list_release(struct pg_session_list *list)
{
	for (size_t i = 0; i < list->nr; i++)
		session_release(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->nr = list->alloc = 0;
}

int pg_open_transactions(struct pg_conn *conn, struct pg_session_list *list, struct strbuf *err)
{
	static const char sql[] =
		"SELECT pid, coalesce(state, ''),"
		" (extract(epoch FROM clock_timestamp() - xact_start) * 1000)::bigint,"
		" coalesce(wait_event_type || ':' || wait_event, ''),"
		" coalesce(application_name, ''), coalesce(usename::text, ''),"
		" left(coalesce(query, ''), 400)"
		" FROM pg_catalog.pg_stat_activity"
		" WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()"
		"  AND datname = current_database() AND backend_type = 'client backend'"
		" ORDER BY xact_start";
	PGresult *res;

	memset(list, 0, sizeof(*list));
	res = query(conn, "open transactions", sql, 0, NULL, err);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		session_list_add(list, res, i, 0);
	PQclear(res);
	/* without superuser or pg_read_all_stats, other roles' sessions show
	 * no state, no transaction start and no backend type */
	res = query(conn, "hidden sessions",
		    "SELECT count(*) FROM pg_catalog.pg_stat_activity"
		    " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type IS NULL",
		    0, NULL, err);
	if (!res)
		return -1;
	list->hidden = (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int pg_sessions_by_application(struct pg_conn *conn, const char *application_name, int **pids,
			       size_t *n, struct strbuf *err)
{
	static const char sql[] =
		"SELECT pid FROM pg_catalog.pg_stat_activity"
		" WHERE application_name = $1 AND pid <> pg_backend_pid()"
		"  AND backend_type = 'client backend' ORDER BY backend_start";
	const char *params[1] = { application_name };
	PGresult *res;

	*pids = NULL;
	*n = 0;
	res = query(conn, "sessions by application_name", sql, 1, params, err);
	if (!res)
		return -1;
	*n = (size_t)PQntuples(res);
	*pids = xcalloc(*n ? *n : 1, sizeof(int));
	for (size_t i = 0; i < *n; i++)
		(*pids)[i] = atoi(PQgetvalue(res, (int)i, 0));
	PQclear(res);
	return 0;
}

/* ---------- run lock ---------- */

struct pg_run_lock {
	struct pg_conn *conn;
	int64_t key;
};

int64_t pg_run_lock_key(const char *runbook_key)
{
	static const char prefix[] = "runbook:";
	uint64_t h = 1469598103934665603ull;

	for (const char *p = prefix; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (const char *p = runbook_key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (int64_t)h;
}

enum pg_lock_result pg_run_lock_try(const char *conninfo, const char *runbook_key,
				    const char *application_name, struct pg_run_lock **lock,
				    struct pg_lock_holder *holder, struct strbuf *err)
{
	/* A bigint advisory key shows in pg_locks as classid (high half),
	 * objid (low half) and objsubid 1. */
	static const char holder_sql[] =
		"SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''),"
		" CASE WHEN a.client_port = -1 THEN 'local socket'"
		"      WHEN a.client_addr IS NOT NULL THEN host(a.client_addr) || ':' || a.client_port"
		"      ELSE 'not visible to this user' END,"
		" coalesce(date_trunc('second', a.backend_start)::text, ''),"
		" coalesce(date_trunc('second', a.query_start)::text, '')"
		" FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
		" WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
		"  AND l.classid = $1::oid AND l.objid = $2::oid"
		"  AND l.database = (SELECT oid FROM pg_catalog.pg_database"
		"                    WHERE datname = current_database())"
		" LIMIT 1";
	struct pg_conn *c;
	int64_t key = pg_run_lock_key(runbook_key);
	uint64_t ukey = (uint64_t)key;
	char keybuf[32], classid[16], objid[16];
	const char *lock_params[1] = { keybuf };
	const char *holder_params[2] = { classid, objid };

	*lock = NULL;
	memset(holder, 0, sizeof(*holder));
	snprintf(keybuf, sizeof(keybuf), "%lld", (long long)key);
	snprintf(classid, sizeof(classid), "%u", (unsigned)(ukey >> 32));
	snprintf(objid, sizeof(objid), "%u", (unsigned)(ukey & 0xFFFFFFFFu));
	c = pg_connect(conninfo, application_name, err);
	if (!c)
		return PG_LOCK_ERROR;
	/* The holder may let go between our try and our look: try again. */
	for (int attempt = 0; attempt < 3; attempt++) {
		PGresult *res = query(c, "run lock", "SELECT pg_try_advisory_lock($1::bigint)", 1,
				      lock_params, err);
		bool got;
		if (!res)
			goto fail;
		got = !strcmp(PQgetvalue(res, 0, 0), "t");
		PQclear(res);
		if (got) {
			*lock = xcalloc(1, sizeof(**lock));
			(*lock)->conn = c;
			(*lock)->key = key;
			return PG_LOCK_ACQUIRED;
		}
		res = query(c, "run lock holder", holder_sql, 2, holder_params, err);
		if (!res)
			goto fail;
		if (PQntuples(res) == 1) {
			holder->pid = atoi(PQgetvalue(res, 0, 0));
			holder->application_name = xstrdup(PQgetvalue(res, 0, 1));
			holder->user = xstrdup(PQgetvalue(res, 0, 2));
			holder->client = xstrdup(PQgetvalue(res, 0, 3));
			holder->backend_start = xstrdup(PQgetvalue(res, 0, 4));
			holder->query_start = xstrdup(PQgetvalue(res, 0, 5));
			PQclear(res);
			pg_close(c);
			return PG_LOCK_BUSY;
		}
		PQclear(res);
	}
	holder->application_name = xstrdup("");
	holder->user = xstrdup("");
	holder->client = xstrdup("unknown");
	holder->backend_start = xstrdup("");
	holder->query_start = xstrdup("");
	pg_close(c);
	return PG_LOCK_BUSY;
fail:
	pg_close(c);
	return PG_LOCK_ERROR;
}

bool pg_run_lock_held(struct pg_run_lock *lock)
{
	/* a session-level advisory lock lasts as long as its session */
	return lock && pg_conn_alive(lock->conn);
}

int pg_run_lock_backend_pid(const struct pg_run_lock *lock)
{
	return pg_conn_backend_pid(lock->conn);
}

void pg_run_lock_release(struct pg_run_lock *lock)
{
	if (!lock)
		return;
	if (lock->conn->pg) {
		char sql[64];
		snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)", (long long)lock->key);
		PQclear(PQexec(lock->conn->pg, sql));
	}
	pg_close(lock->conn);
	free(lock);
}

void pg_lock_holder_release(struct pg_lock_holder *holder)
{
	free(holder->application_name);
	free(holder->user);
	free(holder->client);
	free(holder->backend_start);
	free(holder->query_start);
	memset(holder, 0, sizeof(*holder));
}

/* ---------- monitor ---------- */

/* One query: our own session, the sessions whose blockers include us
 * (pg_blocking_pids also names sessions queued ahead, so a waiter stuck
 * behind our queued ALTER shows up), the sessions in our way, and CREATE
 * INDEX progress.  pg_blocking_pids() is only called for sessions waiting
 * on a lock.  pg_locks.waitstart (PostgreSQL 14) gives lock wait times;
 * older servers get the time since the last state change. */
static const char monitor_sql_fmt[] =
	"WITH a AS ("
	"  SELECT pid, coalesce(state, '') AS state,"
	"   coalesce(wait_event_type || ':' || wait_event, '') AS wait,"
	"   coalesce(application_name, '') AS app, coalesce(usename::text, '') AS usr,"
	"   left(coalesce(query, ''), 400) AS query, xact_start, state_change, wait_event_type,"
	"   CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blockers"
	"  FROM pg_catalog.pg_stat_activity WHERE pid <> pg_backend_pid()),"
	" w AS (%s)"
	" SELECT 'self', a.pid, a.state,"
	"  (extract(epoch FROM coalesce(w.waited, clock_timestamp() - a.state_change)) * 1000)::bigint,"
	"  a.wait, a.app, a.usr, a.query,"
	"  NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,"
	"  NULL::bigint, NULL::bigint"
	" FROM a LEFT JOIN w ON w.pid = a.pid WHERE a.pid = $1"
	" UNION ALL"
	" SELECT 'blocked', a.pid, a.state,"
	"  (extract(epoch FROM coalesce(w.waited, clock_timestamp() - a.state_change)) * 1000)::bigint,"
	"  a.wait, a.app, a.usr, a.query, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
	" FROM a LEFT JOIN w ON w.pid = a.pid WHERE $1 = ANY (a.blockers)"
	" UNION ALL"
	" SELECT 'blocking', a.pid, a.state,"
	"  (extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.state_change)) * 1000)::bigint,"
	"  a.wait, a.app, a.usr, a.query, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
	" FROM a WHERE a.pid = ANY ((SELECT blockers FROM a WHERE pid = $1)::int[])"
	" UNION ALL"
	" SELECT 'progress', p.pid, NULL, NULL, NULL, NULL, NULL, NULL, p.command, p.phase,"
	"  p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,"
	"  p.lockers_done, p.lockers_total"
	" FROM pg_catalog.pg_stat_progress_create_index p WHERE p.pid = $1";

static const char waits_14[] =
	"SELECT pid, max(clock_timestamp() - waitstart) AS waited FROM pg_catalog.pg_locks"
	" WHERE NOT granted AND waitstart IS NOT NULL GROUP BY pid";
static const char waits_old[] = "SELECT 0 AS pid, NULL::interval AS waited WHERE false";

int pg_monitor_sample(struct pg_conn *monitor, int our_pid, struct pg_monitor_sample *sample,
		      struct strbuf *err)
{
	struct strbuf sql = STRBUF_INIT;
	char pid[16];
	const char *params[1] = { pid };
	PGresult *res;

	memset(sample, 0, sizeof(*sample));
	snprintf(pid, sizeof(pid), "%d", our_pid);
	strbuf_addf(&sql, monitor_sql_fmt,
		    pg_conn_server_version(monitor) >= 140000 ? waits_14 : waits_old);
	res = query(monitor, "monitor", sql.buf, 1, params, err);
	strbuf_release(&sql);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *kind = PQgetvalue(res, i, 0);
		if (!strcmp(kind, "self")) {
			session_release(&sample->self);
			session_from_row(&sample->self, res, i, 1);
		} else if (!strcmp(kind, "blocked")) {
			session_list_add(&sample->blocked_by_us, res, i, 1);
		} else if (!strcmp(kind, "blocking")) {
			session_list_add(&sample->blocking_us, res, i, 1);
		} else if (!strcmp(kind, "progress")) {
			struct pg_progress *p = &sample->progress;
			p->active = true;
			p->command = xstrdup(PQgetvalue(res, i, 8));
			p->phase = xstrdup(PQgetvalue(res, i, 9));
			p->blocks_done = to_i64(PQgetvalue(res, i, 10));
			p->blocks_total = to_i64(PQgetvalue(res, i, 11));
			p->tuples_done = to_i64(PQgetvalue(res, i, 12));
			p->tuples_total = to_i64(PQgetvalue(res, i, 13));
			p->lockers_done = to_i64(PQgetvalue(res, i, 14));
			p->lockers_total = to_i64(PQgetvalue(res, i, 15));
		}
	}
	PQclear(res);
	return 0;
}

void pg_monitor_sample_release(struct pg_monitor_sample *sample)
{
	session_release(&sample->self);
	pg_session_list_release(&sample->blocked_by_us);
	pg_session_list_release(&sample->blocking_us);
	free(sample->progress.command);
	free(sample->progress.phase);
	memset(sample, 0, sizeof(*sample));
}
