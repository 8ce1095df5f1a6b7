/* modeljson.h - the runbook model and diagnostics as JSON.
 *
 * The schema is documented in docs/model-json.md.  Every string that comes
 * from the runbook passes through the redactor given, so that secrets
 * written into a runbook (a password in a connection string) are masked.
 */
#ifndef RUNBOOK_MODELJSON_H
#define RUNBOOK_MODELJSON_H

#include "model/diag.h"
#include "base/redact.h"
#include "model/runbook.h"
#include "base/strbuf.h"

/* runbook_json appends the whole model as one pretty-printed JSON object. */
void runbook_json(const struct runbook *rb, struct redactor *red, struct strbuf *out);

/* diags_json appends diagnostics as a JSON array of objects {file, line,
 * column, severity, rule, message}. */
void diags_json(const struct diag_list *list, struct strbuf *out);

#endif
