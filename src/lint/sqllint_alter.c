/* sqllint_alter.c - the rules of ALTER TABLE and ALTER INDEX. */
#include "lint/sqllint_private.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static const char *const volatile_functions[] = {
	"random", "random_normal", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
	"uuid_generate_v4", "uuidv4", "uuidv7", "clock_timestamp", "timeofday", "nextval",
	"gen_random_bytes", "setseed", NULL,
};

static bool column_keyword(const struct stmt *st, size_t i)
{
	static const char *const words[] = { "default", "not", "null", "constraint", "check",
					     "unique", "primary", "references", "generated",
					     "collate", NULL };
	for (size_t k = 0; words[k]; k++)
		if (kw(st, i, words[k]))
			return true;
	return false;
}

/* add_column checks ALTER TABLE ... ADD [COLUMN] in tokens [a, b). */
static void add_column(struct stmt *st, size_t a, size_t b, const char *table)
{
	size_t i = a + 1;
	bool if_not_exists = false;
	if (kw(st, i, "column"))
		i++;
	if (kw(st, i, "if") && kw2(st, i + 1, "not", "exists")) {
		if_not_exists = true;
		i += 3;
	}
	if (i >= b || !stmt_is_name(st, i))
		return;
	char *column = stmt_one_name(st, &i);
	if (!if_not_exists)
		check_robust(st, a, "ADD COLUMN", column, true);
	if (stmt_is_new_table(st, table)) {
		free(column);
		return;
	}
	if (!(st->ss->flags & SQLLINT_ROLLBACK) && table) {
		char *key = xasprintf("%s.%s", table, column);
		strset_add(&st->lint->new_columns, key);
		free(key);
	}

	bool serial = kw(st, i, "serial") || kw(st, i, "bigserial") || kw(st, i, "smallserial") ||
		      kw(st, i, "serial2") || kw(st, i, "serial4") || kw(st, i, "serial8");
	bool has_default = false, not_null = false, generated = false, stored = false;
	bool unique = false, fk = false, check = false;
	const char *volatile_fn = NULL;
	int depth = 0;
	for (size_t k = i; k < b; k++) {
		if (st->t[k].kind == SQL_TOKEN_LPAREN)
			depth++;
		else if (st->t[k].kind == SQL_TOKEN_RPAREN)
			depth--;
		if (depth)
			continue;
		if (kw(st, k, "default")) {
			has_default = true;
			int d = 0;
			for (size_t e = k + 1; e < b && (d || !column_keyword(st, e)); e++) {
				if (st->t[e].kind == SQL_TOKEN_LPAREN)
					d++;
				else if (st->t[e].kind == SQL_TOKEN_RPAREN)
					d--;
				else if (kind(st, e + 1, SQL_TOKEN_LPAREN))
					for (size_t f = 0; volatile_functions[f] && !volatile_fn; f++)
						if (kw(st, e, volatile_functions[f]))
							volatile_fn = volatile_functions[f];
			}
		} else if (kw2(st, k, "not", "null") || kw2(st, k, "primary", "key")) {
			not_null = true;
			unique = unique || kw(st, k, "primary");
		} else if (kw(st, k, "unique")) {
			unique = true;
		} else if (kw(st, k, "references")) {
			fk = true;
		} else if (kw(st, k, "check")) {
			check = true;
		} else if (kw(st, k, "generated")) {
			generated = true;
		} else if (kw(st, k, "stored") || kw(st, k, "identity")) {
			stored = true;
		}
	}

	if (volatile_fn)
		stmt_report(
		    st, a, DIAG_WARNING, "adding-field-with-default",
		    "column %s gets a volatile default (%s()): every row of %s is rewritten under "
		    "an ACCESS EXCLUSIVE lock; add the column without it, then backfill in batches",
		    column, volatile_fn, table ? table : "the table");
	else if (serial)
		stmt_report(
		    st, a, DIAG_WARNING, "adding-field-with-default",
		    "serial column %s fills every row of %s from a sequence, rewriting the table "
		    "under an ACCESS EXCLUSIVE lock",
		    column, table ? table : "the table");
	else if (generated && stored)
		stmt_report(
		    st, a, DIAG_WARNING, "adding-field-with-default",
		    "generated column %s is computed for every row of %s, rewriting the table "
		    "under an ACCESS EXCLUSIVE lock",
		    column, table ? table : "the table");
	if (not_null && !has_default && !generated && !serial)
		stmt_report(
		    st, a, DIAG_ERROR, "adding-required-field",
		    "column %s is NOT NULL without a DEFAULT: adding it fails as soon as %s has a "
		    "row; add it nullable or with a default",
		    column, table ? table : "the table");
	if (unique)
		stmt_report(
		    st, a, DIAG_WARNING, "disallowed-unique-constraint",
		    "a UNIQUE or PRIMARY KEY column builds its index under an ACCESS EXCLUSIVE "
		    "lock on %s; add the column, CREATE UNIQUE INDEX CONCURRENTLY, then ADD "
		    "CONSTRAINT ... USING INDEX",
		    table ? table : "the table");
	if (fk)
		stmt_report(
		    st, a, DIAG_WARNING, "adding-foreign-key-constraint",
		    "a REFERENCES column checks every row of %s while it locks both tables; add "
		    "the column, then the constraint NOT VALID, then VALIDATE CONSTRAINT",
		    table ? table : "the table");
	if (check)
		stmt_report(
		    st, a, DIAG_WARNING, "constraint-missing-not-valid",
		    "a CHECK on a new column scans %s under an ACCESS EXCLUSIVE lock; add the "
		    "column, then the constraint NOT VALID, then VALIDATE CONSTRAINT",
		    table ? table : "the table");
	free(column);
}

/* add_constraint checks ALTER TABLE ... ADD [CONSTRAINT name] ... in [a, b). */
static void add_constraint(struct stmt *st, size_t a, size_t b, const char *table)
{
	size_t i = a + 1;
	char *name = NULL;
	if (kw(st, i, "constraint")) {
		i++;
		name = stmt_one_name(st, &i);
	}
	bool not_valid = false;
	for (size_t k = i; k + 1 < b; k++)
		if (kw2(st, k, "not", "valid"))
			not_valid = true;
	const char *t = table ? table : "the table";
	bool is_new = stmt_is_new_table(st, table);

	if (kw(st, i, "check") || kw2(st, i, "foreign", "key")) {
		bool check = kw(st, i, "check");
		if (not_valid && name && session_atomic(st->ss))
			strset_add(&st->ss->not_valid, name);
		/* CHECK (column IS NOT NULL): once valid, SET NOT NULL needs no scan */
		size_t c = i + 2;
		char *column =
		    check && kind(st, i + 1, SQL_TOKEN_LPAREN) ? stmt_one_name(st, &c) : NULL;
		if (column && kw(st, c, "is") && kw2(st, c + 1, "not", "null") &&
		    kind(st, c + 3, SQL_TOKEN_RPAREN) && table) {
			char *key = xasprintf("%s.%s", table, column);
			if (!not_valid) {
				strset_add(&st->lint->not_null_checked, key);
			} else if (name) {
				char *pending = xasprintf("%s=%s", name, key);
				strset_add(&st->lint->not_null_pending, pending);
				free(pending);
			}
			free(key);
		}
		free(column);
		if (!not_valid && !is_new && check)
			stmt_report(
			    st, a, DIAG_WARNING, "constraint-missing-not-valid",
			    "CHECK constraint %s without NOT VALID scans %s under an ACCESS "
			    "EXCLUSIVE lock; add it NOT VALID, then VALIDATE CONSTRAINT",
			    name ? name : "", t);
		else if (!not_valid && !is_new)
			stmt_report(
			    st, a, DIAG_WARNING, "adding-foreign-key-constraint",
			    "FOREIGN KEY %s without NOT VALID checks every row of %s while it "
			    "locks both tables; add it NOT VALID, then VALIDATE CONSTRAINT",
			    name ? name : "", t);
	} else if ((kw(st, i, "unique") || kw2(st, i, "primary", "key")) && !is_new) {
		size_t k = i + (kw(st, i, "unique") ? 1 : 2);
		if (kw(st, k, "nulls"))
			k += kw(st, k + 1, "not") ? 3 : 2;
		if (!kw2(st, k, "using", "index"))
			stmt_report(
			    st, a, DIAG_WARNING, "disallowed-unique-constraint",
			    "%s %s builds its index under an ACCESS EXCLUSIVE lock on %s; CREATE "
			    "UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... %s USING "
			    "INDEX",
			    kw(st, i, "unique") ? "UNIQUE constraint" : "PRIMARY KEY",
			    name ? name : "", t, kw(st, i, "unique") ? "UNIQUE" : "PRIMARY KEY");
	}
	free(name);
}

static void drop_column(struct stmt *st, size_t a, const char *table)
{
	size_t i = a + 1;
	if (kw(st, i, "constraint")) {
		i++;
		if (!kw2(st, i, "if", "exists")) {
			char *name = stmt_one_name(st, &i);
			check_robust(st, a, "DROP CONSTRAINT", name, false);
			free(name);
		}
		return;
	}
	if (kw(st, i, "column"))
		i++;
	bool if_exists = kw2(st, i, "if", "exists");
	if (if_exists)
		i += 2;
	char *column = stmt_one_name(st, &i);
	if (!column)
		return;
	char *key = xasprintf("%s.%s", table ? table : "", column);
	if (!if_exists)
		check_robust(st, a, "DROP COLUMN", column, false);
	if (!stmt_is_new_table(st, table) && !strset_has(&st->lint->new_columns, key)) {
		if (st->ss->flags & SQLLINT_ROLLBACK) {
			if (!stmt_backed_up(st, table)) {
				char *what = xasprintf("drops column %s of", column);
				check_rollback_drop(st, a, what, table);
				free(what);
			}
		} else if (!stmt_backed_up(st, table)) {
			stmt_report(
			    st, a, DIAG_WARNING, "ban-drop-column",
			    "dropping column %s of %s, and no step before it backs the table up: "
			    "its data is gone, and code that still reads it breaks",
			    column, table ? table : "the table");
		}
	}
	free(key);
	free(column);
}

static void alter_column(struct stmt *st, size_t a, size_t b, const char *table)
{
	size_t i = a + 1;
	if (kw(st, i, "column"))
		i++;
	if (!stmt_is_name(st, i) || stmt_is_new_table(st, table))
		return;
	char *column = stmt_one_name(st, &i);
	char *key = xasprintf("%s.%s", table ? table : "", column);
	bool checked = strset_has(&st->lint->not_null_checked, key);
	free(key);
	if (kw(st, i, "set") && kw2(st, i + 1, "not", "null") && !checked)
		stmt_report(
		    st, a, DIAG_WARNING, "adding-not-nullable-field",
		    "SET NOT NULL on %s scans %s under an ACCESS EXCLUSIVE lock; add CHECK (%s IS "
		    "NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL",
		    column, table ? table : "the table", column);
	else if (kw(st, i, "type") || (kw(st, i, "set") && kw2(st, i + 1, "data", "type")))
		stmt_report(st, a, DIAG_WARNING, "changing-column-type",
			    "changing the type of %s rewrites %s and its indexes under an ACCESS "
			    "EXCLUSIVE lock, and may break the code that uses it",
			    column, table ? table : "the table");
	(void)b;
	free(column);
}

static void alter_table(struct stmt *st)
{
	struct session *ss = st->ss;
	size_t i = 2;
	if (kw2(st, i, "if", "exists"))
		i += 2;
	if (kw(st, i, "only"))
		i++;
	char *table = stmt_name_at(st, &i);
	if (op_is(st, i, '*'))
		i++;
	bool is_new = stmt_is_new_table(st, table);
	bool locks = false;

	if (kw(st, i, "rename")) {
		size_t r = i + 1;
		if (kw(st, r, "to")) {
			if (!is_new)
				stmt_report(
				    st, 0, DIAG_WARNING, "renaming-table",
				    "renaming table %s breaks the code that still uses the old "
				    "name; keep a view under the old name, or deploy the code "
				    "first",
				    table ? table : "");
		} else if (!kw(st, r, "constraint")) {
			if (kw(st, r, "column"))
				r++;
			char *column = stmt_one_name(st, &r);
			if (!is_new && column)
				stmt_report(
				    st, 0, DIAG_WARNING, "renaming-column",
				    "renaming column %s of %s breaks the code that still uses the "
				    "old name; add the new column and migrate instead",
				    column, table ? table : "the table");
			free(column);
		}
		check_lock_taking(st, 0, "ALTER TABLE", table);
		free(table);
		return;
	}

	size_t a = i;
	int depth = 0;
	for (size_t k = i; k <= st->n; k++) {
		if (k < st->n) {
			if (st->t[k].kind == SQL_TOKEN_LPAREN)
				depth++;
			else if (st->t[k].kind == SQL_TOKEN_RPAREN)
				depth--;
			if (depth || st->t[k].kind != SQL_TOKEN_COMMA)
				continue;
		}
		/* one action: tokens [a, k) */
		if (kw(st, a, "add")) {
			size_t c = a + 1;
			if (kw(st, c, "constraint") || kw(st, c, "check") ||
			    kw2(st, c, "foreign", "key") || kw(st, c, "unique") ||
			    kw2(st, c, "primary", "key") || kw(st, c, "exclude"))
				add_constraint(st, a, k, table);
			else
				add_column(st, a, k, table);
			locks = true;
		} else if (kw(st, a, "drop")) {
			drop_column(st, a, table);
			locks = true;
		} else if (kw(st, a, "alter")) {
			alter_column(st, a, k, table);
			locks = true;
		} else if (kw2(st, a, "validate", "constraint")) {
			size_t v = a + 2;
			char *name = stmt_one_name(st, &v);
			if (name) {
				size_t nlen = strlen(name);
				for (size_t p = 0; p < st->lint->not_null_pending.nr; p++) {
					const char *e = st->lint->not_null_pending.items[p];
					if (!strncmp(e, name, nlen) && e[nlen] == '=')
						strset_add(&st->lint->not_null_checked,
							   e + nlen + 1);
				}
				if (strset_has(&ss->not_valid, name))
					stmt_report(
					    st, a, DIAG_WARNING, "constraint-missing-not-valid",
					    "VALIDATE CONSTRAINT %s in the transaction that added "
					    "it NOT VALID keeps the ACCESS EXCLUSIVE lock while it "
					    "scans; commit first",
					    name);
				free(name);
			}
		} else if (a < k) {
			locks = true;
		}
		a = k + 1;
	}
	if (locks)
		check_lock_taking(st, 0, "ALTER TABLE", table);
	free(table);
}

void rule_alter(struct stmt *st)
{
	if (kw(st, 1, "table")) {
		alter_table(st);
	} else if (kw(st, 1, "index")) {
		size_t i = 2;
		if (kw2(st, i, "if", "exists"))
			i += 2;
		char *index = stmt_name_at(st, &i);
		if (!strset_has(&st->lint->new_indexes, index))
			check_lock_taking(st, 0, "ALTER INDEX", NULL);
		free(index);
	}
}

