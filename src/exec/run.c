/* run.c - the plan and the step loop: prompts around blocks, retries,
 * rollback, the run's result. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "exec/exec_int.h"
#include "sys/shell.h"

extern char **environ;

/* ---------- verdicts and options ---------- */

const char *verdict_name(enum verdict v)
{
	switch (v) {
	case V_PENDING: return "not reached";
	case V_PASSED: return "passed";
	case V_FAILED: return "failed";
	case V_TIMED_OUT: return "timed out";
	case V_INTERRUPTED: return "interrupted";
	case V_DEVIATED: return "deviated";
	case V_ACCEPTED: return "accepted";
	case V_SKIPPED: return "skipped";
	case V_NOT_RUN: return "not run";
	case V_ABORTED: return "aborted";
	}
	return "?";
}

bool verdict_ok(enum verdict v)
{
	return v == V_PASSED || v == V_ACCEPTED || v == V_SKIPPED || v == V_NOT_RUN;
}

void format_duration(int64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%lld ms", (long long)ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1f s", ms / 1000.0);
	else
		snprintf(buf, len, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
}

void exec_opts_init(struct exec_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = (int64_t)RUN_DEFAULT_TIMEOUT_S * 1000;
	o->lock_timeout_ms = -1;
	o->max_blocking_ms = 60000;
}

static void free_vars(struct run_var *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

void exec_opts_release(struct exec_opts *o)
{
	free_vars(o->vars, o->nvars);
	o->vars = NULL;
	o->nvars = o->vars_alloc = 0;
}

int exec_opts_add_var(struct exec_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return -1;
	char *name = xmemdupz(arg, (size_t)(eq - arg));
	if (!shell_valid_name(name)) {
		free(name);
		return -1;
	}
	ALLOC_GROW(o->vars, o->nvars + 1, o->vars_alloc);
	o->vars[o->nvars].name = name;
	o->vars[o->nvars].value = xstrdup(eq + 1);
	o->nvars++;
	return 0;
}

int64_t exec_block_timeout_ms(const struct exec_opts *o, const struct rb_block *b)
{
	const char *t = rb_attr_get(b, "timeout");
	if (t && *t) {
		char *end;
		double s = strtod(t, &end);
		if (!strcmp(end, "ms"))
			return (int64_t)s;
		if (s > 0)
			return (int64_t)(s * 1000);
	}
	return o->timeout_ms;
}

char *step_key(const struct rb_step *st)
{
	if (st->role == STEP_MAIN)
		return xasprintf("step-%d", st->number);
	return xstrdup(rb_step_role_name(st->role));
}

void step_state_release(struct step_state *ss)
{
	free(ss->note);
	ss->note = NULL;
	strbuf_release(&ss->last_output);
}

void step_note_skip(struct step_state *ss, const char *reason)
{
	free(ss->note);
	ss->note = xstrdup(reason);
}

static void step_begin(struct exec_run *r, struct step_state *ss, bool header)
{
	char counter[64];
	rb_step_counter(r->rb, ss->step, counter, sizeof(counter));
	struct event ev = { .type = EV_STEP_START, .step = ss->step, .counter = counter,
			    .title = ss->step->title, .ok = header, .line = ss->step->line };
	emit(r, &ev);
	target_step_begin(r, ss);
}

static void step_end(struct exec_run *r, struct step_state *ss)
{
	struct event ev = { .type = EV_STEP_END, .step = ss->step, .verdict = ss->verdict,
			    .duration_ms = ss->duration_ms, .reason = ss->note, .line = ss->step->line };
	emit(r, &ev);
}

/* ---------- one block, with the prompts around it ---------- */

static void show_command(struct exec_run *r, const struct rb_step *st, const struct rb_block *b,
			 const char *label, size_t i, size_t n, const char *text, int line)
{
	struct event ev = { .type = EV_BLOCK_SHOW, .step = st, .block = b, .label = label, .index = i,
			    .count = n, .text = text, .line = line, .comment = b->comment,
			    .path = r->rb->path };
	emit(r, &ev);
}

enum before { BEFORE_RUN, BEFORE_SKIP, BEFORE_QUIT, BEFORE_INTERRUPT };

static enum before ask_before(struct exec_run *r, char **reason)
{
	static const struct choice choices[] = { { '\n', "run" }, { 's', "skip" }, { 'q', "quit" } };
	struct question q = { .kind = ASK_BEFORE_BLOCK, .choices = choices, .nchoices = 3 };
	switch (ask(r, &q, NULL)) {
	case '\n':
		return BEFORE_RUN;
	case 's':
		*reason = ask_reason(r, "reason for skipping");
		return *reason ? BEFORE_SKIP : BEFORE_INTERRUPT;
	case ANSWER_INTERRUPTED:
	case ANSWER_EOF: /* the terminal went away: the run stays resumable */
		return BEFORE_INTERRUPT;
	default:
		return BEFORE_QUIT;
	}
}

static enum verdict worse(enum verdict a, enum verdict b)
{
	return b > a ? b : a;
}

static void step_note_outcome(struct exec_run *r, struct step_state *ss, const struct rb_block *b,
			      const struct block_outcome *o)
{
	struct event ev = { .type = EV_BLOCK_END, .step = ss->step, .block = b, .line = o->line,
			    .outcome = o, .verdict = o->verdict, .reason = o->reason,
			    .duration_ms = o->duration_ms };
	emit(r, &ev);
	strbuf_reset(&ss->last_output);
	if (o->have_capture)
		strbuf_add(&ss->last_output, o->out.text.buf, o->out.text.len);
}

/* block_start records the command before it runs; -1: the journal cannot
 * take it, nothing may run. */
static int block_start(struct exec_run *r, struct step_state *ss, const struct rb_block *b,
		       const char *text, int line, int attempt)
{
	struct event ev = { .type = EV_BLOCK_START, .step = ss->step, .block = b, .text = text,
			    .line = line, .attempt = attempt, .comment = b->comment };
	return emit(r, &ev);
}

static void skipped(struct exec_run *r, struct step_state *ss, const char *reason)
{
	note(r, NOTE_DIM, "  - skipped: %s", reason);
	step_note_skip(ss, reason);
}

enum flow run_one(struct exec_run *r, struct step_state *ss, const struct rb_command *cmd,
		  const char *label, size_t i, size_t n, bool ask_first)
{
	const struct rb_block *b = cmd->block;
	struct rb_console_cmd *cc = NULL;
	size_t ncc = 0;
	enum flow flow = FLOW_CONTINUE;

	if (!rb_block_runnable(b) || rb_attr_has(b, "skip")) {
		struct event ev = { .type = EV_BLOCK_NOT_RUN, .step = ss->step, .block = b, .label = label,
				    .index = i, .count = n, .line = b->line,
				    .reason = rb_attr_has(b, "skip") ? "marked skip" : "not a runnable language" };
		emit(r, &ev);
		return FLOW_CONTINUE;
	}
	if (b->kind == BLOCK_CONSOLE)
		ncc = rb_console_split(b, &cc);

	size_t parts = b->kind == BLOCK_CONSOLE ? ncc : 1;
	for (size_t k = 0; k < parts && flow == FLOW_CONTINUE; k++) {
		const char *text = b->kind == BLOCK_CONSOLE ? cc[k].cmd : b->text;
		int line = b->kind == BLOCK_CONSOLE ? cc[k].line : b->text_line;
		const char *expected_text = b->kind == BLOCK_CONSOLE ? cc[k].expected
					    : cmd->expected ? cmd->expected->text : NULL;
		const struct rb_block *expected = b->kind == BLOCK_CONSOLE ? NULL : cmd->expected;
		enum verdict final = V_PASSED;

		show_command(r, ss->step, b, label, i, n, text, line);
		if (ask_first && r->interactive) {
			char *reason = NULL;
			enum before a = ask_before(r, &reason);
			if (a == BEFORE_SKIP) {
				skipped(r, ss, reason);
				ss->verdict = worse(ss->verdict, V_SKIPPED);
				free(reason);
				continue;
			}
			if (a != BEFORE_RUN) {
				flow = a == BEFORE_QUIT ? FLOW_QUIT : FLOW_INTERRUPT;
				if (a == BEFORE_QUIT) {
					char *about = xasprintf("before %s %zu/%zu of %s", label, i + 1, n,
								ss->step->title);
					record_decision(r, "abort", "operator", about);
					free(about);
				}
				break;
			}
		}
		bool env_error = false;
		for (int attempt = 1;; attempt++) {
			struct block_outcome o;
			if (block_start(r, ss, b, text, line, attempt) < 0) {
				flow = FLOW_QUIT;
				final = V_FAILED;
				break;
			}
			execute(r, b, text, line, expected_text, expected, &o);
			step_note_outcome(r, ss, b, &o);
			env_error = o.env_error;
			if (verdict_ok(o.verdict)) {
				final = o.verdict;
				block_outcome_release(&o);
				break;
			}
			if (o.verdict == V_INTERRUPTED || proc_sigint_count() > 0) {
				final = V_INTERRUPTED;
				block_outcome_release(&o);
				flow = FLOW_INTERRUPT;
				break;
			}
			enum flow next = on_failure(r, ss, b, &o, &final);
			block_outcome_release(&o);
			if (next == FLOW_RETRY) {
				note(r, NOTE_DIM, "  retrying");
				continue;
			}
			flow = next;
			break;
		}
		/* an environment problem (the database went away) that a retry got
		 * past is not the run's result */
		if (env_error && !verdict_ok(final))
			r->env_failure = true;
		ss->verdict = worse(ss->verdict, final);
	}
	rb_console_free(cc, ncc);
	return flow;
}

/* ---------- rollback ---------- */

bool run_rollback_available(const struct exec_run *r)
{
	if (r->rb->rollback.ncommands)
		return true;
	for (size_t i = 0; i < r->nstates; i++)
		if (r->states[i].ran && r->states[i].step->nrollback)
			return true;
	return false;
}

static void rollback_state(struct exec_run *r, const struct rb_command *const *cmds, size_t n,
			   const enum verdict *done)
{
	struct rollback_item *items = xcalloc(n ? n : 1, sizeof(*items));
	char **texts = xcalloc(n ? n : 1, sizeof(*texts));
	for (size_t i = 0; i < n; i++) {
		const struct rb_block *b = cmds[i]->block;
		const char *what = b->comment ? b->comment : b->text;
		texts[i] = xstrndup(what, strcspn(what, "\n"));
		items[i].text = texts[i];
		items[i].line = b->text_line;
		items[i].verdict = done[i];
	}
	struct event ev = { .type = EV_ROLLBACK_STATE, .rollback = items, .count = n };
	emit(r, &ev);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	free(items);
}

int run_rollback_commands(struct exec_run *r, struct step_state *ss,
			  const struct rb_command *const *cmds, size_t n, enum flow *flow)
{
	enum verdict *done = xcalloc(n ? n : 1, sizeof(*done));
	int ret = 0;

	*flow = FLOW_CONTINUE;
	for (size_t i = 0; i < n; i++) {
		const struct rb_block *b = cmds[i]->block;
		show_command(r, NULL, b, "rollback", i, n, b->text, b->text_line);
		if (r->interactive) {
			char *reason = NULL;
			enum before a = ask_before(r, &reason);
			if (a == BEFORE_SKIP) {
				skipped(r, ss, reason);
				free(reason);
				done[i] = V_SKIPPED;
				continue;
			}
			if (a != BEFORE_RUN) {
				*flow = a == BEFORE_QUIT ? FLOW_QUIT : FLOW_INTERRUPT;
				ret = -1;
				rollback_state(r, cmds, n, done);
				break;
			}
		}
		struct block_outcome o;
		if (block_start(r, ss, b, b->text, b->text_line, 1) < 0) {
			*flow = FLOW_QUIT;
			ret = -1;
			break;
		}
		execute(r, b, b->text, b->text_line, cmds[i]->expected ? cmds[i]->expected->text : NULL,
			cmds[i]->expected, &o);
		step_note_outcome(r, ss, b, &o);
		done[i] = o.verdict;
		bool ok = verdict_ok(o.verdict);
		if (!ok && o.verdict == V_DEVIATED && o.diff.len) {
			struct event ev = { .type = EV_DIFF, .text = o.diff.buf, .len = o.diff.len,
					    .step = ss->step, .block = b };
			emit(r, &ev);
		}
		block_outcome_release(&o);
		if (!ok) {
			ret = -1;
			if (done[i] == V_INTERRUPTED)
				*flow = FLOW_INTERRUPT;
			note(r, NOTE_ERROR, "  The rollback stops here: command %zu of %zu failed.", i + 1, n);
			rollback_state(r, cmds, n, done);
			break;
		}
	}
	free(done);
	return ret;
}

/* run_rollback_after undoes what the run did: the steps' own rollback
 * blocks in reverse order when the runbook gives them, otherwise the whole
 * Rollback Procedure. */
void run_rollback_after(struct exec_run *r)
{
	const struct rb_command **cmds = NULL;
	size_t n = 0, alloc = 0;
	bool per_step = false;
	enum flow flow;

	for (size_t i = 0; i < r->nstates; i++)
		if (r->states[i].ran && r->states[i].step->nrollback)
			per_step = true;
	if (per_step) {
		for (size_t i = r->nstates; i-- > 0;) {
			const struct rb_step *st = r->states[i].step;
			if (!r->states[i].ran)
				continue;
			for (size_t k = 0; k < st->nrollback; k++) {
				ALLOC_GROW(cmds, n + 1, alloc);
				cmds[n++] = &st->rollback[k];
			}
		}
	} else {
		for (size_t k = 0; k < r->rb->rollback.ncommands; k++) {
			ALLOC_GROW(cmds, n + 1, alloc);
			cmds[n++] = &r->rb->rollback.commands[k];
		}
	}
	struct event start = { .type = EV_ROLLBACK_START, .count = n,
			       .text = per_step ? "the steps' own rollback blocks, newest first"
						: "the Rollback Procedure" };
	emit(r, &start);
	struct step_state rs;
	memset(&rs, 0, sizeof(rs));
	rs.step = &r->rb->rollback;
	strbuf_init(&rs.last_output, 0);
	int64_t t0 = proc_now_ms();
	rs.ran = true;
	rs.verdict = V_PASSED;
	step_begin(r, &rs, false);
	if (!n) {
		note(r, NOTE_ERROR, "  the runbook has no rollback commands");
		r->rollback_failed = true;
		rs.verdict = V_FAILED;
	} else if (run_rollback_commands(r, &rs, cmds, n, &flow) < 0) {
		r->rollback_failed = true;
		rs.verdict = flow == FLOW_INTERRUPT ? V_INTERRUPTED : V_FAILED;
	} else {
		r->rolled_back = true;
	}
	struct event end = { .type = EV_ROLLBACK_END, .ok = r->rolled_back };
	emit(r, &end);
	rs.duration_ms = proc_now_ms() - t0;
	step_end(r, &rs);
	step_state_release(&rs);
	free(cmds);
}

/* ---------- steps ---------- */

/* run_step runs a step's commands (with prompts) and its verifications. */
static enum flow run_step(struct exec_run *r, struct step_state *ss)
{
	const struct rb_step *st = ss->step;
	enum flow flow = FLOW_CONTINUE;
	int64_t t0 = proc_now_ms();

	ss->verdict = V_PASSED;
	ss->ran = true;
	step_begin(r, ss, true);
	if (st->role == STEP_ROLLBACK) {
		const struct rb_command **cmds = xcalloc(st->ncommands ? st->ncommands : 1, sizeof(*cmds));
		for (size_t i = 0; i < st->ncommands; i++)
			cmds[i] = &st->commands[i];
		if (run_rollback_commands(r, ss, cmds, st->ncommands, &flow) < 0 && flow == FLOW_CONTINUE)
			ss->verdict = V_FAILED;
		free(cmds);
	} else {
		for (size_t i = 0; i < st->ncommands && flow == FLOW_CONTINUE; i++)
			flow = run_one(r, ss, &st->commands[i], st->role == STEP_MAIN ? "command" : "block", i,
				       st->ncommands, st->role == STEP_MAIN);
		for (size_t i = 0; i < st->nverifications && flow == FLOW_CONTINUE; i++)
			flow = run_one(r, ss, &st->verifications[i], "verification", i, st->nverifications, false);
		if (flow == FLOW_END_STEP)
			flow = FLOW_CONTINUE;
	}
	if (flow == FLOW_INTERRUPT)
		ss->verdict = V_INTERRUPTED;
	/* quit before the step's commands were all run: not passed */
	if (flow == FLOW_QUIT && verdict_ok(ss->verdict))
		ss->verdict = V_ABORTED;
	ss->duration_ms = proc_now_ms() - t0;
	step_end(r, ss);
	return flow;
}

int run_verify_only(struct exec_run *r, struct step_state *ss)
{
	const struct rb_step *st = ss->step;
	enum flow flow = FLOW_CONTINUE;
	note(r, NOTE_HEADING, "\nVerifying %s (in flight when the run stopped)", st->title);
	ss->verdict = V_PASSED;
	for (size_t i = 0; i < st->nverifications && flow == FLOW_CONTINUE; i++)
		flow = run_one(r, ss, &st->verifications[i], "verification", i, st->nverifications, false);
	return flow == FLOW_CONTINUE && verdict_ok(ss->verdict) ? 0 : -1;
}

/* ---------- the plan ---------- */

/* plan_states lists setup, steps and final verification with whether the
 * options select them. */
static void plan_states(struct exec_run *r)
{
	const struct runbook *rb = r->rb;
	size_t n = rb->nsteps + 2;
	r->states = xcalloc(n, sizeof(*r->states));
	for (size_t i = 0; i < n; i++)
		strbuf_init(&r->states[i].last_output, 0);
	if (rb->setup.line) {
		r->states[r->nstates].step = &rb->setup;
		r->states[r->nstates++].selected = true;
	}
	if (r->opts.mode == MODE_ROLLBACK) {
		r->states[r->nstates].step = &rb->rollback;
		r->states[r->nstates++].selected = true;
		return;
	}
	for (size_t i = 0; i < rb->nsteps; i++) {
		struct step_state *ss = &r->states[r->nstates++];
		ss->step = &rb->steps[i];
		ss->selected = r->opts.only ? rb->steps[i].number == r->opts.only
			       : r->opts.from ? rb->steps[i].number >= r->opts.from : true;
		ss->verdict = ss->selected ? V_PENDING : V_NOT_RUN;
	}
	if (rb->final.line) {
		r->states[r->nstates].step = &rb->final;
		r->states[r->nstates++].selected = !r->opts.only;
		if (r->opts.only)
			r->states[r->nstates - 1].verdict = V_NOT_RUN;
	}
}

/* dry_run reports, in order, every block that would run. */
static void dry_run(struct exec_run *r)
{
	size_t n = 0;
	struct event start = { .type = EV_RUN_START, .title = r->rb->title, .path = r->rb->path,
			       .count = r->rb->nsteps, .mode = r->opts.mode, .dry_run = true };
	emit(r, &start);
	for (size_t s = 0; s < r->nstates; s++) {
		const struct rb_step *st = r->states[s].step;
		if (!r->states[s].selected)
			continue;
		char counter[64];
		rb_step_counter(r->rb, st, counter, sizeof(counter));
		struct event head = { .type = EV_PLAN, .step = st, .counter = counter, .title = st->title };
		emit(r, &head);
		const struct rb_command *lists[2] = { st->commands, st->verifications };
		size_t counts[2] = { st->ncommands, st->nverifications };
		for (int l = 0; l < 2; l++)
			for (size_t i = 0; i < counts[l]; i++) {
				const struct rb_block *b = lists[l][i].block;
				if (!rb_block_runnable(b) || rb_attr_has(b, "skip"))
					continue;
				struct event ev = { .type = EV_PLAN, .step = st, .block = b, .index = ++n,
						    .line = b->text_line, .text = b->text, .path = r->rb->path,
						    .label = l ? "verification" : "command",
						    .duration_ms = exec_block_timeout_ms(&r->opts, b) };
				emit(r, &ev);
			}
	}
	struct event end = { .type = EV_RUN_END, .code = EXIT_OK, .count = n, .mode = r->opts.mode,
			     .dry_run = true };
	emit(r, &end);
}

/* ---------- the whole run ---------- */

static void remove_tree(struct exec_run *r, const char *dir)
{
	struct proc p = PROC_INIT;
	const char *argv[] = { "rm", "-rf", "--", dir, NULL };
	struct strbuf err = STRBUF_INIT;
	p.argv = argv;
	if (proc_run(&p, NULL, NULL, 10000, NULL, &err) < 0)
		note(r, NOTE_ERROR, "runbook: cannot remove %s: %s", dir, err.buf);
	strbuf_release(&err);
}

struct exec_run *exec_new(struct runbook *rb, struct exec_opts *opts, const struct run_ui *ui,
			  struct strbuf *err)
{
	struct exec_run *r = xcalloc(1, sizeof(*r));
	char tmpl[PATH_MAX];
	const char *tmp = getenv("TMPDIR");

	r->rb = rb;
	r->ui = ui;
	r->opts = *opts;
	r->opts.vars = NULL;
	r->opts.nvars = r->opts.vars_alloc = 0;
	for (size_t i = 0; i < opts->nvars; i++) {
		ALLOC_GROW(r->opts.vars, r->opts.nvars + 1, r->opts.vars_alloc);
		r->opts.vars[r->opts.nvars].name = xstrdup(opts->vars[i].name);
		r->opts.vars[r->opts.nvars].value = xstrdup(opts->vars[i].value);
		r->opts.nvars++;
	}
	r->interactive = opts->interactive;
	for (int w = 0; w < 3; w++)
		strbuf_init(&r->pending[w], 0);
	strbuf_init(&r->both, 0);
	r->target = target_new(opts);
	if (prepare_expectations(r, err) < 0) {
		exec_free(r);
		return NULL;
	}
	r->t0 = proc_now_ms();
	proc_signals_install();
	/* a file size limit makes write() fail instead of killing us */
	signal(SIGXFSZ, SIG_IGN);
	proc_guard_start();
	r->red.learn = true;
	redactor_add_environ(&r->red, environ);
	for (size_t i = 0; i < r->opts.nvars; i++)
		if (redact_secret_name(r->opts.vars[i].name))
			redactor_add_value(&r->red, r->opts.vars[i].value);
	snprintf(tmpl, sizeof(tmpl), "%s/runbook-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl)) {
		strbuf_addf(err, "cannot create a work directory in %s: %s", tmp && *tmp ? tmp : "/tmp",
			    strerror(errno));
		exec_free(r);
		return NULL;
	}
	r->work_dir = xstrdup(tmpl);
	proc_guard_remove(r->work_dir);
	plan_states(r);
	return r;
}

void exec_free(struct exec_run *r)
{
	if (!r)
		return;
	shell_free(r->sh);
	r->sh = NULL;
	target_free(r);
	release_expectations(r);
	judge_release(r);
	if (r->work_dir) {
		remove_tree(r, r->work_dir);
		free(r->work_dir);
	}
	free_vars(r->opts.vars, r->opts.nvars);
	free_vars(r->captured, r->ncaptured);
	for (size_t i = 0; i < r->nstates; i++)
		step_state_release(&r->states[i]);
	free(r->states);
	free(r->log_path);
	resume_release(r);
	for (int w = 0; w < 3; w++)
		strbuf_release(&r->pending[w]);
	strbuf_release(&r->both);
	redactor_release(&r->red);
	runbook_free(r->rb);
	free(r);
}

void exec_take_captures(struct exec_run *r, struct run_var **captures, size_t *n)
{
	*captures = r->captured;
	*n = r->ncaptured;
	r->captured = NULL;
	r->ncaptured = r->captured_alloc = 0;
}

const char *exec_log_path(const struct exec_run *r)
{
	return r->log_path;
}

static int run_steps(struct exec_run *r)
{
	enum flow act = FLOW_CONTINUE;
	bool failed = false;

	bool asked_inflight = false;
	act = r->resumed ? resume_plan(r) : target_preflight(r);
	for (size_t i = 0; i < r->nstates && act == FLOW_CONTINUE; i++) {
		struct step_state *ss = &r->states[i];
		if (r->resumed && !asked_inflight && ss->step->role != STEP_SETUP) {
			asked_inflight = true;
			act = resume_inflight(r);
			if (act != FLOW_CONTINUE)
				break;
		}
		if (!ss->selected)
			continue;
		if (ss->step->role == STEP_FINAL && failed && !r->opts.keep_going)
			break;
		act = run_step(r, ss);
		if (ss->step->role == STEP_SETUP && act == FLOW_CONTINUE && verdict_ok(ss->verdict))
			act = target_after_setup(r);
		if (ss->step->role == STEP_FINAL && act == FLOW_CONTINUE)
			check_final_state(r, ss);
		if (!verdict_ok(ss->verdict))
			failed = true;
		if (act == FLOW_CONTINUE && !verdict_ok(ss->verdict)) {
			if (ss->step->role == STEP_SETUP) {
				note(r, NOTE_ERROR, "\nThe setup failed: no step can run without it.");
				break;
			}
			if (!r->opts.keep_going)
				break;
		}
		if (r->rollback_requested || journal_failed(r))
			break;
	}
	if (act == FLOW_QUIT)
		r->exit_code = r->env_failure ? EXIT_ENV : EXIT_ABORTED;
	else if (act == FLOW_INTERRUPT || proc_sigint_count() > 0)
		r->exit_code = EXIT_INTERRUPTED;
	else if (r->env_failure)
		r->exit_code = EXIT_ENV;
	else if (failed)
		r->exit_code = EXIT_FAIL;
	else
		r->exit_code = EXIT_OK;
	if (r->rollback_requested && act != FLOW_INTERRUPT) {
		run_rollback_after(r);
		if (r->exit_code == EXIT_OK)
			r->exit_code = EXIT_FAIL;
	}
	return r->exit_code;
}

int exec_execute(struct exec_run *r)
{
	int code;

	if (r->opts.dry_run) {
		dry_run(r);
		return EXIT_OK;
	}
	struct event start = { .type = EV_RUN_START, .title = r->rb->title, .path = r->rb->path,
			       .count = r->rb->nsteps, .interactive = r->interactive, .mode = r->opts.mode };
	emit(r, &start);
	if (target_start(r) < 0 || journal_open(r, r->opts.mode == MODE_ROLLBACK ? "rollback" : "run") < 0) {
		code = r->usage_error ? EXIT_USAGE : EXIT_ENV;
		r->exit_code = code;
	} else {
		code = run_steps(r);
	}
	struct event end = { .type = EV_RUN_END, .code = code, .states = r->states, .count = r->nstates,
			     .duration_ms = proc_now_ms() - r->t0, .mode = r->opts.mode,
			     .rolled_back = r->rolled_back, .rollback_failed = r->rollback_failed };
	emit(r, &end);
	journal_close(r, code == EXIT_OK ? "completed" : code == EXIT_ABORTED ? "aborted"
			 : code == EXIT_INTERRUPTED ? "interrupted" : code == EXIT_ENV ? "environment" : "failed");
	return code;
}
