/* fuzz_mdparse.c - bytes -> runbook model -> lint, JSON, console split, expectations. */
#include <ctype.h>
#include <stdlib.h>

#include "fuzz.h"
#include "lint/lint.h"
#include "match/match.h"
#include "model/mdparse.h"
#include "model/modeljson.h"
#include "base/redact.h"
#include "model/runbook.h"
#include "base/strbuf.h"

/* Judge an expected block against text from the same runbook, as `run` would
 * judge a command's output, so that patterns written in Markdown reach the
 * matcher too. */
static void judge(const char *expected, const char *mode_attr, const char *actual)
{
	enum match_mode mode = MATCH_TOLERANT;
	struct match_result r;

	if (match_mode_parse(mode_attr, &mode) < 0)
		return;
	struct expectation *e = expectation_compile(expected, mode, NULL);
	if (!e)
		return;
	match_result_init(&r);
	expectation_match(e, actual, strlen(actual), false, &r);
	match_result_release(&r);
	expectation_free(e);
}

/* Positions point into the file: an editor must be able to jump to them. */
static void check_block(const struct rb_block *b, int nlines)
{
	if (b->line < 1 || b->line > nlines || b->end_line < b->line || b->end_line > nlines ||
	    b->text_line < 1 || !b->text || !b->lang || !b->info)
		abort();
}

static void check_diags(const struct runbook *rb, int nlines)
{
	for (size_t i = 0; i < rb->diags.nr; i++) {
		const struct diag *d = &rb->diags.items[i];
		if (d->line < 0 || d->line > nlines || d->col < 0 || !d->rule[0] ||
		    strchr(d->message, '\n'))
			abort(); /* diag.h: 1-based or 0, and one line */
	}
}

static int each_command(const struct rb_step *step, const struct rb_command *cmd, bool verification,
			void *data)
{
	const int *nlines = data;

	(void)step;
	(void)verification;
	check_block(cmd->block, *nlines);
	if (cmd->expected)
		check_block(cmd->expected, *nlines);
	if (cmd->expected)
		judge(cmd->expected->text, rb_attr_get(cmd->expected, "match"), cmd->block->text);
	if (cmd->block->kind == BLOCK_CONSOLE) {
		struct rb_console_cmd *cc;
		size_t n = rb_console_split(cmd->block, &cc);
		for (size_t i = 0; i < n; i++)
			judge(cc[i].expected, NULL, cc[i].cmd);
		rb_console_free(cc, n);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct redactor red = REDACTOR_INIT;
	struct strbuf out = STRBUF_INIT;
	size_t i = 0;

	/* What runbook_load() refuses never reaches the parser. */
	if (size > RUNBOOK_MAX_SIZE || memchr(text, '\0', size) || utf8_check(text, size))
		return 0;
	while (i < size && isspace((unsigned char)text[i]))
		i++;
	if (i == size)
		return 0;

	int nlines = 1; /* "\n", "\r\n" and "\r" end a line, as in CommonMark */
	for (size_t k = 0; k + 1 < size; k++)
		nlines += text[k] == '\n' || (text[k] == '\r' && text[k + 1] != '\n');

	struct runbook *rb = mdparse_buffer("fuzz.md", text, size);
	lint_runbook(rb);
	diag_sort(&rb->diags);
	check_diags(rb, nlines);
	diags_json(&rb->diags, &out);
	redactor_add_value(&red, "hunter22");
	runbook_json(rb, &red, &out);
	rb_for_each_command(rb, each_command, &nlines);
	redactor_release(&red);
	strbuf_release(&out);
	runbook_free(rb);
	return 0;
}
