/* block.c - one block: shell or SQL -> struct block_outcome, with its
 * output reported line by line as it arrives. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "exec/exec_int.h"
#include "pg/pg.h"
#include "sys/shell.h"

#define LINE_CAP 4096 /* a longer line is reported in parts */

/* Every psql a shell block starts stops at the first failed statement, so
 * that a failed ALTER in a here-document fails its step (psql alone exits 0
 * and goes on).  A block turns it off with -v ON_ERROR_STOP=0 (a later -v
 * wins), \set ON_ERROR_STOP off, or RUNBOOK_PSQL_ON_ERROR_STOP=0; exported,
 * so that scripts the blocks run get it too (docs/runbook-format.md). */
static const char psql_prelude[] =
	"psql() { if [[ ${RUNBOOK_PSQL_ON_ERROR_STOP:-1} == 0 ]]; then command psql \"$@\"; "
	"else command psql -v ON_ERROR_STOP=1 \"$@\"; fi; }; export -f psql";

/* ---------- live output ---------- */

static void emit_output(struct exec_run *r, enum io_stream which, const char *s, size_t len,
			bool partial)
{
	struct event ev = { .type = EV_OUTPUT, .stream = which, .text = s, .len = len,
			    .partial = partial, .ok = r->block_interactive };
	emit(r, &ev);
}

static void flush_line(struct exec_run *r, enum io_stream which, bool partial)
{
	struct strbuf *pend = &r->pending[which];
	if (!pend->len && partial)
		return;
	if (!partial)
		strbuf_addch(pend, '\n');
	emit_output(r, which, pend->buf, pend->len, partial);
	strbuf_reset(pend);
}

/* on_output assembles what a block prints into lines: each event holds
 * whole lines (a chunk's lines in one event), a line longer than LINE_CAP
 * is cut into parts, and a block that reads the terminal has its prompt
 * (a line without its newline yet) reported at once. */
static void on_output(void *data, enum io_stream which, const char *buf, size_t len)
{
	struct exec_run *r = data;
	r->last_output_ms = proc_now_ms();
	if (r->both_wanted && (which == IO_STDOUT || which == IO_STDERR)) {
		size_t room = CAPTURE_CAP_DEFAULT - r->both.len;
		strbuf_add(&r->both, buf, len < room ? len : room);
		if (len > room)
			r->both_truncated = true;
	}
	if (r->opts.quiet_output)
		return;
	while (len) {
		const char *nl = memchr(buf, '\n', len);
		size_t take = nl ? (size_t)(nl - buf) : len;
		if (nl && !r->pending[which].len) {
			/* whole lines straight from the chunk, as many as it has */
			const char *last = buf + len;
			while (last > buf && last[-1] != '\n')
				last--;
			const char *p = buf;
			bool fits = true;
			for (const char *q = buf; q < last;) {
				const char *e = memchr(q, '\n', (size_t)(last - q));
				if ((size_t)(e - q) > LINE_CAP)
					fits = false;
				q = e + 1;
			}
			if (fits) {
				emit_output(r, which, p, (size_t)(last - p), false);
				len -= (size_t)(last - buf);
				buf = last;
				continue;
			}
		}
		size_t room = LINE_CAP - r->pending[which].len;
		if (take > room)
			take = room;
		strbuf_add(&r->pending[which], buf, take);
		buf += take;
		len -= take;
		if (len && *buf == '\n') {
			flush_line(r, which, false);
			buf++;
			len--;
		} else if (r->pending[which].len >= LINE_CAP) {
			flush_line(r, which, false);
		}
	}
	/* a prompt without a newline must reach the operator now */
	if (r->block_interactive)
		for (int w = IO_STDOUT; w <= IO_STDERR; w++)
			flush_line(r, (enum io_stream)w, true);
}

void output_flush(struct exec_run *r)
{
	for (int w = IO_STDOUT; w <= IO_STDERR; w++)
		if (r->pending[w].len)
			flush_line(r, (enum io_stream)w, false);
}

void block_tick(struct exec_run *r)
{
	target_tick(r);
	if (r->ui->tick) {
		int64_t now = proc_now_ms();
		if (now - r->last_output_ms >= 400)
			r->ui->tick(r->ui->data, now - r->block_start_ms, r->block_interactive);
	}
}

static void on_tick(void *data)
{
	block_tick(data);
}

/* ---------- shell blocks ---------- */

int ensure_shell(struct exec_run *r)
{
	struct strbuf err = STRBUF_INIT;
	struct shell_opts so = { 0 };

	if (r->sh)
		return 0;
	so.work_dir = r->work_dir;
	so.tty_fd = r->interactive && r->opts.tty ? STDIN_FILENO : -1;
	so.env = (const char *const *)r->shell_env;
	so.unset = (const char *const *)r->shell_unset;
	so.kill_grace_ms = r->opts.kill_grace_ms;
	so.prelude = psql_prelude;
	/* what outgrows the 8 MiB kept in memory goes to a spill file in the
	 * work directory, up to 1 GiB per stream (e2e/faults and e2e/hostile
	 * check it, its size and its mode) */
	so.spill = true;
	r->sh = shell_start(&so, &err);
	if (!r->sh) {
		note(r, NOTE_ERROR, "runbook: %s", err.buf);
		strbuf_release(&err);
		return -1;
	}
	for (size_t i = 0; i < r->opts.nvars; i++) {
		if (shell_set_var(r->sh, r->opts.vars[i].name, r->opts.vars[i].value, &err) < 0) {
			note(r, NOTE_PLAIN, "runbook: --var %s: %s", r->opts.vars[i].name, err.buf);
			strbuf_release(&err);
			return -1;
		}
	}
	for (size_t i = 0; i < r->ncaptured; i++)
		shell_set_var(r->sh, r->captured[i].name, r->captured[i].value, &err);
	strbuf_release(&err);
	return 0;
}

static void exec_shell(struct exec_run *r, const struct rb_block *b, const char *text, int line,
		       struct block_outcome *o)
{
	struct shell_block sb = { 0 };
	struct shell_result res;
	struct strbuf err = STRBUF_INIT;
	char name[PATH_MAX];

	if (ensure_shell(r) < 0) {
		o->verdict = V_FAILED;
		o->env_error = true;
		snprintf(o->reason, sizeof(o->reason), "the shell could not be started");
		return;
	}
	const char *base = strrchr(r->rb->path, '/');
	snprintf(name, sizeof(name), "%s:%d", base ? base + 1 : r->rb->path, line);
	sb.text = text;
	sb.name = name;
	sb.allow_fail = rb_attr_has(b, "allow-fail");
	sb.interactive = rb_attr_has(b, "interactive");
	r->block_interactive = sb.interactive && r->interactive;
	sb.timeout_ms = exec_block_timeout_ms(&r->opts, b);
	sb.echo = on_output;
	sb.tick = on_tick;
	sb.data = r;
	r->block_start_ms = proc_now_ms();
	r->last_output_ms = r->block_start_ms;
	if (shell_run(r->sh, &sb, &res, &err) < 0) {
		output_flush(r);
		o->verdict = V_FAILED;
		o->env_error = true;
		snprintf(o->reason, sizeof(o->reason), "%s", err.buf);
		strbuf_release(&err);
		return;
	}
	output_flush(r);
	r->block_interactive = false;
	o->exit_code = res.exit_code;
	o->duration_ms = res.duration_ms;
	o->start_wall_ms = res.start_wall_ms;
	o->shell_died = res.shell_died;
	o->state_lost = res.state_lost;
	o->out = res.out;
	o->err = res.err;
	o->have_capture = true;
	const char *want_exit = rb_attr_get(b, "exit");
	int expected_exit = want_exit ? atoi(want_exit) : 0;
	if (res.interrupted) {
		o->verdict = V_INTERRUPTED;
		snprintf(o->reason, sizeof(o->reason), "interrupted");
	} else if (res.timed_out) {
		o->verdict = V_TIMED_OUT;
		snprintf(o->reason, sizeof(o->reason), "timed out after %lld s",
			 (long long)(sb.timeout_ms / 1000));
	} else if (res.shell_died && res.shell_status >= 0 && res.shell_status <= 128) {
		/* the status the block ended its shell with, `exit 0` included */
		o->verdict = V_FAILED;
		snprintf(o->reason, sizeof(o->reason), "exit %d", res.shell_status);
	} else if (res.exit_code != expected_exit) {
		o->verdict = V_FAILED;
		if (res.exit_code > 128 && res.shell_died)
			snprintf(o->reason, sizeof(o->reason), "killed by signal %d", res.exit_code - 128);
		else if (want_exit)
			snprintf(o->reason, sizeof(o->reason), "exit %d, expected exit %d", res.exit_code,
				 expected_exit);
		else
			snprintf(o->reason, sizeof(o->reason), "exit %d", res.exit_code);
	} else {
		o->verdict = V_PASSED;
	}
	target_after_block(r, o);
	if (res.shell_died && o->verdict != V_INTERRUPTED && o->verdict != V_TIMED_OUT) {
		size_t l = strlen(o->reason);
		const char *what = res.state_lost ? "the block ended its shell and its state was lost"
						  : "the block ended its shell, state restored";
		if (l)
			snprintf(o->reason + l, sizeof(o->reason) - l, " (%s)", what);
		else
			snprintf(o->reason, sizeof(o->reason), "failed: %s", what);
		if (o->verdict == V_PASSED)
			o->verdict = V_FAILED;
	}
	strbuf_release(&err);
}

void block_outcome_release(struct block_outcome *o)
{
	if (o->have_capture) {
		capture_release(&o->out);
		capture_release(&o->err);
	}
	strbuf_release(&o->diff);
	for (size_t i = 0; i < o->ncaptures; i++) {
		free(o->captures[i].name);
		free(o->captures[i].value);
	}
	free(o->captures);
	memset(o, 0, sizeof(*o));
}

static void outcome_init(struct block_outcome *o, int line)
{
	memset(o, 0, sizeof(*o));
	strbuf_init(&o->diff, 0);
	o->exit_code = -1;
	o->line = line;
}

/* execute runs the text of a block (or of one console command) and judges
 * it against its expected output. */
void execute(struct exec_run *r, const struct rb_block *b, const char *text, int line,
	     const char *expected_text, const struct rb_block *expected, struct block_outcome *o)
{
	outcome_init(o, line);
	const char *stream = expected ? rb_attr_get(expected, "stream") : NULL;
	r->both_wanted = stream && !strcmp(stream, "both");
	r->both_truncated = false;
	strbuf_reset(&r->both);
	if (b->kind == BLOCK_SQL)
		run_sql_block(r, b, o);
	else
		exec_shell(r, b, text, line, o);
	if (o->verdict == V_PASSED)
		judge_output(r, b, expected_text, expected, o);
	r->both_wanted = false;
}

void run_fix_command(struct exec_run *r, const char *text, int line, struct block_outcome *o)
{
	static struct rb_block fix_block = { .kind = BLOCK_SHELL, .lang = "bash", .info = "bash",
					     .text = "", .index = -1 };
	struct strbuf t = STRBUF_INIT;
	strbuf_addstr(&t, text);
	strbuf_addch(&t, '\n');
	outcome_init(o, line);
	struct event show = { .type = EV_BLOCK_SHOW, .block = &fix_block, .label = "fix", .text = t.buf,
			      .line = line, .path = r->rb->path };
	emit(r, &show);
	exec_shell(r, &fix_block, t.buf, line, o);
	struct event end = { .type = EV_BLOCK_END, .block = &fix_block, .label = "fix", .line = line,
			     .outcome = o, .verdict = o->verdict, .reason = o->reason,
			     .duration_ms = o->duration_ms };
	emit(r, &end);
	strbuf_release(&t);
}

/* ---------- SQL blocks ---------- */

static void sql_output(void *data, enum pg_stream stream, const char *text, size_t len)
{
	on_output(data, stream == PG_STDERR ? IO_STDERR : IO_STDOUT, text, len);
}

static void sql_tick(void *data)
{
	block_tick(data);
}

static int64_t attr_ms(const struct rb_block *b, const char *a, const char *c, int64_t dflt)
{
	const char *v = rb_attr_get(b, a);
	if (!v)
		v = rb_attr_get(b, c);
	if (!v || !*v)
		return dflt;
	char *end;
	double d = strtod(v, &end);
	return !strcmp(end, "ms") ? (int64_t)d : (int64_t)(d * 1000);
}

static void sql_error_reason(struct exec_run *r, const struct pg_outcome *po, struct block_outcome *o)
{
	const char *sev = po->error.severity ? po->error.severity : "ERROR";
	const char *state = po->error.sqlstate ? po->error.sqlstate : "";
	const char *msg = po->error.message ? po->error.message : "";
	if (po->conn_lost) {
		/* not the runbook's failure: the server or the network went
		 * away, and the statement may or may not have taken effect */
		o->env_error = true;
		o->conn_lost = true;
		snprintf(o->reason, sizeof(o->reason),
			 "lost the connection to the database (%s%s%s: %s) at %s:%d; whether the "
			 "statement took effect is unknown",
			 sev, *state ? " " : "", state, msg, r->rb->path, po->error.line);
	} else {
		snprintf(o->reason, sizeof(o->reason), "%s%s%s: %s (%s:%d)", sev, *state ? " " : "", state,
			 msg, r->rb->path, po->error.line);
	}
	if (po->error.sqlstate)
		snprintf(o->sqlstate, sizeof(o->sqlstate), "%s", po->error.sqlstate);
	if (po->nretries) {
		size_t l = strlen(o->reason);
		snprintf(o->reason + l, sizeof(o->reason) - l, " after %zu lock-timeout retr%s",
			 po->nretries, po->nretries == 1 ? "y" : "ies");
	}
}

void run_sql_block(struct exec_run *r, const struct rb_block *blk, struct block_outcome *o)
{
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct pg_outcome po;

	struct pg_conn *conn = target_conn(r, o);
	if (!conn)
		return;
	opts.file = r->rb->path;
	opts.first_line = blk->text_line;
	opts.statement_timeout_ms = attr_ms(blk, "statement_timeout", "statement-timeout",
					    rb_attr_get(blk, "timeout") ? attr_ms(blk, "timeout", "timeout", 0) : 0);
	opts.lock_timeout_ms = (int)attr_ms(blk, "lock_timeout", "lock-timeout", target_lock_timeout_ms(r));
	if (rb_attr_get(blk, "retries"))
		opts.retries = atoi(rb_attr_get(blk, "retries"));
	else
		opts.retries = target_retries(r);
	opts.signal_fd = proc_signals_install();
	opts.output = sql_output;
	opts.tick = sql_tick;
	opts.tick_ms = 100;
	opts.data = r;

	r->block_start_ms = proc_now_ms();
	r->last_output_ms = r->block_start_ms;
	target_sql_begin(r);
	o->start_wall_ms = proc_wall_ms();
	enum pg_status st = pg_run_block(conn, blk->text, &opts, &po);
	output_flush(r);

	o->duration_ms = po.ms;
	o->have_capture = true;
	capture_init(&o->out, 0, NULL);
	capture_init(&o->err, 0, NULL);
	capture_add(&o->out, po.out.buf, po.out.len);
	capture_add(&o->err, po.err.buf, po.err.len);
	capture_finish(&o->out);
	capture_finish(&o->err);
	o->exit_code = st == PG_OK ? 0 : 1;
	switch (st) {
	case PG_OK:
		o->verdict = V_PASSED;
		if (po.in_transaction)
			snprintf(o->reason, sizeof(o->reason), "left a transaction open");
		break;
	case PG_INVALID:
		o->verdict = V_FAILED;
		snprintf(o->reason, sizeof(o->reason), "%s",
			 po.error.message ? po.error.message : "the block cannot be split into statements");
		break;
	case PG_TIMED_OUT:
		o->verdict = V_TIMED_OUT;
		snprintf(o->reason, sizeof(o->reason), "timed out after %.1f s (statement_timeout)",
			 opts.statement_timeout_ms / 1000.0);
		break;
	case PG_INTERRUPTED:
		o->verdict = V_INTERRUPTED;
		snprintf(o->reason, sizeof(o->reason), "interrupted");
		break;
	case PG_FAILED:
		o->verdict = V_FAILED;
		sql_error_reason(r, &po, o);
		break;
	}
	target_sql_end(r, po.conn_lost);
	pg_outcome_release(&po);
	target_after_block(r, o);
}
