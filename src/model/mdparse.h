/* mdparse.h - Markdown runbook -> struct runbook.
 *
 * runbook_load() reads a file, refuses what cannot be a runbook (missing,
 * not a regular file, empty, larger than RUNBOOK_MAX_SIZE, binary, invalid
 * UTF-8) and parses the rest with cmark-gfm and its table and tasklist
 * extensions.  Parsing never fails on a well-formed text file: sections it
 * does not understand become notes, and what looks wrong becomes a
 * diagnostic in rb->diags (unclosed fences, unknown fence attributes,
 * failure tables whose columns cannot be recognised, expected output with no
 * command before it).
 *
 * The caller owns the returned runbook and releases it with runbook_free().
 */
#ifndef RUNBOOK_MDPARSE_H
#define RUNBOOK_MDPARSE_H

#include <stddef.h>

#include "model/runbook.h"
#include "base/strbuf.h"

#define RUNBOOK_MAX_SIZE ((size_t)64 * 1024 * 1024)

enum load_error {
	LOAD_OK,
	LOAD_NOT_FOUND,  /* no such file */
	LOAD_NOT_FILE,   /* a directory or a device */
	LOAD_UNREADABLE, /* permission denied, I/O error */
	LOAD_EMPTY,      /* zero bytes, or nothing but blanks */
	LOAD_TOO_BIG,    /* over RUNBOOK_MAX_SIZE */
	LOAD_BINARY,     /* contains NUL bytes */
	LOAD_BAD_UTF8,   /* not valid UTF-8 */
};

/* runbook_load reads and parses path.  On failure returns NULL, sets *why
 * (when why is non-NULL) and appends one line to err, naming the file and,
 * where it applies, the line: "guide.md:12: invalid UTF-8 (byte 0xff)". */
struct runbook *runbook_load(const char *path, struct strbuf *err, enum load_error *why);

/* mdparse_buffer parses len bytes of text (which need not be NUL-terminated)
 * already known to be valid UTF-8; path is only used in diagnostics. */
struct runbook *mdparse_buffer(const char *path, const char *text, size_t len);

/* utf8_check returns 0 when text is valid UTF-8, or the 1-based offset + 1
 * of the first invalid byte. */
size_t utf8_check(const char *text, size_t len);

#endif
