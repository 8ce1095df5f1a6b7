/* cli_journal.c - what `runbook run` records in its journal, and resuming
 * a run from one. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "match/match.h"
#include "audit/runlog.h"
#include "sign/sign.h"
#include "sys/term.h"
#include "base/xalloc.h"

#define TEXT_CAP (64 * 1024) /* output text kept in a record, per stream */

struct journal {
	struct runlog log;
	bool open;
	struct sign_key *key;
	bool failed;
	char error[512];
};

static struct journal *jr(struct run *r)
{
	return r->journal;
}

static bool usable(struct run *r)
{
	return r->journal && jr(r)->open && !jr(r)->failed;
}

static int emit(struct run *r, struct jrec *rec)
{
	struct journal *j = jr(r);
	struct strbuf err = STRBUF_INIT;
	if (!usable(r)) {
		jrec_free(rec);
		return r->journal ? -1 : 0;
	}
	if (runlog_emit(&j->log, rec, &err) < 0) {
		j->failed = true;
		snprintf(j->error, sizeof(j->error), "%s", err.buf);
		run_out(r, "\n%srunbook: %s%s\n%sNothing more can be recorded, so nothing more runs. Everything "
			   "recorded so far is intact in %s.%s\n",
			term_c(TC_RED), err.buf, term_c(TC_RESET), term_c(TC_RED), j->log.path ? j->log.path : "the journal",
			term_c(TC_RESET));
		strbuf_release(&err);
		r->env_failure = true;
		return -1;
	}
	strbuf_release(&err);
	return 0;
}

/* journal_sync makes every line written so far durable: called right
 * before a command runs, so each command costs one fdatasync() however
 * many records (step.end, step.start, block.start, ...) came since the
 * last. */
static int journal_sync(struct run *r)
{
	struct journal *j = jr(r);
	struct strbuf err = STRBUF_INIT;
	if (!usable(r))
		return r->journal ? -1 : 0;
	if (runlog_sync(&j->log, &err) < 0) {
		j->failed = true;
		snprintf(j->error, sizeof(j->error), "%s", err.buf);
		run_out(r, "\n%srunbook: %s%s\n%sNothing more can be recorded, so nothing more runs.%s\n",
			term_c(TC_RED), err.buf, term_c(TC_RESET), term_c(TC_RED), term_c(TC_RESET));
		strbuf_release(&err);
		r->env_failure = true;
		return -1;
	}
	strbuf_release(&err);
	return 0;
}

bool journal_failed(struct run *r)
{
	return r->journal && jr(r)->failed;
}

/* ---------- options ---------- */

int journal_option(struct run *r, int c, const char *arg)
{
	switch (c) {
	case 1011:
		r->opts.log_path = arg;
		return 0;
	case 1012:
		r->opts.sign_key = arg;
		return 0;
	case 1013:
		r->opts.resume = true;
		r->opts.resume_log = arg;
		return 0;
	case 1014:
		r->opts.allow_changed = true;
		return 0;
	case 1015:
		if (strcmp(arg, "verify") && strcmp(arg, "rerun") && strncmp(arg, "done:", 5))
			return -1;
		r->opts.in_flight = arg;
		return 0;
	}
	return -1;
}

void journal_usage(void)
{
	printf("      --log FILE          the journal (default .runbook/logs/<runbook>-<UTC time>.jsonl)\n"
	       "      --sign KEY          sign the journal with an OpenSSH ed25519 key (or RUNBOOK_SIGNING_KEY)\n"
	       "      --resume[=LOG]      continue the newest unfinished run of this runbook (or LOG)\n"
	       "      --allow-changed     resume even though the runbook changed since (recorded)\n"
	       "      --in-flight=verify|rerun|done:REASON\n"
	       "                          unattended resume: what to do with the step a crash interrupted\n");
}

/* ---------- helpers ---------- */

static void file_sha256(const char *path, char out[SHA256_HEX_LEN + 1])
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

/* ---------- opening ---------- */

int journal_open(struct run *r, const char *mode)
{
	struct journal *j = xcalloc(1, sizeof(*j));
	struct strbuf err = STRBUF_INIT;
	const char *key_path = r->opts.sign_key ? r->opts.sign_key : getenv("RUNBOOK_SIGNING_KEY");
	char *path = NULL;

	r->journal = j;
	if (key_path && *key_path) {
		j->key = sign_key_load(key_path, &err);
		if (!j->key) {
			fprintf(stderr, "runbook: %s\n", err.buf);
			strbuf_release(&err);
			return -1;
		}
	}
	if (r->opts.resume) {
		if (journal_resume(r, &err) < 0) {
			fprintf(stderr, "runbook: %s\n", err.buf);
			strbuf_release(&err);
			return -1;
		}
		strbuf_release(&err);
		return 0;
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
		fprintf(stderr, "runbook: %s\n", err.buf);
		strbuf_release(&err);
		free(path);
		return -1;
	}
	j->open = true;
	r->log_path = path;
	/* one fdatasync per command (journal_block_start), and the SHA-512 of
	 * the whole file only when it will be signed */
	j->log.defer_sync = true;
	j->log.hash_whole = j->key != NULL;

	struct jrec *rec = runlog_rec(&j->log, "run.start");
	jrec_open(rec, "tool");
	jrec_raw_str(rec, "name", "runbook");
	jrec_raw_str(rec, "version", RUNBOOK_VERSION);
	jrec_close(rec);
	jrec_raw_str(rec, "mode", mode);
	char sha[SHA256_HEX_LEN + 1];
	file_sha256(r->rb->path, sha);
	char real[4096];
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
	journal_add_target(r, rec);
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
	if (j->key) {
		jrec_open(rec, "signing");
		jrec_raw_str(rec, "key", sign_key_fingerprint(j->key));
		jrec_raw_str(rec, "public", sign_key_public(j->key));
		jrec_raw_str(rec, "namespace", RUNLOG_NAMESPACE);
		jrec_close(rec);
	}
	strbuf_release(&err);
	if (emit(r, rec) < 0)
		return -1;
	run_out(r, "%sjournal: %s%s%s\n", term_c(TC_DIM), path, j->key ? ", signed" : "", term_c(TC_RESET));
	return 0;
}

/* ---------- records ---------- */

void record_prereq(struct run *r, const struct rb_item *it, const char *status, const char *evidence)
{
	if (!usable(r))
		return;
	struct jrec *rec = runlog_rec(&jr(r)->log, "prereq");
	jrec_str(rec, "item", it->text);
	jrec_int(rec, "line", it->line);
	jrec_raw_str(rec, "status", status);
	jrec_str(rec, "evidence", evidence);
	emit(r, rec);
}

void record_target(struct run *r)
{
	if (!usable(r))
		return;
	struct jrec *rec = runlog_rec(&jr(r)->log, "target");
	journal_add_target(r, rec);
	emit(r, rec);
}

void journal_step_start(struct run *r, struct step_state *ss)
{
	if (!usable(r))
		return;
	struct jrec *rec = runlog_rec(&jr(r)->log, "step.start");
	add_step(rec, ss->step);
	emit(r, rec);
}

void journal_step_end(struct run *r, struct step_state *ss)
{
	struct strbuf err = STRBUF_INIT;
	char label[64];
	if (!usable(r))
		return;
	struct jrec *rec = runlog_rec(&jr(r)->log, "step.end");
	add_step(rec, ss->step);
	jrec_raw_str(rec, "verdict", verdict_name(ss->verdict));
	jrec_int(rec, "duration_ms", ss->duration_ms);
	if (ss->note)
		jrec_str(rec, "note", ss->note);
	if (emit(r, rec) < 0)
		return;
	if (!jr(r)->key)
		return;
	if (ss->step->role == STEP_MAIN)
		snprintf(label, sizeof(label), "step %d", ss->step->number);
	else
		snprintf(label, sizeof(label), "%s", rb_step_role_name(ss->step->role));
	if (runlog_checkpoint(&jr(r)->log, jr(r)->key, label, &err) < 0) {
		jr(r)->failed = true;
		run_out(r, "%srunbook: %s%s\n", term_c(TC_RED), err.buf, term_c(TC_RESET));
		r->env_failure = true;
	}
	strbuf_release(&err);
}

int journal_block_start(struct run *r, struct step_state *ss, const struct rb_block *b, const char *text,
			int line, int attempt)
{
	if (!r->journal)
		return 0;
	if (!usable(r))
		return -1;
	struct jrec *rec = runlog_rec(&jr(r)->log, "block.start");
	add_step(rec, ss->step);
	jrec_int(rec, "block", b->index);
	jrec_raw_str(rec, "kind", rb_block_kind_name(b->kind));
	jrec_int(rec, "line", line);
	jrec_int(rec, "attempt", attempt);
	if (b->comment)
		jrec_str(rec, "comment", b->comment);
	jrec_str(rec, "command", text);
	if (emit(r, rec) < 0)
		return -1;
	return journal_sync(r);
}

void journal_block_end(struct run *r, struct step_state *ss, const struct rb_block *b, int line,
		       const struct block_outcome *o)
{
	char ts[40];
	if (!usable(r))
		return;
	struct jrec *rec = runlog_rec(&jr(r)->log, "block.end");
	add_step(rec, ss->step);
	jrec_int(rec, "block", b->index);
	jrec_int(rec, "line", line);
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
	emit(r, rec);
}

void record_decision(struct run *r, const char *choice, const char *reason, const char *about)
{
	if (!usable(r))
		return;
	struct jrec *rec = runlog_rec(&jr(r)->log, "decision");
	jrec_raw_str(rec, "choice", choice);
	jrec_str(rec, "reason", reason);
	jrec_str(rec, "about", about);
	jrec_raw_str(rec, "by", r->interactive ? "operator" : "policy");
	emit(r, rec);
}

void record_suggestions(struct run *r, struct step_state *ss, const struct rb_block *b,
			const struct rb_failure_row *rows, const struct failure_hit *hits, size_t n)
{
	if (!usable(r))
		return;
	struct jrec *rec = runlog_rec(&jr(r)->log, "suggestions");
	add_step(rec, ss->step);
	jrec_int(rec, "block", b->index);
	jrec_open_array(rec, "rows");
	for (size_t i = 0; i < n && i < 5; i++) {
		const struct rb_failure_row *row = &rows[hits[i].row];
		jrec_open(rec, NULL);
		jrec_int(rec, "line", row->line);
		jrec_str(rec, "error", row->error);
		jrec_str(rec, "cause", row->cause);
		jrec_str(rec, "solution", row->solution);
		jrec_str(rec, "why", hits[i].why);
		jrec_bool(rec, "pattern_hit", hits[i].pattern_hit);
		jrec_int(rec, "score_pct", (int64_t)(hits[i].score * 100 + 0.5));
		jrec_close(rec);
	}
	jrec_close(rec);
	jrec_bool(rec, "none_matched", n == 0);
	emit(r, rec);
}

void record_final_state(struct run *r, const char *metric, const char *expected, const char *actual,
			bool ok)
{
	if (!usable(r))
		return;
	struct jrec *rec = runlog_rec(&jr(r)->log, "final_state");
	jrec_str(rec, "metric", metric);
	jrec_str(rec, "expected", expected);
	jrec_str(rec, "actual", actual);
	jrec_bool(rec, "ok", ok);
	emit(r, rec);
}

void record_monitor(struct run *r, const char *summary, int64_t longest_blocked_ms, size_t blocked,
		    size_t blocking)
{
	if (!usable(r))
		return;
	struct jrec *rec = runlog_rec(&jr(r)->log, "monitor");
	jrec_str(rec, "summary", summary);
	jrec_int(rec, "blocked_by_us", (int64_t)blocked);
	jrec_int(rec, "blocking_us", (int64_t)blocking);
	jrec_int(rec, "longest_blocked_ms", longest_blocked_ms);
	emit(r, rec);
}

/* resumable_stop says whether a run that ends with result stopped for a
 * reason outside the runbook (Ctrl-C or SIGTERM, the database went away, a
 * journal that cannot be written) after one of its steps began: such a run
 * gets no run.end, so that `runbook run --resume` continues it, with the
 * step that was running asked about, exactly as after a crash.  A run
 * stopped before any step (a failed preflight, a busy run lock) simply ends:
 * nothing of it needs resuming. */
static bool resumable_stop(struct run *r, const char *result)
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

void journal_close(struct run *r, const char *result)
{
	struct journal *j = jr(r);
	struct strbuf err = STRBUF_INIT;
	size_t counts[V_INTERRUPTED + 1] = { 0 };

	if (!j)
		return;
	bool resumable = resumable_stop(r, result);
	if (resumable && j->open) {
		/* --resume alone looks in .runbook/logs: name a journal kept elsewhere */
		bool named = r->opts.log_path || r->opts.resume_log;
		run_out(r, "%sjournal: %s records a run that stopped before it finished; continue it with "
			   "runbook run --resume%s%s %s%s\n",
			term_c(TC_YELLOW), r->log_path, named ? "=" : "", named ? r->log_path : "", r->rb->path,
			term_c(TC_RESET));
	}
	if (usable(r) && !resumable) {
		struct jrec *rec = runlog_rec(&j->log, "run.end");
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
		emit(r, rec);
	}
	if (!j->open)
		runlog_close(&j->log);
	if (j->open) {
		bool was_failed = j->failed;
		if (runlog_finish(&j->log, was_failed ? NULL : j->key, &err) < 0)
			fprintf(stderr, "runbook: %s\n", err.buf);
		else if (j->key && !was_failed)
			run_out(r, "%sjournal: %s, signature %s.sig%s\n", term_c(TC_DIM), r->log_path, r->log_path,
				term_c(TC_RESET));
	}
	sign_key_free(j->key);
	free(j);
	r->journal = NULL;
	strbuf_release(&err);
}

/* ---------- resuming ---------- */

struct resume_info {
	char *path;
	char sha256[SHA256_HEX_LEN + 1];
	char **done;          /* step keys ("setup", "step-2", "final") with their verdicts */
	char **done_verdict;
	size_t ndone, done_alloc;
	char *inflight;       /* key of the step started and not ended, or NULL */
	char *inflight_cmd;   /* its last command started and not ended, or NULL */
	char *inflight_ts;
	char *cut_short;      /* the step's last command, when it was interrupted or lost its database */
	bool inflight_cut;    /* inflight_cmd ended so, rather than never */
	bool finished;
};

static char *step_key(json_t *step)
{
	const char *role = json_string_value(json_object_get(step, "role"));
	if (!role)
		return xstrdup("?");
	if (!strcmp(role, "step"))
		return xasprintf("step-%lld", (long long)json_integer_value(json_object_get(step, "number")));
	return xstrdup(role);
}

static char *state_key(const struct rb_step *st)
{
	if (st->role == STEP_MAIN)
		return xasprintf("step-%d", st->number);
	return xstrdup(rb_step_role_name(st->role));
}

static void resume_info_release(struct resume_info *ri)
{
	for (size_t i = 0; i < ri->ndone; i++) {
		free(ri->done[i]);
		free(ri->done_verdict[i]);
	}
	free(ri->done);
	free(ri->done_verdict);
	free(ri->path);
	free(ri->inflight);
	free(ri->inflight_cmd);
	free(ri->inflight_ts);
	free(ri->cut_short);
	memset(ri, 0, sizeof(*ri));
}

/* newest_unfinished finds .runbook/logs/<name>-*.jsonl without a run.end. */
static char *newest_unfinished(const char *runbook_path)
{
	char *def = runlog_default_path(runbook_path);
	char *slash = strrchr(def, '/');
	*slash = '\0';
	const char *dir = def;
	/* the name prefix: "<name>-" */
	char *prefix = xstrdup(slash + 1);
	char *dash = strrchr(prefix, '-');
	if (dash)
		dash[1] = '\0';
	DIR *d = opendir(dir);
	char *best = NULL;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (strncmp(e->d_name, prefix, strlen(prefix)) || l < 6 ||
			    strcmp(e->d_name + l - 6, ".jsonl"))
				continue;
			char *p = xasprintf("%s/%s", dir, e->d_name);
			struct strbuf data = STRBUF_INIT;
			int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			bool finished = true;
			if (fd >= 0 && strbuf_read_fd(&data, fd) == 0) {
				/* a journal whose first line a crash cut short records
				 * nothing that ran: there is nothing in it to resume */
				const char *nl = memchr(data.buf, '\n', data.len);
				const char *start = strstr(data.buf, "\"type\":\"run.start\"");
				finished = !nl || !start || start > nl ||
					   strstr(data.buf, "\"type\":\"run.end\"") != NULL;
			}
			if (fd >= 0)
				close(fd);
			strbuf_release(&data);
			/* names sort by their UTC timestamp */
			if (!finished && (!best || strcmp(p, best) > 0)) {
				free(best);
				best = p;
			} else {
				free(p);
			}
		}
		closedir(d);
	}
	free(prefix);
	free(def);
	return best;
}

static int read_resume(struct run *r, const char *path, struct resume_info *ri, struct strbuf *err)
{
	struct strbuf data = STRBUF_INIT;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int ret = -1;
	bool have_start = false;

	if (fd < 0 || strbuf_read_fd(&data, fd) < 0) {
		strbuf_addf(err, "journal %s: %s", path, strerror(errno));
		goto out;
	}
	for (char *p = data.buf; p < data.buf + data.len;) {
		char *nl = memchr(p, '\n', (size_t)(data.buf + data.len - p));
		if (!nl)
			break; /* an incomplete last line: dropped when the log is reopened */
		json_error_t je;
		json_t *o = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, &je);
		p = nl + 1;
		if (!o)
			continue;
		const char *type = json_string_value(json_object_get(o, "type"));
		if (!type) {
			json_decref(o);
			continue;
		}
		if (!strcmp(type, "run.start")) {
			have_start = true;
			const char *sha = json_string_value(json_object_get(json_object_get(o, "runbook"), "sha256"));
			snprintf(ri->sha256, sizeof(ri->sha256), "%s", sha ? sha : "");
			json_t *vars = json_object_get(o, "vars");
			size_t i;
			json_t *v;
			json_array_foreach(vars, i, v) {
				const char *name = json_string_value(json_object_get(v, "name"));
				const char *value = json_string_value(json_object_get(v, "value"));
				bool given = false;
				for (size_t k = 0; k < r->opts.nvars && name; k++)
					given |= !strcmp(r->opts.vars[k].name, name);
				if (!name || !value || given)
					continue;
				if (strstr(value, REDACT_MASK)) {
					run_out(r, "%sresume: --var %s was a secret; it is not in the journal: give it again%s\n",
						term_c(TC_YELLOW), name, term_c(TC_RESET));
					continue;
				}
				ALLOC_GROW(r->opts.vars, r->opts.nvars + 1, r->opts.vars_alloc);
				r->opts.vars[r->opts.nvars].name = xstrdup(name);
				r->opts.vars[r->opts.nvars].value = xstrdup(value);
				r->opts.nvars++;
			}
		} else if (!strcmp(type, "step.start")) {
			free(ri->inflight);
			ri->inflight = step_key(json_object_get(o, "step"));
			free(ri->inflight_cmd);
			ri->inflight_cmd = NULL;
			free(ri->cut_short);
			ri->cut_short = NULL;
		} else if (!strcmp(type, "block.start")) {
			free(ri->inflight_cmd);
			free(ri->inflight_ts);
			const char *c = json_string_value(json_object_get(o, "command"));
			const char *ts = json_string_value(json_object_get(o, "ts"));
			ri->inflight_cmd = xstrdup(c ? c : "");
			ri->inflight_ts = xstrdup(ts ? ts : "");
		} else if (!strcmp(type, "block.end")) {
			const char *v = json_string_value(json_object_get(o, "verdict"));
			if ((v && !strcmp(v, "interrupted")) || json_is_true(json_object_get(o, "connection_lost"))) {
				/* stopped halfway: its effect is not known */
				free(ri->cut_short);
				ri->cut_short = ri->inflight_cmd;
				ri->inflight_cmd = NULL;
			} else {
				free(ri->cut_short);
				ri->cut_short = NULL;
			}
			free(ri->inflight_cmd);
			ri->inflight_cmd = NULL;
			size_t i;
			json_t *c;
			json_array_foreach(json_object_get(o, "captures"), i, c) {
				const char *name = json_string_value(json_object_get(c, "name"));
				const char *value = json_string_value(json_object_get(c, "value"));
				if (!name || !value)
					continue;
				if (strstr(value, REDACT_MASK)) {
					run_out(r, "%sresume: captured %s held a secret; it is not restored%s\n",
						term_c(TC_YELLOW), name, term_c(TC_RESET));
					continue;
				}
				run_add_capture(r, name, value);
			}
		} else if (!strcmp(type, "step.end")) {
			char *key = step_key(json_object_get(o, "step"));
			const char *v = json_string_value(json_object_get(o, "verdict"));
			if (v && (!strcmp(v, "passed") || !strcmp(v, "accepted") || !strcmp(v, "skipped"))) {
				ALLOC_GROW(ri->done, ri->ndone + 1, ri->done_alloc);
				ri->done_verdict = xrealloc(ri->done_verdict, ri->done_alloc * sizeof(char *));
				ri->done[ri->ndone] = xstrdup(key);
				ri->done_verdict[ri->ndone] = xstrdup(v);
				ri->ndone++;
			}
			if (ri->inflight && !strcmp(ri->inflight, key)) {
				if (ri->cut_short) {
					/* its last command was interrupted or lost its
					 * database: in flight, like a command a crash cut */
					free(ri->inflight_cmd);
					ri->inflight_cmd = ri->cut_short;
					ri->cut_short = NULL;
					ri->inflight_cut = true;
				} else {
					free(ri->inflight);
					ri->inflight = NULL;
				}
			}
			free(key);
		} else if (!strcmp(type, "run.end")) {
			ri->finished = true;
		}
		json_decref(o);
	}
	if (!have_start) {
		strbuf_addf(err, "journal %s: no run.start record: not a journal of a run", path);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	strbuf_release(&data);
	return ret;
}

int journal_resume(struct run *r, struct strbuf *err)
{
	struct journal *j = jr(r);
	struct resume_info *ri = xcalloc(1, sizeof(*ri));
	struct runlog_tail tail;
	char sha[SHA256_HEX_LEN + 1];

	ri->path = r->opts.resume_log ? xstrdup(r->opts.resume_log) : newest_unfinished(r->rb->path);
	if (!ri->path) {
		strbuf_addf(err, "no unfinished journal of %s in .runbook/logs to resume", r->rb->path);
		goto fail;
	}
	if (read_resume(r, ri->path, ri, err) < 0)
		goto fail;
	if (ri->finished) {
		strbuf_addf(err, "%s records a finished run: there is nothing to resume", ri->path);
		goto fail;
	}
	file_sha256(r->rb->path, sha);
	bool changed = strcmp(sha, ri->sha256) != 0;
	if (changed && !r->opts.allow_changed) {
		strbuf_addf(err, "%s changed since the run in %s (sha256 %.12s, was %.12s); "
				 "resume with --allow-changed if that is intended",
			    r->rb->path, ri->path, sha, ri->sha256);
		goto fail;
	}
	if (ri->inflight && !r->interactive && !r->opts.in_flight) {
		r->usage_error = true;
		strbuf_addf(err, "step %s was in flight when the run stopped; say what to do with it: "
				 "--in-flight=verify, --in-flight=rerun or --in-flight=done:REASON",
			    ri->inflight);
		goto fail;
	}
	if (ri->inflight && r->opts.in_flight && !strcmp(r->opts.in_flight, "verify")) {
		for (size_t i = 0; i < r->nstates; i++) {
			char *key = state_key(r->states[i].step);
			bool none = !strcmp(key, ri->inflight) && !r->states[i].step->nverifications;
			free(key);
			if (none) {
				r->usage_error = true;
				strbuf_addf(err, "step %s was in flight and has no verification to run: "
						 "resume with --in-flight=rerun or --in-flight=done:REASON",
					    ri->inflight);
				goto fail;
			}
		}
	}
	if (runlog_open_resume(&j->log, ri->path, &r->red, &tail, err) < 0)
		goto fail;
	j->open = true;
	j->log.defer_sync = true;
	r->log_path = xstrdup(ri->path);
	r->resumed = true;
	r->resume = ri;

	struct jrec *rec = runlog_rec(&j->log, "run.resume");
	jrec_raw_str(rec, "runbook_sha256", sha);
	jrec_bool(rec, "runbook_changed", changed);
	jrec_bool(rec, "allow_changed", r->opts.allow_changed);
	jrec_int(rec, "lines_before", (int64_t)tail.lines);
	if (tail.dropped_bytes) {
		jrec_open(rec, "dropped_incomplete_line");
		jrec_int(rec, "bytes", (int64_t)tail.dropped_bytes);
		jrec_raw_str(rec, "sha256", tail.dropped_sha256);
		jrec_close(rec);
	}
	struct passwd *pw = getpwuid(getuid());
	jrec_str(rec, "operator", pw ? pw->pw_name : "?");
	jrec_open_array(rec, "steps_done");
	for (size_t i = 0; i < ri->ndone; i++)
		jrec_raw_str(rec, NULL, ri->done[i]);
	jrec_close(rec);
	jrec_raw_str(rec, "in_flight", ri->inflight);
	jrec_open_array(rec, "restored_captures");
	for (size_t i = 0; i < r->ncaptured; i++)
		jrec_raw_str(rec, NULL, r->captured[i].name);
	jrec_close(rec);
	journal_add_target(r, rec);
	if (j->key) {
		jrec_open(rec, "signing");
		jrec_raw_str(rec, "key", sign_key_fingerprint(j->key));
		jrec_close(rec);
	}
	if (emit(r, rec) < 0)
		return -1;
	run_out(r, "%sjournal: resuming %s%s%s\n", term_c(TC_DIM), ri->path,
		tail.dropped_bytes ? " (an incomplete last line was dropped)" : "", term_c(TC_RESET));
	return 0;
fail:
	resume_info_release(ri);
	free(ri);
	return -1;
}

static void mark_done(struct step_state *ss, const char *verdict)
{
	ss->selected = false;
	ss->verdict = !strcmp(verdict, "accepted") ? V_ACCEPTED
		      : !strcmp(verdict, "skipped") ? V_SKIPPED : V_PASSED;
	ss->done_earlier = true;
}

enum flow journal_resume_plan(struct run *r)
{
	struct resume_info *ri = r->resume;
	enum flow flow = FLOW_CONTINUE;

	run_out(r, "\n%sResuming%s\n", term_c(TC_BOLD), term_c(TC_RESET));
	for (size_t i = 0; i < r->nstates; i++) {
		struct step_state *ss = &r->states[i];
		char *key = state_key(ss->step);
		if (ss->step->role != STEP_SETUP) {
			for (size_t k = 0; k < ri->ndone; k++)
				if (!strcmp(ri->done[k], key)) {
					mark_done(ss, ri->done_verdict[k]);
					run_out(r, "  %s✓ %s: %s in the earlier session; not run again%s\n", term_c(TC_GREEN),
						key, ri->done_verdict[k], term_c(TC_RESET));
				}
		}
		free(key);
	}
	if (r->ncaptured) {
		for (size_t i = 0; i < r->ncaptured; i++)
			run_out(r, "  %srestored %s=%s%s\n", term_c(TC_CYAN), r->captured[i].name,
				r->captured[i].value, term_c(TC_RESET));
	}
	run_out(r, "  %sthe setup runs again before the first resumed step%s\n", term_c(TC_DIM), term_c(TC_RESET));
	return flow;
}

enum flow journal_resume_inflight(struct run *r)
{
	struct resume_info *ri = r->resume;
	enum flow flow = FLOW_CONTINUE;

	if (!ri || !ri->inflight)
		return FLOW_CONTINUE;

	struct step_state *fs = NULL;
	for (size_t i = 0; i < r->nstates && !fs; i++) {
		char *key = state_key(r->states[i].step);
		if (!strcmp(key, ri->inflight))
			fs = &r->states[i];
		free(key);
	}
	if (!fs || fs->step->role == STEP_SETUP)
		return FLOW_CONTINUE;
	run_out(r, "\n  %s%s was in flight when the run stopped.%s\n", term_c(TC_YELLOW), ri->inflight,
		term_c(TC_RESET));
	if (ri->inflight_cmd) {
		if (ri->inflight_cut)
			run_out(r, "  its last command, started at %s, was interrupted or lost its database "
				   "connection before it finished:\n", ri->inflight_ts);
		else
			run_out(r, "  its last command started at %s and never reported an end:\n", ri->inflight_ts);
		const char *p = ri->inflight_cmd;
		while (*p) {
			const char *eol = strchr(p, '\n');
			size_t len = eol ? (size_t)(eol - p) : strlen(p);
			run_out(r, "    %.*s\n", (int)len, p);
			p += len + (eol ? 1 : 0);
		}
	} else {
		run_out(r, "  it had started but none of its commands was running.\n");
	}
	for (;;) {
		int k;
		const char *how = r->opts.in_flight;
		if (how) {
			k = !strcmp(how, "verify") ? 'v' : !strcmp(how, "rerun") ? 'r' : 'd';
		} else {
			run_out(r, "  %s%sr re-run it · d mark it done · q abort%s ", term_c(TC_BOLD),
				fs->step->nverifications ? "v run its verification · " : "", term_c(TC_RESET));
			k = term_read_key(fs->step->nverifications ? "vrdq" : "rdq");
			run_out(r, "\n");
		}
		if (k == 'r') {
			record_decision(r, "re-run in-flight step", "", ri->inflight);
			break;
		}
		if (k == 'd') {
			char *reason = NULL;
			if (how)
				reason = xstrdup(how + 5);
			else
				reason = run_ask_reason(r, "why it is done");
			if (!reason || !*reason) {
				free(reason);
				flow = FLOW_INTERRUPT;
				break;
			}
			record_decision(r, "mark in-flight step done", reason, ri->inflight);
			fs->selected = false;
			fs->verdict = V_ACCEPTED;
			fs->done_earlier = true;
			free(fs->note);
			fs->note = reason;
			/* the step ends here, so that a later resume knows it is done */
			journal_step_end(r, fs);
			break;
		}
		if (k == 'v') {
			if (run_verify_only(r, fs) == 0) {
				record_decision(r, "in-flight step verified", "its verification passed", ri->inflight);
				fs->selected = false;
				fs->verdict = V_PASSED;
				fs->done_earlier = true;
				journal_step_end(r, fs);
				break;
			}
			record_decision(r, "in-flight step not verified", "its verification failed", ri->inflight);
			if (how) {
				flow = FLOW_QUIT;
				run_out(r, "  %sthe verification failed: resume with --in-flight=rerun or decide at a terminal%s\n",
					term_c(TC_RED), term_c(TC_RESET));
				break;
			}
			continue;
		}
		if (k == TERM_INTERRUPTED || k == TERM_EOF) {
			/* ^C or the terminal went away: nothing decided, still resumable */
			flow = FLOW_INTERRUPT;
			break;
		}
		record_decision(r, "abort", "operator", ri->inflight);
		flow = FLOW_QUIT;
		break;
	}
	return flow;
}

void journal_resume_release(struct run *r)
{
	if (r->resume) {
		resume_info_release(r->resume);
		free(r->resume);
		r->resume = NULL;
	}
}
