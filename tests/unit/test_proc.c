/* test_proc.c - proc_run's timeout holds whatever the child does with its
 * output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>

#include "sys/proc.h"

static int run_sh(const char *script, int64_t timeout_ms, bool *timed_out, int64_t *ms)
{
	const char *argv[] = { "sh", "-c", script, NULL };
	struct proc p = PROC_INIT;
	struct capture out, err;
	struct strbuf msg = STRBUF_INIT;
	p.argv = argv;
	capture_init(&out, 0, NULL);
	capture_init(&err, 0, NULL);
	int64_t t0 = proc_now_ms();
	int code = proc_run(&p, &out, &err, timeout_ms, timed_out, &msg);
	*ms = proc_now_ms() - t0;
	capture_release(&out);
	capture_release(&err);
	strbuf_release(&msg);
	return code;
}

/* A child that closes stdout and stderr and keeps running used to make
 * proc_run wait for it for ever: the timeout was only watched while the
 * streams were open. */
static void timeout_after_closing_output(void **state)
{
	(void)state;
	bool timed_out = false;
	int64_t ms;
	int code = run_sh("exec >&- 2>&-; sleep 30", 500, &timed_out, &ms);
	assert_true(timed_out);
	assert_int_equal(code, 128 + SIGTERM);
	assert_true(ms < 5000);
}

static void exit_after_closing_output(void **state)
{
	(void)state;
	bool timed_out = true;
	int64_t ms;
	int code = run_sh("echo hi; exec >&- 2>&-; sleep 0.2; exit 7", 10000, &timed_out, &ms);
	assert_false(timed_out);
	assert_int_equal(code, 7);
}

static void sigterm_ignored_after_closing_output(void **state)
{
	(void)state;
	bool timed_out = false;
	int64_t ms;
	int code = run_sh("trap '' TERM; exec >&- 2>&-; while :; do sleep 0.1; done", 300, &timed_out, &ms);
	assert_true(timed_out);
	assert_int_equal(code, 128 + SIGKILL);
	assert_true(ms < 6000);
}

int main(void)
{
	proc_signals_install();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timeout_after_closing_output),
		cmocka_unit_test(exit_after_closing_output),
		cmocka_unit_test(sigterm_ignored_after_closing_output),
	};
	return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
