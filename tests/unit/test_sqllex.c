/* test_sqllex.c - the SQL lexer (base/sqllex): every lexical form, where
 * statements end and what they say, the problems it reports with their
 * lines; and the executor's split (sql_split) and the linter's
 * (sqllint_scan) agreeing on every sql block of the fixtures, the shipped
 * runbooks and the templates. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/sqllex.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "lint/sqllint.h"
#include "model/mdparse.h"
#include "pg/pg.h"

static struct sqllex lx = SQLLEX_INIT;
static const char *scanned;
static char text_buf[4096];

static void scan(const char *text)
{
	sqllex_release(&lx);
	scanned = text;
	sqllex_scan(&lx, text, strlen(text));
}

/* stmt returns statement i's text (valid until the next call). */
static const char *stmt(size_t i)
{
	assert_true(i < lx.nstmts);
	assert_true(lx.stmts[i].len < sizeof(text_buf));
	memcpy(text_buf, scanned + lx.stmts[i].offset, lx.stmts[i].len);
	text_buf[lx.stmts[i].len] = '\0';
	return text_buf;
}

static const char *token(size_t i)
{
	assert_true(i < lx.ntokens);
	assert_true(lx.tokens[i].len < sizeof(text_buf));
	memcpy(text_buf, scanned + lx.tokens[i].offset, lx.tokens[i].len);
	text_buf[lx.tokens[i].len] = '\0';
	return text_buf;
}

static char *problem(void)
{
	struct strbuf sb = STRBUF_INIT;
	sqllex_describe(&lx, scanned, &sb);
	return strbuf_detach(&sb, NULL);
}

static int teardown(void **state)
{
	(void)state;
	sqllex_release(&lx);
	return 0;
}

/* ---- lexical forms ---- */

static void nested_comments(void **state)
{
	(void)state;
	scan("/* a; /* b; */ still a comment; */ SELECT 1 /* x /* y */ z; */ ; -- c; d\nSELECT 2");
	assert_int_equal(lx.problem, SQLLEX_OK);
	assert_int_equal(lx.nstmts, 2);
	assert_string_equal(stmt(0), "SELECT 1 /* x /* y */ z; */ ;");
	assert_string_equal(stmt(1), "SELECT 2");
	assert_int_equal(lx.stmts[1].line, 2);
	assert_int_equal(lx.ntokens, 5); /* comments are not tokens */
}

static void dollar_tags(void **state)
{
	(void)state;
	scan("SELECT $$a;b$$, $tag$ $$; $tag2$; $tag$, $_x1$;$_x1$, $é$;$é$;\nSELECT 2;");
	assert_int_equal(lx.nstmts, 2);
	assert_int_equal(lx.tokens[1].kind, SQL_TOKEN_DOLLAR);
	assert_string_equal(token(1), "$$a;b$$");
	assert_string_equal(token(3), "$tag$ $$; $tag2$; $tag$");
	assert_string_equal(token(5), "$_x1$;$_x1$");
	assert_string_equal(token(7), "$é$;$é$");

	/* $1 is a parameter, a$b$ an identifier, 1a$b$ a number with junk:
	 * none opens a dollar quote; after a bare number or $1 one does */
	scan("SELECT $1; SELECT a$b$; SELECT 1a$b$; SELECT 1$$;$$; SELECT $1$x$;$x$");
	assert_int_equal(lx.problem, SQLLEX_OK);
	assert_int_equal(lx.nstmts, 5);
	assert_string_equal(stmt(0), "SELECT $1;");
	assert_string_equal(stmt(1), "SELECT a$b$;");
	assert_string_equal(stmt(2), "SELECT 1a$b$;");
	assert_string_equal(stmt(3), "SELECT 1$$;$$;");
	assert_string_equal(stmt(4), "SELECT $1$x$;$x$");

	/* a tag starts with a letter or '_': $1a$ is not one */
	scan("SELECT $1a$ ;$1a$;");
	assert_int_equal(lx.nstmts, 2);
}

static void strings_and_escapes(void **state)
{
	(void)state;
	/* standard_conforming_strings: a backslash is a character in '...' */
	scan("SELECT '\\'; SELECT 'it''s;'; SELECT E'it\\'s; \\\\'; SELECT e'\\\\'';'");
	assert_int_equal(lx.problem, SQLLEX_OK);
	assert_int_equal(lx.nstmts, 4);
	assert_string_equal(stmt(0), "SELECT '\\';");
	assert_string_equal(stmt(1), "SELECT 'it''s;';");
	assert_string_equal(stmt(2), "SELECT E'it\\'s; \\\\';");
	assert_string_equal(stmt(3), "SELECT e'\\\\'';'");

	scan("SELECT B'01;', X'1f;', N'n;', U&'d\\0061t;a', U&\"i;d\", \"a\"\";\", "
	     ":'v;', :\"w;\";");
	assert_int_equal(lx.nstmts, 1);
	assert_int_equal(lx.tokens[1].kind, SQL_TOKEN_STRING);
	assert_string_equal(token(1), "B'01;'");
	assert_string_equal(token(7), "U&'d\\0061t;a'");
	assert_int_equal(lx.tokens[9].kind, SQL_TOKEN_QUOTED_IDENT);
	assert_string_equal(token(9), "U&\"i;d\"");
	assert_string_equal(token(11), "\"a\"\";\"");
	assert_int_equal(lx.tokens[13].kind, SQL_TOKEN_PARAM);
	assert_int_equal(lx.tokens[15].kind, SQL_TOKEN_PARAM);
	/* U&'' knows no \' : the quote ends it */
	scan("SELECT U&'a\\'; SELECT 2");
	assert_int_equal(lx.nstmts, 2);
}

static void semicolons_that_end_nothing(void **state)
{
	(void)state;
	scan("SELECT ';', \";\", $$;$$ /* ; */ -- ;\n, (SELECT 1; SELECT 2), 3;\n"
	     "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); DELETE FROM b);");
	assert_int_equal(lx.nstmts, 2);
	assert_int_equal(lx.stmts[1].line, 3);
}

static void function_bodies(void **state)
{
	(void)state;
	scan("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n"
	     "  SELECT 1;\n  SELECT CASE WHEN true THEN 2 END;\nEND;\n"
	     "create procedure p() begin atomic select 1; end;\n"
	     "BEGIN; SELECT CASE WHEN true THEN 1 END; END;");
	assert_int_equal(lx.nstmts, 5);
	assert_string_equal(stmt(1), "create procedure p() begin atomic select 1; end;");
	/* outside CREATE FUNCTION, BEGIN is a transaction */
	assert_string_equal(stmt(2), "BEGIN;");
	assert_string_equal(stmt(4), "END;");
}

static void numbers(void **state)
{
	(void)state;
	/* 1e--: the number is 1e and a comment follows, as psql reads it */
	scan("SELECT 1e--';\n2, 1.5e-3, .5, 1e+5;");
	assert_int_equal(lx.problem, SQLLEX_OK);
	assert_int_equal(lx.nstmts, 1);
	assert_string_equal(token(1), "1e");
	assert_string_equal(token(2), "2");
	assert_string_equal(token(4), "1.5e-3");
	assert_string_equal(token(6), ".5");
	assert_string_equal(token(8), "1e+5");
}

static void lines_columns_and_text(void **state)
{
	(void)state;
	scan("\n-- why\n  SELECT 1;\n\nSELECT\n 2; SELECT 'é'; "
	     "SELECT 3 -- trailing; comment\n  \n");
	assert_int_equal(lx.nstmts, 4);
	assert_int_equal(lx.stmts[0].line, 3);
	assert_int_equal(lx.stmts[0].col, 3);
	assert_int_equal(lx.stmts[0].offset, 10);
	assert_int_equal(lx.stmts[1].line, 5);
	assert_string_equal(stmt(1), "SELECT\n 2;");
	assert_int_equal(lx.stmts[3].col, 17); /* characters, not bytes */
	/* no semicolon: to the end, comments kept, trailing blanks not */
	assert_string_equal(stmt(3), "SELECT 3 -- trailing; comment");
}

static void crlf(void **state)
{
	(void)state;
	scan("SELECT 1;\r\n-- c\r\nSELECT\r\n  2;\r\nSELECT 3\r\n");
	assert_int_equal(lx.nstmts, 3);
	assert_string_equal(stmt(0), "SELECT 1;");
	assert_int_equal(lx.stmts[1].line, 3);
	assert_string_equal(stmt(1), "SELECT\r\n  2;");
	assert_int_equal(lx.stmts[2].line, 5);
	assert_string_equal(stmt(2), "SELECT 3");
	scan("SELECT 'a\r\nb';\r\nSELECT 'open\r\n");
	assert_int_equal(lx.problem, SQLLEX_UNTERMINATED_STRING);
	assert_int_equal(lx.problem_line, 3);
}

static void empty_statements(void **state)
{
	(void)state;
	scan(" ;; ;\n-- nothing\n/* at all */\n;");
	assert_int_equal(lx.nstmts, 0);
	assert_int_equal(lx.problem, SQLLEX_OK);
	scan("");
	assert_int_equal(lx.nstmts, 0);
	assert_int_equal(lx.ntokens, 0);
	scan(";SELECT 1;;;SELECT 2;");
	assert_int_equal(lx.nstmts, 2);
	assert_string_equal(stmt(1), "SELECT 2;");
}

static void meta_commands(void **state)
{
	(void)state;
	scan("SELECT 1 \\gset\n\\copy t to 'x.csv'\r\n"
	     "SELECT '\\d', $$\\i$$, \"\\x\" -- \\q\n/* \\timing */;");
	assert_int_equal(lx.nstmts, 4);
	assert_string_equal(stmt(0), "SELECT 1");
	assert_true(lx.stmts[1].meta);
	assert_string_equal(stmt(1), "\\gset");
	assert_true(lx.stmts[2].meta);
	assert_int_equal(lx.stmts[2].line, 2);
	assert_string_equal(stmt(2), "\\copy t to 'x.csv'");
	assert_false(lx.stmts[3].meta);
	assert_int_equal(lx.stmts[3].line, 3);
}

static void unterminated(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		enum sqllex_problem problem;
		int line;
		const char *message;
	} cases[] = {
		{ "SELECT 1;\nSELECT 'open;\n", SQLLEX_UNTERMINATED_STRING, 2,
		  "unterminated quoted string" },
		{ "SELECT E'\\'", SQLLEX_UNTERMINATED_STRING, 1, "unterminated quoted string" },
		{ "\nSELECT :'v", SQLLEX_UNTERMINATED_STRING, 2, "unterminated quoted string" },
		{ "SELECT \"x;", SQLLEX_UNTERMINATED_IDENT, 1, "unterminated quoted identifier" },
		{ "SELECT U&\"x", SQLLEX_UNTERMINATED_IDENT, 1, "unterminated quoted identifier" },
		{ "\n\n/* a /* b */ c", SQLLEX_UNTERMINATED_COMMENT, 3, "unterminated /* comment" },
		{ "DO $f$ BEGIN\nEND $g$;", SQLLEX_UNTERMINATED_DOLLAR, 1,
		  "unterminated dollar-quoted string $f$" },
		{ "SELECT 1;\n\nSELECT $$;", SQLLEX_UNTERMINATED_DOLLAR, 3,
		  "unterminated dollar-quoted string $$" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		scan(cases[i].text);
		assert_int_equal(lx.problem, cases[i].problem);
		assert_int_equal(lx.problem_line, cases[i].line);
		char *msg = problem();
		assert_string_equal(msg, cases[i].message);
		free(msg);
	}
	/* what comes before is still read, the unclosed thing swallows the rest */
	scan("SELECT 1; SELECT 'x; DROP TABLE t;");
	assert_int_equal(lx.nstmts, 2);
	assert_true(lx.tokens[lx.ntokens - 1].unterminated);
	assert_string_equal(stmt(1), "SELECT 'x; DROP TABLE t;");
}

static void nul_is_a_character(void **state)
{
	(void)state;
	static const char text[] = "SELECT 1;\0SELECT 2;";
	sqllex_release(&lx);
	scanned = text;
	sqllex_scan(&lx, text, sizeof(text) - 1);
	assert_int_equal(lx.nstmts, 2);
	assert_int_equal(lx.stmts[1].offset, 9);
}

/* ---- the executor and the linter split alike ---- */

struct agreement {
	const char *path;
	size_t blocks, statements;
};

static void compare_block(struct agreement *a, const struct rb_block *b)
{
	struct strbuf err = STRBUF_INIT;
	struct sqllex lint = SQLLEX_INIT;
	struct sql_stmt *exec;
	size_t n = 0;
	int err_line = 0;
	int rc = sql_split(b->text, &exec, &n, &err_line, &err);

	sqllint_scan(b->text, strlen(b->text), &lint);
	a->blocks++;
	if (rc < 0) {
		/* the executor refuses what the linter reads past: a meta-command
		 * or an unclosed quote, on the line it names */
		int line = lint.problem != SQLLEX_OK ? lint.problem_line : 0;
		for (size_t i = lint.nstmts; i-- > 0;)
			if (lint.stmts[i].meta)
				line = lint.stmts[i].line;
		if (line != err_line)
			fail_msg("%s:%d: sql_split: %s, linter sees line %d", a->path, b->text_line,
				 err.buf, line);
	} else {
		if (n != lint.nstmts)
			fail_msg("%s:%d: sql_split gives %zu statements, the linter %zu", a->path,
				 b->text_line, n, lint.nstmts);
		for (size_t i = 0; i < n; i++) {
			const struct sql_statement *l = &lint.stmts[i];
			if (exec[i].line != l->line || exec[i].column != l->col ||
			    strlen(exec[i].text) != l->len ||
			    memcmp(exec[i].text, b->text + l->offset, l->len))
				fail_msg("%s:%d: statement %zu: sql_split %d:%d \"%s\", "
					 "the linter %d:%d \"%.*s\"",
					 a->path, b->text_line, i + 1, exec[i].line, exec[i].column,
					 exec[i].text, l->line, l->col, (int)l->len,
					 b->text + l->offset);
		}
		a->statements += n;
		sql_stmts_free(exec, n);
	}
	sqllex_release(&lint);
	strbuf_release(&err);
}

static int compare_command(const struct rb_step *step, const struct rb_command *cmd,
			   bool verification, void *data)
{
	(void)step;
	(void)verification;
	if (cmd->block->kind == BLOCK_SQL)
		compare_block(data, cmd->block);
	return 0;
}

static void compare_tree(const char *dir, struct agreement *total, size_t *files)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0)
		fail_msg("%s: cannot be read", dir);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *path = xasprintf("%s/%s", dir, name);
		struct stat st;
		size_t len = strlen(name);
		if (name[0] != '.' && !lstat(path, &st)) {
			if (S_ISDIR(st.st_mode)) {
				compare_tree(path, total, files);
			} else if (S_ISREG(st.st_mode) && len > 3 &&
				   !strcmp(name + len - 3, ".md")) {
				struct strbuf err = STRBUF_INIT;
				struct runbook *rb = runbook_load(path, &err, NULL);
				if (rb) {
					total->path = path;
					rb_for_each_command(rb, compare_command, total);
					runbook_free(rb);
					(*files)++;
				}
				strbuf_release(&err);
			}
		}
		free(path);
		free(names[i]);
	}
	free(names);
}

static void executor_and_linter_agree(void **state)
{
	(void)state;
	static const char *const trees[] = { TESTS_DIR "/fixtures", TESTS_DIR "/../runbooks",
					     TESTS_DIR "/../templates" };
	struct agreement total = { NULL, 0, 0 };
	size_t files = 0;

	for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++)
		compare_tree(trees[i], &total, &files);
	print_message("# %zu sql blocks, %zu statements in %zu files split alike\n", total.blocks,
		      total.statements, files);
	/* the trees hold well over a hundred sql blocks: finding none means
	 * the walk is broken, not that the splits agree */
	assert_true(files > 50);
	assert_true(total.blocks > 100);
	assert_true(total.statements > total.blocks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(nested_comments, teardown),
		cmocka_unit_test_teardown(dollar_tags, teardown),
		cmocka_unit_test_teardown(strings_and_escapes, teardown),
		cmocka_unit_test_teardown(semicolons_that_end_nothing, teardown),
		cmocka_unit_test_teardown(function_bodies, teardown),
		cmocka_unit_test_teardown(numbers, teardown),
		cmocka_unit_test_teardown(lines_columns_and_text, teardown),
		cmocka_unit_test_teardown(crlf, teardown),
		cmocka_unit_test_teardown(empty_statements, teardown),
		cmocka_unit_test_teardown(meta_commands, teardown),
		cmocka_unit_test_teardown(unterminated, teardown),
		cmocka_unit_test_teardown(nul_is_a_character, teardown),
		cmocka_unit_test(executor_and_linter_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
