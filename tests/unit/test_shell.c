/* test_shell.c - shell blocks in one long-lived bash, with real processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/shell.h"
#include "base/xalloc.h"

struct fixture {
	char dir[64];
	struct shell *sh;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct strbuf err = STRBUF_INIT;
	struct shell_opts opts = { 0 };

	strcpy(f->dir, "/tmp/runbook-shell-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	proc_signals_install();
	opts.work_dir = f->dir;
	opts.tty_fd = -1;
	opts.kill_grace_ms = 500;
	opts.spill = true; /* capture_is_capped checks the spill file */
	f->sh = shell_start(&opts, &err);
	if (!f->sh) {
		fprintf(stderr, "shell_start: %s\n", err.buf);
		return -1;
	}
	strbuf_release(&err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];
	shell_free(f->sh);
	/* a command started by the dying shell's EXIT trap may still be
	 * writing its snapshot when the shell is gone: try again once */
	snprintf(cmd, sizeof(cmd), "rm -rf %s || { sleep 0.5; rm -rf %s; }", f->dir, f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* run executes text and returns its stdout (caller frees); *code gets the
 * exit status. */
static char *run(struct fixture *f, const char *text, int *code, struct shell_result *keep)
{
	struct shell_block b = { 0 };
	struct shell_result r;
	struct strbuf err = STRBUF_INIT;

	b.text = text;
	b.name = "test.md:1";
	if (shell_run(f->sh, &b, &r, &err) < 0)
		fail_msg("shell_run: %s", err.buf);
	strbuf_release(&err);
	if (code)
		*code = r.exit_code;
	char *out = xstrdup(r.out.text.buf);
	if (keep)
		*keep = r;
	else
		shell_result_release(&r);
	return out;
}

static void state_carries(void **state)
{
	struct fixture *f = *state;
	int code;
	char *out;

	free(run(f, "export EXPORTED=one\nPLAIN=two\ncd /tmp\ngreet() { echo \"hello $1\"; }\n"
		    "alias ll='echo aliased'\nset -o noglob\n", &code, NULL));
	assert_int_equal(code, 0);
	out = run(f, "echo \"$EXPORTED $PLAIN $PWD\"\ngreet world\nll\n[[ -o noglob ]] && echo noglob\n"
		     "bash -c 'echo child sees ${EXPORTED:-nothing} ${PLAIN:-nothing}'\n", &code, NULL);
	assert_int_equal(code, 0);
	assert_string_equal(out, "one two /tmp\nhello world\naliased\nnoglob\nchild sees one nothing\n");
	free(out);
	/* declare at the top level of a block is global, not local */
	free(run(f, "declare -a ARR=(x y z)\ndeclare -i N=41\n", &code, NULL));
	out = run(f, "echo ${ARR[2]} $((N+1))\n", &code, NULL);
	assert_string_equal(out, "z 42\n");
	free(out);
}

static void errexit_and_pipefail(void **state)
{
	struct fixture *f = *state;
	int code;
	char *out;

	out = run(f, "echo before\nKEPT=yes\nfalse\necho after\n", &code, NULL);
	assert_int_equal(code, 1);
	assert_string_equal(out, "before\n");
	free(out);
	/* the state built before the failure survives */
	out = run(f, "echo $KEPT\n", &code, NULL);
	assert_string_equal(out, "yes\n");
	free(out);
	/* pipefail: a failure early in a pipeline fails the block */
	out = run(f, "false | cat\necho not reached\n", &code, NULL);
	assert_int_equal(code, 1);
	assert_string_equal(out, "");
	free(out);
	/* a failing function call stops the block with its status */
	out = run(f, "f() { echo in-f; return 7; echo never; }\nf\necho not reached\n", &code, NULL);
	assert_int_equal(code, 7);
	assert_string_equal(out, "in-f\n");
	free(out);
	/* a failing command inside a function defined in an earlier block
	 * stops the function and the block */
	free(run(f, "g() { echo in-g; false; echo never; }\n", &code, NULL));
	out = run(f, "g\necho not reached\n", &code, NULL);
	assert_int_equal(code, 1);
	assert_string_equal(out, "in-g\n");
	free(out);
	/* `return N` at a block's top level ends the block with N and keeps
	 * what it set; the next block runs normally */
	out = run(f, "R=set\nreturn 3\necho never\n", &code, NULL);
	assert_int_equal(code, 3);
	assert_string_equal(out, "");
	free(out);
	out = run(f, "echo $R\n", &code, NULL);
	assert_int_equal(code, 0);
	assert_string_equal(out, "set\n");
	free(out);
	/* a failure inside $( ) or ( ) fails the block */
	out = run(f, "x=$(false; echo no)\necho not reached\n", &code, NULL);
	assert_int_equal(code, 1);
	assert_string_equal(out, "");
	free(out);
	/* conditions and || do not count as failures */
	out = run(f, "if false; then echo no; fi\nfalse || echo handled\ngrep -q x /dev/null && echo no\necho end\n",
		  &code, NULL);
	assert_int_equal(code, 0);
	assert_string_equal(out, "handled\nend\n");
	free(out);
	/* a command not found fails with 127 */
	out = run(f, "no-such-command-xyz\necho not reached\n", &code, NULL);
	assert_int_equal(code, 127);
	free(out);
}

static void allow_fail(void **state)
{
	struct fixture *f = *state;
	struct shell_block b = { 0 };
	struct shell_result r;
	struct strbuf err = STRBUF_INIT;

	b.text = "false\necho still here\n";
	b.name = "allow.md:3";
	b.allow_fail = true;
	assert_int_equal(shell_run(f->sh, &b, &r, &err), 0);
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out.text.buf, "still here\n");
	shell_result_release(&r);
	strbuf_release(&err);
}

static void exit_restarts_with_state_before(void **state)
{
	struct fixture *f = *state;
	struct shell_result r;
	int code;
	char *out;

	free(run(f, "export SURVIVOR=before\ncd /\n", &code, NULL));
	out = run(f, "SURVIVOR=changed\necho leaving\nexit 3\n", &code, &r);
	assert_int_equal(code, 3);
	assert_true(r.shell_died);
	assert_false(r.state_lost);
	assert_string_equal(out, "leaving\n");
	shell_result_release(&r);
	free(out);
	out = run(f, "echo \"$SURVIVOR $PWD\"\n", &code, NULL);
	assert_int_equal(code, 0);
	assert_string_equal(out, "before /\n");
	free(out);
	/* even `exit 0` ends the session: that is a failure */
	free(run(f, "exit 0\n", &code, NULL));
	assert_int_equal(code, 1);
}

static void nounset_death_keeps_state(void **state)
{
	struct fixture *f = *state;
	struct shell_result r;
	int code;
	char *out;

	out = run(f, "BUILT=yes\nset -u\necho $UNDEFINED_VARIABLE_XYZ\necho never\n", &code, &r);
	assert_true(r.shell_died);
	assert_int_not_equal(code, 0);
	assert_non_null(strstr(r.err.text.buf, "UNDEFINED_VARIABLE_XYZ: unbound variable"));
	/* bash names the block by its place in the runbook */
	assert_non_null(strstr(r.err.text.buf, "test.md:1"));
	shell_result_release(&r);
	free(out);
	out = run(f, "set +u\necho $BUILT\n", &code, NULL);
	assert_string_equal(out, "yes\n");
	free(out);
}

static bool pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static void timeout_kills_the_tree(void **state)
{
	struct fixture *f = *state;
	struct shell_block b = { 0 };
	struct shell_result r;
	struct strbuf err = STRBUF_INIT;
	char pidfile[128];
	pid_t pgid = shell_pgid(f->sh);

	snprintf(pidfile, sizeof(pidfile), "%s/bg.pid", f->dir);
	char *text = xasprintf("export BEFORE_TIMEOUT=kept\nsleep 1000 &\necho $! > %s\nsleep 1000\n", pidfile);
	b.text = text;
	b.name = "timeout.md:9";
	b.timeout_ms = 300;
	assert_int_equal(shell_run(f->sh, &b, &r, &err), 0);
	assert_true(r.timed_out);
	assert_true(r.shell_died);
	shell_result_release(&r);

	FILE *fp = fopen(pidfile, "r");
	assert_non_null(fp);
	int bg = 0;
	assert_int_equal(fscanf(fp, "%d", &bg), 1);
	fclose(fp);
	/* the background grandchild and the whole old group are gone */
	usleep(100000);
	assert_false(pid_alive(bg));
	assert_int_equal(kill(-pgid, 0), -1);
	/* and a new shell carries on with the state from before */
	int code;
	char *out = run(f, "echo $BEFORE_TIMEOUT\n", &code, NULL);
	assert_string_equal(out, "kept\n");
	assert_int_not_equal(shell_pgid(f->sh), pgid);
	free(out);
	free(text);
	strbuf_release(&err);
}

static void both_streams_large(void **state)
{
	struct fixture *f = *state;
	struct shell_result r;
	int code;
	/* 4 MB on each stream, interleaved: no deadlock, every byte counted */
	char *out = run(f, "for i in $(seq 1 4); do head -c 1000000 /dev/zero | tr '\\0' o; "
			   "head -c 1000000 /dev/zero | tr '\\0' e >&2; done\n",
			&code, &r);
	assert_int_equal(code, 0);
	assert_int_equal(r.out.total, 4000000);
	assert_int_equal(r.err.total, 4000000);
	assert_int_equal(strlen(r.out.sha256), 64);
	shell_result_release(&r);
	free(out);
}

static void capture_is_capped(void **state)
{
	struct fixture *f = *state;
	struct shell_result r;
	int code;
	char *out = run(f, "head -c 20000000 /dev/zero | tr '\\0' x\n", &code, &r);
	assert_int_equal(code, 0);
	assert_int_equal(r.out.total, 20000000);
	assert_true(r.out.truncated);
	assert_int_equal(r.out.text.len, CAPTURE_CAP_DEFAULT);
	/* the whole stream is kept in a spill file, 0600 */
	struct stat st;
	assert_non_null(r.out.spill_path);
	assert_int_equal(stat(r.out.spill_path, &st), 0);
	assert_int_equal(st.st_size, 20000000);
	assert_int_equal(st.st_mode & 0777, 0600);
	shell_result_release(&r);
	free(out);
}

static void set_var_cannot_inject(void **state)
{
	struct fixture *f = *state;
	struct strbuf err = STRBUF_INIT;
	int code;
	char marker[128];

	snprintf(marker, sizeof(marker), "%s/injected", f->dir);
	char *value = xasprintf("x'; touch %s; echo '$(touch %s)\n`touch %s`", marker, marker, marker);
	assert_int_equal(shell_set_var(f->sh, "CAPTURED", value, &err), 0);
	char *out = run(f, "printf '%s' \"$CAPTURED\"\n", &code, NULL);
	assert_string_equal(out, value);
	assert_int_equal(access(marker, F_OK), -1);
	assert_int_equal(shell_set_var(f->sh, "BAD NAME", "x", &err), -1);
	/* and it reads back byte for byte */
	struct strbuf back = STRBUF_INIT;
	bool set;
	free(run(f, "EXPORTED_LATER=\"a b\nc\"\n", &code, NULL));
	assert_int_equal(shell_get_var(f->sh, "EXPORTED_LATER", &back, &set, &err), 0);
	assert_true(set);
	assert_string_equal(back.buf, "a b\nc");
	strbuf_reset(&back);
	assert_int_equal(shell_get_var(f->sh, "NEVER_SET_XYZ", &back, &set, &err), 0);
	assert_false(set);
	strbuf_release(&back);
	free(out);
	free(value);
	strbuf_release(&err);
}

static void stdin_is_dev_null(void **state)
{
	struct fixture *f = *state;
	int code;
	char *out = run(f, "cat\necho done\n", &code, NULL);
	assert_int_equal(code, 0);
	assert_string_equal(out, "done\n");
	free(out);
}

/* A block that closes or redirects its stdout and stderr with exec changes
 * them for itself only: the next block prints as usual. */
static void exec_redirections_stay_in_the_block(void **state)
{
	struct fixture *f = *state;
	struct shell_result r;
	int code;
	char *out = run(f, "echo before\nexec 1>&- 2>/dev/null\necho lost || true\n", &code, NULL);
	assert_int_equal(code, 0);
	assert_string_equal(out, "before\n");
	free(out);
	out = run(f, "echo next block\necho to stderr >&2\n", &code, &r);
	assert_int_equal(code, 0);
	assert_string_equal(out, "next block\n");
	assert_string_equal(r.err.text.buf, "to stderr\n");
	shell_result_release(&r);
	free(out);
	out = run(f, "ls -l /proc/self/fd/ | grep -c -E ' (59|60|61|62) ->' || true\n", &code, NULL);
	assert_string_equal(out, "0\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(state_carries, setup, teardown),
		cmocka_unit_test_setup_teardown(errexit_and_pipefail, setup, teardown),
		cmocka_unit_test_setup_teardown(allow_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(exit_restarts_with_state_before, setup, teardown),
		cmocka_unit_test_setup_teardown(nounset_death_keeps_state, setup, teardown),
		cmocka_unit_test_setup_teardown(timeout_kills_the_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(both_streams_large, setup, teardown),
		cmocka_unit_test_setup_teardown(capture_is_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(set_var_cannot_inject, setup, teardown),
		cmocka_unit_test_setup_teardown(stdin_is_dev_null, setup, teardown),
		cmocka_unit_test_setup_teardown(exec_redirections_stay_in_the_block, setup, teardown),
	};
	return cmocka_run_group_tests_name("shell", tests, NULL, NULL);
}
