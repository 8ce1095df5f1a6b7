/* sqllint_shell.c - the psql calls of a shell script, and what it backs up
 * and exports on the way. */
#include "lint/sqllint_private.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "lint/shscan.h"
#include "base/strbuf.h"

/* has_lock_timeout says whether s (PGOPTIONS, a connection string) sets a
 * lock_timeout other than 0. */
static bool has_lock_timeout(const char *s)
{
	const char *p = strstr(s, "lock_timeout");
	if (!p)
		return false;
	p += strlen("lock_timeout");
	while (*p == ' ')
		p++;
	if (*p == '=')
		p++;
	else if (!strncasecmp(p, "%3d", 3)) /* '=' in a URI */
		p += 3;
	while (*p == ' ' || *p == '\'' || *p == '"')
		p++;
	size_t k = 0;
	while (p[k] == '0' || p[k] == '.')
		k++;
	return k == 0 || isdigit((unsigned char)p[k]);
}

static bool word_is(const struct sh_command *c, size_t i, const char *s)
{
	return i < c->nwords && !strcmp(c->words[i].text, s);
}

static void note_pgoptions(struct sqllint *l, const struct sh_command *c)
{
	size_t first = c->nassign;
	if (c->nassign == c->nwords) {
		first = 0;
	} else if (word_is(c, c->nassign, "export")) {
		first = c->nassign + 1;
	} else if (word_is(c, c->nassign, "unset")) {
		for (size_t k = c->nassign + 1; k < c->nwords; k++)
			if (word_is(c, k, "PGOPTIONS"))
				l->pgoptions_lock_timeout = false;
		return;
	} else {
		return;
	}
	for (size_t k = first; k < c->nwords; k++)
		if (!strncmp(c->words[k].text, "PGOPTIONS=", 10))
			l->pgoptions_lock_timeout = has_lock_timeout(c->words[k].text + 10);
}

/* program finds the program a command runs, looking through wrappers
 * (sudo, env, docker exec, kubectl exec ...); returns its word index or
 * c->nwords. */
static size_t program(const struct sh_command *c)
{
	static const char *const interesting[] = { "psql", "pg_dump", "pg_dumpall", "pg_basebackup",
						   NULL };
	static const char *const wrappers[] = { "sudo", "doas", "env", "time", "nohup", "exec",
						"command", "nice", "timeout", "docker", "podman",
						"kubectl", "oc", "runuser", "stdbuf", NULL };
	size_t p = c->nassign;
	if (p >= c->nwords)
		return c->nwords;
	const char *base = sh_basename(c->words[p].text);
	for (size_t k = 0; interesting[k]; k++)
		if (!strcmp(base, interesting[k]))
			return p;
	bool wrapped = false;
	for (size_t k = 0; wrappers[k]; k++)
		wrapped = wrapped || !strcmp(base, wrappers[k]);
	if (!wrapped)
		return c->nwords;
	for (size_t w = p + 1; w < c->nwords; w++) {
		base = sh_basename(c->words[w].text);
		for (size_t k = 0; interesting[k]; k++)
			if (!strcmp(base, interesting[k]))
				return w;
	}
	return c->nwords;
}

static void add_dump_table(struct sqllint *l, const char *pattern)
{
	if (strpbrk(pattern, "*?")) {
		l->backup_all = true;
		return;
	}
	const char *dot = strrchr(pattern, '.');
	const char *name = dot ? dot + 1 : pattern;
	struct strbuf b = STRBUF_INIT;
	if (*name == '"') {
		for (name++; *name && *name != '"'; name++)
			strbuf_addch(&b, *name);
	} else {
		for (; *name; name++)
			strbuf_addch(&b, tolower((unsigned char)*name));
	}
	strset_add(&l->backed_up, b.buf);
	strbuf_release(&b);
}

/* dump_backup reads the options of pg_dump, pg_dumpall and pg_basebackup. */
static void dump_backup(struct sqllint *l, const struct sh_command *c, size_t p)
{
	const char *prog = sh_basename(c->words[p].text);
	bool dumpall = !strcmp(prog, "pg_dumpall");
	bool schema_only = false;
	struct strset tables = { NULL, 0, 0, NULL, 0 };

	if (!strcmp(prog, "pg_basebackup")) {
		l->backup_all = true;
		return;
	}
	const char *with_arg = dumpall ? "fdhlpUSE" : "fFdhpUnNtTjZESe";
	for (size_t k = p + 1; k < c->nwords; k++) {
		const char *a = c->words[k].text;
		if (!strncmp(a, "--", 2)) {
			if (!strcmp(a, "--schema-only") || !strcmp(a, "--globals-only") ||
			    !strcmp(a, "--roles-only") || !strcmp(a, "--tablespaces-only") ||
			    !strcmp(a, "--section=pre-data") || !strcmp(a, "--section=post-data"))
				schema_only = true;
			else if (!strncmp(a, "--table=", 8) && !dumpall)
				strset_add(&tables, a + 8);
			else if (!strcmp(a, "--table") && !dumpall && k + 1 < c->nwords)
				strset_add(&tables, c->words[++k].text);
			continue;
		}
		if (a[0] != '-')
			continue;
		for (size_t j = 1; a[j]; j++) {
			if (a[j] == 's' || (dumpall && (a[j] == 'g' || a[j] == 'r' || a[j] == 't')))
				schema_only = true;
			if (strchr(with_arg, a[j]) || (!dumpall && a[j] == 't')) {
				const char *v = a + j + 1;
				if (!*v && k + 1 < c->nwords)
					v = c->words[++k].text;
				if (a[j] == 't' && !dumpall)
					strset_add(&tables, v);
				break;
			}
		}
	}
	if (!schema_only) {
		if (!tables.nr)
			l->backup_all = true;
		for (size_t k = 0; k < tables.nr; k++)
			add_dump_table(l, tables.items[k]);
	}
	strset_free(&tables);
}

/* A piece of SQL a psql call runs: a -c string, or its standard input. */
struct psql_input {
	struct sh_text text; /* a view: nothing in it is owned */
	bool command;        /* -c: sent as one query */
};

static struct sh_text text_view(const struct sh_text *t, size_t skip)
{
	struct sh_text v = { t->text + skip, t->len - skip, t->map + skip };
	return v;
}

/* stdin_of finds what a psql call reads on standard input from the script:
 * its own here-documents, or those of `cat <<EOF |`, or `echo '...' |`. */
static size_t stdin_of(const struct sh_script *s, size_t k, struct psql_input *in, size_t max)
{
	const struct sh_command *c = &s->cmds[k];
	size_t n = 0;
	for (size_t i = 0; i < c->ninput && n < max; i++) {
		in[n].text = c->input[i];
		in[n++].command = false;
	}
	if (!n && c->pipe_in && k > 0 && s->cmds[k - 1].pipe_out) {
		const struct sh_command *prev = &s->cmds[k - 1];
		size_t p = prev->nassign;
		if (word_is(prev, p, "cat")) {
			for (size_t i = 0; i < prev->ninput && n < max; i++) {
				in[n].text = prev->input[i];
				in[n++].command = false;
			}
		} else if ((word_is(prev, p, "echo") || word_is(prev, p, "printf")) &&
			   prev->nwords == p + 2) {
			in[n].text = prev->words[p + 1];
			in[n++].command = false;
		}
	}
	return n;
}

static bool long_opt_takes_arg(const char *name, size_t len)
{
	static const char *const opts[] = { "command", "dbname", "file", "field-separator",
					    "host", "log-file", "output", "port", "pset",
					    "record-separator", "set", "table-attr", "username",
					    "variable", NULL };
	for (size_t k = 0; opts[k]; k++)
		if (strlen(opts[k]) == len && !strncmp(opts[k], name, len))
			return true;
	return false;
}

static void psql_call(struct sqllint *l, const struct sh_script *s, size_t k, size_t p,
		      const char *script, int line, int col, unsigned flags)
{
	const struct sh_command *c = &s->cmds[k];
	struct psql_input in[64];
	size_t nin = 0;
	bool single = false, reads_stdin = true, lock_timeout = l->pgoptions_lock_timeout;

	for (size_t w = 0; w < p; w++)
		if (!strncmp(c->words[w].text, "PGOPTIONS=", 10))
			lock_timeout = has_lock_timeout(c->words[w].text + 10);

	for (size_t w = p + 1; w < c->nwords && nin < 60; w++) {
		const struct sh_text *word = &c->words[w];
		const char *a = word->text;
		if (a[0] == '-' && a[1] == '-' && a[2]) {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
			struct sh_text value = { NULL, 0, NULL };
			bool has_value = false;
			if (long_opt_takes_arg(name, nlen)) {
				if (eq) {
					value = text_view(word, (size_t)(eq + 1 - a));
					has_value = true;
				} else if (w + 1 < c->nwords) {
					value = c->words[++w];
					has_value = true;
				}
			}
			if (nlen == 18 && !strncmp(name, "single-transaction", nlen))
				single = true;
			if (!has_value)
				continue;
			if (nlen == 7 && !strncmp(name, "command", nlen)) {
				in[nin].text = value;
				in[nin++].command = true;
				reads_stdin = false;
			} else if (nlen == 4 && !strncmp(name, "file", nlen)) {
				reads_stdin = false;
				if (!strcmp(value.text, "-"))
					nin += stdin_of(s, k, in + nin, 60 - nin);
			} else if (nlen == 6 && !strncmp(name, "dbname", nlen)) {
				lock_timeout = lock_timeout || has_lock_timeout(value.text);
			}
			continue;
		}
		if (a[0] == '-' && a[1]) {
			for (size_t j = 1; a[j]; j++) {
				if (a[j] == '1')
					single = true;
				if (!strchr("cdfFhLopPRTUv", a[j]))
					continue;
				struct sh_text value;
				if (a[j + 1])
					value = text_view(word, j + 1);
				else if (w + 1 < c->nwords)
					value = c->words[++w];
				else
					break;
				if (a[j] == 'c') {
					in[nin].text = value;
					in[nin++].command = true;
					reads_stdin = false;
				} else if (a[j] == 'f') {
					reads_stdin = false;
					if (!strcmp(value.text, "-"))
						nin += stdin_of(s, k, in + nin, 60 - nin);
				} else if (a[j] == 'd') {
					lock_timeout = lock_timeout || has_lock_timeout(value.text);
				}
				break;
			}
			continue;
		}
		lock_timeout = lock_timeout || has_lock_timeout(a);
	}
	if (reads_stdin)
		nin += stdin_of(s, k, in + nin, 60 - nin);

	struct session ss;
	memset(&ss, 0, sizeof(ss));
	ss.flags = flags;
	ss.shell = true;
	ss.single_tx = single;
	ss.initial_lock_timeout = lock_timeout;
	ss.lock_timeout = lock_timeout;
	for (size_t i = 0; i < nin; i++) {
		struct source src = { in[i].text.text, in[i].text.map, script, line, col, 0, 0, 0 };
		session_lint(l, &ss, &src, in[i].text.len, in[i].command);
	}
	session_end(l, &ss);
}

void sqllint_shell(struct sqllint *l, const char *text, int line, int col, unsigned flags)
{
	struct sh_script s = SH_SCRIPT_INIT;

	shscan(text, strlen(text), &s);
	for (size_t k = 0; k < s.ncmds; k++) {
		const struct sh_command *c = &s.cmds[k];
		if (!c->subst)
			note_pgoptions(l, c);
		size_t p = program(c);
		if (p >= c->nwords)
			continue;
		const char *prog = sh_basename(c->words[p].text);
		if (!strcmp(prog, "psql"))
			psql_call(l, &s, k, p, text, line, col, flags);
		else
			dump_backup(l, c, p);
	}
	sh_script_release(&s);
}
