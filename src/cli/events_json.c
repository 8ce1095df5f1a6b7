/* events_json.c - `run --events=json`: every event as one JSON object per
 * line on stdout, questions answered by lines on stdin (docs/events.md). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/xalloc.h"
#include "cli/run.h"
#include "sys/term.h"

struct json_ui {
	struct exec_run *run;
	struct strbuf line, scratch;
	struct json_writer w;
	uint64_t seq;
};

/* masked writes a string field with the run's secrets masked. */
static void masked(struct json_ui *j, const char *key, const char *value, size_t len)
{
	if (!value)
		return;
	strbuf_reset(&j->scratch);
	if (j->run)
		exec_mask(j->run, value, len, &j->scratch);
	else
		strbuf_add(&j->scratch, value, len);
	jw_strn(&j->w, key, j->scratch.buf, j->scratch.len);
}

static void str(struct json_ui *j, const char *key, const char *value)
{
	if (value)
		masked(j, key, value, strlen(value));
}

static void begin(struct json_ui *j, const char *type)
{
	strbuf_reset(&j->line);
	jw_init(&j->w, &j->line);
	jw_object_begin(&j->w, NULL);
	jw_int(&j->w, "seq", (int64_t)++j->seq);
	jw_str(&j->w, "event", type);
}

static void end(struct json_ui *j)
{
	jw_object_end(&j->w);
	strbuf_addch(&j->line, '\n');
	fwrite(j->line.buf, 1, j->line.len, stdout);
	fflush(stdout);
}

static void step_fields(struct json_ui *j, const struct rb_step *st)
{
	if (!st)
		return;
	jw_object_begin(&j->w, "step");
	jw_str(&j->w, "role", rb_step_role_name(st->role));
	if (st->role == STEP_MAIN)
		jw_int(&j->w, "number", st->number);
	str(j, "title", st->title);
	jw_int(&j->w, "line", st->line);
	jw_object_end(&j->w);
}

static void block_fields(struct json_ui *j, const struct event *ev)
{
	if (!ev->block)
		return;
	jw_object_begin(&j->w, "block");
	jw_int(&j->w, "index", ev->block->index);
	jw_str(&j->w, "kind", rb_block_kind_name(ev->block->kind));
	jw_str(&j->w, "lang", *ev->block->lang ? ev->block->lang : "shell");
	jw_int(&j->w, "line", ev->block->line);
	jw_object_end(&j->w);
}

static void outcome_fields(struct json_ui *j, const struct block_outcome *o)
{
	jw_str(&j->w, "verdict", verdict_name(o->verdict));
	str(j, "reason", o->reason);
	jw_int(&j->w, "exit", o->exit_code);
	jw_int(&j->w, "duration_ms", o->duration_ms);
	if (*o->sqlstate)
		jw_str(&j->w, "sqlstate", o->sqlstate);
	if (o->have_capture) {
		jw_int(&j->w, "stdout_bytes", (int64_t)o->out.total);
		jw_int(&j->w, "stderr_bytes", (int64_t)o->err.total);
	}
	if (o->diff.len)
		masked(j, "diff", o->diff.buf, o->diff.len);
	if (o->shell_died)
		jw_bool(&j->w, "shell_died", true);
	if (o->conn_lost)
		jw_bool(&j->w, "connection_lost", true);
}

static void suggestions(struct json_ui *j, const struct event *ev)
{
	jw_array_begin(&j->w, "rows");
	for (size_t i = 0; i < ev->count; i++) {
		const struct suggestion *s = &ev->suggestions[i];
		jw_object_begin(&j->w, NULL);
		jw_int(&j->w, "line", s->line);
		str(j, "error", s->error);
		str(j, "cause", s->cause);
		str(j, "solution", s->solution);
		str(j, "fix", s->fix);
		str(j, "why", s->why);
		jw_bool(&j->w, "pattern_hit", s->pattern_hit);
		jw_int(&j->w, "score_pct", (int64_t)(s->score * 100 + 0.5));
		jw_object_end(&j->w);
	}
	jw_array_end(&j->w);
	jw_bool(&j->w, "general", ev->general);
	if (!ev->count && ev->text)
		jw_int(&j->w, "troubleshooting_line", ev->line);
}

static void run_end(struct json_ui *j, const struct event *ev)
{
	jw_int(&j->w, "exit", ev->code);
	if (ev->dry_run) {
		jw_int(&j->w, "blocks", (int64_t)ev->count);
		return;
	}
	jw_int(&j->w, "duration_ms", ev->duration_ms);
	if (ev->rolled_back || ev->rollback_failed)
		jw_str(&j->w, "rollback", ev->rolled_back ? "done" : "failed");
	jw_array_begin(&j->w, "steps");
	for (size_t i = 0; i < ev->count; i++) {
		const struct step_state *ss = &ev->states[i];
		jw_object_begin(&j->w, NULL);
		jw_str(&j->w, "role", rb_step_role_name(ss->step->role));
		if (ss->step->role == STEP_MAIN)
			jw_int(&j->w, "number", ss->step->number);
		str(j, "title", ss->step->title);
		jw_str(&j->w, "verdict", verdict_name(ss->verdict));
		jw_int(&j->w, "duration_ms", ss->duration_ms);
		if (ss->done_earlier)
			jw_bool(&j->w, "earlier_session", true);
		str(j, "note", ss->note);
		jw_object_end(&j->w);
	}
	jw_array_end(&j->w);
}

static void on_event(void *data, const struct event *ev)
{
	struct json_ui *j = data;
	j->run = ev->run;
	begin(j, ev_type_name(ev->type));
	step_fields(j, ev->step);
	block_fields(j, ev);
	switch (ev->type) {
	case EV_RUN_START:
		str(j, "title", ev->title);
		str(j, "path", ev->path);
		jw_int(&j->w, "steps", (int64_t)ev->count);
		jw_str(&j->w, "mode", ev->mode == MODE_ROLLBACK ? "rollback" : "run");
		jw_bool(&j->w, "interactive", ev->interactive);
		jw_bool(&j->w, "dry_run", ev->dry_run);
		break;
	case EV_NOTE: {
		const char *t = ev->text + strspn(ev->text, " \n");
		jw_str(&j->w, "level", note_level_name(ev->level));
		str(j, "text", t);
		break;
	}
	case EV_PREREQ:
		str(j, "item", ev->text);
		jw_int(&j->w, "line", ev->line);
		jw_str(&j->w, "status", ev->status);
		str(j, "evidence", ev->evidence);
		jw_str(&j->w, "by", ev->by);
		str(j, "reason", ev->reason);
		break;
	case EV_STEP_START:
		jw_str(&j->w, "counter", ev->counter);
		break;
	case EV_STEP_END:
		jw_str(&j->w, "verdict", verdict_name(ev->verdict));
		jw_int(&j->w, "duration_ms", ev->duration_ms);
		str(j, "note", ev->reason);
		break;
	case EV_BLOCK_SHOW:
	case EV_BLOCK_NOT_RUN:
		jw_str(&j->w, "label", ev->label);
		jw_int(&j->w, "index", (int64_t)ev->index + 1);
		jw_int(&j->w, "count", (int64_t)ev->count);
		jw_int(&j->w, "line", ev->line);
		str(j, "command", ev->text);
		str(j, "comment", ev->comment);
		str(j, "reason", ev->reason);
		break;
	case EV_BLOCK_START:
		jw_int(&j->w, "line", ev->line);
		jw_int(&j->w, "attempt", ev->attempt);
		str(j, "command", ev->text);
		break;
	case EV_OUTPUT:
		jw_str(&j->w, "stream", ev->stream == IO_STDERR ? "stderr" : "stdout");
		masked(j, "text", ev->text, ev->len);
		break;
	case EV_BLOCK_END:
		jw_int(&j->w, "line", ev->line);
		jw_str(&j->w, "label", ev->label);
		outcome_fields(j, ev->outcome);
		break;
	case EV_CAPTURE:
		jw_str(&j->w, "name", ev->name);
		str(j, "value", ev->value);
		break;
	case EV_DIFF:
		masked(j, "diff", ev->text, ev->len);
		break;
	case EV_SUGGESTIONS:
		jw_str(&j->w, "sqlstate", ev->sqlstate);
		suggestions(j, ev);
		break;
	case EV_DECISION:
		jw_str(&j->w, "choice", ev->choice);
		str(j, "reason", ev->reason);
		str(j, "about", ev->about);
		jw_str(&j->w, "by", ev->by);
		break;
	case EV_MONITOR:
		str(j, "summary", ev->text);
		jw_int(&j->w, "blocked_by_us", (int64_t)ev->count);
		jw_int(&j->w, "blocking_us", (int64_t)ev->index);
		jw_int(&j->w, "longest_blocked_ms", ev->duration_ms);
		break;
	case EV_FINAL_STATE:
		if (ev->name) {
			str(j, "metric", ev->name);
			str(j, "expected", ev->expected);
			if (ev->value)
				str(j, "actual", ev->value);
			else
				jw_null(&j->w, "actual");
		} else {
			jw_bool(&j->w, "table_found", ev->ok);
		}
		jw_bool(&j->w, "ok", ev->ok);
		break;
	case EV_ROLLBACK_START:
		str(j, "what", ev->text);
		jw_int(&j->w, "commands", (int64_t)ev->count);
		break;
	case EV_ROLLBACK_STATE:
		jw_array_begin(&j->w, "commands");
		for (size_t i = 0; i < ev->count; i++) {
			jw_object_begin(&j->w, NULL);
			str(j, "text", ev->rollback[i].text);
			jw_int(&j->w, "line", ev->rollback[i].line);
			jw_str(&j->w, "verdict", ev->rollback[i].verdict == V_PENDING ? "not run"
						   : verdict_name(ev->rollback[i].verdict));
			jw_object_end(&j->w);
		}
		jw_array_end(&j->w);
		break;
	case EV_ROLLBACK_END:
		jw_bool(&j->w, "ok", ev->ok);
		break;
	case EV_RESUME_STEP:
		jw_str(&j->w, "key", ev->name);
		jw_str(&j->w, "verdict", ev->value);
		break;
	case EV_IN_FLIGHT:
		jw_str(&j->w, "key", ev->name);
		str(j, "command", ev->text);
		jw_str(&j->w, "started", ev->ts);
		jw_bool(&j->w, "cut_short", ev->ok);
		break;
	case EV_PLAN:
		if (ev->block) {
			jw_int(&j->w, "n", (int64_t)ev->index);
			jw_str(&j->w, "label", ev->label);
			jw_int(&j->w, "line", ev->line);
			jw_int(&j->w, "timeout_ms", ev->duration_ms);
			str(j, "command", ev->text);
		}
		break;
	case EV_TARGET:
		str(j, "conninfo", ev->text);
		break;
	case EV_RUN_END:
		run_end(j, ev);
		break;
	default:
		break;
	}
	end(j);
}

/* read_answer reads one line from stdin: its first character is the key
 * ("enter" or an empty line for Enter); for a reason, the whole line. */
static int on_ask(void *data, const struct question *q, struct strbuf *answer)
{
	struct json_ui *j = data;
	j->run = q->run;
	begin(j, "ask");
	jw_str(&j->w, "kind", ask_kind_name(q->kind));
	str(j, "text", q->text);
	str(j, "detail", q->detail);
	jw_array_begin(&j->w, "choices");
	for (size_t i = 0; i < q->nchoices; i++) {
		char key[2] = { (char)q->choices[i].key, 0 };
		jw_object_begin(&j->w, NULL);
		jw_str(&j->w, "key", q->choices[i].key == '\n' ? "enter" : key);
		str(j, "label", q->choices[i].label);
		jw_object_end(&j->w);
	}
	jw_array_end(&j->w);
	end(j);
	for (;;) {
		int rc = term_read_line(answer);
		if (rc == TERM_INTERRUPTED || rc == TERM_EOF)
			return rc;
		strbuf_trim(answer);
		if (q->kind == ASK_REASON) {
			if (answer->len)
				return '\n';
			continue;
		}
		int key = !answer->len || !strcmp(answer->buf, "enter") ? '\n' : answer->buf[0];
		for (size_t i = 0; i < q->nchoices; i++)
			if (q->choices[i].key == key)
				return key;
		begin(j, "ask.invalid");
		str(j, "answer", answer->buf);
		end(j);
	}
}

struct json_ui *json_ui_new(struct run_ui *ui)
{
	struct json_ui *j = xcalloc(1, sizeof(*j));
	strbuf_init(&j->line, 0);
	strbuf_init(&j->scratch, 0);
	ui->event = on_event;
	ui->ask = on_ask;
	ui->tick = NULL;
	ui->data = j;
	return j;
}

void json_ui_free(struct json_ui *j)
{
	if (!j)
		return;
	strbuf_release(&j->line);
	strbuf_release(&j->scratch);
	free(j);
}
