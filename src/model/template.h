/* template.h - runbook templates: find them, read them, fill them.
 *
 * A template is a Markdown runbook, `NAME.md`, whose placeholders are written
 * `{{NAME}}` (NAME in capitals, digits and `_`, starting with a capital).  It
 * opens with an HTML comment, the header, that says what it is and what its
 * placeholders mean; `runbook new` drops the header from what it writes:
 *
 *     <!--
 *     template-description: Add a nullable column without a table rewrite
 *     placeholder: TABLE       ident         the table to change
 *     placeholder: BATCH_SIZE  int=10000     rows per transaction
 *     any other text: guidance for the template's author
 *     -->
 *
 * `placeholder:` lines give NAME, KIND with an optional `=DEFAULT`, then a
 * description.  KIND says which values --set accepts (template_check_value):
 * `ident` a lower-case SQL identifier, `type` a SQL type name, `int` a positive
 * integer, `sql` a SQL expression, `text` one line of prose.  TITLE and DATE
 * are built in.  Anything in `{{...}}` that is not a placeholder name, such as
 * the capture `{{ROWS:\d+}}`, is left as it is.
 *
 * Use: template_find_dir() once, then template_list() or template_open(),
 * template_check_value() for each value, template_fill(), and
 * template_release().  Nothing here prints or exits; failures return -1 and
 * append one line to a caller's `struct strbuf *err`.
 */
#ifndef RUNBOOK_TEMPLATE_H
#define RUNBOOK_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"

/* Templates larger than this are refused: they are hand-written files. */
#define TEMPLATE_MAX_SIZE ((size_t)1024 * 1024)

enum placeholder_kind {
	PH_TEXT,  /* one line of prose: no control characters, `|`, backticks, {{ or }} */
	PH_IDENT, /* lower-case unquoted SQL identifier: [a-z_][a-z0-9_]*, <= 63 bytes */
	PH_TYPE,  /* SQL type name: timestamptz, varchar(255), numeric(12,2), text[] */
	PH_INT,   /* positive decimal integer below one billion */
	PH_SQL,   /* SQL expression: no `;`, comments, `$$`, unbalanced quotes or parentheses */
	PH_DATE,  /* YYYY-MM-DD (DATE only) */
};

struct template_placeholder {
	char *name;        /* "TABLE"; never NULL */
	enum placeholder_kind kind;
	char *def;         /* the default from `KIND=DEFAULT`, or NULL */
	char *description; /* "" when the header gives none; never NULL */
	bool declared;     /* named on a `placeholder:` line (else only used in the body) */
	bool used;         /* appears as {{NAME}} in the body */
};

/* A template read from disk.  TEMPLATE_INIT it, fill it with template_open(),
 * release it with template_release(); every string is owned by it. */
struct template {
	char *name;        /* "add-nullable-column" */
	char *path;        /* the file read */
	char *description; /* from template-description:, "" when absent */
	char *body;        /* the text after the header; NUL-terminated */
	size_t body_len;
	struct template_placeholder *placeholders; /* declared first, then used-only, in order */
	size_t nplaceholders, placeholders_alloc;
};

#define TEMPLATE_INIT { NULL, NULL, NULL, NULL, 0, NULL, 0, 0 }

/* One value to put in: name "TABLE", value "users".  The caller owns both. */
struct template_value {
	const char *name;
	const char *value;
};

/* template_find_dir puts the templates directory in *dir: $RUNBOOK_TEMPLATES
 * when set (it must then be a directory), else `templates/` beside the
 * executable or one level up (a source tree and its build directories), else
 * `../share/runbook/templates` beside it, else installed_dir.  Returns 0, or
 * -1 with the places looked in on err. */
int template_find_dir(const char *installed_dir, struct strbuf *dir, struct strbuf *err);

/* template_names lists the NAME of every NAME.md in dir, sorted.  Returns the
 * count (0 for none) and an array the caller frees with template_names_free(),
 * or -1 on err. */
int template_names(const char *dir, char ***names, struct strbuf *err);
void template_names_free(char **names, size_t n);

/* template_name_ok says whether name can name a template file in a
 * directory: letters, digits, `.`, `_`, `-`, not starting with `.`. */
bool template_name_ok(const char *name);

/* template_open reads path as the template called name.  Returns 0, or -1
 * with err set when the file cannot be read, is larger than
 * TEMPLATE_MAX_SIZE, is not valid UTF-8 text, or its header is malformed
 * (err then names the line).  t is left releasable either way. */
int template_open(struct template *t, const char *name, const char *path, struct strbuf *err);
void template_release(struct template *t);

/* template_placeholder finds name among t's placeholders, or NULL. */
const struct template_placeholder *template_placeholder(const struct template *t, const char *name);

/* template_check_value returns 0 when value suits kind, else -1 with the
 * reason on err, starting with name: `TABLE: "Users" is not ...`. */
int template_check_value(const char *name, enum placeholder_kind kind, const char *value, struct strbuf *err);

/* template_kind_name is "ident", "type", ... */
const char *template_kind_name(enum placeholder_kind kind);

/* template_fill appends t's body to out with every {{NAME}} replaced: by the
 * last entry of values with that name, else the placeholder's default, else
 * the marker __NAME__.  The names left as markers are appended to *left
 * (their strings belong to t; free() the array), their count to *nleft. */
void template_fill(const struct template *t, const struct template_value *values, size_t nvalues,
		   struct strbuf *out, const char ***left, size_t *nleft);

/* template_slug appends a file name stem made from title: lower-case ASCII
 * letters and digits, runs of anything else as one `-`, at most 60 bytes,
 * "runbook" when nothing is left. */
void template_slug(const char *title, struct strbuf *out);

#endif
