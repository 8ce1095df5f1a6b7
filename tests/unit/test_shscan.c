/* test_shscan.c - the bash reader behind the psql and capture lint: words,
 * quotes and where each byte came from, here-documents, pipelines, command
 * substitutions, and the variables a script expands and sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lint/shscan.h"

static void scan(const char *script, struct sh_script *s)
{
	*s = (struct sh_script)SH_SCRIPT_INIT;
	shscan(script, strlen(script), s);
}

static bool has_name(const struct sh_var *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return true;
	return false;
}

static void words_and_quotes(void **state)
{
	(void)state;
	const char *script = "A=1 B=\"two words\" psql -c \"SELECT \\\"x\\\" FROM t\" 'it''s' $'a\\tb' x\\ y";
	struct sh_script s;
	scan(script, &s);
	assert_int_equal(s.ncmds, 1);
	const struct sh_command *c = &s.cmds[0];
	assert_int_equal(c->nassign, 2);
	assert_int_equal(c->nwords, 8);
	assert_string_equal(c->words[1].text, "B=two words");
	assert_string_equal(c->words[2].text, "psql");
	assert_string_equal(c->words[4].text, "SELECT \"x\" FROM t");
	/* every byte knows where it came from: the escaped quote maps past its backslash */
	const struct sh_text *sql = &c->words[4];
	assert_int_equal(script[sql->map[0]], 'S');
	assert_int_equal(sql->map[8], (size_t)(strchr(script, 'x') - script));
	assert_int_equal(script[sql->map[7] - 1], '\\');
	assert_string_equal(c->words[5].text, "its");
	assert_string_equal(c->words[6].text, "a\tb");
	assert_string_equal(c->words[7].text, "x y");
	sh_script_release(&s);
}

static void commands_and_pipes(void **state)
{
	(void)state;
	struct sh_script s;
	scan("# a comment; psql -c 'no'\n"
	     "if psql -c 'a'; then cat <<EOF | psql -X; fi\n"
	     "body $V ${W:-x} \\$NOT\n"
	     "EOF\n"
	     "n=$(psql -tAc 'SELECT 1' 2>&1) && echo \"`date`\" >/dev/null || true &\n"
	     "f() { echo in; }\n",
	     &s);
	assert_int_equal(s.ncmds, 9);
	assert_string_equal(s.cmds[0].words[0].text, "psql"); /* "if" dropped */
	assert_string_equal(s.cmds[1].words[0].text, "cat");
	assert_true(s.cmds[1].pipe_out);
	assert_int_equal(s.cmds[1].ninput, 1);
	assert_string_equal(s.cmds[1].input[0].text, "body $V ${W:-x} \\$NOT\n");
	assert_string_equal(s.cmds[2].words[0].text, "psql");
	assert_true(s.cmds[2].pipe_in);
	/* the command substitution is listed before the command holding it */
	assert_string_equal(s.cmds[3].words[0].text, "psql");
	assert_true(s.cmds[3].subst);
	assert_string_equal(s.cmds[3].words[1].text, "-tAc");
	assert_string_equal(s.cmds[4].words[0].text, "n=$(psql -tAc 'SELECT 1' 2>&1)");
	assert_int_equal(s.cmds[4].nassign, 1);
	assert_string_equal(s.cmds[5].words[0].text, "date");
	assert_true(s.cmds[5].subst);
	assert_string_equal(s.cmds[6].words[0].text, "echo");
	assert_int_equal(s.cmds[6].nwords, 2); /* >/dev/null is a redirection */
	assert_string_equal(s.cmds[7].words[0].text, "true");
	assert_string_equal(s.cmds[8].words[0].text, "echo");
	assert_true(has_name(s.uses, s.nuses, "V"));
	assert_true(has_name(s.uses, s.nuses, "W"));
	assert_false(has_name(s.uses, s.nuses, "NOT"));
	assert_true(has_name(s.defs, s.ndefs, "n"));
	assert_false(has_name(s.defs, s.ndefs, "f"));
	sh_script_release(&s);
}

static void heredocs(void **state)
{
	(void)state;
	const char *script = "psql <<'SQL' ; psql <<-\"EOF\" 2>err.txt\n"
			     "SELECT $not_a_var;\n"
			     "SQL\n"
			     "\tSELECT 2;\n"
			     "\tEOF\n"
			     "psql <<< \"SELECT $X\"\n"
			     "psql <<EOF\n"
			     "never closed\n";
	struct sh_script s;
	scan(script, &s);
	assert_int_equal(s.ncmds, 4);
	assert_string_equal(s.cmds[0].input[0].text, "SELECT $not_a_var;\n");
	assert_int_equal(s.cmds[0].input[0].map[0], (size_t)(strstr(script, "SELECT $not") - script));
	assert_string_equal(s.cmds[1].input[0].text, "\tSELECT 2;\n");
	assert_int_equal(s.cmds[1].nwords, 1);
	assert_string_equal(s.cmds[2].input[0].text, "SELECT $X");
	assert_string_equal(s.cmds[3].input[0].text, "never closed\n");
	assert_false(has_name(s.uses, s.nuses, "not_a_var"));
	assert_true(has_name(s.uses, s.nuses, "X"));
	sh_script_release(&s);

	/* a substitution on the line does not lose the here-document */
	scan("psql <<EOF; echo `date` $(date)\nSELECT 1;\nEOF\necho after\n", &s);
	assert_int_equal(s.ncmds, 5);
	assert_string_equal(s.cmds[0].input[0].text, "SELECT 1;\n");
	assert_string_equal(s.cmds[4].words[1].text, "after");
	sh_script_release(&s);
}

static void definitions(void **state)
{
	(void)state;
	struct sh_script s;
	scan("export A=1 B\n"
	     "read -r -p 'name? ' C D\n"
	     "for E in 1 2; do echo $E; done\n"
	     "local F=2; declare -a G\n"
	     "printf -v H '%s' x\n"
	     "I=1 env\n"
	     "( J=1 )\n"
	     "K+=x\n",
	     &s);
	const char *defined[] = { "A", "B", "C", "D", "E", "F", "G", "H", "K" };
	for (size_t i = 0; i < sizeof(defined) / sizeof(defined[0]); i++)
		assert_true(has_name(s.defs, s.ndefs, defined[i]));
	assert_false(has_name(s.defs, s.ndefs, "I")); /* only for one command */
	assert_false(has_name(s.defs, s.ndefs, "-p"));
	assert_false(has_name(s.defs, s.ndefs, "-a"));
	sh_script_release(&s);
}

static void never_fails(void **state)
{
	(void)state;
	const char *bad[] = { "echo 'unclosed", "echo \"unclosed $(", "echo `unclosed", ")))", "<<",
			      "${", "$(", "a\\", "case x in a) echo;; esac", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sh_script s;
		scan(bad[i], &s);
		for (size_t k = 0; k < s.ncmds; k++)
			for (size_t w = 0; w < s.cmds[k].nwords; w++)
				assert_true(s.cmds[k].words[w].map[s.cmds[k].words[w].len] <= strlen(bad[i]));
		sh_script_release(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(words_and_quotes),
		cmocka_unit_test(commands_and_pipes),
		cmocka_unit_test(heredocs),
		cmocka_unit_test(definitions),
		cmocka_unit_test(never_fails),
	};
	return cmocka_run_group_tests_name("shscan", tests, NULL, NULL);
}
