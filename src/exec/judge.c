/* judge.c - expected output and captures, the diagnosis of a failure and
 * what follows it, the expected final state. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "base/xalloc.h"
#include "exec/exec_int.h"
#include "match/match.h"
#include "sys/shell.h"

/* ---------- expectations ---------- */

static int compile_block(const struct rb_step *st, const struct rb_command *cmd, bool v, void *data)
{
	struct exec_run *r = data;
	enum match_mode mode;
	struct match_error me;
	(void)st;
	(void)v;
	if (!cmd->expected || cmd->block->index < 0 || (size_t)cmd->block->index >= r->nexpectations)
		return 0;
	if (match_mode_parse(rb_attr_get(cmd->expected, "match"), &mode) < 0)
		return -1;
	r->expectations[cmd->block->index] = expectation_compile(cmd->expected->text, mode, &me);
	return r->expectations[cmd->block->index] ? 0 : -1;
}

int prepare_expectations(struct exec_run *r, struct strbuf *err)
{
	r->nexpectations = r->rb->nblocks;
	r->expectations = xcalloc(r->nexpectations ? r->nexpectations : 1, sizeof(*r->expectations));
	if (rb_for_each_command(r->rb, compile_block, r)) {
		strbuf_addf(err, "%s: an expected output cannot be compiled (runbook check %s)", r->rb->path,
			    r->rb->path);
		return -1;
	}
	return 0;
}

void release_expectations(struct exec_run *r)
{
	for (size_t i = 0; i < r->nexpectations; i++)
		expectation_free(r->expectations[i]);
	free(r->expectations);
	r->expectations = NULL;
	r->nexpectations = 0;
}

void judge_release(struct exec_run *r)
{
	for (size_t i = 0; i < r->nmatchers; i++)
		failure_matcher_free(r->matchers[i]);
	free(r->matchers);
	free(r->matcher_done);
	r->matchers = NULL;
	r->matcher_done = NULL;
	r->nmatchers = 0;
}

void run_add_capture(struct exec_run *r, const char *name, const char *value)
{
	struct strbuf err = STRBUF_INIT;
	size_t i;

	for (i = 0; i < r->ncaptured; i++)
		if (!strcmp(r->captured[i].name, name))
			break;
	if (i == r->ncaptured) {
		ALLOC_GROW(r->captured, r->ncaptured + 1, r->captured_alloc);
		r->captured[i].name = xstrdup(name);
		r->captured[i].value = NULL;
		r->ncaptured++;
	}
	free(r->captured[i].value);
	r->captured[i].value = xstrdup(value);
	if (redact_secret_name(name))
		redactor_add_value(&r->red, value);
	/* values reach commands only as environment variables */
	if (r->sh && shell_set_var(r->sh, name, value, &err) < 0)
		note(r, NOTE_ERROR, "  cannot set %s: %s", name, err.buf);
	strbuf_release(&err);
}

void judge_output(struct exec_run *r, const struct rb_block *b, const char *expected_text,
		  const struct rb_block *expected, struct block_outcome *o)
{
	struct expectation *own = NULL, *e = NULL;
	struct match_result mr;
	struct match_error me;
	struct strbuf both = STRBUF_INIT;
	const char *text;
	size_t len;
	bool truncated;

	if (!expected_text || !*expected_text || !o->have_capture)
		return;
	if (expected && b->index >= 0 && (size_t)b->index < r->nexpectations)
		e = r->expectations[b->index];
	if (!e) {
		enum match_mode mode = MATCH_TOLERANT;
		if (expected)
			match_mode_parse(rb_attr_get(expected, "match"), &mode);
		own = e = expectation_compile(expected_text, mode, &me);
		if (!e) {
			o->verdict = V_DEVIATED;
			snprintf(o->reason, sizeof(o->reason), "invalid expected output: %s", me.msg);
			return;
		}
	}
	const char *stream = expected ? rb_attr_get(expected, "stream") : NULL;
	if (stream && !strcmp(stream, "stderr")) {
		text = o->err.text.buf;
		len = o->err.text.len;
		truncated = o->err.truncated;
	} else if (stream && !strcmp(stream, "both") && r->both_wanted) {
		/* as they arrived, interleaved the way the terminal showed them */
		text = r->both.buf;
		len = r->both.len;
		truncated = r->both_truncated;
	} else if (stream && !strcmp(stream, "both")) {
		strbuf_addbuf(&both, &o->out.text);
		strbuf_addbuf(&both, &o->err.text);
		text = both.buf;
		len = both.len;
		truncated = o->out.truncated || o->err.truncated;
	} else {
		text = o->out.text.buf;
		len = o->out.text.len;
		truncated = o->out.truncated;
	}
	match_result_init(&mr);
	expectation_match(e, text, len, truncated, &mr);
	if (!mr.ok) {
		o->verdict = V_DEVIATED;
		snprintf(o->reason, sizeof(o->reason), "%s", mr.reason.buf);
		strbuf_addbuf(&o->diff, &mr.diff);
		if (mr.expected_line && expected)
			snprintf(o->reason + strlen(o->reason), sizeof(o->reason) - strlen(o->reason),
				 " (%s:%d)", r->rb->path, expected->text_line + mr.expected_line - 1);
	} else {
		for (size_t i = 0; i < mr.ncaptures; i++) {
			run_add_capture(r, mr.captures[i].name, mr.captures[i].value);
			ALLOC_GROW(o->captures, o->ncaptures + 1, o->captures_alloc);
			o->captures[o->ncaptures].name = xstrdup(mr.captures[i].name);
			o->captures[o->ncaptures].value = xstrdup(mr.captures[i].value);
			o->ncaptures++;
			struct event ev = { .type = EV_CAPTURE, .name = mr.captures[i].name,
					    .value = mr.captures[i].value, .block = b };
			emit(r, &ev);
		}
	}
	if (r->opts.verbose && mr.notes.len)
		note(r, NOTE_DIM, "  %s", mr.notes.buf);
	match_result_release(&mr);
	expectation_free(own);
	strbuf_release(&both);
}

/* ---------- diagnosis ---------- */

static struct failure_matcher *matcher_for(struct exec_run *r, size_t idx, const struct rb_failure_row *rows,
					   size_t n)
{
	if (!r->matchers) {
		r->nmatchers = r->rb->nsteps + 1;
		r->matchers = xcalloc(r->nmatchers, sizeof(*r->matchers));
		r->matcher_done = xcalloc(r->nmatchers, sizeof(*r->matcher_done));
	}
	if (!r->matcher_done[idx]) {
		const char **cells = xcalloc(n ? n : 1, sizeof(*cells));
		for (size_t i = 0; i < n; i++)
			cells[i] = rows[i].error;
		r->matchers[idx] = n ? failure_matcher_new(cells, n) : NULL;
		r->matcher_done[idx] = true;
		free(cells);
	}
	return r->matchers[idx];
}

struct diagnosis {
	const struct rb_failure_row *rows;
	struct failure_hit *hits;
	size_t nhits;
	bool general;
	const struct rb_failure_row *best;
};

static size_t step_index(const struct exec_run *r, const struct rb_step *st)
{
	for (size_t i = 0; i < r->rb->nsteps; i++)
		if (&r->rb->steps[i] == st)
			return i;
	return (size_t)-1;
}

/* diagnose ranks the failure rows against what the block printed.  A
 * deviation is not an error message: for one, only the output is searched
 * (not the deviation's own description) and only rows whose pattern hits
 * count, never word overlap. */
static void diagnose(struct exec_run *r, const struct rb_step *st, const struct block_outcome *o,
		     struct diagnosis *d)
{
	const char *out = o->have_capture ? o->out.text.buf : "";
	size_t out_len = o->have_capture ? o->out.text.len : 0;
	const char *err = o->have_capture ? o->err.text.buf : "";
	size_t err_len = o->have_capture ? o->err.text.len : 0;
	struct strbuf extra = STRBUF_INIT;
	size_t idx = step_index(r, st);
	bool deviated = o->verdict == V_DEVIATED;
	const char *sqlstate = *o->sqlstate ? o->sqlstate : NULL;

	memset(d, 0, sizeof(*d));
	strbuf_add(&extra, err, err_len);
	/* a timeout is evidence too */
	if (!deviated)
		strbuf_addf(&extra, "\n%s\n", o->reason);
	for (int pass = 0; pass < 2 && !d->nhits; pass++) {
		const struct rb_failure_row *rows = pass ? r->rb->general_failures : st->failures;
		size_t n = pass ? r->rb->ngeneral_failures : st->nfailures;
		size_t which = pass ? r->rb->nsteps : idx;
		if (!n || which == (size_t)-1)
			continue;
		failure_hits_free(d->hits, d->nhits);
		d->hits = NULL;
		d->nhits = 0;
		struct failure_matcher *fm = matcher_for(r, which, rows, n);
		if (!fm)
			continue;
		d->nhits = failure_matcher_rank(fm, out, out_len, extra.buf, extra.len, sqlstate, &d->hits);
		if (deviated) {
			size_t kept = 0;
			for (size_t i = 0; i < d->nhits; i++) {
				if (d->hits[i].pattern_hit)
					d->hits[kept++] = d->hits[i];
				else
					free(d->hits[i].why);
			}
			d->nhits = kept;
		}
		d->rows = rows;
		d->general = pass == 1;
	}
	if (d->nhits)
		d->best = &d->rows[d->hits[0].row];
	strbuf_release(&extra);
}

static void diagnosis_release(struct diagnosis *d)
{
	failure_hits_free(d->hits, d->nhits);
	memset(d, 0, sizeof(*d));
}

enum proceed {
	PROCEED_NO,  /* the solution does not say it is safe to go on */
	PROCEED_YES, /* it says so without a condition */
	PROCEED_IF,  /* it says so on a condition ("... if `indisvalid = t`") */
};

/* word_at: s at p starts the word w (case-insensitive, whole word). */
static bool word_at(const char *s, const char *p, const char *w)
{
	size_t n = strlen(w);
	return !strncasecmp(p, w, n) && (p == s || !isalnum((unsigned char)p[-1])) &&
	       !isalnum((unsigned char)p[n]);
}

/* safe_to_proceed reads a Solution: whether it says the failure can be
 * ignored, and the condition it puts on that (the whole sentence, in
 * *cond) when it has one. */
static enum proceed safe_to_proceed(const char *solution, struct strbuf *cond)
{
	static const char *const words[] = { "safe to proceed", "safe to continue", "safe to ignore",
					     "can be ignored", "can safely be ignored", "ok to proceed",
					     "okay to proceed", NULL };
	static const char *const conditions[] = { "if", "when", "unless", "provided", "as long as", "once",
						  "only after", "assuming", NULL };
	const char *hit = NULL;
	for (size_t i = 0; words[i] && !hit; i++)
		hit = strcasestr(solution, words[i]);
	if (!hit)
		return PROCEED_NO;
	/* the sentence around it, code spans kept whole */
	const char *start = solution, *end = solution + strlen(solution);
	bool code = false;
	for (const char *p = solution; *p; p++) {
		if (*p == '`')
			code = !code;
		else if (!code && (*p == '.' || *p == ';' || *p == '\n') && (p[1] == ' ' || p[1] == '\n' || !p[1])) {
			if (p < hit)
				start = p + 1;
			else {
				end = p;
				break;
			}
		}
	}
	while (start < end && isspace((unsigned char)*start))
		start++;
	code = false;
	for (const char *p = start; p < end; p++) {
		if (*p == '`')
			code = !code;
		for (size_t i = 0; !code && conditions[i]; i++)
			if (word_at(solution, p, conditions[i])) {
				strbuf_add(cond, start, (size_t)(end - start));
				return PROCEED_IF;
			}
	}
	return PROCEED_YES;
}

/* condition_query finds, in a condition, a code span that is a query the
 * tool can run to check it ("if `SELECT indisvalid FROM pg_index ...`
 * returns t"); NULL when there is none (a person must decide). */
static char *condition_query(const char *cond)
{
	const char *p = cond;
	while ((p = strchr(p, '`'))) {
		const char *q = strchr(p + 1, '`');
		if (!q)
			break;
		const char *a = p + 1;
		while (a < q && isspace((unsigned char)*a))
			a++;
		if (q - a > 7 && (!strncasecmp(a, "select ", 7) || !strncasecmp(a, "select\t", 7)))
			return xmemdupz(a, (size_t)(q - a));
		p = q + 1;
	}
	return NULL;
}

/* check_condition evaluates a Solution's condition: 1 it holds, 0 it does
 * not, -1 it cannot be checked (no query in it, no database, the query
 * failed).  What was checked, and what came of it, is shown and recorded. */
static int check_condition(struct exec_run *r, const char *cond)
{
	char *sql = condition_query(cond);
	if (!sql) {
		record_decision(r, "condition not checked", "no query in it that runbook could run", cond);
		return -1;
	}
	struct strbuf value = STRBUF_INIT, err = STRBUF_INIT;
	int holds = target_eval(r, sql, &value, &err);
	if (holds < 0)
		note(r, NOTE_WARN, "  checking the condition (%s): %s", sql, err.buf);
	else
		note(r, holds ? NOTE_OK : NOTE_ERROR, "  checked the condition: %s returned %s: %s", sql,
		     value.buf, holds ? "it holds" : "it does not hold");
	record_decision(r, holds > 0 ? "condition holds" : holds == 0 ? "condition does not hold"
				     : "condition not checked", holds < 0 ? err.buf : value.buf, cond);
	free(sql);
	strbuf_release(&value);
	strbuf_release(&err);
	return holds;
}

/* report_diagnosis tells the UI (and the journal) the ranked rows; the
 * first three as good as the best are the ones shown. */
static void report_diagnosis(struct exec_run *r, const struct step_state *ss, const struct rb_block *b,
			     const struct diagnosis *d, const struct block_outcome *o)
{
	struct suggestion *sg = xcalloc(d->nhits ? d->nhits : 1, sizeof(*sg));
	for (size_t i = 0; i < d->nhits; i++) {
		const struct rb_failure_row *row = &d->rows[d->hits[i].row];
		sg[i].line = row->line;
		sg[i].error = row->error;
		sg[i].cause = row->cause;
		sg[i].solution = row->solution;
		sg[i].fix = row->fix;
		sg[i].why = d->hits[i].why;
		sg[i].pattern_hit = d->hits[i].pattern_hit;
		sg[i].score = d->hits[i].score;
		/* alternatives only when they are about as good as the best */
		sg[i].shown = i < 3 && (!i || d->hits[i].pattern_hit || d->hits[i].score >= 0.9 * d->hits[0].score);
		if (i && !sg[i - 1].shown)
			sg[i].shown = false;
	}
	struct event ev = { .type = EV_SUGGESTIONS, .step = ss->step, .block = b,
			    .sqlstate = *o->sqlstate ? o->sqlstate : NULL, .suggestions = sg,
			    .count = d->nhits, .general = d->general,
			    .ok = ss->step->nfailures || r->rb->ngeneral_failures,
			    .text = d->nhits ? NULL : r->rb->troubleshooting,
			    .line = d->nhits ? d->rows[d->hits[0].row].line : r->rb->troubleshooting_line };
	emit(r, &ev);
	free(sg);
}

/* try_fix runs the documented fix; true when it passed. */
static bool try_fix(struct exec_run *r, const struct rb_failure_row *row)
{
	struct block_outcome fo;
	run_fix_command(r, row->fix, row->line, &fo);
	bool ok = fo.verdict == V_PASSED;
	record_decision(r, "fix", row->fix, ok ? "the fix passed" : "the fix failed");
	block_outcome_release(&fo);
	return ok;
}

/* continue_step records that the step goes on after its failure. */
static enum flow continue_step(struct exec_run *r, struct step_state *ss, const char *why, const char *about,
			       enum verdict *final)
{
	step_note_skip(ss, why);
	record_decision(r, "continue", why, about);
	*final = V_ACCEPTED;
	return FLOW_CONTINUE;
}

/* next_word finds the next word (a run of letters, digits and '_') at or
 * after *p, below end; returns its length (0: none). */
static size_t next_word(const char **p, const char *end)
{
	while (*p < end && !(isalnum((unsigned char)**p) || **p == '_'))
		(*p)++;
	const char *q = *p;
	while (q < end && (isalnum((unsigned char)*q) || *q == '_'))
		q++;
	return (size_t)(q - *p);
}

/* words_in_order: every word of the pattern text occurs, in its order and
 * as a whole word, on one line of text (PostgreSQL's `column "x" of
 * relation "t" already exists` for an author's `column "x" already
 * exists`).  The pattern text is the Error cell's code spans, or the cell. */
static bool words_in_order(const char *cell, const char *text, size_t len)
{
	struct strbuf pat = STRBUF_INIT;
	for (const char *p = cell; (p = strchr(p, '`'));) {
		const char *q = strchr(p + 1, '`');
		if (!q)
			break;
		strbuf_add(&pat, p + 1, (size_t)(q - p - 1));
		strbuf_addch(&pat, ' ');
		p = q + 1;
	}
	if (!pat.len)
		strbuf_addstr(&pat, cell);
	bool found = false;
	const char *line = text, *end = text + len;
	while (line < end && !found) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		const char *w = pat.buf, *wend = pat.buf + pat.len, *t = line;
		size_t wl, nwords = 0;
		found = true;
		while (found && (wl = next_word(&w, wend))) {
			size_t tl;
			nwords++;
			while ((tl = next_word(&t, eol)) && !(tl == wl && !strncasecmp(t, w, wl)))
				t += tl;
			if (!tl)
				found = false;
			t += tl;
			w += wl;
		}
		found = found && nwords > 0;
		line = eol + 1;
	}
	strbuf_release(&pat);
	return found;
}

/* real_match: the best row is evidence enough to act on without a person:
 * its pattern hit (or its words are all on one line of the error, in
 * order), and the failure is an error, not a deviation. */
static bool real_match(const struct diagnosis *d, const struct block_outcome *o)
{
	if (!d->best || o->verdict == V_DEVIATED)
		return false;
	if (d->hits[0].pattern_hit)
		return true;
	return o->have_capture && (words_in_order(d->best->error, o->err.text.buf, o->err.text.len) ||
				   words_in_order(d->best->error, o->out.text.buf, o->out.text.len));
}

/* unattended decides without a person, and acts only on evidence: a row
 * whose pattern hit the actual error (never word overlap alone, never a
 * deviation, which is not an error message), a condition it checked. */
static enum flow unattended(struct exec_run *r, struct step_state *ss, const struct diagnosis *d,
			    const struct block_outcome *o, enum verdict *final)
{
	bool deviated = o->verdict == V_DEVIATED;
	bool evidence = real_match(d, o);
	const char *fix = evidence ? d->best->fix : NULL;
	struct strbuf cond = STRBUF_INIT;
	enum proceed proceed = evidence ? safe_to_proceed(d->best->solution, &cond) : PROCEED_NO;
	bool can_rollback = run_rollback_available(r) && r->opts.mode == MODE_RUN;
	enum flow flow = FLOW_END_STEP;
	/* an unattended rollback needs the setup's environment, not the
	 * setup's illustration: a setup that ran (exit status as expected)
	 * but printed something else does not stop it */
	bool rollback_setup = r->opts.mode == MODE_ROLLBACK && ss->step->role == STEP_SETUP;

	if (deviated && (r->opts.accept_deviations || rollback_setup)) {
		const char *why = r->opts.accept_deviations
			? "--accept-deviations"
			: "rollback: the setup ran; its output is not what stops a rollback";
		note(r, NOTE_WARN, "  accepted (%s)", why);
		step_note_skip(ss, why);
		record_decision(r, "accept", why, o->reason);
		*final = V_ACCEPTED;
		flow = FLOW_CONTINUE;
	} else if (r->opts.auto_fix && fix && ss->fix_attempts < 1) {
		ss->fix_attempts++;
		note(r, NOTE_WARN, "  --auto-fix: running the documented fix");
		if (try_fix(r, d->best))
			flow = FLOW_RETRY;
	} else if (r->opts.auto_fix && proceed == PROCEED_YES) {
		char *why = xasprintf("%s: %s", d->best->error, d->best->solution);
		note(r, NOTE_WARN, "  --auto-fix: the runbook says it is safe to proceed");
		flow = continue_step(r, ss, why, "--auto-fix", final);
		free(why);
	} else if (r->opts.auto_fix && proceed == PROCEED_IF) {
		int holds = check_condition(r, cond.buf);
		char *why = xasprintf("%s: %s", d->best->error, d->best->solution);
		if (holds > 0) {
			note(r, NOTE_WARN, "  --auto-fix: the runbook says it is safe to proceed, and the condition holds");
			flow = continue_step(r, ss, why, "--auto-fix, condition checked", final);
		} else {
			note(r, NOTE_ERROR, "  --auto-fix: the runbook says it is safe to proceed only on a condition (%s), "
					    "which %s: the step fails; decide at a terminal", cond.buf,
			     holds == 0 ? "does not hold" : "runbook cannot check");
		}
		free(why);
	} else if (r->opts.auto_fix && d->best && !evidence) {
		note(r, NOTE_WARN, "  --auto-fix: nothing done: %s", deviated
		     ? "a deviation is not an error a documented fix is for"
		     : "no documented error matched the actual error (only shared words)");
	}
	if (flow == FLOW_END_STEP && r->opts.on_fail_rollback && can_rollback) {
		r->rollback_requested = true;
		record_decision(r, "roll back", "--on-fail=rollback", o->reason);
	}
	strbuf_release(&cond);
	return flow;
}

/* ask_continue: the operator chose c.  A condition the tool can check is
 * checked first; one it cannot is asked; the reason is always asked. */
static enum flow ask_continue(struct exec_run *r, struct step_state *ss, const struct diagnosis *d,
			      const struct block_outcome *o, enum verdict *final)
{
	static const struct choice yes_no[] = { { 'y', "yes, it holds" }, { 'n', "no" } };
	struct strbuf cond = STRBUF_INIT;
	enum flow flow = FLOW_RETRY; /* back to the question */
	if (safe_to_proceed(d->best->solution, &cond) == PROCEED_IF) {
		int holds = check_condition(r, cond.buf);
		if (holds == 0)
			goto out;
		if (holds < 0) {
			struct question q = { .kind = ASK_CONDITION, .text = cond.buf, .choices = yes_no, .nchoices = 2 };
			int k = ask(r, &q, NULL);
			if (k == ANSWER_INTERRUPTED || k == ANSWER_EOF) {
				flow = FLOW_INTERRUPT;
				goto out;
			}
			record_decision(r, k == 'y' ? "condition confirmed" : "condition not confirmed", "", cond.buf);
			if (k != 'y')
				goto out;
		}
	}
	char *reason = ask_reason(r, "reason for continuing");
	if (!reason) {
		flow = FLOW_INTERRUPT;
		goto out;
	}
	char *why = xasprintf("%s: %s (%s)", d->best->error, d->best->solution, reason);
	flow = continue_step(r, ss, why, o->reason, final);
	free(why);
	free(reason);
out:
	strbuf_release(&cond);
	return flow;
}

enum flow on_failure(struct exec_run *r, struct step_state *ss, const struct rb_block *b,
		     const struct block_outcome *o, enum verdict *final)
{
	bool deviated = o->verdict == V_DEVIATED;
	struct diagnosis d;
	enum flow flow = FLOW_END_STEP;

	*final = o->verdict;
	if (deviated && o->diff.len) {
		struct event ev = { .type = EV_DIFF, .text = o->diff.buf, .len = o->diff.len, .step = ss->step,
				    .block = b };
		emit(r, &ev);
	}
	diagnose(r, ss->step, o, &d);
	report_diagnosis(r, ss, b, &d, o);
	if (!r->interactive) {
		flow = unattended(r, ss, &d, o, final);
		diagnosis_release(&d);
		return flow;
	}
	const char *fix = d.best ? d.best->fix : NULL;
	struct strbuf cond = STRBUF_INIT;
	bool can_continue = d.best && safe_to_proceed(d.best->solution, &cond) != PROCEED_NO;
	strbuf_release(&cond);
	bool can_rollback = run_rollback_available(r) && r->opts.mode == MODE_RUN;
	struct choice choices[7];
	size_t n = 0;
	char *fix_label = fix ? xasprintf("fix: %s", fix) : NULL;
	choices[n++] = (struct choice){ 'r', "retry" };
	if (fix)
		choices[n++] = (struct choice){ 'f', fix_label };
	if (can_continue)
		choices[n++] = (struct choice){ 'c', "continue" };
	if (deviated)
		choices[n++] = (struct choice){ 'a', "accept" };
	choices[n++] = (struct choice){ 's', "skip" };
	if (can_rollback)
		choices[n++] = (struct choice){ 'b', "roll back" };
	choices[n++] = (struct choice){ 'q', "abort" };
	struct question q = { .kind = ASK_ON_FAILURE, .text = o->reason, .choices = choices, .nchoices = n };
	for (;;) {
		int k = ask(r, &q, NULL);
		switch (k) {
		case 'r':
			record_decision(r, "retry", "", o->reason);
			flow = FLOW_RETRY;
			break;
		case 'f':
			if (!try_fix(r, d.best))
				continue;
			flow = FLOW_RETRY;
			break;
		case 'c':
			flow = ask_continue(r, ss, &d, o, final);
			if (flow == FLOW_RETRY)
				continue;
			break;
		case 'a':
		case 's': {
			char *reason = ask_reason(r, k == 'a' ? "reason for accepting the deviation"
							      : "reason for skipping");
			if (!reason) {
				flow = FLOW_INTERRUPT;
				break;
			}
			step_note_skip(ss, reason);
			record_decision(r, k == 'a' ? "accept" : "skip", reason, o->reason);
			free(reason);
			*final = k == 'a' ? V_ACCEPTED : V_SKIPPED;
			flow = FLOW_CONTINUE;
			break;
		}
		case 'b':
			record_decision(r, "roll back", "operator", o->reason);
			r->rollback_requested = true;
			flow = FLOW_END_STEP;
			break;
		case ANSWER_INTERRUPTED:
			flow = FLOW_INTERRUPT;
			break;
		default:
			record_decision(r, "abort", "operator", o->reason);
			flow = FLOW_QUIT;
			break;
		}
		break;
	}
	free(fix_label);
	diagnosis_release(&d);
	return flow;
}

/* ---------- the final state ---------- */

/* parse_psql_table finds the last aligned table in text: a header line
 * followed by a "---+---" rule, then the first row. */
static size_t parse_psql_table(const char *text, char ***names, char ***values)
{
	const char *p = text, *prev = NULL, *found_header = NULL, *found_row = NULL;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		bool rule = len > 0;
		for (size_t i = 0; i < len; i++)
			if (p[i] != '-' && p[i] != '+')
				rule = false;
		if (rule && prev) {
			found_header = prev;
			found_row = eol ? eol + 1 : NULL;
		}
		prev = p;
		p += len + (eol ? 1 : 0);
	}
	*names = *values = NULL;
	if (!found_header || !found_row || !*found_row)
		return 0;
	size_t n = 0, alloc = 0, vn = 0, valloc = 0;
	for (int which = 0; which < 2; which++) {
		const char *s = which ? found_row : found_header;
		const char *eol = strchr(s, '\n');
		size_t len = eol ? (size_t)(eol - s) : strlen(s);
		const char *end = s + len;
		while (s <= end) {
			const char *bar = memchr(s, '|', (size_t)(end - s));
			const char *cell_end = bar ? bar : end;
			const char *a = s, *z = cell_end;
			while (a < z && *a == ' ')
				a++;
			while (z > a && z[-1] == ' ')
				z--;
			char *cell = xmemdupz(a, (size_t)(z - a));
			if (which) {
				ALLOC_GROW(*values, vn + 1, valloc);
				(*values)[vn++] = cell;
			} else {
				ALLOC_GROW(*names, n + 1, alloc);
				(*names)[n++] = cell;
			}
			if (!bar)
				break;
			s = bar + 1;
		}
	}
	while (vn < n) {
		ALLOC_GROW(*values, vn + 1, valloc);
		(*values)[vn++] = xstrdup("");
	}
	for (size_t i = n; i < vn; i++)
		free((*values)[i]);
	return n;
}

void check_final_state(struct exec_run *r, struct step_state *ss)
{
	const struct runbook *rb = r->rb;
	char **names, **values;
	size_t n;
	bool all = true;

	if (!rb->nfinal_rows)
		return;
	n = parse_psql_table(ss->last_output.buf, &names, &values);
	struct event head = { .type = EV_FINAL_STATE, .count = rb->nfinal_rows, .ok = n > 0 };
	emit(r, &head);
	for (size_t i = 0; i < rb->nfinal_rows; i++) {
		const struct rb_final_row *row = &rb->final_rows[i];
		const char *actual = NULL;
		for (size_t k = 0; k < n && !actual; k++)
			if (!strcasecmp(names[k], row->metric))
				actual = values[k];
		bool ok = actual && !strcmp(actual, row->expected);
		all &= ok;
		struct event ev = { .type = EV_FINAL_STATE, .name = row->metric, .expected = row->expected,
				    .value = actual, .ok = ok, .line = row->line };
		emit(r, &ev);
	}
	for (size_t k = 0; k < n; k++) {
		free(names[k]);
		free(values[k]);
	}
	free(names);
	free(values);
	if (!all && verdict_ok(ss->verdict))
		ss->verdict = V_FAILED;
}
