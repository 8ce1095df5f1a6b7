/* target.c - the database a run talks to (or its sandbox): connections,
 * the run lock, the prerequisites checked against it, the lock monitor. */
#define _GNU_SOURCE
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/runlog.h"
#include "base/xalloc.h"
#include "exec/exec_int.h"
#include "pg/pg.h"
#include "sys/sandbox.h"
#include "sys/shell.h"

struct target {
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
	char *conninfo;            /* NULL for libpq's defaults */
	char *display;             /* without the password */
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

	/* monitor */
	int64_t next_sample_ms;
	bool sql_running;
	int sql_pid;
	char last_monitor[512];
	bool guard_tripped;
	char guard_reason[256];
};

enum prereq_status { PREREQ_ASK, PREREQ_OK, PREREQ_FAILED };
struct prereq_check {
	enum prereq_status status;
	char evidence[512];
};

struct target *target_new(const struct exec_opts *o)
{
	struct target *t = xcalloc(1, sizeof(*t));
	t->lock_timeout_ms = o->lock_timeout_ms >= 0 ? o->lock_timeout_ms : PG_LOCK_TIMEOUT_DEFAULT_MS;
	t->retries = 5;
	t->max_blocking_ms = o->max_blocking_ms;
	t->max_blocking_given = o->max_blocking_given;
	t->db_opt = o->db;
	t->sandbox = o->sandbox;
	t->seed = o->seed;
	t->keep = o->keep;
	t->no_preflight = o->no_preflight;
	return t;
}

int target_lock_timeout_ms(const struct exec_run *r)
{
	return r->target->lock_timeout_ms;
}

int target_retries(const struct exec_run *r)
{
	return r->target->retries;
}

bool target_needs_db(const struct exec_run *r)
{
	return r->target->need_db;
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

static void set_target(struct target *t, const char *conninfo)
{
	free(t->conninfo);
	free(t->display);
	t->conninfo = conninfo ? xstrdup(conninfo) : NULL;
	t->display = pg_display_conninfo(t->conninfo);
	t->target_known = true;
}

static void disconnect(struct target *t)
{
	pg_run_lock_release(t->lock);
	t->lock = NULL;
	pg_close(t->monitor);
	t->monitor = NULL;
	pg_close(t->conn);
	t->conn = NULL;
	if (t->have_info)
		pg_server_info_release(&t->info);
	t->have_info = false;
	free(t->connect_error);
	t->connect_error = NULL;
}

/* connect_target opens the connections and takes the run lock.  Returns 0,
 * -1 when the server cannot be reached (connect_error set), -2 when another
 * run holds the lock (already reported). */
static int connect_target(struct exec_run *r)
{
	struct target *t = r->target;
	struct strbuf err = STRBUF_INIT;
	struct pg_lock_holder holder;

	if (t->conn)
		return 0;
	/* the first connection, or a new one after the last broke (the server
	 * restarted, our backend was terminated): the monitor and the run lock
	 * are kept when their sessions survived, and opened again when not */
	bool again = t->have_info || t->lock || t->monitor;
	if (!again)
		snprintf(t->app_name, sizeof(t->app_name), "runbook/%s/preflight", t->runbook_key);
	free(t->connect_error);
	t->connect_error = NULL;
	t->conn = pg_connect(t->conninfo, t->app_name, &err);
	if (!t->conn) {
		t->connect_error = strbuf_detach(&err, NULL);
		return -1;
	}
	if (!t->have_info) {
		if (pg_server_info(t->conn, &t->info, &err) == 0)
			t->have_info = true;
		else
			pg_server_info_release(&t->info);
	}
	strbuf_reset(&err);
	if (t->monitor && !pg_conn_alive(t->monitor)) {
		pg_close(t->monitor);
		t->monitor = NULL;
	}
	if (!t->monitor)
		t->monitor = pg_connect(t->conninfo, "runbook/monitor", &err);
	strbuf_reset(&err);
	if (t->lock && pg_run_lock_held(t->lock)) {
		strbuf_release(&err);
		return 0;
	}
	if (t->lock) {
		note(r, NOTE_WARN, "runbook: the run lock went with its connection; taking it again");
		pg_run_lock_release(t->lock);
		t->lock = NULL;
	}

	char lock_app[300];
	snprintf(lock_app, sizeof(lock_app), "runbook/%s/lock", t->runbook_key);
	memset(&holder, 0, sizeof(holder));
	enum pg_lock_result lr = pg_run_lock_try(t->conninfo, t->runbook_key, lock_app, &t->lock,
						 &holder, &err);
	if (lr == PG_LOCK_BUSY) {
		note(r, NOTE_ERROR, "runbook: another run of %s holds the run lock on this database:",
		     t->runbook_key);
		note(r, NOTE_PLAIN,
		     "  pid %d, application_name %s, user %s, client %s, started %s%s%s\n"
		     "  wait for it to finish, or stop it, before running again",
		     holder.pid, holder.application_name ? holder.application_name : "?",
		     holder.user ? holder.user : "?", holder.client ? holder.client : "?",
		     holder.backend_start ? holder.backend_start : "?",
		     holder.query_start && *holder.query_start ? ", last query at " : "",
		     holder.query_start && *holder.query_start ? holder.query_start : "");
		pg_lock_holder_release(&holder);
		strbuf_release(&err);
		/* nothing runs on this database without the lock */
		pg_close(t->conn);
		t->conn = NULL;
		return -2;
	}
	if (lr == PG_LOCK_ERROR)
		note(r, NOTE_WARN, "runbook: cannot take the run lock: %s", err.buf);
	strbuf_release(&err);
	return 0;
}

struct pg_conn *target_conn(struct exec_run *r, struct block_outcome *o)
{
	struct target *t = r->target;
	struct strbuf err = STRBUF_INIT;

	if (t->conn)
		return t->conn;
	if (!t->target_known && !t->db_opt) {
		/* fall back to libpq's defaults, or what the setup exported */
		const char *url = getenv("DATABASE_URL");
		set_target(t, url && *url ? url : NULL);
	}
	int rc = connect_target(r);
	if (rc < 0) {
		o->verdict = V_FAILED;
		o->env_error = true;
		/* the statement never reached a server: what an earlier
		 * session left unknown stays unknown */
		o->conn_lost = rc != -2;
		snprintf(o->reason, sizeof(o->reason), "%s",
			 rc == -2 ? "another run holds the run lock" : t->connect_error);
		capture_init(&o->err, 0, NULL);
		capture_init(&o->out, 0, NULL);
		if (t->connect_error)
			capture_add(&o->err, t->connect_error, strlen(t->connect_error));
		capture_finish(&o->out);
		capture_finish(&o->err);
		o->have_capture = true;
		return NULL;
	}
	pg_set_application_name(t->conn, t->app_name, &err);
	strbuf_release(&err);
	return t->conn;
}

void target_sql_begin(struct exec_run *r)
{
	r->target->sql_running = true;
	r->target->sql_pid = pg_conn_backend_pid(r->target->conn);
}

void target_sql_end(struct exec_run *r, bool conn_lost)
{
	struct target *t = r->target;
	t->sql_running = false;
	if (conn_lost) {
		pg_close(t->conn);
		t->conn = NULL;
	}
}

/* ---------- sandbox ---------- */

static void sandbox_log(void *data, const char *line)
{
	note(data, NOTE_DIM, "  sandbox: %s", line);
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

static int start_sandbox(struct exec_run *r)
{
	struct target *t = r->target;
	struct strbuf err = STRBUF_INIT;
	struct sandbox_opts so = { 0 };
	char *seed = find_seed(r->rb, t->seed);
	int64_t t0 = proc_now_ms();

	so.keep = t->keep;
	so.log = r->opts.verbose ? sandbox_log : NULL;
	so.log_data = r;
	if (sandbox_start(&t->sb, &so, &err) < 0) {
		note(r, NOTE_ERROR, "runbook: %s", err.buf);
		free(seed);
		strbuf_release(&err);
		return -1;
	}
	t->sb_started = true;
	/* our own libpq and every child see the sandbox and nothing else */
	for (const char *const *u = sandbox_unset_vars(); *u; u++)
		unsetenv(*u);
	for (const char *const *e = sandbox_env(&t->sb); *e; e++) {
		char *name = xstrndup(*e, strcspn(*e, "="));
		setenv(name, strchr(*e, '=') + 1, 1);
		free(name);
	}
	if (seed && sandbox_load_sql(&t->sb, seed, &err) < 0) {
		note(r, NOTE_ERROR, "runbook: %s", err.buf);
		free(seed);
		strbuf_release(&err);
		return -1;
	}
	char d[32];
	format_duration(proc_now_ms() - t0, d, sizeof(d));
	note(r, NOTE_DIM, "sandbox: PostgreSQL in %s%s%s (%s)", t->sb.dir, seed ? ", loaded " : "",
	     seed ? seed : "", d);
	free(seed);
	set_target(t, t->sb.conninfo);
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
static void read_triggers(struct exec_run *r)
{
	struct target *t = r->target;
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
					if (strcasestr(l, "block") && !t->max_blocking_given) {
						t->max_blocking_ms = (int64_t)(v * unit);
						t->trigger_line = line;
					} else if (strcasestr(l, "take") || strcasestr(l, "duration") ||
						   strcasestr(l, "longer than")) {
						t->max_run_ms = (int64_t)(v * unit);
						t->trigger_line = line;
					}
				}
			}
			free(l);
			p += len + (eol ? 1 : 0);
			line++;
		}
	}
	if (t->trigger_line) {
		char extra[64] = "";
		if (t->max_run_ms)
			snprintf(extra, sizeof(extra), ", a run longer than %lld min", (long long)(t->max_run_ms / 60000));
		note(r, NOTE_DIM, "rollback triggers (line %d): blocking other sessions longer than %llds%s",
		     t->trigger_line, (long long)(t->max_blocking_ms / 1000), extra);
	}
}

/* warn_unreachable says, once per target, that the database cannot be
 * reached: no run lock is held and nothing was checked against it. */
static void warn_unreachable(struct exec_run *r)
{
	struct target *t = r->target;
	char *why = t->connect_error ? xstrdup(t->connect_error) : xstrdup("no connection");
	why[strcspn(why, "\n")] = '\0';
	note(r, NOTE_WARN, "database: cannot connect (%s): the run lock is not taken and nothing is checked "
			   "against the database; SQL blocks connect again when they run", why);
	free(why);
}

static void announce_target(struct exec_run *r)
{
	note(r, NOTE_DIM, "database: %s", r->target->display);
}

int target_start(struct exec_run *r)
{
	struct target *t = r->target;
	const char *url = getenv("DATABASE_URL");

	t->runbook_key = runbook_key(r->rb->path);
	read_triggers(r);
	if (t->sandbox) {
		if (start_sandbox(r) < 0)
			return -1;
		t->need_db = true;
	} else {
		t->need_db = runbook_needs_db(r->rb) || t->db_opt;
		if (t->db_opt) {
			set_target(t, t->db_opt);
			/* shell blocks that say "$DATABASE_URL" reach the same database */
			t->db_env[0] = xasprintf("DATABASE_URL=%s", t->db_opt);
			r->shell_env = t->db_env;
		} else if (url && *url) {
			set_target(t, url);
		} else if (getenv("PGHOST") || getenv("PGDATABASE") || getenv("PGSERVICE")) {
			set_target(t, NULL);
		}
	}
	if (!t->need_db)
		return 0;
	if (t->target_known) {
		announce_target(r);
		int rc = connect_target(r);
		if (rc == -2)
			return -1;
		if (rc == -1)
			warn_unreachable(r);
	} else {
		t->deferred = true;
		note(r, NOTE_DIM, "database: not known yet (no --db, no DATABASE_URL); looked for after the setup");
	}
	return 0;
}

void target_free(struct exec_run *r)
{
	struct target *t = r->target;
	struct strbuf msg = STRBUF_INIT;

	if (!t)
		return;
	disconnect(t);
	if (t->sb_started) {
		int rc = sandbox_stop(&t->sb, &msg);
		if (rc == 1)
			note(r, NOTE_PLAIN, "\n%s", msg.buf);
		else if (rc < 0)
			note(r, NOTE_FATAL, "runbook: %s", msg.buf);
	}
	sandbox_release(&t->sb);
	free(t->db_env[0]);
	free(t->conninfo);
	free(t->display);
	free(t->runbook_key);
	free(t);
	r->target = NULL;
	strbuf_release(&msg);
}

void target_add_json(const struct exec_run *r, struct jrec *rec)
{
	const struct target *t = r->target;
	if (!t || !t->need_db || !t->target_known) {
		jrec_null(rec, "target");
		return;
	}
	jrec_open(rec, "target");
	jrec_str(rec, "conninfo", t->display);
	jrec_bool(rec, "sandbox", t->sandbox);
	if (t->have_info) {
		jrec_str(rec, "server_version", t->info.version);
		jrec_int(rec, "server_version_num", t->info.version_num);
		jrec_raw_str(rec, "system_identifier", t->info.system_identifier);
		jrec_str(rec, "database", t->info.database);
		jrec_str(rec, "user", t->info.user);
	} else {
		jrec_str(rec, "error", t->connect_error ? t->connect_error : "not connected");
	}
	jrec_close(rec);
}

static void record_target(struct exec_run *r)
{
	struct event ev = { .type = EV_TARGET, .text = r->target->display };
	emit(r, &ev);
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

static void check_server(struct target *t, const char *text, struct prereq_check *pc)
{
	struct strbuf err = STRBUF_INIT;
	int want = min_version(text);
	if (!t->have_info) {
		pc->status = PREREQ_FAILED;
		snprintf(pc->evidence, sizeof(pc->evidence), "connected, but cannot read the server version");
	} else if (want && pg_check_version(&t->info, want, &err) < 0) {
		pc->status = PREREQ_FAILED;
		snprintf(pc->evidence, sizeof(pc->evidence), "%s", err.buf);
	} else {
		pc->status = PREREQ_OK;
		snprintf(pc->evidence, sizeof(pc->evidence), "server %s answers%s", t->info.version,
			 want ? " (needs " : "");
		if (want) {
			size_t l = strlen(pc->evidence);
			snprintf(pc->evidence + l, sizeof(pc->evidence) - l, "%d+)", want);
		}
	}
	strbuf_release(&err);
}

static void check_privileges(struct target *t, struct prereq_check *pc)
{
	struct strbuf err = STRBUF_INIT, why = STRBUF_INIT;
	struct pg_privileges pv;
	if (pg_check_privileges(t->conn, NULL, NULL, &pv, &why, &err) < 0) {
		pc->status = PREREQ_FAILED;
		snprintf(pc->evidence, sizeof(pc->evidence), "%s", err.buf);
	} else if (pv.sufficient) {
		pc->status = PREREQ_OK;
		snprintf(pc->evidence, sizeof(pc->evidence), "%s is %s", t->have_info ? t->info.user : "user",
			 pv.superuser ? "a superuser" : "allowed to create in the database");
	} else {
		pc->status = PREREQ_FAILED;
		snprintf(pc->evidence, sizeof(pc->evidence), "%s", why.buf);
	}
	strbuf_release(&why);
	strbuf_release(&err);
}

static void check_transactions(struct target *t, struct prereq_check *pc)
{
	struct strbuf err = STRBUF_INIT;
	struct pg_session_list list;
	if (pg_open_transactions(t->conn, &list, &err) < 0) {
		pc->status = PREREQ_FAILED;
		snprintf(pc->evidence, sizeof(pc->evidence), "%s", err.buf);
	} else if (!list.nr && list.hidden) {
		/* not seen is not absent: the operator decides (--yes confirms) */
		pc->status = PREREQ_ASK;
		snprintf(pc->evidence, sizeof(pc->evidence),
			 "cannot be checked: %zu session%s of other roles on this database %s hidden from "
			 "%s (grant pg_read_all_stats to see them)",
			 list.hidden, list.hidden == 1 ? "" : "s", list.hidden == 1 ? "is" : "are",
			 t->have_info ? t->info.user : "this role");
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
			strbuf_addf(&ev, "\n      pid %d, %s for %s: %s", list.items[i].pid, list.items[i].state,
				    d, list.items[i].query);
		}
		pc->status = PREREQ_FAILED;
		snprintf(pc->evidence, sizeof(pc->evidence), "%s", ev.buf);
		strbuf_release(&ev);
	}
	pg_session_list_release(&list);
	strbuf_release(&err);
}

static void check_db_item(struct exec_run *r, const struct rb_item *it, struct prereq_check *pc)
{
	static const char *const w_server[] = { "postgres", "database server", "server is running",
						"running", "reachable", NULL };
	static const char *const w_priv[] = { "admin", "superuser", "privilege", "permission",
					      "owner", NULL };
	static const char *const w_tx[] = { "transaction", "no active", "no long-running", NULL };
	static const char *const w_disk[] = { "disk", "free space", "storage", NULL };
	struct target *t = r->target;
	const char *text = it->text;

	pc->status = PREREQ_ASK;
	pc->evidence[0] = '\0';
	if (mentions(text, w_disk)) {
		snprintf(pc->evidence, sizeof(pc->evidence),
			 "free disk space cannot be seen from SQL; check it on the server");
		return;
	}
	bool server = mentions(text, w_server) && (strcasestr(text, "postgres") || strcasestr(text, "server"));
	bool priv = mentions(text, w_priv);
	bool tx = mentions(text, w_tx) && strcasestr(text, "transaction");
	if (!server && !priv && !tx)
		return;
	if (!t->need_db || !t->target_known) {
		snprintf(pc->evidence, sizeof(pc->evidence), "no database target to check it against");
		return;
	}
	if (t->no_preflight) {
		snprintf(pc->evidence, sizeof(pc->evidence), "not checked (--no-preflight)");
		return;
	}
	if (!t->conn) {
		pc->status = PREREQ_FAILED;
		snprintf(pc->evidence, sizeof(pc->evidence), "cannot connect: %s",
			 t->connect_error ? t->connect_error : "unknown error");
		return;
	}
	if (server)
		check_server(t, text, pc);
	else if (priv)
		check_privileges(t, pc);
	else if (tx)
		check_transactions(t, pc);
}

static void check_prerequisite(struct exec_run *r, const struct rb_item *it, struct prereq_check *pc)
{
	if (r->target->deferred) {
		bool later = checked_after_setup(it);
		pc->status = later ? PREREQ_OK : PREREQ_ASK;
		snprintf(pc->evidence, sizeof(pc->evidence), "%s",
			 later ? "checked after the setup, once the database is known" : "");
		return;
	}
	check_db_item(r, it, pc);
}

static void record_prereq(struct exec_run *r, const struct rb_item *it, const char *status,
			  const char *evidence, const char *by, const char *reason)
{
	struct event ev = { .type = EV_PREREQ, .text = it->text, .line = it->line, .status = status,
			    .evidence = evidence, .by = by, .reason = reason };
	emit(r, &ev);
}

/* confirm_prereq has a prerequisite that cannot be checked confirmed: by
 * --yes when unattended, by the operator (y/n) at a terminal. */
static enum flow confirm_prereq(struct exec_run *r, const struct rb_item *it, const struct prereq_check *pc)
{
	static const struct choice choices[] = { { 'y', "confirm" }, { 'n', "not met" } };
	if (!r->interactive) {
		record_prereq(r, it, "confirmed", pc->evidence, "--yes", NULL);
		return FLOW_CONTINUE;
	}
	struct question q = { .kind = ASK_PREREQ, .text = it->text, .detail = pc->evidence,
			      .choices = choices, .nchoices = 2 };
	int k = ask(r, &q, NULL);
	if (k == 'y') {
		record_prereq(r, it, "confirmed", pc->evidence, "operator", NULL);
		return FLOW_CONTINUE;
	}
	if (k == ANSWER_INTERRUPTED || k == ANSWER_EOF)
		return FLOW_INTERRUPT;
	note(r, NOTE_ERROR, "  prerequisite not met: stopping before anything runs");
	record_prereq(r, it, "not met", pc->evidence, "operator", NULL);
	return FLOW_QUIT;
}

/* target_preflight shows the prerequisites and has the operator confirm them. */
enum flow target_preflight(struct exec_run *r)
{
	static const struct choice choices[] = { { 'c', "continue anyway" }, { 'q', "quit" } };
	const struct runbook *rb = r->rb;
	if (!rb->nprereqs || r->opts.mode == MODE_ROLLBACK)
		return FLOW_CONTINUE;
	note(r, NOTE_HEADING, "\nPrerequisites");
	for (size_t i = 0; i < rb->nprereqs; i++) {
		const struct rb_item *it = &rb->prereqs[i];
		struct prereq_check pc;
		check_prerequisite(r, it, &pc);
		if (pc.status == PREREQ_OK) {
			record_prereq(r, it, "checked", pc.evidence, NULL, NULL);
			continue;
		}
		if (pc.status == PREREQ_FAILED) {
			record_prereq(r, it, "failed", pc.evidence, NULL, NULL);
			if (!r->interactive) {
				r->env_failure = true;
				return FLOW_QUIT;
			}
			struct question q = { .kind = ASK_PREREQ_FAILED, .text = it->text, .choices = choices,
					      .nchoices = 2 };
			int k = ask(r, &q, NULL);
			if (k != 'c')
				return k == ANSWER_INTERRUPTED ? FLOW_INTERRUPT : FLOW_QUIT;
			char *why = ask_reason(r, "reason for continuing");
			if (!why)
				return FLOW_INTERRUPT;
			record_prereq(r, it, "overridden", pc.evidence, "operator", why);
			free(why);
			continue;
		}
		enum flow f = confirm_prereq(r, it, &pc);
		if (f != FLOW_CONTINUE)
			return f;
	}
	return FLOW_CONTINUE;
}

/* target_after_setup learns the database from the shell when the setup
 * exported DATABASE_URL, connects, and runs the checks that had to wait. */
enum flow target_after_setup(struct exec_run *r)
{
	struct target *t = r->target;
	struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
	bool set = false;
	enum flow flow = FLOW_CONTINUE;

	if (!t->need_db || !r->sh || t->sandbox || t->db_opt)
		return FLOW_CONTINUE;
	if (shell_get_var(r->sh, "DATABASE_URL", &url, &set, &err) < 0 || !set || !url.len)
		goto out;
	if (t->target_known && t->conninfo && !strcmp(t->conninfo, url.buf))
		goto out;
	if (t->target_known) {
		char *shown = pg_display_conninfo(url.buf);
		note(r, NOTE_WARN, "database: the setup points DATABASE_URL at %s; using it", shown);
		free(shown);
		disconnect(t);
	}
	redactor_add_value(&r->red, url.buf);
	set_target(t, url.buf);
	announce_target(r);
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
	if (t->deferred) {
		t->deferred = false;
		note(r, NOTE_HEADING, "\nPrerequisites checked against the database");
		for (size_t i = 0; i < r->rb->nprereqs; i++) {
			const struct rb_item *it = &r->rb->prereqs[i];
			struct prereq_check pc;
			check_db_item(r, it, &pc);
			if (pc.status == PREREQ_OK) {
				record_prereq(r, it, "checked", pc.evidence, NULL, NULL);
			} else if (pc.status == PREREQ_FAILED) {
				record_prereq(r, it, "failed", pc.evidence, NULL, NULL);
				if (!r->interactive) {
					r->env_failure = true;
					flow = FLOW_QUIT;
				}
			} else if (pc.status == PREREQ_ASK && checked_after_setup(it)) {
				enum flow f = confirm_prereq(r, it, &pc);
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

void target_step_begin(struct exec_run *r, const struct step_state *ss)
{
	struct target *t = r->target;
	struct strbuf err = STRBUF_INIT;

	if (!t->need_db)
		return;
	char *step = step_key(ss->step);
	snprintf(t->app_name, sizeof(t->app_name), "runbook/%.200s/%s", t->runbook_key, step);
	free(step);
	if (t->conn)
		pg_set_application_name(t->conn, t->app_name, &err);
	/* psql and pg_dump started by shell blocks carry the same name */
	if (r->sh)
		shell_set_var(r->sh, "PGAPPNAME", t->app_name, &err);
	else
		setenv("PGAPPNAME", t->app_name, 1);
	strbuf_release(&err);
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

/* guard asks (or, unattended, decides) what to do once a threshold is
 * crossed; stopping interrupts the running block. */
static void guard(struct exec_run *r)
{
	static const struct choice choices[] = { { 'k', "stop the block" }, { 'w', "keep waiting" } };
	struct target *t = r->target;
	bool stop = true;
	if (r->interactive) {
		struct question q = { .kind = ASK_GUARD, .text = t->guard_reason, .choices = choices,
				      .nchoices = 2 };
		int k = ask(r, &q, NULL);
		stop = k != 'w';
		if (!stop) {
			t->guard_tripped = false;
			t->max_blocking_ms *= 2;
		}
	}
	if (stop) {
		proc_sigint_reset();
		kill(getpid(), SIGINT);
	}
}

void target_tick(struct exec_run *r)
{
	struct target *t = r->target;
	struct strbuf err = STRBUF_INIT, line = STRBUF_INIT;
	int64_t now = proc_now_ms();
	int *pids = NULL;
	size_t npids = 0;

	if (t->max_run_ms && !t->guard_tripped && now - r->t0 > t->max_run_ms) {
		t->guard_tripped = true;
		snprintf(t->guard_reason, sizeof(t->guard_reason),
			 "the run has taken longer than %lld min (rollback trigger, line %d)",
			 (long long)(t->max_run_ms / 60000), t->trigger_line);
		t->max_run_ms = 0;
		guard(r);
		return;
	}
	if (!t->monitor || now < t->next_sample_ms || t->guard_tripped)
		return;
	t->next_sample_ms = now + 1000;
	if (t->sql_running && t->sql_pid) {
		pids = xcalloc(1, sizeof(int));
		pids[0] = t->sql_pid;
		npids = 1;
	} else if (pg_sessions_by_application(t->monitor, t->app_name, &pids, &npids, &err) < 0) {
		goto out;
	}
	int64_t longest = 0;
	size_t nblocked = 0, nblocking = 0;
	for (size_t i = 0; i < npids; i++) {
		struct pg_monitor_sample s;
		if (pg_monitor_sample(t->monitor, pids[i], &s, &err) < 0) {
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
			if (s.blocked_by_us.items[k].age_ms > t->max_blocking_ms && !t->guard_tripped) {
				t->guard_tripped = true;
				snprintf(t->guard_reason, sizeof(t->guard_reason),
					 "blocked pid %d for more than %lld s (--max-blocking)",
					 s.blocked_by_us.items[k].pid, (long long)(t->max_blocking_ms / 1000));
			}
		pg_monitor_sample_release(&s);
	}
	if (line.len && strcmp(line.buf, t->last_monitor)) {
		snprintf(t->last_monitor, sizeof(t->last_monitor), "%s", line.buf);
		struct event ev = { .type = EV_MONITOR, .text = line.buf, .count = nblocked, .index = nblocking,
				    .duration_ms = longest };
		emit(r, &ev);
	}
	if (t->guard_tripped)
		guard(r);
out:
	free(pids);
	strbuf_release(&err);
	strbuf_release(&line);
}

/* target_after_block turns an interruption caused by the monitor into a
 * failure, and forgets the last monitor line. */
void target_after_block(struct exec_run *r, struct block_outcome *o)
{
	struct target *t = r->target;
	if (t->guard_tripped && o->verdict == V_INTERRUPTED) {
		o->verdict = V_FAILED;
		snprintf(o->reason, sizeof(o->reason), "%s", t->guard_reason);
		t->guard_tripped = false;
		proc_sigint_reset();
	}
	t->last_monitor[0] = '\0';
}

/* ---------- conditions ---------- */

int target_eval(struct exec_run *r, const char *sql, struct strbuf *value, struct strbuf *err)
{
	struct target *t = r->target;
	struct pg_row row = { 0 };
	if (!t->need_db && !t->target_known) {
		strbuf_addstr(err, "no database to check it against");
		return -1;
	}
	if (!t->conn && connect_target(r) < 0) {
		strbuf_addf(err, "cannot connect: %s", t->connect_error ? t->connect_error : "no connection");
		return -1;
	}
	int ret = -1;
	if (pg_query_row(t->conn, sql, &row, err) == 0) {
		if (!row.ncols || row.nrows < 1) {
			strbuf_addstr(err, "the query returned no row");
		} else {
			const char *v = row.values[0];
			strbuf_addstr(value, v ? v : "NULL");
			ret = v && (!strcmp(v, "t") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
				    !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
		}
	}
	pg_row_release(&row);
	return ret;
}
