/* redact.c - mask secrets in text. */
#include "base/redact.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"

static bool name_char(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

static bool contains_ci(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; i + n <= len; i++)
		if (!strncasecmp(s + i, word, n))
			return true;
	return false;
}

static bool secret_name_n(const char *name, size_t len)
{
	return contains_ci(name, len, "password") || contains_ci(name, len, "passwd") ||
	       contains_ci(name, len, "secret") || contains_ci(name, len, "token") ||
	       contains_ci(name, len, "key");
}

bool redact_secret_name(const char *name)
{
	return secret_name_n(name, strlen(name));
}

void redactor_add_value(struct redactor *r, const char *value)
{
	size_t len = strlen(value);
	if (len < REDACT_MIN_VALUE)
		return;
	for (size_t i = 0; i < r->nvalues; i++)
		if (!strcmp(r->values[i], value))
			return;
	ALLOC_GROW(r->values, r->nvalues + 1, r->alloc);
	/* keep longest first so that a value containing another is masked whole */
	size_t at = r->nvalues;
	while (at > 0 && strlen(r->values[at - 1]) < len) {
		r->values[at] = r->values[at - 1];
		at--;
	}
	r->values[at] = xstrdup(value);
	r->nvalues++;
	r->first[(unsigned char)value[0]] = 1;
}

void redactor_add_environ(struct redactor *r, char *const *envp)
{
	for (; envp && *envp; envp++) {
		const char *eq = strchr(*envp, '=');
		if (eq && secret_name_n(*envp, (size_t)(eq - *envp)))
			redactor_add_value(r, eq + 1);
	}
}

/* value_end finds the end of an unquoted value: blanks, quotes, '&', ';'. */
static size_t value_end(const char *s, size_t i, size_t len)
{
	while (i < len && !isspace((unsigned char)s[i]) && s[i] != '"' && s[i] != '\'' &&
	       s[i] != '&' && s[i] != ';' && s[i] != '`' && s[i] != ')')
		i++;
	return i;
}

/* learn remembers the value of a secret-named assignment seen in a text
 * (a command that exports DB_PASSWORD=...), so that the value is masked
 * wherever it shows up later, in output too.  Numbers are not learnt: a
 * TOKEN_TTL=3600 would mask every 3600 of every output. */
static void learn(struct redactor *r, const char *v, size_t len)
{
	size_t digits = 0;
	for (size_t i = 0; i < len; i++)
		digits += isdigit((unsigned char)v[i]) != 0;
	if (!r->learn || len < REDACT_MIN_VALUE || digits == len || memchr(v, '$', len) || memchr(v, '\0', len))
		return;
	char *copy = xmemdupz(v, len);
	redactor_add_value(r, copy);
	explicit_bzero(copy, len);
	free(copy);
}

static void bump(struct redactor *r, enum redact_rule rule, size_t *n)
{
	r->counts[rule]++;
	(*n)++;
}

/* may_start says whether a mask can start at byte c: the first byte of a
 * secret value, the ':' of scheme://, the '=' of NAME=VALUE or the 'p' of
 * PASSWORD.  Every other byte is copied as it is, in runs. */
static const unsigned char rule_start[256] = { [':'] = 1, ['='] = 1, ['p'] = 1, ['P'] = 1 };

static bool may_start(const struct redactor *r, unsigned char c)
{
	return rule_start[c] | r->first[c];
}

/* known_at returns the length of the known secret value at s[i], or 0;
 * the longest wins, values being kept longest first. */
static size_t known_at(const struct redactor *r, const char *s, size_t i, size_t len)
{
	for (size_t v = 0; v < r->nvalues; v++) {
		size_t vl = strlen(r->values[v]);
		if (vl <= len - i && !memcmp(s + i, r->values[v], vl))
			return vl;
	}
	return 0;
}

/* add_known_masked appends s[0, len), which the rules below keep as it is
 * (a URL's user name, the SQL keyword PASSWORD), with the known secret
 * values in it masked all the same. */
static void add_known_masked(struct redactor *r, const char *s, size_t len, struct strbuf *out,
			     size_t *n)
{
	for (size_t i = 0; i < len;) {
		size_t vl = known_at(r, s, i, len);
		if (vl) {
			strbuf_addstr(out, REDACT_MASK);
			bump(r, REDACT_KNOWN_VALUE, n);
			i += vl;
		} else {
			strbuf_addch(out, s[i++]);
		}
	}
}

size_t redact(struct redactor *r, const char *s, size_t len, struct strbuf *out)
{
	size_t n = 0, i = 0;

	strbuf_grow(out, len);
	while (i < len) {
		size_t run = i;
		while (run < len && !may_start(r, (unsigned char)s[run]))
			run++;
		if (run > i) {
			strbuf_add(out, s + i, run - i);
			i = run;
			if (i == len)
				break;
		}
		/* a known secret value, anywhere */
		size_t vl = known_at(r, s, i, len);
		if (vl) {
			strbuf_addstr(out, REDACT_MASK);
			i += vl;
			bump(r, REDACT_KNOWN_VALUE, &n);
			continue;
		}
		/* scheme://user:password@ */
		if (s[i] == ':' && i + 2 < len && s[i + 1] == '/' && s[i + 2] == '/') {
			size_t u = i + 3, at = 0, colon = 0;
			for (size_t k = u; k < len; k++) {
				char c = s[k];
				if (c == '@') {
					at = k;
					break;
				}
				if (c == '/' || c == '?' || c == '#' || isspace((unsigned char)c) ||
				    c == '"' || c == '\'')
					break;
				if (c == ':' && !colon)
					colon = k;
			}
			if (at && colon && colon + 1 < at) {
				/* the user name is kept, but may be a known secret
				 * ("https://TOKEN:x-oauth-basic@host") */
				add_known_masked(r, s + i, colon + 1 - i, out, &n);
				strbuf_addstr(out, REDACT_MASK);
				i = at;
				bump(r, REDACT_URL_PASSWORD, &n);
				continue;
			}
		}
		/* NAME=VALUE with a secret-looking NAME */
		if (s[i] == '=' && i > 0 && name_char((unsigned char)s[i - 1]) && i + 1 < len &&
		    s[i + 1] != '=' && s[i - 1] != '!') {
			size_t b = i;
			while (b > 0 && name_char((unsigned char)s[b - 1]))
				b--;
			if (secret_name_n(s + b, i - b)) {
				size_t v = i + 1;
				strbuf_addch(out, '=');
				if (s[v] == '"' || s[v] == '\'') {
					char q = s[v];
					size_t e = v + 1;
					while (e < len && s[e] != q && s[e] != '\n')
						e++;
					strbuf_addch(out, q);
					if (e > v + 1) {
						strbuf_addstr(out, REDACT_MASK);
						bump(r, REDACT_ASSIGNMENT, &n);
						learn(r, s + v + 1, e - v - 1);
					}
					i = e;
					continue;
				}
				size_t e = value_end(s, v, len);
				/* a known value with a blank in it is masked whole */
				size_t kv = known_at(r, s, v, len);
				if (v + kv > e)
					e = v + kv;
				if (e > v && s[v] != '$') {
					strbuf_addstr(out, REDACT_MASK);
					bump(r, REDACT_ASSIGNMENT, &n);
					if (!kv)
						learn(r, s + v, e - v);
					i = e;
				} else {
					i = v;
				}
				continue;
			}
		}
		/* SQL: PASSWORD 'secret' */
		if ((s[i] == 'p' || s[i] == 'P') && i + 8 < len && !strncasecmp(s + i, "password", 8) &&
		    (i == 0 || !name_char((unsigned char)s[i - 1]))) {
			size_t k = i + 8;
			while (k < len && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n'))
				k++;
			/* 'x', E'x' (backslash escapes), $$x$$, $tag$x$tag$ */
			size_t q = k;
			if (q + 1 < len && (s[q] == 'E' || s[q] == 'e') && s[q + 1] == '\'')
				q++;
			if (k > i + 8 && q < len && s[q] == '\'') {
				bool esc = q > k;
				size_t e = q + 1;
				while (e < len && !(s[e] == '\'' && (e + 1 >= len || s[e + 1] != '\'')))
					e += (s[e] == '\'' || (esc && s[e] == '\\') ? 2 : 1);
				if (e > len)
					e = len;
				add_known_masked(r, s + i, q + 1 - i, out, &n);
				strbuf_addstr(out, REDACT_MASK);
				bump(r, REDACT_SQL_PASSWORD, &n);
				learn(r, s + q + 1, e - q - 1);
				i = e;
				continue;
			}
			if (k > i + 8 && k < len && s[k] == '$') {
				size_t t = k + 1;
				while (t < len && (name_char((unsigned char)s[t])))
					t++;
				if (t < len && s[t] == '$') {
					size_t tag = t + 1 - k; /* "$tag$" */
					const char *end = NULL;
					for (size_t e = t + 1; e + tag <= len; e++)
						if (!memcmp(s + e, s + k, tag)) {
							end = s + e;
							break;
						}
					if (end) {
						add_known_masked(r, s + i, t + 1 - i, out, &n);
						strbuf_addstr(out, REDACT_MASK);
						bump(r, REDACT_SQL_PASSWORD, &n);
						learn(r, s + t + 1, (size_t)(end - (s + t + 1)));
						i = (size_t)(end - s);
						continue;
					}
				}
			}
		}
		strbuf_addch(out, s[i]);
		i++;
	}
	return n;
}

size_t redact_inplace(struct redactor *r, struct strbuf *sb)
{
	struct strbuf out = STRBUF_INIT;
	size_t n = redact(r, sb->buf, sb->len, &out);
	if (n) {
		strbuf_release(sb);
		*sb = out;
	} else {
		strbuf_release(&out);
	}
	return n;
}

const char *redact_rule_name(enum redact_rule rule)
{
	switch (rule) {
	case REDACT_URL_PASSWORD: return "url-password";
	case REDACT_ASSIGNMENT: return "secret-assignment";
	case REDACT_SQL_PASSWORD: return "sql-password";
	case REDACT_KNOWN_VALUE: return "secret-value";
	case REDACT_NRULES: break;
	}
	return "unknown";
}

void redactor_release(struct redactor *r)
{
	for (size_t i = 0; i < r->nvalues; i++) {
		explicit_bzero(r->values[i], strlen(r->values[i]));
		free(r->values[i]);
	}
	free(r->values);
	memset(r, 0, sizeof(*r));
}
