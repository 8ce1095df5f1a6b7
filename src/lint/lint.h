/* lint.h - structure rules for runbooks, and the SQL lint run over them.
 *
 * lint_runbook() adds its findings to rb->diags (which already holds what the
 * parser found): the structure rules, captured variables used before their
 * capture, and the SQL lock-safety rules of sqllint.h for every ```sql block
 * and every psql call of a shell or console block, in the order they run.
 * Then it drops the findings an author switched off, with
 * `check=off:RULE` in a fence's info string (for that block) or
 * `<!-- runbook: off RULE -->` in the file (from that line on, until
 * `<!-- runbook: on RULE -->`).  Rule ids and their meaning are listed in
 * docs/lint-rules.md.
 */
#ifndef RUNBOOK_LINT_H
#define RUNBOOK_LINT_H

#include "model/runbook.h"

void lint_runbook(struct runbook *rb);

#endif
