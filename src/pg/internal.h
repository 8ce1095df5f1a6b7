/* internal.h - what the files of src/pg share and nothing outside it sees.
 *
 * pg.h is the module's manual; this header only joins its pieces:
 *
 *	conn.c       connections, targets without password, the program's own
 *	             queries (pgi_query) and small text helpers
 *	split.c      sql_split(): a block into statements
 *	psqlfmt.c    results in psql's aligned format
 *	exec.c       pg_run_block(): statements sent, results, errors, cancel
 *	guard.c      lock_timeout/statement_timeout before each statement,
 *	             lock_timeout failures retried with back-off
 *	preflight.c  version, privileges, other sessions
 *	lock.c       the run lock
 *	monitor.c    who waits for whom
 *
 * It includes libpq's header, which nothing outside src/pg may include.
 * Shared helpers are prefixed pgi_, the block runner's functions block_,
 * the formatter's psqlfmt_.
 */
#ifndef RUNBOOK_PG_INTERNAL_H
#define RUNBOOK_PG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "pg/pg.h"
#include "base/strbuf.h"

struct block_run;

struct pg_conn {
	PGconn *pg;            /* NULL once closed or abandoned */
	char *target;          /* effective target without password */
	int encoding;          /* client encoding id, for PQmblen/PQdsplen */
	bool utf8;
	struct block_run *run; /* where notices go while a block runs, else NULL */
};

/* ---------------------------------------------------------------------
 * conn.c
 * ------------------------------------------------------------------- */

/* pgi_dup_or_null is xstrdup(s), or NULL for NULL. */
char *pgi_dup_or_null(const char *s);

/* pgi_oneline appends libpq's message on one line: newlines become spaces,
 * the two spaces libpq puts after "FATAL:" become one, trailing blanks go.
 * msg may be NULL (nothing is appended). */
void pgi_oneline(struct strbuf *sb, const char *msg);

/* pgi_to_i64 reads a bigint column; NULL or "" is 0. */
int64_t pgi_to_i64(const char *s);

/* pgi_query runs one parameterised statement and returns its result, or
 * NULL with "pg: WHAT: message" in err.  The caller PQclear()s the result. */
PGresult *pgi_query(struct pg_conn *c, const char *what, const char *sql, int nparams,
		    const char *const *params, struct strbuf *err);

/* ---------------------------------------------------------------------
 * psqlfmt.c
 * ------------------------------------------------------------------- */

/* psqlfmt_table appends res as psql's aligned format: header, rows and
 * "(N rows)" footer. */
void psqlfmt_table(const PGresult *res, int encoding, bool utf8, struct strbuf *out);

/* psqlfmt_table_part appends one part of a result that arrives in parts:
 * the header only when header is set, the "(total rows)" footer only when
 * footer is set; each part is aligned on its own, as psql does with
 * FETCH_COUNT. */
void psqlfmt_table_part(const PGresult *res, int encoding, bool utf8, bool header, bool footer,
			long long total, struct strbuf *out);

/* ---------------------------------------------------------------------
 * exec.c and guard.c: one pg_run_block() call
 * ------------------------------------------------------------------- */

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

enum stmt_result { STMT_OK, STMT_ERROR, STMT_INTERRUPTED, STMT_TIMED_OUT };

/* block_emit adds text to the outcome's stream (up to capture_cap) and
 * passes it to opts->output. */
void block_emit(struct block_run *r, enum pg_stream stream, const char *text, size_t len);
void block_emitf(struct block_run *r, enum pg_stream stream, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* block_notice_receiver is every connection's libpq notice receiver (arg:
 * the struct pg_conn): notices go to the running block's stderr. */
void block_notice_receiver(void *arg, const PGresult *res);

/* block_error_clear frees e's fields and resets it to "no error". */
void block_error_clear(struct pg_error *e);

/* block_record_error keeps the error of statement idx from res (NULL:
 * fallback is the message) in the outcome, with its line. */
void block_record_error(struct block_run *r, size_t idx, const PGresult *res, const char *fallback);

/* block_error_text prints an error the way psql does, then where it is. */
void block_error_text(struct block_run *r, const char *text);

/* block_synthetic_error records and prints an error that is ours, not the
 * server's. */
void block_synthetic_error(struct block_run *r, size_t idx, const char *sqlstate, const char *message);

/* block_stop_signal_pending takes the signals the self-pipe reported and
 * says whether one of them asks us to stop (anything but SIGCHLD); the
 * first such signal is kept in the outcome. */
bool block_stop_signal_pending(struct block_run *r);

/* block_run_statement sends statement idx and waits for its end, a stop
 * signal, the block's deadline or a lost connection. */
enum stmt_result block_run_statement(struct block_run *r, size_t idx);

/* block_run_with_retries (guard.c) runs statement idx under the guards and
 * retries it when its lock did not come within lock_timeout; it counts a
 * success in outcome->completed. */
enum pg_status block_run_with_retries(struct block_run *r, size_t idx);

/* ---------------------------------------------------------------------
 * preflight.c: rows of pg_stat_activity
 * ------------------------------------------------------------------- */

/* pgi_session_from_row fills s from columns col.. col+6 of row: pid,
 * state, age in ms, wait event, application_name, user, query. */
void pgi_session_from_row(struct pg_session *s, const PGresult *res, int row, int col);
void pgi_session_release(struct pg_session *s);
void pgi_session_list_add(struct pg_session_list *list, const PGresult *res, int row, int col);

#endif
