/* test_template.c - templates: header, placeholders, values, filling, slugs,
 * and the shipped templates themselves parsed and linted when filled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lint/lint.h"
#include "model/mdparse.h"
#include "model/template.h"
#include "base/xalloc.h"

static char dir[64];

static char *write_tmp(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static char *fill(const struct template *t, const struct template_value *v, size_t n, size_t *nleft)
{
	struct strbuf out = STRBUF_INIT;
	const char **left;
	size_t k;
	template_fill(t, v, n, &out, &left, nleft ? nleft : &k);
	free(left);
	return strbuf_detach(&out, NULL);
}

static const char tiny[] =
	"\n<!--\n"
	"template-description:  Tiny: one step  \n"
	"placeholder: TABLE  ident  the table\n"
	"placeholder: BATCH  int=500  rows per batch\n"
	"guidance that is not a key\n"
	"-->\n\n"
	"# {{TITLE}}\n\n**Date:** {{DATE}}\n\n"
	"```sql\nUPDATE {{TABLE}} SET x = 1 LIMIT {{BATCH}}; -- {{UNDECLARED}}\n```\n\n"
	"```text\nUPDATE {{ROWS:\\d+}} {{N:\\d{3}}} {{TABLE}}}} {{lower}} {{ TABLE }}\n```\n";

static void header_and_placeholders(void **state)
{
	(void)state;
	char *path = write_tmp("tiny.md", tiny);
	struct template t = TEMPLATE_INIT;
	struct strbuf err = STRBUF_INIT;

	assert_int_equal(template_open(&t, "tiny", path, &err), 0);
	assert_string_equal(t.description, "Tiny: one step");
	assert_string_equal(t.name, "tiny");
	assert_int_equal(strncmp(t.body, "# {{TITLE}}", 11), 0); /* the header is gone */
	assert_int_equal(t.nplaceholders, 3);
	const struct template_placeholder *ph = template_placeholder(&t, "TABLE");
	assert_non_null(ph);
	assert_int_equal(ph->kind, PH_IDENT);
	assert_null(ph->def);
	assert_string_equal(ph->description, "the table");
	assert_true(ph->declared && ph->used);
	ph = template_placeholder(&t, "BATCH");
	assert_int_equal(ph->kind, PH_INT);
	assert_string_equal(ph->def, "500");
	ph = template_placeholder(&t, "UNDECLARED");
	assert_non_null(ph);
	assert_false(ph->declared);
	assert_true(ph->used);
	assert_int_equal(ph->kind, PH_TEXT);
	assert_null(template_placeholder(&t, "ROWS"));
	assert_null(template_placeholder(&t, "TITLE"));
	template_release(&t);
	strbuf_release(&err);
	free(path);
}

static void filling(void **state)
{
	(void)state;
	char *path = write_tmp("tiny.md", tiny);
	struct template t = TEMPLATE_INIT;
	struct strbuf err = STRBUF_INIT;
	struct template_value v[] = { { "TITLE", "My {{TABLE}} title" }, { "DATE", "2030-01-02" },
				      { "TABLE", "first" }, { "TABLE", "users" } };
	size_t nleft;

	assert_int_equal(template_open(&t, "tiny", path, &err), 0);
	char *out = fill(&t, v, 4, &nleft);
	/* values are not scanned again; the last value of a name wins */
	assert_non_null(strstr(out, "# My {{TABLE}} title\n"));
	assert_non_null(strstr(out, "**Date:** 2030-01-02"));
	assert_non_null(strstr(out, "UPDATE users SET x = 1 LIMIT 500; -- __UNDECLARED__"));
	/* captures, patterns and near misses are left alone */
	assert_non_null(strstr(out, "UPDATE {{ROWS:\\d+}} {{N:\\d{3}}} {{TABLE}}}} {{lower}} {{ TABLE }}"));
	assert_int_equal(nleft, 1);
	free(out);

	struct strbuf filled = STRBUF_INIT;
	const char **left;
	template_fill(&t, v, 2, &filled, &left, &nleft);
	assert_int_equal(nleft, 2);
	assert_string_equal(left[0], "TABLE");
	assert_string_equal(left[1], "UNDECLARED");
	assert_non_null(strstr(filled.buf, "UPDATE __TABLE__ SET"));
	free(left);
	strbuf_release(&filled);
	template_release(&t);
	strbuf_release(&err);
	free(path);
}

static void no_header(void **state)
{
	(void)state;
	char *path = write_tmp("plain.md", "<!-- just a comment -->\n# {{TITLE}}\n");
	struct template t = TEMPLATE_INIT;
	struct strbuf err = STRBUF_INIT;
	assert_int_equal(template_open(&t, "plain", path, &err), 0);
	assert_string_equal(t.description, "");
	assert_string_equal(t.body, "<!-- just a comment -->\n# {{TITLE}}\n");
	template_release(&t);
	strbuf_release(&err);
	free(path);
}

static void bad_headers(void **state)
{
	(void)state;
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "<!--\ntemplate-description: x\nplaceholder: table ident t\n-->\n", ":3: a placeholder name" },
		{ "<!--\ntemplate-description: x\nplaceholder: A ident\nplaceholder: A ident\n-->\n",
		  ":4: placeholder A is declared twice" },
		{ "<!--\ntemplate-description: x\nplaceholder: TITLE text\n-->\n", "built in" },
		{ "<!--\ntemplate-description: x\nplaceholder: A word a\n-->\n", "kind must be ident" },
		{ "<!--\ntemplate-description: x\nplaceholder: A int=x a\n-->\n", ":3: default of A" },
		{ "\x00", "binary" },
		{ "# caf\xc3\n", "invalid UTF-8" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = write_tmp("bad.md", cases[i].text);
		struct template t = TEMPLATE_INIT;
		struct strbuf err = STRBUF_INIT;
		if (!*cases[i].text) {
			FILE *f = fopen(path, "wb");
			fwrite("# a\0b", 1, 5, f);
			fclose(f);
		}
		assert_int_equal(template_open(&t, "bad", path, &err), -1);
		if (!strstr(err.buf, cases[i].msg))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.buf, cases[i].msg);
		template_release(&t);
		strbuf_release(&err);
		free(path);
	}
	struct template t = TEMPLATE_INIT;
	struct strbuf err = STRBUF_INIT;
	assert_int_equal(template_open(&t, "missing", "/nonexistent/x.md", &err), -1);
	assert_non_null(strstr(err.buf, "No such file"));
	template_release(&t);
	strbuf_release(&err);
}

static void values(void **state)
{
	(void)state;
	static const struct {
		enum placeholder_kind kind;
		const char *value;
		int ok;
	} cases[] = {
		{ PH_IDENT, "users", 0 },
		{ PH_IDENT, "_x9", 0 },
		{ PH_IDENT, "Users", -1 },
		{ PH_IDENT, "9x", -1 },
		{ PH_IDENT, "public.users", -1 },
		{ PH_IDENT, "a b", -1 },
		{ PH_IDENT, "", -1 },
		{ PH_IDENT, "a234567890123456789012345678901234567890123456789012345678901234", -1 },
		{ PH_TYPE, "timestamp with time zone", 0 },
		{ PH_TYPE, "varchar(255)", 0 },
		{ PH_TYPE, "numeric(12, 2)", 0 },
		{ PH_TYPE, "text[]", 0 },
		{ PH_TYPE, "TIMESTAMPTZ", 0 },
		{ PH_TYPE, "int;", -1 },
		{ PH_TYPE, "varchar(255", -1 },
		{ PH_TYPE, "varchar)255(", -1 },
		{ PH_TYPE, "'text'", -1 },
		{ PH_INT, "10000", 0 },
		{ PH_INT, "0", -1 },
		{ PH_INT, "010", -1 },
		{ PH_INT, "-1", -1 },
		{ PH_INT, "1000000000", -1 },
		{ PH_SQL, "lower(email)", 0 },
		{ PH_SQL, "'it''s'", 0 },
		{ PH_SQL, "coalesce(a, 'x;y')", 0 },
		{ PH_SQL, "\"odd--name\"", 0 },
		{ PH_SQL, "now()", 0 },
		{ PH_SQL, "1; DROP TABLE t", -1 },
		{ PH_SQL, "a -- b", -1 },
		{ PH_SQL, "a /* b */", -1 },
		{ PH_SQL, "$$", -1 },
		{ PH_SQL, "'open", -1 },
		{ PH_SQL, "f(a", -1 },
		{ PH_SQL, "a)", -1 },
		{ PH_TEXT, "any prose at all", 0 },
		{ PH_TEXT, "a|b", -1 },
		{ PH_TEXT, "a`b", -1 },
		{ PH_TEXT, "{{X:.*}}", -1 },
		{ PH_TEXT, "a}}", -1 },
		{ PH_TEXT, "line\nbreak", -1 },
		{ PH_TEXT, "tab\there", -1 },
		{ PH_TEXT, "bad \xff utf8", -1 },
		{ PH_DATE, "2025-12-31", 0 },
		{ PH_DATE, "2025-13-01", -1 },
		{ PH_DATE, "31/12/2025", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf err = STRBUF_INIT;
		int rc = template_check_value("X", cases[i].kind, cases[i].value, &err);
		if (rc != cases[i].ok)
			fail_msg("%s \"%s\": got %d, want %d (%s)", template_kind_name(cases[i].kind),
				 cases[i].value, rc, cases[i].ok, err.buf);
		if (rc < 0)
			assert_int_equal(strncmp(err.buf, "X: ", 3), 0);
		strbuf_release(&err);
	}
}

static void slugs(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "Add `last_login_at` to users", "add-last-login-at-to-users" },
		{ "  --Hello,  World!--  ", "hello-world" },
		{ "Ünïcode café", "n-code-caf" },
		{ "!!!", "runbook" },
		{ "", "runbook" },
		{ "a-very-long-title-that-goes-on-and-on-and-on-well-past-sixty-bytes-of-slug",
		  "a-very-long-title-that-goes-on-and-on-and-on-well-past-sixty" },
		{ "abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij",
		  "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij" },
		{ "x234567890123456789012345678901234567890123456789012345678901234567890",
		  "x23456789012345678901234567890123456789012345678901234567890" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf out = STRBUF_INIT;
		template_slug(cases[i][0], &out);
		assert_string_equal(out.buf, cases[i][1]);
		assert_true(out.len <= 60);
		strbuf_release(&out);
	}
}

static void names_and_dir(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT, found = STRBUF_INIT;
	char **names;
	char *sub = xasprintf("%s/tpl", dir);
	char *paths[4];

	assert_int_equal(mkdir(sub, 0755), 0);
	paths[0] = xasprintf("%s/b.md", sub);
	paths[1] = xasprintf("%s/a.md", sub);
	paths[2] = xasprintf("%s/.hidden.md", sub);
	paths[3] = xasprintf("%s/notes.txt", sub);
	for (int i = 0; i < 4; i++) {
		FILE *f = fopen(paths[i], "w");
		fputs("# x\n", f);
		fclose(f);
	}
	int n = template_names(sub, &names, &err);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "a");
	assert_string_equal(names[1], "b");
	template_names_free(names, (size_t)n);

	setenv("RUNBOOK_TEMPLATES", sub, 1);
	assert_int_equal(template_find_dir("/nonexistent", &found, &err), 0);
	assert_string_equal(found.buf, sub);
	setenv("RUNBOOK_TEMPLATES", paths[3], 1);
	strbuf_reset(&found);
	assert_int_equal(template_find_dir("/nonexistent", &found, &err), -1);
	assert_non_null(strstr(err.buf, "is not a directory"));
	unsetenv("RUNBOOK_TEMPLATES");

	assert_true(template_name_ok("add-index-concurrently"));
	assert_true(template_name_ok("v2.1_x"));
	assert_false(template_name_ok("../x"));
	assert_false(template_name_ok(".hidden"));
	assert_false(template_name_ok(""));
	assert_false(template_name_ok("a b"));

	for (int i = 0; i < 4; i++) {
		unlink(paths[i]);
		free(paths[i]);
	}
	rmdir(sub);
	free(sub);
	strbuf_release(&err);
	strbuf_release(&found);
}

/* Every shipped template, filled or not, parses into a runbook with steps, a
 * rollback and no lint errors. */
static void shipped_templates(void **state)
{
	(void)state;
	const char *tdir = TESTS_DIR "/../templates";
	struct strbuf err = STRBUF_INIT;
	char **names;
	int n = template_names(tdir, &names, &err);

	assert_int_equal(n, 8);
	for (int i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s.md", tdir, names[i]);
		struct template t = TEMPLATE_INIT;
		if (template_open(&t, names[i], path, &err) < 0)
			fail_msg("%s", err.buf);
		if (!*t.description)
			fail_msg("%s has no template-description", names[i]);
		for (size_t k = 0; k < t.nplaceholders; k++)
			if (!t.placeholders[k].declared || !t.placeholders[k].used)
				fail_msg("%s: placeholder %s is %s", names[i], t.placeholders[k].name,
					 t.placeholders[k].declared ? "never used" : "not declared");
		struct template_value v[] = { { "TITLE", "T" }, { "DATE", "2030-01-02" } };
		for (int filled = 0; filled < 2; filled++) {
			struct template_value all[32];
			size_t nv = 2;
			memcpy(all, v, sizeof(v));
			for (size_t k = 0; filled && k < t.nplaceholders && nv < 32; k++) {
				const struct template_placeholder *ph = &t.placeholders[k];
				static const char *const sample[] = { [PH_TEXT] = "words", [PH_IDENT] = "x1",
								      [PH_TYPE] = "bigint", [PH_INT] = "7",
								      [PH_SQL] = "lower(x1)", [PH_DATE] = "" };
				all[nv++] = (struct template_value){ ph->name, sample[ph->kind] };
			}
			char *text = fill(&t, all, nv, NULL);
			struct runbook *rb = mdparse_buffer(path, text, strlen(text));
			lint_runbook(rb);
			if (diag_count(&rb->diags, DIAG_ERROR) || diag_count(&rb->diags, DIAG_WARNING))
				fail_msg("%s (%s): %s", names[i], filled ? "filled" : "unfilled",
					 rb->diags.items[0].message);
			assert_true(rb->nsteps >= 2);
			assert_non_null(strstr(text, "## Rollback Procedure"));
			assert_null(strstr(text, filled ? "__" : "{{TABLE}}"));
			runbook_free(rb);
			free(text);
		}
		template_release(&t);
		free(path);
	}
	template_names_free(names, (size_t)n);
	strbuf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_and_placeholders),
		cmocka_unit_test(filling),
		cmocka_unit_test(no_header),
		cmocka_unit_test(bad_headers),
		cmocka_unit_test(values),
		cmocka_unit_test(slugs),
		cmocka_unit_test(names_and_dir),
		cmocka_unit_test(shipped_templates),
	};
	snprintf(dir, sizeof(dir), "/tmp/runbook-template-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return rc;
}
