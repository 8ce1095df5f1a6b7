/* cli_steps.c - what `runbook run` does around each block: judging output,
 * SQL, failures, prerequisites, the final state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_run.h"
#include "term.h"
#include "xalloc.h"

void step_state_release(struct step_state *ss)
{
	free(ss->note);
	ss->note = NULL;
}

int prepare_expectations(struct run *r)
{
	(void)r;
	return 0;
}

void judge_output(struct run *r, const struct rb_block *b, const char *expected_text,
		  const struct rb_block *expected, struct block_outcome *o)
{
	(void)r;
	(void)b;
	(void)expected_text;
	(void)expected;
	(void)o;
}

void run_sql_block(struct run *r, const struct rb_block *b, struct block_outcome *o)
{
	(void)r;
	(void)b;
	o->verdict = V_FAILED;
	o->env_error = true;
	snprintf(o->reason, sizeof(o->reason), "SQL blocks need a database connection");
}

static char *ask_line(struct run *r, const char *what)
{
	struct strbuf line = STRBUF_INIT;
	for (;;) {
		run_out(r, "  %s (required): ", what);
		int rc = term_read_line(&line);
		if (rc == TERM_INTERRUPTED || rc == TERM_EOF) {
			run_out(r, "\n");
			strbuf_release(&line);
			return NULL;
		}
		strbuf_trim(&line);
		if (line.len)
			return strbuf_detach(&line, NULL);
	}
}

enum flow on_failure(struct run *r, struct step_state *ss, const struct rb_block *b,
		     const struct block_outcome *o, enum verdict *final)
{
	*final = o->verdict;
	if (!r->interactive)
		return FLOW_END_STEP;
	for (;;) {
		run_out(r, "  %sr retry · s skip · q abort%s ", term_c(TC_BOLD), term_c(TC_RESET));
		int k = term_read_key("rsq");
		run_out(r, "\n");
		switch (k) {
		case 'r':
			return FLOW_RETRY;
		case 's': {
			char *reason = ask_line(r, "reason for skipping");
			if (!reason)
				return FLOW_INTERRUPT;
			step_note_skip(r, ss, b, reason);
			free(reason);
			*final = V_SKIPPED;
			return FLOW_CONTINUE;
		}
		case TERM_INTERRUPTED:
			return FLOW_INTERRUPT;
		default:
			return FLOW_QUIT;
		}
	}
}

void step_begin(struct run *r, struct step_state *ss)
{
	(void)r;
	(void)ss;
}

void step_end(struct run *r, struct step_state *ss)
{
	(void)r;
	(void)ss;
}

void step_note_outcome(struct run *r, struct step_state *ss, const struct rb_block *b,
		       const struct block_outcome *o)
{
	(void)r;
	(void)ss;
	(void)b;
	(void)o;
}

void step_note_skip(struct run *r, struct step_state *ss, const struct rb_block *b, const char *reason)
{
	(void)r;
	(void)b;
	free(ss->note);
	ss->note = xstrdup(reason);
}

void check_prerequisite(struct run *r, const struct rb_item *it, struct prereq_check *pc)
{
	(void)r;
	(void)it;
	pc->status = PREREQ_ASK;
	pc->evidence[0] = '\0';
}

void record_prereq(struct run *r, const struct rb_item *it, const char *status, const char *evidence)
{
	(void)r;
	(void)it;
	(void)status;
	(void)evidence;
}

void check_final_state(struct run *r, struct step_state *ss)
{
	(void)r;
	(void)ss;
}

void run_rollback_after(struct run *r)
{
	(void)r;
}

int run_backends_start(struct run *r)
{
	(void)r;
	return 0;
}

void run_backends_release(struct run *r)
{
	(void)r;
}

int run_backend_option(struct run *r, int c, const char *arg)
{
	(void)arg;
	switch (c) {
	case 1001:
		r->opts.accept_deviations = true;
		return 0;
	case 1002:
		r->opts.verbose = true;
		return 0;
	}
	return -1;
}

void run_backend_usage(void)
{
	printf("      --accept-deviations with --yes, a deviation does not fail the run\n"
	       "      --verbose           more detail on matching\n");
}
