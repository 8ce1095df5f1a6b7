/* conn.c - connections, their targets shown without password, and the
 * program's own queries. */
#define _GNU_SOURCE
#include "pg/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* ---------- small helpers ---------- */

char *pgi_dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void pgi_oneline(struct strbuf *sb, const char *msg)
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

int64_t pgi_to_i64(const char *s)
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
				pgi_oneline(err, errmsg);
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
		pgi_oneline(err, PQerrorMessage(pg));
		free(shown);
		PQfinish(pg);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->pg = pg;
	c->target = conn_target(pg);
	c->encoding = PQclientEncoding(pg);
	c->utf8 = c->encoding == pg_char_to_encoding("UTF8");
	PQsetNoticeReceiver(pg, block_notice_receiver, c);
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

/* pgi_query runs one parameterised statement and returns its result, or NULL
 * with "pg: WHAT: message" in err.  The caller PQclear()s the result. */
PGresult *pgi_query(struct pg_conn *c, const char *what, const char *sql, int nparams,
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
	pgi_oneline(err, res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
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
		pgi_oneline(err, res ? PQresultErrorMessage(res) : PQerrorMessage(conn->pg));
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
		pgi_oneline(err, PQerrorMessage(conn->pg));
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
	res = pgi_query(conn, "server info", sql, 0, NULL, err);
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
