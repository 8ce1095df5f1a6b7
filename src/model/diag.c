/* diag.c - diagnostics in compiler format. */
#include "model/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "sys/term.h"
#include "base/xalloc.h"

void diag_add(struct diag_list *list, const char *file, int line, int col,
	      enum diag_severity severity, const char *rule, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	/* A diagnostic is one line: fold anything that would break the format. */
	for (size_t i = 0; i < msg.len; i++)
		if (msg.buf[i] == '\n' || msg.buf[i] == '\r')
			msg.buf[i] = ' ';

	ALLOC_GROW(list->items, list->nr + 1, list->alloc);
	struct diag *d = &list->items[list->nr++];
	d->file = xstrdup(file ? file : "-");
	d->line = line;
	d->col = col;
	d->severity = severity;
	d->rule = xstrdup(rule);
	d->message = strbuf_detach(&msg, NULL);
}

struct keyed {
	struct diag d;
	size_t order;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->d.file, y->d.file);
	if (c)
		return c;
	if (x->d.line != y->d.line)
		return x->d.line < y->d.line ? -1 : 1;
	if (x->d.col != y->d.col)
		return x->d.col < y->d.col ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

void diag_sort(struct diag_list *list)
{
	if (list->nr < 2)
		return;
	struct keyed *k = xcalloc(list->nr, sizeof(*k));
	for (size_t i = 0; i < list->nr; i++) {
		k[i].d = list->items[i];
		k[i].order = i;
	}
	qsort(k, list->nr, sizeof(*k), cmp_keyed);
	for (size_t i = 0; i < list->nr; i++)
		list->items[i] = k[i].d;
	free(k);
}

size_t diag_count(const struct diag_list *list, enum diag_severity severity)
{
	size_t n = 0;
	for (size_t i = 0; i < list->nr; i++)
		n += list->items[i].severity == severity;
	return n;
}

const char *diag_severity_name(enum diag_severity severity)
{
	return severity == DIAG_ERROR ? "error" : "warning";
}

void diag_print(const struct diag_list *list, FILE *out)
{
	for (size_t i = 0; i < list->nr; i++) {
		const struct diag *d = &list->items[i];
		/* messages quote the runbook (step titles): shown, never obeyed */
		struct strbuf msg = STRBUF_INIT;
		term_visible(d->message, strlen(d->message), &msg);
		fprintf(out, "%s:%d:%d: %s: %s [%s]\n", d->file, d->line, d->col,
			diag_severity_name(d->severity), msg.buf, d->rule);
		strbuf_release(&msg);
	}
}

void diag_list_release(struct diag_list *list)
{
	for (size_t i = 0; i < list->nr; i++) {
		free(list->items[i].file);
		free(list->items[i].rule);
		free(list->items[i].message);
	}
	free(list->items);
	list->items = NULL;
	list->nr = list->alloc = 0;
}
