/* report.h - the auditor's report of a journal, as HTML or Markdown.
 *
 * The report is built from a verify_result (verify.h): the verdict comes
 * first, then who ran which runbook when against which database, a table
 * of the steps, a timeline of their durations, every deviation, failure,
 * skip and decision, the documented fixes that were suggested, and each
 * command with its outputs.
 *
 *	struct strbuf page = STRBUF_INIT;
 *	report_render(&res, REPORT_HTML, &page);
 *	... write page.buf, page.len ...
 *
 * HTML is one self-contained page: inline CSS (with print styles), the
 * timeline as inline SVG, outputs in <details>, no script and no external
 * asset.  Everything taken from the journal is untrusted and escaped: in
 * HTML as text, in Markdown as escaped text or inside fences that its
 * content cannot close.  Nothing here prints or fails.
 */
#ifndef RUNBOOK_REPORT_H
#define RUNBOOK_REPORT_H

#include "base/strbuf.h"
#include "audit/verify.h"

enum report_format {
	REPORT_HTML,
	REPORT_MARKDOWN,
};

/* report_format_parse turns "html" or "md" (also "markdown") into a
 * format; returns 0, or -1 for any other name. */
int report_format_parse(const char *name, enum report_format *fmt);

/* report_render appends the whole report to out. */
void report_render(const struct verify_result *res, enum report_format fmt, struct strbuf *out);

#endif
