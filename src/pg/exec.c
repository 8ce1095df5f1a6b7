/* exec.c - a SQL block run statement by statement: results and notices as
 * psql prints them, errors with their lines, cancel and connection loss. */
#define _GNU_SOURCE
#include "pg/internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sys/proc.h"
#include "base/xalloc.h"

/* How long past the block's budget we wait for the server's own
 * statement_timeout before cancelling from here (a server that does not
 * answer, a network that dropped). */
#define CANCEL_GRACE_MS 2000
/* How long we wait for the answer to a cancel request before giving the
 * connection up. */
#define ABANDON_MS 10000

void block_emit(struct block_run *r, enum pg_stream stream, const char *text, size_t len)
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

void block_emitf(struct block_run *r, enum pg_stream stream, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	block_emit(r, stream, sb.buf, sb.len);
	strbuf_release(&sb);
}

void block_notice_receiver(void *arg, const PGresult *res)
{
	struct pg_conn *c = arg;
	const char *msg = PQresultErrorMessage(res);

	if (c->run && msg)
		block_emit(c->run, PG_STDERR, msg, strlen(msg));
}

void block_error_clear(struct pg_error *e)
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

void block_record_error(struct block_run *r, size_t idx, const PGresult *res, const char *fallback)
{
	struct pg_error *e = &r->o->error;
	const struct sql_stmt *st = &r->stmts[idx];
	const char *f;

	block_error_clear(e);
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
		pgi_oneline(&sb, fallback ? fallback
				 : res    ? PQresultErrorMessage(res)
					  : "unknown error");
		e->message = strbuf_detach(&sb, NULL);
	}
	if (res) {
		e->detail = pgi_dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
		e->hint = pgi_dup_or_null(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
		e->context = pgi_dup_or_null(PQresultErrorField(res, PG_DIAG_CONTEXT));
		f = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
		e->position = f ? atoi(f) : 0;
	}
	e->statement = (int)idx;
	e->block_line = e->position > 0 ? position_line(r, st, e->position) : st->line;
	e->line = file_line(r, e->block_line);
}

/* block_error_text prints an error the way psql does, then where it is. */
void block_error_text(struct block_run *r, const char *text)
{
	size_t len = strlen(text);

	block_emit(r, PG_STDERR, text, len);
	if (len && text[len - 1] != '\n')
		block_emit(r, PG_STDERR, "\n", 1);
	if (r->opts->file)
		block_emitf(r, PG_STDERR, "  at %s:%d\n", r->opts->file, r->o->error.line);
}

/* block_synthetic_error records an error that is ours, not the server's. */
void block_synthetic_error(struct block_run *r, size_t idx, const char *sqlstate,
			   const char *message)
{
	struct pg_error *e = &r->o->error;

	block_error_clear(e);
	e->severity = xstrdup("ERROR");
	e->sqlstate = xstrdup(sqlstate);
	e->message = xstrdup(message);
	e->statement = (int)idx;
	e->block_line = r->stmts[idx].line;
	e->line = file_line(r, e->block_line);
	block_emitf(r, PG_STDERR, "runbook: %s\n", message);
	if (r->opts->file)
		block_emitf(r, PG_STDERR, "  at %s:%d\n", r->opts->file, e->line);
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
		psqlfmt_table(res, r->c->encoding, r->c->utf8, &text);
		add_returning_tag(&text, res);
		keep_row(&r->o->row, res);
		block_emit(r, PG_STDOUT, text.buf, text.len);
		break;
	case PGRES_COMMAND_OK:
		strbuf_addf(&text, "%s\n", PQcmdStatus((PGresult *)res));
		block_emit(r, PG_STDOUT, text.buf, text.len);
		break;
	case PGRES_FATAL_ERROR:
	case PGRES_NONFATAL_ERROR:
	case PGRES_BAD_RESPONSE:
		if (!*failed) {
			block_record_error(r, idx, res, NULL);
			*failed = true;
		}
		block_error_text(r, PQresultErrorMessage(res));
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
		block_emitf(r, PG_STDERR, "runbook: could not build a cancel request\n");
		return;
	}
	if (PQcancel(cancel, errbuf, (int)sizeof(errbuf))) {
		block_emitf(r, PG_STDERR, "Cancel request sent\n");
	} else {
		struct strbuf sb = STRBUF_INIT;
		pgi_oneline(&sb, errbuf);
		block_emitf(r, PG_STDERR, "runbook: the cancel request failed: %s\n", sb.buf);
		strbuf_release(&sb);
	}
	PQfreeCancel(cancel);
}

/* abandon gives up a connection whose statement cannot be cancelled: the
 * server ends the backend (and rolls its transaction back) once it notices
 * the socket is gone. */
static void abandon(struct block_run *r, const char *why)
{
	block_emitf(r, PG_STDERR, "runbook: %s; the connection was closed\n", why);
	PQfinish(r->c->pg);
	r->c->pg = NULL;
	r->o->conn_lost = true;
}

/* block_stop_signal_pending takes the signals the self-pipe reported and says
 * whether one of them asks us to stop (anything but SIGCHLD); the first
 * such signal is kept in the outcome for the caller. */
bool block_stop_signal_pending(struct block_run *r)
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
		block_emitf(r, PG_STDERR, "server closed the connection\n");
		return;
	}
	block_record_error(r, idx, NULL, msg);
	if (lost) {
		free(r->o->error.sqlstate);
		r->o->error.sqlstate = xstrdup("08006");
	}
	block_error_text(r, msg);
}

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
		psqlfmt_table_part(shape, r->c->encoding, r->c->utf8, !rows->streamed, footer,
				   rows->shown + n, &text);
	if (footer)
		add_returning_tag(&text, last);
	block_emit(r, PG_STDOUT, text.buf, text.len);
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
		psqlfmt_table_part(whole, r->c->encoding, r->c->utf8, true, true, n, &text);
		add_returning_tag(&text, last);
		block_emit(r, PG_STDOUT, text.buf, text.len);
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

enum stmt_result block_run_statement(struct block_run *r, size_t idx)
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
					block_emit(r, PG_STDOUT, buf, (size_t)len);
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
			block_synthetic_error(r, idx, "", msg);
			return STMT_ERROR;
		}
		if (n > 0 && nfds == 2 && (fds[1].revents & POLLIN) &&
		    block_stop_signal_pending(r)) {
			if (cancelled == CANCELLED_BY_SIGNAL) {
				abandon(r, "interrupted again while waiting for the cancel");
				block_synthetic_error(r, idx, "57014", "interrupted");
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
			block_synthetic_error(r, idx, "57014",
					      by_signal ? "interrupted" : "statement timeout");
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
			block_synthetic_error(r, idx, "57014",
					      "interrupted after the statement completed");
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
		block_emitf(&r, PG_STDERR, "runbook: %s\n", o->error.message);
		if (r.opts->file)
			block_emitf(&r, PG_STDERR, "  at %s:%d\n", r.opts->file, o->error.line);
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
		block_emitf(&r, PG_STDERR, "runbook: the connection is closed\n");
		goto out;
	}
	if (r.opts->statement_timeout_ms > 0)
		r.deadline = t0 + r.opts->statement_timeout_ms;

	conn->run = &r;
	o->status = PG_OK;
	for (size_t i = 0; i < n && o->status == PG_OK; i++)
		o->status = block_run_with_retries(&r, i);

	/* A failed block must not keep a transaction open: its locks would be
	 * held while the operator decides what to do. */
	if (o->status != PG_OK && conn->pg) {
		PGTransactionStatusType ts = PQtransactionStatus(conn->pg);
		if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
			PGresult *res = PQexec(conn->pg, "ROLLBACK");
			if (PQresultStatus(res) == PGRES_COMMAND_OK) {
				o->rolled_back = true;
				block_emitf(&r, PG_STDERR,
					    "runbook: the open transaction was rolled back\n");
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
	block_error_clear(&o->error);
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

