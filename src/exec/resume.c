/* resume.c - continuing an interrupted run from its journal. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/runlog.h"
#include "base/xalloc.h"
#include "exec/exec_int.h"
#include "sign/sign.h"

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

static char *json_step_key(json_t *step)
{
	const char *role = json_string_value(json_object_get(step, "role"));
	if (!role)
		return xstrdup("?");
	if (!strcmp(role, "step"))
		return xasprintf("step-%lld", (long long)json_integer_value(json_object_get(step, "number")));
	return xstrdup(role);
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

static void read_start(struct exec_run *r, json_t *o, struct resume_info *ri)
{
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
			note(r, NOTE_WARN, "resume: --var %s was a secret; it is not in the journal: give it again",
			     name);
			continue;
		}
		ALLOC_GROW(r->opts.vars, r->opts.nvars + 1, r->opts.vars_alloc);
		r->opts.vars[r->opts.nvars].name = xstrdup(name);
		r->opts.vars[r->opts.nvars].value = xstrdup(value);
		r->opts.nvars++;
	}
}

static void read_block_end(struct exec_run *r, json_t *o, struct resume_info *ri)
{
	const char *v = json_string_value(json_object_get(o, "verdict"));
	free(ri->cut_short);
	ri->cut_short = NULL;
	if ((v && !strcmp(v, "interrupted")) || json_is_true(json_object_get(o, "connection_lost"))) {
		/* stopped halfway: its effect is not known */
		ri->cut_short = ri->inflight_cmd;
		ri->inflight_cmd = NULL;
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
			note(r, NOTE_WARN, "resume: captured %s held a secret; it is not restored", name);
			continue;
		}
		run_add_capture(r, name, value);
	}
}

static void read_step_end(json_t *o, struct resume_info *ri)
{
	char *key = json_step_key(json_object_get(o, "step"));
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
			/* its last command was interrupted or lost its database:
			 * in flight, like a command a crash cut */
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
}

static int read_resume(struct exec_run *r, const char *path, struct resume_info *ri, struct strbuf *err)
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
			read_start(r, o, ri);
		} else if (!strcmp(type, "step.start")) {
			free(ri->inflight);
			ri->inflight = json_step_key(json_object_get(o, "step"));
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
			read_block_end(r, o, ri);
		} else if (!strcmp(type, "step.end")) {
			read_step_end(o, ri);
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

static struct step_state *state_of(struct exec_run *r, const char *key)
{
	for (size_t i = 0; i < r->nstates; i++) {
		char *k = step_key(r->states[i].step);
		bool same = !strcmp(k, key);
		free(k);
		if (same)
			return &r->states[i];
	}
	return NULL;
}

/* check_in_flight refuses, before anything runs, an unattended resume that
 * cannot say what to do with the step in flight. */
static int check_in_flight(struct exec_run *r, const struct resume_info *ri, struct strbuf *err)
{
	if (!ri->inflight)
		return 0;
	if (!r->interactive && !r->opts.in_flight) {
		r->usage_error = true;
		strbuf_addf(err, "step %s was in flight when the run stopped; say what to do with it: "
				 "--in-flight=verify, --in-flight=rerun or --in-flight=done:REASON",
			    ri->inflight);
		return -1;
	}
	if (r->opts.in_flight && !strcmp(r->opts.in_flight, "verify")) {
		struct step_state *ss = state_of(r, ri->inflight);
		if (ss && !ss->step->nverifications) {
			r->usage_error = true;
			strbuf_addf(err, "step %s was in flight and has no verification to run: "
					 "resume with --in-flight=rerun or --in-flight=done:REASON",
				    ri->inflight);
			return -1;
		}
	}
	return 0;
}

static void resume_rec(struct exec_run *r, const struct resume_info *ri, const char *sha, bool changed,
		       const struct runlog_tail *tail)
{
	struct jrec *rec = runlog_rec(journal_log(r), "run.resume");
	jrec_raw_str(rec, "runbook_sha256", sha);
	jrec_bool(rec, "runbook_changed", changed);
	jrec_bool(rec, "allow_changed", r->opts.allow_changed);
	jrec_int(rec, "lines_before", (int64_t)tail->lines);
	if (tail->dropped_bytes) {
		jrec_open(rec, "dropped_incomplete_line");
		jrec_int(rec, "bytes", (int64_t)tail->dropped_bytes);
		jrec_raw_str(rec, "sha256", tail->dropped_sha256);
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
	target_add_json(r, rec);
	if (journal_key(r)) {
		jrec_open(rec, "signing");
		jrec_raw_str(rec, "key", sign_key_fingerprint(journal_key(r)));
		jrec_close(rec);
	}
	journal_write(r, rec);
}

int resume_open(struct exec_run *r, struct strbuf *err)
{
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
	journal_file_sha256(r->rb->path, sha);
	bool changed = strcmp(sha, ri->sha256) != 0;
	if (changed && !r->opts.allow_changed) {
		strbuf_addf(err, "%s changed since the run in %s (sha256 %.12s, was %.12s); "
				 "resume with --allow-changed if that is intended",
			    r->rb->path, ri->path, sha, ri->sha256);
		goto fail;
	}
	if (check_in_flight(r, ri, err) < 0)
		goto fail;
	if (runlog_open_resume(journal_log(r), ri->path, &r->red, &tail, err) < 0)
		goto fail;
	journal_set_open(r, ri->path);
	r->resumed = true;
	r->resume = ri;
	resume_rec(r, ri, sha, changed, &tail);
	if (journal_failed(r))
		return -1;
	note(r, NOTE_DIM, "journal: resuming %s%s", ri->path,
	     tail.dropped_bytes ? " (an incomplete last line was dropped)" : "");
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

enum flow resume_plan(struct exec_run *r)
{
	struct resume_info *ri = r->resume;

	note(r, NOTE_HEADING, "\nResuming");
	for (size_t i = 0; i < r->nstates; i++) {
		struct step_state *ss = &r->states[i];
		if (ss->step->role == STEP_SETUP)
			continue;
		char *key = step_key(ss->step);
		for (size_t k = 0; k < ri->ndone; k++)
			if (!strcmp(ri->done[k], key)) {
				mark_done(ss, ri->done_verdict[k]);
				struct event ev = { .type = EV_RESUME_STEP, .step = ss->step, .name = key,
						    .value = ri->done_verdict[k] };
				emit(r, &ev);
			}
		free(key);
	}
	for (size_t i = 0; i < r->ncaptured; i++)
		note(r, NOTE_INFO, "  restored %s=%s", r->captured[i].name, r->captured[i].value);
	note(r, NOTE_DIM, "  the setup runs again before the first resumed step");
	return FLOW_CONTINUE;
}

/* end_in_flight records the in-flight step as done, so that a later resume
 * knows it is. */
static void end_in_flight(struct exec_run *r, struct step_state *fs, enum verdict v)
{
	fs->selected = false;
	fs->verdict = v;
	fs->done_earlier = true;
	struct event ev = { .type = EV_STEP_END, .step = fs->step, .verdict = fs->verdict,
			    .duration_ms = fs->duration_ms, .reason = fs->note, .line = fs->step->line };
	emit(r, &ev);
}

enum flow resume_inflight(struct exec_run *r)
{
	struct resume_info *ri = r->resume;
	enum flow flow = FLOW_CONTINUE;

	if (!ri || !ri->inflight)
		return FLOW_CONTINUE;
	struct step_state *fs = state_of(r, ri->inflight);
	if (!fs || fs->step->role == STEP_SETUP)
		return FLOW_CONTINUE;
	struct event ev = { .type = EV_IN_FLIGHT, .step = fs->step, .name = ri->inflight,
			    .text = ri->inflight_cmd, .ts = ri->inflight_ts, .ok = ri->inflight_cut };
	emit(r, &ev);
	struct choice choices[4];
	size_t n = 0;
	if (fs->step->nverifications)
		choices[n++] = (struct choice){ 'v', "run its verification" };
	choices[n++] = (struct choice){ 'r', "re-run it" };
	choices[n++] = (struct choice){ 'd', "mark it done" };
	choices[n++] = (struct choice){ 'q', "abort" };
	for (;;) {
		int k;
		const char *how = r->opts.in_flight;
		if (how) {
			k = !strcmp(how, "verify") ? 'v' : !strcmp(how, "rerun") ? 'r' : 'd';
		} else {
			struct question q = { .kind = ASK_IN_FLIGHT, .text = ri->inflight, .choices = choices,
					      .nchoices = n };
			k = ask(r, &q, NULL);
		}
		if (k == 'r') {
			record_decision(r, "re-run in-flight step", "", ri->inflight);
			break;
		}
		if (k == 'd') {
			char *reason = how ? xstrdup(how + 5) : ask_reason(r, "why it is done");
			if (!reason || !*reason) {
				free(reason);
				flow = FLOW_INTERRUPT;
				break;
			}
			record_decision(r, "mark in-flight step done", reason, ri->inflight);
			free(fs->note);
			fs->note = reason;
			end_in_flight(r, fs, V_ACCEPTED);
			break;
		}
		if (k == 'v') {
			if (run_verify_only(r, fs) == 0) {
				record_decision(r, "in-flight step verified", "its verification passed", ri->inflight);
				end_in_flight(r, fs, V_PASSED);
				break;
			}
			record_decision(r, "in-flight step not verified", "its verification failed", ri->inflight);
			if (how) {
				flow = FLOW_QUIT;
				note(r, NOTE_ERROR, "  the verification failed: resume with --in-flight=rerun or "
						    "decide at a terminal");
				break;
			}
			continue;
		}
		if (k == ANSWER_INTERRUPTED || k == ANSWER_EOF) {
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

void resume_release(struct exec_run *r)
{
	if (r->resume) {
		resume_info_release(r->resume);
		free(r->resume);
		r->resume = NULL;
	}
}
