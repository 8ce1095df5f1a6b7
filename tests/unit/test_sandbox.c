/* test_sandbox.c - throwaway clusters on the real PostgreSQL binaries:
 * start, connect, seed, describe, stop, keep, as root and as a normal user. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/proc.h"
#include "sys/sandbox.h"
#include "base/xalloc.h"

/* ---- helpers ---- */

static void start_or_fail(struct sandbox *sb, const struct sandbox_opts *opts)
{
	struct strbuf err = STRBUF_INIT;
	if (sandbox_start(sb, opts, &err) < 0)
		fail_msg("sandbox_start: %s", err.buf);
	strbuf_release(&err);
}

static void stop_or_fail(struct sandbox *sb)
{
	struct strbuf err = STRBUF_INIT;
	int r = sandbox_stop(sb, &err);
	if (r != 0)
		fail_msg("sandbox_stop returned %d: %s", r, err.buf);
	strbuf_release(&err);
}

/* psql runs `psql -X -At -c sql` the way the program's own children will:
 * the sandbox's variables added, the dangerous ones removed.  Returns its
 * exit code; its stdout (trimmed) goes to out. */
static int psql(const struct sandbox *sb, const char *sql, struct strbuf *out)
{
	char *prog = xasprintf("%s/psql", sb->bindir);
	const char *argv[] = { prog, "-X", "-At", "-c", sql, NULL };
	struct proc p = PROC_INIT;
	struct capture o, e;
	struct strbuf err = STRBUF_INIT;

	p.argv = argv;
	p.env = sandbox_env(sb);
	p.unset = sandbox_unset_vars();
	capture_init(&o, 0, NULL);
	capture_init(&e, 0, NULL);
	int code = proc_run(&p, &o, &e, 30000, NULL, &err);
	if (out) {
		strbuf_reset(out);
		strbuf_addbuf(out, &o.text);
		strbuf_trim(out);
	}
	if (code != 0)
		print_message("# psql %s: exit %d: %s%s\n", sql, code, e.text.buf, err.buf);
	capture_release(&o);
	capture_release(&e);
	strbuf_release(&err);
	free(prog);
	return code;
}

static void assert_query(const struct sandbox *sb, const char *sql, const char *expected)
{
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(psql(sb, sql, &out), 0);
	assert_string_equal(out.buf, expected);
	strbuf_release(&out);
}

static char *write_temp(const char *text)
{
	char *path = xstrdup("/tmp/test-sandbox-seed.XXXXXX.sql");
	int fd = mkstemps(path, 4);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, 0644);
	return path;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* postmaster_gone: kill(pid, 0) says no such process, or the process is a
 * zombie its new parent (whatever reaps orphans here) has not collected yet:
 * it no longer runs either way. */
static bool postmaster_gone(pid_t pid)
{
	char path[64], buf[512] = "";
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

static bool wait_postmaster_gone(pid_t pid)
{
	for (int i = 0; i < 250; i++) {
		if (postmaster_gone(pid))
			return true;
		usleep(20000);
	}
	return false;
}

static pid_t pid_from_file(const char *data_dir)
{
	char *path = xasprintf("%s/postmaster.pid", data_dir);
	FILE *f = fopen(path, "r");
	long pid = 0;
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	free(path);
	return (pid_t)pid;
}

/* ---- the whole life of a sandbox ---- */

static void start_seed_schema_stop(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;
	struct strbuf err = STRBUF_INIT, schema = STRBUF_INIT;
	struct stat st;

	start_or_fail(&sb, NULL);
	assert_true(sb.port >= 20000 && sb.port <= 59999);
	assert_string_equal(sb.user, "postgres");
	assert_string_equal(sb.dbname, "postgres");
	assert_string_equal(sb.socket_dir, sb.dir);
	assert_int_equal(stat(sb.dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	assert_query(&sb, "SELECT 1", "1");
	assert_query(&sb, "SHOW fsync", "off");
	assert_query(&sb, "SHOW synchronous_commit", "off");
	assert_query(&sb, "SHOW full_page_writes", "off");
	assert_query(&sb, "SHOW listen_addresses", "");
	assert_query(&sb, "SELECT current_user", "postgres");
	char *expect_dir = xasprintf("%s", sb.dir);
	assert_query(&sb, "SHOW unix_socket_directories", expect_dir);
	free(expect_dir);

	char *seed = write_temp("CREATE TABLE t (id int PRIMARY KEY, label text NOT NULL);\n"
				"INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 1000) g;\n");
	if (sandbox_load_sql(&sb, seed, &err) < 0)
		fail_msg("sandbox_load_sql: %s", err.buf);
	assert_query(&sb, "SELECT count(*) FROM t", "1000");

	if (sandbox_schema(&sb, &schema, &err) < 0)
		fail_msg("sandbox_schema: %s", err.buf);
	assert_non_null(strstr(schema.buf, "CREATE TABLE public.t ("));
	assert_non_null(strstr(schema.buf, "ADD CONSTRAINT t_pkey PRIMARY KEY (id)"));
	assert_null(strstr(schema.buf, "Dumped from"));
	assert_null(strstr(schema.buf, "Dumped by"));
	assert_null(strstr(schema.buf, "\nSET "));
	assert_null(strstr(schema.buf, "set_config"));
	assert_null(strstr(schema.buf, "\\restrict"));
	assert_null(strstr(schema.buf, "\n\n\n"));

	char *dir = xstrdup(sb.dir);
	pid_t pid = pid_from_file(sb.data_dir);
	assert_true(pid > 0);
	assert_int_equal(pid, sb.postmaster_pid);
	assert_int_equal(kill(pid, 0), 0);

	stop_or_fail(&sb);
	assert_false(exists(dir));
	assert_true(wait_postmaster_gone(pid));
	/* a second stop has nothing to do */
	stop_or_fail(&sb);
	/* and a stopped sandbox is not queried by mistake */
	strbuf_reset(&err);
	assert_int_equal(sandbox_load_sql(&sb, seed, &err), -1);
	assert_non_null(strstr(err.buf, "not running"));

	sandbox_release(&sb);
	unlink(seed);
	free(seed);
	free(dir);
	strbuf_release(&schema);
	strbuf_release(&err);
}

/* The environment list must win over whatever the caller's environment says:
 * a service, a password, other PG* variables pointing elsewhere. */
static void env_reaches_the_sandbox_only(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;
	char port[16];

	start_or_fail(&sb, NULL);
	snprintf(port, sizeof(port), "PGPORT=%d", sb.port);
	const char *const *env = sandbox_env(&sb);
	assert_non_null(env);
	bool seen_url = false, seen_host = false, seen_port = false, seen_user = false, seen_db = false;
	size_t n = 0;
	for (; env[n]; n++) {
		seen_url |= !strncmp(env[n], "DATABASE_URL=postgresql:///postgres?host=", 41);
		seen_host |= !strncmp(env[n], "PGHOST=", 7) && !strcmp(env[n] + 7, sb.socket_dir);
		seen_port |= !strcmp(env[n], port);
		seen_user |= !strcmp(env[n], "PGUSER=postgres");
		seen_db |= !strcmp(env[n], "PGDATABASE=postgres");
	}
	assert_int_equal(n, 5);
	assert_true(seen_url && seen_host && seen_port && seen_user && seen_db);

	const char *const *unset = sandbox_unset_vars();
	const char *must[] = { "PGPASSWORD", "PGSERVICE", "PGSERVICEFILE", "PGSSLMODE",
			       "PGHOSTADDR", "PGOPTIONS" };
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		bool found = false;
		for (size_t j = 0; unset[j]; j++)
			found |= !strcmp(unset[j], must[i]);
		assert_true(found);
	}

	char *saved_host = xstrdup(getenv("PGHOST") ? getenv("PGHOST") : "/tmp");
	char *saved_port = xstrdup(getenv("PGPORT") ? getenv("PGPORT") : "5432");
	/* a hostile environment: each of these alone would send psql elsewhere
	 * or make it fail */
	setenv("PGSERVICE", "no_such_service", 1);
	setenv("PGHOSTADDR", "192.0.2.1", 1);
	setenv("PGOPTIONS", "-c search_path=nowhere", 1);
	setenv("PGHOST", "/nonexistent", 1);
	setenv("PGPORT", "1", 1);
	setenv("PGPASSWORD", "secret", 1);
	assert_query(&sb, "SELECT current_setting('search_path')", "\"$user\", public");
	/* DATABASE_URL alone, as the program's own libpq code will use it:
	 * the URI beats the PGHOST and PGPORT still pointing elsewhere */
	char *prog = xasprintf("%s/psql", sb.bindir);
	const char *argv[] = { prog, "-X", "-At", "-d", sb.conninfo, "-c",
			       "SELECT current_setting('port')", NULL };
	struct proc p = PROC_INIT;
	struct capture o, e;
	struct strbuf err = STRBUF_INIT;
	p.argv = argv;
	p.unset = sandbox_unset_vars();
	capture_init(&o, 0, NULL);
	capture_init(&e, 0, NULL);
	assert_int_equal(proc_run(&p, &o, &e, 30000, NULL, &err), 0);
	assert_int_equal(atoi(o.text.buf), sb.port);
	capture_release(&o);
	capture_release(&e);
	strbuf_release(&err);
	free(prog);
	unsetenv("PGSERVICE");
	unsetenv("PGHOSTADDR");
	unsetenv("PGOPTIONS");
	unsetenv("PGPASSWORD");
	setenv("PGHOST", saved_host, 1);
	setenv("PGPORT", saved_port, 1);
	free(saved_host);
	free(saved_port);

	stop_or_fail(&sb);
	sandbox_release(&sb);
}

static void keep_leaves_it_running(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;
	struct sandbox_opts opts = { .keep = true };
	struct strbuf msg = STRBUF_INIT;

	start_or_fail(&sb, &opts);
	pid_t pid = sb.postmaster_pid;
	char *dir = xstrdup(sb.dir);
	assert_int_equal(sandbox_stop(&sb, &msg), 1);
	assert_non_null(strstr(msg.buf, sb.dir));
	assert_non_null(strstr(msg.buf, sb.conninfo));
	assert_non_null(strstr(msg.buf, "pg_ctl"));
	assert_true(exists(sb.data_dir));
	assert_int_equal(kill(pid, 0), 0);
	assert_query(&sb, "SELECT 42", "42");
	/* still kept: a second stop changes nothing */
	assert_int_equal(sandbox_stop(&sb, &msg), 1);
	assert_query(&sb, "SELECT 43", "43");

	sb.keep = false;
	stop_or_fail(&sb);
	assert_false(exists(dir));
	assert_true(wait_postmaster_gone(pid));
	sandbox_release(&sb);
	free(dir);
	strbuf_release(&msg);
}

/* The stop command printed for --keep works in a shell, after this program
 * has let go of the sandbox. */
static void kept_stop_command_works(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;
	struct sandbox_opts opts = { .keep = true };
	struct strbuf msg = STRBUF_INIT, err = STRBUF_INIT;

	start_or_fail(&sb, &opts);
	pid_t pid = sb.postmaster_pid;
	char *dir = xstrdup(sb.dir);
	assert_int_equal(sandbox_stop(&sb, &msg), 1);
	sandbox_release(&sb);
	assert_true(exists(dir));
	assert_int_equal(kill(pid, 0), 0);

	const char *stop = strstr(msg.buf, "  stop:    ");
	assert_non_null(stop);
	stop += strlen("  stop:    ");
	char *cmd = xstrndup(stop, strcspn(stop, "\n"));
	const char *argv[] = { "sh", "-c", cmd, NULL };
	struct proc p = PROC_INIT;
	struct capture o, e;
	capture_init(&o, 0, NULL);
	capture_init(&e, 0, NULL);
	p.argv = argv;
	int code = proc_run(&p, &o, &e, 60000, NULL, &err);
	if (code != 0)
		fail_msg("%s: exit %d: %s%s%s", cmd, code, o.text.buf, e.text.buf, err.buf);
	assert_false(exists(dir));
	assert_true(wait_postmaster_gone(pid));
	capture_release(&o);
	capture_release(&e);
	free(cmd);
	free(dir);
	strbuf_release(&msg);
	strbuf_release(&err);
}

static void seed_error_is_reported_with_its_line(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;
	struct strbuf err = STRBUF_INIT;

	start_or_fail(&sb, NULL);
	char *seed = write_temp("CREATE TABLE a (id int);\n"
				"INSERT INTO a VALUES (1);\n"
				"INSERT INTO no_such_table VALUES (2);\n"
				"CREATE TABLE b (id int);\n");
	assert_int_equal(sandbox_load_sql(&sb, seed, &err), -1);
	assert_non_null(strstr(err.buf, "sandbox: loading "));
	assert_non_null(strstr(err.buf, "failed (psql exit 3)"));
	assert_non_null(strstr(err.buf, "relation \"no_such_table\" does not exist"));
	char *where = xasprintf("%s:3: ERROR:", seed);
	if (!strstr(err.buf, where))
		fail_msg("no %s in: %s", where, err.buf);
	free(where);
	/* ON_ERROR_STOP: nothing after the error ran */
	assert_query(&sb, "SELECT to_regclass('public.b') IS NULL", "t");
	assert_query(&sb, "SELECT count(*) FROM a", "1");

	strbuf_reset(&err);
	assert_int_equal(sandbox_load_sql(&sb, "/nonexistent/seed.sql", &err), -1);
	assert_string_equal(err.buf,
			    "sandbox: seed file /nonexistent/seed.sql: No such file or directory");

	unlink(seed);
	free(seed);
	stop_or_fail(&sb);
	sandbox_release(&sb);
	strbuf_release(&err);
}

/* A server that refuses to start: the reason from its log is in the
 * message, and nothing is left running or on disk. */
static void failed_start_shows_the_log(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;
	struct strbuf err = STRBUF_INIT;
	char base[] = "/tmp/test-sandbox-base.XXXXXX";
	const char *settings[] = { "no_such_setting = 1", NULL };
	struct sandbox_opts opts = { .base_dir = base, .settings = settings };

	assert_non_null(mkdtemp(base));
	chmod(base, 0755);
	assert_int_equal(sandbox_start(&sb, &opts, &err), -1);
	if (!strstr(err.buf, "sandbox: the server did not start (pg_ctl exit 1):") ||
	    !strstr(err.buf, "unrecognized configuration parameter \"no_such_setting\""))
		fail_msg("unexpected message: %s", err.buf);
	assert_false(sb.running);
	sandbox_release(&sb);
	/* the sandbox directory is gone: base is empty again */
	assert_int_equal(rmdir(base), 0);
	strbuf_release(&err);
}

/* Settings are passed on to the server. */
static void extra_settings_apply(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;
	const char *settings[] = { "max_connections = 17", "application_name = 'it''s me'", NULL };
	struct sandbox_opts opts = { .settings = settings };

	start_or_fail(&sb, &opts);
	assert_query(&sb, "SHOW max_connections", "17");
	stop_or_fail(&sb);
	sandbox_release(&sb);
}

static void two_at_once(void **state)
{
	(void)state;
	struct sandbox a = SANDBOX_INIT, b = SANDBOX_INIT;
	struct strbuf err = STRBUF_INIT, schema_a = STRBUF_INIT, schema_b = STRBUF_INIT;

	start_or_fail(&a, NULL);
	start_or_fail(&b, NULL);
	assert_int_not_equal(a.port, b.port);
	assert_string_not_equal(a.dir, b.dir);
	assert_string_not_equal(a.conninfo, b.conninfo);
	assert_int_not_equal(a.postmaster_pid, b.postmaster_pid);

	assert_query(&a, "CREATE TABLE only_in_a (x int)", "CREATE TABLE");
	assert_query(&a, "SELECT to_regclass('only_in_a') IS NOT NULL", "t");
	assert_query(&b, "SELECT to_regclass('only_in_a') IS NULL", "t");

	/* the same schema in two clusters describes the same */
	assert_query(&b, "CREATE TABLE only_in_a (x int)", "CREATE TABLE");
	if (sandbox_schema(&a, &schema_a, &err) < 0 || sandbox_schema(&b, &schema_b, &err) < 0)
		fail_msg("sandbox_schema: %s", err.buf);
	assert_string_equal(schema_a.buf, schema_b.buf);

	char *dir_a = xstrdup(a.dir);
	stop_or_fail(&a);
	assert_false(exists(dir_a));
	assert_query(&b, "SELECT 1", "1");
	stop_or_fail(&b);

	sandbox_release(&a);
	sandbox_release(&b);
	free(dir_a);
	strbuf_release(&err);
	strbuf_release(&schema_a);
	strbuf_release(&schema_b);
}

static void missing_binaries_are_named(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;
	struct strbuf err = STRBUF_INIT;
	char empty[] = "/tmp/test-sandbox-bin.XXXXXX";
	char *found = NULL;

	assert_non_null(mkdtemp(empty));
	struct sandbox_opts opts = { .bindir = empty };
	assert_int_equal(sandbox_start(&sb, &opts, &err), -1);
	assert_non_null(strstr(err.buf, "sandbox: no PostgreSQL server binaries found"));
	assert_non_null(strstr(err.buf, empty));
	assert_null(sb.dir);
	sandbox_release(&sb);

	strbuf_reset(&err);
	assert_int_equal(sandbox_find_bindir(empty, &found, &err), -1);
	assert_null(found);
	assert_non_null(strstr(err.buf, "initdb, pg_ctl and postgres"));

	strbuf_reset(&err);
	if (sandbox_find_bindir(NULL, &found, &err) < 0)
		fail_msg("%s", err.buf);
	char *initdb = xasprintf("%s/initdb", found);
	assert_int_equal(access(initdb, X_OK), 0);
	free(initdb);
	free(found);
	rmdir(empty);
	strbuf_release(&err);
}

static void log_line(void *data, const char *line)
{
	strbuf_addstr(data, line);
	strbuf_addch(data, '\n');
}

static void log_callback_tells_progress(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;
	struct strbuf lines = STRBUF_INIT;
	struct sandbox_opts opts = { .log = log_line, .log_data = &lines };

	start_or_fail(&sb, &opts);
	assert_non_null(strstr(lines.buf, "sandbox: initdb "));
	assert_non_null(strstr(lines.buf, "sandbox: PostgreSQL ready in "));
	stop_or_fail(&sb);
	assert_non_null(strstr(lines.buf, "sandbox: stopping PostgreSQL"));
	sandbox_release(&sb);
	strbuf_release(&lines);
}

/* ---- root and normal user ---- */

/* The server process belongs to the OS user the header promises. */
static void root_runs_server_as_postgres_or_nobody(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		struct sandbox sb = SANDBOX_INIT;
		start_or_fail(&sb, NULL);
		assert_false(sb.run_as_other);
		assert_int_equal(sb.uid, geteuid());
		stop_or_fail(&sb);
		sandbox_release(&sb);
		return;
	}
	const char *users[] = { NULL, "nobody" };
	for (size_t i = 0; i < 2; i++) {
		struct sandbox sb = SANDBOX_INIT;
		struct sandbox_opts opts = { .run_as = users[i] };
		struct stat st;
		char proc_path[64];

		start_or_fail(&sb, &opts);
		const char *expect = users[i] ? users[i] : getpwnam("postgres") ? "postgres" : "nobody";
		struct passwd *pw = getpwnam(expect);
		assert_non_null(pw);
		assert_true(sb.run_as_other);
		assert_string_equal(sb.os_user, expect);
		assert_int_equal(sb.uid, pw->pw_uid);
		assert_int_equal(stat(sb.dir, &st), 0);
		assert_int_equal(st.st_uid, pw->pw_uid);
		assert_int_equal(st.st_mode & 0777, 0700);
		snprintf(proc_path, sizeof(proc_path), "/proc/%d", (int)sb.postmaster_pid);
		assert_int_equal(stat(proc_path, &st), 0);
		assert_int_equal(st.st_uid, pw->pw_uid);
		assert_query(&sb, "SELECT current_user", "postgres");
		stop_or_fail(&sb);
		sandbox_release(&sb);
	}
}

/* As root with TMPDIR in a place the server's user cannot enter, the
 * message says which directory and what to do. */
static void root_unreachable_tmpdir_is_explained(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	char base[] = "/tmp/test-sandbox-private.XXXXXX";
	struct sandbox sb = SANDBOX_INIT;
	struct strbuf err = STRBUF_INIT;

	assert_non_null(mkdtemp(base));
	assert_int_equal(chmod(base, 0700), 0);
	struct sandbox_opts opts = { .base_dir = base };
	assert_int_equal(sandbox_start(&sb, &opts, &err), -1);
	assert_non_null(strstr(err.buf, "which cannot enter"));
	assert_non_null(strstr(err.buf, base));
	assert_non_null(strstr(err.buf, "set TMPDIR"));
	sandbox_release(&sb);
	assert_int_equal(rmdir(base), 0);
	strbuf_release(&err);
}

/* normal_user_cycle is the whole path as whoever we are, reporting through
 * its return value: 0 when everything worked. */
static int normal_user_cycle(const char *tmpdir)
{
	struct sandbox sb = SANDBOX_INIT;
	struct strbuf err = STRBUF_INIT, out = STRBUF_INIT;
	int ret = 1;

	if (sandbox_start(&sb, NULL, &err) < 0) {
		fprintf(stderr, "# as uid %d: %s\n", (int)geteuid(), err.buf);
		goto out;
	}
	if (sb.run_as_other || sb.uid != geteuid() || strncmp(sb.dir, tmpdir, strlen(tmpdir)) != 0) {
		fprintf(stderr, "# as uid %d: run_as_other %d uid %d dir %s\n", (int)geteuid(),
			sb.run_as_other, (int)sb.uid, sb.dir);
		goto out;
	}
	if (psql(&sb, "SELECT current_user", &out) != 0 || strcmp(out.buf, "postgres") != 0) {
		fprintf(stderr, "# as uid %d: query gave '%s'\n", (int)geteuid(), out.buf);
		goto out;
	}
	char *dir = xstrdup(sb.dir);
	pid_t pid = sb.postmaster_pid;
	if (sandbox_stop(&sb, &err) != 0) {
		fprintf(stderr, "# as uid %d: stop: %s\n", (int)geteuid(), err.buf);
		free(dir);
		goto out;
	}
	ret = exists(dir) || !wait_postmaster_gone(pid) ? 1 : 0;
	if (ret)
		fprintf(stderr, "# as uid %d: %s or pid %d left behind\n", (int)geteuid(), dir, (int)pid);
	free(dir);
out:
	sandbox_release(&sb);
	strbuf_release(&err);
	strbuf_release(&out);
	return ret;
}

static void as_a_normal_user(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		const char *tmp = getenv("TMPDIR");
		char *real = realpath(tmp && *tmp ? tmp : "/tmp", NULL);
		assert_int_equal(normal_user_cycle(real), 0);
		free(real);
		return;
	}

	struct passwd *pw = getpwnam("nobody");
	assert_non_null(pw);
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	char home[] = "/tmp/test-sandbox-nobody.XXXXXX";
	assert_non_null(mkdtemp(home));
	assert_int_equal(chown(home, uid, gid), 0);

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
			fprintf(stderr, "# drop privileges: %s\n", strerror(errno));
			_exit(2);
		}
		/* setuid clears the dumpable flag; LeakSanitizer (make asan)
		 * inspects the process with ptrace at exit, which the kernel
		 * may refuse for a non-dumpable process, so set it back and
		 * keep leak detection on in this child too */
		prctl(PR_SET_DUMPABLE, 1);
		setenv("HOME", home, 1);
		setenv("TMPDIR", home, 1);
		if (chdir(home) < 0)
			_exit(2);
		exit(normal_user_cycle(home));
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(rmdir(home), 0);
}

/* The cleanup path after Ctrl-C: the program has routed SIGINT to proc's
 * self-pipe and one is still pending when it stops the sandbox. */
static void stop_works_after_interrupt(void **state)
{
	(void)state;
	struct sandbox sb = SANDBOX_INIT;

	start_or_fail(&sb, NULL);
	char *dir = xstrdup(sb.dir);
	pid_t pid = sb.postmaster_pid;
	assert_true(proc_signals_install() >= 0);
	raise(SIGINT);
	stop_or_fail(&sb);
	assert_false(exists(dir));
	assert_true(wait_postmaster_gone(pid));
	sandbox_release(&sb);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(start_seed_schema_stop),
		cmocka_unit_test(env_reaches_the_sandbox_only),
		cmocka_unit_test(keep_leaves_it_running),
		cmocka_unit_test(kept_stop_command_works),
		cmocka_unit_test(seed_error_is_reported_with_its_line),
		cmocka_unit_test(failed_start_shows_the_log),
		cmocka_unit_test(extra_settings_apply),
		cmocka_unit_test(two_at_once),
		cmocka_unit_test(missing_binaries_are_named),
		cmocka_unit_test(log_callback_tells_progress),
		cmocka_unit_test(root_runs_server_as_postgres_or_nobody),
		cmocka_unit_test(root_unreachable_tmpdir_is_explained),
		cmocka_unit_test(as_a_normal_user),
		/* last: it installs proc's signal handlers for good */
		cmocka_unit_test(stop_works_after_interrupt),
	};
	return cmocka_run_group_tests_name("sandbox", tests, NULL, NULL);
}
