/* monitor.c - who waits for whom while a statement runs. */
#include "pg/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

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
	res = pgi_query(monitor, "monitor", sql.buf, 1, params, err);
	strbuf_release(&sql);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *kind = PQgetvalue(res, i, 0);
		if (!strcmp(kind, "self")) {
			pgi_session_release(&sample->self);
			pgi_session_from_row(&sample->self, res, i, 1);
		} else if (!strcmp(kind, "blocked")) {
			pgi_session_list_add(&sample->blocked_by_us, res, i, 1);
		} else if (!strcmp(kind, "blocking")) {
			pgi_session_list_add(&sample->blocking_us, res, i, 1);
		} else if (!strcmp(kind, "progress")) {
			struct pg_progress *p = &sample->progress;
			p->active = true;
			p->command = xstrdup(PQgetvalue(res, i, 8));
			p->phase = xstrdup(PQgetvalue(res, i, 9));
			p->blocks_done = pgi_to_i64(PQgetvalue(res, i, 10));
			p->blocks_total = pgi_to_i64(PQgetvalue(res, i, 11));
			p->tuples_done = pgi_to_i64(PQgetvalue(res, i, 12));
			p->tuples_total = pgi_to_i64(PQgetvalue(res, i, 13));
			p->lockers_done = pgi_to_i64(PQgetvalue(res, i, 14));
			p->lockers_total = pgi_to_i64(PQgetvalue(res, i, 15));
		}
	}
	PQclear(res);
	return 0;
}

void pg_monitor_sample_release(struct pg_monitor_sample *sample)
{
	pgi_session_release(&sample->self);
	pg_session_list_release(&sample->blocked_by_us);
	pg_session_list_release(&sample->blocking_us);
	free(sample->progress.command);
	free(sample->progress.phase);
	memset(sample, 0, sizeof(*sample));
}
