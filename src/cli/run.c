/* cli_run.c - `runbook run`: walk the operator through a runbook. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "lint/lint.h"
#include "model/mdparse.h"
#include "sys/proc.h"
#include "base/redact.h"
#include "sys/shell.h"
#include "sys/term.h"
#include "base/xalloc.h"

extern char **environ;

static void show_verdict(struct run *r, const struct block_outcome *o);
static void show_command(struct run *r, const struct rb_step *st, const struct rb_block *b,
			 const char *label, size_t i, size_t n, const char *text, int line);

static const char *const spinner_frames[] = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" };

/* ---------- small helpers ---------- */

const char *verdict_name(enum verdict v)
{
	switch (v) {
	case V_PENDING: return "not reached";
	case V_PASSED: return "passed";
	case V_FAILED: return "failed";
	case V_TIMED_OUT: return "timed out";
	case V_INTERRUPTED: return "interrupted";
	case V_DEVIATED: return "deviated";
	case V_ACCEPTED: return "accepted";
	case V_SKIPPED: return "skipped";
	case V_NOT_RUN: return "not run";
	case V_ABORTED: return "aborted";
	}
	return "?";
}

static enum term_colour verdict_colour(enum verdict v)
{
	switch (v) {
	case V_PASSED: return TC_GREEN;
	case V_ACCEPTED: return TC_YELLOW;
	case V_SKIPPED: case V_NOT_RUN: case V_PENDING: return TC_DIM;
	case V_DEVIATED: return TC_YELLOW;
	default: return TC_RED;
	}
}

bool verdict_ok(enum verdict v)
{
	return v == V_PASSED || v == V_ACCEPTED || v == V_SKIPPED || v == V_NOT_RUN;
}

void format_duration(int64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%lld ms", (long long)ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1f s", ms / 1000.0);
	else
		snprintf(buf, len, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
}

/* out writes text to stdout through the redactor. */
void run_out(struct run *r, const char *fmt, ...)
{
	struct strbuf raw = STRBUF_INIT, masked = STRBUF_INIT, shown = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&raw, fmt, ap);
	va_end(ap);
	redact(&r->red, raw.buf, raw.len, &masked);
	/* commands, titles and fixes come from the runbook: every character
	 * of them is shown, none is obeyed by the terminal */
	term_visible(masked.buf, masked.len, &shown);
	fwrite(shown.buf, 1, shown.len, stdout);
	fflush(stdout);
	strbuf_release(&raw);
	strbuf_release(&masked);
	strbuf_release(&shown);
}

static void clear_spinner(struct run *r)
{
	if (r->spinner_shown) {
		fputs("\r\033[K", stdout);
		r->spinner_shown = false;
	}
}

/* ---------- live output ---------- */

/* echo_line appends one line of a block's output, masked and marked, to
 * the echo buffer; echo_flush writes the buffer once per chunk read from
 * the block (a block printing many short lines cost a few stdio calls and
 * a write() per line). */
static void echo_line(struct run *r, enum io_stream which, const char *s, size_t len, bool partial)
{
	struct strbuf *o = &r->echo_masked;
	clear_spinner(r);
	if (!r->echo_mark[which].len) {
		/* the colours do not change during a run */
		struct strbuf *m = &r->echo_mark[which];
		strbuf_addstr(m, "  ");
		if (which == IO_STDERR)
			strbuf_addf(m, "%s!%s %s", term_c(TC_RED), term_c(TC_RESET), term_c(TC_YELLOW));
		else
			strbuf_addf(m, "%s│%s ", term_c(TC_DIM), term_c(TC_RESET));
	}
	strbuf_addbuf(o, &r->echo_mark[which]);
	redact(&r->red, s, len, o);
	if (which == IO_STDERR)
		strbuf_addstr(o, term_c(TC_RESET));
	if (!partial)
		strbuf_addch(o, '\n');
}

static void echo_flush(struct run *r)
{
	struct strbuf *o = &r->echo_masked;
	if (o->len)
		fwrite(o->buf, 1, o->len, stdout);
	strbuf_reset(o);
	fflush(stdout);
}

static void flush_line(struct run *r, enum io_stream which, bool partial)
{
	struct strbuf *pend = &r->pending[which];
	if (!pend->len && partial)
		return;
	echo_line(r, which, pend->buf, pend->len, partial);
	strbuf_reset(pend);
}

static void echo_output(void *data, enum io_stream which, const char *buf, size_t len)
{
	struct run *r = data;
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
		if (nl && !r->pending[which].len && take <= 4096) {
			/* a whole line in the chunk: straight from it */
			echo_line(r, which, buf, take, false);
			buf += take + 1;
			len -= take + 1;
			continue;
		}
		size_t room = 4096 - r->pending[which].len;
		if (take > room)
			take = room;
		strbuf_add(&r->pending[which], buf, take);
		buf += take;
		len -= take;
		if (len && *buf == '\n') {
			flush_line(r, which, false);
			buf++;
			len--;
		} else if (r->pending[which].len >= 4096) {
			flush_line(r, which, true);
			strbuf_addch(&r->echo_masked, '\n');
		}
	}
	/* a prompt without a newline must reach the operator now */
	if (r->block_interactive)
		for (int w = IO_STDOUT; w <= IO_STDERR; w++)
			flush_line(r, (enum io_stream)w, true);
	echo_flush(r);
}

static void flush_pending(struct run *r)
{
	for (int w = IO_STDOUT; w <= IO_STDERR; w++)
		if (r->pending[w].len)
			flush_line(r, (enum io_stream)w, false);
	echo_flush(r);
}

void run_echo(struct run *r, enum io_stream which, const char *buf, size_t len)
{
	echo_output(r, which, buf, len);
}

void run_flush(struct run *r)
{
	flush_pending(r);
	clear_spinner(r);
}

static void tick(void *data)
{
	struct run *r = data;
	int64_t now = proc_now_ms();
	backend_tick(r);
	if (!r->tty_out || r->block_interactive || now - r->last_output_ms < 400)
		return;
	char d[32];
	format_duration(now - r->block_start_ms, d, sizeof(d));
	fprintf(stdout, "\r\033[K  %s%s running %s%s", term_c(TC_CYAN),
		spinner_frames[r->spinner_frame++ % 10], d, term_c(TC_RESET));
	fflush(stdout);
	r->spinner_shown = true;
}

void run_tick(struct run *r)
{
	tick(r);
}

/* ---------- showing plans ---------- */

static void show_text_block(struct run *r, const char *text, const char *indent)
{
	/* masked as a whole first: a secret may follow its keyword on the
	 * next line (PASSWORD\n  'x') */
	struct strbuf masked = STRBUF_INIT;
	redact(&r->red, text, strlen(text), &masked);
	const char *p = masked.buf;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		run_out(r, "%s%.*s\n", indent, (int)len, p);
		p += len + (eol ? 1 : 0);
	}
	strbuf_release(&masked);
}

static const char *block_lang(const struct rb_block *b)
{
	return *b->lang ? b->lang : "shell";
}

/* ---------- running one block ---------- */

static int64_t block_timeout_ms(struct run *r, const struct rb_block *b)
{
	const char *t = rb_attr_get(b, "timeout");
	if (t && *t) {
		char *end;
		double s = strtod(t, &end);
		if (!strcmp(end, "ms"))
			return (int64_t)s;
		if (s > 0)
			return (int64_t)(s * 1000);
	}
	return r->opts.timeout_ms;
}

static int ensure_shell(struct run *r)
{
	struct strbuf err = STRBUF_INIT;
	struct shell_opts so = { 0 };

	if (r->sh)
		return 0;
	so.work_dir = r->work_dir;
	so.tty_fd = r->interactive ? STDIN_FILENO : -1;
	so.env = (const char *const *)r->shell_env;
	so.unset = (const char *const *)r->shell_unset;
	so.kill_grace_ms = r->opts.kill_grace_ms;
	/* what outgrows the 8 MiB kept in memory goes to a spill file in the
	 * work directory, up to 1 GiB per stream (e2e/faults and e2e/hostile
	 * check it, its size and its mode) */
	so.spill = true;
	r->sh = shell_start(&so, &err);
	if (!r->sh) {
		run_out(r, "%srunbook: %s%s\n", term_c(TC_RED), err.buf, term_c(TC_RESET));
		strbuf_release(&err);
		return -1;
	}
	for (size_t i = 0; i < r->opts.nvars; i++) {
		if (shell_set_var(r->sh, r->opts.vars[i].name, r->opts.vars[i].value, &err) < 0) {
			run_out(r, "runbook: --var %s: %s\n", r->opts.vars[i].name, err.buf);
			strbuf_release(&err);
			return -1;
		}
	}
	for (size_t i = 0; i < r->ncaptured; i++)
		shell_set_var(r->sh, r->captured[i].name, r->captured[i].value, &err);
	strbuf_release(&err);
	return 0;
}

static void exec_shell(struct run *r, const struct rb_block *b, const char *text, int line,
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
	sb.timeout_ms = block_timeout_ms(r, b);
	sb.echo = echo_output;
	sb.tick = tick;
	sb.data = r;
	r->block_start_ms = proc_now_ms();
	r->last_output_ms = r->block_start_ms;
	if (shell_run(r->sh, &sb, &res, &err) < 0) {
		flush_pending(r);
		clear_spinner(r);
		o->verdict = V_FAILED;
		o->env_error = true;
		snprintf(o->reason, sizeof(o->reason), "%s", err.buf);
		strbuf_release(&err);
		return;
	}
	flush_pending(r);
	clear_spinner(r);
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
	backend_after_block(r, o);
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

/* execute runs the text of a block (or of one console command) and judges
 * it against its expected output. */
static void execute(struct run *r, const struct rb_block *b, const char *text, int line,
		    const char *expected_text, const struct rb_block *expected, struct block_outcome *o)
{
	memset(o, 0, sizeof(*o));
	strbuf_init(&o->diff, 0);
	o->exit_code = -1;
	o->line = line;
	const char *stream = expected ? rb_attr_get(expected, "stream") : NULL;
	r->both_wanted = stream && !strcmp(stream, "both");
	r->both_truncated = false;
	strbuf_reset(&r->both);
	if (b->kind == BLOCK_SQL) {
		run_sql_block(r, b, o);
	} else {
		exec_shell(r, b, text, line, o);
	}
	if (o->verdict == V_PASSED)
		judge_output(r, b, expected_text, expected, o);
	r->both_wanted = false;
}

void run_fix_command(struct run *r, const char *text, int line, struct block_outcome *o)
{
	static struct rb_block fix_block = { .kind = BLOCK_SHELL, .lang = "bash", .info = "bash",
					     .text = "", .index = -1 };
	struct strbuf t = STRBUF_INIT;
	strbuf_addstr(&t, text);
	strbuf_addch(&t, '\n');
	memset(o, 0, sizeof(*o));
	strbuf_init(&o->diff, 0);
	o->exit_code = -1;
	o->line = line;
	run_out(r, "\n  %sfix%s %s· from the failure table, line %d%s\n", term_c(TC_BOLD), term_c(TC_RESET),
		term_c(TC_DIM), line, term_c(TC_RESET));
	show_text_block(r, t.buf, "  $ ");
	exec_shell(r, &fix_block, t.buf, line, o);
	show_verdict(r, o);
	strbuf_release(&t);
}

/* ---------- prompts ---------- */

/* ask_reason reads a non-empty reason; NULL when the operator interrupted. */
static char *ask_reason(struct run *r, const char *what)
{
	struct strbuf line = STRBUF_INIT;
	for (;;) {
		run_out(r, "  %s (required): ", what);
		int rc = term_read_line(&line);
		if (rc == TERM_INTERRUPTED || rc == TERM_EOF) {
			run_out(r, "\n");
			strbuf_release(&line);
			return NULL;
		}
		strbuf_trim(&line);
		if (line.len)
			return strbuf_detach(&line, NULL);
	}
}

enum ask { ASK_RUN, ASK_SKIP, ASK_QUIT, ASK_INTERRUPT };

static enum ask ask_before(struct run *r, char **reason)
{
	run_out(r, "  %s[Enter] run · s skip · q quit%s ", term_c(TC_BOLD), term_c(TC_RESET));
	int k = term_read_key("\nsq");
	run_out(r, "\n");
	switch (k) {
	case '\n':
		return ASK_RUN;
	case 's':
		*reason = ask_reason(r, "reason for skipping");
		return *reason ? ASK_SKIP : ASK_INTERRUPT;
	case TERM_INTERRUPTED:
	case TERM_EOF: /* the terminal went away: the run stays resumable */
		return ASK_INTERRUPT;
	default:
		return ASK_QUIT;
	}
}

static enum verdict worse(enum verdict a, enum verdict b)
{
	return b > a ? b : a;
}

static void show_verdict(struct run *r, const struct block_outcome *o)
{
	char d[32];
	format_duration(o->duration_ms, d, sizeof(d));
	const char *mark = o->verdict == V_PASSED ? "✓" : o->verdict == V_SKIPPED ? "-" : "✗";
	run_out(r, "  %s%s %s%s%s%s  %s(%s)%s\n", term_c(verdict_colour(o->verdict)), mark,
		verdict_name(o->verdict), *o->reason ? ": " : "", o->reason, term_c(TC_RESET),
		term_c(TC_DIM), d, term_c(TC_RESET));
	if (o->state_lost)
		run_out(r, "  %sthe shell was killed without a snapshot: variables set since the last one are gone%s\n",
			term_c(TC_YELLOW), term_c(TC_RESET));
}

/* ---------- steps ---------- */

bool run_rollback_available(const struct run *r)
{
	if (r->rb->rollback.ncommands)
		return true;
	for (size_t i = 0; i < r->nstates; i++)
		if (r->states[i].ran && r->states[i].step->nrollback)
			return true;
	return false;
}

static void show_rollback_state(struct run *r, const struct rb_command *const *cmds, size_t n,
				const enum verdict *done)
{
	run_out(r, "\n  %sState of the rollback:%s\n", term_c(TC_BOLD), term_c(TC_RESET));
	for (size_t i = 0; i < n; i++) {
		const struct rb_block *b = cmds[i]->block;
		const char *what = b->comment ? b->comment : b->text;
		size_t len = strcspn(what, "\n");
		run_out(r, "  %s%-10s%s %zu. %.*s  %s(line %d)%s\n", term_c(verdict_colour(done[i])),
			done[i] == V_PENDING ? "not run" : verdict_name(done[i]), term_c(TC_RESET), i + 1,
			(int)(len > 70 ? 70 : len), what, term_c(TC_DIM), b->text_line, term_c(TC_RESET));
	}
	size_t not_run = 0;
	for (size_t i = 0; i < n; i++)
		not_run += done[i] == V_PENDING;
	if (not_run)
		run_out(r, "  %sThe commands marked \"not run\" have not been applied: the database is partly rolled back.%s\n",
			term_c(TC_YELLOW), term_c(TC_RESET));
	else
		run_out(r, "  %sEvery command ran; look at what the failed ones left behind.%s\n",
			term_c(TC_YELLOW), term_c(TC_RESET));
}

int run_rollback_commands(struct run *r, struct step_state *ss, const struct rb_command *const *cmds,
			  size_t n, enum flow *flow)
{
	enum verdict *done = xcalloc(n ? n : 1, sizeof(*done));
	int ret = 0;

	*flow = FLOW_CONTINUE;
	for (size_t i = 0; i < n; i++) {
		const struct rb_block *b = cmds[i]->block;
		show_command(r, NULL, b, "rollback", i, n, b->text, b->text_line);
		if (r->interactive) {
			char *reason = NULL;
			enum ask a = ask_before(r, &reason);
			if (a == ASK_SKIP) {
				run_out(r, "  %s- skipped: %s%s\n", term_c(TC_DIM), reason, term_c(TC_RESET));
				step_note_skip(r, ss, b, reason);
				free(reason);
				done[i] = V_SKIPPED;
				continue;
			}
			if (a != ASK_RUN) {
				*flow = a == ASK_QUIT ? FLOW_QUIT : FLOW_INTERRUPT;
				ret = -1;
				show_rollback_state(r, cmds, n, done);
				break;
			}
		}
		struct block_outcome o;
		if (journal_block_start(r, ss, b, b->text, b->text_line, 1) < 0) {
			*flow = FLOW_QUIT;
			ret = -1;
			break;
		}
		execute(r, b, b->text, b->text_line, cmds[i]->expected ? cmds[i]->expected->text : NULL,
			cmds[i]->expected, &o);
		show_verdict(r, &o);
		step_note_outcome(r, ss, b, &o);
		done[i] = o.verdict;
		bool ok = verdict_ok(o.verdict);
		if (!ok && o.verdict == V_DEVIATED && o.diff.len)
			show_text_block(r, o.diff.buf, "    ");
		block_outcome_release(&o);
		if (!ok) {
			ret = -1;
			if (done[i] == V_INTERRUPTED)
				*flow = FLOW_INTERRUPT;
			run_out(r, "  %sThe rollback stops here: command %zu of %zu failed.%s\n", term_c(TC_RED), i + 1,
				n, term_c(TC_RESET));
			show_rollback_state(r, cmds, n, done);
			break;
		}
	}
	free(done);
	return ret;
}

/* run_rollback_after undoes what the run did: the steps' own rollback
 * blocks in reverse order when the runbook gives them, otherwise the whole
 * Rollback Procedure. */
void run_rollback_after(struct run *r)
{
	const struct rb_command **cmds = NULL;
	size_t n = 0, alloc = 0;
	bool per_step = false;
	enum flow flow;

	for (size_t i = 0; i < r->nstates; i++)
		if (r->states[i].ran && r->states[i].step->nrollback)
			per_step = true;
	if (per_step) {
		for (size_t i = r->nstates; i-- > 0;) {
			const struct rb_step *st = r->states[i].step;
			if (!r->states[i].ran)
				continue;
			for (size_t k = 0; k < st->nrollback; k++) {
				ALLOC_GROW(cmds, n + 1, alloc);
				cmds[n++] = &st->rollback[k];
			}
		}
	} else {
		for (size_t k = 0; k < r->rb->rollback.ncommands; k++) {
			ALLOC_GROW(cmds, n + 1, alloc);
			cmds[n++] = &r->rb->rollback.commands[k];
		}
	}
	run_out(r, "\n%sRolling back%s %s(%s, %zu command%s)%s\n", term_c(TC_BOLD), term_c(TC_RESET),
		term_c(TC_DIM), per_step ? "the steps' own rollback blocks, newest first" : "the Rollback Procedure",
		n, n == 1 ? "" : "s", term_c(TC_RESET));
	struct step_state rs;
	memset(&rs, 0, sizeof(rs));
	rs.step = &r->rb->rollback;
	strbuf_init(&rs.last_output, 0);
	int64_t t0 = proc_now_ms();
	rs.ran = true;
	rs.verdict = V_PASSED;
	step_begin(r, &rs);
	if (!n) {
		run_out(r, "  %sthe runbook has no rollback commands%s\n", term_c(TC_RED), term_c(TC_RESET));
		r->rollback_failed = true;
		rs.verdict = V_FAILED;
	} else if (run_rollback_commands(r, &rs, cmds, n, &flow) < 0) {
		r->rollback_failed = true;
		rs.verdict = flow == FLOW_INTERRUPT ? V_INTERRUPTED : V_FAILED;
	} else {
		r->rolled_back = true;
		run_out(r, "  %s✓ rolled back%s\n", term_c(TC_GREEN), term_c(TC_RESET));
	}
	rs.duration_ms = proc_now_ms() - t0;
	step_end(r, &rs);
	step_state_release(&rs);
	free(cmds);
}

static void show_command(struct run *r, const struct rb_step *st, const struct rb_block *b,
			 const char *label, size_t i, size_t n, const char *text, int line)
{
	(void)st;
	run_out(r, "\n  %s%s %zu/%zu%s %s· %s · %s:%d%s\n", term_c(TC_BOLD), label, i + 1, n,
		term_c(TC_RESET), term_c(TC_DIM), block_lang(b), r->rb->path, line, term_c(TC_RESET));
	if (b->comment)
		run_out(r, "  %s# %s%s\n", term_c(TC_DIM), b->comment, term_c(TC_RESET));
	struct strbuf ind = STRBUF_INIT;
	strbuf_addf(&ind, "  %s$%s ", term_c(TC_CYAN), term_c(TC_RESET));
	show_text_block(r, text, ind.buf);
	strbuf_release(&ind);
}

/* run_one runs a block with the prompts around it and says what follows. */
static enum flow run_one(struct run *r, struct step_state *ss, const struct rb_command *cmd,
			 const char *label, size_t i, size_t n, bool ask)
{
	const struct rb_block *b = cmd->block;
	struct rb_console_cmd *cc = NULL;
	size_t ncc = 0;
	enum flow flow = FLOW_CONTINUE;

	if (!rb_block_runnable(b) || rb_attr_has(b, "skip")) {
		run_out(r, "\n  %s%s %zu/%zu · %s · line %d: not run (%s)%s\n", term_c(TC_DIM), label,
			i + 1, n, block_lang(b), b->line,
			rb_attr_has(b, "skip") ? "marked skip" : "not a runnable language", term_c(TC_RESET));
		return FLOW_CONTINUE;
	}
	if (b->kind == BLOCK_CONSOLE)
		ncc = rb_console_split(b, &cc);

	size_t parts = b->kind == BLOCK_CONSOLE ? ncc : 1;
	for (size_t k = 0; k < parts && flow == FLOW_CONTINUE; k++) {
		const char *text = b->kind == BLOCK_CONSOLE ? cc[k].cmd : b->text;
		int line = b->kind == BLOCK_CONSOLE ? cc[k].line : b->text_line;
		const char *expected_text = b->kind == BLOCK_CONSOLE ? cc[k].expected
					    : cmd->expected ? cmd->expected->text : NULL;
		const struct rb_block *expected = b->kind == BLOCK_CONSOLE ? NULL : cmd->expected;
		enum verdict final = V_PASSED;

		show_command(r, NULL, b, label, i, n, text, line);
		if (ask && r->interactive) {
			char *reason = NULL;
			enum ask a = ask_before(r, &reason);
			if (a == ASK_SKIP) {
				run_out(r, "  %s- skipped: %s%s\n", term_c(TC_DIM), reason, term_c(TC_RESET));
				step_note_skip(r, ss, b, reason);
				ss->verdict = worse(ss->verdict, V_SKIPPED);
				free(reason);
				continue;
			}
			if (a != ASK_RUN) {
				flow = a == ASK_QUIT ? FLOW_QUIT : FLOW_INTERRUPT;
				if (a == ASK_QUIT) {
					char *about = xasprintf("before %s %zu/%zu of %s", label, i + 1, n,
								ss->step->title);
					record_decision(r, "abort", "operator", about);
					free(about);
				}
				break;
			}
		}
		bool env_error = false;
		for (int attempt = 1;; attempt++) {
			struct block_outcome o;
			if (journal_block_start(r, ss, b, text, line, attempt) < 0) {
				flow = FLOW_QUIT;
				final = V_FAILED;
				break;
			}
			execute(r, b, text, line, expected_text, expected, &o);
			show_verdict(r, &o);
			step_note_outcome(r, ss, b, &o);
			env_error = o.env_error;
			if (verdict_ok(o.verdict)) {
				final = o.verdict;
				block_outcome_release(&o);
				break;
			}
			if (o.verdict == V_INTERRUPTED || proc_sigint_count() > 0) {
				final = V_INTERRUPTED;
				block_outcome_release(&o);
				flow = FLOW_INTERRUPT;
				break;
			}
			enum flow next = on_failure(r, ss, b, &o, &final);
			block_outcome_release(&o);
			if (next == FLOW_RETRY) {
				run_out(r, "  %sretrying%s\n", term_c(TC_DIM), term_c(TC_RESET));
				continue;
			}
			flow = next;
			break;
		}
		/* an environment problem (the database went away) that a retry got
		 * past is not the run's result */
		if (env_error && !verdict_ok(final))
			r->env_failure = true;
		ss->verdict = worse(ss->verdict, final);
	}
	rb_console_free(cc, ncc);
	return flow;
}

static void step_header(struct run *r, const struct rb_step *st)
{
	char counter[64];

	rb_step_counter(r->rb, st, counter, sizeof(counter));
	if (st->role == STEP_MAIN)
		run_out(r, "\n%sStep %s: %s%s\n", term_c(TC_BOLD), counter, st->title, term_c(TC_RESET));
	else
		run_out(r, "\n%s%s%s\n", term_c(TC_BOLD), st->title, term_c(TC_RESET));
	if (*st->why)
		run_out(r, "%s%s%s\n", term_c(TC_DIM), st->why, term_c(TC_RESET));
}

/* run_step runs a step's commands (with prompts) and its verifications. */
static enum flow run_step(struct run *r, struct step_state *ss)
{
	const struct rb_step *st = ss->step;
	enum flow flow = FLOW_CONTINUE;
	int64_t t0 = proc_now_ms();

	step_header(r, st);
	ss->verdict = V_PASSED;
	ss->ran = true;
	step_begin(r, ss);
	if (st->role == STEP_ROLLBACK) {
		const struct rb_command **cmds = xcalloc(st->ncommands ? st->ncommands : 1, sizeof(*cmds));
		for (size_t i = 0; i < st->ncommands; i++)
			cmds[i] = &st->commands[i];
		if (run_rollback_commands(r, ss, cmds, st->ncommands, &flow) < 0 && flow == FLOW_CONTINUE)
			ss->verdict = V_FAILED;
		free(cmds);
		if (flow == FLOW_INTERRUPT)
			ss->verdict = V_INTERRUPTED;
		if (flow == FLOW_QUIT && verdict_ok(ss->verdict))
			ss->verdict = V_ABORTED;
		ss->duration_ms = proc_now_ms() - t0;
		step_end(r, ss);
		return flow;
	}
	for (size_t i = 0; i < st->ncommands && flow == FLOW_CONTINUE; i++)
		flow = run_one(r, ss, &st->commands[i], st->role == STEP_MAIN ? "command" : "block", i,
			       st->ncommands, st->role == STEP_MAIN);
	for (size_t i = 0; i < st->nverifications && flow == FLOW_CONTINUE; i++)
		flow = run_one(r, ss, &st->verifications[i], "verification", i, st->nverifications, false);
	if (flow == FLOW_END_STEP)
		flow = FLOW_CONTINUE;
	if (flow == FLOW_INTERRUPT)
		ss->verdict = V_INTERRUPTED;
	/* quit before the step's commands were all run: not passed */
	if (flow == FLOW_QUIT && verdict_ok(ss->verdict))
		ss->verdict = V_ABORTED;
	ss->duration_ms = proc_now_ms() - t0;
	step_end(r, ss);
	return flow;
}

char *run_ask_reason(struct run *r, const char *what)
{
	return ask_reason(r, what);
}

int run_verify_only(struct run *r, struct step_state *ss)
{
	const struct rb_step *st = ss->step;
	enum flow flow = FLOW_CONTINUE;
	run_out(r, "\n%sVerifying %s (in flight when the run stopped)%s\n", term_c(TC_BOLD), st->title,
		term_c(TC_RESET));
	ss->verdict = V_PASSED;
	for (size_t i = 0; i < st->nverifications && flow == FLOW_CONTINUE; i++)
		flow = run_one(r, ss, &st->verifications[i], "verification", i, st->nverifications, false);
	return flow == FLOW_CONTINUE && verdict_ok(ss->verdict) ? 0 : -1;
}

/* ---------- the whole run ---------- */

static void summary(struct run *r)
{
	size_t passed = 0, failed = 0, total = 0;
	int64_t ms = proc_now_ms() - r->t0;
	char d[32];

	run_out(r, "\n%sSummary%s\n", term_c(TC_BOLD), term_c(TC_RESET));
	for (size_t i = 0; i < r->nstates; i++) {
		struct step_state *ss = &r->states[i];
		char label[16];
		if (ss->step->role == STEP_MAIN)
			snprintf(label, sizeof(label), "%d", ss->step->number);
		else
			snprintf(label, sizeof(label), "%s", rb_step_role_name(ss->step->role));
		format_duration(ss->duration_ms, d, sizeof(d));
		run_out(r, "  %-8s %-40.40s %s%-12s%s %s\n", label, ss->step->title,
			term_c(verdict_colour(ss->verdict)), verdict_name(ss->verdict), term_c(TC_RESET),
			ss->ran ? d : ss->done_earlier ? "(earlier session)" : "");
		if (ss->step->role != STEP_MAIN)
			continue;
		total++;
		if (ss->verdict == V_PASSED || ss->verdict == V_ACCEPTED)
			passed++;
		else if (ss->verdict != V_PENDING && ss->verdict != V_ABORTED && !verdict_ok(ss->verdict))
			failed++;
	}
	format_duration(ms, d, sizeof(d));
	const char *result;
	switch (r->exit_code) {
	case EXIT_OK: result = "completed"; break;
	case EXIT_ABORTED: result = "aborted by the operator"; break;
	case EXIT_INTERRUPTED: result = "interrupted"; break;
	case EXIT_ENV: result = "stopped: environment problem"; break;
	default: result = "failed"; break;
	}
	struct strbuf extra = STRBUF_INIT;
	for (size_t i = 0; i < r->nstates; i++) {
		const struct step_state *ss = &r->states[i];
		if (ss->step->role != STEP_MAIN && ss->verdict != V_PENDING && !verdict_ok(ss->verdict))
			strbuf_addf(&extra, "; %s %s", ss->step->role == STEP_SETUP ? "the setup" :
				    "the final verification", verdict_name(ss->verdict));
	}
	if (r->opts.mode == MODE_ROLLBACK) {
		run_out(r, "\n%sResult: %s%s (%s)%s\n", term_c(r->exit_code == EXIT_OK ? TC_GREEN : TC_RED),
			term_c(TC_BOLD), r->exit_code == EXIT_OK ? "rolled back" : result, d, term_c(TC_RESET));
		strbuf_release(&extra);
		return;
	}
	if (r->rolled_back || r->rollback_failed)
		strbuf_addf(&extra, "; %s", r->rolled_back ? "rolled back" : "the rollback failed");
	run_out(r, "\n%sResult: %s%s — %zu of %zu steps passed, %zu failed%s (%s)%s\n",
		term_c(r->exit_code == EXIT_OK ? TC_GREEN : TC_RED), term_c(TC_BOLD), result, passed, total,
		failed, extra.buf, d, term_c(TC_RESET));
	strbuf_release(&extra);
}

static void dry_run(struct run *r)
{
	size_t n = 0;
	run_out(r, "%s (dry run: nothing is executed)\n", *r->rb->title ? r->rb->title : r->rb->path);
	if (r->opts.nvars) {
		run_out(r, "\nVariables set before the first block:\n");
		for (size_t i = 0; i < r->opts.nvars; i++)
			run_out(r, "  %s=%s\n", r->opts.vars[i].name, r->opts.vars[i].value);
	}
	for (size_t s = 0; s < r->nstates; s++) {
		const struct rb_step *st = r->states[s].step;
		if (!r->states[s].selected)
			continue;
		char counter[64];
		rb_step_counter(r->rb, st, counter, sizeof(counter));
		if (st->role == STEP_MAIN)
			run_out(r, "\n# Step %s: %s\n", counter, st->title);
		else
			run_out(r, "\n# %s\n", st->title);
		const struct rb_command *lists[2] = { st->commands, st->verifications };
		size_t counts[2] = { st->ncommands, st->nverifications };
		for (int l = 0; l < 2; l++)
			for (size_t i = 0; i < counts[l]; i++) {
				const struct rb_block *b = lists[l][i].block;
				if (!rb_block_runnable(b) || rb_attr_has(b, "skip"))
					continue;
				int64_t t = block_timeout_ms(r, b);
				run_out(r, "## %zu. %s%s, %s:%d, timeout %llds%s%s\n", ++n,
					l ? "verification, " : "", block_lang(b), r->rb->path, b->text_line,
					(long long)(t / 1000), rb_attr_has(b, "allow-fail") ? ", allow-fail" : "",
					rb_attr_has(b, "interactive") ? ", interactive" : "");
				show_text_block(r, b->text, "");
			}
	}
	run_out(r, "\n%zu blocks would run.\n", n);
}

static int parse_var(struct run_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return -1;
	char *name = xmemdupz(arg, (size_t)(eq - arg));
	if (!shell_valid_name(name)) {
		free(name);
		return -1;
	}
	ALLOC_GROW(o->vars, o->nvars + 1, o->vars_alloc);
	o->vars[o->nvars].name = name;
	o->vars[o->nvars].value = xstrdup(eq + 1);
	o->nvars++;
	return 0;
}

static void usage_run(void)
{
	printf("usage: runbook run FILE [options]\n"
	       "  -y, --yes               run every block without asking; stop at the first failure\n"
	       "      --keep-going        with --yes, go on after a failed step (the run still fails)\n"
	       "  -n, --dry-run           print exactly what would run, in order, and stop\n"
	       "      --from N            start at step N (setup still runs)\n"
	       "      --only N            run only step N (and the setup)\n"
	       "      --timeout SECONDS   default timeout per block (default %d)\n"
	       "      --var NAME=VALUE    set a variable before the first block (repeatable)\n"
	       "      --no-color          no colours (also NO_COLOR=1)\n"
	       "      --quiet-output      do not echo command output (it is still captured)\n",
	       RUN_DEFAULT_TIMEOUT_S);
}

int run_init(struct run *r)
{
	char tmpl[PATH_MAX];
	const char *tmp = getenv("TMPDIR");

	r->t0 = proc_now_ms();
	proc_signals_install();
	/* a file size limit makes write() fail instead of killing us */
	signal(SIGXFSZ, SIG_IGN);
	proc_guard_start();
	r->red.learn = true;
	redactor_add_environ(&r->red, environ);
	for (size_t i = 0; i < r->opts.nvars; i++)
		if (redact_secret_name(r->opts.vars[i].name))
			redactor_add_value(&r->red, r->opts.vars[i].value);
	snprintf(tmpl, sizeof(tmpl), "%s/runbook-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "runbook: cannot create a work directory in %s: %s\n",
			tmp && *tmp ? tmp : "/tmp", strerror(errno));
		return -1;
	}
	r->work_dir = xstrdup(tmpl);
	proc_guard_remove(r->work_dir);
	for (int w = 0; w < 3; w++)
		strbuf_init(&r->pending[w], 0);
	strbuf_init(&r->echo_masked, 0);
	strbuf_init(&r->both, 0);
	for (int w = 0; w < 3; w++)
		strbuf_init(&r->echo_mark[w], 0);
	return 0;
}

static void remove_tree(const char *dir)
{
	struct proc p = PROC_INIT;
	const char *argv[] = { "rm", "-rf", "--", dir, NULL };
	struct strbuf err = STRBUF_INIT;
	p.argv = argv;
	if (proc_run(&p, NULL, NULL, 10000, NULL, &err) < 0)
		fprintf(stderr, "runbook: cannot remove %s: %s\n", dir, err.buf);
	strbuf_release(&err);
}

void run_release(struct run *r)
{
	shell_free(r->sh);
	r->sh = NULL;
	run_backends_release(r);
	release_expectations(r);
	if (r->work_dir) {
		remove_tree(r->work_dir);
		free(r->work_dir);
	}
	for (size_t i = 0; i < r->opts.nvars; i++) {
		free(r->opts.vars[i].name);
		free(r->opts.vars[i].value);
	}
	free(r->opts.vars);
	for (size_t i = 0; i < r->ncaptured; i++) {
		free(r->captured[i].name);
		free(r->captured[i].value);
	}
	free(r->captured);
	for (size_t i = 0; i < r->nstates; i++)
		step_state_release(&r->states[i]);
	free(r->states);
	free(r->log_path);
	journal_resume_release(r);
	for (int w = 0; w < 3; w++)
		strbuf_release(&r->pending[w]);
	strbuf_release(&r->echo_masked);
	strbuf_release(&r->both);
	for (int w = 0; w < 3; w++)
		strbuf_release(&r->echo_mark[w]);
	redactor_release(&r->red);
	runbook_free(r->rb);
}

/* plan_states lists setup, steps and final verification with whether the
 * options select them. */
void plan_states(struct run *r)
{
	const struct runbook *rb = r->rb;
	size_t n = rb->nsteps + 2;
	r->states = xcalloc(n, sizeof(*r->states));
	for (size_t i = 0; i < n; i++)
		strbuf_init(&r->states[i].last_output, 0);
	if (rb->setup.line) {
		r->states[r->nstates].step = &rb->setup;
		r->states[r->nstates++].selected = true;
	}
	if (r->opts.mode == MODE_ROLLBACK) {
		r->states[r->nstates].step = &rb->rollback;
		r->states[r->nstates++].selected = true;
		return;
	}
	for (size_t i = 0; i < rb->nsteps; i++) {
		struct step_state *ss = &r->states[r->nstates++];
		ss->step = &rb->steps[i];
		ss->selected = r->opts.only ? rb->steps[i].number == r->opts.only
			       : r->opts.from ? rb->steps[i].number >= r->opts.from : true;
		ss->verdict = ss->selected ? V_PENDING : V_NOT_RUN;
	}
	if (rb->final.line) {
		r->states[r->nstates].step = &rb->final;
		r->states[r->nstates++].selected = !r->opts.only;
		if (r->opts.only)
			r->states[r->nstates - 1].verdict = V_NOT_RUN;
	}
}

enum flow run_confirm_prereq(struct run *r, const struct rb_item *it, const struct prereq_check *pc)
{
	if (!r->interactive) {
		run_out(r, "  %s?%s %s  %s(confirmed by --yes%s%s)%s\n", term_c(TC_YELLOW), term_c(TC_RESET),
			it->text, term_c(TC_DIM), *pc->evidence ? "; " : "", pc->evidence, term_c(TC_RESET));
		record_prereq(r, it, "confirmed", "--yes");
		return FLOW_CONTINUE;
	}
	run_out(r, "  %s?%s %s%s%s  %sy confirm · n not met%s ", term_c(TC_YELLOW), term_c(TC_RESET),
		it->text, *pc->evidence ? " — " : "", pc->evidence, term_c(TC_BOLD), term_c(TC_RESET));
	int k = term_read_key("yn");
	run_out(r, "%s\n", k == 'y' ? "confirmed" : "");
	if (k == 'y') {
		record_prereq(r, it, "confirmed", "operator");
		return FLOW_CONTINUE;
	}
	if (k == TERM_INTERRUPTED || k == TERM_EOF)
		return FLOW_INTERRUPT;
	run_out(r, "  %sprerequisite not met: stopping before anything runs%s\n", term_c(TC_RED),
		term_c(TC_RESET));
	record_prereq(r, it, "not met", "operator");
	return FLOW_QUIT;
}

/* preflight shows the prerequisites and has the operator confirm them. */
static enum flow preflight(struct run *r)
{
	const struct runbook *rb = r->rb;
	if (!rb->nprereqs || r->opts.mode == MODE_ROLLBACK)
		return FLOW_CONTINUE;
	run_out(r, "\n%sPrerequisites%s\n", term_c(TC_BOLD), term_c(TC_RESET));
	for (size_t i = 0; i < rb->nprereqs; i++) {
		const struct rb_item *it = &rb->prereqs[i];
		struct prereq_check pc;
		check_prerequisite(r, it, &pc);
		if (pc.status == PREREQ_OK) {
			run_out(r, "  %s✓%s %s  %s%s%s\n", term_c(TC_GREEN), term_c(TC_RESET), it->text,
				term_c(TC_DIM), pc.evidence, term_c(TC_RESET));
			record_prereq(r, it, "checked", pc.evidence);
			continue;
		}
		if (pc.status == PREREQ_FAILED) {
			run_out(r, "  %s✗ %s%s  %s\n", term_c(TC_RED), it->text, term_c(TC_RESET), pc.evidence);
			record_prereq(r, it, "failed", pc.evidence);
			if (!r->interactive) {
				r->env_failure = true;
				return FLOW_QUIT;
			}
			run_out(r, "  %sc continue anyway · q quit%s ", term_c(TC_BOLD), term_c(TC_RESET));
			int k = term_read_key("cq");
			run_out(r, "\n");
			if (k != 'c')
				return k == TERM_INTERRUPTED ? FLOW_INTERRUPT : FLOW_QUIT;
			char *why = ask_reason(r, "reason for continuing");
			if (!why)
				return FLOW_INTERRUPT;
			record_prereq(r, it, "overridden", why);
			free(why);
			continue;
		}
		enum flow f = run_confirm_prereq(r, it, &pc);
		if (f != FLOW_CONTINUE)
			return f;
	}
	return FLOW_CONTINUE;
}

int run_steps(struct run *r)
{
	enum flow act = FLOW_CONTINUE;
	bool failed = false;

	bool asked_inflight = false;
	act = r->resumed ? journal_resume_plan(r) : preflight(r);
	for (size_t i = 0; i < r->nstates && act == FLOW_CONTINUE; i++) {
		struct step_state *ss = &r->states[i];
		if (r->resumed && !asked_inflight && ss->step->role != STEP_SETUP) {
			asked_inflight = true;
			act = journal_resume_inflight(r);
			if (act != FLOW_CONTINUE)
				break;
		}
		if (!ss->selected)
			continue;
		if (ss->step->role == STEP_FINAL && failed && !r->opts.keep_going)
			break;
		act = run_step(r, ss);
		if (ss->step->role == STEP_SETUP && act == FLOW_CONTINUE && verdict_ok(ss->verdict))
			act = after_setup(r);
		if (ss->step->role == STEP_FINAL && act == FLOW_CONTINUE)
			check_final_state(r, ss);
		if (!verdict_ok(ss->verdict))
			failed = true;
		if (act == FLOW_CONTINUE && !verdict_ok(ss->verdict)) {
			if (ss->step->role == STEP_SETUP) {
				run_out(r, "\n%sThe setup failed: no step can run without it.%s\n", term_c(TC_RED),
					term_c(TC_RESET));
				break;
			}
			if (!r->opts.keep_going)
				break;
		}
		if (r->rollback_requested || journal_failed(r))
			break;
	}
	if (act == FLOW_QUIT)
		r->exit_code = r->env_failure ? EXIT_ENV : EXIT_ABORTED;
	else if (act == FLOW_INTERRUPT || proc_sigint_count() > 0)
		r->exit_code = EXIT_INTERRUPTED;
	else if (r->env_failure)
		r->exit_code = EXIT_ENV;
	else if (failed)
		r->exit_code = EXIT_FAIL;
	else
		r->exit_code = EXIT_OK;
	if (r->rollback_requested && act != FLOW_INTERRUPT) {
		run_rollback_after(r);
		if (r->exit_code == EXIT_OK)
			r->exit_code = EXIT_FAIL;
	}
	return r->exit_code;
}

/* run_file loads path and runs it with r->opts (and back-end options
 * already given); the caller zeroed r.  *captures (when non-NULL) gets the
 * variables captured during the run.  Returns the exit code. */
int run_file(struct run *r, const char *path, struct run_var **captures, size_t *ncaptures)
{
	struct strbuf err = STRBUF_INIT;
	int code;

	term_init(r->opts.no_color);
	r->tty_out = term_is_tty();
	r->interactive = !r->opts.yes && !r->opts.dry_run;
	if (r->interactive && !term_can_prompt()) {
		fprintf(stderr, "runbook %s: stdin is not a terminal, so nobody can answer the prompts.\n"
				"Use --yes to run unattended, or --dry-run to see what would run.\n",
			r->opts.mode == MODE_ROLLBACK ? "rollback" : "run");
		run_backends_release(r);
		return EXIT_USAGE;
	}
	r->rb = runbook_load(path, &err, NULL);
	if (!r->rb) {
		fprintf(stderr, "runbook: %s\n", err.buf);
		strbuf_release(&err);
		run_backends_release(r);
		return EXIT_INVALID;
	}
	strbuf_release(&err);
	lint_runbook(r->rb);
	if (diag_count(&r->rb->diags, DIAG_ERROR) || prepare_expectations(r) < 0) {
		release_expectations(r);
		diag_print(&r->rb->diags, stderr);
		fprintf(stderr, "runbook: %s has errors; fix them before running it (runbook check %s)\n",
			r->rb->path, r->rb->path);
		runbook_free(r->rb);
		run_backends_release(r);
		return EXIT_INVALID;
	}
	if (r->opts.only || r->opts.from) {
		bool found = false;
		for (size_t i = 0; i < r->rb->nsteps; i++)
			found |= r->opts.only ? r->rb->steps[i].number == r->opts.only
					      : r->rb->steps[i].number >= r->opts.from;
		if (!found && r->opts.from) {
			int last = 0;
			for (size_t i = 0; i < r->rb->nsteps; i++)
				last = r->rb->steps[i].number > last ? r->rb->steps[i].number : last;
			release_expectations(r);
			runbook_free(r->rb);
			run_backends_release(r);
			return cli_usage_error("run", "--from %d: there is no step %d or later (the last is step %d)",
					       r->opts.from, r->opts.from, last);
		}
		if (!found) {
			release_expectations(r);
			runbook_free(r->rb);
			run_backends_release(r);
			return cli_usage_error("run", "there is no step %d", r->opts.only);
		}
	}
	if (r->opts.mode == MODE_ROLLBACK && !r->rb->rollback.ncommands) {
		fprintf(stderr, "runbook: %s has no Rollback Procedure with commands\n", r->rb->path);
		release_expectations(r);
		runbook_free(r->rb);
		run_backends_release(r);
		return EXIT_INVALID;
	}
	if (run_init(r) < 0) {
		release_expectations(r);
		runbook_free(r->rb);
		run_backends_release(r);
		return EXIT_ENV;
	}
	plan_states(r);
	if (r->opts.dry_run) {
		dry_run(r);
		run_release(r);
		return EXIT_OK;
	}
	run_out(r, "%s%s%s%s  %s(%s, %zu steps%s)%s\n", term_c(TC_BOLD),
		r->opts.mode == MODE_ROLLBACK ? "Rollback: " : "", *r->rb->title ? r->rb->title : r->rb->path,
		term_c(TC_RESET), term_c(TC_DIM), r->rb->path, r->rb->nsteps,
		r->interactive ? "" : ", unattended", term_c(TC_RESET));
	if (run_backends_start(r) < 0 || journal_open(r, r->opts.mode == MODE_ROLLBACK ? "rollback" : "run") < 0) {
		code = r->usage_error ? EXIT_USAGE : EXIT_ENV;
		r->exit_code = code;
	} else {
		code = run_steps(r);
	}
	summary(r);
	journal_close(r, code == EXIT_OK ? "completed" : code == EXIT_ABORTED ? "aborted"
			 : code == EXIT_INTERRUPTED ? "interrupted" : code == EXIT_ENV ? "environment" : "failed");
	if (captures) {
		*captures = r->captured;
		*ncaptures = r->ncaptured;
		r->captured = NULL;
		r->ncaptured = 0;
	}
	run_release(r);
	return code;
}

/* run_command parses the options shared by run and rollback. */
static int run_command(int argc, char **argv, enum run_mode mode)
{
	static const struct option opts[] = {
		{ "yes", no_argument, NULL, 'y' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "from", required_argument, NULL, 'F' },
		{ "only", required_argument, NULL, 'O' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "var", required_argument, NULL, 'v' },
		{ "no-color", no_argument, NULL, 'C' },
		{ "quiet-output", no_argument, NULL, 'Q' },
		{ "kill-grace", required_argument, NULL, 'G' },
		RUN_BACKEND_OPTIONS
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = mode == MODE_ROLLBACK ? "rollback" : "run";
	struct run r;
	int c;

	memset(&r, 0, sizeof(r));
	r.opts.mode = mode;
	r.opts.timeout_ms = (int64_t)RUN_DEFAULT_TIMEOUT_S * 1000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ynh", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'y': r.opts.yes = true; break;
		case 'n': r.opts.dry_run = true; break;
		case 'k': r.opts.keep_going = true; break;
		case 'C': r.opts.no_color = true; break;
		case 'Q': r.opts.quiet_output = true; break;
		case 'F':
		case 'O': {
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > INT_MAX || mode == MODE_ROLLBACK) {
				run_backends_release(&r);
				return cli_usage_error(cmd, "--%s needs a step number (and only applies to run)",
						       c == 'F' ? "from" : "only");
			}
			if (c == 'F')
				r.opts.from = (int)n;
			else
				r.opts.only = (int)n;
			break;
		}
		case 'T':
		case 'G': {
			double s = strtod(optarg, &end);
			if (*end || s <= 0) {
				run_backends_release(&r);
				return cli_usage_error(cmd, "--%s needs a positive number of seconds",
						       c == 'T' ? "timeout" : "kill-grace");
			}
			if (c == 'T')
				r.opts.timeout_ms = (int64_t)(s * 1000);
			else
				r.opts.kill_grace_ms = (int64_t)(s * 1000);
			break;
		}
		case 'v':
			if (parse_var(&r.opts, optarg) < 0) {
				run_backends_release(&r);
				return cli_usage_error(cmd, "--var needs NAME=VALUE with a shell variable name, got '%s'",
						       optarg);
			}
			break;
		case 'h':
			if (mode == MODE_ROLLBACK)
				printf("usage: runbook rollback FILE [options]\n"
				       "  runs the runbook's setup, then its Rollback Procedure command by command,\n"
				       "  asking before each one (--yes runs them all).  Options as for run.\n");
			else
				usage_run();
			run_backend_usage();
			run_backends_release(&r);
			return EXIT_OK;
		default:
			if (run_backend_option(&r, c, optarg) == 0)
				break;
			run_backends_release(&r);
			return cli_usage_error(cmd, "unknown option or bad value");
		}
	}
	if (optind != argc - 1) {
		run_backends_release(&r);
		return cli_usage_error(cmd, "expected exactly one FILE");
	}
	if (r.opts.from && r.opts.only) {
		run_backends_release(&r);
		return cli_usage_error(cmd, "--from and --only cannot be combined");
	}
	return run_file(&r, argv[optind], NULL, NULL);
}

int cli_run(int argc, char **argv)
{
	return run_command(argc, argv, MODE_RUN);
}

int cli_rollback(int argc, char **argv)
{
	return run_command(argc, argv, MODE_ROLLBACK);
}
