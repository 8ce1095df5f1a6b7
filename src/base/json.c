/* json.c - writing JSON text (json.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

void jw_init(struct json_writer *w, struct strbuf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->first[0] = true;
}

/* utf8_len is the length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	/* overlong three-byte forms, surrogates, and past U+10FFFF */
	if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
		return 0;
	if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
		return 0;
	return len;
}

void jw_escape(struct strbuf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	strbuf_addch(out, '"');
	while (p < end) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			strbuf_addch(out, '\\');
			strbuf_addch(out, (char)c);
			p++;
		} else if (c == '\n') {
			strbuf_addstr(out, "\\n");
			p++;
		} else if (c == '\t') {
			strbuf_addstr(out, "\\t");
			p++;
		} else if (c == '\r') {
			strbuf_addstr(out, "\\r");
			p++;
		} else if (c < 0x20 || c == 0x7F) {
			strbuf_addf(out, "\\u%04x", c);
			p++;
		} else {
			size_t n = utf8_len(p, (size_t)(end - p));
			if (!n) {
				strbuf_addstr(out, "\\ufffd");
				p++;
			} else {
				strbuf_add(out, (const char *)p, n);
				p += n;
			}
		}
	}
	strbuf_addch(out, '"');
}

static void value_start(struct json_writer *w, const char *key)
{
	if (!w->first[w->depth])
		strbuf_addch(w->out, ',');
	w->first[w->depth] = false;
	if (key) {
		jw_escape(w->out, key, strlen(key));
		strbuf_addch(w->out, ':');
	}
}

static void open_nested(struct json_writer *w, const char *key, char c)
{
	value_start(w, key);
	strbuf_addch(w->out, c);
	if (++w->depth >= JSON_MAX_DEPTH) {
		fprintf(stderr, "runbook: JSON nested too deep (a bug)\n");
		abort();
	}
	w->first[w->depth] = true;
}

void jw_object_begin(struct json_writer *w, const char *key)
{
	open_nested(w, key, '{');
}

void jw_object_end(struct json_writer *w)
{
	w->depth--;
	strbuf_addch(w->out, '}');
}

void jw_array_begin(struct json_writer *w, const char *key)
{
	open_nested(w, key, '[');
}

void jw_array_end(struct json_writer *w)
{
	w->depth--;
	strbuf_addch(w->out, ']');
}

void jw_strn(struct json_writer *w, const char *key, const char *value, size_t len)
{
	value_start(w, key);
	if (value)
		jw_escape(w->out, value, len);
	else
		strbuf_addstr(w->out, "null");
}

void jw_str(struct json_writer *w, const char *key, const char *value)
{
	jw_strn(w, key, value, value ? strlen(value) : 0);
}

void jw_int(struct json_writer *w, const char *key, int64_t value)
{
	value_start(w, key);
	strbuf_addf(w->out, "%lld", (long long)value);
}

void jw_double(struct json_writer *w, const char *key, double value)
{
	value_start(w, key);
	strbuf_addf(w->out, "%.4g", value);
}

void jw_bool(struct json_writer *w, const char *key, bool value)
{
	value_start(w, key);
	strbuf_addstr(w->out, value ? "true" : "false");
}

void jw_null(struct json_writer *w, const char *key)
{
	value_start(w, key);
	strbuf_addstr(w->out, "null");
}
