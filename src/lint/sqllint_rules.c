/* sqllint_rules.c - the rules of CREATE, DROP, TRUNCATE, UPDATE/DELETE,
 * COPY, psql meta-commands and the other lock-taking statements, and the
 * checks several statements share. */
#include "lint/sqllint_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"

void check_lock_taking(const struct stmt *st, size_t at, const char *what, const char *table)
{
	const struct session *ss = st->ss;
	if (stmt_is_new_table(st, table) || ss->lock_timeout || ss->local_lock_timeout)
		return;
	if (ss->shell)
		stmt_report(
		    st, at, DIAG_WARNING, "require-lock-timeout",
		    "%s%s%s through psql has no lock_timeout: while it waits for its lock, every "
		    "query on the table queues behind it; SET lock_timeout first, or export "
		    "PGOPTIONS='-c lock_timeout=3s'",
		    what, table ? " " : "", table ? table : "");
	else
		stmt_report(
		    st, at, DIAG_WARNING, "require-lock-timeout",
		    "%s%s%s runs after the block switched lock_timeout off: while it waits for "
		    "its lock, every query on the table queues behind it",
		    what, table ? " " : "", table ? table : "");
}

void check_concurrently_in_tx(const struct stmt *st, const char *what)
{
	const struct session *ss = st->ss;
	const char *rule = "ban-concurrent-index-creation-in-transaction";
	if (ss->in_tx)
		stmt_report(
		    st, 0, DIAG_ERROR, rule,
		    "%s CONCURRENTLY cannot run inside a transaction block, and BEGIN at line %d "
		    "is still open",
		    what, ss->begin_line);
	else if (ss->single_tx)
		stmt_report(st, 0, DIAG_ERROR, rule,
			    "%s CONCURRENTLY cannot run inside a transaction block, and psql "
			    "--single-transaction (-1) runs everything in one",
			    what);
	else if (ss->implicit_tx)
		stmt_report(
		    st, 0, DIAG_ERROR, rule,
		    "%s CONCURRENTLY cannot run inside a transaction block, and psql -c sends "
		    "several statements as one transaction: give it a -c of its own",
		    what);
}

void check_robust(const struct stmt *st, size_t at, const char *what, const char *name, bool if_not)
{
	if (session_atomic(st->ss))
		return;
	stmt_report(st, at, DIAG_WARNING, "prefer-robust-stmts",
		    "%s%s%s without IF%s EXISTS fails when the step is run again", what,
		    name ? " " : "", name ? name : "", if_not ? " NOT" : "");
}

void check_rollback_drop(const struct stmt *st, size_t at, const char *what, const char *table)
{
	if (!(st->ss->flags & SQLLINT_ROLLBACK) || stmt_is_new_table(st, table) ||
	    stmt_backed_up(st, table))
		return;
	stmt_report(
	    st, at, DIAG_WARNING, "rollback-drops-without-backup",
	    "rollback %s %s, and no step before it backs the table up (pg_dump, COPY ... TO, "
	    "CREATE TABLE ... AS SELECT, \\copy ... to)",
	    what, table ? table : "a table");
}

static void create_index(struct stmt *st, size_t i)
{
	struct sqllint *l = st->lint;
	bool concurrently = false, if_not_exists = false;
	char *index = NULL, *table = NULL;

	if (kw(st, i, "concurrently")) {
		concurrently = true;
		i++;
	}
	if (kw(st, i, "if") && kw2(st, i + 1, "not", "exists")) {
		if_not_exists = true;
		i += 3;
	}
	if (!kw(st, i, "on"))
		index = stmt_name_at(st, &i);
	i = stmt_find_kw(st, i, st->n, "on");
	if (kw(st, i, "on")) {
		i++;
		if (kw(st, i, "only"))
			i++;
		table = stmt_name_at(st, &i);
	}
	bool is_new = stmt_is_new_table(st, table);
	if (concurrently) {
		check_concurrently_in_tx(st, "CREATE INDEX");
	} else if (!is_new) {
		stmt_report(
		    st, 0, DIAG_WARNING, "require-concurrent-index-creation",
		    "CREATE INDEX on %s blocks writes to the table until it is built; use CREATE "
		    "INDEX CONCURRENTLY",
		    table ? table : "an existing table");
		check_lock_taking(st, 0, "CREATE INDEX on", table);
	}
	if (!if_not_exists && !index && !session_atomic(st->ss))
		stmt_report(
		    st, 0, DIAG_WARNING, "prefer-robust-stmts",
		    "CREATE INDEX without a name builds another index each time the step is run; "
		    "name it and add IF NOT EXISTS");
	else if (!if_not_exists)
		check_robust(st, 0, "CREATE INDEX", index, true);
	if (is_new && index)
		strset_add(&l->new_indexes, index);
	free(index);
	free(table);
}

static void create_table(struct stmt *st, size_t i, bool temp)
{
	bool if_not_exists = false;
	if (kw(st, i, "if") && kw2(st, i + 1, "not", "exists")) {
		if_not_exists = true;
		i += 3;
	}
	char *table = stmt_name_at(st, &i);
	size_t as = stmt_find_kw(st, i, st->n, "as");
	if (as < st->n)
		stmt_note_sources(st, as, st->n);
	if (!if_not_exists && !temp)
		check_robust(st, 0, "CREATE TABLE", table, true);
	if (!(st->ss->flags & SQLLINT_ROLLBACK))
		strset_add(&st->lint->new_tables, table);
	free(table);
}

void rule_create(struct stmt *st)
{
	size_t i = 1;
	bool temp = false;
	if (kw2(st, i, "or", "replace"))
		i += 2;
	while (kw(st, i, "temp") || kw(st, i, "temporary") || kw(st, i, "unlogged") ||
	       kw(st, i, "global") || kw(st, i, "local")) {
		temp = temp || kw(st, i, "temp") || kw(st, i, "temporary");
		i++;
	}
	if (kw(st, i, "unique"))
		i++;
	if (kw(st, i, "index")) {
		create_index(st, i + 1);
	} else if (kw(st, i, "table")) {
		create_table(st, i + 1, temp);
	} else if (kw(st, i, "trigger") || kw2(st, i, "constraint", "trigger")) {
		size_t on = stmt_find_kw(st, i, st->n, "on");
		if (on < st->n) {
			size_t k = on + 1;
			char *table = stmt_name_at(st, &k);
			check_lock_taking(st, 0, "CREATE TRIGGER on", table);
			free(table);
		}
	} else if (kw(st, i, "sequence") || kw(st, i, "schema") || kw(st, i, "extension")) {
		const char *what = kw(st, i, "sequence") ? "CREATE SEQUENCE"
				   : kw(st, i, "schema")  ? "CREATE SCHEMA"
							  : "CREATE EXTENSION";
		i++;
		if (!(kw(st, i, "if") && kw2(st, i + 1, "not", "exists"))) {
			char *name = stmt_name_at(st, &i);
			check_robust(st, 0, what, name, true);
			free(name);
		}
	}
}

void rule_drop(struct stmt *st)
{
	struct sqllint *l = st->lint;
	size_t i = 1;
	const char *what = NULL;
	bool index = false, table = false, trigger = false, concurrently = false;

	if (kw(st, i, "index")) {
		what = "DROP INDEX";
		index = true;
	} else if (kw(st, i, "table")) {
		what = "DROP TABLE";
		table = true;
	} else if (kw(st, i, "trigger")) {
		what = "DROP TRIGGER";
		trigger = true;
	} else if (kw2(st, i, "materialized", "view")) {
		what = "DROP MATERIALIZED VIEW";
		i++;
	} else if (kw(st, i, "view") || kw(st, i, "sequence") || kw(st, i, "function") ||
		   kw(st, i, "procedure") || kw(st, i, "type") || kw(st, i, "schema") ||
		   kw(st, i, "extension")) {
		what = "DROP";
	} else {
		return;
	}
	i++;
	if (index && kw(st, i, "concurrently")) {
		concurrently = true;
		i++;
	}
	bool if_exists = kw2(st, i, "if", "exists");
	if (if_exists)
		i += 2;
	char *first = NULL, *locked = NULL; /* the first name; the first one that takes a lock */
	for (;;) {
		char *name = stmt_name_at(st, &i);
		if (!name)
			break;
		if (table) {
			if (st->ss->flags & SQLLINT_ROLLBACK)
				check_rollback_drop(st, 0, "drops table", name);
			else if (!stmt_is_new_table(st, name) && !stmt_backed_up(st, name))
				stmt_report(
				    st, 0, DIAG_WARNING, "ban-drop-table",
				    "DROP TABLE %s, and no step before it backs the table up "
				    "(pg_dump, COPY ... TO, CREATE TABLE ... AS SELECT, \\copy ... "
				    "to)",
				    name);
		}
		if (!locked && ((table && !stmt_is_new_table(st, name)) ||
				(index && !concurrently && !strset_has(&l->new_indexes, name))))
			locked = xstrdup(name);
		if (!first)
			first = name;
		else
			free(name);
		if (kind(st, i, SQL_TOKEN_LPAREN))
			stmt_skip_parens(st, &i);
		if (!kind(st, i, SQL_TOKEN_COMMA))
			break;
		i++;
	}
	if (index && concurrently) {
		check_concurrently_in_tx(st, "DROP INDEX");
	} else if (index && locked) {
		stmt_report(
		    st, 0, DIAG_WARNING, "require-concurrent-index-deletion",
		    "DROP INDEX %s locks its table against reads and writes while it waits and "
		    "runs; use DROP INDEX CONCURRENTLY",
		    locked);
		check_lock_taking(st, 0, "DROP INDEX", locked);
	} else if (table && locked) {
		check_lock_taking(st, 0, "DROP TABLE", locked);
	} else if (trigger && kw(st, i, "on")) {
		i++;
		char *on = stmt_name_at(st, &i);
		check_lock_taking(st, 0, "DROP TRIGGER on", on);
		free(on);
	}
	if (!if_exists)
		check_robust(st, 0, what, first, false);
	free(first);
	free(locked);
}

void rule_truncate(struct stmt *st)
{
	size_t i = 1;
	const char *locked = NULL;
	char *first = NULL;
	if (kw(st, i, "table"))
		i++;
	for (;;) {
		if (kw(st, i, "only"))
			i++;
		char *table = stmt_name_at(st, &i);
		if (!table)
			break;
		check_rollback_drop(st, 0, "truncates", table);
		if (!locked && !stmt_is_new_table(st, table)) {
			locked = "TRUNCATE";
			first = xstrdup(table);
		}
		free(table);
		if (kind(st, i, SQL_TOKEN_OPERATOR))
			i++;
		if (!kind(st, i, SQL_TOKEN_COMMA))
			break;
		i++;
	}
	if (locked)
		check_lock_taking(st, 0, locked, first);
	free(first);
}

void rule_dml(struct stmt *st)
{
	size_t i = 0;
	if (kw(st, 0, "with")) {
		i = 1;
		if (kw(st, i, "recursive"))
			i++;
		for (;;) {
			if (!stmt_is_name(st, i))
				return;
			i++;
			if (kind(st, i, SQL_TOKEN_LPAREN))
				stmt_skip_parens(st, &i);
			if (kw(st, i, "as"))
				i++;
			if (kw(st, i, "not"))
				i++;
			if (kw(st, i, "materialized"))
				i++;
			if (kind(st, i, SQL_TOKEN_LPAREN))
				stmt_skip_parens(st, &i);
			if (!kind(st, i, SQL_TOKEN_COMMA))
				break;
			i++;
		}
	}
	bool update = kw(st, i, "update");
	if (!update && !kw2(st, i, "delete", "from"))
		return;
	i += update ? 1 : 2;
	if (kw(st, i, "only"))
		i++;
	char *table = stmt_name_at(st, &i);
	if (!table)
		return;
	bool where = stmt_find_kw(st, i, st->n, "where") < st->n;
	if (!where && !stmt_is_new_table(st, table))
		stmt_report(
		    st, 0, DIAG_WARNING, "unbounded-dml",
		    update ? "UPDATE of %s without WHERE changes every row in one transaction, "
			     "locking them all; add a WHERE, or update in batches"
			   : "DELETE from %s without WHERE removes every row in one transaction; "
			     "add a WHERE, or use TRUNCATE if that is really meant",
		    table);
	if (!update)
		check_rollback_drop(st, 0, "deletes from", table);
	free(table);
}

/* rule_copy notes `COPY table TO` and `COPY (query) TO`, also for \copy. */
void rule_copy(struct stmt *st, size_t i)
{
	if (kind(st, i, SQL_TOKEN_LPAREN)) {
		size_t open = i;
		stmt_skip_parens(st, &i);
		if (kw(st, i, "to"))
			stmt_note_sources(st, open, i);
		return;
	}
	char *table = stmt_name_at(st, &i);
	if (kind(st, i, SQL_TOKEN_LPAREN))
		stmt_skip_parens(st, &i);
	if (table && kw(st, i, "to"))
		strset_add(&st->lint->backed_up, table);
	free(table);
}

void rule_meta(struct stmt *st)
{
	const struct sql_token *t = &st->t[0];
	const char *s = st->sql + t->offset;
	if (t->len >= 5 && !strncasecmp(s, "\\copy", 5) &&
	    (t->len == 5 || isspace((unsigned char)s[5]))) {
		struct sqllex lx = SQLLEX_INIT;
		sqllint_scan(s + 5, t->len - 5, &lx);
		struct stmt inner = { lx.tokens, lx.ntokens, s + 5, st->lint, st->ss };
		rule_copy(&inner, 0);
		sqllex_release(&lx);
	} else if ((t->len == 2 && !strncmp(s, "\\c", 2)) ||
		   (t->len >= 3 && !strncmp(s, "\\c ", 3)) || !strncmp(s, "\\connect", 8)) {
		st->ss->lock_timeout = st->ss->initial_lock_timeout;
		st->ss->local_lock_timeout = false;
	}
}

void rule_other_locks(struct stmt *st)
{
	size_t i = 1;
	if (kw(st, 0, "lock")) {
		if (kw(st, i, "table"))
			i++;
		if (kw(st, i, "only"))
			i++;
		char *table = stmt_name_at(st, &i);
		if (stmt_find_kw(st, i, st->n, "nowait") == st->n)
			check_lock_taking(st, 0, "LOCK", table);
		free(table);
	} else if (kw(st, 0, "reindex")) {
		bool concurrently = false;
		for (size_t k = 1; k < st->n; k++)
			concurrently = concurrently || kw(st, k, "concurrently");
		if (concurrently)
			check_concurrently_in_tx(st, "REINDEX");
		else
			check_lock_taking(st, 0, "REINDEX", NULL);
	} else if (kw(st, 0, "cluster")) {
		check_lock_taking(st, 0, "CLUSTER", NULL);
	} else if (kw(st, 0, "vacuum")) {
		bool full = false;
		for (size_t k = 1; k < st->n; k++)
			full = full || kw(st, k, "full");
		if (full)
			check_lock_taking(st, 0, "VACUUM FULL", NULL);
	} else if (kw2(st, 0, "refresh", "materialized")) {
		if (!kw(st, 3, "concurrently"))
			check_lock_taking(st, 0, "REFRESH MATERIALIZED VIEW", NULL);
	}
}

