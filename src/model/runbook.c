/* runbook.c - helpers over the parsed runbook model. */
#include "model/runbook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

void runbook_free(struct runbook *rb)
{
	if (!rb)
		return;
	diag_list_release(&rb->diags);
	struct arena arena = rb->arena; /* rb itself lives in its arena */
	arena_release(&arena);
}

const char *rb_attr_get(const struct rb_block *block, const char *key)
{
	for (size_t i = 0; i < block->nattrs; i++)
		if (!strcmp(block->attrs[i].key, key))
			return block->attrs[i].value;
	return NULL;
}

bool rb_attr_has(const struct rb_block *block, const char *key)
{
	return rb_attr_get(block, key) != NULL;
}

/* The attributes authors may write after the language of a fence.  Keep in
 * step with docs/runbook-format.md. */
static const char *const known_attrs[] = {
	"timeout",           /* seconds before the block is killed */
	"interactive",       /* stdin from the terminal */
	"allow-fail",        /* run every command even when one fails */
	"exit",              /* expected exit status */
	"match",             /* how expected output is compared */
	"stream",            /* stdout, stderr or both */
	"check",             /* check=off:rule-id */
	"lock_timeout",      /* SQL blocks */
	"lock-timeout",
	"statement_timeout",
	"statement-timeout",
	"retries",           /* lock-timeout retries for SQL blocks */
	"id",                /* a name to refer to the block */
	"rollback",          /* marks a block as this step's rollback */
	"skip",              /* shown but never run */
	NULL,
};

bool rb_attr_known(const char *key)
{
	for (size_t i = 0; known_attrs[i]; i++)
		if (!strcmp(known_attrs[i], key))
			return true;
	return false;
}

const char *rb_block_kind_name(enum block_kind kind)
{
	switch (kind) {
	case BLOCK_SHELL: return "shell";
	case BLOCK_CONSOLE: return "console";
	case BLOCK_SQL: return "sql";
	case BLOCK_OUTPUT: return "output";
	case BLOCK_OTHER: return "other";
	}
	return "other";
}

const char *rb_step_role_name(enum step_role role)
{
	switch (role) {
	case STEP_SETUP: return "setup";
	case STEP_MAIN: return "step";
	case STEP_FINAL: return "final";
	case STEP_ROLLBACK: return "rollback";
	}
	return "step";
}

bool rb_block_runnable(const struct rb_block *block)
{
	return block->kind == BLOCK_SHELL || block->kind == BLOCK_CONSOLE ||
	       block->kind == BLOCK_SQL;
}

static int each_in_step(const struct rb_step *step, rb_block_fn fn, void *data)
{
	int r;
	for (size_t i = 0; i < step->ncommands; i++)
		if ((r = fn(step, &step->commands[i], false, data)))
			return r;
	for (size_t i = 0; i < step->nverifications; i++)
		if ((r = fn(step, &step->verifications[i], true, data)))
			return r;
	for (size_t i = 0; i < step->nrollback; i++)
		if ((r = fn(step, &step->rollback[i], false, data)))
			return r;
	return 0;
}

int rb_for_each_command(const struct runbook *rb, rb_block_fn fn, void *data)
{
	int r;
	if (rb->setup.line && (r = each_in_step(&rb->setup, fn, data)))
		return r;
	for (size_t i = 0; i < rb->nsteps; i++)
		if ((r = each_in_step(&rb->steps[i], fn, data)))
			return r;
	if (rb->final.line && (r = each_in_step(&rb->final, fn, data)))
		return r;
	if (rb->rollback.line && (r = each_in_step(&rb->rollback, fn, data)))
		return r;
	return 0;
}

size_t rb_console_split(const struct rb_block *b, struct rb_console_cmd **out)
{
	struct rb_console_cmd *v = NULL;
	size_t n = 0, alloc = 0;
	const char *p = b->text;
	int line = b->text_line;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len >= 2 && (p[0] == '$' || p[0] == '#') && p[1] == ' ') {
			ALLOC_GROW(v, n + 1, alloc);
			v[n].cmd = xmemdupz(p + 2, len - 2);
			v[n].expected = xstrdup("");
			v[n].line = line;
			v[n].expected_line = line + 1;
			n++;
		} else if (n && len >= 2 && p[0] == '>' && p[1] == ' ' && !*v[n - 1].expected) {
			char *joined = xasprintf("%s\n%.*s", v[n - 1].cmd, (int)(len - 2), p + 2);
			free(v[n - 1].cmd);
			v[n - 1].cmd = joined;
			v[n - 1].expected_line = line + 1;
		} else if (n) {
			char *joined = xasprintf("%s%.*s\n", v[n - 1].expected, (int)len, p);
			free(v[n - 1].expected);
			v[n - 1].expected = joined;
		}
		p += len + (eol ? 1 : 0);
		line++;
	}
	*out = v;
	return n;
}

void rb_console_free(struct rb_console_cmd *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].cmd);
		free(v[i].expected);
	}
	free(v);
}

void rb_step_counter(const struct runbook *rb, const struct rb_step *st, char *buf, size_t size)
{
	size_t pos = 0;
	bool in_order = true;

	for (size_t i = 0; i < rb->nsteps; i++) {
		if (rb->steps[i].number != (int)i + 1)
			in_order = false;
		if (&rb->steps[i] == st)
			pos = i + 1;
	}
	if (in_order || !pos)
		snprintf(buf, size, "%d/%zu", st->number, rb->nsteps);
	else
		snprintf(buf, size, "%d (%zu of %zu)", st->number, pos, rb->nsteps);
}
