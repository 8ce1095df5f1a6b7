/* test_sqllint.c - what the lint reads of SQL (sqllint_scan), every
 * lock-safety rule (fires, with its line and column; stays quiet, also when
 * the same SQL is quoted, commented out or inside a function body), and the
 * runbook rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lint/lint.h"
#include "model/mdparse.h"
#include "lint/sqllint.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

/* Blocks in these tests start at file line 10, column 1 (sql) or 3 (the
 * column after "$ " of a console command, or an indented fence). */
#define LINE 10

/* ---- helpers ---- */

static struct diag_list lint_sql_flags(const char *sql, unsigned flags)
{
	struct diag_list list = DIAG_LIST_INIT;
	struct sqllint *l = sqllint_new("t.md", &list);
	sqllint_sql(l, sql, LINE, 1, flags);
	sqllint_free(l);
	return list;
}

static struct diag_list lint_sql(const char *sql)
{
	return lint_sql_flags(sql, 0);
}

static struct diag_list lint_shell(const char *script)
{
	struct diag_list list = DIAG_LIST_INIT;
	struct sqllint *l = sqllint_new("t.md", &list);
	sqllint_shell(l, script, LINE, 1, 0);
	sqllint_free(l);
	return list;
}

static void dump(const struct diag_list *list)
{
	for (size_t i = 0; i < list->nr; i++)
		print_message("#   %d:%d %s [%s]\n", list->items[i].line, list->items[i].col,
			      list->items[i].message, list->items[i].rule);
}

static const struct diag *find(const struct diag_list *list, const char *rule)
{
	for (size_t i = 0; i < list->nr; i++)
		if (!strcmp(list->items[i].rule, rule))
			return &list->items[i];
	return NULL;
}

static size_t count(const struct diag_list *list, const char *rule)
{
	size_t n = 0;
	for (size_t i = 0; i < list->nr; i++)
		n += !strcmp(list->items[i].rule, rule);
	return n;
}

/* fires: rule reported at line:col (the first one of that rule), severity sev */
static void fires(struct diag_list list, const char *rule, int line, int col,
		  enum diag_severity sev)
{
	const struct diag *d = find(&list, rule);
	if (!d || d->line != line || d->col != col || d->severity != sev) {
		print_message("# want %s at %d:%d (%s), got:\n", rule, line, col,
			      diag_severity_name(sev));
		dump(&list);
		diag_list_release(&list);
		fail();
	}
	diag_list_release(&list);
}

static void quiet(struct diag_list list, const char *rule)
{
	if (find(&list, rule)) {
		print_message("# want no %s, got:\n", rule);
		dump(&list);
		diag_list_release(&list);
		fail();
	}
	diag_list_release(&list);
}

/* hidden checks that sql, which fires rule on its own, stays quiet inside a
 * string literal, a line comment, a block comment, a DO body and a
 * function body, in a sql block and in a psql here-document. */
static void hidden(const char *sql, const char *rule)
{
	struct strbuf lit = STRBUF_INIT, line_comment = STRBUF_INIT, wrapped = STRBUF_INIT;
	for (const char *p = sql; *p; p++) {
		strbuf_addch(&lit, *p);
		if (*p == '\'')
			strbuf_addch(&lit, '\'');
	}
	strbuf_addstr(&line_comment, "-- ");
	for (const char *p = sql; *p; p++) {
		strbuf_addch(&line_comment, *p);
		if (*p == '\n' && p[1])
			strbuf_addstr(&line_comment, "-- ");
	}
	char *forms[] = {
		xasprintf("SELECT '%s' AS text;\n", lit.buf),
		xasprintf("SELECT E'%s' AS text;\n", lit.buf),
		xasprintf("%s\nSELECT 1;\n", line_comment.buf),
		xasprintf("/* %s /* nested */ */ SELECT 1;\n", sql),
		xasprintf("DO $$ BEGIN %s END $$;\n", sql),
		xasprintf("CREATE OR REPLACE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $fn$\n"
			  "BEGIN\n%s\nEND $fn$;\n",
			  sql),
		xasprintf("SELECT \"%s\" FROM t;\n", "ALTER TABLE users DROP COLUMN x; UPDATE users"),
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		quiet(lint_sql(forms[i]), rule);
		strbuf_setlen(&wrapped, 0);
		strbuf_addf(&wrapped, "psql \"$DATABASE_URL\" <<'EOF'\n%sEOF\n", forms[i]);
		quiet(lint_shell(wrapped.buf), rule);
		free(forms[i]);
	}
	strbuf_release(&lit);
	strbuf_release(&line_comment);
	strbuf_release(&wrapped);
}

/* ---- what the lint reads (sqllint_scan, base/sqllex) ---- */

static void tokens_comments(void **state)
{
	(void)state;
	const char *sql = "SELECT 1 -- not; a token\n/* a; /* nested; */ still; */ FROM t;";
	struct sqllex lx = SQLLEX_INIT;
	sqllint_scan(sql, strlen(sql), &lx);
	const struct sql_token *t = lx.tokens;
	assert_int_equal(lx.ntokens, 5);
	assert_int_equal(t[0].kind, SQL_TOKEN_WORD);
	assert_int_equal(t[1].kind, SQL_TOKEN_NUMBER);
	assert_int_equal(t[2].kind, SQL_TOKEN_WORD);
	assert_int_equal(t[2].line, 2);
	assert_int_equal(t[2].col, 31);
	assert_int_equal(t[3].kind, SQL_TOKEN_WORD);
	assert_int_equal(t[4].kind, SQL_TOKEN_SEMICOLON);
	sqllex_release(&lx);
}

static void tokens_strings(void **state)
{
	(void)state;
	const char *sql = "'it''s; fine' E'it\\'s; fine' e'\\\\' B'01' U&'d\\0061' x";
	struct sqllex lx = SQLLEX_INIT;
	sqllint_scan(sql, strlen(sql), &lx);
	const struct sql_token *t = lx.tokens;
	assert_int_equal(lx.ntokens, 6);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(t[i].kind, SQL_TOKEN_STRING);
		assert_false(t[i].unterminated);
	}
	assert_int_equal(t[0].len, 13);
	assert_int_equal(t[1].len, 14);
	assert_int_equal(t[2].len, 5);
	assert_int_equal(t[5].kind, SQL_TOKEN_WORD);
	sqllex_release(&lx);

	sql = "SELECT 'never ends; DROP TABLE x;";
	sqllint_scan(sql, strlen(sql), &lx);
	assert_int_equal(lx.ntokens, 2);
	assert_true(lx.tokens[1].unterminated);
	assert_int_equal(lx.nstmts, 1); /* read past, not refused */
	sqllex_release(&lx);
}

static void tokens_identifiers(void **state)
{
	(void)state;
	const char *sql = "\"odd;\"\"name\" a$b \"é\" é_x $1 :var :'v' ::int";
	struct sqllex lx = SQLLEX_INIT;
	sqllint_scan(sql, strlen(sql), &lx);
	const struct sql_token *t = lx.tokens;
	assert_int_equal(lx.ntokens, 9);
	assert_int_equal(t[0].kind, SQL_TOKEN_QUOTED_IDENT);
	assert_int_equal(t[0].len, 12);
	assert_int_equal(t[1].kind, SQL_TOKEN_WORD); /* a$b is one identifier */
	assert_int_equal(t[1].len, 3);
	assert_int_equal(t[2].kind, SQL_TOKEN_QUOTED_IDENT);
	assert_int_equal(t[3].kind, SQL_TOKEN_WORD);
	assert_int_equal(t[3].col, 22); /* columns count characters, not bytes */
	assert_int_equal(t[4].kind, SQL_TOKEN_PARAM);
	assert_int_equal(t[5].kind, SQL_TOKEN_PARAM);
	assert_int_equal(t[6].kind, SQL_TOKEN_PARAM);
	assert_int_equal(t[7].kind, SQL_TOKEN_OPERATOR);
	assert_int_equal(t[7].len, 2);
	sqllex_release(&lx);
}

static void tokens_dollar_quotes(void **state)
{
	(void)state;
	const char *sql = "$$ a; 'b $$ $fn$ x $q$;$q$ $$ y; $fn$ $a$unclosed";
	struct sqllex lx = SQLLEX_INIT;
	sqllint_scan(sql, strlen(sql), &lx);
	const struct sql_token *t = lx.tokens;
	assert_int_equal(lx.ntokens, 3);
	assert_int_equal(t[0].kind, SQL_TOKEN_DOLLAR);
	assert_int_equal(t[0].len, 11);
	assert_int_equal(t[1].kind, SQL_TOKEN_DOLLAR);
	assert_int_equal(t[1].len, 25);
	assert_false(t[1].unterminated);
	assert_int_equal(t[2].kind, SQL_TOKEN_DOLLAR);
	assert_true(t[2].unterminated);
	sqllex_release(&lx);
}

static void statements_split(void **state)
{
	(void)state;
	const char *sql = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); "
			  "DELETE FROM b);\n"
			  ";;\n"
			  "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
			  "SELECT CASE WHEN true THEN 1 END; END;\n"
			  "\\copy t to 'x.csv'\n"
			  "SELECT 2";
	struct sqllex lx = SQLLEX_INIT;
	sqllint_scan(sql, strlen(sql), &lx);
	const struct sql_token *t = lx.tokens;
	const struct sql_statement *s = lx.stmts;
	assert_int_equal(lx.nstmts, 4);
	assert_int_equal(t[s[1].first].line, 3);
	assert_int_equal(t[s[2].first].kind, SQL_TOKEN_META);
	assert_int_equal(t[s[3].first].line, 5);
	assert_int_equal(s[3].ntokens, 2);
	sqllex_release(&lx);
}

/* ---- index rules ---- */

static void concurrent_index_creation(void **state)
{
	(void)state;
	const char *bad = "CREATE INDEX IF NOT EXISTS i ON users (a);\n";
	fires(lint_sql(bad), "require-concurrent-index-creation", LINE, 1, DIAG_WARNING);
	fires(lint_sql("SELECT 1;\n  CREATE UNIQUE INDEX IF NOT EXISTS i ON public.users (a);"),
	      "require-concurrent-index-creation", LINE + 1, 3, DIAG_WARNING);
	quiet(lint_sql("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);"),
	      "require-concurrent-index-creation");
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS t (a int);\nCREATE INDEX IF NOT EXISTS i ON t (a);"),
	      "require-concurrent-index-creation");
	/* a template's placeholders are names too */
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS {{TABLE}} (a int);\n"
		       "CREATE INDEX IF NOT EXISTS {{TABLE}}_{{COL}}_idx ON {{TABLE}} ({{COL}});"),
	      "require-concurrent-index-creation");
	fires(lint_sql("CREATE INDEX IF NOT EXISTS {{TABLE}}_idx ON public.{{TABLE}} (a);"),
	      "require-concurrent-index-creation", LINE, 1, DIAG_WARNING);
	hidden(bad, "require-concurrent-index-creation");
}

/* the statements after a number psql reads as "1e" + comment, or as "1a$b$",
 * are linted (the linter's own tokenizer took "1e-" and then a string, or
 * "1a" and then a dollar quote, and never saw them) */
static void reads_numbers_as_psql(void **state)
{
	(void)state;
	fires(lint_sql("SELECT 1e--';\n;\nCREATE INDEX IF NOT EXISTS i ON users (a);"),
	      "require-concurrent-index-creation", LINE + 2, 1, DIAG_WARNING);
	fires(lint_sql("SELECT 1a$b$;\nCREATE INDEX IF NOT EXISTS i ON users (a);"),
	      "require-concurrent-index-creation", LINE + 1, 1, DIAG_WARNING);
}

static void concurrent_index_deletion(void **state)
{
	(void)state;
	const char *bad = "DROP INDEX IF EXISTS idx_users_a;\n";
	fires(lint_sql(bad), "require-concurrent-index-deletion", LINE, 1, DIAG_WARNING);
	quiet(lint_sql("DROP INDEX CONCURRENTLY IF EXISTS idx_users_a;"),
	      "require-concurrent-index-deletion");
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS t (a int);\nCREATE INDEX IF NOT EXISTS ti ON t (a);\n"
		       "DROP INDEX IF EXISTS ti;"),
	      "require-concurrent-index-deletion");
	hidden(bad, "require-concurrent-index-deletion");
}

static void concurrently_in_transaction(void **state)
{
	(void)state;
	const char *rule = "ban-concurrent-index-creation-in-transaction";
	const char *bad = "BEGIN;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);\nCOMMIT;\n";
	fires(lint_sql(bad), rule, LINE + 1, 1, DIAG_ERROR);
	fires(lint_sql("START TRANSACTION;\nDROP INDEX CONCURRENTLY IF EXISTS i;\nCOMMIT;"), rule,
	      LINE + 1, 1, DIAG_ERROR);
	/* psql -1, and several statements in one -c */
	fires(lint_shell("psql -X -1 -c \"CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a)\""),
	      rule, LINE, 16, DIAG_ERROR);
	fires(lint_shell("psql --single-transaction <<'SQL'\nSELECT 1;\n"
			 "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);\nSQL\n"),
	      rule, LINE + 2, 1, DIAG_ERROR);
	fires(lint_shell("psql -c \"SET lock_timeout = '3s'; CREATE INDEX CONCURRENTLY IF NOT "
			 "EXISTS i ON users (a);\""),
		rule, LINE, 35, DIAG_ERROR);
	fires(lint_shell("psql <<EOF\nBEGIN;\nREINDEX INDEX CONCURRENTLY i;\nEOF\n"), rule, LINE + 2,
	      1, DIAG_ERROR);
	/* committed first, or one statement per -c */
	quiet(lint_sql("BEGIN;\nSELECT 1;\nCOMMIT;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);"),
	      rule);
	quiet(lint_shell("psql -c \"SET lock_timeout = '3s'\" -c \"CREATE INDEX CONCURRENTLY IF "
			 "NOT EXISTS i ON users (a)\""),
	      rule);
	quiet(lint_shell("psql -v ON_ERROR_STOP=1 -c 'CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a)'"),
	      rule);
	hidden(bad, rule);
}

/* ---- column rules ---- */

static void field_with_default(void **state)
{
	(void)state;
	const char *rule = "adding-field-with-default";
	const char *bad = "ALTER TABLE users ADD COLUMN IF NOT EXISTS token uuid DEFAULT gen_random_uuid();\n";
	fires(lint_sql(bad), rule, LINE, 19, DIAG_WARNING);
	fires(lint_sql("ALTER TABLE users ADD COLUMN IF NOT EXISTS n int, ADD COLUMN IF NOT EXISTS id bigserial;"),
	      rule, LINE, 51, DIAG_WARNING);
	fires(lint_sql("ALTER TABLE users ADD COLUMN IF NOT EXISTS t timestamptz DEFAULT clock_timestamp();"),
	      rule, LINE, 19, DIAG_WARNING);
	quiet(lint_sql("ALTER TABLE users ADD COLUMN IF NOT EXISTS t timestamptz DEFAULT now();"), rule);
	quiet(lint_sql("ALTER TABLE users ADD COLUMN IF NOT EXISTS n int NOT NULL DEFAULT 0;"), rule);
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS t (a int);\n"
		       "ALTER TABLE t ADD COLUMN IF NOT EXISTS u uuid DEFAULT gen_random_uuid();"),
	      rule);
	hidden(bad, rule);
}

static void not_nullable_field(void **state)
{
	(void)state;
	const char *rule = "adding-not-nullable-field";
	const char *bad = "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n";
	fires(lint_sql(bad), rule, LINE, 19, DIAG_WARNING);
	fires(lint_sql("ALTER TABLE users ALTER email SET NOT NULL;"), rule, LINE, 19, DIAG_WARNING);
	quiet(lint_sql("ALTER TABLE users ALTER COLUMN email DROP NOT NULL;"), rule);
	/* a valid CHECK (email IS NOT NULL) spares the scan */
	quiet(lint_sql("ALTER TABLE users ADD CONSTRAINT e_nn CHECK (email IS NOT NULL) NOT VALID;\n"
		       "ALTER TABLE users VALIDATE CONSTRAINT e_nn;\n"
		       "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
	      rule);
	fires(lint_sql("ALTER TABLE users ADD CONSTRAINT e_nn CHECK (email IS NOT NULL) NOT VALID;\n"
		       "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
	      rule, LINE + 1, 19, DIAG_WARNING);
	quiet(lint_sql("ALTER TABLE {{T}} ADD CONSTRAINT {{C}}_nn CHECK ({{C}} IS NOT NULL) NOT VALID;\n"
		       "ALTER TABLE {{T}} VALIDATE CONSTRAINT {{C}}_nn;\n"
		       "ALTER TABLE {{T}} ALTER COLUMN {{C}} SET NOT NULL;"),
	      rule);
	fires(lint_sql("ALTER TABLE {{T}} ALTER COLUMN {{C}} SET NOT NULL;"), rule, LINE, 19,
	      DIAG_WARNING);
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
	      rule);
	hidden(bad, rule);
}

static void required_field(void **state)
{
	(void)state;
	const char *rule = "adding-required-field";
	const char *bad = "ALTER TABLE users ADD COLUMN IF NOT EXISTS tier int NOT NULL;\n";
	fires(lint_sql(bad), rule, LINE, 19, DIAG_ERROR);
	fires(lint_sql("ALTER TABLE ONLY public.users\n  ADD tier int CONSTRAINT x NOT NULL;"), rule,
	      LINE + 1, 3, DIAG_ERROR);
	quiet(lint_sql("ALTER TABLE users ADD COLUMN IF NOT EXISTS tier int NOT NULL DEFAULT 1;"), rule);
	quiet(lint_sql("ALTER TABLE users ADD COLUMN IF NOT EXISTS tier int;"), rule);
	quiet(lint_sql("ALTER TABLE users ADD COLUMN IF NOT EXISTS id int GENERATED ALWAYS AS IDENTITY;"),
	      rule);
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t ADD COLUMN IF NOT EXISTS b int NOT NULL;"),
	      rule);
	hidden(bad, rule);
}

static void column_type(void **state)
{
	(void)state;
	const char *rule = "changing-column-type";
	const char *bad = "ALTER TABLE users ALTER COLUMN id TYPE bigint;\n";
	fires(lint_sql(bad), rule, LINE, 19, DIAG_WARNING);
	fires(lint_sql("ALTER TABLE users ALTER COLUMN a SET DEFAULT 1, ALTER COLUMN id SET DATA TYPE bigint;"),
	      rule, LINE, 49, DIAG_WARNING);
	quiet(lint_sql("ALTER TABLE users ALTER COLUMN id SET DEFAULT 0;"), rule);
	hidden(bad, rule);
}

static void renames(void **state)
{
	(void)state;
	const char *col = "ALTER TABLE users RENAME COLUMN name TO full_name;\n";
	const char *tab = "ALTER TABLE users RENAME TO people;\n";
	fires(lint_sql(col), "renaming-column", LINE, 1, DIAG_WARNING);
	fires(lint_sql("ALTER TABLE users RENAME name TO full_name;"), "renaming-column", LINE, 1,
	      DIAG_WARNING);
	fires(lint_sql(tab), "renaming-table", LINE, 1, DIAG_WARNING);
	quiet(lint_sql("ALTER TABLE users RENAME CONSTRAINT a TO b;"), "renaming-column");
	quiet(lint_sql(col), "renaming-table");
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t RENAME TO u;"),
	      "renaming-table");
	hidden(col, "renaming-column");
	hidden(tab, "renaming-table");
}

static void drop_column(void **state)
{
	(void)state;
	const char *rule = "ban-drop-column";
	const char *bad = "ALTER TABLE users DROP COLUMN IF EXISTS legacy;\n";
	fires(lint_sql(bad), rule, LINE, 19, DIAG_WARNING);
	/* a column this runbook added is the runbook's to drop */
	quiet(lint_sql("ALTER TABLE users ADD COLUMN IF NOT EXISTS tmp int;\n"
		       "ALTER TABLE users DROP COLUMN IF EXISTS tmp;"),
	      rule);
	quiet(lint_sql("ALTER TABLE users DROP CONSTRAINT IF EXISTS legacy;"), rule);
	quiet(lint_sql("COPY (SELECT id, legacy FROM users) TO STDOUT;\n"
		       "ALTER TABLE users DROP COLUMN IF EXISTS legacy;"),
	      rule);
	/* in a rollback, rollback-drops-without-backup speaks instead */
	quiet(lint_sql_flags(bad, SQLLINT_ROLLBACK), rule);
	hidden(bad, rule);
}

static void drop_table(void **state)
{
	(void)state;
	const char *rule = "ban-drop-table";
	const char *bad = "DROP TABLE IF EXISTS users;\n";
	fires(lint_sql(bad), rule, LINE, 1, DIAG_WARNING);
	fires(lint_sql("COPY orders TO STDOUT;\nDROP TABLE IF EXISTS orders, users;"), rule, LINE + 1,
	      1, DIAG_WARNING);
	quiet(lint_sql("COPY users TO '/tmp/users.csv';\nDROP TABLE IF EXISTS users;"), rule);
	quiet(lint_sql("COPY (SELECT * FROM public.users) TO STDOUT;\nDROP TABLE IF EXISTS users;"), rule);
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS users_bak AS SELECT * FROM users;\n"
		       "DROP TABLE IF EXISTS users;"),
	      rule);
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS scratch (a int);\nDROP TABLE IF EXISTS scratch;"), rule);

	/* a backup in an earlier block: pg_dump, \copy */
	struct diag_list list = DIAG_LIST_INIT;
	struct sqllint *l = sqllint_new("t.md", &list);
	sqllint_shell(l, "pg_dump \"$DATABASE_URL\" --table=public.users --data-only -f u.sql\n", 1, 1, 0);
	sqllint_shell(l, "psql -c \"\\copy orders to 'orders.csv' csv\"\n", 3, 1, 0);
	sqllint_sql(l, "DROP TABLE IF EXISTS users;\nDROP TABLE IF EXISTS orders;\nDROP TABLE IF EXISTS items;", LINE, 1, 0);
	sqllint_free(l);
	assert_int_equal(count(&list, rule), 1);
	fires(list, rule, LINE + 2, 1, DIAG_WARNING);

	/* a schema-only dump is no backup; a whole-database dump is */
	list = (struct diag_list)DIAG_LIST_INIT;
	l = sqllint_new("t.md", &list);
	sqllint_shell(l, "pg_dump -s -t users app > schema.sql\n", 1, 1, 0);
	sqllint_sql(l, bad, LINE, 1, 0);
	sqllint_free(l);
	fires(list, rule, LINE, 1, DIAG_WARNING);
	list = (struct diag_list)DIAG_LIST_INIT;
	l = sqllint_new("t.md", &list);
	sqllint_shell(l, "sudo -u postgres pg_dump -Fc app > app.dump\n", 1, 1, 0);
	sqllint_sql(l, bad, LINE, 1, 0);
	sqllint_free(l);
	quiet(list, rule);
	hidden(bad, rule);
}

/* ---- constraint rules ---- */

static void constraint_not_valid(void **state)
{
	(void)state;
	const char *rule = "constraint-missing-not-valid";
	const char *bad = "ALTER TABLE users ADD CONSTRAINT positive CHECK (balance >= 0);\n";
	fires(lint_sql(bad), rule, LINE, 19, DIAG_WARNING);
	/* validated in the same transaction that added it */
	fires(lint_sql("BEGIN;\nALTER TABLE users ADD CONSTRAINT positive CHECK (balance >= 0) NOT VALID;\n"
		       "ALTER TABLE users VALIDATE CONSTRAINT positive;\nCOMMIT;"),
	      rule, LINE + 2, 19, DIAG_WARNING);
	quiet(lint_sql("ALTER TABLE users ADD CONSTRAINT positive CHECK (balance >= 0) NOT VALID;\n"
		       "ALTER TABLE users VALIDATE CONSTRAINT positive;"),
	      rule);
	hidden(bad, rule);
}

static void foreign_key(void **state)
{
	(void)state;
	const char *rule = "adding-foreign-key-constraint";
	const char *bad = "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
			  "REFERENCES users (id);\n";
	fires(lint_sql(bad), rule, LINE, 20, DIAG_WARNING);
	fires(lint_sql("ALTER TABLE orders ADD COLUMN IF NOT EXISTS user_id bigint REFERENCES users (id);"),
	      rule, LINE, 20, DIAG_WARNING);
	quiet(lint_sql("ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
		       "REFERENCES users (id) NOT VALID;"),
	      rule);
	quiet(lint_sql(bad), "constraint-missing-not-valid");
	hidden(bad, rule);
}

static void unique_constraint(void **state)
{
	(void)state;
	const char *rule = "disallowed-unique-constraint";
	const char *bad = "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);\n";
	fires(lint_sql(bad), rule, LINE, 19, DIAG_WARNING);
	fires(lint_sql("ALTER TABLE users ADD PRIMARY KEY (id);"), rule, LINE, 19, DIAG_WARNING);
	quiet(lint_sql("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;"),
	      rule);
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t ADD CONSTRAINT u UNIQUE (a);"),
	      rule);
	hidden(bad, rule);
}

/* ---- robustness, timeouts, transactions, DML ---- */

static void robust_statements(void **state)
{
	(void)state;
	const char *rule = "prefer-robust-stmts";
	const char *bad = "CREATE TABLE audit (id bigint);\n";
	fires(lint_sql(bad), rule, LINE, 1, DIAG_WARNING);
	fires(lint_sql("ALTER TABLE users ADD COLUMN flag boolean;"), rule, LINE, 19, DIAG_WARNING);
	fires(lint_sql("DROP INDEX CONCURRENTLY idx;"), rule, LINE, 1, DIAG_WARNING);
	fires(lint_sql("CREATE INDEX CONCURRENTLY ON users (a);"), rule, LINE, 1, DIAG_WARNING);
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS audit (id bigint);\n"
		       "ALTER TABLE users ADD COLUMN IF NOT EXISTS flag boolean;\n"
		       "DROP INDEX CONCURRENTLY IF EXISTS idx;"),
	      rule);
	/* inside a transaction a failure leaves nothing half done */
	quiet(lint_sql("BEGIN;\nCREATE TABLE audit (id bigint);\nCOMMIT;"), rule);
	quiet(lint_sql("CREATE TEMP TABLE scratch (a int);"), rule);
	hidden(bad, rule);
}

static void lock_timeout(void **state)
{
	(void)state;
	const char *rule = "require-lock-timeout";
	const char *bad = "psql \"$DATABASE_URL\" -c \"ALTER TABLE users ADD COLUMN IF NOT EXISTS x int;\"\n";
	fires(lint_shell(bad), rule, LINE, 26, DIAG_WARNING);
	fires(lint_shell("psql <<'EOF'\nSELECT 1;\n  ALTER TABLE users ALTER COLUMN a SET DEFAULT 0;\nEOF\n"),
	      rule, LINE + 2, 3, DIAG_WARNING);
	fires(lint_shell("psql --command='TRUNCATE users'"), rule, LINE, 17, DIAG_WARNING);
	fires(lint_shell("n=$(psql -tAc \"DROP INDEX IF EXISTS i\")"), rule, LINE, 16, DIAG_WARNING);
	fires(lint_shell("cat <<EOF | psql\nLOCK TABLE users;\nEOF\n"), rule, LINE + 1, 1,
	      DIAG_WARNING);
	fires(lint_shell("PGOPTIONS='-c lock_timeout=0' psql -c 'CREATE TRIGGER t AFTER INSERT ON users "
			 "FOR EACH ROW EXECUTE FUNCTION f()'"),
	      rule, LINE, 40, DIAG_WARNING);
	fires(lint_shell("psql <<'EOF'\nSET lock_timeout = '2s';\nRESET lock_timeout;\n"
			 "ALTER TABLE users DROP COLUMN IF EXISTS x;\nEOF\n"),
	      rule, LINE + 3, 1, DIAG_WARNING);
	/* the executor's guard rail covers ```sql blocks, unless the block switches it off */
	quiet(lint_sql("ALTER TABLE users ADD COLUMN IF NOT EXISTS x int;"), rule);
	fires(lint_sql("SET lock_timeout = 0;\nALTER TABLE users ADD COLUMN IF NOT EXISTS x int;"), rule,
	      LINE + 1, 1, DIAG_WARNING);
	/* a lock_timeout set in the same psql call, by PGOPTIONS, or in the URL */
	quiet(lint_shell("psql -c \"SET lock_timeout = '3s'\" -c \"ALTER TABLE users ADD COLUMN IF NOT EXISTS x int\""),
	      rule);
	quiet(lint_shell("psql -c \"SET lock_timeout TO '3s'; ALTER TABLE users ADD COLUMN IF NOT EXISTS x int\""),
	      rule);
	quiet(lint_shell("psql <<'EOF'\nBEGIN;\nSET LOCAL lock_timeout = '3s';\nALTER TABLE users ADD "
			 "COLUMN IF NOT EXISTS x int;\nCOMMIT;\nEOF\n"),
	      rule);
	quiet(lint_shell("PGOPTIONS=\"-c lock_timeout=3s\" psql -c 'ALTER TABLE users ADD COLUMN IF NOT EXISTS x int'"),
	      rule);
	quiet(lint_shell("psql 'postgresql://app@db/app?options=-c%20lock_timeout%3D3s' -c 'ALTER TABLE "
			 "users ADD COLUMN IF NOT EXISTS x int'"),
	      rule);
	quiet(lint_shell("psql <<'EOF'\nSELECT set_config('lock_timeout', '3s', false);\n"
			 "ALTER TABLE users ADD COLUMN IF NOT EXISTS x int;\nEOF\n"),
	      rule);
	/* exported in an earlier block, for every later psql */
	struct diag_list list = DIAG_LIST_INIT;
	struct sqllint *l = sqllint_new("t.md", &list);
	sqllint_shell(l, "export PGOPTIONS='-c lock_timeout=5s'\n", 1, 1, 0);
	sqllint_shell(l, bad, LINE, 1, 0);
	sqllint_free(l);
	quiet(list, rule);
	/* CONCURRENTLY does not queue in front of the application; new tables are nobody's */
	quiet(lint_shell("psql -c 'CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a)'"), rule);
	quiet(lint_shell("psql <<'EOF'\nCREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t ADD "
			 "COLUMN IF NOT EXISTS b int;\nEOF\n"),
	      rule);
	/* quoted in the shell: never run */
	quiet(lint_shell("echo 'psql -c \"ALTER TABLE users ADD COLUMN x int\"'\n"
			 "# psql -c \"ALTER TABLE users ADD COLUMN x int\"\n"),
	      rule);
	hidden("ALTER TABLE users ADD COLUMN IF NOT EXISTS x int;\n", rule);
}

static void uncommitted_transaction(void **state)
{
	(void)state;
	const char *rule = "ban-uncommitted-transaction";
	const char *bad = "BEGIN;\nUPDATE users SET a = 1 WHERE id = 1;\n";
	fires(lint_sql(bad), rule, LINE, 1, DIAG_ERROR);
	fires(lint_sql("SELECT 1;\n  begin transaction isolation level serializable;\nSAVEPOINT s;\n"
		       "ROLLBACK TO SAVEPOINT s;"),
	      rule, LINE + 1, 3, DIAG_ERROR);
	fires(lint_shell("psql -c 'BEGIN' -c 'UPDATE users SET a = 1 WHERE id = 1'"), rule, LINE, 10,
	      DIAG_ERROR);
	quiet(lint_sql("BEGIN;\nUPDATE users SET a = 1 WHERE id = 1;\nCOMMIT;"), rule);
	quiet(lint_sql("BEGIN;\nUPDATE users SET a = 1 WHERE id = 1;\nROLLBACK;"), rule);
	quiet(lint_sql("START TRANSACTION;\nSELECT 1;\nEND;"), rule);
	quiet(lint_shell("psql -1 <<'EOF'\nBEGIN;\nSELECT 1;\nEOF\n"), rule);
	quiet(lint_sql("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;"), rule);
	hidden(bad, rule);
}

static void unbounded_dml(void **state)
{
	(void)state;
	const char *rule = "unbounded-dml";
	const char *bad = "UPDATE users SET active = true;\n";
	fires(lint_sql(bad), rule, LINE, 1, DIAG_WARNING);
	fires(lint_sql("DELETE FROM public.sessions;"), rule, LINE, 1, DIAG_WARNING);
	fires(lint_sql("UPDATE users SET score = (SELECT max(s) FROM scores WHERE scores.id = 1);"), rule,
	      LINE, 1, DIAG_WARNING);
	fires(lint_sql("WITH x AS (SELECT 1) UPDATE users SET a = 1;"), rule, LINE, 1, DIAG_WARNING);
	quiet(lint_sql("UPDATE users SET active = true WHERE id < 1000;"), rule);
	quiet(lint_sql("DELETE FROM sessions WHERE expires_at < now();"), rule);
	quiet(lint_sql("CREATE TABLE IF NOT EXISTS staging (a int);\nUPDATE staging SET a = 1;"), rule);
	hidden(bad, rule);
}

/* ---- psql calls in shell scripts: positions ---- */

static void shell_positions(void **state)
{
	(void)state;
	const char *rule = "unbounded-dml";
	/* an escaped quote before the statement shifts nothing in the file */
	fires(lint_shell("echo \"a\\\"b\"; psql -c \"UPDATE users SET a = 1\""), rule, LINE, 23,
	      DIAG_WARNING);
	/* a line continuation and a second line */
	fires(lint_shell("psql \\\n  -X \\\n  -c \"SELECT 1\" -c \\\n  'DELETE FROM users'"), rule,
	      LINE + 3, 4, DIAG_WARNING);
	/* here-documents: <<-EOF with tabs, quoted and unquoted */
	fires(lint_shell("if true; then\n\tpsql <<-EOF\n\tSELECT 1;\n\tDELETE FROM users;\n\tEOF\nfi\n"),
	      rule, LINE + 3, 2, DIAG_WARNING);
	fires(lint_shell("psql <<< \"DELETE FROM users\""), rule, LINE, 11, DIAG_WARNING);
	fires(lint_shell("sudo -u postgres psql -d app -c 'DELETE FROM users'"), rule, LINE, 34,
	      DIAG_WARNING);
	fires(lint_shell("docker compose exec -T db psql -U app -c 'DELETE FROM users'"), rule, LINE,
	      43, DIAG_WARNING);
	fires(lint_shell("echo 'DELETE FROM users;' | psql"), rule, LINE, 7, DIAG_WARNING);
	/* psql with -c does not read its here-document; other programs' input is not SQL */
	quiet(lint_shell("psql -c 'SELECT 1' <<EOF\nDELETE FROM users;\nEOF\n"), rule);
	quiet(lint_shell("cat > notes.txt <<EOF\nDELETE FROM users;\nEOF\n"), rule);
	quiet(lint_shell("mysql -e 'DELETE FROM users'"), rule);
	quiet(lint_shell("psql -f migrate.sql"), rule);
}

/* ---- runbook rules, through the whole check ---- */

static struct runbook *check(const char *md)
{
	struct runbook *rb = mdparse_buffer("t.md", md, strlen(md));
	lint_runbook(rb);
	return rb;
}

static const struct diag *rb_find(const struct runbook *rb, const char *rule, int line, int col)
{
	for (size_t i = 0; i < rb->diags.nr; i++) {
		const struct diag *d = &rb->diags.items[i];
		if (!strcmp(d->rule, rule) && d->line == line && d->col == col)
			return d;
	}
	return NULL;
}

static void rollback_without_backup(void **state)
{
	(void)state;
	const char *md = "# T\n"                                       /* 1 */
			 "\n"                                          /* 2 */
			 "## Step 1: Add\n"                            /* 3 */
			 "\n"                                          /* 4 */
			 "```sql\n"                                    /* 5 */
			 "ALTER TABLE users ADD COLUMN IF NOT EXISTS a int;\n" /* 6 */
			 "```\n"                                       /* 7 */
			 "\n"                                          /* 8 */
			 "Expected:\n"                                 /* 9 */
			 "```\n"                                       /* 10 */
			 "ALTER TABLE\n"                               /* 11 */
			 "```\n"                                       /* 12 */
			 "\n"                                          /* 13 */
			 "## Rollback Procedure\n"                     /* 14 */
			 "\n"                                          /* 15 */
			 "```sql\n"                                    /* 16 */
			 "ALTER TABLE users DROP COLUMN IF EXISTS a;\n" /* 17 */
			 "TRUNCATE orders;\n"                          /* 18 */
			 "DROP TABLE IF EXISTS users;\n"               /* 19 */
			 "```\n";
	struct runbook *rb = check(md);
	const struct diag *d = rb_find(rb, "rollback-drops-without-backup", 18, 1);
	assert_non_null(d);
	assert_int_equal(d->severity, DIAG_WARNING);
	assert_non_null(rb_find(rb, "rollback-drops-without-backup", 19, 1));
	/* the column the runbook added is the rollback's to drop */
	assert_null(rb_find(rb, "rollback-drops-without-backup", 17, 19));
	assert_null(rb_find(rb, "ban-drop-table", 19, 1));
	runbook_free(rb);

	/* with a pg_dump in step 1, nothing to say */
	const char *backed = "# T\n\n## Step 1: Backup\n\n```bash\npg_dump \"$DATABASE_URL\" > all.sql\n```\n\n"
			     "Expected:\n```\n```\n\n## Rollback Procedure\n\n```sql\nDROP TABLE IF EXISTS users;\n```\n";
	rb = check(backed);
	for (size_t i = 0; i < rb->diags.nr; i++)
		assert_string_not_equal(rb->diags.items[i].rule, "rollback-drops-without-backup");
	runbook_free(rb);

	/* in a string, a comment or a function body it is not a drop */
	const char *quoted = "# T\n\n## Step 1: A\n\n```sql\nSELECT 1;\n```\n\nExpected:\n```\n```\n\n"
			     "## Rollback Procedure\n\n```sql\nSELECT 'DROP TABLE users';\n-- TRUNCATE users;\n"
			     "DO $$ BEGIN DELETE FROM users; END $$;\n```\n";
	rb = check(quoted);
	for (size_t i = 0; i < rb->diags.nr; i++)
		assert_string_not_equal(rb->diags.items[i].rule, "rollback-drops-without-backup");
	runbook_free(rb);
}

static void capture_before_defined(void **state)
{
	(void)state;
	const char *md = "# T\n"                                   /* 1 */
			 "\n"                                      /* 2 */
			 "## Step 1: Use\n"                        /* 3 */
			 "\n"                                      /* 4 */
			 "```bash\n"                               /* 5 */
			 "echo \"archiving ${BATCH_ID}\"\n"        /* 6 */
			 "echo $OK $HOME\n"                        /* 7 */
			 "```\n"                                   /* 8 */
			 "\n"                                      /* 9 */
			 "Expected:\n"                             /* 10 */
			 "```\n"                                   /* 11 */
			 "archiving {{BATCH_ID:\\d+}}\n"           /* 12 */
			 "```\n"                                   /* 13 */
			 "\n"                                      /* 14 */
			 "## Step 2: Define\n"                     /* 15 */
			 "\n"                                      /* 16 */
			 "```console\n"                            /* 17 */
			 "$ echo $LATER 'not $LATER'\n"            /* 18 */
			 "ok {{LATER:\\w+}}\n"                     /* 19 */
			 "$ echo $LATER $BATCH_ID\n"               /* 20 */
			 "ok\n"                                    /* 21 */
			 "```\n"                                   /* 22 */
			 "\n"                                      /* 23 */
			 "## Step 3: Fine\n"                       /* 24 */
			 "\n"                                      /* 25 */
			 "```bash\n"                               /* 26 */
			 "OK=1\n"                                  /* 27 */
			 "echo \"$OK\"\n"                          /* 28 */
			 "```\n"                                   /* 29 */
			 "\n"                                      /* 30 */
			 "Expected:\n"                             /* 31 */
			 "```\n"                                   /* 32 */
			 "{{OK:\\d}}\n"                            /* 33 */
			 "```\n"                                   /* 34 */
			 "\n## Rollback Procedure\n\n```bash\necho undo\n```\n";
	struct runbook *rb = check(md);
	const struct diag *d = rb_find(rb, "capture-used-before-defined", 6, 17);
	assert_non_null(d);
	assert_int_equal(d->severity, DIAG_ERROR);
	assert_non_null(strstr(d->message, "line 12"));
	assert_non_null(rb_find(rb, "capture-used-before-defined", 7, 6));
	assert_non_null(rb_find(rb, "capture-used-before-defined", 18, 8));
	size_t n = 0;
	for (size_t i = 0; i < rb->diags.nr; i++)
		n += !strcmp(rb->diags.items[i].rule, "capture-used-before-defined");
	/* $HOME is environment, 'not $LATER' is quoted, line 20 comes after both captures */
	assert_int_equal(n, 3);
	runbook_free(rb);
}

static void structure_rules(void **state)
{
	(void)state;
	const char *md = "# T\n"                          /* 1 */
			 "\n"                             /* 2 */
			 "## Step 1: Quiet\n"             /* 3 */
			 "\n"                             /* 4 */
			 "```bash\n"                      /* 5 */
			 "true\n"                         /* 6 */
			 "```\n"                          /* 7 */
			 "\n"                             /* 8 */
			 "### If This Fails\n"            /* 9 */
			 "\n"                             /* 10 */
			 "| Error | Cause | Solution |\n" /* 11 */
			 "|---|---|---|\n"                /* 12 */
			 "| `boom` | bad luck |  |\n";    /* 13 */
	struct runbook *rb = check(md);
	assert_non_null(rb_find(rb, "no-rollback", 1, 1));
	assert_non_null(rb_find(rb, "step-no-expectation", 3, 1));
	assert_non_null(rb_find(rb, "failure-row-no-solution", 13, 1));
	runbook_free(rb);
}

static void switched_off(void **state)
{
	(void)state;
	const char *md = "# T\n"                                         /* 1 */
			 "\n"                                            /* 2 */
			 "## Step 1: A\n"                                /* 3 */
			 "\n"                                            /* 4 */
			 "```sql check=off:unbounded-dml\n"              /* 5 */
			 "UPDATE users SET a = 1;\n"                     /* 6 */
			 "```\n"                                         /* 7 */
			 "\n"                                            /* 8 */
			 "Expected:\n```\nUPDATE 1\n```\n"               /* 9-12 */
			 "\n"                                            /* 13 */
			 "<!-- runbook: off require-lock-timeout -->\n"  /* 14 */
			 "\n"                                            /* 15 */
			 "```bash\n"                                     /* 16 */
			 "psql -c 'UPDATE users SET a = 1'\n"            /* 17 */
			 "psql -c 'ALTER TABLE users ADD COLUMN IF NOT EXISTS b int'\n" /* 18 */
			 "```\n"                                         /* 19 */
			 "\n## Rollback Procedure\n\n```bash\necho undo\n```\n";
	struct runbook *rb = check(md);
	assert_null(rb_find(rb, "unbounded-dml", 6, 1));
	assert_non_null(rb_find(rb, "unbounded-dml", 17, 10));
	assert_null(rb_find(rb, "require-lock-timeout", 18, 10));
	runbook_free(rb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tokens_comments),
		cmocka_unit_test(tokens_strings),
		cmocka_unit_test(tokens_identifiers),
		cmocka_unit_test(tokens_dollar_quotes),
		cmocka_unit_test(statements_split),
		cmocka_unit_test(concurrent_index_creation),
		cmocka_unit_test(reads_numbers_as_psql),
		cmocka_unit_test(concurrent_index_deletion),
		cmocka_unit_test(concurrently_in_transaction),
		cmocka_unit_test(field_with_default),
		cmocka_unit_test(not_nullable_field),
		cmocka_unit_test(required_field),
		cmocka_unit_test(column_type),
		cmocka_unit_test(renames),
		cmocka_unit_test(drop_column),
		cmocka_unit_test(drop_table),
		cmocka_unit_test(constraint_not_valid),
		cmocka_unit_test(foreign_key),
		cmocka_unit_test(unique_constraint),
		cmocka_unit_test(robust_statements),
		cmocka_unit_test(lock_timeout),
		cmocka_unit_test(uncommitted_transaction),
		cmocka_unit_test(unbounded_dml),
		cmocka_unit_test(shell_positions),
		cmocka_unit_test(rollback_without_backup),
		cmocka_unit_test(capture_before_defined),
		cmocka_unit_test(structure_rules),
		cmocka_unit_test(switched_off),
	};
	return cmocka_run_group_tests_name("sqllint", tests, NULL, NULL);
}
