/* guard.c - the guards around each statement of a block: lock_timeout and
 * statement_timeout set before it, and lock_timeout failures retried with
 * back-off. */
#define _GNU_SOURCE
#include "pg/internal.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sys/proc.h"
#include "base/xalloc.h"

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
		block_record_error(r, idx, res, PQerrorMessage(r->c->pg));
		block_error_text(r, res ? PQresultErrorMessage(res) : PQerrorMessage(r->c->pg));
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
		if (poll(&pfd, r->opts->signal_fd >= 0 ? 1 : 0, (int)left) > 0 &&
		    block_stop_signal_pending(r))
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

enum pg_status block_run_with_retries(struct block_run *r, size_t idx)
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
			block_synthetic_error(r, idx, "57014", msg);
			return PG_TIMED_OUT;
		}
		before = PQtransactionStatus(r->c->pg);
		if (set_guards(r, idx) < 0)
			return PG_FAILED;
		res = block_run_statement(r, idx);
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
			block_emitf(r, PG_STDERR,
				    "runbook: not retried: the statement ran inside an explicit "
				    "transaction, which this error aborted\n");
			return PG_FAILED;
		}
		if (attempt >= opts->retries) {
			if (opts->retries > 0)
				block_emitf(
				    r, PG_STDERR, "runbook: lock still not available after %d %s\n",
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
			block_emitf(r, PG_STDERR,
				    "runbook: lock not available within lock_timeout (%d ms); "
				    "retry %d of %d in %lld ms\n",
				    opts->lock_timeout_ms, attempt, opts->retries, (long long)wait);
			block_error_clear(&o->error);
			if (!sleep_watching(r, wait)) {
				block_synthetic_error(r, idx, "57014",
						      "interrupted while waiting to retry");
				return PG_INTERRUPTED;
			}
		}
	}
}

