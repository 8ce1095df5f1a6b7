/* cli_show.c - `runbook show`: the plan a runbook describes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/mdparse.h"
#include "model/modeljson.h"
#include "base/redact.h"
#include "sys/term.h"

extern char **environ;

struct show {
	struct redactor red;
	struct strbuf out;
};

static void put(struct show *s, const char *text)
{
	struct strbuf masked = STRBUF_INIT;
	redact(&s->red, text, strlen(text), &masked);
	term_visible(masked.buf, masked.len, &s->out);
	strbuf_release(&masked);
}

static void putf(struct show *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct show *s, const char *fmt, ...)
{
	struct strbuf tmp = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&tmp, fmt, ap);
	va_end(ap);
	put(s, tmp.buf);
	strbuf_release(&tmp);
}

static void put_code(struct show *s, const char *text, const char *indent)
{
	const char *p = text;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		struct strbuf line = STRBUF_INIT;
		strbuf_add(&line, p, len);
		putf(s, "%s%s│%s %s\n", indent, term_c(TC_DIM), term_c(TC_RESET), line.buf);
		strbuf_release(&line);
		p += len + (eol ? 1 : 0);
	}
}

static void put_commands(struct show *s, const char *label, const struct rb_command *cmds, size_t n)
{
	if (!n)
		return;
	putf(s, "  %s%s%s\n", term_c(TC_BOLD), label, term_c(TC_RESET));
	for (size_t i = 0; i < n; i++) {
		const struct rb_block *b = cmds[i].block;
		putf(s, "    %s[%s%s%s%s]%s line %d\n", term_c(TC_CYAN), *b->lang ? b->lang : "shell",
		     b->nattrs ? " " : "", b->nattrs ? b->info + strlen(b->lang) + (*b->lang ? 1 : 0) : "",
		     "", term_c(TC_RESET), b->comment ? b->text_line : b->line);
		if (b->comment)
			putf(s, "      %s%s %s%s\n", term_c(TC_DIM), b->kind == BLOCK_SQL ? "--" : "#", b->comment, term_c(TC_RESET));
		if (!rb_block_runnable(b))
			putf(s, "      %s(not run: %s)%s\n", term_c(TC_YELLOW), b->lang, term_c(TC_RESET));
		put_code(s, b->text, "      ");
		if (cmds[i].expected) {
			const struct rb_block *e = cmds[i].expected;
			putf(s, "      %sexpected%s%s%s, line %d:%s\n", term_c(TC_GREEN),
			     rb_attr_get(e, "match") ? " match=" : "",
			     rb_attr_get(e, "match") ? rb_attr_get(e, "match") : "", "", e->line,
			     term_c(TC_RESET));
			put_code(s, e->text, "        ");
		}
	}
}

static void put_failures(struct show *s, const char *label, const struct rb_failure_row *rows, size_t n)
{
	if (!n)
		return;
	putf(s, "  %s%s (%zu)%s\n", term_c(TC_BOLD), label, n, term_c(TC_RESET));
	for (size_t i = 0; i < n; i++) {
		const struct rb_failure_row *r = &rows[i];
		putf(s, "    %s%s%s  (line %d)\n", term_c(TC_RED), r->error, term_c(TC_RESET), r->line);
		if (*r->cause)
			putf(s, "      cause:    %s\n", r->cause);
		putf(s, "      solution: %s\n", r->solution);
		if (r->fix)
			putf(s, "      fix:      %s%s%s\n", term_c(TC_CYAN), r->fix, term_c(TC_RESET));
	}
}

static void put_step(struct show *s, const struct runbook *rb, const struct rb_step *st)
{
	char counter[64];

	rb_step_counter(rb, st, counter, sizeof(counter));
	if (st->role == STEP_MAIN)
		putf(s, "\n%sStep %s: %s%s  %s(line %d)%s\n", term_c(TC_BOLD), counter,
		     st->title, term_c(TC_RESET), term_c(TC_DIM), st->line, term_c(TC_RESET));
	else
		putf(s, "\n%s%s%s  %s(line %d)%s\n", term_c(TC_BOLD), st->title, term_c(TC_RESET),
		     term_c(TC_DIM), st->line, term_c(TC_RESET));
	if (*st->why)
		putf(s, "  %s\n", st->why);
	put_commands(s, st->role == STEP_ROLLBACK ? "Rollback commands" : "Commands", st->commands,
		     st->ncommands);
	put_commands(s, "Verification", st->verifications, st->nverifications);
	put_failures(s, "If this fails", st->failures, st->nfailures);
	put_commands(s, "Rollback for this step", st->rollback, st->nrollback);
}

static void show_text(struct show *s, const struct runbook *rb)
{
	putf(s, "%s%s%s  %s(%s)%s\n", term_c(TC_BOLD), *rb->title ? rb->title : "(untitled runbook)",
	     term_c(TC_RESET), term_c(TC_DIM), rb->path, term_c(TC_RESET));
	for (size_t i = 0; i < rb->nmeta; i++)
		putf(s, "  %s: %s\n", rb->meta[i].key, rb->meta[i].value);
	putf(s, "  %zu steps, %zu prerequisites, %s, %s\n", rb->nsteps, rb->nprereqs,
	     rb->final.line ? "final verification" : "no final verification",
	     rb->rollback.line ? "rollback procedure" : "no rollback procedure");

	if (rb->nprereqs) {
		putf(s, "\n%sPrerequisites (%zu)%s\n", term_c(TC_BOLD), rb->nprereqs, term_c(TC_RESET));
		for (size_t i = 0; i < rb->nprereqs; i++)
			putf(s, "  [%c] %s  %s(line %d)%s\n", rb->prereqs[i].checked ? 'x' : ' ',
			     rb->prereqs[i].text, term_c(TC_DIM), rb->prereqs[i].line, term_c(TC_RESET));
	}
	if (rb->setup.line)
		put_step(s, rb, &rb->setup);
	for (size_t i = 0; i < rb->nsteps; i++)
		put_step(s, rb, &rb->steps[i]);
	if (rb->final.line) {
		put_step(s, rb, &rb->final);
	}
	if (rb->nfinal_rows) {
		putf(s, "  %sExpected final state%s\n", term_c(TC_BOLD), term_c(TC_RESET));
		for (size_t i = 0; i < rb->nfinal_rows; i++)
			putf(s, "    %s = %s  %s(line %d)%s\n", rb->final_rows[i].metric,
			     rb->final_rows[i].expected, term_c(TC_DIM), rb->final_rows[i].line,
			     term_c(TC_RESET));
	}
	if (rb->rollback.line)
		put_step(s, rb, &rb->rollback);
	if (rb->ngeneral_failures || rb->troubleshooting) {
		putf(s, "\n%sTroubleshooting%s  %s(line %d)%s\n", term_c(TC_BOLD), term_c(TC_RESET),
		     term_c(TC_DIM), rb->troubleshooting_line, term_c(TC_RESET));
		put_failures(s, "Known errors", rb->general_failures, rb->ngeneral_failures);
	}
	if (rb->nnext_steps) {
		putf(s, "\n%sNext steps (%zu)%s\n", term_c(TC_BOLD), rb->nnext_steps, term_c(TC_RESET));
		for (size_t i = 0; i < rb->nnext_steps; i++)
			putf(s, "  [%c] %s\n", rb->next_steps[i].checked ? 'x' : ' ', rb->next_steps[i].text);
	}
	if (rb->nnotes) {
		putf(s, "\n%sNotes%s (not run): ", term_c(TC_BOLD), term_c(TC_RESET));
		for (size_t i = 0; i < rb->nnotes; i++)
			putf(s, "%s%s", i ? ", " : "", *rb->notes[i].heading ? rb->notes[i].heading : "(preamble)");
		put(s, "\n");
	}
}

int cli_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-color", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, no_color = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'C': no_color = true; break;
		case 'h':
			printf("usage: runbook show FILE [--json] [--no-color]\n");
			return EXIT_OK;
		default:
			return cli_usage_error("show", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("show", "expected exactly one FILE");
	term_init(no_color || json);

	struct strbuf err = STRBUF_INIT;
	struct runbook *rb = runbook_load(argv[optind], &err, NULL);
	if (!rb) {
		fprintf(stderr, "runbook: %s\n", err.buf);
		strbuf_release(&err);
		return EXIT_INVALID;
	}
	struct show s = { REDACTOR_INIT, STRBUF_INIT };
	redactor_add_environ(&s.red, environ);
	if (json)
		runbook_json(rb, &s.red, &s.out);
	else
		show_text(&s, rb);
	fwrite(s.out.buf, 1, s.out.len, stdout);
	strbuf_release(&s.out);
	redactor_release(&s.red);
	runbook_free(rb);
	strbuf_release(&err);
	return EXIT_OK;
}
