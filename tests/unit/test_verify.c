/* test_verify.c - the journal verifier and the report, on journals built
 * line by line (to break them exactly) and on journals the real writer
 * signs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/report.h"
#include "audit/runlog.h"
#include "sign/sign.h"
#include "audit/verify.h"
#include "base/xalloc.h"

static char tmpdir[256];

/* ---- building journals by hand ---- */

struct jb {
	struct strbuf data;
	char prev[SHA256_HEX_LEN + 1];
	int seq;
};

static void jb_init(struct jb *b)
{
	strbuf_init(&b->data, 0);
	memset(b->prev, '0', SHA256_HEX_LEN);
	b->prev[SHA256_HEX_LEN] = '\0';
	b->seq = 0;
}

/* jb_raw appends one line as given (plus its newline) and chains on it. */
static void jb_raw(struct jb *b, const char *line)
{
	strbuf_addstr(&b->data, line);
	strbuf_addch(&b->data, '\n');
	sha256_hex(line, strlen(line), b->prev);
	b->seq++;
}

/* jb_add appends {"v":1,"seq":N,"ts":...,"type":TYPE,"prev":...[,REST]}. */
static void jb_add(struct jb *b, const char *type, const char *rest)
{
	struct strbuf line = STRBUF_INIT;
	strbuf_addf(&line, "{\"v\":1,\"seq\":%d,\"ts\":\"2026-11-21T13:00:%02d.000Z\",\"type\":\"%s\",\"prev\":\"%s\"%s%s}",
		    b->seq, b->seq % 60, type, b->prev, rest && *rest ? "," : "", rest ? rest : "");
	jb_raw(b, line.buf);
	strbuf_release(&line);
}

/* jb_sig appends a checkpoint signed by `key`, naming `fingerprint`. */
static void jb_sig(struct jb *b, struct sign_key *key, const char *fingerprint)
{
	struct strbuf armored = STRBUF_INIT, rest = STRBUF_INIT, err = STRBUF_INIT;
	assert_int_equal(sign_buffer(key, "runbook-log", b->data.buf, b->data.len, &armored, &err), 0);
	strbuf_addf(&rest, "\"covers\":{\"bytes\":%zu,\"lines\":%d},\"after\":\"step 1\",\"namespace\":\"runbook-log\",\"key\":\"%s\",\"signature\":",
		    b->data.len, b->seq, fingerprint);
	strbuf_add_json_string(&rest, armored.buf, armored.len);
	jb_add(b, "sig", rest.buf);
	strbuf_release(&armored);
	strbuf_release(&rest);
	strbuf_release(&err);
}

#define START "\"tool\":{\"name\":\"runbook\",\"version\":\"0.1.0\"},\"mode\":\"run\"," \
	"\"runbook\":{\"path\":\"guide.md\",\"sha256\":\"abc\",\"title\":\"Guide <b>\",\"steps\":2}," \
	"\"operator\":{\"user\":\"alice\",\"uid\":1000,\"host\":\"bastion\",\"interactive\":true}," \
	"\"target\":null,\"options\":{\"yes\":false,\"timeout_ms\":3600000,\"on_fail\":\"stop\"},\"vars\":[]"
#define STEP1 "\"step\":{\"role\":\"step\",\"number\":1,\"title\":\"One\",\"line\":5}"
#define STEP2 "\"step\":{\"role\":\"step\",\"number\":2,\"title\":\"Two\",\"line\":9}"

/* a run of two steps: step 1 deviates and is skipped, step 2 passes */
static void body(struct jb *b)
{
	jb_add(b, "step.start", STEP1);
	jb_add(b, "block.start", STEP1 ",\"block\":0,\"kind\":\"shell\",\"line\":6,\"attempt\":1,\"command\":\"echo <script>alert(1)</script>\"");
	jb_add(b, "block.end", STEP1 ",\"block\":0,\"line\":6,\"duration_ms\":4,\"exit\":0,\"verdict\":\"deviated\","
			       "\"reason\":\"expected 42\",\"diff\":\"-42\\n+41\\n\",\"stdout\":{\"bytes\":3,\"sha256\":\"x\","
			       "\"text\":\"41\\n```\\n| cell\\n\",\"truncated\":false}");
	jb_add(b, "decision", "\"choice\":\"skip\",\"reason\":\"known <i>lag</i>\",\"about\":\"expected 42\",\"by\":\"operator\"");
	jb_add(b, "step.end", STEP1 ",\"verdict\":\"skipped\",\"duration_ms\":10,\"note\":\"known <i>lag</i>\"");
	jb_add(b, "step.start", STEP2);
	jb_add(b, "block.start", STEP2 ",\"block\":1,\"kind\":\"sql\",\"line\":10,\"attempt\":1,\"command\":\"SELECT 1\"");
	jb_add(b, "block.end", STEP2 ",\"block\":1,\"line\":10,\"duration_ms\":2,\"exit\":0,\"verdict\":\"passed\",\"reason\":\"\"");
	jb_add(b, "step.end", STEP2 ",\"verdict\":\"passed\",\"duration_ms\":3");
}

static void end(struct jb *b)
{
	jb_add(b, "run.end", "\"result\":\"completed\",\"exit\":0,\"steps\":{\"passed\":1,\"skipped\":1},\"duration_ms\":20");
}

static void check(struct jb *b, const char *logsig, const struct verify_opts *opts, struct verify_result *res)
{
	assert_int_equal(verify_buffer("t.jsonl", b->data.buf, b->data.len, logsig, logsig ? strlen(logsig) : 0, opts,
				       res),
			 0);
}

static void assert_broken(struct verify_result *res, size_t line, const char *why)
{
	if (res->verdict != VERIFY_BROKEN || res->broken_line != line || !res->reason || !strstr(res->reason, why))
		fail_msg("want BROKEN at line %zu (%s), got verdict %d at line %zu (%s)", line, why, res->verdict,
			 res->broken_line, res->reason ? res->reason : "");
}

/* ---- tests ---- */

static void parse_time(void **state)
{
	(void)state;
	assert_int_equal(verify_parse_time("1970-01-01T00:00:01.250Z"), 1250);
	assert_int_equal(verify_parse_time("2026-11-21T13:49:50.412Z") % 1000, 412);
	assert_int_equal(verify_parse_time("2026-11-21T13:49:50Z"), -1);
	assert_int_equal(verify_parse_time("2026-13-21T13:49:50.412Z"), -1);
	assert_int_equal(verify_parse_time("2026-11-21T13:49:50.412Zx"), -1);
	assert_int_equal(verify_parse_time(NULL), -1);
}

static void unsigned_complete_with_summary(void **state)
{
	(void)state;
	struct jb b;
	struct verify_result res;
	struct strbuf head = STRBUF_INIT;

	jb_init(&b);
	jb_add(&b, "run.start", START);
	body(&b);
	end(&b);
	check(&b, NULL, NULL, &res);
	assert_int_equal(res.verdict, VERIFY_UNSIGNED);
	verify_headline(&res, &head);
	assert_string_equal(head.buf, "unsigned (chain intact, complete)");
	assert_int_equal(res.lines, 11);
	assert_int_equal(res.chained_lines, 11);
	assert_true(res.complete);
	assert_false(res.is_signed);

	const struct audit_summary *s = &res.summary;
	assert_string_equal(s->user, "alice");
	assert_string_equal(s->host, "bastion");
	assert_string_equal(s->runbook_title, "Guide <b>");
	assert_string_equal(s->result, "completed");
	assert_int_equal(s->nsteps, 2);
	assert_string_equal(s->steps[0].label, "step 1");
	assert_string_equal(s->steps[0].verdict, "skipped");
	assert_string_equal(s->steps[0].note, "known <i>lag</i>");
	assert_int_equal(s->steps[0].nblocks, 1);
	assert_string_equal(s->steps[0].blocks[0].diff, "-42\n+41\n");
	assert_string_equal(s->steps[1].verdict, "passed");
	assert_int_equal(s->nevents, 3);
	assert_int_equal(s->events[0].kind, AUDIT_DEVIATION);
	assert_int_equal(s->events[0].line, 4);
	assert_int_equal(s->events[1].kind, AUDIT_DECISION);
	assert_string_equal(s->events[1].what, "skip");
	assert_string_equal(s->events[1].reason, "known <i>lag</i>");
	assert_int_equal(s->events[1].step, 0);
	assert_int_equal(s->events[2].kind, AUDIT_SKIP);
	assert_string_equal(res.up_to, "step 2");

	struct strbuf json = STRBUF_INIT;
	verify_result_json(&res, &json);
	assert_non_null(strstr(json.buf, "\"verdict\": \"unsigned\""));
	assert_non_null(strstr(json.buf, "\"kind\": \"decision\""));
	strbuf_release(&json);
	strbuf_release(&head);
	verify_result_release(&res);
	strbuf_release(&b.data);
}

/* each way of breaking a line, where it is caught and what is said */
static void broken_lines(void **state)
{
	(void)state;
	struct {
		const char *name;
		int at;              /* replace line `at` (1-based) ... */
		const char *line;    /* ... with this text; NULL: see below */
		size_t want_line;
		const char *why;
	} cases[] = {
		{ "not JSON", 3, "{\"v\":1,\"seq\":2,", 3, "not JSON" },
		{ "an array", 3, "[1,2]", 3, "not a JSON object" },
		{ "v 2", 3, "{\"v\":2,\"seq\":2,\"ts\":\"2026-11-21T13:00:02.000Z\",\"type\":\"decision\",\"prev\":\"%s\"}", 3, "\"v\" is not 1" },
		{ "seq gap", 3, "{\"v\":1,\"seq\":3,\"ts\":\"2026-11-21T13:00:02.000Z\",\"type\":\"decision\",\"prev\":\"%s\"}", 3, "seq is 3 where 2" },
		{ "prev", 3, "{\"v\":1,\"seq\":2,\"ts\":\"2026-11-21T13:00:02.000Z\",\"type\":\"decision\",\"prev\":\"%.63s1\"}", 3, "\"prev\" does not match the SHA-256 of line 2" },
		{ "unknown type", 3, "{\"v\":1,\"seq\":2,\"ts\":\"2026-11-21T13:00:02.000Z\",\"type\":\"step.bogus\",\"prev\":\"%s\"}", 3, "unknown record type 'step.bogus'" },
		{ "key order", 3, "{\"seq\":2,\"v\":1,\"ts\":\"2026-11-21T13:00:02.000Z\",\"type\":\"decision\",\"prev\":\"%s\"}", 3, "first keys" },
		{ "duplicate key", 3, "{\"v\":1,\"seq\":2,\"ts\":\"2026-11-21T13:00:02.000Z\",\"type\":\"decision\",\"prev\":\"%s\",\"by\":\"a\",\"by\":\"b\"}", 3, "duplicate" },
		{ "bad time", 3, "{\"v\":1,\"seq\":2,\"ts\":\"yesterday\",\"type\":\"decision\",\"prev\":\"%s\"}", 3, "\"ts\" is not a UTC time" },
		{ "second run.start", 3, "{\"v\":1,\"seq\":2,\"ts\":\"2026-11-21T13:00:02.000Z\",\"type\":\"run.start\",\"prev\":\"%s\"}", 3, "a second run.start" },
		{ "first line", 1, "{\"v\":1,\"seq\":0,\"ts\":\"2026-11-21T13:00:02.000Z\",\"type\":\"decision\",\"prev\":\"%s\"}", 1, "the first line is not a run.start" },
		{ "invalid UTF-8", 3, "{\"v\":1,\"seq\":2,\"ts\":\"2026-11-21T13:00:02.000Z\",\"type\":\"decision\",\"prev\":\"%s\",\"x\":\"\xff\"}", 3, "not JSON" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jb b;
		struct verify_result res;
		jb_init(&b);
		for (int n = 1; n <= 5; n++) {
			if (n == cases[i].at) {
				char *line = xasprintf(cases[i].line, b.prev);
				jb_raw(&b, line);
				free(line);
			} else if (n == 1) {
				jb_add(&b, "run.start", START);
			} else {
				jb_add(&b, "decision", "\"choice\":\"continue\"");
			}
		}
		end(&b);
		check(&b, NULL, NULL, &res);
		print_message("# %s\n", cases[i].name);
		assert_broken(&res, cases[i].want_line, cases[i].why);
		verify_result_release(&res);
		strbuf_release(&b.data);
	}
}

static void after_end_empty_and_partial(void **state)
{
	(void)state;
	struct jb b;
	struct verify_result res;
	struct strbuf head = STRBUF_INIT;

	jb_init(&b);
	jb_add(&b, "run.start", START);
	end(&b);
	jb_add(&b, "decision", "\"choice\":\"accept\"");
	check(&b, NULL, NULL, &res);
	assert_broken(&res, 3, "a record after run.end");
	verify_result_release(&res);

	strbuf_setlen(&b.data, b.data.len - strlen(strrchr(b.data.buf, '{')));
	strbuf_addstr(&b.data, "junk");
	check(&b, NULL, NULL, &res);
	assert_broken(&res, 3, "bytes after run.end");
	verify_result_release(&res);

	strbuf_reset(&b.data);
	check(&b, NULL, NULL, &res);
	assert_broken(&res, 1, "empty");
	verify_result_release(&res);

	/* a crash: no run.end, and half a line */
	strbuf_release(&b.data);
	jb_init(&b);
	jb_add(&b, "run.start", START);
	body(&b);
	jb_add(&b, "step.start", "\"step\":{\"role\":\"step\",\"number\":3,\"title\":\"Three\",\"line\":12}");
	strbuf_addstr(&b.data, "{\"v\":1,\"seq\":11,\"ts\":\"2026-");
	check(&b, NULL, NULL, &res);
	assert_int_equal(res.verdict, VERIFY_INCOMPLETE);
	assert_int_equal(res.partial_bytes, 27);
	assert_int_equal(res.lines, 11);
	verify_headline(&res, &head);
	assert_string_equal(head.buf, "verified up to step 2 (incomplete, unsigned)");
	assert_int_equal(res.nnotes, 1);
	assert_non_null(strstr(res.notes[0], "incomplete (27 bytes, no newline)"));
	assert_false(res.summary.steps[2].ended);
	strbuf_release(&head);
	verify_result_release(&res);
	strbuf_release(&b.data);
}

static struct sign_key *make_key(const char *name, struct strbuf *pub)
{
	struct strbuf err = STRBUF_INIT;
	char *path = xasprintf("%s/%s", tmpdir, name);
	char *pubpath = xasprintf("%s.pub", path);
	assert_int_equal(sign_keygen(path, "test", &err), 0);
	struct sign_key *k = sign_key_load(path, &err);
	assert_non_null(k);
	if (pub)
		assert_int_equal(sign_read_pubkey_file(pubpath, pub, &err), 0);
	free(path);
	free(pubpath);
	strbuf_release(&err);
	return k;
}

static void read_all(const char *path, struct strbuf *out)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(strbuf_read_fd(out, fd), 0);
	close(fd);
}

/* the real writer's signed journal verifies; then it is broken in ways
 * that only the signatures can tell */
static void signed_by_the_writer(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT, pub = STRBUF_INIT, data = STRBUF_INIT, sig = STRBUF_INIT;
	struct strbuf signers = STRBUF_INIT, head = STRBUF_INIT;
	struct sign_key *k = make_key("alice", &pub);
	char *path = xasprintf("%s/w.jsonl", tmpdir), *sigpath = xasprintf("%s.sig", path);
	struct runlog log;
	struct verify_result res;

	assert_int_equal(runlog_open_new(&log, path, NULL, &err), 0);
	struct jrec *r = runlog_rec(&log, "run.start");
	jrec_open(r, "runbook");
	jrec_str(r, "title", "Written");
	jrec_close(r);
	jrec_open(r, "signing");
	jrec_raw_str(r, "key", sign_key_fingerprint(k));
	jrec_raw_str(r, "public", sign_key_public(k));
	jrec_raw_str(r, "namespace", "runbook-log");
	jrec_close(r);
	assert_int_equal(runlog_emit(&log, r, &err), 0);
	for (int n = 1; n <= 2; n++) {
		r = runlog_rec(&log, "step.start");
		jrec_open(r, "step");
		jrec_raw_str(r, "role", "step");
		jrec_int(r, "number", n);
		jrec_close(r);
		assert_int_equal(runlog_emit(&log, r, &err), 0);
		r = runlog_rec(&log, "step.end");
		jrec_open(r, "step");
		jrec_raw_str(r, "role", "step");
		jrec_int(r, "number", n);
		jrec_close(r);
		jrec_raw_str(r, "verdict", "passed");
		assert_int_equal(runlog_emit(&log, r, &err), 0);
		assert_int_equal(runlog_checkpoint(&log, k, "step", &err), 0);
	}
	r = runlog_rec(&log, "run.end");
	jrec_raw_str(r, "result", "completed");
	assert_int_equal(runlog_emit(&log, r, &err), 0);
	assert_int_equal(runlog_finish(&log, k, &err), 0);

	struct verify_opts opts = VERIFY_OPTS_INIT;
	assert_int_equal(verify_file(path, &opts, &res, &err), 0);
	assert_int_equal(res.verdict, VERIFY_COMPLETE);
	assert_int_equal(res.checkpoints, 2);
	assert_int_equal(res.logsig, LOGSIG_VALID);
	assert_int_equal(res.covered_lines, 8);
	assert_int_equal(res.nsigners, 1);
	assert_string_equal(res.signers[0].fingerprint, sign_key_fingerprint(k));
	assert_int_equal(res.signers[0].signatures, 3);
	verify_result_release(&res);

	/* allowed_signers: who, and a principal that is not allowed */
	strbuf_addf(&signers, "alice@example.com %s\n", pub.buf);
	struct allowed_signers *as = allowed_signers_parse("signers", signers.buf, signers.len, &err);
	assert_non_null(as);
	opts.signers = as;
	assert_int_equal(verify_file(path, &opts, &res, &err), 0);
	assert_int_equal(res.verdict, VERIFY_COMPLETE);
	assert_string_equal(res.signers[0].principal, "alice@example.com");
	verify_result_release(&res);
	opts.principal = "bob@example.com";
	assert_int_equal(verify_file(path, &opts, &res, &err), 0);
	assert_broken(&res, 4, "not in allowed_signers for principal bob@example.com");
	verify_result_release(&res);
	opts.principal = NULL;

	read_all(path, &data);
	read_all(sigpath, &sig);

	/* every bit flipped anywhere, one at a time, is caught */
	size_t missed = 0;
	for (size_t pos = 0; pos < data.len; pos++) {
		for (int bit = 0; bit < 8; bit += 3) {
			data.buf[pos] ^= (char)(1 << bit);
			assert_int_equal(verify_buffer("w", data.buf, data.len, sig.buf, sig.len, &opts, &res), 0);
			if (res.verdict != VERIFY_BROKEN) {
				print_message("# flip of bit %d at byte %zu not caught\n", bit, pos);
				missed++;
			}
			verify_result_release(&res);
			data.buf[pos] ^= (char)(1 << bit);
		}
	}
	assert_int_equal(missed, 0);

	/* no LOG.sig: the last lines are signed by nothing */
	assert_int_equal(verify_buffer("w", data.buf, data.len, NULL, 0, &opts, &res), 0);
	assert_int_equal(res.verdict, VERIFY_INCOMPLETE);
	assert_non_null(strstr(res.reason, "LOG.sig is missing: lines 7-8"));
	verify_headline(&res, &head);
	assert_string_equal(head.buf, "verified up to step 2 (incomplete)");
	verify_result_release(&res);

	/* run.end replaced, chain recomputed: LOG.sig no longer matches */
	struct jb forged;
	jb_init(&forged);
	{
		const char *last = data.buf + data.len - 1;
		while (last > data.buf && last[-1] != '\n')
			last--;
		strbuf_add(&forged.data, data.buf, (size_t)(last - data.buf));
		const char *prevline = last - 1;
		while (prevline > data.buf && prevline[-1] != '\n')
			prevline--;
		sha256_hex(prevline, (size_t)(last - 1 - prevline), forged.prev);
		forged.seq = 7;
		jb_add(&forged, "run.end", "\"result\":\"completed\",\"exit\":0,\"forged\":true");
	}
	assert_int_equal(verify_buffer("f", forged.data.buf, forged.data.len, sig.buf, sig.len, &opts, &res), 0);
	assert_broken(&res, 7, "LOG.sig: signature does not match the data; lines 7-8");
	assert_int_equal(res.chained_lines, 8);
	verify_result_release(&res);
	strbuf_release(&forged.data);

	allowed_signers_free(as);
	sign_key_free(k);
	free(path);
	free(sigpath);
	strbuf_release(&err);
	strbuf_release(&pub);
	strbuf_release(&data);
	strbuf_release(&sig);
	strbuf_release(&signers);
	strbuf_release(&head);
}

/* checkpoints must cover exactly what precedes them, by the declared key */
static void checkpoint_rules(void **state)
{
	(void)state;
	struct strbuf pub = STRBUF_INIT;
	struct sign_key *k = make_key("bob", &pub), *other = make_key("carol", NULL);
	struct verify_result res;
	struct jb b;
	char *signing = xasprintf(START ",\"signing\":{\"key\":\"%s\",\"public\":\"%s\",\"namespace\":\"runbook-log\"}",
				  sign_key_fingerprint(k), sign_key_public(k));

	/* good */
	jb_init(&b);
	jb_add(&b, "run.start", signing);
	body(&b);
	jb_sig(&b, k, sign_key_fingerprint(k));
	check(&b, NULL, NULL, &res);
	assert_int_equal(res.verdict, VERIFY_INCOMPLETE);
	assert_int_equal(res.checkpoints, 1);
	assert_int_equal(res.covered_lines, 10);
	assert_string_equal(res.up_to, "step 2");
	verify_result_release(&res);
	strbuf_release(&b.data);

	/* no key declared */
	jb_init(&b);
	jb_add(&b, "run.start", START);
	jb_sig(&b, k, sign_key_fingerprint(k));
	check(&b, NULL, NULL, &res);
	assert_broken(&res, 2, "declares no signing key");
	verify_result_release(&res);
	strbuf_release(&b.data);

	/* signed by another key, which the checkpoint names */
	jb_init(&b);
	jb_add(&b, "run.start", signing);
	jb_sig(&b, other, sign_key_fingerprint(other));
	check(&b, NULL, NULL, &res);
	assert_broken(&res, 2, "the checkpoint names key");
	verify_result_release(&res);
	strbuf_release(&b.data);

	/* signed by another key, while naming the declared one */
	jb_init(&b);
	jb_add(&b, "run.start", signing);
	jb_sig(&b, other, sign_key_fingerprint(k));
	check(&b, NULL, NULL, &res);
	assert_broken(&res, 2, "not by the journal's key");
	verify_result_release(&res);
	strbuf_release(&b.data);

	/* covers.bytes that is not where the line starts */
	jb_init(&b);
	jb_add(&b, "run.start", signing);
	{
		char *rest = xasprintf("\"covers\":{\"bytes\":%zu,\"lines\":1},\"namespace\":\"runbook-log\",\"key\":\"%s\",\"signature\":\"x\"",
				       b.data.len - 1, sign_key_fingerprint(k));
		jb_add(&b, "sig", rest);
		free(rest);
	}
	check(&b, NULL, NULL, &res);
	assert_broken(&res, 2, "covers");
	verify_result_release(&res);
	strbuf_release(&b.data);

	free(signing);
	sign_key_free(k);
	sign_key_free(other);
	strbuf_release(&pub);
}

/* the rollback of a run has blocks but no step.start/step.end */
static void rollback_without_step_records(void **state)
{
	(void)state;
	struct jb b;
	struct verify_result res;

	jb_init(&b);
	jb_add(&b, "run.start", START);
	jb_add(&b, "block.start", "\"step\":{\"role\":\"rollback\",\"title\":\"Rollback\",\"line\":30},\"block\":4,\"kind\":\"shell\",\"line\":31,\"attempt\":1,\"command\":\"echo undo\"");
	jb_add(&b, "block.end", "\"step\":{\"role\":\"rollback\",\"title\":\"Rollback\",\"line\":30},\"block\":4,\"line\":31,\"started\":\"2026-11-21T13:00:01.000Z\",\"duration_ms\":7,\"exit\":0,\"verdict\":\"passed\"");
	end(&b);
	check(&b, NULL, NULL, &res);
	assert_int_equal(res.summary.nsteps, 1);
	assert_true(res.summary.steps[0].ended);
	assert_true(res.summary.steps[0].inferred);
	assert_string_equal(res.summary.steps[0].verdict, "passed");
	assert_int_equal(res.summary.steps[0].duration_ms, 7);
	verify_result_release(&res);
	strbuf_release(&b.data);
}

/* the report escapes everything the journal says */
static void report_escapes(void **state)
{
	(void)state;
	struct jb b;
	struct verify_result res;
	struct strbuf html = STRBUF_INIT, md = STRBUF_INIT;

	jb_init(&b);
	jb_add(&b, "run.start", START);
	body(&b);
	end(&b);
	check(&b, NULL, NULL, &res);
	report_render(&res, REPORT_HTML, &html);
	assert_null(strstr(html.buf, "<script>"));
	assert_null(strstr(html.buf, "<i>lag"));
	assert_null(strstr(html.buf, "Guide <b>"));
	assert_non_null(strstr(html.buf, "echo &lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(html.buf, "known &lt;i&gt;lag&lt;/i&gt;"));
	assert_non_null(strstr(html.buf, "<svg"));
	assert_non_null(strstr(html.buf, "@media print"));
	assert_non_null(strstr(html.buf, "<details"));
	assert_non_null(strstr(html.buf, "UNSIGNED"));
	assert_null(strstr(html.buf, "src=\"http"));

	report_render(&res, REPORT_MARKDOWN, &md);
	/* raw text only inside a fence, where Markdown shows it as code */
	const char *fenced = strstr(md.buf, "```bash\necho <script>alert(1)</script>\n```\n");
	assert_non_null(fenced);
	assert_true(strstr(md.buf, "<script>") == fenced + strlen("```bash\necho "));
	assert_null(strstr(fenced + 20, "<script>"));
	assert_null(strstr(md.buf, "<i>"));
	assert_non_null(strstr(md.buf, "known &lt;i&gt;lag&lt;/i&gt;"));
	/* an output holding ``` is fenced with four backticks */
	assert_non_null(strstr(md.buf, "````text\n41\n```\n| cell\n````\n"));
	assert_non_null(strstr(md.buf, "| step 1 | One | **skipped** |"));
	verify_result_release(&res);
	strbuf_release(&b.data);
	strbuf_release(&html);
	strbuf_release(&md);
}

static int make_tmpdir(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/runbook-verify-XXXXXX", base);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_time),
		cmocka_unit_test(unsigned_complete_with_summary),
		cmocka_unit_test(broken_lines),
		cmocka_unit_test(after_end_empty_and_partial),
		cmocka_unit_test(signed_by_the_writer),
		cmocka_unit_test(checkpoint_rules),
		cmocka_unit_test(rollback_without_step_records),
		cmocka_unit_test(report_escapes),
	};
	return cmocka_run_group_tests_name("verify", tests, make_tmpdir, remove_tmpdir);
}
