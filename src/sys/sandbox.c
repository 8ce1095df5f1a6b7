/* sandbox.c - a throwaway PostgreSQL cluster driven through initdb, pg_ctl,
 * psql and pg_dump. */
#define _GNU_SOURCE
#include "sys/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sys/proc.h"
#include "base/xalloc.h"

#define PORT_MIN 20000
#define PORT_SPAN 40000
#define START_ATTEMPTS 3
#define TAIL_LINES 20
#define TOOL_CAPTURE_CAP ((size_t)1 << 20)   /* a tool's chatter: only its tail is reported */
#define SCHEMA_CAPTURE_CAP ((size_t)256 << 20) /* a schema dump is used whole */

static const char *const unset_vars[] = {
	"PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGSSLMODE", "PGREQUIRESSL",
	"PGGSSENCMODE", "PGHOSTADDR", "PGOPTIONS", "PGTARGETSESSIONATTRS", "PGCONNECT_TIMEOUT",
	NULL,
};

/* The server tools also lose the client variables: postgres takes its
 * default port from PGPORT, and pg_ctl its data directory from PGDATA. */
static const char *const server_unset_vars[] = {
	"PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGSSLMODE", "PGREQUIRESSL",
	"PGGSSENCMODE", "PGHOSTADDR", "PGOPTIONS", "PGTARGETSESSIONATTRS", "PGCONNECT_TIMEOUT",
	"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGDATA", "DATABASE_URL", "LANG", "LANGUAGE",
	NULL,
};

const char *const *sandbox_unset_vars(void)
{
	return unset_vars;
}

const char *const *sandbox_env(const struct sandbox *sb)
{
	return (const char *const *)sb->env;
}

__attribute__((format(printf, 2, 3))) static void say(const struct sandbox *sb, const char *fmt,
						      ...)
{
	struct strbuf line = STRBUF_INIT;
	va_list ap;

	if (!sb->log)
		return;
	va_start(ap, fmt);
	strbuf_vaddf(&line, fmt, ap);
	va_end(ap);
	sb->log(sb->log_data, line.buf);
	strbuf_release(&line);
}

/* add_tail appends the last `lines` lines of text, each indented, so that an
 * error shows what the tool said last, which is where its reason is. */
static void add_tail(struct strbuf *out, const char *text, size_t len, int lines)
{
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	size_t start = len;
	int seen = 0;
	while (start > 0) {
		if (text[start - 1] == '\n' && ++seen == lines)
			break;
		start--;
	}
	const char *p = text + start, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		strbuf_addstr(out, "\n  ");
		strbuf_add(out, p, n);
		p += n + (nl ? 1 : 0);
	}
}

static void add_tool_output(struct strbuf *out, const struct capture *o, const struct capture *e)
{
	if (o && o->text.len)
		add_tail(out, o->text.buf, o->text.len, TAIL_LINES);
	if (e && e->text.len)
		add_tail(out, e->text.buf, e->text.len, TAIL_LINES);
}

static void add_file_tail(struct strbuf *out, const char *label, const char *path)
{
	struct strbuf text = STRBUF_INIT;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		strbuf_read_fd(&text, fd);
		close(fd);
	}
	if (text.len) {
		strbuf_addf(out, "\n%s, last lines:", label);
		add_tail(out, text.buf, text.len, TAIL_LINES);
	}
	strbuf_release(&text);
}

/* shell_quote appends s in single quotes for the instructions we hand out. */
static void shell_quote(struct strbuf *out, const char *s)
{
	strbuf_addch(out, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			strbuf_addstr(out, "'\\''");
		else
			strbuf_addch(out, *s);
	}
	strbuf_addch(out, '\'');
}

static void uri_encode(struct strbuf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("/-._~", c)) {
			strbuf_addch(out, c);
		} else {
			strbuf_addch(out, '%');
			strbuf_addch(out, hex[c >> 4]);
			strbuf_addch(out, hex[c & 15]);
		}
	}
}

/* ---------- finding the server binaries ---------- */

static bool is_executable(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	bool ok = stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
	free(path);
	return ok;
}

static bool has_server_binaries(const char *dir)
{
	return is_executable(dir, "initdb") && is_executable(dir, "pg_ctl") &&
	       is_executable(dir, "postgres");
}

static char *bindir_from_pg_config(void)
{
	const char *argv[] = { "pg_config", "--bindir", NULL };
	struct proc p = PROC_INIT;
	struct capture out, errc;
	struct strbuf ignored = STRBUF_INIT;
	char *dir = NULL;

	p.argv = argv;
	capture_init(&out, 4096, NULL);
	capture_init(&errc, 4096, NULL);
	if (proc_run(&p, &out, &errc, 10000, NULL, &ignored) == 0) {
		strbuf_trim(&out.text);
		if (out.text.len && has_server_binaries(out.text.buf))
			dir = xstrdup(out.text.buf);
	}
	capture_release(&out);
	capture_release(&errc);
	strbuf_release(&ignored);
	return dir;
}

static char *bindir_from_path(void)
{
	char *initdb = proc_find_program("initdb");
	char *dir = NULL;

	if (initdb) {
		char *real = realpath(initdb, NULL);
		if (real) {
			char *slash = strrchr(real, '/');
			*slash = '\0';
			if (has_server_binaries(*real ? real : "/"))
				dir = xstrdup(*real ? real : "/");
			free(real);
		}
		free(initdb);
	}
	return dir;
}

static int newest_first(const void *a, const void *b)
{
	return strverscmp(*(char *const *)b, *(char *const *)a);
}

static char *bindir_from_debian_layout(void)
{
	glob_t g;
	char *dir = NULL;

	if (glob("/usr/lib/postgresql/*/bin", GLOB_ONLYDIR, NULL, &g) != 0)
		return NULL;
	qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), newest_first);
	for (size_t i = 0; i < g.gl_pathc && !dir; i++)
		if (has_server_binaries(g.gl_pathv[i]))
			dir = xstrdup(g.gl_pathv[i]);
	globfree(&g);
	return dir;
}

int sandbox_find_bindir(const char *override, char **bindir, struct strbuf *err)
{
	*bindir = NULL;
	if (override) {
		if (has_server_binaries(override)) {
			*bindir = xstrdup(override);
			return 0;
		}
		strbuf_addf(err,
			    "sandbox: no PostgreSQL server binaries found in %s: it needs initdb, pg_ctl "
			    "and postgres",
			    override);
		return -1;
	}
	*bindir = bindir_from_pg_config();
	if (!*bindir)
		*bindir = bindir_from_path();
	if (!*bindir)
		*bindir = bindir_from_debian_layout();
	if (*bindir)
		return 0;
	strbuf_addstr(err, "sandbox: no PostgreSQL server binaries found: install postgresql "
			   "(looked in pg_config --bindir, PATH, /usr/lib/postgresql/*/bin)");
	return -1;
}

/* ---------- ports ---------- */

/* Ports handed out to the sandboxes of this process: the socket directories
 * differ, so a shared port would work, but distinct ones keep the two
 * clusters apart in every log and message. */
static int ports_in_use[32];

static bool port_taken(int port)
{
	for (size_t i = 0; i < sizeof(ports_in_use) / sizeof(ports_in_use[0]); i++)
		if (ports_in_use[i] == port)
			return true;
	return false;
}

static void port_set(int old_port, int new_port)
{
	for (size_t i = 0; i < sizeof(ports_in_use) / sizeof(ports_in_use[0]); i++)
		if (ports_in_use[i] == old_port) {
			ports_in_use[i] = new_port;
			return;
		}
}

static int random_port(void)
{
	for (;;) {
		unsigned int r;
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (unsigned int)time(NULL) * 2654435761u ^ (unsigned int)getpid() ^
			    (unsigned int)rand();
		int port = PORT_MIN + (int)(r % PORT_SPAN);
		if (!port_taken(port))
			return port;
	}
}

/* ---------- running the tools ---------- */

/* run_tool runs argv to completion, as the server's OS user when as_server
 * is set, with the sandbox's client environment when the cluster is up.
 * Returns the exit code, or -1 with a message in err when it did not run. */
static int run_tool(struct sandbox *sb, const char *const *argv, bool as_server, int64_t timeout_ms,
		    size_t out_cap, struct capture *out, struct capture *errc, struct strbuf *err)
{
	struct proc p = PROC_INIT;
	const char *env[4] = { NULL };
	char *home = NULL, *pwd = NULL;
	struct strbuf why = STRBUF_INIT;
	bool timed_out = false;
	int code;

	capture_init(out, out_cap, NULL);
	capture_init(errc, TOOL_CAPTURE_CAP, NULL);
	p.argv = argv;
	if (as_server) {
		/* The tools run in the sandbox directory with it as HOME, both
		 * readable by the server user whoever that is; LC_ALL=C keeps
		 * their messages in the language this module reports in. */
		home = xasprintf("HOME=%s", sb->dir);
		pwd = xasprintf("PWD=%s", sb->dir);
		env[0] = home;
		env[1] = pwd;
		env[2] = "LC_ALL=C";
		p.env = env;
		p.unset = server_unset_vars;
		p.dir = sb->dir;
		if (sb->run_as_other) {
			p.switch_user = true;
			p.uid = sb->uid;
			p.gid = sb->gid;
		}
	} else {
		p.env = (const char *const *)sb->env;
		p.unset = unset_vars;
	}
	code = proc_run(&p, out, errc, timeout_ms, &timed_out, &why);
	if (code < 0) {
		strbuf_addf(err, "sandbox: %s", why.buf);
	} else if (timed_out) {
		strbuf_addf(err, "sandbox: %s did not finish within %lld s", argv[0],
			    (long long)(timeout_ms / 1000));
		code = -1;
	}
	strbuf_release(&why);
	free(home);
	free(pwd);
	return code;
}

/* ---------- the server's user and directory ---------- */

static int choose_user(struct sandbox *sb, const struct sandbox_opts *opts, struct strbuf *err)
{
	const char *name = opts->run_as;
	struct passwd *pw;

	if (geteuid() != 0) {
		sb->run_as_other = false;
		sb->uid = getuid();
		sb->gid = getgid();
		return 0;
	}
	if (!name)
		name = getpwnam("postgres") ? "postgres" : "nobody";
	pw = getpwnam(name);
	if (!pw) {
		strbuf_addf(err,
			    "sandbox: PostgreSQL refuses to run as root and there is no OS user '%s' "
			    "to run it as: create one, or run as a normal user",
			    name);
		return -1;
	}
	if (pw->pw_uid == 0) {
		strbuf_addf(err, "sandbox: OS user '%s' is root; PostgreSQL needs an unprivileged user",
			    name);
		return -1;
	}
	sb->run_as_other = true;
	sb->os_user = xstrdup(name);
	sb->uid = pw->pw_uid;
	sb->gid = pw->pw_gid;
	return 0;
}

/* can_enter tells whether uid/gid may search directory path, judged by its
 * mode bits alone: proc drops supplementary groups, so only gid counts. */
static bool can_enter(const char *path, uid_t uid, gid_t gid, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	if (stat(path, st) < 0)
		return false;
	if (st->st_uid == uid)
		return st->st_mode & S_IXUSR;
	if (st->st_gid == gid)
		return st->st_mode & S_IXGRP;
	return st->st_mode & S_IXOTH;
}

static int check_reachable(const struct sandbox *sb, const char *base, struct strbuf *err)
{
	struct strbuf prefix = STRBUF_INIT;
	const char *p = base;
	int ret = 0;

	/* "/", then "/a", "/a/b", ... up to base itself (absolute, resolved) */
	strbuf_addch(&prefix, '/');
	for (;;) {
		struct stat st;
		if (!can_enter(prefix.buf, sb->uid, sb->gid, &st)) {
			strbuf_addf(err,
				    "sandbox: the server runs as OS user '%s', which cannot enter %s "
				    "(mode %04o): set TMPDIR to a directory it can reach, e.g. /tmp",
				    sb->os_user, prefix.buf, (unsigned int)(st.st_mode & 07777));
			ret = -1;
			break;
		}
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, "/");
		if (prefix.len > 1)
			strbuf_addch(&prefix, '/');
		strbuf_add(&prefix, p, n);
		p += n;
	}
	strbuf_release(&prefix);
	return ret;
}

static int make_dir(struct sandbox *sb, const struct sandbox_opts *opts, struct strbuf *err)
{
	const char *given = opts->base_dir;
	char *base = NULL, *template = NULL;
	int ret = -1;

	if (!given || !*given)
		given = getenv("TMPDIR");
	if (!given || !*given)
		given = "/tmp";
	base = realpath(given, NULL);
	if (!base) {
		strbuf_addf(err, "sandbox: temporary directory %s: %s (set TMPDIR to a writable directory)",
			    given, strerror(errno));
		goto out;
	}
	/* pg_ctl passes paths to the shell inside double quotes, and
	 * postgresql.conf treats backslashes as escapes */
	if (strpbrk(base, "\"$`\\\n")) {
		strbuf_addf(err,
			    "sandbox: temporary directory %s contains characters PostgreSQL's tools "
			    "cannot quote: set TMPDIR to a plain path such as /tmp",
			    base);
		goto out;
	}
	template = xasprintf("%s/runbook-sandbox.XXXXXX", base);
	/* the socket "DIR/.s.PGSQL.NNNNN" must fit in sockaddr_un */
	if (strlen(template) + strlen("/.s.PGSQL.NNNNN") >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		strbuf_addf(err,
			    "sandbox: temporary directory %s is too long for a Unix socket path: set "
			    "TMPDIR to a shorter one such as /tmp",
			    base);
		goto out;
	}
	if (sb->run_as_other && check_reachable(sb, base, err) < 0)
		goto out;
	if (!mkdtemp(template)) {
		strbuf_addf(err,
			    "sandbox: cannot create a directory in %s: %s (set TMPDIR to a writable "
			    "directory)",
			    base, strerror(errno));
		goto out;
	}
	sb->dir = template;
	template = NULL;
	if (sb->run_as_other && chown(sb->dir, sb->uid, sb->gid) < 0) {
		strbuf_addf(err, "sandbox: chown %s to %s: %s", sb->dir, sb->os_user, strerror(errno));
		goto out;
	}
	sb->data_dir = xasprintf("%s/data", sb->dir);
	sb->log_path = xasprintf("%s/server.log", sb->dir);
	sb->socket_dir = xstrdup(sb->dir);
	ret = 0;
out:
	free(base);
	free(template);
	return ret;
}

static int write_config(const struct sandbox *sb, const char *const *settings, struct strbuf *err)
{
	struct strbuf conf = STRBUF_INIT;
	char *path = xasprintf("%s/postgresql.conf", sb->data_dir);
	int ret = -1;

	strbuf_addstr(&conf, "\n# runbook sandbox: Unix socket only, durability off\n"
			     "listen_addresses = ''\n"
			     "unix_socket_directories = '");
	for (const char *s = sb->socket_dir; *s; s++) {
		if (*s == '\'')
			strbuf_addch(&conf, '\'');
		strbuf_addch(&conf, *s);
	}
	strbuf_addstr(&conf, "'\n"
			     "unix_socket_permissions = 0700\n"
			     "fsync = off\n"
			     "synchronous_commit = off\n"
			     "full_page_writes = off\n");
	for (size_t i = 0; settings && settings[i]; i++) {
		strbuf_addstr(&conf, settings[i]);
		strbuf_addch(&conf, '\n');
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		strbuf_addf(err, "sandbox: %s: %s", path, strerror(errno));
		goto out;
	}
	if (write(fd, conf.buf, conf.len) != (ssize_t)conf.len) {
		strbuf_addf(err, "sandbox: writing %s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) < 0) {
		strbuf_addf(err, "sandbox: writing %s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	strbuf_release(&conf);
	free(path);
	return ret;
}

/* ---------- the postmaster ---------- */

static pid_t read_postmaster_pid(const struct sandbox *sb)
{
	char *path = xasprintf("%s/postmaster.pid", sb->data_dir);
	char line[32] = "";
	FILE *f = fopen(path, "re");
	pid_t pid = 0;

	if (f) {
		if (fgets(line, sizeof(line), f))
			pid = (pid_t)strtol(line, NULL, 10);
		fclose(f);
	}
	free(path);
	return pid > 0 ? pid : 0;
}

static bool pidfile_exists(const struct sandbox *sb)
{
	char *path = xasprintf("%s/postmaster.pid", sb->data_dir);
	bool exists = access(path, F_OK) == 0;
	free(path);
	return exists;
}

/* process_gone: no such process, or a zombie that its new parent has not
 * reaped yet (pg_ctl daemonizes the postmaster, so it is not our child). */
static bool process_gone(pid_t pid)
{
	char path[64], buf[512];
	int fd;
	ssize_t n;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static bool wait_gone(pid_t pid, int ms)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	for (int waited = 0; waited < ms; waited += 20) {
		if (process_gone(pid))
			return true;
		nanosleep(&tick, NULL);
	}
	return process_gone(pid);
}

/* owned_by_server checks that pid still belongs to the server's user, so
 * that a stale pid file never makes us signal someone else's process. */
static bool owned_by_server(const struct sandbox *sb, pid_t pid)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) == 0 && st.st_uid == sb->uid;
}

static int pg_ctl_stop(struct sandbox *sb, const char *mode, struct strbuf *why)
{
	char *pg_ctl = xasprintf("%s/pg_ctl", sb->bindir);
	const char *argv[] = { pg_ctl, "-D", sb->data_dir, "-m", mode, "-w", "-t", "30", "stop", NULL };
	struct capture out, errc;
	int code = run_tool(sb, argv, true, 40000, TOOL_CAPTURE_CAP, &out, &errc, why);
	if (code > 0) {
		strbuf_addf(why, "\npg_ctl stop -m %s (exit %d):", mode, code);
		add_tool_output(why, &out, &errc);
	}
	capture_release(&out);
	capture_release(&errc);
	free(pg_ctl);
	return code;
}

/* stop_server stops whatever runs on the data directory: pg_ctl fast, then
 * immediate, then SIGQUIT and SIGKILL to the postmaster, and returns 0 once
 * the postmaster is gone. */
static int stop_server(struct sandbox *sb, struct strbuf *err)
{
	struct strbuf why = STRBUF_INIT;
	pid_t pid = read_postmaster_pid(sb);
	int ret = 0;

	if (!pid)
		pid = sb->postmaster_pid;
	if (pidfile_exists(sb) && pg_ctl_stop(sb, "fast", &why) != 0)
		pg_ctl_stop(sb, "immediate", &why);
	if (pid && !wait_gone(pid, 5000) && owned_by_server(sb, pid)) {
		kill(pid, SIGQUIT);
		if (!wait_gone(pid, 5000)) {
			kill(pid, SIGKILL);
			wait_gone(pid, 5000);
		}
	}
	if (pid && !process_gone(pid)) {
		strbuf_addf(err, "sandbox: the postmaster (pid %d) of %s does not exit", (int)pid,
			    sb->data_dir);
		if (why.len)
			strbuf_addf(err, ":%s", why.buf);
		ret = -1;
	}
	strbuf_release(&why);
	return ret;
}

/* ---------- removing the directory ---------- */

static char *remove_failed_path;
static int remove_failed_errno;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT && !remove_failed_path) {
		remove_failed_path = xstrdup(path);
		remove_failed_errno = errno;
	}
	return 0;
}

static int remove_tree(const char *dir, struct strbuf *err)
{
	int ret = 0;
	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT) {
		strbuf_addf(err, "sandbox: removing %s: %s", dir, strerror(errno));
		ret = -1;
	} else if (remove_failed_path) {
		strbuf_addf(err, "sandbox: removing %s: %s", remove_failed_path,
			    strerror(remove_failed_errno));
		ret = -1;
	}
	free(remove_failed_path);
	remove_failed_path = NULL;
	return ret;
}

/* ---------- start ---------- */

static int run_initdb(struct sandbox *sb, struct strbuf *err)
{
	char *initdb = xasprintf("%s/initdb", sb->bindir);
	const char *argv[] = { initdb, "-D", sb->data_dir, "-U", "postgres", "--auth=trust",
			       "--no-sync", "-E", "UTF8", "--locale=C", NULL };
	struct capture out, errc;
	int code;

	say(sb, "sandbox: initdb %s%s%s", sb->data_dir, sb->run_as_other ? " as " : "",
	    sb->run_as_other ? sb->os_user : "");
	code = run_tool(sb, argv, true, 120000, TOOL_CAPTURE_CAP, &out, &errc, err);
	if (code > 0) {
		strbuf_addf(err, "sandbox: initdb failed (exit %d):", code);
		add_tool_output(err, &out, &errc);
	}
	capture_release(&out);
	capture_release(&errc);
	free(initdb);
	return code == 0 ? 0 : -1;
}

/* port_trouble: the log says the server could not take its port, the one
 * failure another port can cure. */
static bool port_trouble(const struct sandbox *sb)
{
	struct strbuf text = STRBUF_INIT;
	bool trouble = false;
	int fd = open(sb->log_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		strbuf_read_fd(&text, fd);
		close(fd);
		trouble = strstr(text.buf, "Address already in use") ||
			  strstr(text.buf, "could not create lock file") ||
			  strstr(text.buf, "could not bind");
	}
	strbuf_release(&text);
	return trouble;
}

static int start_server(struct sandbox *sb, const struct sandbox_opts *opts, struct strbuf *err)
{
	char *pg_ctl = xasprintf("%s/pg_ctl", sb->bindir);
	bool retry = true;
	int code = -1;

	for (int attempt = 1; retry; attempt++) {
		int port = opts->port ? opts->port : random_port();
		char *port_opt = xasprintf("-p %d", port);
		const char *argv[] = { pg_ctl, "-D", sb->data_dir, "-l", sb->log_path, "-w", "-t", "60",
				       "-o", port_opt, "start", NULL };
		struct capture out, errc;

		say(sb, "sandbox: starting PostgreSQL on port %d", port);
		code = run_tool(sb, argv, true, 90000, TOOL_CAPTURE_CAP, &out, &errc, err);
		retry = code > 0 && !opts->port && attempt < START_ATTEMPTS && port_trouble(sb);
		if (code == 0) {
			sb->port = port;
		} else if (retry) {
			struct strbuf ignored = STRBUF_INIT;
			stop_server(sb, &ignored);
			strbuf_release(&ignored);
		} else if (code > 0) {
			strbuf_addf(err, "sandbox: the server did not start (pg_ctl exit %d):", code);
			add_tool_output(err, &out, &errc);
			add_file_tail(err, "server log", sb->log_path);
		}
		capture_release(&out);
		capture_release(&errc);
		free(port_opt);
	}
	free(pg_ctl);
	return code == 0 ? 0 : -1;
}

static void fill_client_fields(struct sandbox *sb)
{
	struct strbuf url = STRBUF_INIT;

	sb->user = xstrdup("postgres");
	sb->dbname = xstrdup("postgres");
	strbuf_addf(&url, "postgresql:///%s?host=", sb->dbname);
	uri_encode(&url, sb->socket_dir);
	strbuf_addf(&url, "&port=%d&user=%s", sb->port, sb->user);
	sb->conninfo = strbuf_detach(&url, NULL);
	sb->env = xcalloc(6, sizeof(char *));
	sb->env[0] = xasprintf("DATABASE_URL=%s", sb->conninfo);
	sb->env[1] = xasprintf("PGHOST=%s", sb->socket_dir);
	sb->env[2] = xasprintf("PGPORT=%d", sb->port);
	sb->env[3] = xasprintf("PGUSER=%s", sb->user);
	sb->env[4] = xasprintf("PGDATABASE=%s", sb->dbname);
}

int sandbox_start(struct sandbox *sb, const struct sandbox_opts *opts, struct strbuf *err)
{
	static const struct sandbox_opts defaults;
	struct strbuf ignored = STRBUF_INIT;
	int64_t started = proc_now_ms();

	if (!opts)
		opts = &defaults;
	sb->keep = opts->keep;
	sb->log = opts->log;
	sb->log_data = opts->log_data;
	if (opts->port && (opts->port < 1 || opts->port > 65535)) {
		strbuf_addf(err, "sandbox: port %d is out of range", opts->port);
		return -1;
	}
	if (sandbox_find_bindir(opts->bindir, &sb->bindir, err) < 0 ||
	    choose_user(sb, opts, err) < 0 || make_dir(sb, opts, err) < 0)
		goto fail;
	if (run_initdb(sb, err) < 0 || write_config(sb, opts->settings, err) < 0 ||
	    start_server(sb, opts, err) < 0)
		goto fail;
	sb->postmaster_pid = read_postmaster_pid(sb);
	port_set(0, sb->port);
	fill_client_fields(sb);
	sb->running = true;
	say(sb, "sandbox: PostgreSQL ready in %lld ms: %s", (long long)(proc_now_ms() - started),
	    sb->conninfo);
	return 0;

fail:
	if (sb->data_dir) {
		stop_server(sb, &ignored);
		remove_tree(sb->dir, &ignored);
	} else if (sb->dir) {
		rmdir(sb->dir);
	}
	strbuf_release(&ignored);
	return -1;
}

/* ---------- clients ---------- */

static char *client_program(const struct sandbox *sb, const char *name)
{
	if (sb->bindir && is_executable(sb->bindir, name))
		return xasprintf("%s/%s", sb->bindir, name);
	return xstrdup(name);
}

static int check_running(const struct sandbox *sb, struct strbuf *err)
{
	if (sb->running)
		return 0;
	strbuf_addstr(err, "sandbox: not running");
	return -1;
}

int sandbox_load_sql(struct sandbox *sb, const char *path, struct strbuf *err)
{
	char *psql;
	struct capture out, errc;
	int code;

	if (check_running(sb, err) < 0)
		return -1;
	if (access(path, R_OK) < 0) {
		strbuf_addf(err, "sandbox: seed file %s: %s", path, strerror(errno));
		return -1;
	}
	psql = client_program(sb, "psql");
	const char *argv[] = { psql, "-X", "-v", "ON_ERROR_STOP=1", "-q", "-d", sb->conninfo,
			       "-f", path, NULL };
	say(sb, "sandbox: loading %s", path);
	code = run_tool(sb, argv, false, 0, TOOL_CAPTURE_CAP, &out, &errc, err);
	if (code > 0) {
		strbuf_addf(err, "sandbox: loading %s failed (psql exit %d):", path, code);
		add_tool_output(err, errc.text.len ? NULL : &out, &errc);
	}
	capture_release(&out);
	capture_release(&errc);
	free(psql);
	return code == 0 ? 0 : -1;
}

static bool volatile_line(const char *line, size_t len)
{
	static const char *const prefixes[] = {
		"SET ", "SELECT pg_catalog.set_config(", "-- Dumped from", "-- Dumped by",
		"\\restrict", "\\unrestrict",
	};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);
		if (len >= n && !memcmp(line, prefixes[i], n))
			return true;
	}
	return false;
}

int sandbox_schema(struct sandbox *sb, struct strbuf *out, struct strbuf *err)
{
	char *pg_dump;
	struct capture dump, errc;
	int code;

	if (check_running(sb, err) < 0)
		return -1;
	pg_dump = client_program(sb, "pg_dump");
	const char *argv[] = { pg_dump, "--schema-only", "--no-owner", "--no-privileges", "-d",
			       sb->conninfo, NULL };
	code = run_tool(sb, argv, false, 120000, SCHEMA_CAPTURE_CAP, &dump, &errc, err);
	if (code == 0 && dump.truncated) {
		strbuf_addf(err, "sandbox: the schema dump is larger than %zu bytes", dump.cap);
		code = -1;
	} else if (code == 0) {
		const char *p = dump.text.buf, *end = p + dump.text.len;
		bool last_blank = true;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			bool blank = n == 0;
			if (!volatile_line(p, n) && !(blank && last_blank)) {
				strbuf_add(out, p, n);
				strbuf_addch(out, '\n');
				last_blank = blank;
			}
			p += n + (nl ? 1 : 0);
		}
	} else if (code > 0) {
		strbuf_addf(err, "sandbox: pg_dump failed (exit %d):", code);
		add_tool_output(err, NULL, &errc);
	}
	capture_release(&dump);
	capture_release(&errc);
	free(pg_dump);
	return code == 0 ? 0 : -1;
}

/* ---------- stop ---------- */

static void describe_kept(const struct sandbox *sb, struct strbuf *msg)
{
	strbuf_addf(msg, "sandbox: PostgreSQL left running in %s (port %d)\n", sb->dir, sb->port);
	strbuf_addstr(msg, "  connect: psql ");
	shell_quote(msg, sb->conninfo);
	strbuf_addstr(msg, "\n  stop:    ");
	if (sb->run_as_other)
		strbuf_addf(msg, "runuser -u %s -- ", sb->os_user);
	char *pg_ctl = xasprintf("%s/pg_ctl", sb->bindir);
	shell_quote(msg, pg_ctl);
	free(pg_ctl);
	strbuf_addstr(msg, " -D ");
	shell_quote(msg, sb->data_dir);
	strbuf_addstr(msg, " -m fast -w stop && rm -rf ");
	shell_quote(msg, sb->dir);
	strbuf_addch(msg, '\n');
}

int sandbox_stop(struct sandbox *sb, struct strbuf *msg)
{
	if (!sb->running)
		return 0;
	if (sb->keep) {
		describe_kept(sb, msg);
		return 1;
	}
	say(sb, "sandbox: stopping PostgreSQL in %s", sb->dir);
	if (stop_server(sb, msg) < 0)
		return -1;
	sb->running = false;
	port_set(sb->port, 0);
	return remove_tree(sb->dir, msg);
}

void sandbox_release(struct sandbox *sb)
{
	struct strbuf ignored = STRBUF_INIT;

	if (sb->running && !sb->keep)
		sandbox_stop(sb, &ignored);
	strbuf_release(&ignored);
	if (sb->running)
		port_set(sb->port, 0);
	free(sb->dir);
	free(sb->data_dir);
	free(sb->log_path);
	free(sb->bindir);
	free(sb->socket_dir);
	free(sb->user);
	free(sb->dbname);
	free(sb->conninfo);
	free(sb->os_user);
	for (size_t i = 0; sb->env && sb->env[i]; i++)
		free(sb->env[i]);
	free(sb->env);
	memset(sb, 0, sizeof(*sb));
}
