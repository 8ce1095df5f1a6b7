/* run.c - `runbook run` and `runbook rollback`: options, the runbook's
 * checks, and the run through the execution layer. */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/run.h"
#include "lint/lint.h"
#include "model/mdparse.h"
#include "sys/term.h"

/* ---------- options: one table ---------- */

enum run_opt {
	OPT_YES = 'y',
	OPT_DRY_RUN = 'n',
	OPT_HELP = 'h',
	OPT_KEEP_GOING = 256,
	OPT_FROM,
	OPT_ONLY,
	OPT_TIMEOUT,
	OPT_VAR,
	OPT_NO_COLOR,
	OPT_QUIET_OUTPUT,
	OPT_KILL_GRACE,
	OPT_ACCEPT_DEVIATIONS,
	OPT_VERBOSE,
	OPT_DB,
	OPT_SANDBOX,
	OPT_KEEP,
	OPT_MAX_BLOCKING,
	OPT_LOCK_TIMEOUT,
	OPT_NO_PREFLIGHT,
	OPT_AUTO_FIX,
	OPT_ON_FAIL,
	OPT_LOG,
	OPT_SIGN,
	OPT_RESUME,
	OPT_ALLOW_CHANGED,
	OPT_IN_FLIGHT,
	OPT_EVENTS,
};

struct opt_spec {
	const char *name;
	int has_arg;
	enum run_opt id;
	const char *arg;  /* how the value is written in the usage */
	const char *help; /* one or more lines of usage */
	bool run_only;    /* rollback does not take it */
};

static const struct opt_spec run_opts[] = {
	{ "yes", no_argument, OPT_YES, NULL, "run every block without asking; stop at the first failure", false },
	{ "keep-going", no_argument, OPT_KEEP_GOING, NULL, "with --yes, go on after a failed step (the run still fails)", true },
	{ "dry-run", no_argument, OPT_DRY_RUN, NULL, "print exactly what would run, in order, and stop", false },
	{ "from", required_argument, OPT_FROM, "N", "start at step N (setup still runs)", true },
	{ "only", required_argument, OPT_ONLY, "N", "run only step N (and the setup)", true },
	{ "timeout", required_argument, OPT_TIMEOUT, "SECONDS", "default timeout per block (default 3600)", false },
	{ "var", required_argument, OPT_VAR, "NAME=VALUE", "set a variable before the first block (repeatable)", false },
	{ "no-color", no_argument, OPT_NO_COLOR, NULL, "no colours (also NO_COLOR=1)", false },
	{ "quiet-output", no_argument, OPT_QUIET_OUTPUT, NULL, "do not echo command output (it is still captured)", false },
	{ "kill-grace", required_argument, OPT_KILL_GRACE, "SECONDS", "after a timeout, SIGTERM, then SIGKILL this much later", false },
	{ "events", required_argument, OPT_EVENTS, "json", "one JSON object per event on stdout (docs/events.md)", false },
	{ "accept-deviations", no_argument, OPT_ACCEPT_DEVIATIONS, NULL, "with --yes, a deviation does not fail the run", false },
	{ "verbose", no_argument, OPT_VERBOSE, NULL, "more detail on matching", false },
	{ "db", required_argument, OPT_DB, "CONNINFO", "the database (default: $DATABASE_URL, then libpq's PG* variables)", false },
	{ "sandbox", optional_argument, OPT_SANDBOX, "[=SEED]", "run on a throwaway PostgreSQL, loaded with SEED.sql", false },
	{ "keep", no_argument, OPT_KEEP, NULL, "leave the sandbox running and say how to connect", false },
	{ "lock-timeout", required_argument, OPT_LOCK_TIMEOUT, "S", "lock_timeout for SQL blocks (default 3s; 500ms works too)", false },
	{ "max-blocking", required_argument, OPT_MAX_BLOCKING, "S",
	  "pause (or, unattended, stop) a block that blocks other\nsessions longer than this (default 60)", false },
	{ "no-preflight", no_argument, OPT_NO_PREFLIGHT, NULL, "do not check prerequisites against the database", false },
	{ "auto-fix", no_argument, OPT_AUTO_FIX, NULL,
	  "unattended: run a matching documented fix and retry, or\ncontinue where the runbook says it is safe to proceed", false },
	{ "on-fail", required_argument, OPT_ON_FAIL, "=rollback", "unattended: roll back what was done when a step fails", false },
	{ "log", required_argument, OPT_LOG, "FILE", "the journal (default .runbook/logs/<runbook>-<UTC time>.jsonl)", false },
	{ "sign", required_argument, OPT_SIGN, "KEY", "sign the journal with an OpenSSH ed25519 key (or RUNBOOK_SIGNING_KEY)", false },
	{ "resume", optional_argument, OPT_RESUME, "[=LOG]", "continue the newest unfinished run of this runbook (or LOG)", false },
	{ "allow-changed", no_argument, OPT_ALLOW_CHANGED, NULL, "resume even though the runbook changed since (recorded)", false },
	{ "in-flight", required_argument, OPT_IN_FLIGHT, "=verify|rerun|done:REASON",
	  "unattended resume: what to do with the step a crash interrupted", false },
	{ "help", no_argument, OPT_HELP, NULL, "this help", false },
};

#define NOPTS (sizeof(run_opts) / sizeof(run_opts[0]))

static void usage(enum run_mode mode)
{
	if (mode == MODE_ROLLBACK)
		printf("usage: runbook rollback FILE [options]\n"
		       "  runs the runbook's setup, then its Rollback Procedure command by command,\n"
		       "  asking before each one (--yes runs them all).  Options as for run.\n");
	else
		printf("usage: runbook run FILE [options]\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_spec *o = &run_opts[i];
		char left[64];
		const char *arg = o->arg ? o->arg : "";
		if (o->id < 256)
			snprintf(left, sizeof(left), "-%c, --%s", (char)o->id, o->name);
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, *arg && *arg != '=' && *arg != '[' ? " " : "", arg);
		const char *h = o->help;
		size_t first = strcspn(h, "\n");
		printf("  %-26s%.*s\n", left, (int)first, h);
		while (h[first] == '\n') {
			h += first + 1;
			first = strcspn(h, "\n");
			printf("  %-26s%.*s\n", "", (int)first, h);
		}
	}
}

/* seconds parses a positive number of seconds ("2", "1.5", "500ms" where
 * allow_ms); -1 when it is not one. */
static int64_t seconds(const char *arg, bool allow_ms, bool allow_zero)
{
	char *end;
	double s = strtod(arg, &end);
	if (end == arg || s < 0 || (!allow_zero && s == 0))
		return -1;
	if (allow_ms && !strcmp(end, "ms"))
		return (int64_t)s;
	if (*end && !(allow_ms && !strcmp(end, "s")))
		return -1;
	return (int64_t)(s * 1000);
}

static int step_number(const char *arg)
{
	char *end;
	long n = strtol(arg, &end, 10);
	return *end || end == arg || n < 1 || n > INT_MAX ? -1 : (int)n;
}

struct run_cli {
	struct exec_opts x;
	bool no_color;
	enum run_output output;
};

/* take_option applies one option; returns 0, or EXIT_USAGE after saying
 * what is wrong with its value. */
static int take_option(struct run_cli *c, const char *cmd, enum run_opt id, const char *arg)
{
	struct exec_opts *o = &c->x;
	int64_t ms;
	int n;

	switch (id) {
	case OPT_YES: o->yes = true; return 0;
	case OPT_DRY_RUN: o->dry_run = true; return 0;
	case OPT_KEEP_GOING: o->keep_going = true; return 0;
	case OPT_NO_COLOR: c->no_color = true; return 0;
	case OPT_QUIET_OUTPUT: o->quiet_output = true; return 0;
	case OPT_ACCEPT_DEVIATIONS: o->accept_deviations = true; return 0;
	case OPT_VERBOSE: o->verbose = true; return 0;
	case OPT_KEEP: o->keep = true; return 0;
	case OPT_NO_PREFLIGHT: o->no_preflight = true; return 0;
	case OPT_AUTO_FIX: o->auto_fix = true; return 0;
	case OPT_ALLOW_CHANGED: o->allow_changed = true; return 0;
	case OPT_DB: o->db = arg; return 0;
	case OPT_LOG: o->log_path = arg; return 0;
	case OPT_SIGN: o->sign_key = arg; return 0;
	case OPT_SANDBOX: o->sandbox = true; o->seed = arg; return 0;
	case OPT_RESUME: o->resume = true; o->resume_log = arg; return 0;
	case OPT_FROM:
	case OPT_ONLY:
		n = step_number(arg);
		if (n < 0)
			return cli_usage_error(cmd, "--%s: '%s' is not a step number", id == OPT_FROM ? "from" : "only", arg);
		*(id == OPT_FROM ? &o->from : &o->only) = n;
		return 0;
	case OPT_TIMEOUT:
	case OPT_KILL_GRACE:
		ms = seconds(arg, false, false);
		if (ms < 0)
			return cli_usage_error(cmd, "--%s: '%s' is not a positive number of seconds",
					       id == OPT_TIMEOUT ? "timeout" : "kill-grace", arg);
		*(id == OPT_TIMEOUT ? &o->timeout_ms : &o->kill_grace_ms) = ms;
		return 0;
	case OPT_MAX_BLOCKING:
		ms = seconds(arg, false, false);
		if (ms < 0)
			return cli_usage_error(cmd, "--max-blocking: '%s' is not a positive number of seconds", arg);
		o->max_blocking_ms = ms;
		o->max_blocking_given = true;
		return 0;
	case OPT_LOCK_TIMEOUT:
		ms = seconds(arg, true, true);
		if (ms < 0 || ms > INT_MAX)
			return cli_usage_error(cmd, "--lock-timeout: '%s' is not a duration (seconds, or 500ms)", arg);
		o->lock_timeout_ms = (int)ms;
		return 0;
	case OPT_VAR:
		if (exec_opts_add_var(o, arg) < 0)
			return cli_usage_error(cmd, "--var needs NAME=VALUE with a shell variable name, got '%s'", arg);
		return 0;
	case OPT_ON_FAIL:
		if (!strcmp(arg, "rollback"))
			o->on_fail_rollback = true;
		else if (strcmp(arg, "stop"))
			return cli_usage_error(cmd, "--on-fail: '%s' is not stop or rollback", arg);
		return 0;
	case OPT_IN_FLIGHT:
		if (strcmp(arg, "verify") && strcmp(arg, "rerun") && strncmp(arg, "done:", 5))
			return cli_usage_error(cmd, "--in-flight: '%s' is not verify, rerun or done:REASON", arg);
		o->in_flight = arg;
		return 0;
	case OPT_EVENTS:
		if (strcmp(arg, "json"))
			return cli_usage_error(cmd, "--events: '%s' is not a format (json)", arg);
		c->output = OUTPUT_JSON;
		return 0;
	case OPT_HELP:
		return 0;
	}
	return cli_usage_error(cmd, "unknown option");
}

/* ---------- running ---------- */

/* load checks the runbook and the step selection; NULL with the exit code
 * in *code and the problem printed. */
static struct runbook *load(const struct exec_opts *o, const char *path, int *code)
{
	struct strbuf err = STRBUF_INIT;
	const char *cmd = o->mode == MODE_ROLLBACK ? "rollback" : "run";
	struct runbook *rb = runbook_load(path, &err, NULL);
	if (!rb) {
		fprintf(stderr, "runbook: %s\n", err.buf);
		strbuf_release(&err);
		*code = EXIT_INVALID;
		return NULL;
	}
	strbuf_release(&err);
	lint_runbook(rb);
	if (diag_count(&rb->diags, DIAG_ERROR)) {
		diag_print(&rb->diags, stderr);
		fprintf(stderr, "runbook: %s has errors; fix them before running it (runbook check %s)\n", rb->path,
			rb->path);
		runbook_free(rb);
		*code = EXIT_INVALID;
		return NULL;
	}
	if (o->only || o->from) {
		bool found = false;
		int last = 0;
		for (size_t i = 0; i < rb->nsteps; i++) {
			found |= o->only ? rb->steps[i].number == o->only : rb->steps[i].number >= o->from;
			last = rb->steps[i].number > last ? rb->steps[i].number : last;
		}
		if (!found) {
			runbook_free(rb);
			*code = o->from ? cli_usage_error(cmd, "--from %d: there is no step %d or later (the last is step %d)",
							  o->from, o->from, last)
					: cli_usage_error(cmd, "there is no step %d", o->only);
			return NULL;
		}
	}
	if (o->mode == MODE_ROLLBACK && !rb->rollback.ncommands) {
		fprintf(stderr, "runbook: %s has no Rollback Procedure with commands\n", rb->path);
		runbook_free(rb);
		*code = EXIT_INVALID;
		return NULL;
	}
	return rb;
}

int cli_run_file(struct exec_opts *o, enum run_output output, bool no_color, const char *path,
		 struct run_var **captures, size_t *ncaptures)
{
	struct strbuf err = STRBUF_INIT;
	struct run_ui ui = { 0 };
	struct term_ui *term = NULL;
	struct json_ui *json = NULL;
	int code;

	term_init(no_color || output == OUTPUT_JSON);
	o->interactive = !o->yes && !o->dry_run;
	o->tty = term_can_prompt();
	/* the JSON stream takes its answers from stdin, a pipe as well */
	if (o->interactive && !o->tty && output != OUTPUT_JSON) {
		fprintf(stderr, "runbook %s: stdin is not a terminal, so nobody can answer the prompts.\n"
				"Use --yes to run unattended, or --dry-run to see what would run.\n",
			o->mode == MODE_ROLLBACK ? "rollback" : "run");
		return EXIT_USAGE;
	}
	struct runbook *rb = load(o, path, &code);
	if (!rb)
		return code;
	if (output == OUTPUT_JSON)
		json = json_ui_new(&ui);
	else
		term = term_ui_new(o, &ui);
	struct exec_run *x = exec_new(rb, o, &ui, &err);
	if (!x) {
		fprintf(stderr, "runbook: %s\n", err.buf);
		code = EXIT_INVALID;
	} else {
		code = exec_execute(x);
		if (captures)
			exec_take_captures(x, captures, ncaptures);
		exec_free(x);
	}
	term_ui_free(term);
	json_ui_free(json);
	strbuf_release(&err);
	return code;
}

/* run_command parses the options shared by run and rollback. */
static int run_command(int argc, char **argv, enum run_mode mode)
{
	struct option longopts[NOPTS + 1];
	const char *cmd = mode == MODE_ROLLBACK ? "rollback" : "run";
	struct run_cli c;
	int id, code = EXIT_OK;
	bool help = false;

	memset(&c, 0, sizeof(c));
	exec_opts_init(&c.x);
	c.x.mode = mode;
	for (size_t i = 0; i < NOPTS; i++)
		longopts[i] = (struct option){ run_opts[i].name, run_opts[i].has_arg, NULL, run_opts[i].id };
	longopts[NOPTS] = (struct option){ NULL, 0, NULL, 0 };
	optind = 1;
	while (code == EXIT_OK && (id = getopt_long(argc, argv, "ynh", longopts, NULL)) != -1) {
		if (id == '?') {
			code = cli_usage_error(cmd, "unknown option or missing value");
			break;
		}
		for (size_t i = 0; i < NOPTS; i++)
			if ((int)run_opts[i].id == id && run_opts[i].run_only && mode == MODE_ROLLBACK)
				code = cli_usage_error(cmd, "--%s only applies to run", run_opts[i].name);
		if (code == EXIT_OK)
			code = take_option(&c, cmd, (enum run_opt)id, optarg);
		help |= id == OPT_HELP;
	}
	if (code == EXIT_OK && help)
		usage(mode);
	else if (code == EXIT_OK && optind != argc - 1)
		code = cli_usage_error(cmd, "expected exactly one FILE");
	else if (code == EXIT_OK && c.x.from && c.x.only)
		code = cli_usage_error(cmd, "--from and --only cannot be combined");
	else if (code == EXIT_OK)
		code = cli_run_file(&c.x, c.output, c.no_color, argv[optind], NULL, NULL);
	exec_opts_release(&c.x);
	return code;
}

int cli_run(int argc, char **argv)
{
	return run_command(argc, argv, MODE_RUN);
}

int cli_rollback(int argc, char **argv)
{
	return run_command(argc, argv, MODE_ROLLBACK);
}
