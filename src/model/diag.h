/* diag.h - diagnostics in compiler format.
 *
 * A diag_list collects findings about a file as it is parsed and linted;
 * print them with diag_print() as `FILE:LINE:COL: error|warning: message
 * [rule-id]`, sorted by position.  The list owns its strings; release it with
 * diag_list_release().
 */
#ifndef RUNBOOK_DIAG_H
#define RUNBOOK_DIAG_H

#include <stdio.h>
#include <stddef.h>

enum diag_severity {
	DIAG_ERROR,
	DIAG_WARNING,
};

struct diag {
	char *file;
	int line; /* 1-based; 0 when the finding concerns the whole file */
	int col;  /* 1-based; 0 when unknown */
	enum diag_severity severity;
	char *rule;    /* rule id, e.g. "step-no-command" */
	char *message; /* one line, no trailing period */
};

struct diag_list {
	struct diag *items;
	size_t nr, alloc;
};

#define DIAG_LIST_INIT { NULL, 0, 0 }

void diag_add(struct diag_list *list, const char *file, int line, int col,
	      enum diag_severity severity, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* diag_sort orders by file, line, column, keeping insertion order otherwise. */
void diag_sort(struct diag_list *list);
size_t diag_count(const struct diag_list *list, enum diag_severity severity);
void diag_print(const struct diag_list *list, FILE *out);
const char *diag_severity_name(enum diag_severity severity);
void diag_list_release(struct diag_list *list);

#endif
