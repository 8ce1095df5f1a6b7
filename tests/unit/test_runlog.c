/* test_runlog.c - the journal writer: every line is exactly what jansson's
 * json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) gives for the same object
 * (checked by loading each line with jansson and dumping it again), strings
 * of any bytes stay valid JSON, secrets are masked and counted, and the
 * hash chain links the lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/redact.h"
#include "audit/runlog.h"
#include "sign/sign.h"
#include "base/xalloc.h"

static char tmpdir[256];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/runbook-test-runlog.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(strbuf_read_fd(&sb, fileno(f)), 0);
	fclose(f);
	return strbuf_detach(&sb, len);
}

/* check_lines: every line round-trips through jansson byte for byte, and
 * each line's prev is the SHA-256 of the line before. */
static size_t check_lines(const char *data, size_t len)
{
	char prev[SHA256_HEX_LEN + 1];
	size_t n = 0;
	memset(prev, '0', SHA256_HEX_LEN);
	prev[SHA256_HEX_LEN] = '\0';
	for (const char *p = data; p < data + len; n++) {
		const char *nl = memchr(p, '\n', (size_t)(data + len - p));
		assert_non_null(nl);
		size_t l = (size_t)(nl - p);
		json_error_t je;
		json_t *o = json_loadb(p, l, JSON_ALLOW_NUL, &je);
		if (!o)
			fail_msg("line %zu is not JSON: %s: %.*s", n, je.text, (int)l, p);
		char *again = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		assert_non_null(again);
		if (strlen(again) != l || memcmp(again, p, l))
			fail_msg("line %zu differs from jansson's dump:\nours:    %.*s\njansson: %s", n, (int)l, p,
				 again);
		assert_int_equal(json_integer_value(json_object_get(o, "seq")), (json_int_t)n);
		assert_string_equal(json_string_value(json_object_get(o, "prev")), prev);
		sha256_hex(p, l, prev);
		free(again);
		json_decref(o);
		p = nl + 1;
	}
	return n;
}

static void records_match_jansson(void **state)
{
	(void)state;
	struct runlog log;
	struct redactor red = REDACTOR_INIT;
	struct strbuf err = STRBUF_INIT;
	char path[300];
	snprintf(path, sizeof(path), "%s/a.jsonl", tmpdir);
	redactor_add_value(&red, "hunter22");
	assert_int_equal(runlog_open_new(&log, path, &red, &err), 0);

	/* every kind of value, nesting, empty containers */
	struct jrec *r = runlog_rec(&log, "block.end");
	jrec_int(r, "zero", 0);
	jrec_int(r, "neg", -42);
	jrec_int(r, "max", INT64_MAX);
	jrec_int(r, "min", INT64_MIN);
	jrec_bool(r, "t", true);
	jrec_bool(r, "f", false);
	jrec_null(r, "n");
	jrec_str(r, "null_str", NULL);
	jrec_raw_str(r, "null_raw", NULL);
	jrec_open(r, "obj");
	jrec_str(r, "a", "b");
	jrec_open_array(r, "arr");
	jrec_raw_str(r, NULL, "x");
	jrec_int(r, NULL, 1);
	jrec_open(r, NULL);
	jrec_close(r);
	jrec_open_array(r, NULL);
	jrec_close(r);
	jrec_close(r);
	jrec_close(r);
	jrec_open(r, "empty");
	jrec_close(r);
	jrec_open_array(r, "empty_arr");
	jrec_close(r);
	assert_int_equal(runlog_emit(&log, r, &err), 0);

	/* strings: escapes, every control character, DEL, UTF-8, NUL, invalid
	 * bytes, quotes and backslashes in keys */
	char ctl[40];
	for (int i = 0; i < 32; i++)
		ctl[i] = (char)(i + 1 < 32 ? i + 1 : 0x7f);
	r = runlog_rec(&log, "strings");
	jrec_strn(r, "ctl", ctl, 32);
	jrec_str(r, "quotes", "say \"hi\" \\ back\\slash / slash");
	jrec_str(r, "utf8", "日本 ✓ café 😀 \xe2\x80\xa8");
	jrec_strn(r, "nul", "a\0b", 3);
	jrec_str(r, "invalid", "ok \xff\xfe bad \xc3( \xed\xa0\x80 \xf4\x90\x80\x80 end \xe2\x82");
	jrec_raw_str(r, "raw_invalid", "\x80\\x");
	jrec_str(r, "key \"quoted\" \\", "v");
	jrec_str(r, "", "empty key");
	jrec_str(r, "multi\nline", "l1\nl2\r\n\tl3\n");
	assert_int_equal(runlog_emit(&log, r, &err), 0);

	/* secrets are masked and counted in "redacted", added last */
	r = runlog_rec(&log, "secret");
	jrec_str(r, "command", "psql postgresql://ops:hunter22@db/app; PGPASSWORD=s3cret! psql");
	jrec_open(r, "nested");
	jrec_str(r, "url", "postgres://u:pw@h/db");
	assert_int_equal(runlog_emit(&log, r, &err), 0);

	/* nesting deeper than the writer keeps still gives valid JSON */
	r = runlog_rec(&log, "deep");
	for (int i = 0; i < 12; i++)
		jrec_open(r, "d");
	jrec_int(r, "x", 1);
	for (int i = 0; i < 12; i++)
		jrec_close(r);
	jrec_int(r, "after", 2);
	assert_int_equal(runlog_emit(&log, r, &err), 0);
	runlog_close(&log);

	size_t len;
	char *data = read_all(path, &len);
	assert_int_equal(check_lines(data, len), 4);
	assert_non_null(strstr(data, "\"invalid\":\"ok \\\\xff\\\\xfe bad \\\\xc3( "));
	assert_null(strstr(data, "hunter22"));
	assert_null(strstr(data, "s3cret"));
	if (!strstr(data, "\"nested\":{\"url\":\"postgres://u:***@h/db\"},"
			  "\"redacted\":{\"url-password\":2,\"secret-assignment\":1}}\n"))
		fail_msg("no redacted object as expected in:\n%s", data);
	free(data);
	redactor_release(&red);
	strbuf_release(&err);
}

/* a deferred-sync log writes each line at once (a crash of the process
 * loses nothing) and syncs on demand; a log opened without the whole-file
 * hash refuses to sign */
static void deferred_sync_and_unsigned(void **state)
{
	(void)state;
	struct runlog log;
	struct strbuf err = STRBUF_INIT;
	char path[300];
	snprintf(path, sizeof(path), "%s/b.jsonl", tmpdir);
	assert_int_equal(runlog_open_new(&log, path, NULL, &err), 0);
	log.defer_sync = true;
	log.hash_whole = false;
	struct jrec *r = runlog_rec(&log, "one");
	assert_int_equal(runlog_emit(&log, r, &err), 0);
	assert_true(log.dirty);
	size_t len;
	char *data = read_all(path, &len);
	assert_int_equal(check_lines(data, len), 1);
	free(data);
	assert_int_equal(runlog_sync(&log, &err), 0);
	assert_false(log.dirty);
	assert_int_equal(runlog_sync(&log, &err), 0);
	assert_int_equal(runlog_checkpoint(&log, NULL, "step 1", &err), -1);
	assert_non_null(strstr(err.buf, "not opened for signing"));
	runlog_close(&log);
	strbuf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(records_match_jansson),
		cmocka_unit_test(deferred_sync_and_unsigned),
	};
	return cmocka_run_group_tests_name("runlog", tests, make_tmpdir, remove_tmpdir);
}
