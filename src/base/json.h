/* json.h - writing JSON text into a strbuf, a value at a time.
 *
 *	struct json_writer w;
 *	jw_init(&w, &out);
 *	jw_object_begin(&w, NULL);
 *	jw_str(&w, "event", "step.start");
 *	jw_int(&w, "line", 12);
 *	jw_array_begin(&w, "choices"); jw_str(&w, NULL, "r"); jw_array_end(&w);
 *	jw_object_end(&w);
 *
 * Keys are given inside objects and are NULL inside arrays.  Strings are
 * escaped as RFC 8259 asks (control characters as \u00XX); bytes that are
 * not UTF-8 become U+FFFD, so the output is always valid JSON in UTF-8.
 * Nothing here allocates but the strbuf; nesting deeper than
 * JSON_MAX_DEPTH is a programming error (abort).
 */
#ifndef RUNBOOK_JSON_H
#define RUNBOOK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

#define JSON_MAX_DEPTH 32

struct json_writer {
	struct strbuf *out;
	int depth;
	bool first[JSON_MAX_DEPTH];
};

void jw_init(struct json_writer *w, struct strbuf *out);
void jw_object_begin(struct json_writer *w, const char *key);
void jw_object_end(struct json_writer *w);
void jw_array_begin(struct json_writer *w, const char *key);
void jw_array_end(struct json_writer *w);
/* jw_str writes null for a NULL value. */
void jw_str(struct json_writer *w, const char *key, const char *value);
void jw_strn(struct json_writer *w, const char *key, const char *value, size_t len);
void jw_int(struct json_writer *w, const char *key, int64_t value);
void jw_double(struct json_writer *w, const char *key, double value);
void jw_bool(struct json_writer *w, const char *key, bool value);
void jw_null(struct json_writer *w, const char *key);

/* jw_escape appends s[0, len) as a quoted JSON string. */
void jw_escape(struct strbuf *out, const char *s, size_t len);

#endif
