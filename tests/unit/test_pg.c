/* test_pg.c - src/pg against the harness's real PostgreSQL: splitting,
 * output byte-identical to psql, errors with lines, notices, lock guard
 * rails, run lock, monitor, cancel, and passwords kept out of sight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pg/pg.h"
#include "base/xalloc.h"
#include "sys/proc.h"

static struct pg_conn *db; /* shared by the tests that need no other session */

static struct pg_conn *connect_as(const char *conninfo, const char *app)
{
	struct strbuf err = STRBUF_INIT;
	struct pg_conn *c = pg_connect(conninfo, app, &err);
	if (!c)
		fail_msg("%s", err.buf);
	strbuf_release(&err);
	return c;
}

static void exec_ok(struct pg_conn *c, const char *sql)
{
	struct strbuf err = STRBUF_INIT;
	if (pg_exec(c, sql, &err) < 0)
		fail_msg("%s: %s", sql, err.buf);
	strbuf_release(&err);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- sql_split ---- */

static size_t split_ok(const char *text, struct sql_stmt **stmts)
{
	struct strbuf err = STRBUF_INIT;
	size_t n = 0;
	if (sql_split(text, stmts, &n, NULL, &err) < 0)
		fail_msg("sql_split: %s", err.buf);
	strbuf_release(&err);
	return n;
}

static void split_dollar_quotes(void **state)
{
	(void)state;
	struct sql_stmt *s;
	size_t n = split_ok("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n"
			    "DO $body$ BEGIN PERFORM 1; END $body$;\n"
			    "DO $outer$ BEGIN EXECUTE $inner$ SELECT 1; $outer $inner$; END $outer$;\n"
			    "SELECT 'tail'",
			    &s);
	assert_int_equal(n, 4);
	assert_string_equal(s[0].text, "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;");
	assert_string_equal(s[1].text, "DO $body$ BEGIN PERFORM 1; END $body$;");
	assert_string_equal(s[2].text,
			    "DO $outer$ BEGIN EXECUTE $inner$ SELECT 1; $outer $inner$; END $outer$;");
	assert_string_equal(s[3].text, "SELECT 'tail'");
	assert_int_equal(s[3].line, 4);
	sql_stmts_free(s, n);
}

static void split_dollar_not_a_quote(void **state)
{
	(void)state;
	struct sql_stmt *s;
	size_t n = split_ok("PREPARE p(int) AS SELECT $1; EXECUTE p(1); SELECT 1 AS a$b$; SELECT 2", &s);
	assert_int_equal(n, 4);
	assert_string_equal(s[0].text, "PREPARE p(int) AS SELECT $1;");
	assert_string_equal(s[2].text, "SELECT 1 AS a$b$;");
	sql_stmts_free(s, n);
}

/* psql opens a dollar quote right after a bare number or a $1 (the old
 * splitter took "1$$" for one number and refused the block) */
static void split_dollar_after_number(void **state)
{
	(void)state;
	struct sql_stmt *s;
	size_t n = split_ok("SELECT 1$$;$$;\nSELECT $1$x$;$x$;\nSELECT 1a$b$;\nSELECT 2", &s);
	assert_int_equal(n, 4);
	assert_string_equal(s[0].text, "SELECT 1$$;$$;");
	assert_string_equal(s[1].text, "SELECT $1$x$;$x$;");
	assert_string_equal(s[2].text, "SELECT 1a$b$;");
	assert_int_equal(s[3].line, 4);
	sql_stmts_free(s, n);
}

static void split_strings_and_identifiers(void **state)
{
	(void)state;
	struct sql_stmt *s;
	size_t n = split_ok("SELECT 'a;b', 'it''s;';\n"
			    "SELECT E'it\\'s; here', e'back\\\\';\n"
			    "SELECT 1 AS \"a;b\"\"c\";\n"
			    "SELECT U&'d\\0061t;a', B'101', X'1F';",
			    &s);
	assert_int_equal(n, 4);
	assert_string_equal(s[0].text, "SELECT 'a;b', 'it''s;';");
	assert_string_equal(s[1].text, "SELECT E'it\\'s; here', e'back\\\\';");
	assert_string_equal(s[2].text, "SELECT 1 AS \"a;b\"\"c\";");
	assert_string_equal(s[3].text, "SELECT U&'d\\0061t;a', B'101', X'1F';");
	sql_stmts_free(s, n);
}

static void split_comments(void **state)
{
	(void)state;
	struct sql_stmt *s;
	size_t n = split_ok("-- a; comment\n"
			    "SELECT 1; /* x; /* nested; */ still; */ SELECT 2 -- trailing; comment\n"
			    ";\n"
			    "-- only a comment after the last statement;\n",
			    &s);
	assert_int_equal(n, 2);
	assert_string_equal(s[0].text, "SELECT 1;");
	assert_int_equal(s[0].line, 2);
	assert_string_equal(s[1].text, "SELECT 2 -- trailing; comment\n;");
	assert_int_equal(s[1].line, 2);
	assert_int_equal(s[1].column, 41);
	sql_stmts_free(s, n);
}

static void split_lines_and_columns(void **state)
{
	(void)state;
	struct sql_stmt *s;
	size_t n = split_ok("\n  SELECT 1;\n\nSELECT\n 2; SELECT 3\n;;  ; \n  SELECT 'é'; SELECT 4", &s);
	assert_int_equal(n, 5);
	assert_int_equal(s[0].line, 2);
	assert_int_equal(s[0].column, 3);
	assert_int_equal(s[1].line, 4);
	assert_int_equal(s[1].column, 1);
	assert_string_equal(s[1].text, "SELECT\n 2;");
	assert_int_equal(s[2].line, 5);
	assert_int_equal(s[2].column, 5);
	assert_int_equal(s[3].line, 7);
	assert_int_equal(s[4].line, 7);
	assert_int_equal(s[4].column, 15); /* characters, not bytes */
	sql_stmts_free(s, n);
}

static void split_function_bodies_and_parens(void **state)
{
	(void)state;
	struct sql_stmt *s;
	size_t n = split_ok("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\n"
			    "BEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN true THEN 2 END;\nEND;\n"
			    "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);\n"
			    "SELECT 3;",
			    &s);
	assert_int_equal(n, 3);
	assert_int_equal(s[1].line, 6);
	assert_int_equal(s[2].line, 7);
	sql_stmts_free(s, n);
}

static void split_empty_and_keywords(void **state)
{
	(void)state;
	struct sql_stmt *s;
	size_t n = split_ok(" ;; ;\n-- nothing\n/* at all */\n", &s);
	assert_int_equal(n, 0);
	sql_stmts_free(s, n);
	n = split_ok("-- why\nCREATE INDEX /* c */ CONCURRENTLY IF NOT EXISTS \"Idx\" ON t (c);\n"
		     "BEGIN; SET LOCAL lock_timeout = '1s'; COMMIT",
		     &s);
	assert_int_equal(n, 4);
	assert_string_equal(s[0].keywords, "create index concurrently if not exists");
	assert_string_equal(s[1].keywords, "begin");
	assert_string_equal(s[2].keywords, "set local lock_timeout");
	assert_string_equal(s[3].text, "COMMIT");
	sql_stmts_free(s, n);
}

static void split_refuses_meta_commands(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int line;
		const char *message;
	} cases[] = {
		{ "SELECT 1;\n\n\\d users\n", 3,
		  "line 3: psql meta-command \"\\d\" is not SQL; run it in a bash block with psql" },
		{ "\\timing\nSELECT 1;", 1,
		  "line 1: psql meta-command \"\\timing\" is not SQL; run it in a bash block with psql" },
		{ "SELECT 1;\n\\i file.sql", 2,
		  "line 2: psql meta-command \"\\i\" is not SQL; run it in a bash block with psql" },
		{ "SELECT 1 \\gset\n", 1,
		  "line 1: psql meta-command \"\\gset\" is not SQL; run it in a bash block with psql" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf err = STRBUF_INIT;
		struct sql_stmt *s = (void *)1;
		size_t n = 7;
		int line = 0;
		assert_int_equal(sql_split(cases[i].text, &s, &n, &line, &err), -1);
		assert_null(s);
		assert_int_equal(n, 0);
		assert_int_equal(line, cases[i].line);
		assert_string_equal(err.buf, cases[i].message);
		strbuf_release(&err);
	}
	/* backslashes inside quotes and comments are not commands */
	struct sql_stmt *s;
	size_t n = split_ok("SELECT '\\d', $$\\i$$, \"\\x\" -- \\q\n/* \\timing */;", &s);
	assert_int_equal(n, 1);
	sql_stmts_free(s, n);
}

static void split_reports_unterminated(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int line;
		const char *message;
	} cases[] = {
		{ "SELECT 1;\nSELECT 'open;\n", 2, "line 2: unterminated quoted string" },
		{ "SELECT \"x;", 1, "line 1: unterminated quoted identifier" },
		{ "\n\n/* a /* b */ c", 3, "line 3: unterminated /* comment" },
		{ "DO $f$ BEGIN\nEND $g$;", 1, "line 1: unterminated dollar-quoted string $f$" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf err = STRBUF_INIT;
		struct sql_stmt *s;
		size_t n;
		int line = 0;
		assert_int_equal(sql_split(cases[i].text, &s, &n, &line, &err), -1);
		assert_int_equal(line, cases[i].line);
		assert_string_equal(err.buf, cases[i].message);
		strbuf_release(&err);
	}
}

/* ---- output byte-identical to psql ---- */

static char *psql_stdout(const char *sql)
{
	char path[] = "/tmp/test_pg.XXXXXX";
	char cmd[1024];
	const char *bindir = getenv("PG_BINDIR");
	struct strbuf out = STRBUF_INIT;
	char buf[4096];
	size_t got;
	int fd = mkstemp(path);
	FILE *p;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, sql, strlen(sql)), (ssize_t)strlen(sql));
	close(fd);
	snprintf(cmd, sizeof(cmd), "'%s/psql' -X -d \"$DATABASE_URL\" -f %s 2>/dev/null",
		 bindir ? bindir : "/usr/bin", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((got = fread(buf, 1, sizeof(buf), p)) > 0)
		strbuf_add(&out, buf, got);
	pclose(p);
	unlink(path);
	return strbuf_detach(&out, NULL);
}

static void compare_with_psql(const char *sql)
{
	char *expected = psql_stdout(sql);
	struct pg_outcome o;

	pg_run_block(db, sql, NULL, &o);
	if (o.status != PG_OK)
		fail_msg("%s: %s\n%s", pg_status_name(o.status), sql, o.err.buf);
	if (strcmp(expected, o.out.buf) != 0)
		fail_msg("differs from psql for:\n%s\n--- psql ---\n%s--- ours ---\n%s", sql, expected,
			 o.out.buf);
	assert_true(strlen(expected) > 0);
	free(expected);
	pg_outcome_release(&o);
}

#define PSQL_CASES(X)                                                                              \
	X(simple, "SELECT 1 AS a, 'x' AS b;")                                                     \
	X(nulls, "SELECT NULL::int AS n, 'a' AS t UNION ALL SELECT 42, NULL;")                    \
	X(empty_vs_null, "SELECT '' AS empty, NULL AS nul, 1 AS one;")                            \
	X(no_rows, "SELECT 1 AS a, 'b'::text AS b WHERE false;")                                  \
	X(zero_columns, "SELECT;\nSELECT FROM generate_series(1, 3);")                            \
	X(wide, "SELECT repeat('x', 300) AS wide, 1 AS n, repeat('yz', 50) AS last;")             \
	X(multi_line,                                                                              \
	  "SELECT E'line1\\nline2\\nline3' AS ml, 'b' AS other, E'x\\ny' AS last\n"               \
	  "UNION ALL SELECT 'one', E'two\\nlines', 'z';")                                         \
	X(multi_line_numbers, "SELECT 1 AS n, E'a\\nbb' AS t UNION ALL SELECT 22, 'c';")          \
	X(trailing_newline, "SELECT E'a\\n' AS t, 1 AS n, E'\\n\\n' AS blank;")                   \
	X(multi_line_header, "SELECT 1 AS \"two\nlines\", 'v' AS \"x\", 2 AS \"a\nb\nc\";")      \
	X(unicode,                                                                                 \
	  "SELECT 'é' AS e, '日本' AS ja, '😀' AS emoji, 'naïve café' AS mixed\n"                  \
	  "UNION ALL SELECT 'x', '日本語のテキスト', '👍🏽', 'ü';")                                 \
	X(unicode_header, "SELECT 1 AS \"日本語\", 'é' AS \"café\", 'e' || U&'\\0301' AS comb;") \
	X(control_chars, "SELECT E'a\\tb' AS tab, E'x\\ry' AS cr, E'\\x01z' AS ctl, E'\\t' AS t2;") \
	X(alignment,                                                                               \
	  "SELECT 3.14::numeric AS num, 10::int2 AS i2, 100000000000::int8 AS i8,\n"              \
	  " 1.5::float8 AS f8, 2.5::real AS f4, 'text' AS t, 12345::oid AS o, 7::int AS i4,\n"    \
	  " '$1.00'::money AS m, '42'::xid AS x;")                                                \
	X(numbers_column, "SELECT x FROM (VALUES (-1.5), (100), (NULL), (0.001)) v(x);")         \
	X(booleans, "SELECT true AS yes, false AS no, NULL::bool AS unknown;")                    \
	X(several_results,                                                                         \
	  "SELECT 1 AS a;\nSELECT 'b' AS b, 2 AS c;\nSELECT 'x' AS only WHERE false;")             \
	X(command_tags,                                                                            \
	  "CREATE TABLE fmt_tags (id int, v text);\n"                                             \
	  "INSERT INTO fmt_tags VALUES (1, 'a'), (2, 'b'), (3, 'c');\n"                           \
	  "UPDATE fmt_tags SET v = 'z' WHERE id > 1;\n"                                           \
	  "DELETE FROM fmt_tags WHERE id = 3;\n"                                                  \
	  "ALTER TABLE fmt_tags ADD COLUMN w int;\n"                                              \
	  "CREATE INDEX fmt_tags_id ON fmt_tags (id);\n"                                          \
	  "BEGIN;\n"                                                                              \
	  "INSERT INTO fmt_tags VALUES (4, 'd') RETURNING id, v;\n"                               \
	  "UPDATE fmt_tags SET w = id RETURNING *;\n"                                             \
	  "COMMIT;\n"                                                                             \
	  "SET work_mem = '8MB';\n"                                                               \
	  "DO $$ BEGIN PERFORM 1; END $$;\n"                                                      \
	  "SELECT * FROM fmt_tags ORDER BY id;\n"                                                 \
	  "RESET work_mem;\n"                                                                     \
	  "TRUNCATE fmt_tags;\n"                                                                  \
	  "DROP TABLE fmt_tags;")                                                                 \
	X(version, "SELECT version();")                                                           \
	X(many_columns,                                                                            \
	  "SELECT g AS a, g * 2 AS b, g * 3 AS c, 'row ' || g AS d, g % 2 = 0 AS e,\n"            \
	  " g::numeric / 3 AS f, md5(g::text) AS g, NULL AS h, g * 1000000 AS i,\n"               \
	  " repeat('-', g) AS j, g::text AS k, now() IS NOT NULL AS l\n"                          \
	  "FROM generate_series(1, 12) g;")                                                       \
	X(header_wider, "SELECT 1 AS a_very_long_column_name, 'x' AS another_quite_long_name;")  \
	X(centering, "SELECT 'abcd' AS ab, 'abcde' AS ab2, 'abcdef' AS abc;")                     \
	X(dates_and_json,                                                                          \
	  "SELECT interval '1 day 2 hours 3 minutes' AS iv, timestamp '2024-01-02 03:04:05' AS ts,\n" \
	  " timestamptz '2024-01-02 03:04:05+00' AS tstz, date '2024-02-29' AS d,\n"             \
	  " '{\"a\": 1, \"b\": [1, 2]}'::json AS j, '{\"a\": 1}'::jsonb AS jb;")                  \
	X(jsonb_pretty, "SELECT jsonb_pretty('{\"a\": {\"b\": [1, 2, 3]}, \"c\": \"x\"}') AS pretty, 1 AS n;") \
	X(arrays_rows, "SELECT ARRAY[1, 2, 3] AS arr, ROW(1, 'a') AS r, '{a,b}'::text[] AS ta;")  \
	X(duplicate_names, "SELECT 1 AS a, 2 AS a, 'x' AS \"?column?\";")                         \
	X(many_rows, "SELECT g, md5(g::text) FROM generate_series(1, 50) g;")                     \
	X(explain_and_show, "EXPLAIN (COSTS OFF) SELECT 1;\nSHOW server_encoding;")                      \
	X(copy_out, "COPY (SELECT 1 AS a, 'x y' AS b UNION ALL SELECT 2, NULL) TO STDOUT;")       \
	X(if_not_exists,                                                                           \
	  "CREATE TABLE IF NOT EXISTS fmt_ine (a int);\n"                                         \
	  "CREATE TABLE IF NOT EXISTS fmt_ine (a int);\n"                                         \
	  "DROP TABLE IF EXISTS fmt_ine;\nDROP TABLE IF EXISTS fmt_ine;")

#define X_FUNC(name, sql)                                                                          \
	static void psql_##name(void **state)                                                      \
	{                                                                                          \
		(void)state;                                                                       \
		compare_with_psql(sql);                                                            \
	}
PSQL_CASES(X_FUNC)

/* ---- running blocks ---- */

static void cic_runs_outside_transactions(void **state)
{
	(void)state;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct pg_outcome o;

	pg_run_block(db,
		     "CREATE TABLE cic_t (a int);\n"
		     "INSERT INTO cic_t SELECT generate_series(1, 100);\n"
		     "CREATE INDEX CONCURRENTLY cic_t_a ON cic_t (a);\n"
		     "SELECT indisvalid FROM pg_index WHERE indexrelid = 'cic_t_a'::regclass;",
		     NULL, &o);
	assert_int_equal(o.status, PG_OK);
	assert_int_equal(o.completed, 4);
	assert_string_equal(pg_row_get(&o.row, "indisvalid", NULL), "t");
	assert_non_null(strstr(o.out.buf, "CREATE INDEX\n"));
	pg_outcome_release(&o);

	opts.file = "guide.md";
	opts.first_line = 40;
	pg_run_block(db,
		     "BEGIN;\n"
		     "CREATE INDEX CONCURRENTLY cic_t_b ON cic_t (a);\n"
		     "COMMIT;",
		     &opts, &o);
	assert_int_equal(o.status, PG_FAILED);
	assert_string_equal(o.error.sqlstate, "25001");
	assert_string_equal(o.error.message, "CREATE INDEX CONCURRENTLY cannot run inside a transaction block");
	assert_int_equal(o.error.statement, 1);
	assert_int_equal(o.error.block_line, 2);
	assert_int_equal(o.error.line, 41);
	assert_true(o.rolled_back);
	assert_int_equal(o.completed, 1);
	assert_non_null(strstr(o.err.buf, "ERROR:  CREATE INDEX CONCURRENTLY cannot run inside a transaction block\n"
					  "  at guide.md:41\n"));
	pg_outcome_release(&o);

	/* nothing is left open: the next block runs normally */
	pg_run_block(db, "DROP TABLE cic_t;", NULL, &o);
	assert_int_equal(o.status, PG_OK);
	assert_false(o.in_transaction);
	pg_outcome_release(&o);
}

static void syntax_error_line(void **state)
{
	(void)state;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct pg_outcome o;

	opts.first_line = 20;
	opts.file = "runbook.md";
	pg_run_block(db, "SELECT 1 AS a;\nSELECT 2 AS b;\nSELEC 3;\nSELECT 4;", &opts, &o);
	assert_int_equal(o.status, PG_FAILED);
	assert_string_equal(o.error.sqlstate, "42601");
	assert_string_equal(o.error.severity, "ERROR");
	assert_string_equal(o.error.message, "syntax error at or near \"SELEC\"");
	assert_int_equal(o.error.block_line, 3);
	assert_int_equal(o.error.line, 22);
	assert_int_equal(o.error.position, 1);
	assert_int_equal(o.completed, 2);
	assert_string_equal(o.out.buf, " a \n---\n 1\n(1 row)\n\n b \n---\n 2\n(1 row)\n\n");
	assert_string_equal(o.err.buf, "ERROR:  syntax error at or near \"SELEC\"\n"
				       "LINE 1: SELEC 3;\n"
				       "        ^\n"
				       "  at runbook.md:22\n");
	pg_outcome_release(&o);

	/* the position's own line inside a multi-line statement */
	opts.first_line = 0;
	opts.file = NULL;
	pg_run_block(db, "SELECT 1;\n\nSELECT 1,\n  2\n  FROM nosuch_table;", &opts, &o);
	assert_int_equal(o.status, PG_FAILED);
	assert_string_equal(o.error.sqlstate, "42P01");
	assert_string_equal(o.error.message, "relation \"nosuch_table\" does not exist");
	assert_int_equal(o.error.block_line, 5);
	assert_int_equal(o.error.line, 5);
	pg_outcome_release(&o);
}

static void error_detail_and_hint(void **state)
{
	(void)state;
	struct pg_outcome o;

	pg_run_block(db,
		     "CREATE TEMP TABLE uv (id int PRIMARY KEY);\n"
		     "INSERT INTO uv VALUES (1);\n"
		     "INSERT INTO uv VALUES (1);",
		     NULL, &o);
	assert_int_equal(o.status, PG_FAILED);
	assert_string_equal(o.error.sqlstate, "23505");
	assert_string_equal(o.error.message, "duplicate key value violates unique constraint \"uv_pkey\"");
	assert_string_equal(o.error.detail, "Key (id)=(1) already exists.");
	assert_null(o.error.hint);
	assert_int_equal(o.error.line, 3);
	assert_non_null(strstr(o.err.buf, "DETAIL:  Key (id)=(1) already exists.\n"));
	pg_outcome_release(&o);

	pg_run_block(db, "SELECT nosuch_function(1);", NULL, &o);
	assert_string_equal(o.error.sqlstate, "42883");
	assert_non_null(o.error.hint);
	assert_non_null(strstr(o.err.buf, "HINT:  No function matches"));
	pg_outcome_release(&o);
}

struct captured {
	struct strbuf seq; /* "E:text" / "O:text" in order of arrival */
};

static void capture_output(void *data, enum pg_stream stream, const char *text, size_t len)
{
	struct captured *c = data;
	strbuf_addstr(&c->seq, stream == PG_STDOUT ? "O:" : "E:");
	strbuf_add(&c->seq, text, len);
}

static void notices_in_order(void **state)
{
	(void)state;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct captured cap = { STRBUF_INIT };
	struct pg_outcome o;

	opts.output = capture_output;
	opts.data = &cap;
	pg_run_block(db,
		     "DO $$ BEGIN RAISE NOTICE 'a'; RAISE WARNING 'b'; END $$;\n"
		     "CREATE TEMP TABLE IF NOT EXISTS nt (a int);\n"
		     "CREATE TEMP TABLE IF NOT EXISTS nt (a int);",
		     &opts, &o);
	assert_int_equal(o.status, PG_OK);
	assert_string_equal(o.err.buf, "NOTICE:  a\nWARNING:  b\n"
				       "NOTICE:  relation \"nt\" already exists, skipping\n");
	assert_string_equal(o.out.buf, "DO\nCREATE TABLE\nCREATE TABLE\n");
	assert_string_equal(cap.seq.buf, "E:NOTICE:  a\nE:WARNING:  b\nO:DO\nO:CREATE TABLE\n"
					 "E:NOTICE:  relation \"nt\" already exists, skipping\n"
					 "O:CREATE TABLE\n");
	pg_outcome_release(&o);
	strbuf_release(&cap.seq);
}

static void refuses_meta_commands_before_sending(void **state)
{
	(void)state;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct pg_outcome o;

	opts.file = "guide.md";
	opts.first_line = 10;
	pg_run_block(db, "CREATE TABLE never_created (a int);\n\\d never_created\n", &opts, &o);
	assert_int_equal(o.status, PG_INVALID);
	assert_int_equal(o.error.line, 11);
	assert_string_equal(o.err.buf, "runbook: line 2: psql meta-command \"\\d\" is not SQL; "
				       "run it in a bash block with psql\n  at guide.md:11\n");
	pg_outcome_release(&o);
	pg_run_block(db, "SELECT to_regclass('never_created') IS NULL AS absent;", NULL, &o);
	assert_string_equal(pg_row_get(&o.row, "absent", NULL), "t");
	pg_outcome_release(&o);
}

static void statement_timeout_per_block(void **state)
{
	(void)state;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct pg_outcome o;

	opts.statement_timeout_ms = 300;
	pg_run_block(db, "SELECT 1;\nSELECT pg_sleep(5);\nSELECT 3;", &opts, &o);
	assert_int_equal(o.status, PG_TIMED_OUT);
	assert_string_equal(o.error.sqlstate, "57014");
	assert_string_equal(o.error.message, "canceling statement due to statement timeout");
	assert_int_equal(o.error.line, 2);
	assert_int_equal(o.completed, 1);
	pg_outcome_release(&o);

	/* the next block without a budget is not limited by the last one's */
	pg_run_block(db, "SELECT pg_sleep(0.4);", NULL, &o);
	assert_int_equal(o.status, PG_OK);
	pg_outcome_release(&o);
}

static void guard_settings(void **state)
{
	(void)state;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct pg_outcome o;

	pg_run_block(db, "SHOW lock_timeout;", NULL, &o);
	assert_string_equal(pg_row_get(&o.row, "lock_timeout", NULL), "3s");
	pg_outcome_release(&o);

	/* the author's own SET stands for the rest of the block */
	pg_run_block(db, "SET lock_timeout = '7s';\nSELECT 1;\nSHOW lock_timeout;", NULL, &o);
	assert_string_equal(pg_row_get(&o.row, "lock_timeout", NULL), "7s");
	pg_outcome_release(&o);

	opts.lock_timeout_ms = 250;
	pg_run_block(db, "SHOW lock_timeout;", &opts, &o);
	assert_string_equal(pg_row_get(&o.row, "lock_timeout", NULL), "250ms");
	pg_outcome_release(&o);

	/* the guards are not sent again while they are in force, but they are
	 * after whatever may have changed them: a rolled-back transaction,
	 * set_config(), DISCARD ALL, dynamic SQL naming the setting */
	static const char *const undo[] = {
		"BEGIN;\nSELECT set_config('lock_timeout', '9s', false);\nROLLBACK;",
		"SELECT set_config('lock_timeout', '9s', false);",
		"DISCARD ALL;",
		"DO $$ BEGIN EXECUTE 'SET lock_timeout = ''9s'''; END $$;",
		"SELECT 1;",
	};
	for (size_t i = 0; i < sizeof(undo) / sizeof(undo[0]); i++) {
		char *text = xasprintf("SELECT 1;\n%s\nSELECT 2;\nSHOW lock_timeout;", undo[i]);
		pg_run_block(db, text, NULL, &o);
		assert_int_equal(o.status, PG_OK);
		assert_string_equal(pg_row_get(&o.row, "lock_timeout", NULL), "3s");
		pg_outcome_release(&o);
		free(text);
	}
}

static void copy_from_stdin_refused(void **state)
{
	(void)state;
	struct pg_outcome o;

	pg_run_block(db, "CREATE TEMP TABLE ci (a int);\nCOPY ci FROM STDIN;", NULL, &o);
	assert_int_equal(o.status, PG_FAILED);
	assert_int_equal(o.error.line, 2);
	assert_non_null(strstr(o.error.message, "COPY from stdin failed"));
	pg_outcome_release(&o);
}

static void final_state_row(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT;
	struct pg_row row;
	bool found;

	exec_ok(db, "CREATE TABLE users (id int)");
	exec_ok(db, "ALTER TABLE users ADD COLUMN IF NOT EXISTS last_login_at timestamptz");
	exec_ok(db, "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_last_login_at "
		    "ON users (last_login_at DESC NULLS LAST)");
	assert_int_equal(pg_query_row(db,
				      "-- Comprehensive verification\n"
				      "SELECT\n"
				      "  (SELECT COUNT(*) FROM information_schema.columns\n"
				      "   WHERE table_name = 'users' AND column_name = 'last_login_at') as column_exists,\n"
				      "  (SELECT COUNT(*) FROM pg_indexes\n"
				      "   WHERE tablename = 'users' AND indexname = 'idx_users_last_login_at') as index_exists,\n"
				      "  NULL AS nothing;",
				      &row, &err),
			 0);
	assert_int_equal(row.ncols, 3);
	assert_int_equal(row.nrows, 1);
	assert_string_equal(pg_row_get(&row, "column_exists", &found), "1");
	assert_true(found);
	assert_string_equal(pg_row_get(&row, "index_exists", NULL), "1");
	assert_null(pg_row_get(&row, "nothing", &found));
	assert_true(found);
	assert_null(pg_row_get(&row, "no_such_metric", &found));
	assert_false(found);
	pg_row_release(&row);

	assert_int_equal(pg_query_row(db, "SELECT * FROM no_such_table", &row, &err), -1);
	assert_string_equal(err.buf, "pg: query failed (failed): relation \"no_such_table\" does not exist");
	pg_row_release(&row);
	strbuf_release(&err);
	exec_ok(db, "DROP TABLE users");
}

/* ---- connections and passwords ---- */

static void display_hides_passwords(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "postgresql://u:pw@host/db", "host=host user=u dbname=db" },
		{ "postgres://u:pw@db1.example.com:6432/app?sslmode=require",
		  "host=db1.example.com port=6432 user=u dbname=app sslmode=require" },
		{ "host=x password=pw", "host=x" },
		{ "host=x port=5432 user=app password='p w' dbname=app",
		  "host=x port=5432 user=app dbname=app" },
		{ "host=/tmp/x sslpassword=pw application_name='a b'", "host=/tmp/x application_name='a b'" },
		{ "myapp", "dbname=myapp" },
		{ "host=x password", "(invalid connection string)" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *shown = pg_display_conninfo(cases[i].in);
		assert_string_equal(shown, cases[i].out);
		assert_null(strstr(shown, "pw"));
		free(shown);
	}
}

static void display_from_environment(void **state)
{
	(void)state;
	char *url = strdup(getenv("DATABASE_URL"));
	char *shown;

	setenv("PGPASSWORD", "pwsecret", 1);
	unsetenv("DATABASE_URL");
	shown = pg_display_conninfo(NULL);
	assert_null(strstr(shown, "pwsecret"));
	assert_non_null(strstr(shown, "user=postgres"));
	assert_non_null(strstr(shown, "dbname=postgres"));
	free(shown);

	/* a live connection's target never carries it either */
	struct pg_conn *c = connect_as(NULL, "runbook/env");
	assert_null(strstr(pg_conn_target(c), "pwsecret"));
	assert_non_null(strstr(pg_conn_target(c), "user=postgres"));
	pg_close(c);
	setenv("DATABASE_URL", url, 1);
	unsetenv("PGPASSWORD");
	free(url);
}

static void connect_errors_hide_passwords(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT;

	assert_null(pg_connect("host=/nonexistent port=1 user=app password=sekret", NULL, &err));
	assert_non_null(strstr(err.buf, "pg: connect \"host=/nonexistent port=1 user=app"));
	assert_non_null(strstr(err.buf, "No such file or directory"));
	assert_null(strstr(err.buf, "sekret"));
	strbuf_reset(&err);

	assert_null(pg_connect("postgresql://app:sekret@/db?host=/nonexistent&port=1", NULL, &err));
	assert_null(strstr(err.buf, "sekret"));
	assert_non_null(strstr(err.buf, "pg: connect \""));
	strbuf_reset(&err);

	assert_null(pg_connect("postgresql://app:sek%zzret@localhost/db", NULL, &err));
	assert_null(strstr(err.buf, "sek"));
	assert_non_null(strstr(err.buf, "not valid"));
	strbuf_release(&err);
}

static void server_info_and_preflight(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT, why = STRBUF_INIT;
	struct pg_server_info info;
	struct pg_privileges priv;
	struct pg_conn *app;

	assert_int_equal(pg_server_info(db, &info, &err), 0);
	assert_true(info.version_num >= 140000);
	assert_true(strlen(info.version) > 2);
	assert_true(strlen(info.system_identifier) > 10);
	assert_string_equal(info.user, "postgres");
	assert_string_equal(info.database, "postgres");
	assert_true(info.superuser);
	assert_int_equal(info.backend_pid, pg_conn_backend_pid(db));
	assert_int_equal(pg_check_version(&info, 14, &err), 0);
	assert_int_equal(pg_check_version(&info, 99, &err), -1);
	assert_non_null(strstr(err.buf, "the runbook needs 99 or later"));
	strbuf_reset(&err);
	pg_server_info_release(&info);

	exec_ok(db, "CREATE TABLE priv_t (a int); DROP ROLE IF EXISTS rb_app; CREATE ROLE rb_app LOGIN");
	assert_int_equal(pg_check_privileges(db, NULL, "priv_t", &priv, &why, &err), 0);
	assert_true(priv.sufficient && priv.superuser && priv.owns_table && priv.table_exists);

	app = connect_as("dbname=postgres user=rb_app", "runbook/app");
	assert_int_equal(pg_check_privileges(app, NULL, "public.priv_t", &priv, &why, &err), 0);
	assert_false(priv.sufficient);
	assert_true(priv.table_exists);
	assert_false(priv.owns_table);
	assert_string_equal(why.buf, "rb_app is neither a superuser nor the owner of table public.priv_t; "
				     "connect as the table's owner");
	strbuf_reset(&why);
	assert_int_equal(pg_check_privileges(app, NULL, "no_such_t", &priv, &why, &err), 0);
	assert_false(priv.sufficient);
	assert_false(priv.table_exists);
	strbuf_reset(&why);
	assert_int_equal(pg_check_privileges(app, "public", NULL, &priv, &why, &err), 0);
	assert_true(priv.schema_exists);
	assert_false(priv.superuser);
	pg_close(app);
	exec_ok(db, "DROP TABLE priv_t; DROP ROLE rb_app");
	strbuf_release(&why);
	strbuf_release(&err);
}

static void application_name(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT;
	struct pg_conn *c = connect_as(NULL, "runbook/guide/step-1");
	struct pg_row row;

	assert_int_equal(pg_query_row(c, "SELECT current_setting('application_name') AS a", &row, &err), 0);
	assert_string_equal(pg_row_get(&row, "a", NULL), "runbook/guide/step-1");
	pg_row_release(&row);
	assert_int_equal(pg_set_application_name(c, "runbook/guide/step-2 it's", &err), 0);
	assert_int_equal(pg_query_row(c, "SELECT current_setting('application_name') AS a", &row, &err), 0);
	assert_string_equal(pg_row_get(&row, "a", NULL), "runbook/guide/step-2 it's");
	pg_row_release(&row);
	pg_close(c);
	strbuf_release(&err);
}

static void open_transactions_listed(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT;
	struct pg_conn *other = connect_as(NULL, "someone/else");
	struct pg_session_list list;
	bool seen = false;

	exec_ok(other, "BEGIN; SELECT 1;");
	sleep_ms(20);
	assert_int_equal(pg_open_transactions(db, &list, &err), 0);
	for (size_t i = 0; i < list.nr; i++) {
		assert_int_not_equal(list.items[i].pid, pg_conn_backend_pid(db));
		if (list.items[i].pid == pg_conn_backend_pid(other)) {
			seen = true;
			assert_string_equal(list.items[i].state, "idle in transaction");
			assert_string_equal(list.items[i].application_name, "someone/else");
			assert_string_equal(list.items[i].query, "BEGIN; SELECT 1;");
			assert_true(list.items[i].age_ms >= 10);
		}
	}
	assert_true(seen);
	pg_session_list_release(&list);

	exec_ok(other, "COMMIT");
	assert_int_equal(pg_open_transactions(db, &list, &err), 0);
	for (size_t i = 0; i < list.nr; i++)
		assert_int_not_equal(list.items[i].pid, pg_conn_backend_pid(other));
	pg_session_list_release(&list);
	pg_close(other);
	strbuf_release(&err);
}

static void run_lock_refuses_second_holder(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT;
	struct pg_run_lock *first, *second, *other;
	struct pg_lock_holder holder;

	assert_int_equal(pg_run_lock_key("guide"), pg_run_lock_key("guide"));
	assert_true(pg_run_lock_key("guide") != pg_run_lock_key("guide2"));

	assert_int_equal(pg_run_lock_try(NULL, "guide", "runbook/guide/lock", &first, &holder, &err),
			 PG_LOCK_ACQUIRED);
	assert_non_null(first);
	assert_int_equal(pg_run_lock_try(NULL, "guide", "runbook/guide/again", &second, &holder, &err),
			 PG_LOCK_BUSY);
	assert_null(second);
	assert_int_equal(holder.pid, pg_run_lock_backend_pid(first));
	assert_string_equal(holder.application_name, "runbook/guide/lock");
	assert_string_equal(holder.user, "postgres");
	assert_string_equal(holder.client, "local socket");
	assert_true(strlen(holder.backend_start) >= 19);
	pg_lock_holder_release(&holder);

	/* another runbook is not held up */
	assert_int_equal(pg_run_lock_try(NULL, "other", "runbook/other/lock", &other, &holder, &err),
			 PG_LOCK_ACQUIRED);
	pg_run_lock_release(other);

	pg_run_lock_release(first);
	assert_int_equal(pg_run_lock_try(NULL, "guide", "runbook/guide/again", &second, &holder, &err),
			 PG_LOCK_ACQUIRED);
	pg_run_lock_release(second);
	strbuf_release(&err);
}

/* ---- lock guard rail ---- */

struct probe {
	struct pg_conn *monitor, *third, *holder;
	int our_pid, holder_pid;
	int release_after_ms; /* > 0: the holder commits after this long */
	bool caught_waiting;  /* we saw our ALTER waiting for its lock */
	bool saw_holder;      /* the monitor named the holder as blocking us */
	int64_t third_wait_ms;
};

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	struct strbuf err = STRBUF_INIT;
	int64_t start = proc_now_ms();

	if (p->release_after_ms > 0) {
		sleep_ms(p->release_after_ms);
		pg_exec(p->holder, "COMMIT", &err);
		strbuf_release(&err);
		return NULL;
	}
	while (!p->caught_waiting && proc_now_ms() - start < 10000) {
		struct pg_monitor_sample s;
		if (pg_monitor_sample(p->monitor, p->our_pid, &s, &err) == 0) {
			p->caught_waiting = !strncmp(s.self.wait_event, "Lock:", 5);
			for (size_t i = 0; i < s.blocking_us.nr; i++)
				if (s.blocking_us.items[i].pid == p->holder_pid)
					p->saw_holder = true;
		}
		pg_monitor_sample_release(&s);
		if (!p->caught_waiting)
			sleep_ms(2);
	}
	if (p->caught_waiting) {
		int64_t t0 = proc_now_ms();
		pg_exec(p->third, "SELECT count(*) FROM lg", &err);
		p->third_wait_ms = proc_now_ms() - t0;
	}
	strbuf_release(&err);
	return NULL;
}

/* A long reader holds ACCESS SHARE on lg.  Our ALTER TABLE needs ACCESS
 * EXCLUSIVE and queues behind it; every later reader queues behind our
 * ALTER.  With lock_timeout the ALTER leaves the queue after 200 ms, so the
 * third session's SELECT is held up at most that long, then we retry. */
static void lock_timeout_retries_without_queueing(void **state)
{
	(void)state;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct probe p = { 0 };
	struct pg_outcome o;
	pthread_t thread;

	p.monitor = connect_as(NULL, "test/monitor");
	p.third = connect_as(NULL, "test/third");
	p.holder = connect_as(NULL, "test/holder");
	p.our_pid = pg_conn_backend_pid(db);
	p.holder_pid = pg_conn_backend_pid(p.holder);
	exec_ok(db, "CREATE TABLE lg (id int); INSERT INTO lg VALUES (1), (2)");
	exec_ok(p.holder, "BEGIN; LOCK TABLE lg IN ACCESS SHARE MODE");

	opts.lock_timeout_ms = 200;
	opts.retries = 2;
	opts.retry_base_ms = 100;
	opts.retry_max_ms = 200;
	opts.first_line = 30;
	assert_int_equal(pthread_create(&thread, NULL, probe_main, &p), 0);
	pg_run_block(db, "SELECT 1;\nALTER TABLE lg ADD COLUMN c int;", &opts, &o);
	pthread_join(thread, NULL);

	assert_int_equal(o.status, PG_FAILED);
	assert_string_equal(o.error.sqlstate, "55P03");
	assert_string_equal(o.error.message, "canceling statement due to lock timeout");
	assert_int_equal(o.error.line, 31);
	assert_int_equal(o.nretries, 2);
	assert_int_equal(o.retries[0].attempt, 1);
	assert_int_equal(o.retries[1].attempt, 2);
	assert_int_equal(o.retries[0].line, 31);
	assert_true(o.retries[0].backoff_ms >= 50 && o.retries[0].backoff_ms <= 100);
	assert_true(o.retries[1].backoff_ms >= 100 && o.retries[1].backoff_ms <= 200);
	assert_non_null(strstr(o.err.buf, "runbook: lock not available within lock_timeout (200 ms); "
					  "retry 1 of 2 in "));
	assert_non_null(strstr(o.err.buf, "runbook: lock still not available after 2 retries\n"));
	assert_false(o.rolled_back);
	assert_true(p.caught_waiting);
	assert_true(p.saw_holder);
	assert_true(p.third_wait_ms < opts.lock_timeout_ms + 1000);
	pg_outcome_release(&o);

	/* the holder lets go while we back off: a retry succeeds */
	p.release_after_ms = 300;
	opts.retries = 5;
	assert_int_equal(pthread_create(&thread, NULL, probe_main, &p), 0);
	pg_run_block(db, "ALTER TABLE lg ADD COLUMN c int;", &opts, &o);
	pthread_join(thread, NULL);
	assert_int_equal(o.status, PG_OK);
	assert_true(o.nretries >= 1);
	assert_null(o.error.message);
	assert_string_equal(o.out.buf, "ALTER TABLE\n");
	pg_outcome_release(&o);

	/* inside an explicit transaction the transaction is aborted: no retry */
	exec_ok(p.holder, "BEGIN; LOCK TABLE lg IN ACCESS SHARE MODE");
	pg_run_block(db, "BEGIN;\nALTER TABLE lg DROP COLUMN c;\nCOMMIT;", &opts, &o);
	assert_int_equal(o.status, PG_FAILED);
	assert_string_equal(o.error.sqlstate, "55P03");
	assert_int_equal(o.nretries, 0);
	assert_true(o.rolled_back);
	assert_non_null(strstr(o.err.buf, "not retried: the statement ran inside an explicit transaction"));
	pg_outcome_release(&o);
	exec_ok(p.holder, "COMMIT");

	exec_ok(db, "DROP TABLE lg");
	pg_close(p.monitor);
	pg_close(p.third);
	pg_close(p.holder);
}

/* ---- monitor ---- */

struct waiter {
	struct pg_conn *conn;
	int64_t ms;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct strbuf err = STRBUF_INIT;
	int64_t t0 = proc_now_ms();
	pg_exec(w->conn, "SELECT count(*) FROM mt", &err);
	w->ms = proc_now_ms() - t0;
	strbuf_release(&err);
	return NULL;
}

static void monitor_sees_blocked_session(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT;
	struct pg_conn *ours = connect_as(NULL, "runbook/guide/step-3");
	struct pg_conn *monitor = connect_as(NULL, "runbook/guide/monitor");
	struct waiter w = { connect_as(NULL, "app/reader"), 0 };
	int our_pid = pg_conn_backend_pid(ours);
	bool seen = false;
	pthread_t thread;

	exec_ok(ours, "CREATE TABLE mt (a int)");
	exec_ok(ours, "BEGIN; LOCK TABLE mt IN ACCESS EXCLUSIVE MODE");
	assert_int_equal(pthread_create(&thread, NULL, waiter_main, &w), 0);
	for (int i = 0; i < 500 && !seen; i++) {
		struct pg_monitor_sample s;
		assert_int_equal(pg_monitor_sample(monitor, our_pid, &s, &err), 0);
		assert_int_equal(s.self.pid, our_pid);
		assert_string_equal(s.self.application_name, "runbook/guide/step-3");
		assert_int_equal(s.blocking_us.nr, 0);
		for (size_t k = 0; k < s.blocked_by_us.nr; k++) {
			const struct pg_session *b = &s.blocked_by_us.items[k];
			if (b->pid != pg_conn_backend_pid(w.conn))
				continue;
			seen = true;
			assert_string_equal(b->wait_event, "Lock:relation");
			assert_string_equal(b->application_name, "app/reader");
			assert_string_equal(b->query, "SELECT count(*) FROM mt");
			assert_true(b->age_ms >= 0);
		}
		pg_monitor_sample_release(&s);
		if (!seen)
			sleep_ms(10);
	}
	assert_true(seen);
	exec_ok(ours, "COMMIT");
	pthread_join(thread, NULL);
	exec_ok(ours, "DROP TABLE mt");
	pg_close(w.conn);
	pg_close(monitor);
	pg_close(ours);
	strbuf_release(&err);
}

struct progress_probe {
	struct pg_conn *monitor, *writer;
	int our_pid, writer_pid;
	bool seen;
	char phase[128], command[64], wait_event[64];
	int64_t lockers_total;
};

/* tick runs in our thread while the statement runs: sample, and once the
 * index build is seen waiting for the writer, let the writer commit.  It
 * records rather than asserts: a failed assertion must not jump out of
 * pg_run_block(). */
static void progress_tick(void *data)
{
	struct progress_probe *p = data;
	struct strbuf err = STRBUF_INIT;
	struct pg_monitor_sample s;

	if (p->seen)
		return;
	if (pg_monitor_sample(p->monitor, p->our_pid, &s, &err) == 0 && s.progress.active) {
		bool blocked = false;
		for (size_t i = 0; i < s.blocking_us.nr; i++)
			blocked |= s.blocking_us.items[i].pid == p->writer_pid;
		if (blocked && s.progress.lockers_total > 0) {
			p->seen = true;
			snprintf(p->phase, sizeof(p->phase), "%s", s.progress.phase);
			p->lockers_total = s.progress.lockers_total;
			snprintf(p->command, sizeof(p->command), "%s", s.progress.command);
			snprintf(p->wait_event, sizeof(p->wait_event), "%s", s.self.wait_event);
			pg_exec(p->writer, "COMMIT", &err);
		}
	}
	pg_monitor_sample_release(&s);
	strbuf_release(&err);
}

static void monitor_reports_index_progress(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct progress_probe p = { 0 };
	struct pg_monitor_sample s;
	struct pg_outcome o;

	/* a pid that is gone: nothing, and no error */
	assert_int_equal(pg_monitor_sample(db, 999999, &s, &err), 0);
	assert_false(s.progress.active);
	assert_int_equal(s.self.pid, 0);
	assert_int_equal(s.blocked_by_us.nr, 0);
	pg_monitor_sample_release(&s);

	/* CREATE INDEX CONCURRENTLY waits for a writer's open transaction */
	p.monitor = connect_as(NULL, "test/monitor");
	p.writer = connect_as(NULL, "app/writer");
	p.our_pid = pg_conn_backend_pid(db);
	p.writer_pid = pg_conn_backend_pid(p.writer);
	exec_ok(db, "CREATE TABLE pt (a int)");
	exec_ok(p.writer, "BEGIN; INSERT INTO pt VALUES (1)");
	opts.tick = progress_tick;
	opts.tick_ms = 20;
	opts.data = &p;
	opts.statement_timeout_ms = 20000;
	pg_run_block(db, "CREATE INDEX CONCURRENTLY pt_a ON pt (a);", &opts, &o);
	assert_int_equal(o.status, PG_OK);
	assert_true(p.seen);
	assert_string_equal(p.phase, "waiting for writers before build");
	assert_string_equal(p.command, "CREATE INDEX CONCURRENTLY");
	assert_string_equal(p.wait_event, "Lock:virtualxid");
	assert_int_equal(p.lockers_total, 1);
	pg_outcome_release(&o);
	exec_ok(db, "DROP TABLE pt");
	pg_close(p.monitor);
	pg_close(p.writer);
	strbuf_release(&err);
}

static void capture_is_capped(void **state)
{
	(void)state;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct captured cap = { STRBUF_INIT };
	struct pg_outcome o;

	opts.capture_cap = 100;
	opts.output = capture_output;
	opts.data = &cap;
	pg_run_block(db, "SELECT g FROM generate_series(1, 100) g;", &opts, &o);
	assert_int_equal(o.status, PG_OK);
	assert_int_equal(o.out.len, 100);
	assert_true(o.out_truncated);
	assert_false(o.err_truncated);
	assert_non_null(strstr(cap.seq.buf, "(100 rows)\n"));
	pg_outcome_release(&o);
	strbuf_release(&cap.seq);
}

/* ---- cancel ---- */

static void *raise_sigint(void *arg)
{
	(void)arg;
	sleep_ms(300);
	kill(getpid(), SIGINT);
	return NULL;
}

static void sigint_cancels_statement(void **state)
{
	(void)state;
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct pg_conn *c = connect_as(NULL, "runbook/cancel");
	struct pg_outcome o;
	pthread_t thread;
	int before;

	opts.signal_fd = proc_signals_install();
	assert_true(opts.signal_fd >= 0);
	while (proc_take_signal() != 0)
		;
	before = proc_sigint_count();
	assert_int_equal(pthread_create(&thread, NULL, raise_sigint, NULL), 0);
	pg_run_block(c, "SELECT 1;\nSELECT pg_sleep(30);\nSELECT 3;", &opts, &o);
	pthread_join(thread, NULL);
	assert_int_equal(o.status, PG_INTERRUPTED);
	assert_string_equal(o.error.sqlstate, "57014");
	assert_string_equal(o.error.message, "canceling statement due to user request");
	assert_int_equal(o.error.line, 2);
	assert_int_equal(o.completed, 1);
	assert_false(o.conn_lost);
	assert_non_null(strstr(o.err.buf, "Cancel request sent\nERROR:  canceling statement due to user request\n"));
	assert_true(proc_sigint_count() > before);
	assert_int_equal(o.signal, SIGINT);
	pg_outcome_release(&o);

	/* the connection is still good */
	pg_run_block(c, "SELECT 2 AS two;", &opts, &o);
	assert_int_equal(o.status, PG_OK);
	pg_outcome_release(&o);
	pg_close(c);
}

static int setup(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT;

	setenv("PGCLIENTENCODING", "UTF8", 1);
	db = pg_connect(NULL, "runbook/test", &err);
	if (!db) {
		fprintf(stderr, "%s\n", err.buf);
		strbuf_release(&err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pg_close(db);
	return 0;
}

#define X_TEST(name, sql) cmocka_unit_test(psql_##name),

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(split_dollar_quotes),
		cmocka_unit_test(split_dollar_not_a_quote),
		cmocka_unit_test(split_dollar_after_number),
		cmocka_unit_test(split_strings_and_identifiers),
		cmocka_unit_test(split_comments),
		cmocka_unit_test(split_lines_and_columns),
		cmocka_unit_test(split_function_bodies_and_parens),
		cmocka_unit_test(split_empty_and_keywords),
		cmocka_unit_test(split_refuses_meta_commands),
		cmocka_unit_test(split_reports_unterminated),
		PSQL_CASES(X_TEST)
		cmocka_unit_test(cic_runs_outside_transactions),
		cmocka_unit_test(syntax_error_line),
		cmocka_unit_test(error_detail_and_hint),
		cmocka_unit_test(notices_in_order),
		cmocka_unit_test(refuses_meta_commands_before_sending),
		cmocka_unit_test(statement_timeout_per_block),
		cmocka_unit_test(guard_settings),
		cmocka_unit_test(copy_from_stdin_refused),
		cmocka_unit_test(final_state_row),
		cmocka_unit_test(display_hides_passwords),
		cmocka_unit_test(display_from_environment),
		cmocka_unit_test(connect_errors_hide_passwords),
		cmocka_unit_test(server_info_and_preflight),
		cmocka_unit_test(application_name),
		cmocka_unit_test(open_transactions_listed),
		cmocka_unit_test(run_lock_refuses_second_holder),
		cmocka_unit_test(lock_timeout_retries_without_queueing),
		cmocka_unit_test(monitor_sees_blocked_session),
		cmocka_unit_test(monitor_reports_index_progress),
		cmocka_unit_test(capture_is_capped),
		cmocka_unit_test(sigint_cancels_statement),
	};
	return cmocka_run_group_tests_name("pg", tests, setup, teardown);
}
