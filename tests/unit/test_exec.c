/* test_exec.c - the execution layer driven by a scripted UI: no terminal,
 * real bash, real journals; the tests assert on the events and on what
 * the journal records. */
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

#include "base/xalloc.h"
#include "exec/events.h"
#include "exec/exec.h"
#include "model/mdparse.h"

/* ---------- the scripted UI ---------- */

struct script {
	const char *const *answers; /* one per question: a key ("r", "\n") or a reason */
	size_t nanswers, next;
	struct strbuf log;          /* one line per event: "type detail" */
	size_t asked[8];            /* questions by kind */
	int fix_suggested;          /* EV_SUGGESTIONS offered a fix */
};

static void on_event(void *data, const struct event *ev)
{
	struct script *s = data;
	strbuf_addstr(&s->log, ev_type_name(ev->type));
	switch (ev->type) {
	case EV_BLOCK_START:
		strbuf_addf(&s->log, " attempt=%d", ev->attempt);
		break;
	case EV_BLOCK_END:
		strbuf_addf(&s->log, " %s %s", verdict_name(ev->verdict), ev->label ? ev->label : "");
		break;
	case EV_STEP_END:
		strbuf_addf(&s->log, " %s %s", ev->step->title, verdict_name(ev->verdict));
		break;
	case EV_DECISION:
		strbuf_addf(&s->log, " %s by %s: %s", ev->choice, ev->by, ev->reason);
		break;
	case EV_SUGGESTIONS:
		strbuf_addf(&s->log, " %zu", ev->count);
		if (ev->count && ev->suggestions[0].fix) {
			strbuf_addf(&s->log, " fix=%s", ev->suggestions[0].fix);
			s->fix_suggested++;
		}
		break;
	case EV_OUTPUT:
		strbuf_addch(&s->log, ' ');
		strbuf_add(&s->log, ev->text, ev->len);
		strbuf_trim(&s->log);
		break;
	case EV_ROLLBACK_END:
		strbuf_addstr(&s->log, ev->ok ? " ok" : " failed");
		break;
	case EV_RUN_END:
		strbuf_addf(&s->log, " exit=%d", ev->code);
		break;
	default:
		break;
	}
	strbuf_addch(&s->log, '\n');
}

static int on_ask(void *data, const struct question *q, struct strbuf *answer)
{
	struct script *s = data;
	s->asked[q->kind]++;
	strbuf_addf(&s->log, "ask %s\n", ask_kind_name(q->kind));
	if (s->next >= s->nanswers)
		return ANSWER_EOF;
	const char *a = s->answers[s->next++];
	if (q->kind == ASK_REASON) {
		strbuf_addstr(answer, a);
		return '\n';
	}
	return a[0];
}

/* ---------- fixtures ---------- */

struct fixture {
	char dir[64];
	char path[128], log[128];
	char cwd[4096];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/runbook-exec-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/guide.md", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/run.jsonl", f->dir);
	/* blocks run in the current directory, as typed into a terminal */
	if (!getcwd(f->cwd, sizeof(f->cwd)) || chdir(f->dir) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	if (chdir(f->cwd) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int rc = system(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* run runs path with the scripted answers; returns the exit code. */
static int run(struct fixture *f, struct exec_opts *o, struct script *s, const char *const *answers,
	       size_t nanswers)
{
	struct strbuf err = STRBUF_INIT;
	struct run_ui ui = { on_event, on_ask, NULL, s };
	s->answers = answers;
	s->nanswers = nanswers;
	s->next = 0;
	strbuf_init(&s->log, 0);
	o->log_path = f->log;
	struct runbook *rb = runbook_load(f->path, &err, NULL);
	assert_non_null(rb);
	struct exec_run *x = exec_new(rb, o, &ui, &err);
	assert_non_null(x);
	int code = exec_execute(x);
	exec_free(x);
	strbuf_release(&err);
	return code;
}

/* records returns the journal's records of a type, in order (decref). */
static json_t *records(const char *log, const char *type)
{
	json_t *all = json_array();
	FILE *fp = fopen(log, "r");
	char *line = NULL;
	size_t cap = 0;
	assert_non_null(fp);
	while (getline(&line, &cap, fp) > 0) {
		json_t *o = json_loads(line, JSON_ALLOW_NUL, NULL);
		assert_non_null(o);
		if (!strcmp(json_string_value(json_object_get(o, "type")), type))
			json_array_append(all, o);
		json_decref(o);
	}
	free(line);
	fclose(fp);
	return all;
}

static const char *rec_str(json_t *all, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(all, i), key));
}

/* ---------- tests ---------- */

static const char fix_runbook[] =
	"# Fix and retry\n\n"
	"## Step 1: Needs a marker\n\n"
	"```bash\n"
	"test -f marker || { echo 'ERROR: marker file missing' >&2; exit 1; }\n"
	"echo marker-found\n"
	"```\n\n"
	"### If This Fails\n\n"
	"| Error | Cause | Solution |\n"
	"|-------|-------|----------|\n"
	"| `marker file missing` | Nobody made it | Create it: `touch marker` |\n";

/* a block fails, the failure table's row is found, the fix runs, the block
 * is retried and passes */
static void failure_fixed_and_retried(void **state)
{
	struct fixture *f = *state;
	struct exec_opts o;
	struct script s = { 0 };
	static const char *const answers[] = { "\n", "f" };

	write_file(f->path, fix_runbook);
	exec_opts_init(&o);
	o.interactive = true;
	int code = run(f, &o, &s, answers, 2);
	assert_int_equal(code, EXIT_OK);
	assert_int_equal(s.asked[ASK_ON_FAILURE], 1);
	assert_int_equal(s.fix_suggested, 1);
	assert_non_null(strstr(s.log.buf, "suggestions 1 fix=touch marker\n"));
	assert_non_null(strstr(s.log.buf, "block.end passed fix\n"));
	assert_non_null(strstr(s.log.buf, "block.start attempt=2\n"));
	assert_non_null(strstr(s.log.buf, "output marker-found\n"));
	assert_non_null(strstr(s.log.buf, "step.end Needs a marker passed\n"));
	assert_non_null(strstr(s.log.buf, "run.end exit=0\n"));

	json_t *dec = records(f->log, "decision");
	assert_int_equal(json_array_size(dec), 1);
	assert_string_equal(rec_str(dec, 0, "choice"), "fix");
	assert_string_equal(rec_str(dec, 0, "reason"), "touch marker");
	assert_string_equal(rec_str(dec, 0, "by"), "operator");
	json_decref(dec);
	json_t *starts = records(f->log, "block.start");
	assert_int_equal(json_array_size(starts), 2);
	json_decref(starts);
	json_t *sugg = records(f->log, "suggestions");
	assert_int_equal(json_array_size(sugg), 1);
	json_decref(sugg);
	json_t *end = records(f->log, "run.end");
	assert_string_equal(rec_str(end, 0, "result"), "completed");
	json_decref(end);
	strbuf_release(&s.log);
	exec_opts_release(&o);
}

/* unattended, the same failure is not fixed without --auto-fix: the run
 * fails and nothing was decided by a person */
static void unattended_failure_stops(void **state)
{
	struct fixture *f = *state;
	struct exec_opts o;
	struct script s = { 0 };

	write_file(f->path, fix_runbook);
	exec_opts_init(&o);
	o.yes = true;
	int code = run(f, &o, &s, NULL, 0);
	if (code != EXIT_FAIL)
		fprintf(stderr, "%s", s.log.buf);
	assert_int_equal(code, EXIT_FAIL);
	for (size_t k = 0; k < 8; k++)
		assert_int_equal(s.asked[k], 0);
	assert_null(strstr(s.log.buf, "block.end passed fix"));
	json_t *end = records(f->log, "run.end");
	assert_string_equal(rec_str(end, 0, "result"), "failed");
	json_decref(end);
	strbuf_release(&s.log);
	exec_opts_release(&o);
}

static const char deviate_runbook[] =
	"# A deviation\n\n"
	"## Step 1: Prints something else\n\n"
	"```bash\n"
	"echo 'rows: many'\n"
	"```\n\n"
	"### Expected Output\n\n"
	"```\n"
	"rows: few\n"
	"```\n\n"
	"## Step 2: After it\n\n"
	"```bash\n"
	"echo after\n"
	"```\n";

/* a deviation accepted with a reason: the step counts as accepted, the
 * reason is in the journal, the run goes on */
static void deviation_accepted_with_reason(void **state)
{
	struct fixture *f = *state;
	struct exec_opts o;
	struct script s = { 0 };
	static const char *const answers[] = { "\n", "a", "the count differs on staging", "\n" };

	write_file(f->path, deviate_runbook);
	exec_opts_init(&o);
	o.interactive = true;
	int code = run(f, &o, &s, answers, 4);
	assert_int_equal(code, EXIT_OK);
	assert_int_equal(s.asked[ASK_BEFORE_BLOCK], 2);
	assert_int_equal(s.asked[ASK_REASON], 1);
	assert_non_null(strstr(s.log.buf, "diff\n"));
	assert_non_null(strstr(s.log.buf, "step.end Prints something else accepted\n"));
	assert_non_null(strstr(s.log.buf, "output after\n"));
	json_t *dec = records(f->log, "decision");
	assert_int_equal(json_array_size(dec), 1);
	assert_string_equal(rec_str(dec, 0, "choice"), "accept");
	assert_string_equal(rec_str(dec, 0, "reason"), "the count differs on staging");
	json_decref(dec);
	json_t *ends = records(f->log, "step.end");
	assert_string_equal(rec_str(ends, 0, "verdict"), "accepted");
	assert_string_equal(rec_str(ends, 0, "note"), "the count differs on staging");
	json_decref(ends);
	strbuf_release(&s.log);
	exec_opts_release(&o);
}

static const char resume_runbook[] =
	"# Resumable\n\n"
	"## Step 1: First\n\n"
	"```bash\n"
	"echo first >> steps.log\n"
	"```\n\n"
	"## Step 2: Second\n\n"
	"```bash\n"
	"echo second >> steps.log\n"
	"```\n\n"
	"## Step 3: Third\n\n"
	"```bash\n"
	"echo third\n"
	"```\n";

/* interrupted at the prompt before step 2 (the terminal went away): the
 * journal has no run.end; the resumed run does not run step 1 again */
static void resume_after_interruption(void **state)
{
	struct fixture *f = *state;
	struct exec_opts o;
	struct script s = { 0 };
	static const char *const first[] = { "\n" }; /* then EOF at step 2 */

	write_file(f->path, resume_runbook);
	exec_opts_init(&o);
	o.interactive = true;
	int code = run(f, &o, &s, first, 1);
	assert_int_equal(code, EXIT_INTERRUPTED);
	json_t *end = records(f->log, "run.end");
	assert_int_equal(json_array_size(end), 0);
	json_decref(end);
	strbuf_release(&s.log);

	struct script again = { 0 };
	static const char *const second[] = { "\n", "\n" };
	o.resume = true;
	o.resume_log = f->log;
	code = run(f, &o, &again, second, 2);
	if (code != EXIT_OK)
		fprintf(stderr, "%s", again.log.buf);
	assert_int_equal(code, EXIT_OK);
	assert_non_null(strstr(again.log.buf, "resume.step\n"));
	/* step 2 ended as interrupted before its command ran: it runs again,
	 * without the in-flight question */
	assert_int_equal(again.asked[ASK_IN_FLIGHT], 0);
	assert_int_equal(again.asked[ASK_BEFORE_BLOCK], 2);
	assert_null(strstr(again.log.buf, "step.end First"));
	/* the shell's work: step 1 once, in the first session */
	FILE *fp = fopen("steps.log", "r");
	char buf[64] = "";
	assert_non_null(fp);
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, fp), strlen("first\nsecond\n"));
	fclose(fp);
	assert_string_equal(buf, "first\nsecond\n");
	assert_non_null(strstr(again.log.buf, "step.end Second passed\n"));
	assert_non_null(strstr(again.log.buf, "output third\n"));
	json_t *resumed = records(f->log, "run.resume");
	assert_int_equal(json_array_size(resumed), 1);
	json_decref(resumed);
	json_t *ends = records(f->log, "run.end");
	assert_string_equal(rec_str(ends, 0, "result"), "completed");
	json_decref(ends);
	strbuf_release(&again.log);
	exec_opts_release(&o);
}

static const char rollback_runbook[] =
	"# Rolls back\n\n"
	"## Step 1: Make a file\n\n"
	"```bash\n"
	"echo made > made.txt\n"
	"```\n\n"
	"## Step 2: Fails\n\n"
	"```bash\n"
	"echo 'ERROR: boom' >&2; exit 3\n"
	"```\n\n"
	"## Rollback Procedure\n\n"
	"```bash\n"
	"# remove the file\n"
	"rm made.txt && echo removed\n"
	"```\n";

/* the operator rolls back after a failure: the Rollback Procedure runs,
 * its result is an event and a journal record */
static void rollback_after_failure(void **state)
{
	struct fixture *f = *state;
	struct exec_opts o;
	struct script s = { 0 };
	static const char *const answers[] = { "\n", "\n", "b", "\n" };

	write_file(f->path, rollback_runbook);
	exec_opts_init(&o);
	o.interactive = true;
	int code = run(f, &o, &s, answers, 4);
	assert_int_equal(code, EXIT_FAIL);
	assert_non_null(strstr(s.log.buf, "rollback.start\n"));
	assert_non_null(strstr(s.log.buf, "output removed\n"));
	assert_non_null(strstr(s.log.buf, "rollback.end ok\n"));
	json_t *dec = records(f->log, "decision");
	assert_string_equal(rec_str(dec, 0, "choice"), "roll back");
	json_decref(dec);
	json_t *end = records(f->log, "run.end");
	assert_string_equal(rec_str(end, 0, "rollback"), "done");
	json_decref(end);
	strbuf_release(&s.log);
	exec_opts_release(&o);
}

/* the dry run only reports the plan: nothing runs, no journal */
static void dry_run_reports_the_plan(void **state)
{
	struct fixture *f = *state;
	struct exec_opts o;
	struct script s = { 0 };

	write_file(f->path, rollback_runbook);
	exec_opts_init(&o);
	o.dry_run = true;
	int code = run(f, &o, &s, NULL, 0);
	assert_int_equal(code, EXIT_OK);
	assert_null(strstr(s.log.buf, "block.start"));
	assert_non_null(strstr(s.log.buf, "plan\nplan\nplan\nplan\nrun.end exit=0\n"));
	assert_int_equal(access(f->log, F_OK), -1);
	strbuf_release(&s.log);
	exec_opts_release(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(failure_fixed_and_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(unattended_failure_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(deviation_accepted_with_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(resume_after_interruption, setup, teardown),
		cmocka_unit_test_setup_teardown(rollback_after_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(dry_run_reports_the_plan, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
