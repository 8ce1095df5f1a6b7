/* modeljson.c - model and diagnostics to JSON, with jansson. */
#include "model/modeljson.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
	struct redactor *red;
};

static json_t *str(struct ctx *c, const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *j;

	if (!s)
		return json_null();
	redact(c->red, s, strlen(s), &sb);
	j = json_stringn(sb.buf, sb.len);
	strbuf_release(&sb);
	return j ? j : json_string("");
}

static json_t *block_json(struct ctx *c, const struct rb_block *b)
{
	json_t *o = json_object();
	json_t *attrs = json_object();

	json_object_set_new(o, "kind", json_string(rb_block_kind_name(b->kind)));
	json_object_set_new(o, "lang", json_string(b->lang));
	json_object_set_new(o, "info", str(c, b->info));
	for (size_t i = 0; i < b->nattrs; i++)
		json_object_set_new(attrs, b->attrs[i].key, str(c, b->attrs[i].value));
	json_object_set_new(o, "attrs", attrs);
	json_object_set_new(o, "line", json_integer(b->line));
	json_object_set_new(o, "text_line", json_integer(b->text_line));
	json_object_set_new(o, "end_line", json_integer(b->end_line));
	if (b->comment)
		json_object_set_new(o, "comment", str(c, b->comment));
	json_object_set_new(o, "text", str(c, b->text));
	if (b->unclosed)
		json_object_set_new(o, "unclosed", json_true());
	return o;
}

static json_t *commands_json(struct ctx *c, const struct rb_command *cmds, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "index", json_integer(cmds[i].block->index));
		json_object_set_new(o, "block", block_json(c, cmds[i].block));
		json_object_set_new(o, "expected",
				    cmds[i].expected ? block_json(c, cmds[i].expected) : json_null());
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *failures_json(struct ctx *c, const struct rb_failure_row *rows, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object(), *spans = json_array();
		json_object_set_new(o, "error", str(c, rows[i].error));
		json_object_set_new(o, "cause", str(c, rows[i].cause));
		json_object_set_new(o, "solution", str(c, rows[i].solution));
		json_object_set_new(o, "fix", rows[i].fix ? str(c, rows[i].fix) : json_null());
		for (size_t k = 0; k < rows[i].ncode_spans; k++)
			json_array_append_new(spans, str(c, rows[i].code_spans[k]));
		json_object_set_new(o, "code_spans", spans);
		json_object_set_new(o, "line", json_integer(rows[i].line));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *step_json(struct ctx *c, const struct rb_step *st)
{
	json_t *o;

	if (!st->line)
		return json_null();
	o = json_object();
	json_object_set_new(o, "role", json_string(rb_step_role_name(st->role)));
	if (st->role == STEP_MAIN)
		json_object_set_new(o, "number", json_integer(st->number));
	json_object_set_new(o, "title", str(c, st->title));
	json_object_set_new(o, "heading", str(c, st->heading));
	json_object_set_new(o, "line", json_integer(st->line));
	json_object_set_new(o, "why", str(c, st->why));
	json_object_set_new(o, "commands", commands_json(c, st->commands, st->ncommands));
	json_object_set_new(o, "verifications", commands_json(c, st->verifications, st->nverifications));
	json_object_set_new(o, "failures", failures_json(c, st->failures, st->nfailures));
	json_object_set_new(o, "rollback", commands_json(c, st->rollback, st->nrollback));
	return o;
}

static json_t *items_json(struct ctx *c, const struct rb_item *items, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "text", str(c, items[i].text));
		json_object_set_new(o, "checked", json_boolean(items[i].checked));
		json_object_set_new(o, "task", json_boolean(items[i].is_task));
		json_object_set_new(o, "line", json_integer(items[i].line));
		json_array_append_new(a, o);
	}
	return a;
}

static void dump(json_t *root, struct strbuf *out)
{
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s) {
		strbuf_addstr(out, s);
		strbuf_addch(out, '\n');
		free(s);
	}
	json_decref(root);
}

void runbook_json(const struct runbook *rb, struct redactor *red, struct strbuf *out)
{
	struct ctx c = { red };
	json_t *root = json_object(), *meta = json_object(), *steps = json_array();
	json_t *final_rows = json_array(), *notes = json_array();

	json_object_set_new(root, "path", str(&c, rb->path));
	json_object_set_new(root, "title", str(&c, rb->title));
	json_object_set_new(root, "title_line", json_integer(rb->title_line));
	for (size_t i = 0; i < rb->nmeta; i++)
		json_object_set_new(meta, rb->meta[i].key, str(&c, rb->meta[i].value));
	json_object_set_new(root, "metadata", meta);
	json_object_set_new(root, "prerequisites", items_json(&c, rb->prereqs, rb->nprereqs));
	json_object_set_new(root, "setup", step_json(&c, &rb->setup));
	for (size_t i = 0; i < rb->nsteps; i++)
		json_array_append_new(steps, step_json(&c, &rb->steps[i]));
	json_object_set_new(root, "steps", steps);
	json_object_set_new(root, "final_verification", step_json(&c, &rb->final));
	for (size_t i = 0; i < rb->nfinal_rows; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "metric", str(&c, rb->final_rows[i].metric));
		json_object_set_new(o, "expected", str(&c, rb->final_rows[i].expected));
		json_object_set_new(o, "line", json_integer(rb->final_rows[i].line));
		json_array_append_new(final_rows, o);
	}
	json_object_set_new(root, "expected_final_state", final_rows);
	json_object_set_new(root, "rollback", step_json(&c, &rb->rollback));
	json_object_set_new(root, "next_steps", items_json(&c, rb->next_steps, rb->nnext_steps));
	json_object_set_new(root, "troubleshooting",
			    rb->troubleshooting ? str(&c, rb->troubleshooting) : json_null());
	json_object_set_new(root, "general_failures",
			    failures_json(&c, rb->general_failures, rb->ngeneral_failures));
	for (size_t i = 0; i < rb->nnotes; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "heading", str(&c, rb->notes[i].heading));
		json_object_set_new(o, "line", json_integer(rb->notes[i].line));
		json_object_set_new(o, "text", str(&c, rb->notes[i].text));
		json_array_append_new(notes, o);
	}
	json_object_set_new(root, "notes", notes);
	dump(root, out);
}

void diags_json(const struct diag_list *list, struct strbuf *out)
{
	json_t *a = json_array();
	for (size_t i = 0; i < list->nr; i++) {
		const struct diag *d = &list->items[i];
		json_t *o = json_object();
		json_object_set_new(o, "file", json_string(d->file));
		json_object_set_new(o, "line", json_integer(d->line));
		json_object_set_new(o, "column", json_integer(d->col));
		json_object_set_new(o, "severity", json_string(diag_severity_name(d->severity)));
		json_object_set_new(o, "rule", json_string(d->rule));
		json_object_set_new(o, "message", json_string(d->message));
		json_array_append_new(a, o);
	}
	dump(a, out);
}
