/* test_redact.c - the redactor: known cases, and the run-copying redact()
 * against the byte-at-a-time implementation it replaced (kept below as
 * ref_redact), on crafted and random text: same output, same counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/redact.h"
#include "base/strbuf.h"

/* ---- the previous implementation, verbatim but for its name ---- */

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


static size_t value_end(const char *s, size_t i, size_t len)
{
	while (i < len && !isspace((unsigned char)s[i]) && s[i] != '"' && s[i] != '\'' &&
	       s[i] != '&' && s[i] != ';' && s[i] != '`' && s[i] != ')')
		i++;
	return i;
}

static void bump(struct redactor *r, enum redact_rule rule, size_t *n)
{
	r->counts[rule]++;
	(*n)++;
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

static size_t ref_redact(struct redactor *r, const char *s, size_t len, struct strbuf *out)
{
	size_t n = 0, i = 0;

	while (i < len) {
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
					}
					i = e;
					continue;
				}
				size_t e = value_end(s, v, len);
				if (e > v && s[v] != '$') {
					strbuf_addstr(out, REDACT_MASK);
					bump(r, REDACT_ASSIGNMENT, &n);
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
			if (k > i + 8 && k < len && s[k] == '\'') {
				size_t e = k + 1;
				while (e < len && !(s[e] == '\'' && (e + 1 >= len || s[e + 1] != '\'')))
					e += (s[e] == '\'' ? 2 : 1);
				add_known_masked(r, s + i, k + 1 - i, out, &n);
				strbuf_addstr(out, REDACT_MASK);
				bump(r, REDACT_SQL_PASSWORD, &n);
				i = e;
				continue;
			}
		}
		strbuf_addch(out, s[i]);
		i++;
	}
	return n;
}


/* ---- tests ---- */

static void check_same(struct redactor *a, struct redactor *b, const char *s, size_t len)
{
	struct strbuf x = STRBUF_INIT, y = STRBUF_INIT;
	size_t nx = redact(a, s, len, &x);
	size_t ny = ref_redact(b, s, len, &y);
	if (nx != ny || x.len != y.len || memcmp(x.buf, y.buf, x.len))
		fail_msg("redact differs on %zu bytes:\n in: %.*s\nnew: %.*s (%zu)\nold: %.*s (%zu)", len, (int)len,
			 s, (int)x.len, x.buf, nx, (int)y.len, y.buf, ny);
	assert_memory_equal(a->counts, b->counts, sizeof(a->counts));
	strbuf_release(&x);
	strbuf_release(&y);
}

static void known_cases(void **state)
{
	(void)state;
	struct redactor r = REDACTOR_INIT;
	struct strbuf out = STRBUF_INIT;
	redactor_add_value(&r, "hunter22");
	const char *in = "psql postgresql://app:pw@db/x; PGPASSWORD=s3cret psql; "
			 "CREATE ROLE a PASSWORD 'x''y'; echo hunter22; API_TOKEN=\"abc\"; plain text";
	size_t n = redact(&r, in, strlen(in), &out);
	assert_string_equal(out.buf, "psql postgresql://app:***@db/x; PGPASSWORD=*** psql; "
				     "CREATE ROLE a PASSWORD '***'; echo ***; API_TOKEN=\"***\"; plain text");
	assert_int_equal(n, 5);
	assert_int_equal(r.counts[REDACT_URL_PASSWORD], 1);
	assert_int_equal(r.counts[REDACT_ASSIGNMENT], 2);
	assert_int_equal(r.counts[REDACT_SQL_PASSWORD], 1);
	assert_int_equal(r.counts[REDACT_KNOWN_VALUE], 1);
	strbuf_release(&out);
	redactor_release(&r);
}

static void masked_as(struct redactor *r, const char *in, const char *want)
{
	struct strbuf out = STRBUF_INIT;
	redact(r, in, strlen(in), &out);
	assert_string_equal(out.buf, want);
	strbuf_release(&out);
}

/* what the run's redactor (learning) does beyond the cases above */
static void learning_and_sql_forms(void **state)
{
	(void)state;
	struct redactor r = REDACTOR_INIT;
	r.learn = true;
	redactor_add_value(&r, "pg pw!");
	masked_as(&r, "PGPASSWORD=pg pw!\n", "PGPASSWORD=***\n");
	masked_as(&r, "export DB_PASSWORD=exportedpw42; MY_SECRET=\"local secret\"",
		  "export DB_PASSWORD=***; MY_SECRET=\"***\"");
	masked_as(&r, "connecting with exportedpw42 as local secret", "connecting with *** as ***");
	masked_as(&r, "TOKEN_TTL=3600", "TOKEN_TTL=***");
	masked_as(&r, "3600 rows", "3600 rows"); /* numbers are not learnt */
	masked_as(&r, "CREATE USER a PASSWORD\n  'sqlpw_fff';", "CREATE USER a PASSWORD\n  '***';");
	masked_as(&r, "ALTER USER a PASSWORD E'sqlpw_c\\'cc';", "ALTER USER a PASSWORD E'***';");
	masked_as(&r, "ALTER USER b PASSWORD $$sqlpw_ddd$$;", "ALTER USER b PASSWORD $$***$$;");
	masked_as(&r, "ALTER USER c PASSWORD $q$sqlpw_eee$q$;", "ALTER USER c PASSWORD $q$***$q$;");
	masked_as(&r, "echo sqlpw_fff sqlpw_c\\'cc sqlpw_ddd sqlpw_eee", "echo *** *** *** ***");
	masked_as(&r, "PASSWORD $x", "PASSWORD $x"); /* not a dollar-quoted string */
	redactor_release(&r);

	/* without .learn nothing is remembered */
	struct redactor q = REDACTOR_INIT;
	masked_as(&q, "DB_PASSWORD=exportedpw42", "DB_PASSWORD=***");
	masked_as(&q, "exportedpw42", "exportedpw42");
	redactor_release(&q);
}

static void same_as_before(void **state)
{
	(void)state;
	static const char *const pieces[] = {
		"postgresql://", "u:", "pw@", "host", "/db", "?x=1", "PGPASSWORD=", "password=", "token",
		"KEY", "=", "==", "!=", "'", "\"", "$HOME", " ", "\n", "\t", "PASSWORD ", "password\t'",
		"''", "secret", "hunter22", "hunt", "s3cr3t-value", ":", "//", "@", "&", ";", ")", "`",
		"p", "P", "pass", "word", "abc", "x86_64", "é", "\xff", "a_b-c", "=$", "API_KEY='",
	};
	const size_t np = sizeof(pieces) / sizeof(pieces[0]);
	struct redactor a = REDACTOR_INIT, b = REDACTOR_INIT;
	const char *const secrets[] = { "hunter22", "s3cr3t-value", "pass", "é-secret" };
	for (size_t i = 0; i < 4; i++) {
		redactor_add_value(&a, secrets[i]);
		redactor_add_value(&b, secrets[i]);
	}
	char buf[512];
	uint32_t seed = 12345;
	for (int round = 0; round < 100000; round++) {
		size_t len = 0;
		int k = (int)(seed % 12) + 1;
		for (int j = 0; j < k; j++) {
			seed = seed * 1103515245u + 12345u;
			const char *p = pieces[(seed >> 8) % np];
			size_t pl = strlen(p);
			if (len + pl >= sizeof(buf))
				break;
			memcpy(buf + len, p, pl);
			len += pl;
		}
		/* also cut pieces anywhere */
		seed = seed * 1103515245u + 12345u;
		size_t cut = len ? (seed >> 4) % (len + 1) : 0;
		check_same(&a, &b, buf, len);
		check_same(&a, &b, buf + cut, len - cut);
	}
	/* random bytes from a small alphabet */
	const char alphabet[] = "pP=:/@'\" \nA_Ykeyhunter22s";
	for (int round = 0; round < 50000; round++) {
		size_t len = (size_t)(seed % 40);
		for (size_t j = 0; j < len; j++) {
			seed = seed * 1103515245u + 12345u;
			buf[j] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
		}
		check_same(&a, &b, buf, len);
		seed = seed * 1103515245u + 12345u;
	}
	/* and with no secret values at all */
	struct redactor c = REDACTOR_INIT, d = REDACTOR_INIT;
	check_same(&c, &d, "x PASSWORD 'y' https://a:b@c", 28);
	redactor_release(&a);
	redactor_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_cases),
		cmocka_unit_test(learning_and_sql_forms),
		cmocka_unit_test(same_as_before),
	};
	return cmocka_run_group_tests_name("redact", tests, NULL, NULL);
}
