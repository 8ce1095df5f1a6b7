/* events.c - event and question names, emitting events, asking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "exec/exec_int.h"

static const char *const ev_names[EV_TYPE_COUNT] = {
	[EV_RUN_START] = "run.start",
	[EV_NOTE] = "note",
	[EV_PREREQ] = "prereq",
	[EV_STEP_START] = "step.start",
	[EV_STEP_END] = "step.end",
	[EV_BLOCK_SHOW] = "block.show",
	[EV_BLOCK_NOT_RUN] = "block.not_run",
	[EV_BLOCK_START] = "block.start",
	[EV_OUTPUT] = "output",
	[EV_BLOCK_END] = "block.end",
	[EV_CAPTURE] = "capture",
	[EV_DIFF] = "diff",
	[EV_SUGGESTIONS] = "suggestions",
	[EV_DECISION] = "decision",
	[EV_MONITOR] = "monitor",
	[EV_FINAL_STATE] = "final_state",
	[EV_ROLLBACK_START] = "rollback.start",
	[EV_ROLLBACK_STATE] = "rollback.state",
	[EV_ROLLBACK_END] = "rollback.end",
	[EV_RESUME_STEP] = "resume.step",
	[EV_IN_FLIGHT] = "in_flight",
	[EV_PLAN] = "plan",
	[EV_TARGET] = "target",
	[EV_RUN_END] = "run.end",
};

const char *ev_type_name(enum ev_type t)
{
	return (unsigned)t < EV_TYPE_COUNT && ev_names[t] ? ev_names[t] : "?";
}

const char *note_level_name(enum note_level l)
{
	static const char *const names[] = { "plain", "dim", "info", "ok", "warn", "error", "heading", "fatal" };
	return (unsigned)l < sizeof(names) / sizeof(names[0]) ? names[l] : "plain";
}

const char *ask_kind_name(enum ask_kind k)
{
	static const char *const names[] = { "before_block", "on_failure", "prereq", "prereq_failed",
					     "guard", "in_flight", "reason", "condition" };
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

void exec_mask(struct exec_run *x, const char *text, size_t len, struct strbuf *out)
{
	redact(&x->red, text, len, out);
}

int emit(struct exec_run *r, struct event *ev)
{
	ev->run = r;
	int rc = journal_event(r, ev);
	if (r->ui->event)
		r->ui->event(r->ui->data, ev);
	return rc;
}

void note(struct exec_run *r, enum note_level level, const char *fmt, ...)
{
	struct strbuf text = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&text, fmt, ap);
	va_end(ap);
	struct event ev = { .type = EV_NOTE, .level = level, .text = text.buf, .len = text.len };
	emit(r, &ev);
	strbuf_release(&text);
}

int ask(struct exec_run *r, const struct question *q, struct strbuf *answer)
{
	struct strbuf ignored = STRBUF_INIT;
	struct question asked = *q;
	asked.run = r;
	output_flush(r);
	int k = r->ui->ask ? r->ui->ask(r->ui->data, &asked, answer ? answer : &ignored) : ANSWER_EOF;
	strbuf_release(&ignored);
	return k;
}

char *ask_reason(struct exec_run *r, const char *what)
{
	struct strbuf line = STRBUF_INIT;
	struct question q = { .kind = ASK_REASON, .text = what };
	int k = ask(r, &q, &line);
	strbuf_trim(&line);
	if (k == ANSWER_EOF || k == ANSWER_INTERRUPTED || !line.len) {
		strbuf_release(&line);
		return NULL;
	}
	return strbuf_detach(&line, NULL);
}

void record_decision(struct exec_run *r, const char *choice, const char *reason, const char *about)
{
	struct event ev = { .type = EV_DECISION, .choice = choice, .reason = reason, .about = about,
			    .by = r->interactive ? "operator" : "policy" };
	emit(r, &ev);
}
