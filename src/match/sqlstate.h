/* sqlstate.h - PostgreSQL's SQLSTATE codes and their condition names.
 *
 * PostgreSQL reports every error with a five-character SQLSTATE (`42P07`)
 * and documents a condition name for it (`duplicate_table`); runbook authors
 * write either.  These lookups use the table generated from PostgreSQL's
 * errcodes.txt (scripts/gen-sqlstate).  Names and codes are matched
 * case-insensitively.  Nothing here allocates.
 */
#ifndef RUNBOOK_SQLSTATE_H
#define RUNBOOK_SQLSTATE_H

#include <stdbool.h>
#include <stddef.h>

/* sqlstate_known says whether the `len` bytes at code are a SQLSTATE that
 * PostgreSQL documents (e.g. "55P03"). */
bool sqlstate_known(const char *code, size_t len);

/* sqlstate_name returns the condition name of code ("lock_not_available"),
 * or NULL when code is unknown.  The string is static. */
const char *sqlstate_name(const char *code);

/* sqlstate_name_is says whether the `len` bytes at name are a condition name
 * of SQLSTATE code (a few names cover two codes, e.g. a warning and an error). */
bool sqlstate_name_is(const char *name, size_t len, const char *code);

/* sqlstate_is_name says whether the `len` bytes at name are any condition name. */
bool sqlstate_is_name(const char *name, size_t len);

#endif
