/* preflight.c - what is checked before a run: server version, privileges,
 * other sessions' open transactions. */
#include "pg/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

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
	res = pgi_query(conn, "privileges", sql, 2, params, err);
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

void pgi_session_from_row(struct pg_session *s, const PGresult *res, int row, int col)
{
	s->pid = atoi(PQgetvalue(res, row, col));
	s->state = xstrdup(PQgetvalue(res, row, col + 1));
	s->age_ms = pgi_to_i64(PQgetvalue(res, row, col + 2));
	s->wait_event = xstrdup(PQgetvalue(res, row, col + 3));
	s->application_name = xstrdup(PQgetvalue(res, row, col + 4));
	s->user = xstrdup(PQgetvalue(res, row, col + 5));
	s->query = cut_query(PQgetvalue(res, row, col + 6), 80);
}

void pgi_session_release(struct pg_session *s)
{
	free(s->state);
	free(s->wait_event);
	free(s->application_name);
	free(s->user);
	free(s->query);
	memset(s, 0, sizeof(*s));
}

void pgi_session_list_add(struct pg_session_list *list, const PGresult *res, int row, int col)
{
	ALLOC_GROW(list->items, list->nr + 1, list->alloc);
	pgi_session_from_row(&list->items[list->nr++], res, row, col);
}

void pg_session_list_release(struct pg_session_list *list)
{
	for (size_t i = 0; i < list->nr; i++)
		pgi_session_release(&list->items[i]);
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
	res = pgi_query(conn, "open transactions", sql, 0, NULL, err);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		pgi_session_list_add(list, res, i, 0);
	PQclear(res);
	/* without superuser or pg_read_all_stats, other roles' sessions show
	 * no state, no transaction start and no backend type */
	res = pgi_query(conn, "hidden sessions",
			"SELECT count(*) FROM pg_catalog.pg_stat_activity"
			" WHERE datname = current_database() AND pid <> pg_backend_pid()"
			" AND backend_type IS NULL",
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
	res = pgi_query(conn, "sessions by application_name", sql, 1, params, err);
	if (!res)
		return -1;
	*n = (size_t)PQntuples(res);
	*pids = xcalloc(*n ? *n : 1, sizeof(int));
	for (size_t i = 0; i < *n; i++)
		(*pids)[i] = atoi(PQgetvalue(res, (int)i, 0));
	PQclear(res);
	return 0;
}

