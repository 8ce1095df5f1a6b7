/* match.h - judge a command's output against the output a runbook expects,
 * and find the documented fix for a failure.
 *
 * Expectations.  When a runbook is loaded, compile each expected-output block
 * once with expectation_compile(), in the mode its fence asks for
 * (match_mode_parse() reads the `match=` attribute).  After the block ran,
 * call expectation_match() with what it printed and a `struct match_result`
 * set up by match_result_init(); the result says whether the output matches
 * and, when it does not, why (one line), where (the expected line), and a
 * unified diff.  Release the result with match_result_release() and the
 * expectation with expectation_free().  A compiled expectation is never
 * modified by matching, so one may judge many outputs.
 *
 * The modes, in short (docs/expectations.md has the full rules):
 *   MATCH_TOLERANT  the default.  Line by line, blanks flexible, each expected
 *                   line found in order among the actual lines (extra actual
 *                   lines allowed and reported in notes).  Numbers, versions,
 *                   dates and times, hex ids, UUIDs and byte sizes match any
 *                   value of their kind; `...` matches anything; psql tables
 *                   compare cell by cell, their `(N rows)` footer as a count;
 *                   `ls -l` lines field by field; a psql command tag's
 *                   count only as zero or not.  Words are never variable.
 *   MATCH_EXACT     byte for byte, after dropping final newlines.
 *   MATCH_REGEX     the block is one PCRE2 pattern (multiline), searched in
 *                   the whole output; named groups become captures.
 *   MATCH_LINES     line for line, literal; a line ending in ` (re)` is a
 *                   regex, ` (glob)` a glob, ` (esc)` has C escapes (cram).
 *   MATCH_CONTAINS  the expected text appears somewhere, blanks flexible.
 *   MATCH_NONE      always matches: the block is an illustration.
 * In tolerant, exact and lines modes `{{NAME:regex}}` captures what regex
 * matched into variable NAME, and `{{regex}}` is an inline regex.
 *
 * Every match runs under PCRE2 match, depth and heap limits: a pattern that
 * backtracks catastrophically ends as a deviation whose reason contains
 * "match limit exceeded".  Output that is not valid UTF-8 is still judged;
 * diffs show invalid bytes and control characters escaped (`\xff`).  Memory
 * stays proportional to the output: callers should keep a capped prefix of a
 * huge stream and say so with `truncated`.
 *
 * Failure rows.  failure_matcher_new() compiles the Error cells of a
 * runbook's failure table; failure_matcher_rank() ranks them against what a
 * failed block printed.  A row is a "pattern hit" when its cell (case and
 * blanks ignored, quotes interchangeable, `...` a wildcard) occurs in the
 * output, or when it names the error's SQLSTATE (code or condition name).
 * Every row also gets a word-overlap score
 *
 *     score = sum of the weights of the row's words found in the output
 *             / sum of the weights of all the row's words
 *
 * where words are lower-cased ASCII runs of letters, digits and `_` (a
 * plural `s` dropped; one-letter and stop words such as "the", "in", "be"
 * ignored), weighing 2 when they look like identifiers (contain `_` or a
 * digit), 0.5 when every error message has them ("error", "failed", "not",
 * ...) and 1 otherwise.  A few well-known phrasings of psql, PostgreSQL and
 * the shell add the words an author would use ("No such file or directory"
 * also says "not found"; "Is the server running" says "connection refused").
 * A row is a hit when it is a pattern hit, or when
 *
 *     score > FAILURE_SCORE_THRESHOLD (more than half its weight is there)
 *     and at least one shared word weighs exactly 1
 *
 * (a shared table name or "error" alone is no evidence).  Hits rank SQLSTATE
 * hits first, then other pattern hits, then by score, then by row order.
 * docs/failure-matching.md has examples.
 */
#ifndef RUNBOOK_MATCH_H
#define RUNBOOK_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"

enum match_mode {
	MATCH_TOLERANT,
	MATCH_EXACT,
	MATCH_REGEX,
	MATCH_LINES,
	MATCH_CONTAINS,
	MATCH_NONE,
};

/* match_mode_parse reads a fence's match= value (case-insensitive).  NULL or
 * "" is MATCH_TOLERANT.  Returns 0, or -1 for an unknown mode (*mode is then
 * left alone). */
int match_mode_parse(const char *s, enum match_mode *mode);

/* match_mode_name returns "tolerant", "exact", ...; a static string. */
const char *match_mode_name(enum match_mode mode);

/* Where and why an expected block does not compile.  line and col are 1-based
 * and relative to the expected text (col counts characters); msg is PCRE2's
 * message, or ours for a malformed `{{...}}`. */
struct match_error {
	int line;
	int col;
	char msg[256];
};

/* A compiled expected block; opaque. */
struct expectation;

/* expectation_compile compiles expected_text (NUL-terminated) for mode.  The
 * text is copied; the caller keeps its own.  Returns the expectation (free it
 * with expectation_free()), or NULL when a pattern in it is invalid: then err,
 * if not NULL, says where and why. */
struct expectation *expectation_compile(const char *expected_text, enum match_mode mode,
					struct match_error *err);

/* expectation_free releases e; NULL is fine. */
void expectation_free(struct expectation *e);

/* expectation_mode returns the mode e was compiled for. */
enum match_mode expectation_mode(const struct expectation *e);

/* One `{{NAME:regex}}` (or named group in regex mode) and what it matched. */
struct match_capture {
	char *name;  /* owned by the result */
	char *value; /* owned by the result; NUL-terminated */
};

/* The verdict on one output.  Everything in it is owned by the result and
 * freed by match_result_release(). */
struct match_result {
	bool ok;              /* the actual output matches */
	struct strbuf reason; /* when !ok: one line saying why, e.g.
			       * `line 2: expected a number, got "abc"` or
			       * `expected line 3 "Backup created: ..." not found
			       * after actual line 12`; empty when ok */
	struct strbuf diff;   /* when !ok: unified diff, `--- expected`,
			       * `+++ actual`, `@@` hunks with context; the hunk
			       * of the first mismatch says so in its header; cut
			       * to a few hundred lines ("... N lines omitted") */
	struct strbuf notes;  /* remarks for verbose mode, one per line: extra
			       * actual lines skipped, variable values that
			       * differ, truncation; may be set when ok */
	struct match_capture *captures; /* in the order they appear in the
					 * expected text; set only when ok */
	size_t ncaptures;
	int expected_line;    /* 1-based line of the expected text where the
			       * match first failed; 0 when ok or not a line */
};

/* match_result_init prepares r (all empty, ok false). */
void match_result_init(struct match_result *r);
/* match_result_release frees everything r owns and re-initialises it. */
void match_result_release(struct match_result *r);

/* expectation_match judges the len bytes at actual (NUL bytes allowed, no
 * terminator needed).  `truncated` says the caller kept only the beginning
 * of a longer stream: the last, partial line is then not judged, and reason
 * or notes say so.  r must have been initialised; it is reset first.
 * Returns 0 with the verdict in r (a deviation is not an error), or -1 on an
 * internal error (PCRE2 failing in an unexpected way), with r->reason set. */
int expectation_match(const struct expectation *e, const char *actual, size_t len,
		      bool truncated, struct match_result *r);

/* ---- failure-table rows ---- */

#define FAILURE_SCORE_THRESHOLD 0.5

/* A compiled failure table; opaque. */
struct failure_matcher;

/* failure_matcher_new compiles n Error cells, as written in the runbook
 * (code spans kept in backticks: "`connection refused`").  Each code span is
 * one alternative pattern; a cell without code spans is a pattern as a
 * whole.  Cells are copied.  Never fails; free with failure_matcher_free(). */
struct failure_matcher *failure_matcher_new(const char *const *error_cells, size_t n);

/* failure_matcher_free releases fm; NULL is fine. */
void failure_matcher_free(struct failure_matcher *fm);

/* One row that matches a failure. */
struct failure_hit {
	size_t row;       /* index into the cells given to failure_matcher_new */
	double score;     /* word-overlap score in [0, 1] (see above) */
	bool pattern_hit; /* the cell's pattern or SQLSTATE matched */
	char *why;        /* owned: the matched output text, "SQLSTATE 25001
			   * (active_sql_transaction)", or "shared words: a, b" */
};

/* failure_matcher_rank ranks the rows against a failed block's stdout (out)
 * and stderr (err); either may be NULL with length 0.  sqlstate is the
 * error's SQLSTATE, or NULL.  Returns the number of hits, best first, and
 * sets *hits to a new array (NULL when there are none) that the caller frees
 * with failure_hits_free().  0 means no documented fix matches. */
size_t failure_matcher_rank(const struct failure_matcher *fm, const char *out, size_t out_len,
			    const char *err, size_t err_len, const char *sqlstate,
			    struct failure_hit **hits);

/* failure_hits_free frees n hits and the array; NULL is fine. */
void failure_hits_free(struct failure_hit *hits, size_t n);

#endif
