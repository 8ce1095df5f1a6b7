/* verify.c - check a journal's lines, hash chain and signatures, and
 * summarise what it records (jansson reads the records; the chain is
 * computed over the raw bytes). */
#define _GNU_SOURCE
#include "audit/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sign/sign.h"
#include "base/xalloc.h"

#define NAMESPACE SIGN_NAMESPACE_LOG
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const known_types[] = {
	"run.start", "target", "prereq", "step.start", "step.end", "block.start", "block.end",
	"suggestions", "decision", "monitor", "final_state", "sig", "run.resume", "run.end",
};

static const char *const first_keys[] = { "v", "seq", "ts", "type", "prev" };

/* ---------- small helpers ---------- */

static const char *afmt(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *afmt(struct arena *a, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	const char *s = arena_memdupz(a, sb.buf, sb.len);
	strbuf_release(&sb);
	return s;
}

static void add_note(struct verify_result *res, const char *note)
{
	*ARENA_PUSH(&res->arena, res->notes, res->nnotes, res->notes_alloc) = note;
}

static void add_signer(struct verify_result *res, const char *fingerprint, const char *principal,
		       size_t count)
{
	for (size_t i = 0; i < res->nsigners; i++) {
		struct verify_signer *s = &res->signers[i];
		if (!strcmp(s->fingerprint, fingerprint) &&
		    ((!s->principal && !principal) ||
		     (s->principal && principal && !strcmp(s->principal, principal)))) {
			s->signatures += count;
			return;
		}
	}
	struct verify_signer *s = ARENA_PUSH(&res->arena, res->signers, res->nsigners, res->signers_alloc);
	s->fingerprint = arena_strdup(&res->arena, fingerprint);
	s->principal = principal && *principal ? arena_strdup(&res->arena, principal) : NULL;
	s->signatures = count;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int64_t verify_parse_time(const char *ts)
{
	int y, mo, d, h, mi, s, ms, n = 0;
	if (!ts || strlen(ts) != 24 ||
	    sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &s, &ms, &n) != 7 || n != 24)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || ms < 0 || y < 1970)
		return -1;
	struct tm tm = { 0 };
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return (int64_t)t * 1000 + ms;
}

void verify_step_label(const char *role, int number, struct strbuf *out)
{
	if (!role)
		strbuf_addstr(out, "?");
	else if (!strcmp(role, "step"))
		strbuf_addf(out, "step %d", number);
	else if (!strcmp(role, "final"))
		strbuf_addstr(out, "final verification");
	else
		strbuf_addstr(out, role);
}

/* ---------- pass 1: lines, chain, signatures ---------- */

struct checker {
	struct verify_result *res;
	const struct verify_opts *opts;
	const char *declared_key;    /* fingerprint the journal says it is signed with */
	const char *declared_public; /* "TYPE BASE64" from run.start, or NULL */
	bool ended;
	bool broken;                 /* the verdict is BROKEN (the first problem is kept) */
	bool chain_broken;           /* lines no longer chain: stop reading them */
	size_t summary_lines;        /* how many lines the summary may use */
	/* Checkpoints whose signature is not checked yet.  Each signature
	 * covers the SHA-512 of every byte before it, earlier checkpoints
	 * included, so when the newest one of a signing session verifies,
	 * the older ones are proven with it; only when it fails are they
	 * checked one by one, to find the last good one. */
	struct pending_sig *pending;
	size_t npending, pending_alloc;
	const char *data;            /* the journal, to read a pending line again */
	bool flushing;
};

struct pending_sig {
	size_t lineno;
	uint64_t offset, len;        /* the checkpoint's line in the journal */
	unsigned char digest[SHA512_LEN];
};

static void flush_pending(struct checker *c);

/* broken records the first problem; lines from `line` on are not proven,
 * and the summary keeps the first `trusted` lines. */
static void broken(struct checker *c, size_t line, size_t trusted, const char *reason)
{
	/* the checkpoints before this line are judged first, as if each had
	 * been checked when it was read */
	flush_pending(c);
	c->chain_broken = true;
	if (c->broken)
		return;
	c->broken = true;
	c->res->verdict = VERIFY_BROKEN;
	c->res->broken_line = line;
	c->res->reason = reason;
	c->summary_lines = trusted;
}

/* bad_signature is broken() for a signature that does not verify: the
 * chain is still followed to the end, to tell the auditor whether the
 * lines were edited too. */
static void bad_signature(struct checker *c, size_t line, size_t trusted, const char *reason)
{
	bool chain = c->chain_broken;
	broken(c, line, trusted, reason);
	c->chain_broken = chain;
}

static bool known_type(const char *type)
{
	for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
		if (!strcmp(type, known_types[i]))
			return true;
	return false;
}

/* public_key_part returns the "TYPE BASE64" part of "TYPE BASE64 comment". */
static const char *public_key_part(struct arena *a, const char *line)
{
	const char *sp = strchr(line, ' ');
	if (!sp)
		return arena_strdup(a, line);
	const char *sp2 = strchr(sp + 1, ' ');
	return sp2 ? arena_memdupz(a, line, (size_t)(sp2 - line)) : arena_strdup(a, line);
}

/* check_signature verifies one armored SSHSIG over a digest and says who
 * made it; returns NULL when it is good, or the reason.  COUNT is how many
 * signatures it proves (a checkpoint proves its session's older ones). */
static const char *check_signature(struct checker *c, const char *armored, size_t len,
				   const unsigned char digest[SHA512_LEN], const char *what, size_t count)
{
	struct verify_result *res = c->res;
	struct strbuf err = STRBUF_INIT;
	struct sshsig_info info;
	const char *why = NULL;

	if (sshsig_verify(armored, len, digest, NAMESPACE, c->opts->signers, c->opts->principal, &info,
			  &err) < 0) {
		why = afmt(&res->arena, "%s: %s", what, err.buf);
		goto out;
	}
	if (!c->declared_key) {
		why = afmt(&res->arena, "%s is signed by key %s, but the journal declares no signing key", what,
			   info.fingerprint);
		goto out;
	}
	if (strcmp(info.fingerprint, c->declared_key)) {
		why = afmt(&res->arena, "%s is signed by key %s, not by the journal's key %s", what,
			   info.fingerprint, c->declared_key);
		goto out;
	}
	if (c->declared_public && *info.pubkey && strcmp(info.pubkey, c->declared_public)) {
		why = afmt(&res->arena, "%s: run.start's signing.public is not the key %s", what,
			   info.fingerprint);
		goto out;
	}
	add_signer(res, info.fingerprint, c->opts->signers ? info.principal : NULL, count);
out:
	strbuf_release(&err);
	return why;
}

static void check_checkpoint(struct checker *c, json_t *o, size_t lineno, uint64_t offset, size_t len,
			     const struct sha512 *whole)
{
	struct verify_result *res = c->res;
	json_t *covers = json_object_get(o, "covers");
	json_t *bytes = json_object_get(covers, "bytes"), *lines = json_object_get(covers, "lines");
	const char *sig = jstr(o, "signature"), *key = jstr(o, "key"), *ns = jstr(o, "namespace");
	unsigned char digest[SHA512_LEN];
	struct sha512 copy = *whole;

	if (!json_is_integer(bytes) || !json_is_integer(lines) || !sig) {
		broken(c, lineno, lineno - 1, "a sig checkpoint without covers.bytes, covers.lines or signature");
		return;
	}
	if ((uint64_t)json_integer_value(bytes) != offset) {
		broken(c, lineno, lineno - 1,
		       afmt(&res->arena, "the checkpoint says it covers %lld bytes, but it starts at byte %llu",
			    (long long)json_integer_value(bytes), (unsigned long long)offset));
		return;
	}
	if ((uint64_t)json_integer_value(lines) != lineno - 1) {
		broken(c, lineno, lineno - 1,
		       afmt(&res->arena, "the checkpoint says it covers %lld lines, but %zu lines precede it",
			    (long long)json_integer_value(lines), lineno - 1));
		return;
	}
	if (!ns || strcmp(ns, NAMESPACE)) {
		broken(c, lineno, lineno - 1,
		       afmt(&res->arena, "the checkpoint's namespace is '%s', expected '%s'", ns ? ns : "(none)",
			    NAMESPACE));
		return;
	}
	if (!c->declared_key) {
		broken(c, lineno, lineno - 1, "a signature checkpoint, but run.start declares no signing key");
		return;
	}
	if (!key || strcmp(key, c->declared_key)) {
		broken(c, lineno, lineno - 1,
		       afmt(&res->arena, "the checkpoint names key %s, but the journal's key is %s",
			    key ? key : "(none)", c->declared_key));
		return;
	}
	if (c->broken)
		return; /* an earlier signature failed: only the chain is followed now */
	sha512_final(&copy, digest);
	ALLOC_GROW(c->pending, c->npending + 1, c->pending_alloc);
	struct pending_sig *p = &c->pending[c->npending++];
	p->lineno = lineno;
	p->offset = offset;
	p->len = len;
	memcpy(p->digest, digest, SHA512_LEN);
}

/* verify_pending checks one queued checkpoint's signature, proving COUNT
 * checkpoints when good; NULL when good. */
static const char *verify_pending(struct checker *c, const struct pending_sig *p, size_t count)
{
	json_error_t je;
	json_t *o = json_loadb(c->data + p->offset, p->len, JSON_ALLOW_NUL, &je);
	const char *sig = o ? jstr(o, "signature") : NULL;
	const char *why = sig ? check_signature(c, sig, strlen(sig), p->digest, "checkpoint signature", count)
			      : "checkpoint signature: the line cannot be read again";
	json_decref(o);
	return why;
}

static void flush_pending(struct checker *c)
{
	struct verify_result *res = c->res;
	size_t n = c->npending;

	if (!n || c->flushing)
		return;
	c->flushing = true;
	c->npending = 0;
	if (!verify_pending(c, &c->pending[n - 1], n)) {
		res->checkpoints += n;
		res->covered_lines = c->pending[n - 1].lineno - 1;
	} else {
		for (size_t i = 0; i < n; i++) {
			const struct pending_sig *p = &c->pending[i];
			const char *why = verify_pending(c, p, 1);
			if (why) {
				bad_signature(c, p->lineno, p->lineno - 1, why);
				break;
			}
			res->checkpoints++;
			res->covered_lines = p->lineno - 1;
		}
	}
	c->flushing = false;
}

/* check_line checks one complete line (without its newline).  When the
 * journal is still sound after it, the parsed line goes to *parsed (the
 * caller releases it) for the summary, so each line is parsed once. */
static void check_line(struct checker *c, const char *line, size_t len, size_t lineno, uint64_t offset,
		       const char prev[SHA256_HEX_LEN + 1], const struct sha512 *whole, json_t **parsed)
{
	struct verify_result *res = c->res;
	struct arena *a = &res->arena;
	json_error_t je;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	size_t k = 0;

	if (!o) {
		/* jansson quotes the input in its message: keep it printable ASCII */
		for (char *q = je.text; *q; q++)
			if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
				*q = '?';
		broken(c, lineno, lineno - 1,
		       afmt(a, "not JSON: %s at column %d", je.text, je.column > 0 ? je.column : 1));
		return;
	}
	if (!json_is_object(o)) {
		broken(c, lineno, lineno - 1, "not a JSON object");
		goto out;
	}
	for (void *it = json_object_iter(o); it && k < 5; it = json_object_iter_next(o, it), k++)
		if (strcmp(json_object_iter_key(it), first_keys[k]))
			break;
	if (k < 5) {
		broken(c, lineno, lineno - 1, "the first keys are not v, seq, ts, type, prev in that order");
		goto out;
	}
	json_t *v = json_object_get(o, "v"), *seq = json_object_get(o, "seq");
	const char *ts = jstr(o, "ts"), *type = jstr(o, "type"), *p = jstr(o, "prev");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		broken(c, lineno, lineno - 1, "\"v\" is not 1: not a runlog v1 record");
		goto out;
	}
	if (!json_is_integer(seq)) {
		broken(c, lineno, lineno - 1, "\"seq\" is not a number");
		goto out;
	}
	if (json_integer_value(seq) != (json_int_t)(lineno - 1)) {
		broken(c, lineno, lineno - 1,
		       afmt(a, "seq is %lld where %zu was expected: a line was removed, inserted or moved",
			    (long long)json_integer_value(seq), lineno - 1));
		goto out;
	}
	if (verify_parse_time(ts) < 0) {
		broken(c, lineno, lineno - 1, "\"ts\" is not a UTC time like 2026-11-21T13:49:50.412Z");
		goto out;
	}
	if (!type || !known_type(type)) {
		broken(c, lineno, lineno - 1, afmt(a, "unknown record type '%s'", type ? type : "(none)"));
		goto out;
	}
	if (!p || strcmp(p, prev)) {
		/* this line or the one before it was changed: trust neither */
		broken(c, lineno, lineno >= 2 ? lineno - 2 : 0,
		       lineno == 1 ? "\"prev\" of the first line is not 64 zeros"
				   : afmt(a, "\"prev\" does not match the SHA-256 of line %zu: a line was changed, "
					     "removed or reordered",
					  lineno - 1));
		goto out;
	}
	if (lineno == 1 && strcmp(type, "run.start")) {
		broken(c, lineno, 0, "the first line is not a run.start record");
		goto out;
	}
	if (lineno > 1 && !strcmp(type, "run.start")) {
		broken(c, lineno, lineno - 1, "a second run.start record");
		goto out;
	}
	if (c->ended) {
		broken(c, lineno, lineno - 1, "a record after run.end");
		goto out;
	}
	if (!strcmp(type, "run.start") || !strcmp(type, "run.resume")) {
		json_t *signing = json_object_get(o, "signing");
		flush_pending(c); /* the last session's checkpoints, under its key */
		if (signing) {
			const char *key = jstr(signing, "key"), *pub = jstr(signing, "public");
			if (!key) {
				broken(c, lineno, lineno - 1, "\"signing\" names no key");
				goto out;
			}
			if (c->declared_key && strcmp(key, c->declared_key))
				add_note(res, afmt(a, "line %zu: the resumed session signs with key %s (the run "
						      "started with %s)",
						   lineno, key, c->declared_key));
			c->declared_key = arena_strdup(a, key);
			c->declared_public = pub ? public_key_part(a, pub) : NULL;
		}
	} else if (!strcmp(type, "sig")) {
		check_checkpoint(c, o, lineno, offset, len, whole);
	} else if (!strcmp(type, "run.end")) {
		c->ended = true;
	}
out:
	if (parsed && !c->broken && !c->chain_broken)
		*parsed = o;
	else
		json_decref(o);
}

/* ---------- pass 2: the summary ---------- */

struct summer {
	struct arena *a;
	struct audit_summary *s;
	size_t line;
};

static const char *S(struct summer *m, json_t *o, const char *key)
{
	const char *v = jstr(o, key);
	return v ? arena_strdup(m->a, v) : NULL;
}

static int64_t I(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static bool B(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static bool same_step(const struct audit_step *st, json_t *step)
{
	const char *role = jstr(step, "role");
	return role && st->role && !strcmp(role, st->role) &&
	       (strcmp(role, "step") || st->number == (int)I(step, "number"));
}

static long new_step(struct summer *m, json_t *step)
{
	struct audit_summary *s = m->s;
	struct audit_step *st = ARENA_PUSH(m->a, s->steps, s->nsteps, s->steps_alloc);
	struct strbuf label = STRBUF_INIT;
	st->role = S(m, step, "role");
	st->number = (int)I(step, "number");
	st->title = S(m, step, "title");
	st->source_line = (int)I(step, "line");
	st->line = m->line;
	verify_step_label(st->role, st->number, &label);
	st->label = arena_memdupz(m->a, label.buf, label.len);
	strbuf_release(&label);
	return (long)s->nsteps - 1;
}

/* find_step returns the newest step matching `step` that has not ended,
 * else (any_ok) the newest matching one, else a new one. */
static long find_step(struct summer *m, json_t *step, bool any_ok)
{
	struct audit_summary *s = m->s;
	for (size_t i = s->nsteps; i-- > 0;)
		if (same_step(&s->steps[i], step) && !s->steps[i].ended)
			return (long)i;
	if (any_ok)
		for (size_t i = s->nsteps; i-- > 0;)
			if (same_step(&s->steps[i], step))
				return (long)i;
	return new_step(m, step);
}

static long current_step(const struct audit_summary *s)
{
	for (size_t i = s->nsteps; i-- > 0;)
		if (!s->steps[i].ended)
			return (long)i;
	return s->nsteps ? (long)s->nsteps - 1 : -1;
}

static struct audit_event *add_event(struct summer *m, enum audit_event_kind kind, json_t *o, long step)
{
	struct audit_summary *s = m->s;
	struct audit_event *e = ARENA_PUSH(m->a, s->events, s->nevents, s->events_alloc);
	e->kind = kind;
	e->line = m->line;
	e->ts = S(m, o, "ts");
	e->step = step;
	return e;
}

static void read_stream(struct summer *m, json_t *o, struct audit_stream *st)
{
	if (!json_is_object(o))
		return;
	st->present = true;
	st->bytes = I(o, "bytes");
	st->sha256 = S(m, o, "sha256");
	st->text = S(m, o, "text");
	st->truncated = B(o, "truncated");
}

static void read_target(struct summer *m, json_t *t)
{
	struct audit_target *tg = &m->s->target;
	if (!json_is_object(t))
		return;
	tg->present = true;
	tg->conninfo = S(m, t, "conninfo");
	tg->database = S(m, t, "database");
	tg->user = S(m, t, "user");
	tg->server_version = S(m, t, "server_version");
	tg->system_identifier = S(m, t, "system_identifier");
	tg->sandbox = B(t, "sandbox");
}

static void read_start(struct summer *m, json_t *o)
{
	struct audit_summary *s = m->s;
	json_t *rb = json_object_get(o, "runbook"), *op = json_object_get(o, "operator");
	json_t *opts = json_object_get(o, "options"), *signing = json_object_get(o, "signing");
	struct strbuf sb = STRBUF_INIT;

	s->have_start = true;
	s->tool_version = S(m, json_object_get(o, "tool"), "version");
	s->mode = S(m, o, "mode");
	s->runbook_path = S(m, rb, "path");
	s->runbook_realpath = S(m, rb, "realpath");
	s->runbook_sha256 = S(m, rb, "sha256");
	s->runbook_title = S(m, rb, "title");
	s->runbook_steps = I(rb, "steps");
	s->user = S(m, op, "user");
	s->host = S(m, op, "host");
	s->uid = I(op, "uid");
	s->interactive = B(op, "interactive");
	s->started = S(m, o, "ts");
	read_target(m, json_object_get(o, "target"));
	if (signing) {
		s->signing_key = S(m, signing, "key");
		s->signing_public = S(m, signing, "public");
	}
	if (B(opts, "yes"))
		strbuf_addstr(&sb, " --yes");
	if (I(opts, "from"))
		strbuf_addf(&sb, " --from %lld", (long long)I(opts, "from"));
	if (I(opts, "only"))
		strbuf_addf(&sb, " --only %lld", (long long)I(opts, "only"));
	if (json_is_integer(json_object_get(opts, "timeout_ms")) && I(opts, "timeout_ms") != 3600000)
		strbuf_addf(&sb, " --timeout %llds", (long long)(I(opts, "timeout_ms") / 1000));
	if (B(opts, "keep_going"))
		strbuf_addstr(&sb, " --keep-going");
	if (B(opts, "accept_deviations"))
		strbuf_addstr(&sb, " --accept-deviations");
	if (B(opts, "auto_fix"))
		strbuf_addstr(&sb, " --auto-fix");
	if (jstr(opts, "on_fail") && strcmp(jstr(opts, "on_fail"), "stop"))
		strbuf_addf(&sb, " --on-fail=%s", jstr(opts, "on_fail"));
	s->options = arena_strdup(m->a, sb.len ? sb.buf + 1 : "");
	strbuf_release(&sb);
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(o, "vars"), i, v) {
		struct audit_var *var = ARENA_PUSH(m->a, s->vars, s->nvars, s->vars_alloc);
		var->name = S(m, v, "name");
		var->value = S(m, v, "value");
	}
}

static void read_block_start(struct summer *m, json_t *o)
{
	long si = find_step(m, json_object_get(o, "step"), false);
	struct audit_step *st = &m->s->steps[si];
	struct audit_block *b = ARENA_PUSH(m->a, st->blocks, st->nblocks, st->blocks_alloc);
	b->line = m->line;
	b->index = (int)I(o, "block");
	b->source_line = (int)I(o, "line");
	b->attempt = (int)I(o, "attempt");
	b->kind = S(m, o, "kind");
	b->command = S(m, o, "command");
	b->comment = S(m, o, "comment");
	b->started = S(m, o, "ts");
}

static void read_block_end(struct summer *m, json_t *o)
{
	long si = find_step(m, json_object_get(o, "step"), true);
	struct audit_step *st = &m->s->steps[si];
	struct audit_block *b = NULL;
	int index = (int)I(o, "block");

	for (size_t i = st->nblocks; i-- > 0 && !b;)
		if (st->blocks[i].index == index && !st->blocks[i].ended)
			b = &st->blocks[i];
	if (!b) {
		b = ARENA_PUSH(m->a, st->blocks, st->nblocks, st->blocks_alloc);
		b->line = m->line;
		b->index = index;
		b->source_line = (int)I(o, "line");
	}
	b->ended = true;
	b->started = S(m, o, "started") ? S(m, o, "started") : b->started;
	b->ended_at = S(m, o, "ended");
	b->duration_ms = I(o, "duration_ms");
	b->exit_code = (int)I(o, "exit");
	b->signal = (int)I(o, "signal");
	b->verdict = S(m, o, "verdict");
	b->reason = S(m, o, "reason");
	b->sqlstate = S(m, o, "sqlstate");
	b->diff = S(m, o, "diff");
	read_stream(m, json_object_get(o, "stdout"), &b->out);
	read_stream(m, json_object_get(o, "stderr"), &b->err);
	json_t *caps = json_object_get(o, "captures");
	if (json_array_size(caps)) {
		struct strbuf sb = STRBUF_INIT;
		size_t i;
		json_t *c;
		json_array_foreach(caps, i, c)
			strbuf_addf(&sb, "%s=%s\n", jstr(c, "name") ? jstr(c, "name") : "?",
				    jstr(c, "value") ? jstr(c, "value") : "");
		b->captures = arena_memdupz(m->a, sb.buf, sb.len);
		strbuf_release(&sb);
	}
	if (b->verdict && strcmp(b->verdict, "passed")) {
		bool dev = !strcmp(b->verdict, "deviated");
		struct audit_event *e = add_event(m, dev ? AUDIT_DEVIATION : AUDIT_FAILURE, o, si);
		e->what = b->verdict;
		e->reason = b->reason;
		e->detail = b->diff;
		e->about = b->command;
	}
}

static void read_step_end(struct summer *m, json_t *o)
{
	long si = find_step(m, json_object_get(o, "step"), false);
	struct audit_step *st = &m->s->steps[si];
	st->ended = true;
	st->end_line = m->line;
	st->ended_at = S(m, o, "ts");
	st->verdict = S(m, o, "verdict");
	st->duration_ms = I(o, "duration_ms");
	st->note = S(m, o, "note");
	if (st->verdict && (!strcmp(st->verdict, "skipped") || !strcmp(st->verdict, "accepted"))) {
		struct audit_event *e = add_event(m, !strcmp(st->verdict, "skipped") ? AUDIT_SKIP : AUDIT_ACCEPT,
						  o, si);
		e->what = st->verdict;
		e->reason = st->note;
	}
}

static void read_suggestions(struct summer *m, json_t *o)
{
	long si = find_step(m, json_object_get(o, "step"), true);
	struct audit_step *st = &m->s->steps[si];
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(o, "rows"), i, row) {
		struct audit_suggestion *g = ARENA_PUSH(m->a, st->suggestions, st->nsuggestions,
							st->suggestions_alloc);
		g->block = (int)I(o, "block");
		g->source_line = (int)I(row, "line");
		g->error = S(m, row, "error");
		g->cause = S(m, row, "cause");
		g->solution = S(m, row, "solution");
		g->why = S(m, row, "why");
		g->pattern_hit = B(row, "pattern_hit");
		g->score_pct = (int)I(row, "score_pct");
	}
	if (B(o, "none_matched"))
		st->none_matched = true;
}

static void read_resume(struct summer *m, json_t *o)
{
	struct audit_summary *s = m->s;
	struct strbuf sb = STRBUF_INIT;
	const char *op = jstr(o, "operator"), *inflight = jstr(o, "in_flight");
	json_t *dropped = json_object_get(o, "dropped_incomplete_line");

	s->resumes++;
	strbuf_addf(&sb, "resumed by %s", op ? op : "?");
	if (inflight)
		strbuf_addf(&sb, "; %s was in flight", inflight);
	if (B(o, "runbook_changed")) {
		const char *sha = jstr(o, "runbook_sha256");
		strbuf_addf(&sb, "; the runbook had changed (sha256 %.12s…)", sha ? sha : "?");
	}
	if (dropped)
		strbuf_addf(&sb, "; an incomplete last line of %lld bytes was dropped",
			    (long long)I(dropped, "bytes"));
	struct audit_event *e = add_event(m, AUDIT_RESUME, o, current_step(s));
	e->what = "resume";
	e->reason = arena_memdupz(m->a, sb.buf, sb.len);
	strbuf_release(&sb);
	if (json_object_get(o, "target"))
		read_target(m, json_object_get(o, "target"));
}

static void read_end(struct summer *m, json_t *o)
{
	struct audit_summary *s = m->s;
	struct strbuf sb = STRBUF_INIT;
	const char *k;
	json_t *v;

	s->have_end = true;
	s->ended = S(m, o, "ts");
	s->result = S(m, o, "result");
	s->exit_code = (int)I(o, "exit");
	s->duration_ms = I(o, "duration_ms");
	s->rollback = S(m, o, "rollback");
	json_object_foreach(json_object_get(o, "steps"), k, v)
		strbuf_addf(&sb, "%s%s %lld", sb.len ? ", " : "", k, (long long)json_integer_value(v));
	s->step_counts = arena_memdupz(m->a, sb.buf, sb.len);
	strbuf_release(&sb);
}

static void summarise_line(struct summer *m, json_t *o)
{
	struct audit_summary *s = m->s;
	const char *type = jstr(o, "type");

	s->last_ts = S(m, o, "ts");
	if (!strcmp(type, "run.start")) {
		read_start(m, o);
	} else if (!strcmp(type, "target")) {
		read_target(m, o);
		struct audit_event *e = add_event(m, AUDIT_TARGET, o, current_step(s));
		e->what = "target";
		e->reason = s->target.conninfo;
	} else if (!strcmp(type, "prereq")) {
		struct audit_prereq *p = ARENA_PUSH(m->a, s->prereqs, s->nprereqs, s->prereqs_alloc);
		p->item = S(m, o, "item");
		p->status = S(m, o, "status");
		p->evidence = S(m, o, "evidence");
		p->source_line = (int)I(o, "line");
	} else if (!strcmp(type, "step.start")) {
		long si = new_step(m, json_object_get(o, "step"));
		s->steps[si].started = S(m, o, "ts");
	} else if (!strcmp(type, "step.end")) {
		read_step_end(m, o);
	} else if (!strcmp(type, "block.start")) {
		read_block_start(m, o);
	} else if (!strcmp(type, "block.end")) {
		read_block_end(m, o);
	} else if (!strcmp(type, "suggestions")) {
		read_suggestions(m, o);
	} else if (!strcmp(type, "decision")) {
		long si = current_step(s);
		struct audit_event *e = add_event(m, AUDIT_DECISION, o, si);
		e->what = S(m, o, "choice");
		e->reason = S(m, o, "reason");
		e->about = S(m, o, "about");
		e->by = S(m, o, "by");
		if (si >= 0)
			s->steps[si].ndecisions++;
	} else if (!strcmp(type, "monitor")) {
		struct audit_event *e = add_event(m, AUDIT_MONITOR, o, current_step(s));
		e->what = "lock monitor";
		e->reason = S(m, o, "summary");
	} else if (!strcmp(type, "final_state")) {
		struct audit_final *f = ARENA_PUSH(m->a, s->finals, s->nfinals, s->finals_alloc);
		f->metric = S(m, o, "metric");
		f->expected = S(m, o, "expected");
		f->actual = S(m, o, "actual");
		f->ok = B(o, "ok");
	} else if (!strcmp(type, "run.resume")) {
		read_resume(m, o);
	} else if (!strcmp(type, "run.end")) {
		read_end(m, o);
	}
}

static int verdict_rank(const char *v)
{
	if (!v || !strcmp(v, "passed"))
		return 0;
	if (!strcmp(v, "accepted") || !strcmp(v, "skipped"))
		return 1;
	if (!strcmp(v, "deviated"))
		return 2;
	return 3;
}

/* infer_ends gives the steps of a finished run that have no step.end (the
 * rollback commands of `runbook run`) the verdict of their commands. */
static void infer_ends(struct audit_summary *s)
{
	if (!s->have_end)
		return;
	for (size_t i = 0; i < s->nsteps; i++) {
		struct audit_step *st = &s->steps[i];
		bool all = st->nblocks > 0;
		for (size_t k = 0; k < st->nblocks && all; k++)
			all = st->blocks[k].ended;
		if (st->ended || !all)
			continue;
		st->ended = st->inferred = true;
		st->verdict = "passed";
		if (!st->started)
			st->started = st->blocks[0].started;
		for (size_t k = 0; k < st->nblocks; k++) {
			const struct audit_block *b = &st->blocks[k];
			if (verdict_rank(b->verdict) > verdict_rank(st->verdict))
				st->verdict = b->verdict;
			st->duration_ms += b->duration_ms;
			st->ended_at = b->ended_at;
		}
	}
}

/* summarise_more feeds lines from byte `pos` on to the summary until it
 * holds max_lines lines. */
static void summarise_more(struct summer *m, const char *data, size_t len, size_t pos, size_t max_lines)
{
	while (pos < len && m->line < max_lines) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		if (!nl)
			break;
		size_t llen = (size_t)(nl - (data + pos));
		json_error_t je;
		json_t *o = json_loadb(data + pos, llen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
		m->line++;
		if (o && json_is_object(o) && jstr(o, "type"))
			summarise_line(m, o);
		json_decref(o);
		pos += llen + 1;
	}
}

/* ---------- the verdict ---------- */

static void compute_up_to(struct verify_result *res, size_t covered)
{
	const struct audit_summary *s = &res->summary;
	const struct audit_step *best = NULL;
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct audit_step *st = &s->steps[i];
		if (st->ended && !st->inferred && st->end_line <= covered && (!best || st->end_line > best->end_line))
			best = st;
	}
	if (best) {
		res->up_to = best->label;
		res->up_to_number = best->role && !strcmp(best->role, "step") ? best->number : 0;
	}
}

int verify_buffer(const char *path, const char *data, size_t len, const char *logsig,
		  size_t logsig_len, const struct verify_opts *opts, struct verify_result *res)
{
	static const struct verify_opts no_opts = VERIFY_OPTS_INIT;
	struct checker c = { 0 };
	struct arena *a;
	char prev[SHA256_HEX_LEN + 1] = ZERO_HASH;
	struct sha512 whole;
	size_t pos = 0, lineno = 0;
	/* The summary is built in the same pass, one line behind the checks
	 * (a "prev" mismatch distrusts the line before it), while the journal
	 * is sound; parsing each line once instead of twice halves the JSON
	 * work, most of an unsigned verify. */
	struct summer m = { &res->arena, &res->summary, 0 };
	json_t *pend = NULL; /* the last line checked, not summarised yet */
	size_t pend_end = 0, summed_end = 0;

	memset(res, 0, sizeof(*res));
	a = &res->arena;
	res->path = path ? arena_strdup(a, path) : NULL;
	res->bytes = len;
	res->signers_checked = opts && opts->signers;
	sha256_hex(data, len, res->file_sha256);
	c.res = res;
	c.opts = opts ? opts : &no_opts;
	c.data = data;
	sha512_init(&whole);

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		if (!nl)
			break;
		size_t llen = (size_t)(nl - (data + pos));
		lineno++;
		if (!c.chain_broken) {
			json_t *o = NULL;
			check_line(&c, data + pos, llen, lineno, pos, prev, &whole, &o);
			if (!c.chain_broken) {
				sha256_hex(data + pos, llen, prev);
				sha512_update(&whole, data + pos, llen + 1);
				res->chained_lines = lineno;
			}
			if (pend) {
				if (!c.broken) {
					m.line++;
					summarise_line(&m, pend);
					summed_end = pend_end;
				}
				json_decref(pend);
			}
			pend = o;
			pend_end = pos + llen + 1;
		}
		pos += llen + 1;
	}
	flush_pending(&c);
	free(c.pending);
	c.pending = NULL;
	if (pend) {
		if (!c.broken) {
			m.line++;
			summarise_line(&m, pend);
			summed_end = pend_end;
		}
		json_decref(pend);
	}
	res->lines = lineno;
	res->complete = c.ended;
	if (pos < len) {
		res->partial_bytes = len - pos;
		add_note(res, afmt(a, "the last line is incomplete (%llu bytes, no newline): a crash cut it "
				      "short; it is ignored",
				   (unsigned long long)res->partial_bytes));
	}
	if (!c.broken && c.ended && res->partial_bytes)
		broken(&c, lineno + 1, lineno, "bytes after run.end");
	if (!c.broken && lineno == 0)
		broken(&c, 1, 0, res->partial_bytes ? "no complete line: not even run.start was written"
						     : "the journal is empty");
	res->is_signed = c.declared_key || res->checkpoints || logsig;

	if (logsig) {
		unsigned char digest[SHA512_LEN];
		if (res->chained_lines == lineno && !res->partial_bytes) {
			/* `whole` already holds every byte of the file */
			struct sha512 copy = whole;
			sha512_final(&copy, digest);
		} else {
			sha512_buffer(data, len, digest);
		}
		const char *why = check_signature(&c, logsig, logsig_len, digest, "LOG.sig", 1);
		res->logsig = why ? LOGSIG_INVALID : LOGSIG_VALID;
		res->logsig_reason = why;
		if (!why && !c.broken && !res->partial_bytes)
			res->covered_lines = res->lines;
		if (why && !c.broken) {
			size_t at = res->covered_lines + 1 <= res->lines ? res->covered_lines + 1 : res->lines;
			bad_signature(&c, at ? at : 1, res->covered_lines,
			       afmt(a, "%s; lines %zu-%zu are covered by no valid signature", why,
				    res->covered_lines + 1, res->lines));
		}
	}

	if (c.broken) {
		/* the verdict is set */
	} else if (!res->is_signed) {
		c.summary_lines = res->lines;
		if (c.ended) {
			res->verdict = VERIFY_UNSIGNED;
		} else {
			res->verdict = VERIFY_INCOMPLETE;
			res->reason = "no run.end: the run stopped before it finished (a crash or a kill), "
				      "and nothing is signed";
		}
	} else {
		c.summary_lines = res->lines;
		if (res->logsig == LOGSIG_VALID && c.ended) {
			res->verdict = VERIFY_COMPLETE;
		} else if (c.ended) {
			res->verdict = VERIFY_INCOMPLETE;
			res->reason = afmt(a, "LOG.sig is missing: lines %zu-%zu, up to run.end, are covered by "
					      "no signature",
					   res->covered_lines + 1, res->lines);
		} else {
			res->verdict = VERIFY_INCOMPLETE;
			if (res->covered_lines < res->lines)
				res->reason = afmt(a, "no run.end: the run stopped before it finished (a crash or "
						      "a kill); lines %zu-%zu after the last checkpoint are covered "
						      "by no signature",
						   res->covered_lines + 1, res->lines);
			else
				res->reason = "no run.end: the run stopped before it finished (a crash or a kill)";
		}
	}
	if (!res->is_signed && opts && opts->signers && !c.broken)
		add_note(res, "the journal is not signed: allowed_signers was not used");
	res->summarised_lines = c.summary_lines;
	if (m.line > c.summary_lines) {
		/* a signature failed after those lines were summarised: start
		 * again (the arena keeps the first attempt until release) */
		memset(&res->summary, 0, sizeof(res->summary));
		m.line = 0;
		summed_end = 0;
	}
	summarise_more(&m, data, len, summed_end, c.summary_lines);
	infer_ends(m.s);
	compute_up_to(res, res->is_signed ? res->covered_lines : c.summary_lines);
	return 0;
}

static int read_file(const char *path, struct strbuf *out, bool *missing, struct strbuf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (missing && errno == ENOENT) {
			*missing = true;
			return 0;
		}
		strbuf_addf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (strbuf_read_fd(out, fd) < 0) {
		strbuf_addf(err, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int verify_file(const char *path, const struct verify_opts *opts, struct verify_result *res,
		struct strbuf *err)
{
	struct strbuf data = STRBUF_INIT, sig = STRBUF_INIT;
	char *sig_path = opts && opts->sig_path ? xstrdup(opts->sig_path) : xasprintf("%s.sig", path);
	bool missing = false;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	if (read_file(path, &data, NULL, err) < 0)
		goto out;
	if (read_file(sig_path, &sig, &missing, err) < 0)
		goto out;
	verify_buffer(path, data.buf, data.len, missing ? NULL : sig.buf, sig.len, opts, res);
	res->sig_path = arena_strdup(&res->arena, sig_path);
	ret = 0;
out:
	free(sig_path);
	strbuf_release(&data);
	strbuf_release(&sig);
	return ret;
}

void verify_result_release(struct verify_result *res)
{
	arena_release(&res->arena);
	memset(res, 0, sizeof(*res));
}

/* ---------- telling it ---------- */

const char *verify_verdict_word(enum verify_verdict v)
{
	switch (v) {
	case VERIFY_COMPLETE: return "verified";
	case VERIFY_INCOMPLETE: return "incomplete";
	case VERIFY_UNSIGNED: return "unsigned";
	case VERIFY_BROKEN: return "broken";
	}
	return "?";
}

static void up_to_text(const struct verify_result *res, struct strbuf *out)
{
	if (!res->up_to)
		strbuf_addstr(out, "the start");
	else if (res->up_to_number)
		strbuf_addstr(out, res->up_to);
	else if (!strcmp(res->up_to, "final verification"))
		strbuf_addstr(out, "the final verification");
	else
		strbuf_addf(out, "the %s", res->up_to);
}

void verify_headline(const struct verify_result *res, struct strbuf *out)
{
	switch (res->verdict) {
	case VERIFY_COMPLETE:
		strbuf_addstr(out, "verified complete");
		break;
	case VERIFY_INCOMPLETE:
		if (res->is_signed && !res->up_to && !res->covered_lines) {
			strbuf_addstr(out, "incomplete: no step is covered by a signature");
			break;
		}
		strbuf_addstr(out, "verified up to ");
		up_to_text(res, out);
		strbuf_addstr(out, res->is_signed ? " (incomplete)" : " (incomplete, unsigned)");
		break;
	case VERIFY_UNSIGNED:
		strbuf_addstr(out, "unsigned (chain intact, complete)");
		break;
	case VERIFY_BROKEN:
		strbuf_addf(out, "BROKEN at line %zu (%s)", res->broken_line, res->reason ? res->reason : "?");
		break;
	}
}

/* jstring_or_null never returns NULL: json_pack() leaks the values already
 * made when one of its arguments is NULL (found by fuzzing), and a string
 * cut inside a UTF-8 sequence is not a JSON string. */
static json_t *jstring_or_null(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	struct strbuf clean = STRBUF_INIT;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x80)
			strbuf_addch(&clean, *p);
		else
			strbuf_addf(&clean, "\\x%02x", *p);
	}
	j = json_string(clean.buf);
	strbuf_release(&clean);
	return j ? j : json_null();
}

static json_t *stream_json(const struct audit_stream *st)
{
	if (!st->present)
		return json_null();
	return json_pack("{s:I,s:o,s:o,s:b}", "bytes", (json_int_t)st->bytes, "sha256",
			 jstring_or_null(st->sha256), "text", jstring_or_null(st->text), "truncated",
			 st->truncated);
}

static const char *const event_kinds[] = {
	[AUDIT_DEVIATION] = "deviation", [AUDIT_FAILURE] = "failure", [AUDIT_SKIP] = "skip",
	[AUDIT_ACCEPT] = "accept",       [AUDIT_DECISION] = "decision", [AUDIT_RESUME] = "resume",
	[AUDIT_TARGET] = "target",       [AUDIT_MONITOR] = "monitor",
};

static json_t *summary_json(const struct audit_summary *s)
{
	json_t *o = json_object();
	json_t *steps = json_array(), *events = json_array(), *prereqs = json_array(), *finals = json_array();
	json_t *vars = json_array();

	if (!s->have_start) {
		json_decref(o);
		json_decref(steps);
		json_decref(events);
		json_decref(prereqs);
		json_decref(finals);
		json_decref(vars);
		return json_null();
	}
	json_object_set_new(o, "runbook",
			    json_pack("{s:o,s:o,s:o,s:I}", "path", jstring_or_null(s->runbook_path), "title",
				      jstring_or_null(s->runbook_title), "sha256",
				      jstring_or_null(s->runbook_sha256), "steps", (json_int_t)s->runbook_steps));
	json_object_set_new(o, "mode", jstring_or_null(s->mode));
	json_object_set_new(o, "tool_version", jstring_or_null(s->tool_version));
	json_object_set_new(o, "operator",
			    json_pack("{s:o,s:I,s:o,s:b}", "user", jstring_or_null(s->user), "uid",
				      (json_int_t)s->uid, "host", jstring_or_null(s->host), "interactive",
				      s->interactive));
	json_object_set_new(o, "started", jstring_or_null(s->started));
	json_object_set_new(o, "ended", jstring_or_null(s->ended));
	json_object_set_new(o, "duration_ms", s->have_end ? json_integer(s->duration_ms) : json_null());
	json_object_set_new(o, "result", jstring_or_null(s->result));
	json_object_set_new(o, "exit", s->have_end ? json_integer(s->exit_code) : json_null());
	if (s->rollback)
		json_object_set_new(o, "rollback", json_string(s->rollback));
	json_object_set_new(o, "options", jstring_or_null(s->options));
	json_object_set_new(o, "signing_key", jstring_or_null(s->signing_key));
	if (s->target.present)
		json_object_set_new(o, "target",
				    json_pack("{s:o,s:o,s:o,s:o,s:o,s:b}", "conninfo",
					      jstring_or_null(s->target.conninfo), "database",
					      jstring_or_null(s->target.database), "user",
					      jstring_or_null(s->target.user), "server_version",
					      jstring_or_null(s->target.server_version), "system_identifier",
					      jstring_or_null(s->target.system_identifier), "sandbox",
					      s->target.sandbox));
	else
		json_object_set_new(o, "target", json_null());
	for (size_t i = 0; i < s->nvars; i++)
		json_array_append_new(vars, json_pack("{s:o,s:o}", "name", jstring_or_null(s->vars[i].name),
						      "value", jstring_or_null(s->vars[i].value)));
	json_object_set_new(o, "vars", vars);
	for (size_t i = 0; i < s->nprereqs; i++)
		json_array_append_new(prereqs, json_pack("{s:o,s:o,s:o}", "item",
							 jstring_or_null(s->prereqs[i].item), "status",
							 jstring_or_null(s->prereqs[i].status), "evidence",
							 jstring_or_null(s->prereqs[i].evidence)));
	json_object_set_new(o, "prereqs", prereqs);
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct audit_step *st = &s->steps[i];
		json_t *blocks = json_array();
		for (size_t k = 0; k < st->nblocks; k++) {
			const struct audit_block *b = &st->blocks[k];
			json_t *bo = json_pack("{s:I,s:i,s:i,s:o,s:o,s:b}", "line", (json_int_t)b->line, "block",
					       b->index, "attempt", b->attempt, "kind", jstring_or_null(b->kind),
					       "command", jstring_or_null(b->command), "ended", b->ended);
			if (b->ended) {
				json_object_set_new(bo, "verdict", jstring_or_null(b->verdict));
				json_object_set_new(bo, "exit", json_integer(b->exit_code));
				json_object_set_new(bo, "duration_ms", json_integer(b->duration_ms));
				json_object_set_new(bo, "reason", jstring_or_null(b->reason));
				if (b->sqlstate)
					json_object_set_new(bo, "sqlstate", json_string(b->sqlstate));
				if (b->diff)
					json_object_set_new(bo, "diff", json_string(b->diff));
				json_object_set_new(bo, "stdout", stream_json(&b->out));
				json_object_set_new(bo, "stderr", stream_json(&b->err));
			}
			json_array_append_new(blocks, bo);
		}
		json_t *so = json_pack("{s:o,s:o,s:o,s:I,s:o,s:o,s:b,s:o}", "label", jstring_or_null(st->label),
				       "role", jstring_or_null(st->role), "title", jstring_or_null(st->title),
				       "line", (json_int_t)st->line, "started", jstring_or_null(st->started),
				       "verdict", jstring_or_null(st->verdict), "ended", st->ended, "note",
				       jstring_or_null(st->note));
		if (st->role && !strcmp(st->role, "step"))
			json_object_set_new(so, "number", json_integer(st->number));
		json_object_set_new(so, "duration_ms", st->ended ? json_integer(st->duration_ms) : json_null());
		json_object_set_new(so, "blocks", blocks);
		if (st->nsuggestions) {
			json_t *rows = json_array();
			for (size_t k = 0; k < st->nsuggestions; k++) {
				const struct audit_suggestion *g = &st->suggestions[k];
				json_array_append_new(rows, json_pack("{s:i,s:o,s:o,s:o,s:i}", "block", g->block,
								      "error", jstring_or_null(g->error), "cause",
								      jstring_or_null(g->cause), "solution",
								      jstring_or_null(g->solution), "score_pct",
								      g->score_pct));
			}
			json_object_set_new(so, "suggestions", rows);
		}
		json_array_append_new(steps, so);
	}
	json_object_set_new(o, "steps", steps);
	for (size_t i = 0; i < s->nevents; i++) {
		const struct audit_event *e = &s->events[i];
		json_t *eo = json_pack("{s:s,s:I,s:o,s:o,s:o,s:o}", "kind", event_kinds[e->kind], "line",
				       (json_int_t)e->line, "ts", jstring_or_null(e->ts), "step",
				       e->step >= 0 ? json_string(s->steps[e->step].label) : json_null(), "what",
				       jstring_or_null(e->what), "reason", jstring_or_null(e->reason));
		if (e->kind == AUDIT_DECISION) {
			json_object_set_new(eo, "about", jstring_or_null(e->about));
			json_object_set_new(eo, "by", jstring_or_null(e->by));
		}
		json_array_append_new(events, eo);
	}
	json_object_set_new(o, "events", events);
	for (size_t i = 0; i < s->nfinals; i++)
		json_array_append_new(finals, json_pack("{s:o,s:o,s:o,s:b}", "metric",
							jstring_or_null(s->finals[i].metric), "expected",
							jstring_or_null(s->finals[i].expected), "actual",
							jstring_or_null(s->finals[i].actual), "ok", s->finals[i].ok));
	json_object_set_new(o, "final_state", finals);
	return o;
}

void verify_result_json(const struct verify_result *res, struct strbuf *out)
{
	struct strbuf headline = STRBUF_INIT;
	json_t *o = json_object(), *signers = json_array(), *notes = json_array();
	static const char *const logsig_words[] = { "missing", "valid", "invalid" };

	verify_headline(res, &headline);
	json_object_set_new(o, "journal", jstring_or_null(res->path));
	json_object_set_new(o, "verdict", json_string(verify_verdict_word(res->verdict)));
	json_object_set_new(o, "ok", json_boolean(res->verdict == VERIFY_COMPLETE));
	json_object_set_new(o, "headline", json_string(headline.buf));
	json_object_set_new(o, "broken_line",
			    res->verdict == VERIFY_BROKEN ? json_integer((json_int_t)res->broken_line) : json_null());
	json_object_set_new(o, "reason", jstring_or_null(res->reason));
	json_object_set_new(o, "complete", json_boolean(res->complete));
	json_object_set_new(o, "lines", json_integer((json_int_t)res->lines));
	json_object_set_new(o, "bytes", json_integer((json_int_t)res->bytes));
	json_object_set_new(o, "sha256", json_string(res->file_sha256));
	json_object_set_new(o, "signed", json_boolean(res->is_signed));
	json_object_set_new(o, "signers_checked", json_boolean(res->signers_checked));
	json_object_set_new(o, "checkpoints", json_integer((json_int_t)res->checkpoints));
	json_object_set_new(o, "covered_lines", json_integer((json_int_t)res->covered_lines));
	json_object_set_new(o, "log_sig", json_string(logsig_words[res->logsig]));
	if (res->logsig_reason)
		json_object_set_new(o, "log_sig_reason", json_string(res->logsig_reason));
	json_object_set_new(o, "up_to", jstring_or_null(res->up_to));
	for (size_t i = 0; i < res->nsigners; i++)
		json_array_append_new(signers, json_pack("{s:s,s:o,s:I}", "key", res->signers[i].fingerprint,
							 "principal", jstring_or_null(res->signers[i].principal),
							 "signatures", (json_int_t)res->signers[i].signatures));
	json_object_set_new(o, "signers", signers);
	for (size_t i = 0; i < res->nnotes; i++)
		json_array_append_new(notes, json_string(res->notes[i]));
	json_object_set_new(o, "notes", notes);
	json_object_set_new(o, "summary", summary_json(&res->summary));
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text) {
		strbuf_addstr(out, text);
		strbuf_addch(out, '\n');
		free(text);
	}
	json_decref(o);
	strbuf_release(&headline);
}
