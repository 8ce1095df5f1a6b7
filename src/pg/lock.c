/* lock.c - the run lock: one run of a runbook per database at a time. */
#include "pg/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

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
		PGresult *res = pgi_query(c, "run lock", "SELECT pg_try_advisory_lock($1::bigint)",
					  1, lock_params, err);
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
		res = pgi_query(c, "run lock holder", holder_sql, 2, holder_params, err);
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

