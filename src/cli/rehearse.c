/* cli_rehearse.c - `runbook rehearse`: forward, rollback and forward again
 * on a throwaway PostgreSQL, with the schema compared after the rollback. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "model/mdparse.h"
#include "lint/lint.h"
#include "sys/proc.h"
#include "sys/sandbox.h"
#include "sys/term.h"
#include "base/xalloc.h"

struct phase {
	const char *name;
	int code;
	int64_t ms;
	bool ran;
};

static int run_phase(struct phase *ph, const char *path, const char *conninfo, enum run_mode mode,
		     const struct run_var *vars, size_t nvars, bool no_color, bool verbose,
		     struct run_var **captures, size_t *ncaptures)
{
	struct exec_opts o;
	int64_t t0 = proc_now_ms();

	exec_opts_init(&o);
	o.mode = mode;
	o.yes = true;
	o.verbose = verbose;
	o.db = conninfo;
	for (size_t i = 0; i < nvars; i++) {
		ALLOC_GROW(o.vars, o.nvars + 1, o.vars_alloc);
		o.vars[o.nvars].name = xstrdup(vars[i].name);
		o.vars[o.nvars].value = xstrdup(vars[i].value);
		o.nvars++;
	}
	printf("\n%s━━ %s ━━%s\n", term_c(TC_BOLD), ph->name, term_c(TC_RESET));
	fflush(stdout);
	ph->code = cli_run_file(&o, OUTPUT_TERMINAL, no_color, path, captures, ncaptures);
	exec_opts_release(&o);
	ph->ms = proc_now_ms() - t0;
	ph->ran = true;
	return ph->code;
}

static void free_vars(struct run_var *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

static void schema_diff(const char *a, const char *b, struct strbuf *out)
{
	/* the first differing lines, enough to see what the rollback left */
	const char *p = a, *q = b;
	int shown = 0, line = 1;
	while ((*p || *q) && shown < 12) {
		const char *pe = strchr(p, '\n'), *qe = strchr(q, '\n');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p), ql = qe ? (size_t)(qe - q) : strlen(q);
		if (pl != ql || memcmp(p, q, pl)) {
			if (*p)
				strbuf_addf(out, "    line %d before:   %.*s\n", line, (int)pl, p);
			if (*q)
				strbuf_addf(out, "    line %d after:    %.*s\n", line, (int)ql, q);
			shown++;
		}
		p += pl + (pe ? 1 : 0);
		q += ql + (qe ? 1 : 0);
		line++;
	}
}

static void verdict_line(const char *name, const struct phase *ph, const char *detail)
{
	char d[32];
	const char *v = !ph->ran ? "not run" : ph->code == EXIT_OK ? "passed" : "FAILED";
	enum term_colour c = !ph->ran ? TC_DIM : ph->code == EXIT_OK ? TC_GREEN : TC_RED;
	format_duration(ph->ms, d, sizeof(d));
	printf("  %-16s %s%-8s%s %-36s %s\n", name, term_c(c), v, term_c(TC_RESET), detail,
	       ph->ran ? d : "");
}

int cli_rehearse(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "keep", no_argument, NULL, 'k' },
		{ "no-color", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *seed_opt = NULL;
	bool keep = false, no_color = false, verbose = false;
	char path[PATH_MAX], seed_path[PATH_MAX], cwd[PATH_MAX];
	char *seed = NULL;
	struct sandbox sb = SANDBOX_INIT;
	struct sandbox_opts so = { 0 };
	struct strbuf err = STRBUF_INIT, before = STRBUF_INIT, after = STRBUF_INIT, diff = STRBUF_INIT;
	struct phase fwd = { "forward", 0, 0, false }, back = { "rollback", 0, 0, false },
		     again = { "forward again", 0, 0, false };
	struct run_var *caps = NULL;
	size_t ncaps = 0;
	char work[PATH_MAX];
	bool schema_same = false, have_schema = false, have_work = false;
	int code = EXIT_FAIL, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': seed_opt = optarg; break;
		case 'k': keep = true; break;
		case 'C': no_color = true; break;
		case 'v': verbose = true; break;
		case 'h':
			printf("usage: runbook rehearse FILE [--seed SQL] [--keep] [--no-color] [--verbose]\n"
			       "  on a throwaway PostgreSQL (seeded with SQL, or the runbook's **Seed data:**):\n"
			       "  run forward with the final verification, run the Rollback Procedure, compare\n"
			       "  the schema with the one before, and run forward again (idempotency).\n");
			return EXIT_OK;
		default:
			return cli_usage_error("rehearse", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("rehearse", "expected exactly one FILE");
	term_init(no_color);
	if (!realpath(argv[optind], path)) {
		fprintf(stderr, "runbook: %s: %s\n", argv[optind], errno == ENOENT ? "no such file" : strerror(errno));
		return EXIT_INVALID;
	}
	{
		enum load_error why;
		struct runbook *rb = runbook_load(path, &err, &why);
		if (!rb) {
			fprintf(stderr, "runbook: %s\n", err.buf);
			strbuf_release(&err);
			return EXIT_INVALID;
		}
		lint_runbook(rb);
		if (diag_count(&rb->diags, DIAG_ERROR)) {
			diag_print(&rb->diags, stderr);
			fprintf(stderr, "runbook: %s has errors; fix them before rehearsing it\n", argv[optind]);
			runbook_free(rb);
			return EXIT_INVALID;
		}
		if (!rb->rollback.ncommands) {
			fprintf(stderr, "runbook: %s has no Rollback Procedure to rehearse\n", argv[optind]);
			runbook_free(rb);
			return EXIT_INVALID;
		}
		/* the seed: --seed, else the runbook's "Seed data" metadata */
		const char *want = seed_opt;
		for (size_t i = 0; i < rb->nmeta && !want; i++)
			if (!strcasecmp(rb->meta[i].key, "seed data") || !strcasecmp(rb->meta[i].key, "seed"))
				want = rb->meta[i].value;
		if (want) {
			char *w = xstrdup(want);
			size_t l = strlen(w);
			if (l >= 2 && w[0] == '`' && w[l - 1] == '`') {
				memmove(w, w + 1, l - 2);
				w[l - 2] = '\0';
			}
			bool ok = realpath(w, seed_path) != NULL;
			if (!ok && !seed_opt) {
				/* relative to the runbook's directory, or its parent */
				char *dir = xstrdup(path);
				*strrchr(dir, '/') = '\0';
				char *cand = xasprintf("%s/%s", dir, w);
				ok = realpath(cand, seed_path) != NULL;
				free(cand);
				if (!ok) {
					cand = xasprintf("%s/../%s", dir, w);
					ok = realpath(cand, seed_path) != NULL;
					free(cand);
				}
				free(dir);
			}
			if (!ok) {
				fprintf(stderr, "runbook: seed %s: no such file\n", w);
				free(w);
				runbook_free(rb);
				return EXIT_INVALID;
			}
			free(w);
			seed = xstrdup(seed_path);
		}
		runbook_free(rb);
	}

	proc_signals_install();
	printf("%sRehearsal of %s%s\n", term_c(TC_BOLD), argv[optind], term_c(TC_RESET));
	so.keep = keep;
	if (sandbox_start(&sb, &so, &err) < 0) {
		fprintf(stderr, "runbook: %s\n", err.buf);
		code = EXIT_ENV;
		goto out;
	}
	for (const char *const *u = sandbox_unset_vars(); *u; u++)
		unsetenv(*u);
	for (const char *const *e = sandbox_env(&sb); *e; e++) {
		char *name = xstrndup(*e, strcspn(*e, "="));
		setenv(name, strchr(*e, '=') + 1, 1);
		free(name);
	}
	if (seed && sandbox_load_sql(&sb, seed, &err) < 0) {
		fprintf(stderr, "runbook: %s\n", err.buf);
		code = EXIT_ENV;
		goto out;
	}
	printf("%sthrowaway PostgreSQL in %s%s%s%s\n", term_c(TC_DIM), sb.dir, seed ? ", seeded from " : "",
	       seed ? seed : "", term_c(TC_RESET));
	if (sandbox_schema(&sb, &before, &err) < 0) {
		fprintf(stderr, "runbook: %s\n", err.buf);
		code = EXIT_ENV;
		goto out;
	}
	/* files the runbook writes (backups) go to a scratch directory */
	snprintf(work, sizeof(work), "%s/runbook-rehearse-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!getcwd(cwd, sizeof(cwd)) || !mkdtemp(work) || chdir(work) < 0) {
		fprintf(stderr, "runbook: cannot set up a scratch directory: %s\n", strerror(errno));
		code = EXIT_ENV;
		goto out;
	}
	have_work = true;

	if (run_phase(&fwd, path, sb.conninfo, MODE_RUN, NULL, 0, no_color, verbose, &caps, &ncaps) ==
	    EXIT_OK) {
		/* the rollback sees what the forward run captured, as a later
		 * session would */
		run_phase(&back, path, sb.conninfo, MODE_ROLLBACK, caps, ncaps, no_color, verbose, NULL, NULL);
		if (sandbox_schema(&sb, &after, &err) == 0) {
			have_schema = true;
			schema_same = !strcmp(before.buf, after.buf);
			if (!schema_same)
				schema_diff(before.buf, after.buf, &diff);
		} else {
			strbuf_addf(&diff, "    %s\n", err.buf);
		}
		if (back.code == EXIT_OK)
			run_phase(&again, path, sb.conninfo, MODE_RUN, NULL, 0, no_color, verbose, NULL, NULL);
	}

	printf("\n%sRehearsal verdict for %s%s\n", term_c(TC_BOLD), argv[optind], term_c(TC_RESET));
	verdict_line("forward", &fwd, "steps, final verification");
	verdict_line("rollback", &back, "Rollback Procedure");
	{
		struct phase sp = { "schema", schema_same ? EXIT_OK : EXIT_FAIL, 0, back.ran };
		verdict_line("schema restored", &sp, !back.ran ? "" : !have_schema ? "could not be compared"
						   : schema_same ? "identical to before (pg_dump --schema-only)"
						   : "DIFFERS from before");
		if (diff.len)
			fputs(diff.buf, stdout);
	}
	verdict_line("forward again", &again, "idempotent re-run");
	bool ok = fwd.code == EXIT_OK && back.code == EXIT_OK && schema_same && again.code == EXIT_OK;
	code = ok ? EXIT_OK
		   : (fwd.code == EXIT_INTERRUPTED || back.code == EXIT_INTERRUPTED ||
		      again.code == EXIT_INTERRUPTED) ? EXIT_INTERRUPTED
		   : (fwd.code == EXIT_ENV) ? EXIT_ENV : EXIT_FAIL;
	printf("%sVerdict: %s%s\n", term_c(ok ? TC_GREEN : TC_RED),
	       ok ? "REHEARSED: forward, rollback and forward again all pass on a throwaway database"
		  : "NOT READY: fix what failed above and rehearse again",
	       term_c(TC_RESET));
out:
	if (have_work) {
		if (chdir(cwd) < 0)
			fprintf(stderr, "runbook: cannot return to %s\n", cwd);
		struct proc p = PROC_INIT;
		const char *rm[] = { "rm", "-rf", "--", work, NULL };
		struct strbuf e2 = STRBUF_INIT;
		p.argv = rm;
		proc_run(&p, NULL, NULL, 10000, NULL, &e2);
		strbuf_release(&e2);
	}
	if (sb.running) {
		struct strbuf msg = STRBUF_INIT;
		if (sandbox_stop(&sb, &msg) == 1)
			printf("\n%s\n", msg.buf);
		strbuf_release(&msg);
	}
	sandbox_release(&sb);
	free_vars(caps, ncaps);
	free(seed);
	strbuf_release(&err);
	strbuf_release(&before);
	strbuf_release(&after);
	strbuf_release(&diff);
	return code;
}
