/* template.c - runbook templates: locate, read the header, fill placeholders. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/mdparse.h"
#include "model/template.h"
#include "base/xalloc.h"

/* ---------- finding the directory ---------- */

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int template_find_dir(const char *installed_dir, struct strbuf *dir, struct strbuf *err)
{
	const char *env = getenv("RUNBOOK_TEMPLATES");
	struct strbuf looked = STRBUF_INIT;
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		if (is_dir(env)) {
			strbuf_addstr(dir, env);
			return 0;
		}
		strbuf_addf(err, "RUNBOOK_TEMPLATES=%s is not a directory", env);
		return -1;
	}
	/* The running binary says where its templates are: ./runbook in a
	 * source tree, build-asan/runbook below it, or bin/runbook beside
	 * share/runbook/templates after `make install PREFIX=...`. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			static const char *const rel[] = { "/templates", "/../templates",
							   "/../share/runbook/templates" };
			*slash = '\0';
			for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
				char *cand = xasprintf("%s%s", exe, rel[i]);
				if (is_dir(cand)) {
					char *real = realpath(cand, NULL);
					strbuf_addstr(dir, real ? real : cand);
					free(real);
					free(cand);
					strbuf_release(&looked);
					return 0;
				}
				strbuf_addf(&looked, "%s, ", cand);
				free(cand);
			}
		}
	}
	if (installed_dir && is_dir(installed_dir)) {
		strbuf_addstr(dir, installed_dir);
		strbuf_release(&looked);
		return 0;
	}
	strbuf_addf(err, "no templates directory: set RUNBOOK_TEMPLATES (looked in %s%s)", looked.buf,
		    installed_dir ? installed_dir : "");
	strbuf_release(&looked);
	return -1;
}

/* ---------- listing ---------- */

bool template_name_ok(const char *name)
{
	if (!*name || *name == '.' || strlen(name) > 200)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return false;
	return true;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int template_names(const char *dir, char ***names, struct strbuf *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0, alloc = 0;

	*names = NULL;
	if (!d) {
		strbuf_addf(err, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len <= 3 || strcmp(e->d_name + len - 3, ".md"))
			continue;
		char *name = xmemdupz(e->d_name, len - 3);
		if (!template_name_ok(name)) {
			free(name);
			continue;
		}
		ALLOC_GROW(*names, n + 1, alloc);
		(*names)[n++] = name;
	}
	closedir(d);
	if (n)
		qsort(*names, n, sizeof(**names), cmp_names);
	return (int)n;
}

void template_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ---------- reading ---------- */

static const char *const kind_names[] = {
	[PH_TEXT] = "text", [PH_IDENT] = "ident", [PH_TYPE] = "type",
	[PH_INT] = "int",   [PH_SQL] = "sql",     [PH_DATE] = "date",
};

const char *template_kind_name(enum placeholder_kind kind)
{
	return kind_names[kind];
}

static bool name_char(int c, bool first)
{
	return (c >= 'A' && c <= 'Z') || (!first && ((c >= '0' && c <= '9') || c == '_'));
}

/* placeholder_name_len is the length of a placeholder name at s, 0 if none. */
static size_t placeholder_name_len(const char *s)
{
	size_t n = 0;
	while (name_char((unsigned char)s[n], n == 0))
		n++;
	return n > 64 ? 0 : n;
}

static struct template_placeholder *find_ph(const struct template *t, const char *name, size_t len)
{
	for (size_t i = 0; i < t->nplaceholders; i++)
		if (strlen(t->placeholders[i].name) == len && !memcmp(t->placeholders[i].name, name, len))
			return &t->placeholders[i];
	return NULL;
}

const struct template_placeholder *template_placeholder(const struct template *t, const char *name)
{
	return find_ph(t, name, strlen(name));
}

static struct template_placeholder *add_ph(struct template *t, const char *name, size_t len)
{
	ALLOC_GROW(t->placeholders, t->nplaceholders + 1, t->placeholders_alloc);
	struct template_placeholder *ph = &t->placeholders[t->nplaceholders++];
	memset(ph, 0, sizeof(*ph));
	ph->name = xmemdupz(name, len);
	ph->description = xstrdup("");
	ph->kind = PH_TEXT;
	return ph;
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static const char *skip_word(const char *p, const char *end)
{
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	return p;
}

/* parse_placeholder_line reads "NAME KIND[=DEFAULT] description" */
static int parse_placeholder_line(struct template *t, const char *p, const char *end, int line,
				  struct strbuf *err)
{
	const char *name, *kind, *kind_end, *eq;
	size_t nlen;

	p = skip_blanks(p, end);
	name = p;
	nlen = placeholder_name_len(name);
	if (!nlen || (name + nlen < end && name[nlen] != ' ' && name[nlen] != '\t')) {
		strbuf_addf(err, "%s:%d: a placeholder name is capitals, digits and _, e.g. TABLE", t->path, line);
		return -1;
	}
	if (find_ph(t, name, nlen) || (nlen == 5 && !memcmp(name, "TITLE", 5)) ||
	    (nlen == 4 && !memcmp(name, "DATE", 4))) {
		strbuf_addf(err, "%s:%d: placeholder %.*s is declared twice or built in", t->path, line,
			    (int)nlen, name);
		return -1;
	}
	kind = skip_blanks(name + nlen, end);
	kind_end = skip_word(kind, end);
	eq = memchr(kind, '=', (size_t)(kind_end - kind));
	size_t klen = (size_t)((eq ? eq : kind_end) - kind);
	int found = -1;
	for (size_t k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
		if (k != PH_DATE && strlen(kind_names[k]) == klen && !memcmp(kind_names[k], kind, klen))
			found = (int)k;
	if (found < 0) {
		strbuf_addf(err, "%s:%d: placeholder %.*s: kind must be ident, type, int, sql or text, not \"%.*s\"",
			    t->path, line, (int)nlen, name, (int)klen, kind);
		return -1;
	}
	struct template_placeholder *ph = add_ph(t, name, nlen);
	ph->declared = true;
	ph->kind = (enum placeholder_kind)found;
	if (eq) {
		ph->def = xmemdupz(eq + 1, (size_t)(kind_end - eq - 1));
		struct strbuf why = STRBUF_INIT;
		if (template_check_value(ph->name, ph->kind, ph->def, &why) < 0) {
			strbuf_addf(err, "%s:%d: default of %s", t->path, line, why.buf);
			strbuf_release(&why);
			return -1;
		}
		strbuf_release(&why);
	}
	p = skip_blanks(kind_end, end);
	free(ph->description);
	ph->description = xmemdupz(p, (size_t)(end - p));
	return 0;
}

/* parse_header reads the leading HTML comment when it holds
 * `template-description:`, and sets t->body past it. */
static int parse_header(struct template *t, const char *text, size_t len, struct strbuf *err)
{
	const char *p = text, *end = text + len, *close;
	int line = 1;

	while (p < end && (*p == '\n' || *p == ' ' || *p == '\t' || *p == '\r')) {
		if (*p == '\n')
			line++;
		p++;
	}
	if (end - p < 4 || memcmp(p, "<!--", 4) || !(close = strstr(p, "-->")) ||
	    !strstr(p, "template-description:") || strstr(p, "template-description:") > close) {
		t->body = xmemdupz(text, len);
		t->body_len = len;
		t->description = xstrdup("");
		return 0;
	}
	for (const char *l = p + 4; l < close; line++) {
		const char *eol = memchr(l, '\n', (size_t)(close - l));
		const char *lend = eol ? eol : close;
		const char *s = skip_blanks(l, lend);
		const char *z = lend;
		while (z > s && (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\r'))
			z--;
		if ((size_t)(z - s) >= 21 && !memcmp(s, "template-description:", 21)) {
			const char *v = skip_blanks(s + 21, z);
			free(t->description);
			t->description = xmemdupz(v, (size_t)(z - v));
		} else if ((size_t)(z - s) >= 12 && !memcmp(s, "placeholder:", 12)) {
			if (parse_placeholder_line(t, s + 12, z, line, err) < 0)
				return -1;
		}
		l = eol ? eol + 1 : close;
		if (!eol)
			break;
	}
	if (!t->description)
		t->description = xstrdup("");
	p = close + 3;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	while (p < end && *p == '\n') {
		p++;
		while (p < end && *p == '\r')
			p++;
	}
	t->body_len = (size_t)(end - p);
	t->body = xmemdupz(p, t->body_len);
	return 0;
}

/* note_used records every {{NAME}} of the body as a placeholder. */
static void note_used(struct template *t)
{
	const char *p = t->body;
	while ((p = strstr(p, "{{"))) {
		size_t n = placeholder_name_len(p + 2);
		if (n && !strncmp(p + 2 + n, "}}", 2) && p[2 + n + 2] != '}') {
			struct template_placeholder *ph = find_ph(t, p + 2, n);
			bool builtin = (n == 5 && !memcmp(p + 2, "TITLE", 5)) ||
				       (n == 4 && !memcmp(p + 2, "DATE", 4));
			if (!ph && !builtin)
				ph = add_ph(t, p + 2, n);
			if (ph)
				ph->used = true;
			p += n + 4;
		} else {
			p += 2;
		}
	}
}

int template_open(struct template *t, const char *name, const char *path, struct strbuf *err)
{
	struct strbuf data = STRBUF_INIT;
	struct stat st;
	int fd, ret = -1;

	t->name = xstrdup(name);
	t->path = xstrdup(path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		strbuf_addf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		strbuf_addf(err, "%s: not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > TEMPLATE_MAX_SIZE) {
		strbuf_addf(err, "%s: larger than the %zu KiB limit for a template", path,
			    TEMPLATE_MAX_SIZE / 1024);
		goto out;
	}
	if (strbuf_read_fd(&data, fd) < 0) {
		strbuf_addf(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (data.len > TEMPLATE_MAX_SIZE) {
		strbuf_addf(err, "%s: larger than the %zu KiB limit for a template", path,
			    TEMPLATE_MAX_SIZE / 1024);
		goto out;
	}
	if (memchr(data.buf, '\0', data.len)) {
		strbuf_addf(err, "%s: binary file, not a template", path);
		goto out;
	}
	size_t bad = utf8_check(data.buf, data.len);
	if (bad) {
		strbuf_addf(err, "%s: invalid UTF-8 at byte %zu", path, bad - 1);
		goto out;
	}
	if (parse_header(t, data.buf, data.len, err) < 0)
		goto out;
	note_used(t);
	ret = 0;
out:
	close(fd);
	strbuf_release(&data);
	return ret;
}

void template_release(struct template *t)
{
	for (size_t i = 0; i < t->nplaceholders; i++) {
		free(t->placeholders[i].name);
		free(t->placeholders[i].def);
		free(t->placeholders[i].description);
	}
	free(t->placeholders);
	free(t->name);
	free(t->path);
	free(t->description);
	free(t->body);
	memset(t, 0, sizeof(*t));
}

/* ---------- values ---------- */

/* common_check: what no value may hold, whatever its kind, because it would
 * change the shape of the Markdown around it or become a capture. */
static int common_check(const char *name, const char *v, struct strbuf *err)
{
	size_t len = strlen(v);
	if (!len) {
		strbuf_addf(err, "%s: the value is empty", name);
		return -1;
	}
	if (len > 256) {
		strbuf_addf(err, "%s: the value is longer than 256 bytes", name);
		return -1;
	}
	if (utf8_check(v, len)) {
		strbuf_addf(err, "%s: the value is not valid UTF-8", name);
		return -1;
	}
	for (const char *p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f) {
			strbuf_addf(err, "%s: the value holds a control character or line break", name);
			return -1;
		}
		if (c == '`' || c == '|') {
			strbuf_addf(err, "%s: the value holds '%c', which would break the Markdown around it",
				    name, c);
			return -1;
		}
	}
	if (strstr(v, "{{") || strstr(v, "}}")) {
		strbuf_addf(err, "%s: the value holds {{ or }}, which expected output reads as a capture",
			    name);
		return -1;
	}
	return 0;
}

static int check_ident(const char *name, const char *v, struct strbuf *err)
{
	size_t len = strlen(v);
	bool ok = len > 0 && len <= 63 && (islower((unsigned char)v[0]) || v[0] == '_');
	for (size_t i = 0; ok && i < len; i++)
		ok = islower((unsigned char)v[i]) || isdigit((unsigned char)v[i]) || v[i] == '_';
	if (!ok)
		strbuf_addf(err, "%s: \"%s\" is not a lower-case SQL identifier (a-z, 0-9 and _, "
			    "not starting with a digit, at most 63 bytes)", name, v);
	return ok ? 0 : -1;
}

static int check_type(const char *name, const char *v, struct strbuf *err)
{
	int depth = 0;
	bool ok = isalpha((unsigned char)v[0]) || v[0] == '_';
	for (const char *p = v; ok && *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			ok = --depth >= 0;
		else
			ok = isalnum((unsigned char)*p) || strchr("_ ,.[]", *p);
	}
	if (!ok || depth)
		strbuf_addf(err, "%s: \"%s\" is not a SQL type name (e.g. bigint, timestamptz, "
			    "varchar(255), numeric(12,2), text[])", name, v);
	return ok && !depth ? 0 : -1;
}

static int check_int(const char *name, const char *v, struct strbuf *err)
{
	size_t len = strlen(v);
	bool ok = len > 0 && len <= 9 && v[0] != '0';
	for (size_t i = 0; ok && i < len; i++)
		ok = isdigit((unsigned char)v[i]);
	if (!ok)
		strbuf_addf(err, "%s: \"%s\" is not a positive integer below one billion", name, v);
	return ok ? 0 : -1;
}

/* check_sql keeps an expression an expression: it is put into statements and
 * into DO $$ ... $$ bodies, so it may not end them or comment them out. */
static int check_sql(const char *name, const char *v, struct strbuf *err)
{
	int depth = 0;
	bool in_str = false, in_ident = false;
	for (const char *p = v; *p; p++) {
		if (in_str) {
			in_str = *p != '\'';
			continue;
		}
		if (in_ident) {
			in_ident = *p != '"';
			continue;
		}
		if (*p == '\'') {
			in_str = true;
		} else if (*p == '"') {
			in_ident = true;
		} else if (*p == ';' || (p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
			strbuf_addf(err, "%s: \"%s\" holds ';' or a comment: give one SQL expression", name, v);
			return -1;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth < 0) {
			break;
		}
	}
	if (strstr(v, "$$")) {
		strbuf_addf(err, "%s: \"%s\" holds $$, which would end the DO block it goes into", name, v);
		return -1;
	}
	if (in_str || in_ident || depth) {
		strbuf_addf(err, "%s: \"%s\" has an unclosed quote or parenthesis", name, v);
		return -1;
	}
	return 0;
}

static int check_date(const char *name, const char *v, struct strbuf *err)
{
	bool ok = strlen(v) == 10 && v[4] == '-' && v[7] == '-';
	for (int i = 0; ok && i < 10; i++)
		ok = i == 4 || i == 7 || isdigit((unsigned char)v[i]);
	if (ok) {
		int m = atoi(v + 5), d = atoi(v + 8);
		ok = m >= 1 && m <= 12 && d >= 1 && d <= 31;
	}
	if (!ok)
		strbuf_addf(err, "%s: \"%s\" is not a date written YYYY-MM-DD", name, v);
	return ok ? 0 : -1;
}

int template_check_value(const char *name, enum placeholder_kind kind, const char *value, struct strbuf *err)
{
	if (common_check(name, value, err) < 0)
		return -1;
	switch (kind) {
	case PH_IDENT: return check_ident(name, value, err);
	case PH_TYPE: return check_type(name, value, err);
	case PH_INT: return check_int(name, value, err);
	case PH_SQL: return check_sql(name, value, err);
	case PH_DATE: return check_date(name, value, err);
	case PH_TEXT: break;
	}
	return 0;
}

/* ---------- filling ---------- */

void template_fill(const struct template *t, const struct template_value *values, size_t nvalues,
		   struct strbuf *out, const char ***left, size_t *nleft)
{
	const char *p = t->body, *end = t->body + t->body_len;
	size_t alloc = 0;

	*left = NULL;
	*nleft = 0;
	while (p < end) {
		const char *open = strstr(p, "{{");
		if (!open) {
			strbuf_add(out, p, (size_t)(end - p));
			break;
		}
		size_t n = placeholder_name_len(open + 2);
		/* `{{NAME}}}` is the tail of a capture like {{N:\d{3}}}: leave it */
		if (!n || strncmp(open + 2 + n, "}}", 2) || open[2 + n + 2] == '}') {
			strbuf_add(out, p, (size_t)(open + 2 - p));
			p = open + 2;
			continue;
		}
		strbuf_add(out, p, (size_t)(open - p));
		const char *value = NULL;
		for (size_t i = nvalues; i-- > 0 && !value;)
			if (strlen(values[i].name) == n && !memcmp(values[i].name, open + 2, n))
				value = values[i].value;
		const struct template_placeholder *ph = find_ph(t, open + 2, n);
		if (!value && ph && ph->def)
			value = ph->def;
		if (value) {
			strbuf_addstr(out, value);
		} else {
			strbuf_addf(out, "__%.*s__", (int)n, open + 2);
			if (ph) {
				bool seen = false;
				for (size_t i = 0; i < *nleft && !seen; i++)
					seen = (*left)[i] == ph->name;
				if (!seen) {
					ALLOC_GROW(*left, *nleft + 1, alloc);
					(*left)[(*nleft)++] = ph->name;
				}
			}
		}
		p = open + 2 + n + 2;
	}
}

void template_slug(const char *title, struct strbuf *out)
{
	size_t start = out->len;
	bool dash = false;
	const char *p;
	for (p = title; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (isalnum(c) && c < 0x80) {
			if (out->len - start + (dash && out->len > start) >= 60)
				break;
			if (dash && out->len > start)
				strbuf_addch(out, '-');
			strbuf_addch(out, (char)tolower(c));
			dash = false;
		} else {
			dash = true;
		}
	}
	/* cut a long title at a word boundary rather than inside a word */
	if (*p && !dash) {
		size_t cut = out->len;
		while (cut > start && out->buf[cut - 1] != '-')
			cut--;
		if (cut > start + 20)
			strbuf_setlen(out, cut - 1);
	}
	if (out->len == start)
		strbuf_addstr(out, "runbook");
}
