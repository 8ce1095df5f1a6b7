/* test_match.c - expected-output matching and failure-row ranking: a corpus
 * of verdicts, the seed guide's blocks against the real psql, pg_dump and
 * coreutils of this machine, and errors provoked for real. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "match/match.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

/* ---- helpers ---- */

static struct expectation *compile_ok(const char *expected, enum match_mode mode)
{
	struct match_error err;
	struct expectation *e = expectation_compile(expected, mode, &err);
	if (!e)
		fail_msg("expected text does not compile: %d:%d: %s", err.line, err.col, err.msg);
	return e;
}

/* judge compiles and matches in one go (len SIZE_MAX: actual is a string);
 * the caller releases r. */
static void judge(const char *expected, enum match_mode mode, const char *actual, size_t len,
		  bool truncated, struct match_result *r)
{
	struct expectation *e = compile_ok(expected, mode);
	if (len == SIZE_MAX)
		len = strlen(actual);
	match_result_init(r);
	assert_int_equal(expectation_match(e, actual, len, truncated, r), 0);
	expectation_free(e);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("expected to find \"%s\" in:\n%s", needle, haystack);
}

/* ---- the corpus ---- */

struct verdict_case {
	const char *name;
	const char *mode;     /* match= value; NULL for the default */
	const char *expected;
	const char *actual;
	bool ok;
	const char *reason;   /* a substring of the reason when !ok */
};

static const struct verdict_case corpus[] = {
	/* tolerant: layout */
	{ "same text", NULL, "hello world\n", "hello world\n", true, NULL },
	{ "trailing blanks", NULL, "hello world\n", "hello world   \t\n", true, NULL },
	{ "runs of blanks", NULL, "a  b\tc\n", "a b      c\n", true, NULL },
	{ "leading and trailing blank lines", NULL, "\n\nfirst\nsecond\n\n", "first\nsecond\n\n\n", true, NULL },
	{ "blank lines between", NULL, "first\n\nsecond\n", "first\nsecond\n", true, NULL },
	{ "extra lines in between", NULL, "start\nend\n", "start\nnoise 1\nnoise 2\nend\n", true, NULL },
	{ "extra lines around", NULL, "middle\n", "before\nmiddle\nafter\n", true, NULL },
	{ "missing line", NULL, "one\ntwo\nthree\n", "one\nthree\n", false, "expected line 2 \"two\" not found after actual line 1" },
	{ "lines out of order", NULL, "one\ntwo\n", "two\none\n", false, "line 2" },
	{ "words are not variable", NULL, "ALTER TABLE\n", "CREATE TABLE\n", false, "expected \"ALTER TABLE\", got \"CREATE TABLE\"" },
	{ "one word differs", NULL, "status: active\n", "status: inactive\n", false, "after \"status:\", expected \"active\", got \"inactive\"" },
	{ "zero vs some blanks", NULL, "a b\n", "ab\n", false, "line 1: after \"a\", expected a blank, got \"b\"" },
	{ "tabs and spaces", NULL, "col1\tcol2\n", "col1     col2\n", true, NULL },
	{ "CRLF output", NULL, "line one\nline two\n", "line one\r\nline two\r\n", true, NULL },
	{ "extra text at end", NULL, "CREATE INDEX\n", "CREATE INDEX CONCURRENTLY\n", false, "unexpected \"CONCURRENTLY\" at the end of the line" },
	{ "line ends early", NULL, "Backup created: done\n", "Backup created:\n", false, "expected \"done\", got end of line" },
	{ "empty output", NULL, "something\n", "", false, "the output is empty" },
	{ "empty expectation", NULL, "", "whatever\n", true, NULL },
	{ "architecture is a word", NULL, "x86_64-pc-linux-gnu\n", "aarch64-unknown-linux-gnu\n", false, "line 1" },
	{ "rule lines of any length", NULL, "Title\n=====\n", "Title\n===========\n", true, NULL },
	/* tolerant: numbers and versions */
	{ "integer", NULL, "Rows copied: 1247\n", "Rows copied: 1000\n", true, NULL },
	{ "decimal", NULL, "Time: 12.345 ms\n", "Time: 0.981 ms\n", true, NULL },
	{ "negative number", NULL, "delta -5\n", "delta 17\n", true, NULL },
	{ "number expected, word found", NULL, "count\n-----\n 12\n", "count\n-----\n abc\n", false, "expected a number, got \"abc\"" },
	{ "number as word prefix", NULL, "took 5 s\n", "took 5s\n", false, "line 1" },
	{ "version", NULL, "PostgreSQL 14.5\n", "PostgreSQL 15.18\n", true, NULL },
	{ "three-part version", NULL, "pg_dump (PostgreSQL) 14.5.1\n", "pg_dump (PostgreSQL) 15.18.0\n", true, NULL },
	{ "version vs word", NULL, "PostgreSQL 14.5\n", "PostgreSQL devel\n", false, "expected a number, got \"devel\"" },
	{ "exponent", NULL, "ratio 1.5e3\n", "ratio 2.25e-4\n", true, NULL },
	{ "INSERT tag counts", NULL, "INSERT 0 1000\n", "INSERT 0 1\n", true, NULL },
	{ "UPDATE of no row", NULL, "UPDATE 1523\n", "UPDATE 0\n", false, "expected a non-zero count, got \"0\"" },
	{ "DELETE of rows where none were expected", NULL, "DELETE 0\n", "DELETE 12\n", false, "expected \"0\", got \"12\"" },
	{ "DELETE of none", NULL, "BEGIN\nDELETE 0\nCOMMIT\n", "BEGIN\nDELETE 0\nCOMMIT\n", true, NULL },
	/* tolerant: dates and times */
	{ "ISO date", NULL, "as of 2025-12-31\n", "as of 2026-01-02\n", true, NULL },
	{ "ISO 8601 with T and Z", NULL, "at 2025-12-31T14:30:22Z\n", "at 2026-11-21T09:05:00.123Z\n", true, NULL },
	{ "psql timestamptz", NULL, " 2025-12-31 14:30:22+00\n", " 2026-11-21 13:17:09.162089+00\n", true, NULL },
	{ "month day time", NULL, "changed Dec 31 14:30\n", "changed Nov  1 09:05\n", true, NULL },
	{ "date(1) output", NULL, "Wed Dec 31 14:30:22 UTC 2025\n", "Fri Nov 21 13:30:00 UTC 2026\n", true, NULL },
	{ "compact stamp", NULL, "20251231_143022\n", "20261121_133000\n", true, NULL },
	{ "day month year", NULL, "on 31 Dec 2025\n", "on 1 Jan 2026\n", true, NULL },
	{ "slash date", NULL, "due 12/31/2025\n", "due 1/2/2026\n", true, NULL },
	{ "time of day", NULL, "started 14:30:22\n", "started 09:01:02\n", true, NULL },
	{ "file name with timestamp", NULL, "Backup created: users_backup_20251231_143022.sql\n", "Backup created: users_backup_20261121_133000.sql\n", true, NULL },
	{ "file name prefix differs", NULL, "users_backup_20251231_143022.sql\n", "orders_backup_20261121_133000.sql\n", false, "line 1" },
	{ "date expected, word found", NULL, "updated 2025-12-31\n", "updated never\n", false, "expected a date or time, got \"never\"" },
	/* tolerant: ids and sizes */
	{ "git short sha", NULL, "HEAD is now at d0dfa47 fix\n", "HEAD is now at 4dc1817 fix\n", true, NULL },
	{ "hex id vs word", NULL, "HEAD is now at d0dfa47 fix\n", "HEAD is now at nothing fix\n", false, "expected a hex id, got \"nothing\"" },
	{ "letters only are a word", NULL, "build abcdefab\n", "build 1234567a\n", false, "expected \"abcdefab\", got \"1234567a\"" },
	{ "0x hex", NULL, "addr 0x1f\n", "addr 0xdeadbeef\n", true, NULL },
	{ "UUID", NULL, "id 123e4567-e89b-12d3-a456-426614174000\n", "id 9f1c2b3a-0d4e-4f5a-8b6c-7d8e9f0a1b2c\n", true, NULL },
	{ "UUID vs text", NULL, "id 123e4567-e89b-12d3-a456-426614174000\n", "id none\n", false, "expected a UUID" },
	{ "size with unit vs bytes", NULL, "size 1.2 MB\n", "size 45231\n", true, NULL },
	{ "size K vs G", NULL, "512K\tbackups\n", "1.5G\tbackups\n", true, NULL },
	{ "pg_size_pretty", NULL, " 8192 bytes\n", " 16 kB\n", true, NULL },
	/* tolerant: invalid UTF-8 in the output */
	{ "ellipsis over an invalid byte", NULL, "ok ... end\n", "ok \xff end\n", true, NULL },
	{ "invalid byte between values", NULL, "rows: 12 in 3 s\n", "rows: 40 \xfe in 7 s\n", false, "line 1" },
	{ "invalid byte is not a word", NULL, "ok yes\n", "ok \xff\n", false, "line 1" },
	/* tolerant: durations with the unit attached */
	{ "seconds attached", NULL, "took 0.3s\n", "took 1.5s\n", true, NULL },
	{ "ms vs ms", NULL, "elapsed 12ms\n", "elapsed 250ms\n", true, NULL },
	{ "s vs ms", NULL, "elapsed 2s\n", "elapsed 250ms\n", true, NULL },
	{ "compound", NULL, "uptime 1m30s\n", "uptime 3h12m\n", true, NULL },
	{ "micro sign", NULL, "lat 12\xc2\xb5s\n", "lat 7.5\xc2\xb5s\n", true, NULL },
	{ "duration vs word", NULL, "took 0.3s\n", "took fast\n", false, "expected a duration, got \"fast\"" },
	{ "unit is not a word", NULL, "took 3s\n", "took 3sec\n", true, NULL },
	{ "other suffix is a word", NULL, "x 3px\n", "x 5px\n", false, "line 1" },
	/* tolerant: ellipsis */
	{ "ellipsis at end", NULL, "compiled by Apple clang...\n", "compiled by Apple clang version 15.0.0\n", true, NULL },
	{ "ellipsis line", NULL, "BEGIN\n...\nCOMMIT\n", "BEGIN\nINSERT 0 1\nUPDATE 3\nCOMMIT\n", true, NULL },
	{ "ellipsis in the middle", NULL, "from ... to end\n", "from somewhere far to end\n", true, NULL },
	{ "ellipsis in the middle, wrong end", NULL, "from ... to end\n", "from somewhere far to start\n", false, "line 1: expected \"from ... to end\", got \"from somewhere far to start\"" },
	{ "unicode ellipsis", NULL, "Done\xe2\x80\xa6\n", "Done in 3 steps\n", true, NULL },
	/* tolerant: psql tables */
	{ "table of other widths", NULL,
	  " column_name   |        data_type         | is_nullable\n---------------+--------------------------+-------------\n last_login_at | timestamp with time zone | YES\n(1 row)\n",
	  "  column_name  |        data_type         | is_nullable \n---------------+--------------------------+-------------\n last_login_at | timestamp with time zone | YES\n(1 row)\n\n",
	  true, NULL },
	{ "table cell t vs f", NULL,
	  "        indexrelid         | indisvalid\n---------------------------+------------\n idx_users_last_login_at   | t\n(1 row)\n",
	  "       indexrelid        | indisvalid \n-------------------------+------------\n idx_users_last_login_at | f\n(1 row)\n",
	  false, "line 3, column \"indisvalid\": expected \"t\", got \"f\"" },
	{ "table cell YES vs NO", NULL,
	  " column_name | is_nullable\n-------------+-------------\n email       | YES\n(1 row)\n",
	  " column_name | is_nullable \n-------------+-------------\n email       | NO\n(1 row)\n",
	  false, "column \"is_nullable\": expected \"YES\", got \"NO\"" },
	{ "row count differs", NULL,
	  " id\n----\n  1\n(1 row)\n", " id\n----\n  1\n  2\n(2 rows)\n", false, "expected \"(1 row)\", got \"(2 rows)\"" },
	{ "row count same, widths differ", NULL,
	  " n | name\n---+------\n 1 | a\n 2 | b\n 3 | c\n(3 rows)\n",
	  "   n   |    name    \n-------+------------\n   100 | a\n   200 | b\n   300 | c\n(3 rows)\n", true, NULL },
	{ "column count differs", NULL,
	  " a | b\n---+---\n", " a | b | c\n---+---+---\n", false, "line 1" },
	{ "numeric cells vary", NULL,
	  " column_exists | index_exists\n---------------+--------------\n             1 |            1\n(1 row)\n",
	  " column_exists | index_exists \n---------------+--------------\n             0 |            1\n(1 row)\n", true, NULL },
	{ "\\d line with empty cells", NULL,
	  " last_login_at     | timestamp with time zone |           |          |\n",
	  " last_login_at | timestamp with time zone |           |          | \n", true, NULL },
	{ "cells without padding", NULL, "a|b|c\n", " a | b | c \n", true, NULL },
	{ "expanded record header", NULL, "-[ RECORD 1 ]--+------\nname | alice\n", "-[ RECORD 1 ]-----+----------\nname | alice\n", true, NULL },
	{ "version table deviates", NULL,
	  "                                   version\n---------------------------------------------------------------------------\n PostgreSQL 14.5 on x86_64-apple-darwin21.6.0, compiled by Apple clang...\n",
	  "                    version\n---------------------------------------------\n PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit\n(1 row)\n",
	  false, "line 3: after \"PostgreSQL 15.18\", expected \"on x86_64-apple-darwin21.6.0, compiled by Apple clang...\", got \"(Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu" },
	/* tolerant: ls -l and wc -l */
	{ "ls -l line of another machine", NULL,
	  "-rw-r--r--  1 user  staff  45231 Dec 31 14:30 users_backup_20251231_143022.sql\n",
	  "-rw-r--r-- 1 root root 8154321 Nov 21 13:30 users_backup_20261121_133000.sql\n", true, NULL },
	{ "ls -l with a year and an ACL mark", NULL,
	  "drwxr-xr-x  2 user  staff  4096 Dec 31 14:30 backups\n",
	  "drwxr-xr-x. 12 postgres postgres 12288 Jan  3  2024 backups\n", true, NULL },
	{ "ls -l human sizes", NULL,
	  "-rw-r--r-- 1 user staff 45K Dec 31 14:30 dump.sql\n", "-rw-r--r-- 1 root root 7.8M Nov 21 13:30 dump.sql\n", true, NULL },
	{ "ls -l mode differs", NULL,
	  "-rw-r--r--  1 user  staff  45231 Dec 31 14:30 users.sql\n",
	  "-rw------- 1 root root 8154321 Nov 21 13:30 users.sql\n", false, "expected \"-rw-r--r--" },
	{ "ls -l name differs", NULL,
	  "-rw-r--r--  1 user  staff  45231 Dec 31 14:30 users.sql\n",
	  "-rw-r--r-- 1 root root 8154321 Nov 21 13:30 orders.sql\n", false, "expected \"users.sql\", got \"orders.sql\"" },
	{ "wc -l line", NULL, "    1247 users_backup_20251231_143022.sql\n", "1041 users_backup_20261121_131709.sql\n", true, NULL },
	{ "wc -l other file", NULL, "    1247 users_backup_20251231_143022.sql\n", "1041 orders_backup_20261121_131709.sql\n", false, "line 1" },
	/* tolerant: bytes */
	{ "invalid UTF-8 around a match", NULL, "status ok\n", "\xff\xfe garbage\nstatus ok\n", true, NULL },
	{ "invalid UTF-8 in the way", NULL, "status ok\n", "status \xff\n", false, "\\xff" },
	/* exact */
	{ "exact same", "exact", "a  b\n c\n", "a  b\n c\n", true, NULL },
	{ "exact final newline", "exact", "a\nb\n", "a\nb", true, NULL },
	{ "exact blanks differ", "exact", "a  b\n", "a b\n", false, "they differ only in blanks" },
	{ "exact numbers are exact", "exact", "count 5\n", "count 6\n", false, "line 1: expected \"count 5\", got \"count 6\"" },
	{ "exact extra line", "exact", "a\nb\n", "a\nx\nb\n", false, "unexpected line 2 \"x\" before expected line 2" },
	{ "exact missing line", "exact", "a\nb\nc\n", "a\nc\n", false, "expected line 2 \"b\" is missing" },
	{ "exact output ends", "exact", "a\nb\n", "a\n", false, "the output ends after 1 line" },
	/* regex */
	{ "regex matches", "regex", "^CREATE INDEX$\n", "NOTICE: x\nCREATE INDEX\n", true, NULL },
	{ "regex across lines", "regex", "^ALTER TABLE\\n.*column_name\n", "ALTER TABLE\n column_name | data_type\n", true, NULL },
	{ "regex searches", "regex", "\\d+ rows\n", "copied 1000 rows in 2s\n", true, NULL },
	{ "regex does not match", "regex", "^DROP TABLE$\n", "CREATE TABLE\n", false, "the output does not match the pattern" },
	{ "regex catastrophic", "regex", "(a+)+$\n", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", false, "match limit exceeded" },
	{ "regex over invalid UTF-8", "regex", "^ok$\n", "bad \xff\xfe bytes\nok\n", true, NULL },
	/* lines (cram) */
	{ "lines literal", "lines", "one\ntwo\n", "one\ntwo\n", true, NULL },
	{ "lines are literal", "lines", "a  b\n", "a b\n", false, "line 1" },
	{ "lines (re)", "lines", "Backup created: users_backup_\\d{8}_\\d{6}\\.sql (re)\n", "Backup created: users_backup_20261121_133000.sql\n", true, NULL },
	{ "lines (re) anchored", "lines", "\\d+ (re)\n", "12 rows\n", false, "line 1" },
	{ "lines (glob)", "lines", "users_backup_*.sql (glob)\n", "users_backup_20261121_133000.sql\n", true, NULL },
	{ "lines (glob) ?", "lines", "v1?.? (glob)\n", "v15.8\n", true, NULL },
	{ "lines (glob) no match", "lines", "*.sql (glob)\n", "dump.tar\n", false, "line 1" },
	{ "lines (esc)", "lines", "col\\tval\\x21 (esc)\n", "col\tval!\n", true, NULL },
	{ "lines count differs", "lines", "a\nb\n", "a\nb\nc\n", false, "unexpected line 3 \"c\" after the expected output ends" },
	/* contains */
	{ "contains", "contains", "CREATE INDEX\n", "NOTICE: something\nCREATE INDEX\n(done)\n", true, NULL },
	{ "contains blank-tolerant", "contains", "ALTER   TABLE\n", "  ALTER TABLE  \n", true, NULL },
	{ "contains several lines", "contains", "b\nc\n", "a\n  b  \nc\nd\n", true, NULL },
	{ "contains absent", "contains", "DROP TABLE\n", "CREATE TABLE\n", false, "expected text \"DROP TABLE\" not found in the output" },
	{ "contains second line differs", "contains", "BEGIN\nCOMMIT\n", "BEGIN\nROLLBACK\n", false, "line 2: expected \"COMMIT\", got \"ROLLBACK\"" },
	/* none */
	{ "none ignores output", "none", "illustration only\n", "something else entirely\n", true, NULL },
	{ "none with empty output", "none", "illustration only\n", "", true, NULL },
};

static void corpus_case(void **state)
{
	const struct verdict_case *c = *state;
	enum match_mode mode;
	struct match_result r;

	assert_int_equal(match_mode_parse(c->mode, &mode), 0);
	judge(c->expected, mode, c->actual, strlen(c->actual), false, &r);
	if (r.ok != c->ok)
		fail_msg("%s: expected %s, got %s; reason: %s\ndiff:\n%s", c->name,
			 c->ok ? "a match" : "a deviation", r.ok ? "a match" : "a deviation",
			 r.reason.buf, r.diff.buf);
	if (c->ok) {
		assert_int_equal(r.reason.len, 0);
		assert_int_equal(r.diff.len, 0);
	} else {
		assert_true(r.reason.len > 0);
		assert_null(memchr(r.reason.buf, '\n', r.reason.len));
		assert_contains(r.diff.buf, "--- expected\n+++ actual\n@@ ");
		if (c->reason)
			assert_contains(r.reason.buf, c->reason);
	}
	match_result_release(&r);
}

/* ---- modes, captures, errors ---- */

static void mode_names(void **state)
{
	static const char *const names[] = { "tolerant", "exact", "regex", "lines", "contains", "none" };
	enum match_mode mode = MATCH_NONE;
	(void)state;
	assert_int_equal(match_mode_parse(NULL, &mode), 0);
	assert_int_equal(mode, MATCH_TOLERANT);
	mode = MATCH_NONE;
	assert_int_equal(match_mode_parse("", &mode), 0);
	assert_int_equal(mode, MATCH_TOLERANT);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(match_mode_parse(names[i], &mode), 0);
		assert_int_equal(mode, i);
		assert_string_equal(match_mode_name(mode), names[i]);
	}
	assert_int_equal(match_mode_parse("REGEX", &mode), 0);
	assert_int_equal(mode, MATCH_REGEX);
	mode = MATCH_LINES;
	assert_int_equal(match_mode_parse("fuzzy", &mode), -1);
	assert_int_equal(mode, MATCH_LINES);
}

static void captures_tolerant(void **state)
{
	struct match_result r;
	(void)state;
	judge("Backup created: {{BACKUP_FILE:users_backup_\\d{8}_\\d{6}\\.sql}}\n"
	      "server {{VERSION:\\d+(\\.\\d+)+}} on {{[a-z0-9_]+}}, port {{PORT:\\d+}}\n",
	      MATCH_TOLERANT,
	      "noise\nBackup created:   users_backup_20261121_133000.sql  \n"
	      "server 15.18 on x86_64, port 5432\n", SIZE_MAX, false, &r);
	assert_true(r.ok);
	assert_int_equal(r.ncaptures, 3);
	assert_string_equal(r.captures[0].name, "BACKUP_FILE");
	assert_string_equal(r.captures[0].value, "users_backup_20261121_133000.sql");
	assert_string_equal(r.captures[1].name, "VERSION");
	assert_string_equal(r.captures[1].value, "15.18");
	assert_string_equal(r.captures[2].name, "PORT");
	assert_string_equal(r.captures[2].value, "5432");
	match_result_release(&r);
}

static void captures_other_modes(void **state)
{
	struct match_result r;
	(void)state;
	judge("id: {{ID:\\d+}}\ndone\n", MATCH_EXACT, "id: 42\ndone\n", SIZE_MAX, false, &r);
	assert_true(r.ok);
	assert_int_equal(r.ncaptures, 1);
	assert_string_equal(r.captures[0].name, "ID");
	assert_string_equal(r.captures[0].value, "42");
	match_result_release(&r);

	judge("host {{HOST:[a-z.]+}}\nv\\d+ (re)\n", MATCH_LINES, "host db.example.com\nv15\n", SIZE_MAX,
	      false, &r);
	assert_true(r.ok);
	assert_int_equal(r.ncaptures, 1);
	assert_string_equal(r.captures[0].value, "db.example.com");
	match_result_release(&r);

	judge("^(?<LSN>[0-9A-F]+/[0-9A-F]+)\\s+(\\d+)\\s+(?<SLOT>\\w+)$\n", MATCH_REGEX,
	      "header\n0/16B3748  12 main_slot\n", SIZE_MAX, false, &r);
	assert_true(r.ok);
	assert_int_equal(r.ncaptures, 2);
	assert_string_equal(r.captures[0].name, "LSN");
	assert_string_equal(r.captures[0].value, "0/16B3748");
	assert_string_equal(r.captures[1].name, "SLOT");
	assert_string_equal(r.captures[1].value, "main_slot");
	match_result_release(&r);

	/* A deviation hands out no captures. */
	judge("id: {{ID:\\d+}}\nstatus ok\n", MATCH_TOLERANT, "id: 42\nstatus failed\n", SIZE_MAX, false,
	      &r);
	assert_false(r.ok);
	assert_int_equal(r.ncaptures, 0);
	assert_null(r.captures);
	match_result_release(&r);
}

static void assert_compile_error(const char *expected, enum match_mode mode, int line, int col,
				 const char *msg)
{
	struct match_error err;
	struct expectation *e = expectation_compile(expected, mode, &err);
	if (e)
		fail_msg("\"%s\" compiled", expected);
	if (err.line != line || err.col != col)
		fail_msg("\"%s\": error at %d:%d (%s), expected %d:%d", expected, err.line, err.col,
			 err.msg, line, col);
	assert_contains(err.msg, msg);
}

static void invalid_patterns(void **state)
{
	(void)state;
	assert_compile_error("ok\nversion {{V:\\d+(}}\n", MATCH_TOLERANT, 2, 17,
			     "missing closing parenthesis");
	assert_compile_error("a\nb\n  x {{N:[a-}} y\n", MATCH_TOLERANT, 3, 12, "missing terminating ]");
	assert_compile_error("a\n{{N:[z-a]}}\n", MATCH_TOLERANT, 2, 8, "range out of order");
	assert_compile_error("x {{\\d+\n", MATCH_TOLERANT, 1, 3, "unterminated {{");
	assert_compile_error("x {{N:}} y\n", MATCH_TOLERANT, 1, 7, "empty pattern");
	assert_compile_error("id {{ID:(?<x}}\n", MATCH_EXACT, 1, 13, "");
	assert_compile_error("literal\nv\\d+( (re)\nz\n", MATCH_LINES, 2, 6,
			     "missing closing parenthesis");
	assert_compile_error("^first$\n^second(\\d+$\n", MATCH_REGEX, 2, 13,
			     "missing closing parenthesis");
	assert_compile_error("first\n  a)b\n", MATCH_REGEX, 2, 4, "unmatched closing parenthesis");
	/* what looks like a pattern outside these places is text */
	struct expectation *e = compile_ok("a {{ b\n", MATCH_CONTAINS);
	expectation_free(e);
	e = compile_ok("v\\d+( (re)\n", MATCH_EXACT);
	expectation_free(e);
}

static void match_limit(void **state)
{
	struct strbuf a = STRBUF_INIT;
	struct match_result r;
	(void)state;
	strbuf_addchars(&a, 'a', 10000);
	strbuf_addch(&a, 'b');
	judge("(a+)+$\n", MATCH_REGEX, a.buf, a.len, false, &r);
	assert_false(r.ok);
	assert_contains(r.reason.buf, "match limit exceeded");
	match_result_release(&r);

	/* the same pattern inside a tolerant line */
	strbuf_reset(&a);
	strbuf_addstr(&a, "start\nvalue ");
	strbuf_addchars(&a, 'a', 5000);
	strbuf_addstr(&a, "b\n");
	judge("start\nvalue {{X:(a+)+$}}\n", MATCH_TOLERANT, a.buf, a.len, false, &r);
	assert_false(r.ok);
	assert_contains(r.reason.buf, "line 2: match limit exceeded");
	assert_int_equal(r.expected_line, 2);
	match_result_release(&r);
	strbuf_release(&a);
}

static void invalid_utf8(void **state)
{
	static const char actual[] = "header\nname: caf\xc3\xa9 \xff\xfe\x1b[0m\ntail\n";
	struct match_result r;
	(void)state;
	judge("header\nname: caf\xc3\xa9 ok\ntail\n", MATCH_TOLERANT, actual, sizeof(actual) - 1,
	      false, &r);
	assert_false(r.ok);
	assert_contains(r.diff.buf, "+name: caf\xc3\xa9 \\xff\\xfe\\x1b[0m\n");
	assert_contains(r.reason.buf, "got \"\\xff\\xfe\\x1b[0m\"");
	match_result_release(&r);

	/* a NUL byte is just a byte */
	judge("a\nb\n", MATCH_EXACT, "a\n\0b\n", 5, false, &r);
	assert_false(r.ok);
	assert_contains(r.diff.buf, "+\\x00b\n");
	match_result_release(&r);
}

static void notes_and_diff(void **state)
{
	struct match_result r;
	(void)state;
	judge("ALTER TABLE\nCREATE INDEX\n", MATCH_TOLERANT,
	      "NOTICE: one\nALTER TABLE\nNOTICE: two\nNOTICE: three\n\nCREATE INDEX\nbye\n", SIZE_MAX,
	      false, &r);
	assert_true(r.ok);
	assert_contains(r.notes.buf, "1 extra actual line skipped before expected line 1\n");
	assert_contains(r.notes.buf, "2 extra actual lines skipped between expected lines 1 and 2\n");
	assert_contains(r.notes.buf, "1 extra actual line after expected line 2\n");
	match_result_release(&r);

	judge("PostgreSQL 14.5 on host1\n", MATCH_TOLERANT, "PostgreSQL 15.18 on host1\n", SIZE_MAX,
	      false, &r);
	assert_true(r.ok);
	assert_contains(r.notes.buf, "line 1: 14.5 -> 15.18 (number)");
	match_result_release(&r);

	judge("one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n", MATCH_TOLERANT,
	      "one\ntwo\nthree\nfour\nfive\nsix\nSEVEN\neight\nnine\nten\n", SIZE_MAX, false, &r);
	assert_false(r.ok);
	assert_int_equal(r.expected_line, 7);
	assert_string_equal(r.diff.buf, "--- expected\n+++ actual\n"
					"@@ -4,7 +4,7 @@ first mismatch\n"
					" four\n five\n six\n-seven\n+SEVEN\n eight\n nine\n ten\n");
	match_result_release(&r);
}

/* r.diff must stay small however big the output is */
static void huge_outputs(void **state)
{
	struct strbuf expected = STRBUF_INIT, actual = STRBUF_INIT;
	struct match_result r;
	const size_t n = 1000000;
	(void)state;

	for (size_t i = 0; i < n; i++) {
		strbuf_addf(&expected, " %7zu | user%zu@example.com | 2025-12-31 14:30:22+00 | t\n", i,
			    i);
		strbuf_addf(&actual, "%zu | user%zu@example.com    | 2026-11-21 13:17:%02zu.5+00 |   t\n",
			    i + 1, i, i % 60);
	}
	struct expectation *e = compile_ok(expected.buf, MATCH_TOLERANT);
	match_result_init(&r);
	assert_int_equal(expectation_match(e, actual.buf, actual.len, false, &r), 0);
	assert_true(r.ok);
	assert_true(r.notes.len < 4096);

	/* one cell changed in the middle */
	char *cell = strstr(actual.buf + actual.len / 2, "|   t");
	cell[4] = 'f';
	assert_int_equal(expectation_match(e, actual.buf, actual.len, false, &r), 0);
	assert_false(r.ok);
	assert_contains(r.reason.buf, "expected \"t\", got \"f\"");
	assert_contains(r.diff.buf, "first mismatch");
	assert_true(r.diff.len < 4096);

	/* half the output missing: the diff is cut */
	assert_int_equal(expectation_match(e, actual.buf, actual.len / 2, false, &r), 0);
	assert_false(r.ok);
	assert_true(r.diff.len < 64 * 1024);
	assert_contains(r.diff.buf, "lines omitted");
	match_result_release(&r);
	expectation_free(e);

	/* a huge unexpected output in exact mode */
	e = compile_ok("just this\n", MATCH_EXACT);
	match_result_init(&r);
	assert_int_equal(expectation_match(e, actual.buf, actual.len, false, &r), 0);
	assert_false(r.ok);
	assert_true(r.diff.len < 64 * 1024);
	assert_contains(r.diff.buf, "lines omitted");
	match_result_release(&r);
	expectation_free(e);
	strbuf_release(&expected);
	strbuf_release(&actual);
}

static void truncated_output(void **state)
{
	static const char kept[] = "line 1\nline 2\nBackup cre";
	struct match_result r;
	(void)state;
	judge("line 1\nBackup created: x.sql\n", MATCH_TOLERANT, kept, sizeof(kept) - 1, true, &r);
	assert_false(r.ok);
	assert_contains(r.reason.buf, "the output was truncated");
	assert_contains(r.reason.buf, "partial line was not judged");
	match_result_release(&r);

	judge("line 1\n", MATCH_TOLERANT, kept, sizeof(kept) - 1, true, &r);
	assert_true(r.ok);
	assert_contains(r.notes.buf, "truncated");
	match_result_release(&r);
}

static void result_reuse(void **state)
{
	struct expectation *e = compile_ok("v {{V:\\d+}}\n", MATCH_TOLERANT);
	struct match_result r;
	(void)state;
	match_result_init(&r);
	assert_int_equal(expectation_match(e, "v 1\n", 4, false, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.ncaptures, 1);
	assert_int_equal(expectation_match(e, "w 1\n", 4, false, &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.ncaptures, 0);
	assert_int_equal(expectation_match(e, "v 2\n", 4, false, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.reason.len, 0);
	assert_string_equal(r.captures[0].value, "2");
	match_result_release(&r);
	assert_int_equal(expectation_mode(e), MATCH_TOLERANT);
	expectation_free(e);
}

/* ---- failure rows: wording ---- */

static const char *const step1_rows[] = {
	"`connection refused`",
	"`permission denied`",
	"`pg_dump: command not found`",
};

static const char *const step2_rows[] = {
	"`column \"last_login_at\" already exists`",
	"`permission denied for table users`",
	"`syntax error`",
};

static const char *const step3_rows[] = {
	"`CONCURRENTLY cannot be used in transaction`",
	"`index \"idx_users_last_login_at\" already exists`",
	"`canceling statement due to lock timeout`",
};

/* rank returns the hits for an error text (given as stderr). */
static size_t rank(const char *const *rows, size_t nrows, const char *err, const char *sqlstate,
		   struct failure_hit **hits)
{
	struct failure_matcher *fm = failure_matcher_new(rows, nrows);
	size_t n = failure_matcher_rank(fm, NULL, 0, err, strlen(err), sqlstate, hits);
	failure_matcher_free(fm);
	return n;
}

static void assert_first(const char *const *rows, size_t nrows, const char *err,
			 const char *sqlstate, size_t row, bool pattern_hit)
{
	struct failure_hit *hits;
	size_t n = rank(rows, nrows, err, sqlstate, &hits);
	if (n == 0)
		fail_msg("no row matches:\n%s", err);
	if (hits[0].row != row || hits[0].pattern_hit != pattern_hit)
		fail_msg("first hit is row %zu (%s, score %.2f, %s), expected row %zu for:\n%s",
			 hits[0].row, hits[0].pattern_hit ? "pattern" : "words", hits[0].score,
			 hits[0].why, row, err);
	for (size_t i = 1; i < n; i++)
		assert_true(!hits[i].pattern_hit || hits[0].pattern_hit);
	failure_hits_free(hits, n);
}

static void failure_wording(void **state)
{
	struct failure_hit *hits;
	size_t n;
	(void)state;

	assert_first(step3_rows, 3,
		     "ERROR:  CREATE INDEX CONCURRENTLY cannot run inside a transaction block\n", NULL,
		     0, false);
	n = rank(step3_rows, 3, "ERROR:  CREATE INDEX CONCURRENTLY cannot run inside a transaction block\n",
		 NULL, &hits);
	assert_int_equal(n, 1);
	assert_string_equal(hits[0].why, "shared words: concurrently, cannot, transaction");
	assert_true(hits[0].score > FAILURE_SCORE_THRESHOLD);
	failure_hits_free(hits, n);

	assert_first(step1_rows, 3,
		     "psql: error: connection to server on socket \"/tmp/x/.s.PGSQL.5432\" failed: "
		     "Connection refused\n\tIs the server running locally and accepting connections "
		     "on that socket?\n",
		     NULL, 0, true);
	assert_first(step1_rows, 3,
		     "psql: error: connection to server on socket \"/tmp/x/.s.PGSQL.5432\" failed: No "
		     "such file or directory\n\tIs the server running locally and accepting "
		     "connections on that socket?\n",
		     NULL, 0, false);
	assert_first(step1_rows, 3, "ERROR:  permission denied for table users\n", NULL, 1, true);
	assert_first(step1_rows, 3, "bash: line 3: pg_dump: command not found\n", NULL, 2, true);
	assert_first(step1_rows, 3, "pg_dump: No such file or directory\n", NULL, 2, false);
	assert_first(step2_rows, 3,
		     "ERROR:  column \"last_login_at\" of relation \"users\" already exists\n", NULL, 0,
		     false);
	assert_first(step2_rows, 3, "ERROR:  permission denied for table users\n", NULL, 1, true);
	assert_first(step3_rows, 3, "ERROR:  canceling statement due to lock timeout\n", NULL, 2,
		     true);
	n = rank(step3_rows, 3, "ERROR:  relation \"idx_users_last_login_at\" already exists\n", NULL,
		 &hits);
	assert_true(n >= 1);
	assert_int_equal(hits[0].row, 1);
	failure_hits_free(hits, n);
}

static void failure_below_threshold(void **state)
{
	struct failure_hit *hits = (void *)1;
	(void)state;
	assert_int_equal(rank(step1_rows, 3, "disk quota exceeded", NULL, &hits), 0);
	assert_null(hits);
	assert_int_equal(rank(step1_rows, 3, "pg_dump: error: could not write to file: Disk quota exceeded\n",
			      NULL, &hits), 0);
	assert_int_equal(rank(step3_rows, 3, "", NULL, &hits), 0);
	assert_int_equal(rank(step2_rows, 3, "ERROR:  out of shared memory\n", NULL, &hits), 0);
	/* a generic word alone is not enough */
	assert_int_equal(rank(step2_rows, 3, "psql: error: something else failed\n", NULL, &hits), 0);
	assert_int_equal(rank(NULL, 0, "ERROR:  anything", NULL, &hits), 0);
}

static void failure_patterns(void **state)
{
	static const char *const rows[] = {
		"`ERROR: relation ... does not exist`",
		"`index 'idx_a' already exists`",
		"**Lock timeout**",
		"`could not connect` or `Connection refused`",
		"`55p03` lock_not_available",
		"`duplicate_table`",
	};
	struct failure_hit *hits;
	size_t n;
	(void)state;

	n = rank(rows, 6, "ERROR:  relation \"orders\" does not exist\nLINE 1: SELECT * FROM orders", NULL,
		 &hits);
	assert_true(n >= 1);
	assert_int_equal(hits[0].row, 0);
	assert_true(hits[0].pattern_hit);
	assert_string_equal(hits[0].why, "ERROR:  relation \"orders\" does not exist");
	failure_hits_free(hits, n);

	assert_first(rows, 6, "NOTICE: index \"idx_a\" already exists, skipping", NULL, 1, true);
	assert_first(rows, 6, "ERROR:  canceling statement due to LOCK TIMEOUT", NULL, 2, true);
	assert_first(rows, 6, "psql: error: ... failed: Connection refused", NULL, 3, true);

	n = rank(rows, 6, "ERROR:  canceling statement due to lock timeout", "55P03", &hits);
	assert_true(n >= 2);
	assert_int_equal(hits[0].row, 4);
	assert_true(hits[0].pattern_hit);
	assert_string_equal(hits[0].why, "SQLSTATE 55P03 (lock_not_available)");
	failure_hits_free(hits, n);

	n = rank(rows, 6, "ERROR:  relation \"users\" already exists", "42P07", &hits);
	assert_true(n >= 1);
	assert_int_equal(hits[0].row, 5);
	assert_true(hits[0].pattern_hit);
	failure_hits_free(hits, n);

	/* stdout is searched too */
	struct failure_matcher *fm = failure_matcher_new(rows, 6);
	n = failure_matcher_rank(fm, "Connection refused\n", 19, NULL, 0, NULL, &hits);
	assert_int_equal(n, 1);
	assert_int_equal(hits[0].row, 3);
	failure_hits_free(hits, n);
	failure_matcher_free(fm);
}

/* ---- the seed guide against this machine's psql, pg_dump and coreutils ---- */

static struct {
	bool ready;
	char *url;       /* DATABASE_URL of the scratch database */
	char *admin_url; /* DATABASE_URL given by tests/run */
	char *dbname;
	char *role;
	char tmp[64];
} pg;

/* run_shell runs cmd with /bin/sh and returns what it wrote on stdout, or
 * on stderr when want_stderr (the other stream is discarded). */
static char *run_shell(const char *cmd, bool want_stderr)
{
	struct strbuf script = STRBUF_INIT, out = STRBUF_INIT;
	char buf[8192];
	size_t n;

	strbuf_addstr(&script, want_stderr ? "exec 2>&1 1>/dev/null\n" : "exec 2>/dev/null\n");
	strbuf_addstr(&script, cmd);
	FILE *f = popen(script.buf, "r");
	assert_non_null(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&out, buf, n);
	pclose(f);
	strbuf_release(&script);
	return strbuf_detach(&out, NULL);
}

/* url_with_db returns url with its database name replaced by db. */
static char *url_with_db(const char *url, const char *db)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *query = strchr(p, '?');
	const char *slash = strchr(p, '/');
	if (!query)
		query = url + strlen(url);
	if (!slash || slash > query)
		return xasprintf("%.*s/%s%s", (int)(query - url), url, db, query);
	return xasprintf("%.*s%s%s", (int)(slash + 1 - url), url, db, query);
}

static int pg_setup(void **state)
{
	const char *url = getenv("DATABASE_URL");
	(void)state;
	if (!url || !*url)
		return 0;
	pg.admin_url = xstrdup(url);
	pg.dbname = xasprintf("runbook_match_%d", (int)getpid());
	pg.role = xasprintf("runbook_match_nobody_%d", (int)getpid());
	pg.url = url_with_db(url, pg.dbname);
	snprintf(pg.tmp, sizeof(pg.tmp), "/tmp/runbook-match.XXXXXX");
	if (!mkdtemp(pg.tmp))
		return -1;
	umask(022);
	setenv("PSQLRC", "/dev/null", 1);
	setenv("RUNBOOK_TEST_ADMIN_URL", pg.admin_url, 1);
	setenv("DATABASE_URL", pg.url, 1);
	char *cmd = xasprintf(
		"psql \"$RUNBOOK_TEST_ADMIN_URL\" -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE %s' "
		"-c 'CREATE ROLE %s LOGIN' && "
		"psql \"$DATABASE_URL\" -q -v ON_ERROR_STOP=1 <<'EOF' && echo ready\n"
		"CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL,\n"
		"    created_at timestamptz NOT NULL DEFAULT now());\n"
		"INSERT INTO users (email) SELECT 'user' || g || '@example.com'\n"
		"    FROM generate_series(1, 1000) g;\n"
		"EOF\n",
		pg.dbname, pg.role);
	char *out = run_shell(cmd, false);
	pg.ready = !strcmp(out, "ready\n");
	free(out);
	free(cmd);
	return pg.ready ? 0 : -1;
}

static int pg_teardown(void **state)
{
	(void)state;
	if (pg.admin_url) {
		char *cmd = xasprintf("psql \"$RUNBOOK_TEST_ADMIN_URL\" -q -c 'DROP DATABASE IF EXISTS %s "
				      "WITH (FORCE)' -c 'DROP ROLE IF EXISTS %s'; rm -rf '%s'",
				      pg.dbname, pg.role, pg.tmp);
		free(run_shell(cmd, false));
		free(cmd);
		setenv("DATABASE_URL", pg.admin_url, 1);
	}
	free(pg.url);
	free(pg.admin_url);
	free(pg.dbname);
	free(pg.role);
	return 0;
}

#define NEED_PG()                                                                                \
	do {                                                                                     \
		if (!pg.ready)                                                                   \
			skip();                                                                  \
	} while (0)

/* real_judge runs cmd and judges its stdout against the expected block. */
static void real_judge(const char *cmd, const char *expected, bool ok, const char *reason)
{
	struct match_result r;
	char *out = run_shell(cmd, false);
	judge(expected, MATCH_TOLERANT, out, strlen(out), false, &r);
	if (r.ok != ok)
		fail_msg("expected %s; reason: %s\nactual output:\n%s\ndiff:\n%s",
			 ok ? "a match" : "a deviation", r.reason.buf, out, r.diff.buf);
	if (reason)
		assert_contains(r.reason.buf, reason);
	match_result_release(&r);
	free(out);
}

/* The expected blocks of the seed guide, copied as written. */
static const char seed_version[] =
	"                                   version\n"
	"---------------------------------------------------------------------------\n"
	" PostgreSQL 14.5 on x86_64-apple-darwin21.6.0, compiled by Apple clang...\n";
static const char seed_add_column[] =
	"ALTER TABLE\n"
	" column_name   |        data_type         | is_nullable\n"
	"---------------+--------------------------+-------------\n"
	" last_login_at | timestamp with time zone | YES\n"
	"(1 row)\n";
static const char seed_describe[] =
	" last_login_at     | timestamp with time zone |           |          |\n";
static const char seed_create_index[] =
	"CREATE INDEX\n"
	"       indexname           |                           indexdef\n"
	"---------------------------+--------------------------------------------------------------\n"
	" idx_users_last_login_at   | CREATE INDEX idx_users_last_login_at ON public.users USING btree (last_login_at DESC NULLS LAST)\n"
	"(1 row)\n";
static const char seed_index_valid[] =
	"        indexrelid         | indisvalid\n"
	"---------------------------+------------\n"
	" idx_users_last_login_at   | t\n"
	"(1 row)\n";
static const char seed_backup[] = "Backup created: users_backup_20251231_143022.sql\n";
static const char seed_backup_files[] =
	"-rw-r--r--  1 user  staff  45231 Dec 31 14:30 users_backup_20251231_143022.sql\n"
	"    1247 users_backup_20251231_143022.sql\n";

/* The guide's commands, as written (heredocs included). */
static const char cmd_version[] = "psql $DATABASE_URL -c \"SELECT version();\"\n";
static const char cmd_add_column[] =
	"psql $DATABASE_URL << 'EOF'\n"
	"-- Add the new column (idempotent)\n"
	"ALTER TABLE users\n"
	"ADD COLUMN IF NOT EXISTS last_login_at TIMESTAMP WITH TIME ZONE;\n"
	"\n"
	"-- Verify column was added\n"
	"SELECT column_name, data_type, is_nullable\n"
	"FROM information_schema.columns\n"
	"WHERE table_name = 'users' AND column_name = 'last_login_at';\n"
	"EOF\n";
static const char cmd_describe[] = "psql $DATABASE_URL -c \"\\d users\" | grep last_login_at\n";
static const char cmd_create_index[] =
	"psql $DATABASE_URL << 'EOF'\n"
	"-- Create index for efficient date range queries\n"
	"-- CONCURRENTLY prevents locking the table during creation\n"
	"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_last_login_at\n"
	"ON users (last_login_at DESC NULLS LAST);\n"
	"\n"
	"-- Verify index was created\n"
	"SELECT indexname, indexdef\n"
	"FROM pg_indexes\n"
	"WHERE tablename = 'users' AND indexname = 'idx_users_last_login_at';\n"
	"EOF\n";
static const char cmd_index_valid[] =
	"psql $DATABASE_URL -c \"SELECT indexrelid::regclass, indisvalid FROM pg_index WHERE "
	"indexrelid = 'idx_users_last_login_at'::regclass;\"\n";

static void real_version_deviates(void **state)
{
	(void)state;
	NEED_PG();
	real_judge(cmd_version, seed_version, false, "line 3: after \"PostgreSQL ");
	real_judge(cmd_version, seed_version, false, "expected \"");
	real_judge(cmd_version, seed_version, false, "x86_64-apple-darwin21.6.0");
}

static void real_add_column(void **state)
{
	(void)state;
	NEED_PG();
	real_judge(cmd_add_column, seed_add_column, true, NULL);
	/* a second run is idempotent and prints the same */
	real_judge(cmd_add_column, seed_add_column, true, NULL);
	real_judge(cmd_describe, seed_describe, true, NULL);
}

static void real_create_index(void **state)
{
	(void)state;
	NEED_PG();
	free(run_shell(cmd_add_column, false));
	real_judge(cmd_create_index, seed_create_index, true, NULL);
	real_judge(cmd_index_valid, seed_index_valid, true, NULL);
	/* deviations the matcher must see in real output */
	real_judge("psql $DATABASE_URL -c \"SELECT indexname, indexdef FROM pg_indexes WHERE "
		   "tablename = 'users' ORDER BY indexname DESC;\"",
		   seed_create_index + strlen("CREATE INDEX\n"), false,
		   "expected \"(1 row)\", got \"(2 rows)\"");
	real_judge("psql $DATABASE_URL -c \"SELECT indexrelid::regclass, indisvalid AND false AS "
		   "indisvalid FROM pg_index WHERE indexrelid = "
		   "'idx_users_last_login_at'::regclass;\"",
		   seed_index_valid, false, "column \"indisvalid\": expected \"t\", got \"f\"");
}

static void real_backup(void **state)
{
	(void)state;
	NEED_PG();
	char *dump = xasprintf("cd '%s' &&\n"
			       "# Create a timestamped backup of the users table\n"
			       "BACKUP_FILE=\"users_backup_$(date +%%Y%%m%%d_%%H%%M%%S).sql\"\n"
			       "\n"
			       "pg_dump $DATABASE_URL \\\n"
			       "  --table=users \\\n"
			       "  --data-only \\\n"
			       "  --file=\"$BACKUP_FILE\"\n"
			       "\n"
			       "echo \"Backup created: $BACKUP_FILE\"\n",
			       pg.tmp);
	char *verify = xasprintf("cd '%s' &&\n"
				 "# Confirm backup file exists and has content\n"
				 "ls -la users_backup_*.sql\n"
				 "wc -l users_backup_*.sql\n",
				 pg.tmp);
	real_judge(dump, seed_backup, true, NULL);
	real_judge(verify, seed_backup_files, true, NULL);
	/* the listing of another file deviates */
	char *other = xasprintf("cd '%s' && echo x > orders_backup_20250101_000000.sql && "
				"ls -la orders_backup_*.sql && wc -l orders_backup_*.sql",
				pg.tmp);
	real_judge(other, seed_backup_files, false, "line 1");
	free(dump);
	free(verify);
	free(other);
}

/* ---- failure rows against errors provoked for real ---- */

static void real_rank(const char *const *rows, const char *cmd, size_t row, bool pattern_hit)
{
	char *err = run_shell(cmd, true);
	assert_true(strlen(err) > 0);
	assert_first(rows, 3, err, NULL, row, pattern_hit);
	free(err);
}

static void real_failures(void **state)
{
	(void)state;
	NEED_PG();
	char *nosock = xasprintf("psql \"host=%s/nosuchdir port=5432 dbname=postgres\" -c 'SELECT 1'",
				 pg.tmp);
	real_rank(step1_rows, nosock, 0, false);
	real_rank(step1_rows, "psql \"host=127.0.0.1 port=1 connect_timeout=5\" -c 'SELECT 1'", 0,
		  true);
	free(nosock);

	char *denied = xasprintf("psql $DATABASE_URL -c 'SET ROLE %s' -c 'SELECT * FROM users'",
				 pg.role);
	real_rank(step1_rows, denied, 1, true);
	real_rank(step2_rows, denied, 1, true);
	free(denied);

	real_rank(step1_rows, "/bin/bash -c 'PATH=/nonexistent\n# back up\npg_dump $DATABASE_URL "
			      "--table=users'",
		  2, true);
	real_rank(step1_rows, "/bin/bash -c '/usr/local/pgsql/bin/pg_dump --version'", 2, false);

	free(run_shell(cmd_add_column, false));
	real_rank(step2_rows,
		  "psql $DATABASE_URL -c \"ALTER TABLE users ADD COLUMN last_login_at TIMESTAMP WITH "
		  "TIME ZONE;\"",
		  0, false);

	real_rank(step3_rows,
		  "psql $DATABASE_URL << 'EOF'\n"
		  "BEGIN;\n"
		  "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email ON users (email);\n"
		  "EOF\n",
		  0, false);
	/* a second session waits for the lock the first one holds */
	real_rank(step3_rows,
		  "psql $DATABASE_URL << 'EOF'\n"
		  "BEGIN;\n"
		  "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;\n"
		  "\\! psql $DATABASE_URL -c \"SET lock_timeout = '100ms'\" -c \"CREATE INDEX "
		  "CONCURRENTLY IF NOT EXISTS idx_users_email ON users (email);\"\n"
		  "ROLLBACK;\n"
		  "EOF\n",
		  2, true);
}

static void real_sqlstate(void **state)
{
	static const char *const rows[] = {
		"`lock_not_available`",
		"`42P07`",
		"`relation already exists`",
	};
	struct failure_hit *hits;
	char code[6] = "";
	(void)state;
	NEED_PG();
	char *err = run_shell("psql $DATABASE_URL -v VERBOSITY=verbose -c 'CREATE TABLE users (id int)'",
			      true);
	const char *p = strstr(err, "ERROR:  ");
	assert_non_null(p);
	memcpy(code, p + 8, 5);
	assert_string_equal(code, "42P07");
	size_t n = rank(rows, 3, err, code, &hits);
	assert_int_equal(n, 2);
	assert_int_equal(hits[0].row, 1);
	assert_true(hits[0].pattern_hit);
	assert_string_equal(hits[0].why, "SQLSTATE 42P07 (duplicate_table)");
	assert_int_equal(hits[1].row, 2);
	assert_false(hits[1].pattern_hit);
	failure_hits_free(hits, n);
	free(err);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(mode_names),
		cmocka_unit_test(captures_tolerant),
		cmocka_unit_test(captures_other_modes),
		cmocka_unit_test(invalid_patterns),
		cmocka_unit_test(match_limit),
		cmocka_unit_test(invalid_utf8),
		cmocka_unit_test(notes_and_diff),
		cmocka_unit_test(huge_outputs),
		cmocka_unit_test(truncated_output),
		cmocka_unit_test(result_reuse),
		cmocka_unit_test(failure_wording),
		cmocka_unit_test(failure_below_threshold),
		cmocka_unit_test(failure_patterns),
		cmocka_unit_test(real_version_deviates),
		cmocka_unit_test(real_add_column),
		cmocka_unit_test(real_create_index),
		cmocka_unit_test(real_backup),
		cmocka_unit_test(real_failures),
		cmocka_unit_test(real_sqlstate),
	};
	const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	const size_t ncorpus = sizeof(corpus) / sizeof(corpus[0]);
	struct CMUnitTest *tests = xcalloc(nfixed + ncorpus, sizeof(*tests));

	for (size_t i = 0; i < ncorpus; i++) {
		tests[i].name = corpus[i].name;
		tests[i].test_func = corpus_case;
		tests[i].initial_state = (void *)&corpus[i];
	}
	memcpy(tests + ncorpus, fixed, sizeof(fixed));
	int rc = _cmocka_run_group_tests("match", tests, nfixed + ncorpus, pg_setup, pg_teardown);
	free(tests);
	return rc;
}
