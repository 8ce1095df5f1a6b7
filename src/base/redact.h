/* redact.h - keep secrets off the screen and out of the journal.
 *
 * A redactor masks, in any text given to it:
 *   - the password of a URL's user info   postgresql://u:***@host/db
 *   - the value of NAME=VALUE when NAME looks secret (contains PASSWORD,
 *     PASSWD, SECRET, TOKEN or KEY, any case): PGPASSWORD=***, password=***
 *   - the string of SQL's PASSWORD '...'  (CREATE ROLE ... PASSWORD '***')
 *   - every occurrence of a known secret value (from the environment,
 *     --var or captured variables with secret-looking names), when the value
 *     is at least REDACT_MIN_VALUE bytes long; with .learn set, the values
 *     of the secret assignments and SQL passwords it masks become known
 *     values too (a block that exports DB_PASSWORD=x: x is masked in the
 *     output of every later block), numbers excepted
 * and counts what it masked per rule, so that the journal can record that a
 * redaction happened without recording the secret.
 *
 * Secret values are copied into the redactor and wiped on release.
 */
#ifndef RUNBOOK_REDACT_H
#define RUNBOOK_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"

#define REDACT_MASK "***"
#define REDACT_MIN_VALUE 4

enum redact_rule {
	REDACT_URL_PASSWORD,
	REDACT_ASSIGNMENT,
	REDACT_SQL_PASSWORD,
	REDACT_KNOWN_VALUE,
	REDACT_NRULES,
};

struct redactor {
	char **values; /* secret values, longest first */
	size_t nvalues, alloc;
	size_t counts[REDACT_NRULES];
	unsigned char first[256]; /* 1 for the first byte of some secret value */
	bool learn;               /* remember the values of secret assignments seen */
};

#define REDACTOR_INIT { NULL, 0, 0, { 0 }, { 0 }, false }

/* redact_secret_name says whether a variable called name holds a secret. */
bool redact_secret_name(const char *name);
/* redactor_add_value remembers value as a secret (ignored when short). */
void redactor_add_value(struct redactor *r, const char *value);
/* redactor_add_environ remembers the values of secret-named variables of
 * envp (a NULL-terminated "NAME=VALUE" array). */
void redactor_add_environ(struct redactor *r, char *const *envp);
/* redact appends a masked copy of text to out and returns the number of
 * masks applied (also added to r->counts). */
size_t redact(struct redactor *r, const char *text, size_t len, struct strbuf *out);
/* redact_inplace masks sb itself. */
size_t redact_inplace(struct redactor *r, struct strbuf *sb);
const char *redact_rule_name(enum redact_rule rule);
void redactor_release(struct redactor *r);

#endif
