/* cli_steps.c - what `runbook run` does around each block: the database
 * (SQL blocks, preflight, run lock, monitor, final state), the sandbox,
 * judging output and failures. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "match/match.h"
#include "pg/pg.h"
#include "audit/runlog.h"
#include "sys/sandbox.h"
#include "sys/shell.h"
#include "sys/term.h"
#include "base/xalloc.h"

extern char **environ;

struct backend {
	/* options */
	const char *db_opt;        /* --db */
	bool sandbox;              /* --sandbox */
	const char *seed;          /* --sandbox=SEED.sql */
	bool keep;                 /* --keep */
	bool no_preflight;         /* --no-preflight */
	int lock_timeout_ms;       /* --lock-timeout */
	int retries;
	int64_t max_blocking_ms;   /* --max-blocking, or the runbook's rollback trigger */
	bool max_blocking_given;
	int64_t max_run_ms;        /* the runbook's "takes > N minutes" trigger; 0: none */
	int trigger_line;          /* where the triggers were read */

	/* the database */
	bool need_db;              /* the runbook talks to PostgreSQL */
	bool target_known;
	char *target;              /* conninfo; NULL for libpq's defaults */
	char *target_display;      /* without the password */
	struct pg_conn *conn;      /* SQL blocks and checks */
	struct pg_conn *monitor;
	struct pg_run_lock *lock;
	struct pg_server_info info;
	bool have_info;
	char *connect_error;
	bool deferred;             /* DB prerequisites wait for the setup */
	char app_name[256];
	char *runbook_key;

	struct sandbox sb;
	bool sb_started;
	char *db_env[2];           /* DATABASE_URL=--db for the shell */

	/* failure tables compiled once: one per step, then the general one */
	struct failure_matcher **matchers;
	bool *matcher_done;
	size_t nmatchers;

	/* monitor */
	int64_t next_sample_ms;
	bool sql_running;
	int sql_pid;
	char last_monitor[512];
	bool guard_tripped;
	char guard_reason[256];
};

static struct backend *be(struct run *r)
{
	if (!r->backend) {
		struct backend *b = xcalloc(1, sizeof(*b));
		b->lock_timeout_ms = PG_LOCK_TIMEOUT_DEFAULT_MS;
		b->retries = 5;
		b->max_blocking_ms = 60000;
		r->backend = b;
	}
	return r->backend;
}

void step_state_release(struct step_state *ss)
{
	free(ss->note);
	ss->note = NULL;
	strbuf_release(&ss->last_output);
}

/* ---------- options ---------- */

int run_backend_option(struct run *r, int c, const char *arg)
{
	struct backend *b = be(r);
	char *end;

	switch (c) {
	case 1001:
		r->opts.accept_deviations = true;
		return 0;
	case 1002:
		r->opts.verbose = true;
		return 0;
	case 1003:
		b->db_opt = arg;
		return 0;
	case 1004:
		b->sandbox = true;
		b->seed = arg;
		return 0;
	case 1005:
		b->keep = true;
		return 0;
	case 1006: {
		double s = strtod(arg, &end);
		if (*end || s <= 0)
			return -1;
		b->max_blocking_ms = (int64_t)(s * 1000);
		b->max_blocking_given = true;
		return 0;
	}
	case 1007: {
		double s = strtod(arg, &end);
		if ((*end && strcmp(end, "ms") && strcmp(end, "s")) || s < 0)
			return -1;
		b->lock_timeout_ms = !strcmp(end, "ms") ? (int)s : (int)(s * 1000);
		return 0;
	}
	case 1008:
		b->no_preflight = true;
		return 0;
	case 1009:
		r->opts.auto_fix = true;
		return 0;
	case 1011: case 1012: case 1013: case 1014: case 1015:
		return journal_option(r, c, arg);
	case 1010:
		if (!strcmp(arg, "rollback"))
			r->opts.on_fail_rollback = true;
		else if (strcmp(arg, "stop"))
			return -1;
		return 0;
	}
	return -1;
}

void run_backend_usage(void)
{
	printf("      --accept-deviations with --yes, a deviation does not fail the run\n"
	       "      --verbose           more detail on matching\n"
	       "      --db CONNINFO       the database (default: $DATABASE_URL, then libpq's PG* variables)\n"
	       "      --sandbox[=SEED]    run on a throwaway PostgreSQL, loaded with SEED.sql\n"
	       "      --keep              leave the sandbox running and say how to connect\n"
	       "      --lock-timeout S    lock_timeout for SQL blocks (default 3s; 500ms works too)\n"
	       "      --max-blocking S    pause (or, unattended, stop) a block that blocks other\n"
	       "                          sessions longer than this (default 60)\n"
	       "      --no-preflight      do not check prerequisites against the database\n"
	       "      --auto-fix          unattended: run a matching documented fix and retry, or\n"
	       "                          continue where the runbook says it is safe to proceed\n"
	       "      --on-fail=rollback  unattended: roll back what was done when a step fails\n");
	journal_usage();
}

/* ---------- the target ---------- */

static bool mentions(const char *text, const char *const *words)
{
	for (size_t i = 0; words[i]; i++)
		if (strcasestr(text, words[i]))
			return true;
	return false;
}

/* checked_after_setup: with the database known only after the setup, the
 * prerequisites about it wait for it (the others are confirmed up front). */
static bool checked_after_setup(const struct rb_item *it)
{
	static const char *const words[] = { "postgres", "admin", "superuser", "privilege", "transaction",
					     NULL };
	return mentions(it->text, words);
}

static int need_db_block(const struct rb_step *st, const struct rb_command *cmd, bool v, void *data)
{
	static const char *const words[] = { "psql", "pg_dump", "pg_restore", "DATABASE_URL",
					     "PGHOST", "pg_ctl", NULL };
	(void)st;
	(void)v;
	(void)data;
	if (cmd->block->kind == BLOCK_SQL)
		return 1;
	return mentions(cmd->block->text, words);
}

static bool runbook_needs_db(const struct runbook *rb)
{
	static const char *const words[] = { "postgres", "database", "transaction", NULL };
	if (rb_for_each_command(rb, need_db_block, NULL))
		return true;
	for (size_t i = 0; i < rb->nprereqs; i++)
		if (mentions(rb->prereqs[i].text, words))
			return true;
	return false;
}

static void set_target(struct backend *b, const char *conninfo)
{
	free(b->target);
	free(b->target_display);
	b->target = conninfo ? xstrdup(conninfo) : NULL;
	b->target_display = pg_display_conninfo(b->target);
	b->target_known = true;
}

static void disconnect(struct backend *b)
{
	pg_run_lock_release(b->lock);
	b->lock = NULL;
	pg_close(b->monitor);
	b->monitor = NULL;
	pg_close(b->conn);
	b->conn = NULL;
	if (b->have_info)
		pg_server_info_release(&b->info);
	b->have_info = false;
	free(b->connect_error);
	b->connect_error = NULL;
}

/* connect_target opens the connections and takes the run lock.  Returns 0,
 * -1 when the server cannot be reached (connect_error set), -2 when another
 * run holds the lock (already reported). */
static int connect_target(struct run *r)
{
	struct backend *b = be(r);
	struct strbuf err = STRBUF_INIT;
	struct pg_lock_holder holder;

	if (b->conn)
		return 0;
	/* the first connection, or a new one after the last broke (the server
	 * restarted, our backend was terminated): the monitor and the run lock
	 * are kept when their sessions survived, and opened again when not */
	bool again = b->have_info || b->lock || b->monitor;
	if (!again)
		snprintf(b->app_name, sizeof(b->app_name), "runbook/%s/preflight", b->runbook_key);
	free(b->connect_error);
	b->connect_error = NULL;
	b->conn = pg_connect(b->target, b->app_name, &err);
	if (!b->conn) {
		b->connect_error = strbuf_detach(&err, NULL);
		return -1;
	}
	if (!b->have_info) {
		if (pg_server_info(b->conn, &b->info, &err) == 0)
			b->have_info = true;
		else
			pg_server_info_release(&b->info);
	}
	strbuf_reset(&err);
	if (b->monitor && !pg_conn_alive(b->monitor)) {
		pg_close(b->monitor);
		b->monitor = NULL;
	}
	if (!b->monitor)
		b->monitor = pg_connect(b->target, "runbook/monitor", &err);
	strbuf_reset(&err);
	if (b->lock && pg_run_lock_held(b->lock)) {
		strbuf_release(&err);
		return 0;
	}
	if (b->lock) {
		run_out(r, "%srunbook: the run lock went with its connection; taking it again%s\n",
			term_c(TC_YELLOW), term_c(TC_RESET));
		pg_run_lock_release(b->lock);
		b->lock = NULL;
	}

	char lock_app[300];
	snprintf(lock_app, sizeof(lock_app), "runbook/%s/lock", b->runbook_key);
	memset(&holder, 0, sizeof(holder));
	enum pg_lock_result lr = pg_run_lock_try(b->target, b->runbook_key, lock_app, &b->lock,
						 &holder, &err);
	if (lr == PG_LOCK_BUSY) {
		run_out(r, "%srunbook: another run of %s holds the run lock on this database:%s\n"
			   "  pid %d, application_name %s, user %s, client %s, started %s%s%s\n"
			   "  wait for it to finish, or stop it, before running again\n",
			term_c(TC_RED), b->runbook_key, term_c(TC_RESET), holder.pid,
			holder.application_name ? holder.application_name : "?",
			holder.user ? holder.user : "?", holder.client ? holder.client : "?",
			holder.backend_start ? holder.backend_start : "?",
			holder.query_start && *holder.query_start ? ", last query at " : "",
			holder.query_start && *holder.query_start ? holder.query_start : "");
		pg_lock_holder_release(&holder);
		strbuf_release(&err);
		/* nothing runs on this database without the lock */
		pg_close(b->conn);
		b->conn = NULL;
		return -2;
	}
	if (lr == PG_LOCK_ERROR) {
		run_out(r, "%srunbook: cannot take the run lock: %s%s\n", term_c(TC_YELLOW), err.buf,
			term_c(TC_RESET));
	}
	strbuf_release(&err);
	return 0;
}

/* ---------- sandbox ---------- */

static void sandbox_log(void *data, const char *line)
{
	struct run *r = data;
	run_out(r, "  %ssandbox: %s%s\n", term_c(TC_DIM), line, term_c(TC_RESET));
}

static char *find_seed(const struct runbook *rb, const char *given)
{
	const char *want = given;
	struct stat st;

	if (!want || !*want) {
		for (size_t i = 0; i < rb->nmeta && !want; i++)
			if (!strcasecmp(rb->meta[i].key, "seed data") || !strcasecmp(rb->meta[i].key, "seed"))
				want = rb->meta[i].value;
		if (!want)
			return NULL;
	}
	char *clean = xstrdup(want);
	size_t len = strlen(clean);
	if (len >= 2 && clean[0] == '`' && clean[len - 1] == '`') {
		memmove(clean, clean + 1, len - 2);
		clean[len - 2] = '\0';
	}
	if (stat(clean, &st) == 0 || clean[0] == '/')
		return clean;
	/* relative to the runbook, then to the runbook's parent directory (a
	 * runbook named without a directory is in ".") */
	const char *slash = strrchr(rb->path, '/');
	char *dir = slash ? xmemdupz(rb->path, (size_t)(slash - rb->path)) : xstrdup(".");
	static const char *const where[] = { "%s/%s", "%s/../%s" };
	for (size_t i = 0; i < 2; i++) {
		char *cand = xasprintf(where[i], dir, clean);
		if (stat(cand, &st) == 0) {
			free(dir);
			free(clean);
			return cand;
		}
		free(cand);
	}
	free(dir);
	return clean;
}

static int start_sandbox(struct run *r)
{
	struct backend *b = be(r);
	struct strbuf err = STRBUF_INIT;
	struct sandbox_opts so = { 0 };
	char *seed = find_seed(r->rb, b->seed);
	int64_t t0 = proc_now_ms();

	so.keep = b->keep;
	so.log = r->opts.verbose ? sandbox_log : NULL;
	so.log_data = r;
	if (sandbox_start(&b->sb, &so, &err) < 0) {
		run_out(r, "%srunbook: %s%s\n", term_c(TC_RED), err.buf, term_c(TC_RESET));
		free(seed);
		strbuf_release(&err);
		return -1;
	}
	b->sb_started = true;
	/* our own libpq and every child see the sandbox and nothing else */
	for (const char *const *u = sandbox_unset_vars(); *u; u++)
		unsetenv(*u);
	for (const char *const *e = sandbox_env(&b->sb); *e; e++) {
		char *name = xstrndup(*e, strcspn(*e, "="));
		setenv(name, strchr(*e, '=') + 1, 1);
		free(name);
	}
	if (seed) {
		if (sandbox_load_sql(&b->sb, seed, &err) < 0) {
			run_out(r, "%srunbook: %s%s\n", term_c(TC_RED), err.buf, term_c(TC_RESET));
			free(seed);
			strbuf_release(&err);
			return -1;
		}
	}
	char d[32];
	format_duration(proc_now_ms() - t0, d, sizeof(d));
	run_out(r, "%ssandbox: PostgreSQL in %s%s%s (%s)%s\n", term_c(TC_DIM), b->sb.dir,
		seed ? ", loaded " : "", seed ? seed : "", d, term_c(TC_RESET));
	free(seed);
	set_target(b, b->sb.conninfo);
	strbuf_release(&err);
	return 0;
}

/* ---------- start and end ---------- */

static char *runbook_key(const char *path)
{
	const char *base = strrchr(path, '/');
	char *key = xstrdup(base ? base + 1 : path);
	size_t len = strlen(key);
	if (len > 3 && !strcmp(key + len - 3, ".md"))
		key[len - 3] = '\0';
	return key;
}

/* read_triggers takes thresholds from a "Rollback Triggers" section:
 * "Blocked queries > 1 minute" and "Migration takes > 20 minutes". */
static void read_triggers(struct run *r)
{
	struct backend *b = be(r);
	for (size_t i = 0; i < r->rb->nnotes; i++) {
		const struct rb_note *n = &r->rb->notes[i];
		if (!strcasestr(n->heading, "rollback trigger"))
			continue;
		const char *p = n->text;
		int line = n->line + 1;
		while (*p) {
			const char *eol = strchr(p, '\n');
			size_t len = eol ? (size_t)(eol - p) : strlen(p);
			char *l = xstrndup(p, len);
			char *gt = strchr(l, '>');
			if (gt) {
				char *end;
				double v = strtod(gt + 1, &end);
				while (*end == ' ')
					end++;
				double unit = !strncasecmp(end, "h", 1) ? 3600000.0
					      : !strncasecmp(end, "m", 1) ? 60000.0
					      : !strncasecmp(end, "s", 1) ? 1000.0 : 0;
				if (v > 0 && unit > 0) {
					if (strcasestr(l, "block") && !b->max_blocking_given) {
						b->max_blocking_ms = (int64_t)(v * unit);
						b->trigger_line = line;
					} else if (strcasestr(l, "take") || strcasestr(l, "duration") ||
						   strcasestr(l, "longer than")) {
						b->max_run_ms = (int64_t)(v * unit);
						b->trigger_line = line;
					}
				}
			}
			free(l);
			p += len + (eol ? 1 : 0);
			line++;
		}
	}
	if (b->trigger_line) {
		char extra[64] = "";
		if (b->max_run_ms)
			snprintf(extra, sizeof(extra), ", a run longer than %lld min", (long long)(b->max_run_ms / 60000));
		run_out(r, "%srollback triggers (line %d): blocking other sessions longer than %llds%s%s\n",
			term_c(TC_DIM), b->trigger_line, (long long)(b->max_blocking_ms / 1000), extra,
			term_c(TC_RESET));
	}
}

/* warn_unreachable says, once per target, that the database cannot be
 * reached: no run lock is held and nothing was checked against it. */
static void warn_unreachable(struct run *r)
{
	struct backend *b = be(r);
	char *why = b->connect_error ? xstrdup(b->connect_error) : xstrdup("no connection");
	why[strcspn(why, "\n")] = '\0';
	run_out(r, "%sdatabase: cannot connect (%s): the run lock is not taken and nothing is checked "
		   "against the database; SQL blocks connect again when they run%s\n",
		term_c(TC_YELLOW), why, term_c(TC_RESET));
	free(why);
}

int run_backends_start(struct run *r)
{
	struct backend *b = be(r);
	const char *url = getenv("DATABASE_URL");

	b->runbook_key = runbook_key(r->rb->path);
	read_triggers(r);
	if (b->sandbox) {
		if (start_sandbox(r) < 0)
			return -1;
		b->need_db = true;
	} else {
		b->need_db = runbook_needs_db(r->rb) || b->db_opt;
		if (b->db_opt) {
			set_target(b, b->db_opt);
			/* shell blocks that say "$DATABASE_URL" reach the same database */
			b->db_env[0] = xasprintf("DATABASE_URL=%s", b->db_opt);
			r->shell_env = b->db_env;
		}
		else if (url && *url)
			set_target(b, url);
		else if (getenv("PGHOST") || getenv("PGDATABASE") || getenv("PGSERVICE"))
			set_target(b, NULL);
	}
	if (!b->need_db)
		return 0;
	if (b->target_known) {
		run_out(r, "%sdatabase: %s%s\n", term_c(TC_DIM), b->target_display, term_c(TC_RESET));
		int rc = connect_target(r);
		if (rc == -2)
			return -1;
		if (rc == -1)
			warn_unreachable(r);
	} else {
		b->deferred = true;
		run_out(r, "%sdatabase: not known yet (no --db, no DATABASE_URL); looked for after the setup%s\n",
			term_c(TC_DIM), term_c(TC_RESET));
	}
	return 0;
}

void run_backends_release(struct run *r)
{
	struct backend *b = r->backend;
	struct strbuf msg = STRBUF_INIT;

	if (!b)
		return;
	disconnect(b);
	if (b->sb_started) {
		int rc = sandbox_stop(&b->sb, &msg);
		if (rc == 1)
			printf("\n%s\n", msg.buf);
		else if (rc < 0)
			fprintf(stderr, "runbook: %s\n", msg.buf);
	}
	sandbox_release(&b->sb);
	for (size_t i = 0; i < b->nmatchers; i++)
		failure_matcher_free(b->matchers[i]);
	free(b->matchers);
	free(b->matcher_done);
	free(b->db_env[0]);
	free(b->target);
	free(b->target_display);
	free(b->runbook_key);
	free(b);
	r->backend = NULL;
	strbuf_release(&msg);
}

/* ---------- prerequisites ---------- */

static int min_version(const char *text)
{
	/* "PostgreSQL 14+", "Postgres 12 or later", "PostgreSQL >= 13" */
	const char *p = strcasestr(text, "postgres");
	if (!p)
		return 0;
	while (*p && !isdigit((unsigned char)*p))
		p++;
	if (!*p)
		return 0;
	int v = atoi(p);
	while (isdigit((unsigned char)*p) || *p == '.')
		p++;
	while (*p == ' ')
		p++;
	if (*p == '+' || !strncasecmp(p, "or later", 8) || !strncasecmp(p, "or newer", 8) ||
	    !strncasecmp(p, "or higher", 9) || !strncasecmp(p - 1, " and up", 7))
		return v;
	return strstr(text, ">=") ? v : 0;
}

static void check_db_item(struct run *r, const struct rb_item *it, struct prereq_check *pc)
{
	static const char *const w_server[] = { "postgres", "database server", "server is running",
						"running", "reachable", NULL };
	static const char *const w_priv[] = { "admin", "superuser", "privilege", "permission",
					      "owner", NULL };
	static const char *const w_tx[] = { "transaction", "no active", "no long-running", NULL };
	static const char *const w_disk[] = { "disk", "free space", "storage", NULL };
	struct backend *b = be(r);
	const char *t = it->text;
	struct strbuf err = STRBUF_INIT;

	pc->status = PREREQ_ASK;
	pc->evidence[0] = '\0';
	if (mentions(t, w_disk)) {
		snprintf(pc->evidence, sizeof(pc->evidence),
			 "free disk space cannot be seen from SQL; check it on the server");
		return;
	}
	bool server = mentions(t, w_server) && (strcasestr(t, "postgres") || strcasestr(t, "server"));
	bool priv = mentions(t, w_priv);
	bool tx = mentions(t, w_tx) && strcasestr(t, "transaction");
	if (!server && !priv && !tx)
		return;
	if (!b->need_db || !b->target_known) {
		snprintf(pc->evidence, sizeof(pc->evidence), "no database target to check it against");
		return;
	}
	if (b->no_preflight) {
		snprintf(pc->evidence, sizeof(pc->evidence), "not checked (--no-preflight)");
		return;
	}
	if (!b->conn) {
		pc->status = PREREQ_FAILED;
		snprintf(pc->evidence, sizeof(pc->evidence), "cannot connect: %s",
			 b->connect_error ? b->connect_error : "unknown error");
		return;
	}
	if (server) {
		int want = min_version(t);
		if (!b->have_info) {
			pc->status = PREREQ_FAILED;
			snprintf(pc->evidence, sizeof(pc->evidence), "connected, but cannot read the server version");
			return;
		}
		if (want && pg_check_version(&b->info, want, &err) < 0) {
			pc->status = PREREQ_FAILED;
			snprintf(pc->evidence, sizeof(pc->evidence), "%s", err.buf);
		} else {
			pc->status = PREREQ_OK;
			snprintf(pc->evidence, sizeof(pc->evidence), "server %s answers%s", b->info.version,
				 want ? " (needs " : "");
			if (want) {
				size_t l = strlen(pc->evidence);
				snprintf(pc->evidence + l, sizeof(pc->evidence) - l, "%d+)", want);
			}
		}
	} else if (priv) {
		struct pg_privileges pv;
		struct strbuf why = STRBUF_INIT;
		if (pg_check_privileges(b->conn, NULL, NULL, &pv, &why, &err) < 0) {
			pc->status = PREREQ_FAILED;
			snprintf(pc->evidence, sizeof(pc->evidence), "%s", err.buf);
		} else if (pv.sufficient) {
			pc->status = PREREQ_OK;
			snprintf(pc->evidence, sizeof(pc->evidence), "%s is %s", b->have_info ? b->info.user : "user",
				 pv.superuser ? "a superuser" : "allowed to create in the database");
		} else {
			pc->status = PREREQ_FAILED;
			snprintf(pc->evidence, sizeof(pc->evidence), "%s", why.buf);
		}
		strbuf_release(&why);
	} else if (tx) {
		struct pg_session_list list;
		if (pg_open_transactions(b->conn, &list, &err) < 0) {
			pc->status = PREREQ_FAILED;
			snprintf(pc->evidence, sizeof(pc->evidence), "%s", err.buf);
		} else if (!list.nr && list.hidden) {
			/* not seen is not absent: the operator decides (--yes confirms) */
			pc->status = PREREQ_ASK;
			snprintf(pc->evidence, sizeof(pc->evidence),
				 "cannot be checked: %zu session%s of other roles on this database %s hidden from "
				 "%s (grant pg_read_all_stats to see them)",
				 list.hidden, list.hidden == 1 ? "" : "s", list.hidden == 1 ? "is" : "are",
				 b->have_info ? b->info.user : "this role");
		} else if (!list.nr) {
			pc->status = PREREQ_OK;
			snprintf(pc->evidence, sizeof(pc->evidence), "no other session has an open transaction");
		} else {
			struct strbuf ev = STRBUF_INIT;
			strbuf_addf(&ev, "%zu other session%s with an open transaction:", list.nr,
				    list.nr == 1 ? "" : "s");
			for (size_t i = 0; i < list.nr && i < 5; i++) {
				char d[32];
				format_duration(list.items[i].age_ms, d, sizeof(d));
				strbuf_addf(&ev, "\n      pid %d, %s for %s: %s", list.items[i].pid,
					    list.items[i].state, d, list.items[i].query);
			}
			pc->status = PREREQ_FAILED;
			snprintf(pc->evidence, sizeof(pc->evidence), "%s", ev.buf);
			strbuf_release(&ev);
		}
		pg_session_list_release(&list);
	}
	strbuf_release(&err);
}

void check_prerequisite(struct run *r, const struct rb_item *it, struct prereq_check *pc)
{
	struct backend *b = be(r);
	if (b->deferred) {
		bool later = checked_after_setup(it);
		pc->status = later ? PREREQ_OK : PREREQ_ASK;
		snprintf(pc->evidence, sizeof(pc->evidence), "%s",
			 later ? "checked after the setup, once the database is known" : "");
		return;
	}
	check_db_item(r, it, pc);
}

void journal_add_target(struct run *r, struct jrec *rec)
{
	struct backend *b = r->backend;
	if (!b || !b->need_db || !b->target_known) {
		jrec_null(rec, "target");
		return;
	}
	jrec_open(rec, "target");
	jrec_str(rec, "conninfo", b->target_display);
	jrec_bool(rec, "sandbox", b->sandbox);
	if (b->have_info) {
		jrec_str(rec, "server_version", b->info.version);
		jrec_int(rec, "server_version_num", b->info.version_num);
		jrec_raw_str(rec, "system_identifier", b->info.system_identifier);
		jrec_str(rec, "database", b->info.database);
		jrec_str(rec, "user", b->info.user);
	} else {
		jrec_str(rec, "error", b->connect_error ? b->connect_error : "not connected");
	}
	jrec_close(rec);
}

/* after_setup learns the database from the shell when the setup exported
 * DATABASE_URL, connects, and runs the checks that had to wait. */
enum flow after_setup(struct run *r)
{
	struct backend *b = be(r);
	struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
	bool set = false;
	enum flow flow = FLOW_CONTINUE;

	if (!b->need_db || !r->sh || b->sandbox || b->db_opt)
		return FLOW_CONTINUE;
	if (shell_get_var(r->sh, "DATABASE_URL", &url, &set, &err) < 0 || !set || !url.len)
		goto out;
	if (b->target_known && b->target && !strcmp(b->target, url.buf))
		goto out;
	if (b->target_known) {
		char *shown = pg_display_conninfo(url.buf);
		run_out(r, "%sdatabase: the setup points DATABASE_URL at %s; using it%s\n", term_c(TC_YELLOW),
			shown, term_c(TC_RESET));
		free(shown);
		disconnect(b);
	}
	redactor_add_value(&r->red, url.buf);
	set_target(b, url.buf);
	run_out(r, "%sdatabase: %s%s\n", term_c(TC_DIM), b->target_display, term_c(TC_RESET));
	int rc = connect_target(r);
	if (rc == -2) {
		record_target(r);
		flow = FLOW_QUIT;
		r->env_failure = true;
		goto out;
	}
	if (rc == -1)
		warn_unreachable(r);
	record_target(r);
	if (b->deferred) {
		b->deferred = false;
		run_out(r, "\n%sPrerequisites checked against the database%s\n", term_c(TC_BOLD),
			term_c(TC_RESET));
		for (size_t i = 0; i < r->rb->nprereqs; i++) {
			struct prereq_check pc;
			check_db_item(r, &r->rb->prereqs[i], &pc);
			if (pc.status == PREREQ_OK)
				run_out(r, "  %s✓%s %s  %s%s%s\n", term_c(TC_GREEN), term_c(TC_RESET),
					r->rb->prereqs[i].text, term_c(TC_DIM), pc.evidence, term_c(TC_RESET));
			else if (pc.status == PREREQ_FAILED) {
				run_out(r, "  %s✗ %s%s  %s\n", term_c(TC_RED), r->rb->prereqs[i].text,
					term_c(TC_RESET), pc.evidence);
				if (!r->interactive) {
					r->env_failure = true;
					flow = FLOW_QUIT;
				}
			} else if (pc.status == PREREQ_ASK && checked_after_setup(&r->rb->prereqs[i])) {
				enum flow f = run_confirm_prereq(r, &r->rb->prereqs[i], &pc);
				if (f != FLOW_CONTINUE && flow == FLOW_CONTINUE)
					flow = f;
			}
		}
	}
out:
	strbuf_release(&url);
	strbuf_release(&err);
	return flow;
}

/* ---------- around steps ---------- */

void step_begin(struct run *r, struct step_state *ss)
{
	struct backend *b = be(r);
	struct strbuf err = STRBUF_INIT;
	char step[32];

	journal_step_start(r, ss);
	if (!b->need_db)
		return;
	if (ss->step->role == STEP_MAIN)
		snprintf(step, sizeof(step), "step-%d", ss->step->number);
	else
		snprintf(step, sizeof(step), "%s", rb_step_role_name(ss->step->role));
	snprintf(b->app_name, sizeof(b->app_name), "runbook/%.200s/%s", b->runbook_key, step);
	if (b->conn)
		pg_set_application_name(b->conn, b->app_name, &err);
	/* psql and pg_dump started by shell blocks carry the same name */
	if (r->sh)
		shell_set_var(r->sh, "PGAPPNAME", b->app_name, &err);
	else
		setenv("PGAPPNAME", b->app_name, 1);
	strbuf_release(&err);
}

void step_end(struct run *r, struct step_state *ss)
{
	journal_step_end(r, ss);
}

void step_note_outcome(struct run *r, struct step_state *ss, const struct rb_block *b,
		       const struct block_outcome *o)
{
	journal_block_end(r, ss, b, o->line, o);
	strbuf_reset(&ss->last_output);
	if (o->have_capture)
		strbuf_add(&ss->last_output, o->out.text.buf, o->out.text.len);
}

void step_note_skip(struct run *r, struct step_state *ss, const struct rb_block *b, const char *reason)
{
	(void)r;
	(void)b;
	free(ss->note);
	ss->note = xstrdup(reason);
}

/* ---------- the monitor ---------- */

static void show_sessions(struct strbuf *sb, const char *what, const struct pg_session_list *l)
{
	if (!l->nr)
		return;
	int64_t longest = 0;
	for (size_t i = 0; i < l->nr; i++)
		if (l->items[i].age_ms > longest)
			longest = l->items[i].age_ms;
	char d[32];
	format_duration(longest, d, sizeof(d));
	strbuf_addf(sb, "%s%s %zu session%s (longest %s): pid %d %s", sb->len ? "; " : "", what, l->nr,
		    l->nr == 1 ? "" : "s", d, l->items[0].pid, l->items[0].query);
}

void backend_tick(struct run *r)
{
	struct backend *b = r->backend;
	struct strbuf err = STRBUF_INIT, line = STRBUF_INIT;
	int64_t now = proc_now_ms();
	int *pids = NULL;
	size_t npids = 0;

	if (b && b->max_run_ms && !b->guard_tripped && now - r->t0 > b->max_run_ms) {
		b->guard_tripped = true;
		snprintf(b->guard_reason, sizeof(b->guard_reason),
			 "the run has taken longer than %lld min (rollback trigger, line %d)",
			 (long long)(b->max_run_ms / 60000), b->trigger_line);
		b->max_run_ms = 0;
		goto trip;
	}
	if (!b || !b->monitor || now < b->next_sample_ms || b->guard_tripped)
		return;
	b->next_sample_ms = now + 1000;
	if (b->sql_running && b->sql_pid) {
		pids = xcalloc(1, sizeof(int));
		pids[0] = b->sql_pid;
		npids = 1;
	} else if (pg_sessions_by_application(b->monitor, b->app_name, &pids, &npids, &err) < 0) {
		goto out;
	}
	int64_t longest = 0;
	size_t nblocked = 0, nblocking = 0;
	for (size_t i = 0; i < npids; i++) {
		struct pg_monitor_sample s;
		if (pg_monitor_sample(b->monitor, pids[i], &s, &err) < 0) {
			pg_monitor_sample_release(&s);
			continue;
		}
		nblocked += s.blocked_by_us.nr;
		nblocking += s.blocking_us.nr;
		for (size_t k = 0; k < s.blocked_by_us.nr; k++)
			if (s.blocked_by_us.items[k].age_ms > longest)
				longest = s.blocked_by_us.items[k].age_ms;
		show_sessions(&line, "blocking", &s.blocked_by_us);
		show_sessions(&line, "waiting for", &s.blocking_us);
		if (s.progress.active && s.progress.blocks_total)
			strbuf_addf(&line, "%s%s: %s %lld%%", line.len ? "; " : "", s.progress.command,
				    s.progress.phase,
				    (long long)(100 * s.progress.blocks_done / s.progress.blocks_total));
		for (size_t k = 0; k < s.blocked_by_us.nr; k++)
			if (s.blocked_by_us.items[k].age_ms > b->max_blocking_ms && !b->guard_tripped) {
				b->guard_tripped = true;
				snprintf(b->guard_reason, sizeof(b->guard_reason),
					 "blocked pid %d for more than %lld s (--max-blocking)",
					 s.blocked_by_us.items[k].pid, (long long)(b->max_blocking_ms / 1000));
			}
		pg_monitor_sample_release(&s);
	}
	if (line.len && strcmp(line.buf, b->last_monitor)) {
		snprintf(b->last_monitor, sizeof(b->last_monitor), "%s", line.buf);
		record_monitor(r, line.buf, longest, nblocked, nblocking);
		fputs("\r\033[K", stdout);
		run_out(r, "  %s⚠ %s%s\n", term_c(TC_YELLOW), line.buf, term_c(TC_RESET));
	}
trip:
	if (b->guard_tripped) {
		bool stop = true;
		if (r->interactive) {
			run_out(r, "  %s%s. k stop the block · w keep waiting%s ", term_c(TC_RED), b->guard_reason,
				term_c(TC_RESET));
			int k = term_read_key("kw");
			run_out(r, "\n");
			stop = k != 'w';
			if (!stop) {
				b->guard_tripped = false;
				b->max_blocking_ms *= 2;
			}
		}
		if (stop) {
			proc_sigint_reset();
			kill(getpid(), SIGINT);
		}
	}
out:
	free(pids);
	strbuf_release(&err);
	strbuf_release(&line);
}

/* guard_verdict turns an interruption caused by the monitor into a failure. */
static void guard_verdict(struct run *r, struct block_outcome *o)
{
	struct backend *b = r->backend;
	if (b && b->guard_tripped && o->verdict == V_INTERRUPTED) {
		o->verdict = V_FAILED;
		snprintf(o->reason, sizeof(o->reason), "%s", b->guard_reason);
		b->guard_tripped = false;
		proc_sigint_reset();
	}
}

void backend_after_block(struct run *r, struct block_outcome *o)
{
	guard_verdict(r, o);
	if (r->backend)
		be(r)->last_monitor[0] = '\0';
}

/* ---------- SQL blocks ---------- */

struct sql_ctx {
	struct run *r;
	void (*echo)(void *data, enum io_stream which, const char *buf, size_t len);
};

static void sql_output(void *data, enum pg_stream stream, const char *text, size_t len)
{
	struct run *r = data;
	run_echo(r, stream == PG_STDERR ? IO_STDERR : IO_STDOUT, text, len);
}

static void sql_tick(void *data)
{
	struct run *r = data;
	run_tick(r);
}

static int64_t attr_ms(const struct rb_block *b, const char *a, const char *c, int64_t dflt)
{
	const char *v = rb_attr_get(b, a);
	if (!v)
		v = rb_attr_get(b, c);
	if (!v || !*v)
		return dflt;
	char *end;
	double d = strtod(v, &end);
	return !strcmp(end, "ms") ? (int64_t)d : (int64_t)(d * 1000);
}

void run_sql_block(struct run *r, const struct rb_block *blk, struct block_outcome *o)
{
	struct backend *b = be(r);
	struct pg_block_opts opts = PG_BLOCK_OPTS_INIT;
	struct pg_outcome po;
	struct strbuf err = STRBUF_INIT;

	if (!b->conn) {
		if (!b->target_known && !b->db_opt) {
			/* fall back to libpq's defaults, or what the setup exported */
			const char *url = getenv("DATABASE_URL");
			set_target(b, url && *url ? url : NULL);
		}
		int rc = connect_target(r);
		if (rc < 0) {
			o->verdict = V_FAILED;
			o->env_error = true;
			/* the statement never reached a server: what an earlier
			 * session left unknown stays unknown */
			o->conn_lost = rc != -2;
			snprintf(o->reason, sizeof(o->reason), "%s",
				 rc == -2 ? "another run holds the run lock" : b->connect_error);
			capture_init(&o->err, 0, NULL);
			capture_init(&o->out, 0, NULL);
			if (b->connect_error)
				capture_add(&o->err, b->connect_error, strlen(b->connect_error));
			capture_finish(&o->out);
			capture_finish(&o->err);
			o->have_capture = true;
			return;
		}
		pg_set_application_name(b->conn, b->app_name, &err);
	}
	opts.file = r->rb->path;
	opts.first_line = blk->text_line;
	opts.statement_timeout_ms = attr_ms(blk, "statement_timeout", "statement-timeout",
					    rb_attr_get(blk, "timeout") ? attr_ms(blk, "timeout", "timeout", 0) : 0);
	opts.lock_timeout_ms = (int)attr_ms(blk, "lock_timeout", "lock-timeout", b->lock_timeout_ms);
	if (rb_attr_get(blk, "retries"))
		opts.retries = atoi(rb_attr_get(blk, "retries"));
	else
		opts.retries = b->retries;
	opts.signal_fd = proc_signals_install();
	opts.output = sql_output;
	opts.tick = sql_tick;
	opts.tick_ms = 100;
	opts.data = r;

	r->block_start_ms = proc_now_ms();
	r->last_output_ms = r->block_start_ms;
	b->sql_running = true;
	b->sql_pid = pg_conn_backend_pid(b->conn);
	o->start_wall_ms = proc_wall_ms();
	enum pg_status st = pg_run_block(b->conn, blk->text, &opts, &po);
	b->sql_running = false;
	run_flush(r);

	o->duration_ms = po.ms;
	o->have_capture = true;
	capture_init(&o->out, 0, NULL);
	capture_init(&o->err, 0, NULL);
	capture_add(&o->out, po.out.buf, po.out.len);
	capture_add(&o->err, po.err.buf, po.err.len);
	capture_finish(&o->out);
	capture_finish(&o->err);
	o->exit_code = st == PG_OK ? 0 : 1;
	switch (st) {
	case PG_OK:
		o->verdict = V_PASSED;
		if (po.in_transaction)
			snprintf(o->reason, sizeof(o->reason), "left a transaction open");
		break;
	case PG_INVALID:
		o->verdict = V_FAILED;
		snprintf(o->reason, sizeof(o->reason), "%s",
			 po.error.message ? po.error.message : "the block cannot be split into statements");
		break;
	case PG_TIMED_OUT:
		o->verdict = V_TIMED_OUT;
		snprintf(o->reason, sizeof(o->reason), "timed out after %.1f s (statement_timeout)",
			 opts.statement_timeout_ms / 1000.0);
		break;
	case PG_INTERRUPTED:
		o->verdict = V_INTERRUPTED;
		snprintf(o->reason, sizeof(o->reason), "interrupted");
		break;
	case PG_FAILED:
		o->verdict = V_FAILED;
		if (po.conn_lost) {
			/* not the runbook's failure: the server or the network went
			 * away, and the statement may or may not have taken effect */
			o->env_error = true;
			o->conn_lost = true;
			snprintf(o->reason, sizeof(o->reason),
				 "lost the connection to the database (%s%s%s: %s) at %s:%d; whether the "
				 "statement took effect is unknown",
				 po.error.severity ? po.error.severity : "ERROR",
				 po.error.sqlstate && *po.error.sqlstate ? " " : "",
				 po.error.sqlstate ? po.error.sqlstate : "",
				 po.error.message ? po.error.message : "", r->rb->path, po.error.line);
		} else {
			snprintf(o->reason, sizeof(o->reason), "%s%s%s: %s (%s:%d)",
				 po.error.severity ? po.error.severity : "ERROR",
				 po.error.sqlstate && *po.error.sqlstate ? " " : "",
				 po.error.sqlstate ? po.error.sqlstate : "",
				 po.error.message ? po.error.message : "", r->rb->path, po.error.line);
		}
		if (po.error.sqlstate)
			snprintf(o->sqlstate, sizeof(o->sqlstate), "%s", po.error.sqlstate);
		if (po.nretries) {
			size_t l = strlen(o->reason);
			snprintf(o->reason + l, sizeof(o->reason) - l, " after %zu lock-timeout retr%s",
				 po.nretries, po.nretries == 1 ? "y" : "ies");
		}
		break;
	}
	if (po.conn_lost) {
		pg_close(b->conn);
		b->conn = NULL;
	}
	pg_outcome_release(&po);
	strbuf_release(&err);
	backend_after_block(r, o);
}

/* ---------- expectations and failures ---------- */

static int compile_block(const struct rb_step *st, const struct rb_command *cmd, bool v, void *data)
{
	struct run *r = data;
	enum match_mode mode;
	struct match_error me;
	(void)st;
	(void)v;
	if (!cmd->expected || cmd->block->index < 0 || (size_t)cmd->block->index >= r->nexpectations)
		return 0;
	if (match_mode_parse(rb_attr_get(cmd->expected, "match"), &mode) < 0)
		return -1;
	r->expectations[cmd->block->index] = expectation_compile(cmd->expected->text, mode, &me);
	return r->expectations[cmd->block->index] ? 0 : -1;
}

int prepare_expectations(struct run *r)
{
	r->nexpectations = r->rb->nblocks;
	r->expectations = xcalloc(r->nexpectations ? r->nexpectations : 1, sizeof(*r->expectations));
	return rb_for_each_command(r->rb, compile_block, r) ? -1 : 0;
}

void release_expectations(struct run *r)
{
	for (size_t i = 0; i < r->nexpectations; i++)
		expectation_free(r->expectations[i]);
	free(r->expectations);
	r->expectations = NULL;
	r->nexpectations = 0;
}

void run_add_capture(struct run *r, const char *name, const char *value)
{
	struct strbuf err = STRBUF_INIT;
	size_t i;

	for (i = 0; i < r->ncaptured; i++)
		if (!strcmp(r->captured[i].name, name))
			break;
	if (i == r->ncaptured) {
		ALLOC_GROW(r->captured, r->ncaptured + 1, r->captured_alloc);
		r->captured[i].name = xstrdup(name);
		r->captured[i].value = NULL;
		r->ncaptured++;
	}
	free(r->captured[i].value);
	r->captured[i].value = xstrdup(value);
	if (redact_secret_name(name))
		redactor_add_value(&r->red, value);
	/* values reach commands only as environment variables */
	if (r->sh && shell_set_var(r->sh, name, value, &err) < 0)
		run_out(r, "  %scannot set %s: %s%s\n", term_c(TC_RED), name, err.buf, term_c(TC_RESET));
	strbuf_release(&err);
}

static void show_diff(struct run *r, const struct strbuf *diff)
{
	const char *p = diff->buf;
	size_t shown = 0;
	while (*p && shown < 60) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		enum term_colour c = TC_RESET;
		if (len && (*p == '-' && strncmp(p, "---", 3)))
			c = TC_RED;
		else if (len && (*p == '+' && strncmp(p, "+++", 3)))
			c = TC_GREEN;
		else if (len && *p == '@')
			c = TC_CYAN;
		run_out(r, "    %s%.*s%s\n", term_c(c), (int)len, p, term_c(TC_RESET));
		shown++;
		p += len + (eol ? 1 : 0);
	}
	if (*p)
		run_out(r, "    %s... diff cut after 60 lines%s\n", term_c(TC_DIM), term_c(TC_RESET));
}

void judge_output(struct run *r, const struct rb_block *b, const char *expected_text,
		  const struct rb_block *expected, struct block_outcome *o)
{
	struct expectation *own = NULL, *e = NULL;
	struct match_result mr;
	struct match_error me;
	struct strbuf both = STRBUF_INIT;
	const char *text;
	size_t len;
	bool truncated;

	if (!expected_text || !*expected_text || !o->have_capture)
		return;
	if (expected && b->index >= 0 && (size_t)b->index < r->nexpectations)
		e = r->expectations[b->index];
	if (!e) {
		enum match_mode mode = MATCH_TOLERANT;
		if (expected)
			match_mode_parse(rb_attr_get(expected, "match"), &mode);
		own = e = expectation_compile(expected_text, mode, &me);
		if (!e) {
			o->verdict = V_DEVIATED;
			snprintf(o->reason, sizeof(o->reason), "invalid expected output: %s", me.msg);
			return;
		}
	}
	const char *stream = expected ? rb_attr_get(expected, "stream") : NULL;
	if (stream && !strcmp(stream, "stderr")) {
		text = o->err.text.buf;
		len = o->err.text.len;
		truncated = o->err.truncated;
	} else if (stream && !strcmp(stream, "both") && r->both_wanted) {
		/* as they arrived, interleaved the way the terminal showed them */
		text = r->both.buf;
		len = r->both.len;
		truncated = r->both_truncated;
	} else if (stream && !strcmp(stream, "both")) {
		strbuf_addbuf(&both, &o->out.text);
		strbuf_addbuf(&both, &o->err.text);
		text = both.buf;
		len = both.len;
		truncated = o->out.truncated || o->err.truncated;
	} else {
		text = o->out.text.buf;
		len = o->out.text.len;
		truncated = o->out.truncated;
	}
	match_result_init(&mr);
	expectation_match(e, text, len, truncated, &mr);
	if (!mr.ok) {
		o->verdict = V_DEVIATED;
		snprintf(o->reason, sizeof(o->reason), "%s", mr.reason.buf);
		strbuf_addbuf(&o->diff, &mr.diff);
		if (mr.expected_line && expected)
			snprintf(o->reason + strlen(o->reason), sizeof(o->reason) - strlen(o->reason),
				 " (%s:%d)", r->rb->path, expected->text_line + mr.expected_line - 1);
	} else {
		for (size_t i = 0; i < mr.ncaptures; i++) {
			run_add_capture(r, mr.captures[i].name, mr.captures[i].value);
			ALLOC_GROW(o->captures, o->ncaptures + 1, o->captures_alloc);
			o->captures[o->ncaptures].name = xstrdup(mr.captures[i].name);
			o->captures[o->ncaptures].value = xstrdup(mr.captures[i].value);
			o->ncaptures++;
			run_out(r, "  %scaptured %s=%s%s\n", term_c(TC_CYAN), mr.captures[i].name,
				mr.captures[i].value, term_c(TC_RESET));
		}
	}
	if (r->opts.verbose && mr.notes.len)
		run_out(r, "  %s%s%s\n", term_c(TC_DIM), mr.notes.buf, term_c(TC_RESET));
	match_result_release(&mr);
	expectation_free(own);
	strbuf_release(&both);
}


/* ---------- diagnosis ---------- */

static struct failure_matcher *matcher_for(struct run *r, size_t idx, const struct rb_failure_row *rows,
					   size_t n)
{
	struct backend *b = be(r);
	if (!b->matchers) {
		b->nmatchers = r->rb->nsteps + 1;
		b->matchers = xcalloc(b->nmatchers, sizeof(*b->matchers));
		b->matcher_done = xcalloc(b->nmatchers, sizeof(*b->matcher_done));
	}
	if (!b->matcher_done[idx]) {
		const char **cells = xcalloc(n ? n : 1, sizeof(*cells));
		for (size_t i = 0; i < n; i++)
			cells[i] = rows[i].error;
		b->matchers[idx] = n ? failure_matcher_new(cells, n) : NULL;
		b->matcher_done[idx] = true;
		free(cells);
	}
	return b->matchers[idx];
}

struct diagnosis {
	const struct rb_failure_row *rows;
	struct failure_hit *hits;
	size_t nhits;
	bool general;
	const struct rb_failure_row *best;
};

static size_t step_index(const struct run *r, const struct rb_step *st)
{
	for (size_t i = 0; i < r->rb->nsteps; i++)
		if (&r->rb->steps[i] == st)
			return i;
	return (size_t)-1;
}

static void diagnose(struct run *r, const struct rb_step *st, const struct block_outcome *o,
		     struct diagnosis *d)
{
	const char *out = o->have_capture ? o->out.text.buf : "";
	size_t out_len = o->have_capture ? o->out.text.len : 0;
	const char *err = o->have_capture ? o->err.text.buf : "";
	size_t err_len = o->have_capture ? o->err.text.len : 0;
	struct strbuf extra = STRBUF_INIT;
	size_t idx = step_index(r, st);

	memset(d, 0, sizeof(*d));
	/* a timeout or a deviation is evidence too */
	strbuf_add(&extra, err, err_len);
	strbuf_addf(&extra, "\n%s\n", o->reason);
	if (idx != (size_t)-1 && st->nfailures) {
		struct failure_matcher *fm = matcher_for(r, idx, st->failures, st->nfailures);
		if (fm) {
			d->nhits = failure_matcher_rank(fm, out, out_len, extra.buf, extra.len,
							*o->sqlstate ? o->sqlstate : NULL, &d->hits);
			d->rows = st->failures;
		}
	}
	if (!d->nhits && r->rb->ngeneral_failures) {
		failure_hits_free(d->hits, d->nhits);
		d->hits = NULL;
		struct failure_matcher *fm = matcher_for(r, r->rb->nsteps, r->rb->general_failures,
							 r->rb->ngeneral_failures);
		if (fm) {
			d->nhits = failure_matcher_rank(fm, out, out_len, extra.buf, extra.len,
							*o->sqlstate ? o->sqlstate : NULL, &d->hits);
			d->rows = r->rb->general_failures;
			d->general = true;
		}
	}
	if (d->nhits)
		d->best = &d->rows[d->hits[0].row];
	strbuf_release(&extra);
}

static void diagnosis_release(struct diagnosis *d)
{
	failure_hits_free(d->hits, d->nhits);
	memset(d, 0, sizeof(*d));
}

static bool safe_to_proceed(const char *solution)
{
	static const char *const words[] = { "safe to proceed", "safe to continue", "safe to ignore",
					     "can be ignored", "can safely be ignored", "ok to proceed",
					     "okay to proceed", NULL };
	return mentions(solution, words);
}

static void show_diagnosis(struct run *r, const struct rb_step *st, const struct diagnosis *d,
			   const struct block_outcome *o)
{
	if (*o->sqlstate)
		run_out(r, "  %sSQLSTATE %s%s\n", term_c(TC_DIM), o->sqlstate, term_c(TC_RESET));
	if (!d->nhits) {
		if (st->nfailures || r->rb->ngeneral_failures)
			run_out(r, "\n  %sNo documented fix matches this error.%s\n", term_c(TC_YELLOW),
				term_c(TC_RESET));
		if (r->rb->troubleshooting && *r->rb->troubleshooting) {
			run_out(r, "  %sThe runbook's troubleshooting section (line %d):%s\n", term_c(TC_DIM),
				r->rb->troubleshooting_line, term_c(TC_RESET));
			const char *p = r->rb->troubleshooting;
			for (int i = 0; *p && i < 15; i++) {
				const char *eol = strchr(p, '\n');
				size_t len = eol ? (size_t)(eol - p) : strlen(p);
				run_out(r, "    %.*s\n", (int)len, p);
				p += len + (eol ? 1 : 0);
			}
		}
		return;
	}
	run_out(r, "\n  %sDocumented fix%s%s (%s, line %d):\n", term_c(TC_BOLD), d->nhits > 1 ? "es" : "",
		term_c(TC_RESET), d->general ? "Troubleshooting" : "If This Fails",
		d->rows[d->hits[0].row].line);
	for (size_t i = 0; i < d->nhits && i < 3; i++) {
		const struct rb_failure_row *row = &d->rows[d->hits[i].row];
		/* alternatives only when they are about as good as the best */
		if (i && !d->hits[i].pattern_hit && d->hits[i].score < 0.9 * d->hits[0].score)
			break;
		run_out(r, "  %s%s %s%s  %s(%s)%s\n", term_c(i ? TC_YELLOW : TC_GREEN), i ? "·" : "▸", row->error,
			term_c(TC_RESET), term_c(TC_DIM), d->hits[i].why, term_c(TC_RESET));
		if (*row->cause)
			run_out(r, "      cause:    %s\n", row->cause);
		run_out(r, "      solution: %s\n", row->solution);
	}
}

static char *ask_line(struct run *r, const char *what)
{
	struct strbuf line = STRBUF_INIT;
	for (;;) {
		run_out(r, "  %s (required): ", what);
		int rc = term_read_line(&line);
		if (rc == TERM_INTERRUPTED || rc == TERM_EOF) {
			run_out(r, "\n");
			strbuf_release(&line);
			return NULL;
		}
		strbuf_trim(&line);
		if (line.len)
			return strbuf_detach(&line, NULL);
	}
}

/* try_fix runs the documented fix; true when it passed. */
static bool try_fix(struct run *r, const struct rb_failure_row *row)
{
	struct block_outcome fo;
	run_fix_command(r, row->fix, row->line, &fo);
	bool ok = fo.verdict == V_PASSED;
	record_decision(r, "fix", row->fix, ok ? "the fix passed" : "the fix failed");
	block_outcome_release(&fo);
	return ok;
}

enum flow on_failure(struct run *r, struct step_state *ss, const struct rb_block *b,
		     const struct block_outcome *o, enum verdict *final)
{
	bool deviated = o->verdict == V_DEVIATED;
	struct diagnosis d;
	enum flow flow = FLOW_END_STEP;

	*final = o->verdict;
	if (deviated && o->diff.len)
		show_diff(r, &o->diff);
	diagnose(r, ss->step, o, &d);
	show_diagnosis(r, ss->step, &d, o);
	record_suggestions(r, ss, b, d.rows, d.hits, d.nhits);
	const char *fix = d.best ? d.best->fix : NULL;
	bool can_continue = d.best && safe_to_proceed(d.best->solution);
	bool can_rollback = run_rollback_available(r) && r->opts.mode == MODE_RUN;

	if (!r->interactive) {
		/* an unattended rollback needs the setup's environment, not the
		 * setup's illustration: a setup that ran (exit status as
		 * expected) but printed something else does not stop it */
		bool rollback_setup = r->opts.mode == MODE_ROLLBACK && ss->step->role == STEP_SETUP;
		if (deviated && (r->opts.accept_deviations || rollback_setup)) {
			const char *why = r->opts.accept_deviations
				? "--accept-deviations"
				: "rollback: the setup ran; its output is not what stops a rollback";
			run_out(r, "  %saccepted (%s)%s\n", term_c(TC_YELLOW), why, term_c(TC_RESET));
			step_note_skip(r, ss, b, why);
			record_decision(r, "accept", why, o->reason);
			*final = V_ACCEPTED;
			flow = FLOW_CONTINUE;
		} else if (r->opts.auto_fix && fix && ss->fix_attempts < 1) {
			ss->fix_attempts++;
			run_out(r, "  %s--auto-fix: running the documented fix%s\n", term_c(TC_YELLOW), term_c(TC_RESET));
			if (try_fix(r, d.best))
				flow = FLOW_RETRY;
		} else if (r->opts.auto_fix && can_continue) {
			char *why = xasprintf("%s: %s", d.best->error, d.best->solution);
			run_out(r, "  %s--auto-fix: the runbook says it is safe to proceed%s\n", term_c(TC_YELLOW),
				term_c(TC_RESET));
			step_note_skip(r, ss, b, why);
			record_decision(r, "continue", why, "--auto-fix");
			free(why);
			*final = V_ACCEPTED;
			flow = FLOW_CONTINUE;
		}
		if (flow == FLOW_END_STEP && r->opts.on_fail_rollback && can_rollback) {
			r->rollback_requested = true;
			record_decision(r, "roll back", "--on-fail=rollback", o->reason);
		}
		diagnosis_release(&d);
		return flow;
	}
	for (;;) {
		struct strbuf keys = STRBUF_INIT, menu = STRBUF_INIT;
		strbuf_addstr(&keys, "r");
		strbuf_addstr(&menu, "r retry");
		if (fix) {
			strbuf_addch(&keys, 'f');
			strbuf_addf(&menu, " · f fix: %s", fix);
		}
		if (can_continue) {
			strbuf_addch(&keys, 'c');
			strbuf_addstr(&menu, " · c continue");
		}
		if (deviated) {
			strbuf_addch(&keys, 'a');
			strbuf_addstr(&menu, " · a accept");
		}
		strbuf_addstr(&keys, "s");
		strbuf_addstr(&menu, " · s skip");
		if (can_rollback) {
			strbuf_addch(&keys, 'b');
			strbuf_addstr(&menu, " · b roll back");
		}
		strbuf_addstr(&keys, "q");
		strbuf_addstr(&menu, " · q abort");
		run_out(r, "  %s%s%s ", term_c(TC_BOLD), menu.buf, term_c(TC_RESET));
		int k = term_read_key(keys.buf);
		run_out(r, "\n");
		strbuf_release(&keys);
		strbuf_release(&menu);
		switch (k) {
		case 'r':
			record_decision(r, "retry", "", o->reason);
			flow = FLOW_RETRY;
			break;
		case 'f':
			if (!try_fix(r, d.best))
				continue;
			flow = FLOW_RETRY;
			break;
		case 'c': {
			char *why = xasprintf("%s: %s", d.best->error, d.best->solution);
			step_note_skip(r, ss, b, why);
			record_decision(r, "continue", why, o->reason);
			free(why);
			*final = V_ACCEPTED;
			flow = FLOW_CONTINUE;
			break;
		}
		case 'a':
		case 's': {
			char *reason = ask_line(r, k == 'a' ? "reason for accepting the deviation"
							    : "reason for skipping");
			if (!reason) {
				flow = FLOW_INTERRUPT;
				break;
			}
			step_note_skip(r, ss, b, reason);
			record_decision(r, k == 'a' ? "accept" : "skip", reason, o->reason);
			free(reason);
			*final = k == 'a' ? V_ACCEPTED : V_SKIPPED;
			flow = FLOW_CONTINUE;
			break;
		}
		case 'b':
			record_decision(r, "roll back", "operator", o->reason);
			r->rollback_requested = true;
			flow = FLOW_END_STEP;
			break;
		case TERM_INTERRUPTED:
			flow = FLOW_INTERRUPT;
			break;
		default:
			record_decision(r, "abort", "operator", o->reason);
			flow = FLOW_QUIT;
			break;
		}
		break;
	}
	diagnosis_release(&d);
	return flow;
}

/* ---------- the final state ---------- */

/* parse_psql_table finds the last aligned table in text: a header line
 * followed by a "---+---" rule, then the first row. */
static size_t parse_psql_table(const char *text, char ***names, char ***values)
{
	const char *lines[3] = { NULL, NULL, NULL };
	const char *p = text, *prev = NULL, *found_header = NULL, *found_row = NULL;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		bool rule = len > 0;
		for (size_t i = 0; i < len; i++)
			if (p[i] != '-' && p[i] != '+')
				rule = false;
		if (rule && prev) {
			found_header = prev;
			found_row = eol ? eol + 1 : NULL;
		}
		prev = p;
		p += len + (eol ? 1 : 0);
	}
	(void)lines;
	*names = *values = NULL;
	if (!found_header || !found_row || !*found_row)
		return 0;
	size_t n = 0, alloc = 0, vn = 0, valloc = 0;
	for (int which = 0; which < 2; which++) {
		const char *s = which ? found_row : found_header;
		const char *eol = strchr(s, '\n');
		size_t len = eol ? (size_t)(eol - s) : strlen(s);
		const char *end = s + len;
		while (s <= end) {
			const char *bar = memchr(s, '|', (size_t)(end - s));
			const char *cell_end = bar ? bar : end;
			const char *a = s, *z = cell_end;
			while (a < z && *a == ' ')
				a++;
			while (z > a && z[-1] == ' ')
				z--;
			char *cell = xmemdupz(a, (size_t)(z - a));
			if (which) {
				ALLOC_GROW(*values, vn + 1, valloc);
				(*values)[vn++] = cell;
			} else {
				ALLOC_GROW(*names, n + 1, alloc);
				(*names)[n++] = cell;
			}
			if (!bar)
				break;
			s = bar + 1;
		}
	}
	while (vn < n) {
		ALLOC_GROW(*values, vn + 1, valloc);
		(*values)[vn++] = xstrdup("");
	}
	for (size_t i = n; i < vn; i++)
		free((*values)[i]);
	return n;
}

void check_final_state(struct run *r, struct step_state *ss)
{
	const struct runbook *rb = r->rb;
	char **names, **values;
	size_t n;
	bool all = true;

	if (!rb->nfinal_rows)
		return;
	n = parse_psql_table(ss->last_output.buf, &names, &values);
	run_out(r, "\n  %sExpected final state%s\n", term_c(TC_BOLD), term_c(TC_RESET));
	if (!n)
		run_out(r, "  %sthe final verification printed no table to compare with%s\n", term_c(TC_RED),
			term_c(TC_RESET));
	for (size_t i = 0; i < rb->nfinal_rows; i++) {
		const struct rb_final_row *row = &rb->final_rows[i];
		const char *actual = NULL;
		for (size_t k = 0; k < n && !actual; k++)
			if (!strcasecmp(names[k], row->metric))
				actual = values[k];
		bool ok = actual && !strcmp(actual, row->expected);
		all &= ok;
		record_final_state(r, row->metric, row->expected, actual, ok);
		if (ok)
			run_out(r, "  %s✓%s %s = %s\n", term_c(TC_GREEN), term_c(TC_RESET), row->metric, actual);
		else if (actual)
			run_out(r, "  %s✗ %s = %s, expected %s%s\n", term_c(TC_RED), row->metric, actual,
				row->expected, term_c(TC_RESET));
		else
			run_out(r, "  %s✗ %s: no such column in the final query's result, expected %s%s\n",
				term_c(TC_RED), row->metric, row->expected, term_c(TC_RESET));
	}
	for (size_t k = 0; k < n; k++) {
		free(names[k]);
		free(values[k]);
	}
	free(names);
	free(values);
	if (!all && verdict_ok(ss->verdict))
		ss->verdict = V_FAILED;
}
