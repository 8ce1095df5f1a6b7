/* journal.c - the run's journal, written from its events (docs/log-format.md). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/runlog.h"
#include "base/version.h"
#include "base/xalloc.h"
#include "exec/exec_int.h"
#include "sign/sign.h"

#define TEXT_CAP (64 * 1024) /* output text kept in a record, per stream */

struct journal {
	struct runlog log;
	bool open;
	struct sign_key *key;
	bool failed;
};

static bool usable(const struct exec_run *r)
{
	return r->journal && r->journal->open && !r->journal->failed;
}

bool journal_failed(const struct exec_run *r)
{
	return r->journal && r->journal->failed;
}

struct runlog *journal_log(struct exec_run *r)
{
	return &r->journal->log;
}

struct sign_key *journal_key(struct exec_run *r)
{
	return r->journal ? r->journal->key : NULL;
}

void journal_set_open(struct exec_run *r, const char *path)
{
	r->journal->open = true;
	r->journal->log.defer_sync = true;
	free(r->log_path);
	r->log_path = xstrdup(path);
}

/* stop says that nothing more can be recorded, so nothing more runs. */
static void stop(struct exec_run *r, const char *why, bool intact)
{
	r->journal->failed = true;
	note(r, NOTE_ERROR, "\nrunbook: %s", why);
	if (intact)
		note(r, NOTE_ERROR, "Nothing more can be recorded, so nothing more runs. Everything "
				    "recorded so far is intact in %s.",
		     r->journal->log.path ? r->journal->log.path : "the journal");
	else
		note(r, NOTE_ERROR, "Nothing more can be recorded, so nothing more runs.");
	r->env_failure = true;
}

static int write_rec(struct exec_run *r, struct jrec *rec)
{
	struct strbuf err = STRBUF_INIT;
	if (!usable(r)) {
		jrec_free(rec);
		return r->journal ? -1 : 0;
	}
	int rc = runlog_emit(&r->journal->log, rec, &err);
	if (rc < 0)
		stop(r, err.buf, true);
	strbuf_release(&err);
	return rc;
}

int journal_write(struct exec_run *r, struct jrec *rec)
{
	return write_rec(r, rec);
}

/* sync makes every line written so far durable: called right before a
 * command runs, so each command costs one fdatasync() however many records
 * (step.end, step.start, block.start, ...) came since the last. */
static int sync_log(struct exec_run *r)
{
	struct strbuf err = STRBUF_INIT;
	if (!usable(r))
		return r->journal ? -1 : 0;
	int rc = runlog_sync(&r->journal->log, &err);
	if (rc < 0)
		stop(r, err.buf, false);
	strbuf_release(&err);
	return rc;
}

/* ---------- helpers ---------- */

void journal_file_sha256(const char *path, char out[SHA256_HEX_LEN + 1])
{
	struct strbuf data = STRBUF_INIT;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	strcpy(out, "");
	if (fd >= 0 && strbuf_read_fd(&data, fd) == 0)
		sha256_hex(data.buf, data.len, out);
	if (fd >= 0)
		close(fd);
	strbuf_release(&data);
}

static void add_step(struct jrec *rec, const struct rb_step *st)
{
	jrec_open(rec, "step");
	jrec_raw_str(rec, "role", rb_step_role_name(st->role));
	if (st->role == STEP_MAIN)
		jrec_int(rec, "number", st->number);
	jrec_str(rec, "title", st->title);
	jrec_int(rec, "line", st->line);
	jrec_close(rec);
}

static void add_stream(struct jrec *rec, const char *key, const struct capture *c)
{
	jrec_open(rec, key);
	jrec_int(rec, "bytes", (int64_t)c->total);
	jrec_raw_str(rec, "sha256", c->sha256);
	size_t keep = c->text.len < TEXT_CAP ? c->text.len : TEXT_CAP;
	jrec_strn(rec, "text", c->text.buf, keep);
	jrec_bool(rec, "truncated", c->total > keep);
	jrec_close(rec);
}

static struct jrec *rec_new(struct exec_run *r, const char *type)
{
	return runlog_rec(&r->journal->log, type);
}

/* ---------- opening ---------- */

static void add_start(struct exec_run *r, struct jrec *rec, const char *mode)
{
	jrec_open(rec, "tool");
	jrec_raw_str(rec, "name", "runbook");
	jrec_raw_str(rec, "version", RUNBOOK_VERSION);
	jrec_close(rec);
	jrec_raw_str(rec, "mode", mode);
	char sha[SHA256_HEX_LEN + 1];
	journal_file_sha256(r->rb->path, sha);
	char real[PATH_MAX];
	jrec_open(rec, "runbook");
	jrec_str(rec, "path", r->rb->path);
	jrec_str(rec, "realpath", realpath(r->rb->path, real) ? real : r->rb->path);
	jrec_raw_str(rec, "sha256", sha);
	jrec_str(rec, "title", r->rb->title);
	jrec_int(rec, "steps", (int64_t)r->rb->nsteps);
	jrec_close(rec);
	struct passwd *pw = getpwuid(getuid());
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	jrec_open(rec, "operator");
	jrec_str(rec, "user", pw ? pw->pw_name : "?");
	jrec_int(rec, "uid", (int64_t)getuid());
	jrec_str(rec, "host", host);
	jrec_bool(rec, "interactive", r->interactive);
	jrec_close(rec);
	target_add_json(r, rec);
	jrec_open(rec, "options");
	jrec_bool(rec, "yes", r->opts.yes);
	jrec_int(rec, "from", r->opts.from);
	jrec_int(rec, "only", r->opts.only);
	jrec_int(rec, "timeout_ms", r->opts.timeout_ms);
	jrec_bool(rec, "keep_going", r->opts.keep_going);
	jrec_bool(rec, "accept_deviations", r->opts.accept_deviations);
	jrec_bool(rec, "auto_fix", r->opts.auto_fix);
	jrec_raw_str(rec, "on_fail", r->opts.on_fail_rollback ? "rollback" : "stop");
	jrec_close(rec);
	jrec_open_array(rec, "vars");
	for (size_t i = 0; i < r->opts.nvars; i++) {
		jrec_open(rec, NULL);
		jrec_raw_str(rec, "name", r->opts.vars[i].name);
		jrec_str(rec, "value", r->opts.vars[i].value);
		jrec_close(rec);
	}
	jrec_close(rec);
	if (r->journal->key) {
		jrec_open(rec, "signing");
		jrec_raw_str(rec, "key", sign_key_fingerprint(r->journal->key));
		jrec_raw_str(rec, "public", sign_key_public(r->journal->key));
		jrec_raw_str(rec, "namespace", RUNLOG_NAMESPACE);
		jrec_close(rec);
	}
}

int journal_open(struct exec_run *r, const char *mode)
{
	struct journal *j = xcalloc(1, sizeof(*j));
	struct strbuf err = STRBUF_INIT;
	const char *key_path = r->opts.sign_key ? r->opts.sign_key : getenv("RUNBOOK_SIGNING_KEY");
	char *path = NULL;

	r->journal = j;
	if (key_path && *key_path) {
		j->key = sign_key_load(key_path, &err);
		if (!j->key) {
			note(r, NOTE_FATAL, "runbook: %s", err.buf);
			strbuf_release(&err);
			return -1;
		}
	}
	if (r->opts.resume) {
		int rc = resume_open(r, &err);
		if (rc < 0)
			note(r, NOTE_FATAL, "runbook: %s", err.buf);
		strbuf_release(&err);
		return rc;
	}
	path = r->opts.log_path ? xstrdup(r->opts.log_path) : runlog_default_path(r->rb->path);
	if (runlog_open_new(&j->log, path, &r->red, &err) < 0 && !r->opts.log_path) {
		/* two runs in the same second: add a counter */
		for (int k = 2; k < 100 && err.len; k++) {
			strbuf_reset(&err);
			free(path);
			char *base = runlog_default_path(r->rb->path);
			base[strlen(base) - 6] = '\0';
			path = xasprintf("%s-%d.jsonl", base, k);
			free(base);
			if (runlog_open_new(&j->log, path, &r->red, &err) == 0)
				break;
		}
	}
	if (err.len) {
		note(r, NOTE_FATAL, "runbook: %s", err.buf);
		strbuf_release(&err);
		free(path);
		return -1;
	}
	journal_set_open(r, path);
	/* one fdatasync per command (block.start), and the SHA-512 of the
	 * whole file only when it will be signed */
	j->log.hash_whole = j->key != NULL;

	struct jrec *rec = rec_new(r, "run.start");
	add_start(r, rec, mode);
	strbuf_release(&err);
	if (write_rec(r, rec) < 0) {
		free(path);
		return -1;
	}
	note(r, NOTE_DIM, "journal: %s%s", path, j->key ? ", signed" : "");
	free(path);
	return 0;
}

/* ---------- records from events ---------- */

static void prereq_rec(struct exec_run *r, const struct event *ev)
{
	struct jrec *rec = rec_new(r, "prereq");
	jrec_str(rec, "item", ev->text);
	jrec_int(rec, "line", ev->line);
	jrec_raw_str(rec, "status", ev->status);
	jrec_str(rec, "evidence", ev->reason ? ev->reason : ev->by ? ev->by : ev->evidence);
	write_rec(r, rec);
}

static void step_end_rec(struct exec_run *r, const struct event *ev)
{
	struct strbuf err = STRBUF_INIT;
	struct jrec *rec = rec_new(r, "step.end");
	add_step(rec, ev->step);
	jrec_raw_str(rec, "verdict", verdict_name(ev->verdict));
	jrec_int(rec, "duration_ms", ev->duration_ms);
	if (ev->reason)
		jrec_str(rec, "note", ev->reason);
	if (write_rec(r, rec) < 0 || !r->journal->key)
		return;
	char *label = ev->step->role == STEP_MAIN ? xasprintf("step %d", ev->step->number)
						  : xstrdup(rb_step_role_name(ev->step->role));
	if (runlog_checkpoint(&r->journal->log, r->journal->key, label, &err) < 0) {
		r->journal->failed = true;
		note(r, NOTE_ERROR, "runbook: %s", err.buf);
		r->env_failure = true;
	}
	free(label);
	strbuf_release(&err);
}

static int block_start_rec(struct exec_run *r, const struct event *ev)
{
	struct jrec *rec = rec_new(r, "block.start");
	add_step(rec, ev->step);
	jrec_int(rec, "block", ev->block->index);
	jrec_raw_str(rec, "kind", rb_block_kind_name(ev->block->kind));
	jrec_int(rec, "line", ev->line);
	jrec_int(rec, "attempt", ev->attempt);
	if (ev->comment)
		jrec_str(rec, "comment", ev->comment);
	jrec_str(rec, "command", ev->text);
	if (write_rec(r, rec) < 0)
		return -1;
	return sync_log(r);
}

static void block_end_rec(struct exec_run *r, const struct event *ev)
{
	const struct block_outcome *o = ev->outcome;
	char ts[40];
	struct jrec *rec = rec_new(r, "block.end");
	add_step(rec, ev->step);
	jrec_int(rec, "block", ev->block->index);
	jrec_int(rec, "line", ev->line);
	runlog_iso_time(o->start_wall_ms, ts);
	jrec_raw_str(rec, "started", ts);
	runlog_iso_time(o->start_wall_ms + o->duration_ms, ts);
	jrec_raw_str(rec, "ended", ts);
	jrec_int(rec, "duration_ms", o->duration_ms);
	jrec_int(rec, "exit", o->exit_code);
	if (o->exit_code > 128 && o->shell_died)
		jrec_int(rec, "signal", o->exit_code - 128);
	jrec_raw_str(rec, "verdict", verdict_name(o->verdict));
	jrec_str(rec, "reason", o->reason);
	if (*o->sqlstate)
		jrec_raw_str(rec, "sqlstate", o->sqlstate);
	if (o->have_capture) {
		add_stream(rec, "stdout", &o->out);
		add_stream(rec, "stderr", &o->err);
	}
	if (o->diff.len)
		jrec_strn(rec, "diff", o->diff.buf, o->diff.len < TEXT_CAP ? o->diff.len : TEXT_CAP);
	if (o->ncaptures) {
		jrec_open_array(rec, "captures");
		for (size_t i = 0; i < o->ncaptures; i++) {
			jrec_open(rec, NULL);
			jrec_raw_str(rec, "name", o->captures[i].name);
			jrec_str(rec, "value", o->captures[i].value);
			jrec_close(rec);
		}
		jrec_close(rec);
	}
	if (o->state_lost)
		jrec_bool(rec, "shell_state_lost", true);
	if (o->conn_lost)
		jrec_bool(rec, "connection_lost", true);
	write_rec(r, rec);
}

static void suggestions_rec(struct exec_run *r, const struct event *ev)
{
	struct jrec *rec = rec_new(r, "suggestions");
	add_step(rec, ev->step);
	jrec_int(rec, "block", ev->block->index);
	jrec_open_array(rec, "rows");
	for (size_t i = 0; i < ev->count && i < 5; i++) {
		const struct suggestion *s = &ev->suggestions[i];
		jrec_open(rec, NULL);
		jrec_int(rec, "line", s->line);
		jrec_str(rec, "error", s->error);
		jrec_str(rec, "cause", s->cause);
		jrec_str(rec, "solution", s->solution);
		jrec_str(rec, "why", s->why);
		jrec_bool(rec, "pattern_hit", s->pattern_hit);
		jrec_int(rec, "score_pct", (int64_t)(s->score * 100 + 0.5));
		jrec_close(rec);
	}
	jrec_close(rec);
	jrec_bool(rec, "none_matched", ev->count == 0);
	write_rec(r, rec);
}

int journal_event(struct exec_run *r, const struct event *ev)
{
	struct jrec *rec;

	if (ev->type == EV_BLOCK_START)
		return r->journal ? (usable(r) ? block_start_rec(r, ev) : -1) : 0;
	if (!usable(r))
		return 0;
	switch (ev->type) {
	case EV_PREREQ:
		prereq_rec(r, ev);
		break;
	case EV_TARGET:
		rec = rec_new(r, "target");
		target_add_json(r, rec);
		write_rec(r, rec);
		break;
	case EV_STEP_START:
		rec = rec_new(r, "step.start");
		add_step(rec, ev->step);
		write_rec(r, rec);
		break;
	case EV_STEP_END:
		step_end_rec(r, ev);
		break;
	case EV_BLOCK_END:
		if (!ev->label || strcmp(ev->label, "fix"))
			block_end_rec(r, ev);
		break;
	case EV_DECISION:
		rec = rec_new(r, "decision");
		jrec_raw_str(rec, "choice", ev->choice);
		jrec_str(rec, "reason", ev->reason);
		jrec_str(rec, "about", ev->about);
		jrec_raw_str(rec, "by", ev->by);
		write_rec(r, rec);
		break;
	case EV_SUGGESTIONS:
		suggestions_rec(r, ev);
		break;
	case EV_FINAL_STATE:
		if (!ev->name)
			break;
		rec = rec_new(r, "final_state");
		jrec_str(rec, "metric", ev->name);
		jrec_str(rec, "expected", ev->expected);
		jrec_str(rec, "actual", ev->value);
		jrec_bool(rec, "ok", ev->ok);
		write_rec(r, rec);
		break;
	case EV_MONITOR:
		rec = rec_new(r, "monitor");
		jrec_str(rec, "summary", ev->text);
		jrec_int(rec, "blocked_by_us", (int64_t)ev->count);
		jrec_int(rec, "blocking_us", (int64_t)ev->index);
		jrec_int(rec, "longest_blocked_ms", ev->duration_ms);
		write_rec(r, rec);
		break;
	default:
		break;
	}
	return 0;
}

/* ---------- closing ---------- */

/* resumable_stop says whether a run that ends with result stopped for a
 * reason outside the runbook (Ctrl-C or SIGTERM, the database went away, a
 * journal that cannot be written) after one of its steps began: such a run
 * gets no run.end, so that `runbook run --resume` continues it, with the
 * step that was running asked about, exactly as after a crash.  A run
 * stopped before any step (a failed preflight, a busy run lock) simply ends:
 * nothing of it needs resuming. */
static bool resumable_stop(struct exec_run *r, const char *result)
{
	if (r->opts.mode != MODE_RUN || (strcmp(result, "interrupted") && strcmp(result, "environment")))
		return false;
	if (r->resumed)
		return true; /* the journal holds the steps of the earlier sessions */
	for (size_t i = 0; i < r->nstates; i++)
		if (r->states[i].ran && r->states[i].step->role != STEP_SETUP)
			return true;
	return false;
}

static void run_end_rec(struct exec_run *r, const char *result)
{
	size_t counts[V_INTERRUPTED + 1] = { 0 };
	struct jrec *rec = rec_new(r, "run.end");
	jrec_raw_str(rec, "result", result);
	jrec_int(rec, "exit", r->exit_code);
	for (size_t i = 0; i < r->nstates; i++)
		if (r->states[i].step->role == STEP_MAIN)
			counts[r->states[i].verdict]++;
	jrec_open(rec, "steps");
	for (int v = 0; v <= V_INTERRUPTED; v++)
		if (counts[v])
			jrec_int(rec, verdict_name((enum verdict)v), (int64_t)counts[v]);
	jrec_close(rec);
	jrec_int(rec, "duration_ms", proc_now_ms() - r->t0);
	if (r->rolled_back || r->rollback_failed)
		jrec_raw_str(rec, "rollback", r->rolled_back ? "done" : "failed");
	write_rec(r, rec);
}

void journal_close(struct exec_run *r, const char *result)
{
	struct journal *j = r->journal;
	struct strbuf err = STRBUF_INIT;

	if (!j)
		return;
	bool resumable = resumable_stop(r, result);
	if (resumable && j->open) {
		/* --resume alone looks in .runbook/logs: name a journal kept elsewhere */
		bool named = r->opts.log_path || r->opts.resume_log;
		note(r, NOTE_WARN, "journal: %s records a run that stopped before it finished; continue it with "
				   "runbook run --resume%s%s %s",
		     r->log_path, named ? "=" : "", named ? r->log_path : "", r->rb->path);
	}
	if (usable(r) && !resumable)
		run_end_rec(r, result);
	if (!j->open)
		runlog_close(&j->log);
	if (j->open) {
		bool was_failed = j->failed;
		if (runlog_finish(&j->log, was_failed ? NULL : j->key, &err) < 0)
			note(r, NOTE_FATAL, "runbook: %s", err.buf);
		else if (j->key && !was_failed)
			note(r, NOTE_DIM, "journal: %s, signature %s.sig", r->log_path, r->log_path);
	}
	sign_key_free(j->key);
	free(j);
	r->journal = NULL;
	strbuf_release(&err);
}
