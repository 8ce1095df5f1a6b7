/* sandbox.h - a throwaway PostgreSQL cluster: initdb + postgres in a temp dir.
 *
 * Put a `struct sandbox` on the stack with SANDBOX_INIT and call
 * sandbox_start(): it finds the server binaries, creates a private directory
 * ($TMPDIR or /tmp, "runbook-sandbox.XXXXXX", mode 0700), runs initdb (trust
 * authentication, superuser "postgres", UTF8, locale C, no sync) and starts
 * the server on a Unix socket in that directory only (listen_addresses is
 * empty, the port is random in 20000-59999, fsync, synchronous_commit and
 * full_page_writes off).  The 0700 directory is what keeps other local users
 * out: with trust authentication, whoever reaches the socket is superuser.
 *
 * Run as root, initdb and the server run as the OS user "postgres" when it
 * exists, else "nobody" (PostgreSQL refuses to run as root); the directory is
 * chowned to that user, and root still reaches the socket.  Run as anyone
 * else, everything runs as that user.
 *
 * Then point clients at it: every child that should talk to the sandbox gets
 * sandbox_env() added to and sandbox_unset_vars() removed from its
 * environment (struct proc's `env` and `unset`), so that psql, pg_dump and
 * libpq reach the sandbox and nothing else.  sandbox_load_sql() loads a seed
 * file with psql, sandbox_schema() describes the schema for comparison.
 *
 * Cleanup: the server runs in its own session, so neither Ctrl-C nor our
 * death stops it.  Call sandbox_stop() on every way out, including the
 * path taken after SIGINT/SIGTERM (register it in the caller's cleanup
 * before anything else can fail): it stops the server (pg_ctl fast, then
 * immediate, then signals to the postmaster), checks that the postmaster is
 * gone and removes the directory.  Only SIGKILL of this program can leave a
 * cluster behind, in $TMPDIR/runbook-sandbox.*.  With `keep` set,
 * sandbox_stop() leaves the cluster running and describes how to connect to
 * it and how to stop it.
 *
 * The module keeps no global state except the list of ports handed out in
 * this process (so that two sandboxes never share one); it is not
 * thread-safe.  It never prints: progress goes to the optional log callback,
 * errors to the caller's `err`.
 */
#ifndef RUNBOOK_SANDBOX_H
#define RUNBOOK_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/strbuf.h"

struct sandbox_opts {
	bool keep;            /* sandbox_stop leaves the cluster running */
	int port;             /* 0: random in 20000-59999, retried on failure */
	const char *base_dir; /* parent of the sandbox directory; NULL: $TMPDIR, else /tmp */
	const char *bindir;   /* use the server binaries in this directory only; NULL: search */
	const char *run_as;   /* as root: the OS user for the server; NULL: postgres, else nobody */
	/* settings: extra postgresql.conf lines ("max_connections = 20"),
	 * NULL-terminated, or NULL; written after the sandbox's own */
	const char *const *settings;
	/* log, when set, receives one line of progress at a time (no newline) */
	void (*log)(void *data, const char *line);
	void *log_data;
};

struct sandbox {
	/* dir: the sandbox directory, 0700, owned by the server's OS user;
	 * sandbox_stop removes it unless keep */
	char *dir;
	char *data_dir;    /* dir + "/data", the cluster */
	char *log_path;    /* dir + "/server.log", the server's log */
	char *bindir;      /* where initdb, pg_ctl and postgres were found */
	char *socket_dir;  /* the Unix socket's directory: the same as dir */
	int port;          /* the server's port (in the socket's name) */
	char *user;        /* the database superuser: "postgres" */
	char *dbname;      /* "postgres" */
	/* conninfo: "postgresql:///postgres?host=DIR&port=N&user=postgres",
	 * DIR percent-encoded: what DATABASE_URL is set to */
	char *conninfo;
	bool run_as_other; /* the server runs as another OS user (we are root) */
	char *os_user;     /* that OS user's name when run_as_other, else NULL */
	uid_t uid;         /* the server's OS user and group (ours when !run_as_other) */
	gid_t gid;
	bool keep;         /* sandbox_stop leaves it running; may be cleared before a later stop */
	bool running;      /* started and not yet stopped */
	pid_t postmaster_pid; /* from postmaster.pid once started, else 0 */
	char **env;        /* what sandbox_env returns */
	void (*log)(void *data, const char *line); /* copied from the options */
	void *log_data;
};

#define SANDBOX_INIT { 0 }

/* sandbox_start creates and starts the cluster described above.  Returns 0
 * with every field of sb filled, or -1 with a message in err, e.g.
 * "sandbox: initdb failed (exit 1): <its last lines>" or "sandbox: the server
 * did not start (pg_ctl exit 1): <pg_ctl's and the server log's last
 * lines>"; on failure nothing is left running or on disk.  Takes 1-2 s.
 * sb must be SANDBOX_INIT; call sandbox_release() afterwards either way.
 * opts may be NULL for the defaults. */
int sandbox_start(struct sandbox *sb, const struct sandbox_opts *opts, struct strbuf *err);

/* sandbox_load_sql runs `psql -X -v ON_ERROR_STOP=1 -q -f path` against the
 * sandbox as the calling user.  Returns 0, or -1 with psql's error lines in
 * err ("sandbox: loading seed.sql failed (psql exit 3):
 * psql:seed.sql:4: ERROR: ..."). */
int sandbox_load_sql(struct sandbox *sb, const char *path, struct strbuf *err);

/* sandbox_env returns the variables that point libpq clients at the
 * sandbox: "DATABASE_URL=...", "PGHOST=...", "PGPORT=...", "PGUSER=...",
 * "PGDATABASE=...", NULL-terminated.  Owned by sb, valid until
 * sandbox_release(); meant for struct proc's `env`, or for setenv() when
 * the program's own libpq code should see them.  NULL before a successful
 * sandbox_start(). */
const char *const *sandbox_env(const struct sandbox *sb);

/* sandbox_unset_vars returns the libpq variables that could send a client
 * elsewhere or change how it connects, and that must be removed from a
 * client's environment (struct proc's `unset`): PGPASSWORD, PGPASSFILE,
 * PGSERVICE, PGSERVICEFILE, PGSSLMODE, PGREQUIRESSL, PGGSSENCMODE,
 * PGHOSTADDR, PGOPTIONS, PGTARGETSESSIONATTRS, PGCONNECT_TIMEOUT.  A service
 * file beats the PG* variables, hence PGSERVICE.  Static, NULL-terminated.
 * Code that connects in-process with sb->conninfo must unsetenv() these
 * itself: the URI fixes host, port, user and database, but libpq still
 * reads the others from the environment. */
const char *const *sandbox_unset_vars(void);

/* sandbox_schema appends to out a stable description of the schema:
 * `pg_dump --schema-only --no-owner --no-privileges` without the lines that
 * change from one dump or version to the next ("-- Dumped from/by", SET and
 * set_config lines, \restrict and \unrestrict), runs of blank lines
 * collapsed.  Returns 0, or -1 with pg_dump's error in err. */
int sandbox_schema(struct sandbox *sb, struct strbuf *out, struct strbuf *err);

/* sandbox_stop stops the cluster and removes its directory; it returns 0
 * once the postmaster is gone and the directory removed (also when there was
 * nothing to stop, so it is safe to call twice).  With sb->keep set it leaves
 * everything running, appends to msg how to connect and how to stop it, and
 * returns 1; clear sb->keep and call it again to stop after all.  Returns -1
 * with the reason in msg when the server would not stop or the directory
 * could not be removed. */
int sandbox_stop(struct sandbox *sb, struct strbuf *msg);

/* sandbox_release stops a cluster that is still running and not kept
 * (errors ignored), then frees every field; sb is SANDBOX_INIT afterwards. */
void sandbox_release(struct sandbox *sb);

/* sandbox_find_bindir returns (malloc'd, in *bindir) a directory holding
 * initdb, pg_ctl and postgres: `pg_config --bindir`, then the directory of
 * initdb found in PATH (symlinks resolved), then /usr/lib/postgresql/N/bin,
 * newest N first.  With override set, only that directory is considered.
 * Returns 0, or -1 with "sandbox: no PostgreSQL server binaries found: ..."
 * in err. */
int sandbox_find_bindir(const char *override, char **bindir, struct strbuf *err);

#endif
