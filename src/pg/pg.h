/* pg.h - everything runbook says to PostgreSQL itself: connections, SQL
 * blocks run one statement at a time and printed the way psql prints them,
 * preflight checks, the run lock and the lock monitor.
 *
 * Connect with pg_connect() (an explicit string, else $DATABASE_URL, else
 * libpq's own PG* variables, .pgpass and service files), run a ```sql block
 * with pg_run_block() and read its `struct pg_outcome`, and close with
 * pg_close().  A block is split by sql_split() and each statement is sent on
 * its own with the asynchronous API, so that CREATE INDEX CONCURRENTLY never
 * lands in an implicit transaction, Ctrl-C cancels the running statement, and
 * a statement that cannot get its lock within lock_timeout is retried with
 * back-off instead of queueing in front of the application's queries.
 *
 * Results are rendered exactly as `psql -X` renders them in its default
 * aligned format (command tags, tables, "(N rows)"), notices and errors as
 * psql prints them on stderr ("NOTICE:  ...", "ERROR:  ...").
 *
 * A password never appears in anything this module returns: connection
 * strings are shown rebuilt without it (pg_display_conninfo()).
 *
 * Nothing here prints or exits.  Functions return 0 (or an enum) on success
 * and -1 on the program's own trouble, with a message in `err` such as
 *   pg: connect "host=/tmp/x port=5432 user=app": FATAL: password authentication failed
 * A statement that fails is not the program's trouble: pg_run_block()
 * returns PG_FAILED and describes the error in the outcome.
 *
 * libpq types never appear here: connections are opaque `struct pg_conn`.
 */
#ifndef RUNBOOK_PG_H
#define RUNBOOK_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

struct pg_conn;

/* ---------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------- */

/* pg_connect opens a connection.  conninfo is a key=value string, a
 * postgresql:// URI or a bare database name; NULL means $DATABASE_URL, and
 * when that is unset or empty, libpq's defaults (PGHOST, PGUSER, ...).
 * application_name (may be NULL) is set on the session, e.g.
 * "runbook/guide/step-2".  The client encoding is UTF8 unless
 * PGCLIENTENCODING or the string says otherwise; connect_timeout is 10 s
 * unless PGCONNECT_TIMEOUT or the string says otherwise.
 * Returns the connection (close it with pg_close()), or NULL with a message
 * in err that names the target without its password. */
struct pg_conn *pg_connect(const char *conninfo, const char *application_name,
			   struct strbuf *err);

/* pg_close closes the connection and frees conn (NULL is a no-op). */
void pg_close(struct pg_conn *conn);

/* pg_conn_ok says whether the connection can still be used: false after the
 * server went away or after pg_run_block() had to abandon it. */
bool pg_conn_ok(const struct pg_conn *conn);
/* pg_conn_alive asks the server (SELECT 1): false when the connection is
 * gone, also when libpq did not know it yet (the server restarted, the
 * backend was terminated). */
bool pg_conn_alive(struct pg_conn *conn);

/* pg_conn_target is the connection's effective target ("host=/tmp/x
 * port=5432 user=app dbname=app"), without password; owned by conn. */
const char *pg_conn_target(const struct pg_conn *conn);

/* pg_conn_backend_pid is the server process id of the session, 0 if closed. */
int pg_conn_backend_pid(const struct pg_conn *conn);

/* pg_conn_server_version is e.g. 150018 for 15.18, 0 if closed. */
int pg_conn_server_version(const struct pg_conn *conn);

/* pg_set_application_name changes application_name for the session (SET
 * application_name).  Returns 0, or -1 with a message in err. */
int pg_set_application_name(struct pg_conn *conn, const char *name, struct strbuf *err);

/* pg_exec runs sql (one or more statements, as one simple query) and
 * discards what it returns, notices included.  For the program's own
 * bookkeeping and tests; runbook text goes through pg_run_block().  It
 * blocks and cannot be cancelled.  Returns 0, or -1 with the server's
 * message in err. */
int pg_exec(struct pg_conn *conn, const char *sql, struct strbuf *err);

/* pg_display_conninfo returns conninfo rebuilt as key=value pairs without
 * password or sslpassword, whatever its form (URI, key=value, bare database
 * name).  NULL means what pg_connect(NULL) would use: $DATABASE_URL, else
 * libpq's defaults from the environment (host, port, user, dbname).  A
 * string libpq cannot parse is shown as "(invalid connection string)".
 * The caller frees the result. */
char *pg_display_conninfo(const char *conninfo);

struct pg_server_info {
	char *version;           /* SHOW server_version: "15.18 (Debian 15.18-0+deb12u1)" */
	int version_num;         /* server_version_num: 150018 */
	char *system_identifier; /* from pg_control_system(); "" when not permitted */
	char *user;              /* current_user */
	char *database;          /* current_database() */
	bool superuser;
	int backend_pid;
};

/* pg_server_info fills info with one query.  Returns 0, or -1 with a
 * message in err; release info with pg_server_info_release() either way. */
int pg_server_info(struct pg_conn *conn, struct pg_server_info *info, struct strbuf *err);
void pg_server_info_release(struct pg_server_info *info);

/* ---------------------------------------------------------------------
 * Splitting a SQL block into statements
 * ------------------------------------------------------------------- */

struct sql_stmt {
	char *text;     /* the statement as psql would send it: from its first
			   token through its semicolon (when it has one) */
	int line;       /* 1-based line of the first token within the block */
	int column;     /* 1-based column (characters) of the first token */
	char *keywords; /* the first six words (keywords and unquoted
			   identifiers: SQL_TOKEN_WORD) lower-cased and
			   joined by spaces: "create index concurrently if
			   not exists" */
};

/* sql_split splits text (a ```sql block) into statements the way psql
 * does, with base/sqllex.h (the lexer the linter reads SQL with): `--` and
 * nested block comments, '...' with '', E'...' with backslash escapes,
 * "identifiers", $$ and $tag$ bodies, parentheses, and BEGIN ... END of
 * SQL-standard function bodies all hide semicolons.  Statements with
 * nothing but blanks and comments are dropped; text after the last
 * semicolon is a statement too.  psql meta-commands, and strings,
 * identifiers, comments or dollar quotes that never close, are refused.
 * Returns 0 with *stmts (free with sql_stmts_free()) and *n, or -1 with a
 * message in err ("line 3: psql meta-command \"\\d\" is not SQL; run it in a
 * bash block with psql") and the block line in *err_line (may be NULL);
 * *stmts is NULL then. */
int sql_split(const char *text, struct sql_stmt **stmts, size_t *n, int *err_line,
	      struct strbuf *err);
void sql_stmts_free(struct sql_stmt *stmts, size_t n);

/* ---------------------------------------------------------------------
 * Running a SQL block
 * ------------------------------------------------------------------- */

enum pg_stream { PG_STDOUT = 1, PG_STDERR = 2 };

struct pg_block_opts {
	const char *file;      /* runbook path for "  at FILE:LINE" after an error, or NULL */
	int first_line;        /* file line of the block's first line; 0: report block lines */
	int64_t statement_timeout_ms; /* time budget for the whole block; 0: none
					 (the session's own statement_timeout applies) */
	int lock_timeout_ms;   /* SET lock_timeout before each statement; 0: wait
				  forever; -1: leave the session's setting */
	int retries;           /* re-runs of a statement that failed with 55P03
				  outside an explicit transaction */
	int retry_base_ms;     /* first back-off; doubles per retry, jittered */
	int retry_max_ms;      /* back-off cap */
	int signal_fd;         /* proc_signals_install()'s fd, or -1: no Ctrl-C handling */
	size_t capture_cap;    /* bytes kept per stream in the outcome */
	/* output, when set, gets the text as it is produced: a statement's
	 * results once it completes, notices as they arrive. */
	void (*output)(void *data, enum pg_stream stream, const char *text, size_t len);
	/* tick, when set, is called every tick_ms while a statement runs (to
	 * sample the monitor, say). */
	void (*tick)(void *data);
	int tick_ms;
	void *data;            /* passed to output and tick */
};

#define PG_LOCK_TIMEOUT_DEFAULT_MS 3000
#define PG_BLOCK_OPTS_INIT                                                                 \
	{                                                                                  \
		.lock_timeout_ms = PG_LOCK_TIMEOUT_DEFAULT_MS, .retries = 5,               \
		.retry_base_ms = 500, .retry_max_ms = 8000, .signal_fd = -1,               \
		.capture_cap = (size_t)8 << 20, .tick_ms = 1000                            \
	}

enum pg_status {
	PG_OK,          /* every statement succeeded */
	PG_FAILED,      /* a statement failed: outcome.error */
	PG_TIMED_OUT,   /* the block's statement_timeout ran out (57014) */
	PG_INTERRUPTED, /* SIGINT/SIGTERM/SIGHUP/SIGQUIT: the statement was cancelled */
	PG_INVALID,     /* not sent: sql_split() refused the block (error.message, line) */
};

struct pg_error {
	char *severity;   /* "ERROR", "FATAL"; all fields NULL when there is no error */
	char *sqlstate;   /* "42601"; "" for errors that are not the server's */
	char *message;    /* primary message */
	char *detail;     /* or NULL */
	char *hint;       /* or NULL */
	char *context;    /* or NULL */
	int statement;    /* 0-based index of the failing statement, -1 if none */
	int position;     /* cursor position in the statement (characters), 0 if none */
	int block_line;   /* 1-based line within the block */
	int line;         /* line in the runbook: first_line + block_line - 1
			     (block_line when first_line is 0) */
};

struct pg_retry {
	int statement;     /* 0-based statement index */
	int line;          /* its line, as in pg_error.line */
	int attempt;       /* 1 for the first retry */
	int64_t backoff_ms; /* how long we waited before re-running it */
};

struct pg_row {
	size_t ncols;
	char **names;   /* column names */
	char **values;  /* first row's values; NULL for SQL NULL or when nrows is 0 */
	long nrows;
};

struct pg_outcome {
	enum pg_status status;
	struct strbuf out;    /* what psql prints on stdout */
	struct strbuf err;    /* what psql prints on stderr, plus runbook's notes */
	bool out_truncated;   /* out stopped at capture_cap (output still saw it all) */
	bool err_truncated;
	size_t nstatements;   /* statements in the block */
	size_t completed;     /* statements that succeeded */
	struct pg_error error;
	struct pg_retry *retries; /* lock_timeout retries, in order */
	size_t nretries, alloc_retries;
	bool rolled_back;     /* a failed block's open transaction was rolled back */
	bool in_transaction;  /* the block succeeded but left a transaction open */
	bool conn_lost;       /* the connection is gone: reconnect before reuse */
	int signal;           /* the signal that stopped the block (SIGINT,
				 SIGTERM, ...), 0 if none */
	int64_t ms;           /* wall time of the block */
	struct pg_row row;    /* columns and first row of the last result with columns */
};

/* pg_run_block splits text and runs it statement by statement on conn as
 * described in docs/sql-blocks.md.  opts may be NULL (PG_BLOCK_OPTS_INIT).
 * *outcome is initialised here; release it with pg_outcome_release().
 * Returns outcome->status.  When a block does not succeed while a
 * transaction is open, the transaction is rolled back so that its locks
 * are released (outcome->rolled_back).  A stop signal already waiting on
 * opts->signal_fd stops the block at its first statement.  When
 * outcome->conn_lost is set, conn can only be closed. */
enum pg_status pg_run_block(struct pg_conn *conn, const char *text,
			    const struct pg_block_opts *opts, struct pg_outcome *outcome);
void pg_outcome_release(struct pg_outcome *outcome);

const char *pg_status_name(enum pg_status status);

/* pg_query_row runs sql as a block (default options, no Ctrl-C handling)
 * and fills *row with the columns and first row of its last result, e.g.
 * to check an "Expected Final State" table by column name.  Returns 0, or
 * -1 with "pg: query failed (failed): <server message>" in err; release
 * *row with pg_row_release() either way. */
int pg_query_row(struct pg_conn *conn, const char *sql, struct pg_row *row, struct strbuf *err);
/* pg_row_get returns the value of column name (NULL for SQL NULL), and sets
 * *found (may be NULL) to whether such a column exists. */
const char *pg_row_get(const struct pg_row *row, const char *name, bool *found);
void pg_row_release(struct pg_row *row);

/* ---------------------------------------------------------------------
 * Preflight
 * ------------------------------------------------------------------- */

/* pg_check_version returns 0 when the server is at least min_major (14 for
 * "PostgreSQL 14+"), else -1 with "server is PostgreSQL 13.4; the runbook
 * needs 14 or later" in err. */
int pg_check_version(const struct pg_server_info *info, int min_major, struct strbuf *err);

struct pg_privileges {
	bool superuser;
	bool create_on_database;
	bool schema_exists;
	bool create_on_schema;
	bool table_exists;     /* only when a table was named */
	bool owns_table;       /* member of the table owner's role */
	bool sufficient;       /* superuser, or owner of the named table, or
				  (no table named) CREATE on the schema or database */
};

/* pg_check_privileges fills priv for the current user.  schema may be NULL
 * (the table's schema, else current_schema()); table may be NULL or
 * qualified ("public.users").  Returns 0, or -1 with a message in err.
 * When priv->sufficient is false, why (may be NULL) gets a sentence. */
int pg_check_privileges(struct pg_conn *conn, const char *schema, const char *table,
			struct pg_privileges *priv, struct strbuf *why, struct strbuf *err);

struct pg_session {
	int pid;
	int64_t age_ms;          /* open transactions and blockers: transaction
				    age; blocked sessions: time waiting for the lock */
	char *state;             /* "active", "idle in transaction", ... */
	char *wait_event;        /* "Lock:relation", "" when not waiting */
	char *application_name;
	char *user;
	char *query;             /* blanks collapsed, cut to about 80 characters */
};

struct pg_session_list {
	struct pg_session *items;
	size_t nr, alloc;
	size_t hidden; /* sessions of this database whose activity this role may not see */
};

#define PG_SESSION_LIST_INIT { NULL, 0, 0 }
void pg_session_list_release(struct pg_session_list *list);

/* pg_open_transactions lists other client sessions of this database with
 * an open transaction (xact_start IS NOT NULL), oldest first.  *list is
 * initialised here.  Returns 0, or -1 with a message in err; release the
 * list either way. */
int pg_open_transactions(struct pg_conn *conn, struct pg_session_list *list, struct strbuf *err);

/* pg_sessions_by_application lists the backend pids of other sessions
 * whose application_name is exactly application_name (the psql sessions a
 * shell block started with PGAPPNAME set), oldest first.  *pids is
 * malloc'd (free it).  Returns 0, or -1 with a message in err. */
int pg_sessions_by_application(struct pg_conn *conn, const char *application_name, int **pids,
			       size_t *n, struct strbuf *err);

/* ---------------------------------------------------------------------
 * Run lock: one run of a runbook per database at a time
 * ------------------------------------------------------------------- */

struct pg_run_lock;

struct pg_lock_holder {
	int pid;
	char *application_name;
	char *user;
	char *client;         /* "10.0.0.5:52144" or "local socket" */
	char *backend_start;  /* "2025-12-31 14:30:22+00" */
	char *query_start;    /* or "" */
};

enum pg_lock_result {
	PG_LOCK_ERROR = -1,   /* message in err */
	PG_LOCK_ACQUIRED = 0, /* *lock is set */
	PG_LOCK_BUSY = 1,     /* another session holds it: *holder is filled */
};

/* pg_run_lock_key is the advisory lock key for a runbook name: 64-bit
 * FNV-1a of "runbook:" + name, stable across versions and machines. */
int64_t pg_run_lock_key(const char *runbook_key);

/* pg_run_lock_try opens a dedicated connection (conninfo as for
 * pg_connect()) and takes pg_try_advisory_lock(key) on it; it never waits.
 * The lock lives as long as that connection: release it with
 * pg_run_lock_release(), or it goes when the process dies.  On
 * PG_LOCK_BUSY, *holder describes the session holding it (release with
 * pg_lock_holder_release()). */
enum pg_lock_result pg_run_lock_try(const char *conninfo, const char *runbook_key,
				    const char *application_name, struct pg_run_lock **lock,
				    struct pg_lock_holder *holder, struct strbuf *err);
/* pg_run_lock_held says whether the lock's session is still there, and so
 * the lock still held (a server restart or pg_terminate_backend ends it). */
bool pg_run_lock_held(struct pg_run_lock *lock);
/* pg_run_lock_backend_pid is the pid of the lock's connection. */
int pg_run_lock_backend_pid(const struct pg_run_lock *lock);
/* pg_run_lock_release unlocks, closes the connection and frees lock. */
void pg_run_lock_release(struct pg_run_lock *lock);
void pg_lock_holder_release(struct pg_lock_holder *holder);

/* ---------------------------------------------------------------------
 * Monitor: who waits for whom while a statement runs
 * ------------------------------------------------------------------- */

struct pg_progress {
	bool active;          /* a CREATE INDEX is reporting progress */
	char *command;        /* "CREATE INDEX CONCURRENTLY" */
	char *phase;          /* "building index: scanning table" */
	int64_t blocks_done, blocks_total;
	int64_t tuples_done, tuples_total;
	int64_t lockers_done, lockers_total; /* transactions waited for */
};

struct pg_monitor_sample {
	struct pg_session self;               /* our session (pid 0 when gone) */
	struct pg_session_list blocked_by_us; /* waiting for a lock we hold or queue for */
	struct pg_session_list blocking_us;   /* holding or queued ahead of what we wait for */
	struct pg_progress progress;
};

/* pg_monitor_sample takes one sample with one query on monitor (a second
 * connection, not the one running the statement) about backend our_pid.
 * *sample is initialised here.  Returns 0, or -1 with a message in err;
 * release the sample either way. */
int pg_monitor_sample(struct pg_conn *monitor, int our_pid, struct pg_monitor_sample *sample,
		      struct strbuf *err);
void pg_monitor_sample_release(struct pg_monitor_sample *sample);

#endif
