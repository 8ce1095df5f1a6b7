/* term_ui.c - a run's events as the operator reads them on the terminal,
 * and the questions asked there. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "cli/run.h"
#include "sys/term.h"

static const char *const spinner_frames[] = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" };

struct term_ui {
	const struct exec_opts *opts;
	struct exec_run *run;   /* the run whose secrets are masked */
	bool tty_out;
	bool spinner_shown;
	int spinner_frame;
	struct strbuf marks[3]; /* what starts an echoed line, per stream */
	struct strbuf line;     /* scratch */
};

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

static void clear_spinner(struct term_ui *t)
{
	if (t->spinner_shown) {
		fputs("\r\033[K", stdout);
		t->spinner_shown = false;
	}
}

/* write_masked writes text to f, secrets masked, every character of it
 * shown and none obeyed by the terminal (commands, titles and fixes come
 * from the runbook). */
static void write_masked(struct term_ui *t, FILE *f, const char *text, size_t len)
{
	struct strbuf masked = STRBUF_INIT, shown = STRBUF_INIT;
	if (t->run)
		exec_mask(t->run, text, len, &masked);
	else
		strbuf_add(&masked, text, len);
	term_visible(masked.buf, masked.len, &shown);
	clear_spinner(t);
	fwrite(shown.buf, 1, shown.len, f);
	fflush(f);
	strbuf_release(&masked);
	strbuf_release(&shown);
}

static void out(struct term_ui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct term_ui *t, const char *fmt, ...)
{
	va_list ap;
	strbuf_reset(&t->line);
	va_start(ap, fmt);
	strbuf_vaddf(&t->line, fmt, ap);
	va_end(ap);
	char *copy = xmemdupz(t->line.buf, t->line.len);
	write_masked(t, stdout, copy, strlen(copy));
	free(copy);
}

/* text_block shows text line by line after indent, masked as a whole
 * first (a secret may follow its keyword on the next line). */
static void text_block(struct term_ui *t, const char *text, const char *indent)
{
	struct strbuf masked = STRBUF_INIT;
	if (t->run)
		exec_mask(t->run, text, strlen(text), &masked);
	else
		strbuf_addstr(&masked, text);
	const char *p = masked.buf;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		out(t, "%s%.*s\n", indent, (int)len, p);
		p += len + (eol ? 1 : 0);
	}
	strbuf_release(&masked);
}

static const char *block_lang(const struct rb_block *b)
{
	return *b->lang ? b->lang : "shell";
}

static enum term_colour note_colour(enum note_level l)
{
	switch (l) {
	case NOTE_DIM: return TC_DIM;
	case NOTE_INFO: return TC_CYAN;
	case NOTE_OK: return TC_GREEN;
	case NOTE_WARN: return TC_YELLOW;
	case NOTE_ERROR: return TC_RED;
	case NOTE_HEADING: return TC_BOLD;
	default: return TC_RESET;
	}
}

static void show_note(struct term_ui *t, const struct event *ev)
{
	const char *text = ev->text;
	if (ev->level == NOTE_FATAL) {
		fflush(stdout);
		write_masked(t, stderr, text, strlen(text));
		fputc('\n', stderr);
		return;
	}
	size_t lead = strspn(text, " \n");
	if (ev->level == NOTE_PLAIN)
		out(t, "%s\n", text);
	else
		out(t, "%.*s%s%s%s\n", (int)lead, text, term_c(note_colour(ev->level)), text + lead,
		    term_c(TC_RESET));
}

static void show_output(struct term_ui *t, const struct event *ev)
{
	struct strbuf o = STRBUF_INIT;
	enum io_stream which = ev->stream;
	if (!t->marks[which].len) {
		/* the colours do not change during a run */
		struct strbuf *m = &t->marks[which];
		strbuf_addstr(m, "  ");
		if (which == IO_STDERR)
			strbuf_addf(m, "%s!%s %s", term_c(TC_RED), term_c(TC_RESET), term_c(TC_YELLOW));
		else
			strbuf_addf(m, "%s│%s ", term_c(TC_DIM), term_c(TC_RESET));
	}
	const char *p = ev->text, *end = ev->text + ev->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		strbuf_addbuf(&o, &t->marks[which]);
		if (t->run)
			exec_mask(t->run, p, len, &o);
		else
			strbuf_add(&o, p, len);
		if (which == IO_STDERR)
			strbuf_addstr(&o, term_c(TC_RESET));
		if (nl)
			strbuf_addch(&o, '\n');
		p += len + (nl ? 1 : 0);
	}
	clear_spinner(t);
	fwrite(o.buf, 1, o.len, stdout);
	fflush(stdout);
	strbuf_release(&o);
}

static void show_prereq(struct term_ui *t, const struct event *ev)
{
	if (!strcmp(ev->status, "checked"))
		out(t, "  %s✓%s %s  %s%s%s\n", term_c(TC_GREEN), term_c(TC_RESET), ev->text, term_c(TC_DIM),
		    ev->evidence, term_c(TC_RESET));
	else if (!strcmp(ev->status, "failed"))
		out(t, "  %s✗ %s%s  %s\n", term_c(TC_RED), ev->text, term_c(TC_RESET), ev->evidence);
	else if (!strcmp(ev->status, "confirmed") && ev->by && !strcmp(ev->by, "--yes"))
		out(t, "  %s?%s %s  %s(confirmed by --yes%s%s)%s\n", term_c(TC_YELLOW), term_c(TC_RESET),
		    ev->text, term_c(TC_DIM), *ev->evidence ? "; " : "", ev->evidence, term_c(TC_RESET));
}

static void show_step(struct term_ui *t, const struct event *ev)
{
	const struct rb_step *st = ev->step;
	if (!ev->ok)
		return;
	if (st->role == STEP_MAIN)
		out(t, "\n%sStep %s: %s%s\n", term_c(TC_BOLD), ev->counter, st->title, term_c(TC_RESET));
	else
		out(t, "\n%s%s%s\n", term_c(TC_BOLD), st->title, term_c(TC_RESET));
	if (*st->why)
		out(t, "%s%s%s\n", term_c(TC_DIM), st->why, term_c(TC_RESET));
}

static void show_command(struct term_ui *t, const struct event *ev)
{
	const struct rb_block *b = ev->block;
	if (!strcmp(ev->label, "fix")) {
		out(t, "\n  %sfix%s %s· from the failure table, line %d%s\n", term_c(TC_BOLD), term_c(TC_RESET),
		    term_c(TC_DIM), ev->line, term_c(TC_RESET));
		text_block(t, ev->text, "  $ ");
		return;
	}
	out(t, "\n  %s%s %zu/%zu%s %s· %s · %s:%d%s\n", term_c(TC_BOLD), ev->label, ev->index + 1, ev->count,
	    term_c(TC_RESET), term_c(TC_DIM), block_lang(b), ev->path, ev->line, term_c(TC_RESET));
	if (ev->comment)
		out(t, "  %s# %s%s\n", term_c(TC_DIM), ev->comment, term_c(TC_RESET));
	struct strbuf ind = STRBUF_INIT;
	strbuf_addf(&ind, "  %s$%s ", term_c(TC_CYAN), term_c(TC_RESET));
	text_block(t, ev->text, ind.buf);
	strbuf_release(&ind);
}

static void show_verdict(struct term_ui *t, const struct event *ev)
{
	const struct block_outcome *o = ev->outcome;
	char d[32];
	format_duration(o->duration_ms, d, sizeof(d));
	const char *mark = o->verdict == V_PASSED ? "✓" : o->verdict == V_SKIPPED ? "-" : "✗";
	out(t, "  %s%s %s%s%s%s  %s(%s)%s\n", term_c(verdict_colour(o->verdict)), mark,
	    verdict_name(o->verdict), *o->reason ? ": " : "", o->reason, term_c(TC_RESET), term_c(TC_DIM), d,
	    term_c(TC_RESET));
	if (o->state_lost)
		out(t, "  %sthe shell was killed without a snapshot: variables set since the last one are gone%s\n",
		    term_c(TC_YELLOW), term_c(TC_RESET));
}

static void show_diff(struct term_ui *t, const char *diff)
{
	const char *p = diff;
	size_t shown = 0;
	while (*p && shown < 60) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		enum term_colour c = TC_RESET;
		if (len && (*p == '-' && strncmp(p, "---", 3)))
			c = TC_RED;
		else if (len && (*p == '+' && strncmp(p, "+++", 3)))
			c = TC_GREEN;
		else if (len && *p == '@')
			c = TC_CYAN;
		out(t, "    %s%.*s%s\n", term_c(c), (int)len, p, term_c(TC_RESET));
		shown++;
		p += len + (eol ? 1 : 0);
	}
	if (*p)
		out(t, "    %s... diff cut after 60 lines%s\n", term_c(TC_DIM), term_c(TC_RESET));
}

static void show_suggestions(struct term_ui *t, const struct event *ev)
{
	if (ev->sqlstate)
		out(t, "  %sSQLSTATE %s%s\n", term_c(TC_DIM), ev->sqlstate, term_c(TC_RESET));
	if (!ev->count) {
		if (ev->ok)
			out(t, "\n  %sNo documented fix matches this error.%s\n", term_c(TC_YELLOW), term_c(TC_RESET));
		if (ev->text && *ev->text) {
			out(t, "  %sThe runbook's troubleshooting section (line %d):%s\n", term_c(TC_DIM), ev->line,
			    term_c(TC_RESET));
			const char *p = ev->text;
			for (int i = 0; *p && i < 15; i++) {
				const char *eol = strchr(p, '\n');
				size_t len = eol ? (size_t)(eol - p) : strlen(p);
				out(t, "    %.*s\n", (int)len, p);
				p += len + (eol ? 1 : 0);
			}
		}
		return;
	}
	out(t, "\n  %sDocumented fix%s%s (%s, line %d):\n", term_c(TC_BOLD), ev->count > 1 ? "es" : "",
	    term_c(TC_RESET), ev->general ? "Troubleshooting" : "If This Fails", ev->line);
	for (size_t i = 0; i < ev->count && ev->suggestions[i].shown; i++) {
		const struct suggestion *s = &ev->suggestions[i];
		out(t, "  %s%s %s%s  %s(%s)%s\n", term_c(i ? TC_YELLOW : TC_GREEN), i ? "·" : "▸", s->error,
		    term_c(TC_RESET), term_c(TC_DIM), s->why, term_c(TC_RESET));
		if (*s->cause)
			out(t, "      cause:    %s\n", s->cause);
		out(t, "      solution: %s\n", s->solution);
	}
}

static void show_final_state(struct term_ui *t, const struct event *ev)
{
	if (!ev->name) {
		out(t, "\n  %sExpected final state%s\n", term_c(TC_BOLD), term_c(TC_RESET));
		if (!ev->ok)
			out(t, "  %sthe final verification printed no table to compare with%s\n", term_c(TC_RED),
			    term_c(TC_RESET));
	} else if (ev->ok) {
		out(t, "  %s✓%s %s = %s\n", term_c(TC_GREEN), term_c(TC_RESET), ev->name, ev->value);
	} else if (ev->value) {
		out(t, "  %s✗ %s = %s, expected %s%s\n", term_c(TC_RED), ev->name, ev->value, ev->expected,
		    term_c(TC_RESET));
	} else {
		out(t, "  %s✗ %s: no such column in the final query's result, expected %s%s\n", term_c(TC_RED),
		    ev->name, ev->expected, term_c(TC_RESET));
	}
}

static void show_rollback_state(struct term_ui *t, const struct event *ev)
{
	size_t not_run = 0;
	out(t, "\n  %sState of the rollback:%s\n", term_c(TC_BOLD), term_c(TC_RESET));
	for (size_t i = 0; i < ev->count; i++) {
		const struct rollback_item *it = &ev->rollback[i];
		size_t len = strlen(it->text);
		out(t, "  %s%-10s%s %zu. %.*s  %s(line %d)%s\n", term_c(verdict_colour(it->verdict)),
		    it->verdict == V_PENDING ? "not run" : verdict_name(it->verdict), term_c(TC_RESET), i + 1,
		    (int)(len > 70 ? 70 : len), it->text, term_c(TC_DIM), it->line, term_c(TC_RESET));
		not_run += it->verdict == V_PENDING;
	}
	if (not_run)
		out(t, "  %sThe commands marked \"not run\" have not been applied: the database is partly rolled back.%s\n",
		    term_c(TC_YELLOW), term_c(TC_RESET));
	else
		out(t, "  %sEvery command ran; look at what the failed ones left behind.%s\n", term_c(TC_YELLOW),
		    term_c(TC_RESET));
}

static void show_in_flight(struct term_ui *t, const struct event *ev)
{
	out(t, "\n  %s%s was in flight when the run stopped.%s\n", term_c(TC_YELLOW), ev->name, term_c(TC_RESET));
	if (!ev->text) {
		out(t, "  it had started but none of its commands was running.\n");
		return;
	}
	if (ev->ok)
		out(t, "  its last command, started at %s, was interrupted or lost its database "
		       "connection before it finished:\n", ev->ts);
	else
		out(t, "  its last command started at %s and never reported an end:\n", ev->ts);
	text_block(t, ev->text, "    ");
}

static void show_plan(struct term_ui *t, const struct event *ev)
{
	const struct rb_block *b = ev->block;
	if (!b) {
		if (ev->step->role == STEP_MAIN)
			out(t, "\n# Step %s: %s\n", ev->counter, ev->title);
		else
			out(t, "\n# %s\n", ev->title);
		return;
	}
	out(t, "## %zu. %s%s, %s:%d, timeout %llds%s%s\n", ev->index, !strcmp(ev->label, "verification")
	    ? "verification, " : "", block_lang(b), ev->path, ev->line, (long long)(ev->duration_ms / 1000),
	    rb_attr_has(b, "allow-fail") ? ", allow-fail" : "", rb_attr_has(b, "interactive") ? ", interactive" : "");
	text_block(t, ev->text, "");
}

static void show_start(struct term_ui *t, const struct event *ev)
{
	const char *name = ev->title && *ev->title ? ev->title : ev->path;
	if (ev->dry_run) {
		out(t, "%s (dry run: nothing is executed)\n", name);
		if (t->opts->nvars) {
			out(t, "\nVariables set before the first block:\n");
			for (size_t i = 0; i < t->opts->nvars; i++)
				out(t, "  %s=%s\n", t->opts->vars[i].name, t->opts->vars[i].value);
		}
		return;
	}
	out(t, "%s%s%s%s  %s(%s, %zu steps%s)%s\n", term_c(TC_BOLD), ev->mode == MODE_ROLLBACK ? "Rollback: " : "",
	    name, term_c(TC_RESET), term_c(TC_DIM), ev->path, ev->count, ev->interactive ? "" : ", unattended",
	    term_c(TC_RESET));
}

static void show_summary(struct term_ui *t, const struct event *ev)
{
	size_t passed = 0, failed = 0, total = 0;
	char d[32];

	if (ev->dry_run) {
		out(t, "\n%zu blocks would run.\n", ev->count);
		return;
	}
	out(t, "\n%sSummary%s\n", term_c(TC_BOLD), term_c(TC_RESET));
	for (size_t i = 0; i < ev->count; i++) {
		const struct step_state *ss = &ev->states[i];
		char label[16];
		if (ss->step->role == STEP_MAIN)
			snprintf(label, sizeof(label), "%d", ss->step->number);
		else
			snprintf(label, sizeof(label), "%s", rb_step_role_name(ss->step->role));
		format_duration(ss->duration_ms, d, sizeof(d));
		out(t, "  %-8s %-40.40s %s%-12s%s %s\n", label, ss->step->title, term_c(verdict_colour(ss->verdict)),
		    verdict_name(ss->verdict), term_c(TC_RESET), ss->ran ? d : ss->done_earlier ? "(earlier session)" : "");
		if (ss->step->role != STEP_MAIN)
			continue;
		total++;
		if (ss->verdict == V_PASSED || ss->verdict == V_ACCEPTED)
			passed++;
		else if (ss->verdict != V_PENDING && ss->verdict != V_ABORTED && !verdict_ok(ss->verdict))
			failed++;
	}
	format_duration(ev->duration_ms, d, sizeof(d));
	const char *result;
	switch (ev->code) {
	case EXIT_OK: result = "completed"; break;
	case EXIT_ABORTED: result = "aborted by the operator"; break;
	case EXIT_INTERRUPTED: result = "interrupted"; break;
	case EXIT_ENV: result = "stopped: environment problem"; break;
	default: result = "failed"; break;
	}
	enum term_colour c = ev->code == EXIT_OK ? TC_GREEN : TC_RED;
	if (ev->mode == MODE_ROLLBACK) {
		out(t, "\n%sResult: %s%s (%s)%s\n", term_c(c), term_c(TC_BOLD), ev->code == EXIT_OK ? "rolled back" : result,
		    d, term_c(TC_RESET));
		return;
	}
	struct strbuf extra = STRBUF_INIT;
	for (size_t i = 0; i < ev->count; i++) {
		const struct step_state *ss = &ev->states[i];
		if (ss->step->role != STEP_MAIN && ss->verdict != V_PENDING && !verdict_ok(ss->verdict))
			strbuf_addf(&extra, "; %s %s", ss->step->role == STEP_SETUP ? "the setup" : "the final verification",
				    verdict_name(ss->verdict));
	}
	if (ev->rolled_back || ev->rollback_failed)
		strbuf_addf(&extra, "; %s", ev->rolled_back ? "rolled back" : "the rollback failed");
	out(t, "\n%sResult: %s%s — %zu of %zu steps passed, %zu failed%s (%s)%s\n", term_c(c), term_c(TC_BOLD),
	    result, passed, total, failed, extra.buf, d, term_c(TC_RESET));
	strbuf_release(&extra);
}

static void on_event(void *data, const struct event *ev)
{
	struct term_ui *t = data;
	t->run = ev->run;
	switch (ev->type) {
	case EV_RUN_START: show_start(t, ev); break;
	case EV_NOTE: show_note(t, ev); break;
	case EV_PREREQ: show_prereq(t, ev); break;
	case EV_STEP_START: show_step(t, ev); break;
	case EV_BLOCK_SHOW: show_command(t, ev); break;
	case EV_BLOCK_NOT_RUN:
		out(t, "\n  %s%s %zu/%zu · %s · line %d: not run (%s)%s\n", term_c(TC_DIM), ev->label, ev->index + 1,
		    ev->count, block_lang(ev->block), ev->line, ev->reason, term_c(TC_RESET));
		break;
	case EV_OUTPUT: show_output(t, ev); break;
	case EV_BLOCK_END: show_verdict(t, ev); break;
	case EV_CAPTURE:
		out(t, "  %scaptured %s=%s%s\n", term_c(TC_CYAN), ev->name, ev->value, term_c(TC_RESET));
		break;
	case EV_DIFF: show_diff(t, ev->text); break;
	case EV_SUGGESTIONS: show_suggestions(t, ev); break;
	case EV_MONITOR: out(t, "  %s⚠ %s%s\n", term_c(TC_YELLOW), ev->text, term_c(TC_RESET)); break;
	case EV_FINAL_STATE: show_final_state(t, ev); break;
	case EV_ROLLBACK_START:
		out(t, "\n%sRolling back%s %s(%s, %zu command%s)%s\n", term_c(TC_BOLD), term_c(TC_RESET), term_c(TC_DIM),
		    ev->text, ev->count, ev->count == 1 ? "" : "s", term_c(TC_RESET));
		break;
	case EV_ROLLBACK_STATE: show_rollback_state(t, ev); break;
	case EV_ROLLBACK_END:
		if (ev->ok)
			out(t, "  %s✓ rolled back%s\n", term_c(TC_GREEN), term_c(TC_RESET));
		break;
	case EV_RESUME_STEP:
		out(t, "  %s✓ %s: %s in the earlier session; not run again%s\n", term_c(TC_GREEN), ev->name, ev->value,
		    term_c(TC_RESET));
		break;
	case EV_IN_FLIGHT: show_in_flight(t, ev); break;
	case EV_PLAN: show_plan(t, ev); break;
	case EV_RUN_END: show_summary(t, ev); break;
	default: break;
	}
}

/* ---------- questions ---------- */

static void menu(struct strbuf *sb, const struct question *q)
{
	for (size_t i = 0; i < q->nchoices; i++) {
		if (i)
			strbuf_addstr(sb, " · ");
		if (q->choices[i].key == '\n')
			strbuf_addstr(sb, "[Enter]");
		else
			strbuf_addch(sb, (char)q->choices[i].key);
		strbuf_addf(sb, " %s", q->choices[i].label);
	}
}

static int read_reason(struct term_ui *t, const struct question *q, struct strbuf *answer)
{
	for (;;) {
		out(t, "  %s (required): ", q->text);
		int rc = term_read_line(answer);
		if (rc == TERM_INTERRUPTED || rc == TERM_EOF) {
			out(t, "\n");
			return rc;
		}
		strbuf_trim(answer);
		if (answer->len)
			return '\n';
	}
}

static int on_ask(void *data, const struct question *q, struct strbuf *answer)
{
	struct term_ui *t = data;
	struct strbuf m = STRBUF_INIT, keys = STRBUF_INIT;
	t->run = q->run;
	if (q->kind == ASK_REASON)
		return read_reason(t, q, answer);
	menu(&m, q);
	for (size_t i = 0; i < q->nchoices; i++)
		strbuf_addch(&keys, (char)q->choices[i].key);
	switch (q->kind) {
	case ASK_PREREQ:
		out(t, "  %s?%s %s%s%s  %s%s%s ", term_c(TC_YELLOW), term_c(TC_RESET), q->text,
		    q->detail && *q->detail ? " — " : "", q->detail ? q->detail : "", term_c(TC_BOLD), m.buf,
		    term_c(TC_RESET));
		break;
	case ASK_CONDITION:
		out(t, "  %sThe runbook says: %s.%s Is that so? %s%s%s ", term_c(TC_YELLOW), q->text, term_c(TC_RESET),
		    term_c(TC_BOLD), m.buf, term_c(TC_RESET));
		break;
	case ASK_GUARD:
		out(t, "  %s%s. %s%s ", term_c(TC_RED), q->text, m.buf, term_c(TC_RESET));
		break;
	default:
		out(t, "  %s%s%s ", term_c(TC_BOLD), m.buf, term_c(TC_RESET));
		break;
	}
	int k = term_read_key(keys.buf);
	out(t, "%s\n", q->kind == ASK_PREREQ && k == 'y' ? "confirmed" : "");
	strbuf_release(&m);
	strbuf_release(&keys);
	return k;
}

static void on_tick(void *data, int64_t running_ms, bool reads_terminal)
{
	struct term_ui *t = data;
	if (!t->tty_out || reads_terminal)
		return;
	char d[32];
	format_duration(running_ms, d, sizeof(d));
	fprintf(stdout, "\r\033[K  %s%s running %s%s", term_c(TC_CYAN), spinner_frames[t->spinner_frame++ % 10], d,
		term_c(TC_RESET));
	fflush(stdout);
	t->spinner_shown = true;
}

struct term_ui *term_ui_new(const struct exec_opts *opts, struct run_ui *ui)
{
	struct term_ui *t = xcalloc(1, sizeof(*t));
	t->opts = opts;
	t->tty_out = term_is_tty();
	for (int w = 0; w < 3; w++)
		strbuf_init(&t->marks[w], 0);
	strbuf_init(&t->line, 0);
	ui->event = on_event;
	ui->ask = on_ask;
	ui->tick = on_tick;
	ui->data = t;
	return t;
}

void term_ui_free(struct term_ui *t)
{
	if (!t)
		return;
	clear_spinner(t);
	for (int w = 0; w < 3; w++)
		strbuf_release(&t->marks[w]);
	strbuf_release(&t->line);
	free(t);
}
