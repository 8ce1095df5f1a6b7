/* mdparse.c - Markdown runbook -> struct runbook, with cmark-gfm. */
#define _GNU_SOURCE
#include "model/mdparse.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"

/* ---------- file loading ---------- */

size_t utf8_check(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned int cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return i + 1;
		}
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return i + 1;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* overlong forms, surrogates and values past U+10FFFF */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return i + 1;
		i += n + 1;
	}
	return 0;
}

static int line_of_offset(const char *text, size_t off)
{
	int line = 1;
	for (size_t i = 0; i < off; i++)
		line += text[i] == '\n';
	return line;
}

struct runbook *runbook_load(const char *path, struct strbuf *err, enum load_error *why)
{
	struct strbuf data = STRBUF_INIT;
	struct runbook *rb = NULL;
	enum load_error e = LOAD_OK;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			e = LOAD_NOT_FOUND;
			strbuf_addf(err, "%s: no such file", path);
		} else {
			e = LOAD_UNREADABLE;
			strbuf_addf(err, "%s: cannot open: %s", path, strerror(errno));
		}
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		e = LOAD_UNREADABLE;
		strbuf_addf(err, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		e = LOAD_NOT_FILE;
		strbuf_addf(err, "%s: is a directory, not a runbook file", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		e = LOAD_NOT_FILE;
		strbuf_addf(err, "%s: not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > RUNBOOK_MAX_SIZE) {
		e = LOAD_TOO_BIG;
		strbuf_addf(err, "%s: file is %lld bytes, larger than the %zu MiB limit", path,
			    (long long)st.st_size, RUNBOOK_MAX_SIZE >> 20);
		goto out;
	}
	/* The regular file was opened non-blocking only to avoid hanging on a
	 * FIFO; reads of regular files do not block anyway. */
	strbuf_grow(&data, (size_t)st.st_size);
	for (;;) {
		if (data.len > RUNBOOK_MAX_SIZE) {
			e = LOAD_TOO_BIG;
			strbuf_addf(err, "%s: file grew past the %zu MiB limit", path,
				    RUNBOOK_MAX_SIZE >> 20);
			goto out;
		}
		strbuf_grow(&data, 65536);
		ssize_t n = read(fd, data.buf + data.len, data.alloc - data.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = LOAD_UNREADABLE;
			strbuf_addf(err, "%s: read error: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		strbuf_setlen(&data, data.len + (size_t)n);
	}
	{
		const char *nul = memchr(data.buf, '\0', data.len);
		if (nul) {
			e = LOAD_BINARY;
			strbuf_addf(err, "%s:%d: binary file (NUL byte at offset %zu), not a Markdown runbook",
				    path, line_of_offset(data.buf, (size_t)(nul - data.buf)),
				    (size_t)(nul - data.buf));
			goto out;
		}
	}
	{
		size_t bad = utf8_check(data.buf, data.len);
		if (bad) {
			e = LOAD_BAD_UTF8;
			strbuf_addf(err, "%s:%d: invalid UTF-8 (byte 0x%02x at offset %zu)", path,
				    line_of_offset(data.buf, bad - 1),
				    (unsigned char)data.buf[bad - 1], bad - 1);
			goto out;
		}
	}
	{
		size_t i = 0;
		while (i < data.len && isspace((unsigned char)data.buf[i]))
			i++;
		if (i == data.len) {
			e = LOAD_EMPTY;
			strbuf_addf(err, "%s: empty file, nothing to run", path);
			goto out;
		}
	}
	rb = mdparse_buffer(path, data.buf, data.len);
out:
	if (fd >= 0)
		close(fd);
	strbuf_release(&data);
	if (why)
		*why = e;
	return rb;
}

/* ---------- parser state ---------- */

enum section {
	SEC_PREAMBLE, /* after the title, before the first section */
	SEC_NOTE,
	SEC_PREREQ,
	SEC_SETUP,
	SEC_STEPS, /* a "Steps" heading that holds numbered step headings */
	SEC_STEP,
	SEC_FINAL,
	SEC_FINAL_STATE,
	SEC_ROLLBACK,
	SEC_NEXT,
	SEC_TROUBLE,
};

enum sub {
	SUB_NONE,
	SUB_WHY,
	SUB_COMMANDS,
	SUB_EXPECTED,
	SUB_VERIFY,
	SUB_FAILURES,
	SUB_ROLLBACK,
	SUB_FINAL_STATE,
	SUB_OTHER,
};

/* What a heading or label says, before we know where it stands. */
enum heading_kind {
	H_UNKNOWN,
	H_STEP,
	H_STEPS,
	H_PREREQ,
	H_SETUP,
	H_FINAL,
	H_FINAL_STATE,
	H_ROLLBACK,
	H_NEXT,
	H_TROUBLE,
	H_WHY,
	H_COMMANDS,
	H_EXPECTED,
	H_VERIFY,
	H_FAILURES,
};

enum last_list { LAST_NONE, LAST_COMMANDS, LAST_VERIFY, LAST_ROLLBACK };

struct parser {
	struct runbook *rb;
	struct arena *arena;
	const char *src;
	size_t src_len;
	size_t *line_off; /* offset of each line start, 1-based index */
	int nlines;

	enum section sec;
	int sec_level;
	struct rb_step *step; /* the step-like container being filled, or NULL */
	int step_index;       /* index into rb->steps when sec == SEC_STEP */
	enum sub sub;
	int sub_level;
	int steps_level; /* level of an enclosing "Steps" heading, 0 if none */
	int steps_counter;

	bool expect_next;        /* an "Expected:" label asks for the next block */
	enum last_list last;     /* where the last runnable block went */
	bool last_was_runnable;  /* nothing but the block came since */

	struct strbuf why;
	int note_index; /* open note, -1 if none */
	int trouble_start;

	int depth;             /* block quotes and lists entered by walk_blocks */
	bool too_deep_warned;  /* the too-deep diagnostic was given */
};

/* Block quotes and lists nest as deep as the text says (cmark-gfm itself has
 * no limit); deeper than this, their content is not read as commands, which
 * keeps the walk's recursion, and so the stack, bounded. */
#define MAX_NESTING 32
/* inline_text flattens nested inlines and blocks; deeper than this, the text
 * is left out. */
#define MAX_INLINE_DEPTH 256

static struct rb_step *cur_step(struct parser *p)
{
	if (p->sec == SEC_STEP)
		return &p->rb->steps[p->step_index];
	return p->step;
}

/* ---------- text helpers ---------- */

static void inline_text_at(cmark_node *node, struct strbuf *sb, bool backticks, int depth)
{
	if (depth > MAX_INLINE_DEPTH)
		return;
	for (cmark_node *c = cmark_node_first_child(node); c; c = cmark_node_next(c)) {
		switch (cmark_node_get_type(c)) {
		case CMARK_NODE_TEXT:
		case CMARK_NODE_HTML_INLINE:
			strbuf_addstr(sb, cmark_node_get_literal(c));
			break;
		case CMARK_NODE_CODE:
			if (backticks)
				strbuf_addch(sb, '`');
			strbuf_addstr(sb, cmark_node_get_literal(c));
			if (backticks)
				strbuf_addch(sb, '`');
			break;
		case CMARK_NODE_SOFTBREAK:
		case CMARK_NODE_LINEBREAK:
			strbuf_addch(sb, ' ');
			break;
		case CMARK_NODE_PARAGRAPH:
			if (sb->len && sb->buf[sb->len - 1] != ' ')
				strbuf_addch(sb, ' ');
			inline_text_at(c, sb, backticks, depth + 1);
			break;
		default:
			inline_text_at(c, sb, backticks, depth + 1);
			break;
		}
	}
}

static void inline_text(cmark_node *node, struct strbuf *sb, bool backticks)
{
	inline_text_at(node, sb, backticks, 0);
}

static char *node_text(struct parser *p, cmark_node *node, bool backticks)
{
	struct strbuf sb = STRBUF_INIT;
	inline_text(node, &sb, backticks);
	strbuf_trim(&sb);
	char *s = arena_memdupz(p->arena, sb.buf, sb.len);
	strbuf_release(&sb);
	return s;
}

/* source_lines returns lines [from, to] of the source (1-based, inclusive). */
static char *source_lines(struct parser *p, int from, int to)
{
	if (from < 1)
		from = 1;
	if (to > p->nlines)
		to = p->nlines;
	if (from > to)
		return arena_strdup(p->arena, "");
	size_t a = p->line_off[from];
	size_t b = to + 1 <= p->nlines ? p->line_off[to + 1] : p->src_len;
	return arena_memdupz(p->arena, p->src + a, b - a);
}

/* norm lower-cases s, drops emphasis marks, a leading "N." numbering and
 * trailing punctuation, and collapses blanks: "**Expected Output:**" ->
 * "expected output". */
static void norm(const char *s, struct strbuf *out, bool strip_number)
{
	strbuf_reset(out);
	while (*s && (isspace((unsigned char)*s) || *s == '*' || *s == '_' || *s == '#'))
		s++;
	if (strip_number && isdigit((unsigned char)*s)) {
		const char *t = s;
		while (isdigit((unsigned char)*t))
			t++;
		if (*t == '.' || *t == ')') {
			t++;
			while (isspace((unsigned char)*t))
				t++;
			s = t;
		}
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '*' || c == '_' || c == '`')
			continue;
		if (isspace(c)) {
			if (out->len && out->buf[out->len - 1] != ' ')
				strbuf_addch(out, ' ');
			continue;
		}
		strbuf_addch(out, tolower(c));
	}
	while (out->len && strchr(" :.-!?", out->buf[out->len - 1]))
		strbuf_setlen(out, out->len - 1);
}

static bool is_one_of(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

static const char *const words_prereq[] = {
	"prerequisites", "prerequisite", "pre-requisites", "requirements before you start",
	"before you begin", "before you start", "before starting", "preflight",
	"pre-flight", "preflight checks", "pre-flight checks", "pre-migration checklist",
	"pre-deployment checklist", NULL,
};
static const char *const words_setup[] = {
	"environment setup", "setup", "set up", "environment", "environment variables",
	"set up the environment", "configure environment", NULL,
};
static const char *const words_steps[] = {
	"steps", "procedure", "migration steps", "execution steps", "execution",
	"deployment steps", "run the migration", NULL,
};
static const char *const words_final[] = {
	"final verification", "final check", "final checks", "post-migration verification",
	"verify the migration", "final validation", NULL,
};
static const char *const words_final_state[] = {
	"expected final state", "final state", "expected state", NULL,
};
static const char *const words_rollback[] = {
	"rollback procedure", "rollback", "roll back", "rollback plan", "rollback steps",
	"undo", "rollback strategy", "reverting", "revert", NULL,
};
static const char *const words_next[] = {
	"next steps", "after completion", "follow-up", "follow up", "afterwards",
	"post-migration", "what's next", NULL,
};
static const char *const words_trouble[] = {
	"troubleshooting", "general troubleshooting", "common problems", "known issues",
	"common errors", NULL,
};
static const char *const words_why[] = {
	"why this step", "why", "purpose", "rationale", "context", "what this does",
	"about this step", NULL,
};
static const char *const words_commands[] = {
	"commands", "command", "run", "steps to run", "execute", "what to run", "action",
	"actions", "run this", "run these commands", NULL,
};
static const char *const words_expected[] = {
	"expected output", "expected result", "expected results", "output", "expected",
	"expected outcome", "sample output", NULL,
};
static const char *const words_verify[] = {
	"verification", "verify", "check", "validation", "validate", "verify it worked",
	"confirm", "how to verify", NULL,
};
static const char *const words_failures[] = {
	"if this fails", "troubleshooting", "common errors", "failure modes", "if it fails",
	"errors", "when this fails", "on failure", "failures", "known errors",
	"if something goes wrong", NULL,
};

/* parse_step_heading recognises "Step 1: Title", "Step 1 - Title",
 * "Step 1 — Title", "Step 1. Title", "Step 1 Title" and "Step 1". */
static bool parse_step_heading(const char *text, int *number, const char **title)
{
	const char *s = text;

	while (*s == ' ' || *s == '*' || *s == '_')
		s++;
	if (strncasecmp(s, "step", 4))
		return false;
	s += 4;
	if (*s == ' ' || *s == '\t')
		while (*s == ' ' || *s == '\t')
			s++;
	else if (*s == '#' && isdigit((unsigned char)s[1]))
		s++;
	else
		return false;
	if (*s == '#')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	long n = 0;
	while (isdigit((unsigned char)*s)) {
		if (n < 100000000)
			n = n * 10 + (*s - '0');
		s++;
	}
	/* separators: blanks, ':', '.', ')', '-', en and em dashes */
	for (;;) {
		if (*s == ' ' || *s == '\t' || *s == ':' || *s == '.' || *s == ')' || *s == '-' ||
		    *s == '*' || *s == '_') {
			s++;
		} else if (!strncmp(s, "\xe2\x80\x94", 3) || !strncmp(s, "\xe2\x80\x93", 3)) {
			s += 3;
		} else {
			break;
		}
	}
	if (*s && isalnum((unsigned char)s[-1]) && isalnum((unsigned char)*s))
		return false; /* "Step 1x" is not a step heading */
	*number = (int)n;
	*title = s;
	return true;
}

/* parse_numbered_heading recognises "1. Title" and "1) Title" inside a Steps
 * section. */
static bool parse_numbered_heading(const char *text, int *number, const char **title)
{
	const char *s = text;
	long n = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	while (isdigit((unsigned char)*s)) {
		if (n < 100000000)
			n = n * 10 + (*s - '0');
		s++;
	}
	if (*s != '.' && *s != ')' && *s != ':')
		return false;
	s++;
	while (*s == ' ' || *s == '\t')
		s++;
	*number = (int)n;
	*title = s;
	return true;
}

static enum heading_kind classify(const char *text, struct strbuf *scratch)
{
	int n;
	const char *t;

	if (parse_step_heading(text, &n, &t))
		return H_STEP;
	norm(text, scratch, true);
	const char *s = scratch->buf;
	if (is_one_of(s, words_prereq))
		return H_PREREQ;
	if (is_one_of(s, words_setup))
		return H_SETUP;
	if (is_one_of(s, words_final_state))
		return H_FINAL_STATE;
	if (is_one_of(s, words_final))
		return H_FINAL;
	if (is_one_of(s, words_rollback))
		return H_ROLLBACK;
	if (is_one_of(s, words_next))
		return H_NEXT;
	if (is_one_of(s, words_steps))
		return H_STEPS;
	if (is_one_of(s, words_why))
		return H_WHY;
	if (is_one_of(s, words_commands))
		return H_COMMANDS;
	if (is_one_of(s, words_expected))
		return H_EXPECTED;
	if (is_one_of(s, words_verify))
		return H_VERIFY;
	if (is_one_of(s, words_failures))
		return H_FAILURES;
	if (is_one_of(s, words_trouble))
		return H_TROUBLE;
	return H_UNKNOWN;
}

/* ---------- fence info strings ---------- */

static const char *const langs_shell[] = { "bash", "sh", "shell", "zsh", "ksh", "dash", NULL };
static const char *const langs_console[] = { "console", "shell-session", "shellsession",
					     "terminal", NULL };
static const char *const langs_sql[] = { "sql", "psql", "pgsql", "postgresql", "postgres",
					 "plpgsql", NULL };
static const char *const langs_output[] = { "text", "txt", "output", "plaintext", "plain",
					    "log", "out", "stdout", "result", "none", NULL };

static int fence_info_col(struct parser *p, int line, const char *info)
{
	if (line < 1 || line > p->nlines || !*info)
		return 1;
	const char *start = p->src + p->line_off[line];
	const char *end = line + 1 <= p->nlines ? p->src + p->line_off[line + 1] : p->src + p->src_len;
	size_t ilen = strlen(info);
	for (const char *q = start; q + ilen <= end; q++)
		if (!memcmp(q, info, ilen))
			return (int)(q - start) + 1;
	return 1;
}

static void parse_info(struct parser *p, struct rb_block *b, const char *info)
{
	struct strbuf tok = STRBUF_INIT;
	const char *s = info;
	int base = fence_info_col(p, b->line, info);
	bool first = true;

	b->info = arena_strdup(p->arena, info);
	b->lang = "";
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (!*s)
			break;
		const char *key_start = s;
		strbuf_reset(&tok);
		const char *eq = NULL;
		/* A token runs to the next blank outside quotes. */
		while (*s && *s != ' ' && *s != '\t') {
			if (*s == '=' && !eq) {
				eq = s;
				strbuf_addch(&tok, *s++);
				if (*s == '"' || *s == '\'') {
					char q = *s++;
					while (*s && *s != q)
						strbuf_addch(&tok, *s++);
					if (*s)
						s++;
				}
				continue;
			}
			strbuf_addch(&tok, *s++);
		}
		if (first && !eq) {
			/* "{.bash}" and "{bash}" are seen in the wild */
			char *l = tok.buf;
			size_t len = tok.len;
			while (len && (*l == '{' || *l == '.')) {
				l++;
				len--;
			}
			while (len && l[len - 1] == '}')
				len--;
			char *lang = arena_memdupz(p->arena, l, len);
			for (char *c = lang; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			b->lang = lang;
			first = false;
			continue;
		}
		first = false;
		struct rb_attr *a = ARENA_PUSH(p->arena, b->attrs, b->nattrs, b->attrs_alloc);
		a->col = base + (int)(key_start - info);
		if (eq) {
			size_t klen = (size_t)(strchr(tok.buf, '=') - tok.buf);
			a->key = arena_memdupz(p->arena, tok.buf, klen);
			a->value = arena_strdup(p->arena, tok.buf + klen + 1);
		} else {
			a->key = arena_memdupz(p->arena, tok.buf, tok.len);
			a->value = "";
		}
	}
	strbuf_release(&tok);
}

static void check_attrs(struct parser *p, struct rb_block *b)
{
	const char *file = p->rb->path;

	for (size_t i = 0; i < b->nattrs; i++) {
		const struct rb_attr *a = &b->attrs[i];
		if (!rb_attr_known(a->key)) {
			diag_add(&p->rb->diags, file, b->line, a->col, DIAG_ERROR, "unknown-attribute",
				 "unknown fence attribute '%s'", a->key);
			continue;
		}
		const char *v = a->value;
		char *end;
		if (!strcmp(a->key, "timeout") || !strcmp(a->key, "lock_timeout") ||
		    !strcmp(a->key, "lock-timeout") || !strcmp(a->key, "statement_timeout") ||
		    !strcmp(a->key, "statement-timeout")) {
			double d = strtod(v, &end);
			if (!*v || (*end && strcmp(end, "s") && strcmp(end, "ms")) || d <= 0)
				diag_add(&p->rb->diags, file, b->line, a->col, DIAG_ERROR, "bad-attribute",
					 "%s=%s: expected a positive number of seconds", a->key, v);
		} else if (!strcmp(a->key, "exit") || !strcmp(a->key, "retries")) {
			long l = strtol(v, &end, 10);
			if (!*v || *end || l < 0 || l > 255)
				diag_add(&p->rb->diags, file, b->line, a->col, DIAG_ERROR, "bad-attribute",
					 "%s=%s: expected a number from 0 to 255", a->key, v);
		} else if (!strcmp(a->key, "match")) {
			static const char *const modes[] = { "tolerant", "exact", "regex", "lines",
							     "contains", "none", NULL };
			if (!is_one_of(v, modes))
				diag_add(&p->rb->diags, file, b->line, a->col, DIAG_ERROR, "bad-attribute",
					 "match=%s: expected tolerant, exact, regex, lines, contains or none", v);
		} else if (!strcmp(a->key, "stream")) {
			static const char *const streams[] = { "stdout", "stderr", "both", NULL };
			if (!is_one_of(v, streams))
				diag_add(&p->rb->diags, file, b->line, a->col, DIAG_ERROR, "bad-attribute",
					 "stream=%s: expected stdout, stderr or both", v);
		} else if (!strcmp(a->key, "check")) {
			if (strncmp(v, "off:", 4) || !v[4])
				diag_add(&p->rb->diags, file, b->line, a->col, DIAG_ERROR, "bad-attribute",
					 "check=%s: expected check=off:RULE-ID", v);
		}
	}
}

/* ---------- code blocks ---------- */

static bool fence_closed(struct parser *p, cmark_node *node)
{
	int flen, foff;
	char fchar;
	int end = cmark_node_get_end_line(node);
	int start = cmark_node_get_start_line(node);

	if (!cmark_node_get_fenced(node, &flen, &foff, &fchar))
		return true; /* indented blocks have no fence */
	if (end <= start || end > p->nlines)
		return false;
	const char *s = p->src + p->line_off[end];
	const char *e = end + 1 <= p->nlines ? p->src + p->line_off[end + 1] : p->src + p->src_len;
	int ind = 0;
	while (s < e && *s == ' ' && ind < 4) {
		s++;
		ind++;
	}
	int n = 0;
	while (s < e && *s == fchar) {
		s++;
		n++;
	}
	if (n < flen)
		return false;
	while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++;
	return s == e;
}

static struct rb_block *new_block(struct parser *p, cmark_node *node, bool want_output)
{
	struct rb_block *b = arena_alloc(p->arena, sizeof(*b));
	const char *info = cmark_node_get_fence_info(node);
	const char *lit = cmark_node_get_literal(node);

	b->line = cmark_node_get_start_line(node);
	b->col = cmark_node_get_start_column(node);
	b->end_line = cmark_node_get_end_line(node);
	b->text_line = b->line + 1;
	b->text = arena_strdup(p->arena, lit ? lit : "");
	b->index = -1;
	parse_info(p, b, info ? info : "");
	check_attrs(p, b);
	if (!fence_closed(p, node)) {
		int flen, foff;
		char fchar;
		if (cmark_node_get_fenced(node, &flen, &foff, &fchar)) {
			b->unclosed = true;
			diag_add(&p->rb->diags, p->rb->path, b->line, b->col, DIAG_ERROR, "unclosed-fence",
				 "code fence opened here is never closed");
		}
	}
	if (is_one_of(b->lang, langs_shell))
		b->kind = BLOCK_SHELL;
	else if (is_one_of(b->lang, langs_console))
		b->kind = BLOCK_CONSOLE;
	else if (is_one_of(b->lang, langs_sql))
		b->kind = BLOCK_SQL;
	else if (is_one_of(b->lang, langs_output))
		b->kind = BLOCK_OUTPUT;
	else if (!*b->lang)
		b->kind = want_output ? BLOCK_OUTPUT : BLOCK_SHELL;
	else
		b->kind = BLOCK_OTHER;
	return b;
}

/* split_commands cuts a rollback block into the commands its author wrote
 * as separate paragraphs, each introduced by comment lines:
 *
 *     # Remove the index
 *     psql ... -c "DROP INDEX ..."
 *
 *     # Remove the column
 *     psql ... -c "ALTER TABLE ..."
 *
 * A blank line followed by a comment starts a new command, except inside a
 * here-document.  Each piece keeps its own first line for diagnostics. */
static void split_commands(struct parser *p, struct rb_block *b, struct rb_command **arr,
			   size_t *nr, size_t *alloc)
{
	const char *comment_mark = b->kind == BLOCK_SQL ? "--" : "#";
	size_t cmlen = strlen(comment_mark);
	const char *s = b->text;
	size_t start_nr = *nr;
	struct strbuf comment = STRBUF_INIT, body = STRBUF_INIT, heredoc = STRBUF_INIT;
	int line = b->text_line, body_line = 0;
	bool prev_blank = true;

	if (b->kind != BLOCK_SHELL && b->kind != BLOCK_SQL) {
		struct rb_command *c = ARENA_PUSH(p->arena, *arr, *nr, *alloc);
		c->block = b;
		return;
	}
	for (;;) {
		const char *eol = strchr(s, '\n');
		size_t len = eol ? (size_t)(eol - s) : strlen(s);
		bool at_end = !*s;
		const char *t = s;
		while (t < s + len && (*t == ' ' || *t == '\t'))
			t++;
		bool blank = t == s + len;
		bool is_comment = !blank && !strncmp(t, comment_mark, cmlen) &&
				  !(b->kind == BLOCK_SHELL && t[1] == '!');

		if (heredoc.len && !at_end) {
			/* inside a here-document: only its delimiter, or the end
			 * of the block, ends it */
			if ((size_t)(s + len - t) == heredoc.len && !memcmp(t, heredoc.buf, heredoc.len))
				strbuf_reset(&heredoc);
			strbuf_add(&body, s, len);
			strbuf_addch(&body, '\n');
			goto next;
		}
		if (at_end || (is_comment && prev_blank && body.len)) {
			if (body.len) {
				struct rb_block *piece = arena_alloc(p->arena, sizeof(*piece));
				*piece = *b;
				strbuf_rtrim(&body);
				strbuf_addch(&body, '\n');
				piece->text = arena_memdupz(p->arena, body.buf, body.len);
				piece->text_line = body_line;
				piece->comment = comment.len ? arena_memdupz(p->arena, comment.buf, comment.len)
							     : NULL;
				struct rb_command *c = ARENA_PUSH(p->arena, *arr, *nr, *alloc);
				c->block = piece;
				strbuf_reset(&body);
				strbuf_reset(&comment);
			}
			if (at_end)
				break;
		}
		if (is_comment && !body.len) {
			const char *ct = t + cmlen;
			while (*ct == ' ' && ct < s + len)
				ct++;
			if (comment.len)
				strbuf_addch(&comment, '\n');
			strbuf_add(&comment, ct, (size_t)(s + len - ct));
		} else if (!blank || body.len) {
			if (!body.len)
				body_line = line;
			strbuf_add(&body, s, len);
			strbuf_addch(&body, '\n');
			/* a here-document starts with << WORD, <<'WORD', <<-"WORD" */
			const char *h = memmem(t, (size_t)(s + len - t), "<<", 2);
			if (h && b->kind == BLOCK_SHELL && h + 2 < s + len && h[2] != '<') {
				h += 2;
				if (*h == '-')
					h++;
				while (*h == ' ')
					h++;
				char q = (*h == '\'' || *h == '"') ? *h++ : 0;
				const char *w = h;
				while (h < s + len && (isalnum((unsigned char)*h) || *h == '_'))
					h++;
				if (h > w && (!q || *h == q))
					strbuf_add(&heredoc, w, (size_t)(h - w));
			}
		}
	next:
		prev_blank = blank;
		if (!eol)
			s += len;
		else
			s = eol + 1;
		line++;
	}
	if (*nr == start_nr) {
		struct rb_command *c = ARENA_PUSH(p->arena, *arr, *nr, *alloc);
		c->block = b;
	}
	strbuf_release(&comment);
	strbuf_release(&body);
	strbuf_release(&heredoc);
}

static void begin_container(struct parser *p, struct rb_step *st, enum step_role role,
			    enum section sec, const char *name, const char *heading, int line, int level);

static struct rb_command *last_runnable(struct parser *p)
{
	struct rb_step *st = cur_step(p);
	if (!st)
		return NULL;
	switch (p->last) {
	case LAST_COMMANDS:
		return st->ncommands ? &st->commands[st->ncommands - 1] : NULL;
	case LAST_VERIFY:
		return st->nverifications ? &st->verifications[st->nverifications - 1] : NULL;
	case LAST_ROLLBACK:
		return st->nrollback ? &st->rollback[st->nrollback - 1] : NULL;
	case LAST_NONE:
		break;
	}
	return NULL;
}

static void orphan_expected(struct parser *p, struct rb_block *b, const char *why)
{
	diag_add(&p->rb->diags, p->rb->path, b->line, b->col, DIAG_ERROR, "orphan-expected",
		 "expected-output block %s", why);
}

static void extra_expected(struct parser *p, struct rb_block *b)
{
	diag_add(&p->rb->diags, p->rb->path, b->line, b->col, DIAG_WARNING, "extra-expected",
		 "expected-output block follows a command that already has its expected output");
}

static void add_expected(struct parser *p, struct rb_block *b, bool by_section)
{
	struct rb_step *st = cur_step(p);
	struct rb_command *target = NULL;

	b->kind = BLOCK_OUTPUT;
	if (!st) {
		orphan_expected(p, b, "with no command before it");
		return;
	}
	if (by_section) {
		/* Under an "Expected Output" heading, blocks answer the step's
		 * commands in order. */
		for (size_t i = 0; i < st->ncommands && !target; i++)
			if (!st->commands[i].expected && rb_block_runnable(st->commands[i].block))
				target = &st->commands[i];
		if (!target && p->last == LAST_VERIFY)
			target = last_runnable(p);
	} else {
		target = last_runnable(p);
	}
	if (!target) {
		orphan_expected(p, b, "with no command before it");
		return;
	}
	if (target->expected) {
		extra_expected(p, b);
		return;
	}
	target->expected = b;
}

static void add_runnable(struct parser *p, struct rb_block *b, enum last_list where)
{
	struct rb_step *st = cur_step(p);

	switch (where) {
	case LAST_VERIFY:
		ARENA_PUSH(p->arena, st->verifications, st->nverifications, st->verifications_alloc)->block = b;
		break;
	case LAST_ROLLBACK:
		split_commands(p, b, &st->rollback, &st->nrollback, &st->rollback_alloc);
		break;
	case LAST_COMMANDS:
	case LAST_NONE:
		if (st->role == STEP_ROLLBACK)
			split_commands(p, b, &st->commands, &st->ncommands, &st->commands_alloc);
		else
			ARENA_PUSH(p->arena, st->commands, st->ncommands, st->commands_alloc)->block = b;
		where = LAST_COMMANDS;
		break;
	}
	p->last = where;
}

static void handle_code(struct parser *p, cmark_node *node)
{
	if (p->sec == SEC_PREREQ) {
		/* commands right under the prerequisites set up the environment */
		begin_container(p, &p->rb->setup, STEP_SETUP, SEC_SETUP, "Environment Setup",
				"Prerequisites", cmark_node_get_start_line(node), p->sec_level);
	}
	struct rb_step *st = cur_step(p);
	bool in_expected = p->expect_next || p->sub == SUB_EXPECTED;
	struct rb_block *b = new_block(p, node, in_expected || !st);

	if (!st) {
		/* Code outside any runnable section is documentation. */
		if (b->kind == BLOCK_OUTPUT && p->expect_next)
			orphan_expected(p, b, "with no command before it");
		p->expect_next = false;
		p->last_was_runnable = false;
		return;
	}
	if (p->sub == SUB_WHY || p->sub == SUB_FAILURES || p->sub == SUB_FINAL_STATE) {
		if (!in_expected && b->kind != BLOCK_OUTPUT) {
			/* illustrations inside explanations are not run */
			p->last_was_runnable = false;
			return;
		}
	}
	if (in_expected) {
		add_expected(p, b, p->sub == SUB_EXPECTED && !p->expect_next);
		p->expect_next = false;
		p->last_was_runnable = false;
		return;
	}
	if (b->kind == BLOCK_OUTPUT) {
		/* An output block right after a command is its output. */
		if (p->last_was_runnable)
			add_expected(p, b, false);
		else
			orphan_expected(p, b, "with no command before it");
		p->last_was_runnable = false;
		return;
	}
	enum last_list where = LAST_COMMANDS;
	if (p->sub == SUB_VERIFY)
		where = LAST_VERIFY;
	else if (p->sub == SUB_ROLLBACK)
		where = LAST_ROLLBACK;
	add_runnable(p, b, where);
	p->last_was_runnable = true;
}

/* ---------- tables ---------- */

static const char *const cols_error[] = { "error", "symptom", "message", "error message",
					  "problem", "issue", "failure", "error text", NULL };
static const char *const cols_cause[] = { "cause", "reason", "why", "likely cause",
					  "root cause", "probable cause", NULL };
static const char *const cols_solution[] = { "solution", "fix", "resolution", "action",
					     "remedy", "what to do", "workaround", "solutions", NULL };
static const char *const cols_metric[] = { "metric", "check", "name", "column", "field",
					   "key", "property", NULL };
static const char *const cols_expected[] = { "expected value", "expected", "value",
					     "expected result", "expected values", NULL };

struct table_cols {
	int error, cause, solution, metric, expected;
	int ncols;
	char *header_text; /* "A | B | C" for messages */
};

static void read_header(struct parser *p, cmark_node *table, struct table_cols *tc)
{
	struct strbuf scratch = STRBUF_INIT, hdr = STRBUF_INIT;
	cmark_node *row = cmark_node_first_child(table);
	int i = 0;

	tc->error = tc->cause = tc->solution = tc->metric = tc->expected = -1;
	tc->ncols = 0;
	if (row) {
		for (cmark_node *cell = cmark_node_first_child(row); cell;
		     cell = cmark_node_next(cell), i++) {
			char *t = node_text(p, cell, false);
			norm(t, &scratch, false);
			if (hdr.len)
				strbuf_addstr(&hdr, " | ");
			strbuf_addstr(&hdr, t);
			if (tc->error < 0 && is_one_of(scratch.buf, cols_error))
				tc->error = i;
			else if (tc->cause < 0 && is_one_of(scratch.buf, cols_cause))
				tc->cause = i;
			else if (tc->solution < 0 && is_one_of(scratch.buf, cols_solution))
				tc->solution = i;
			if (tc->metric < 0 && is_one_of(scratch.buf, cols_metric))
				tc->metric = i;
			else if (tc->expected < 0 && is_one_of(scratch.buf, cols_expected))
				tc->expected = i;
		}
	}
	tc->ncols = i;
	tc->header_text = arena_memdupz(p->arena, hdr.buf, hdr.len);
	strbuf_release(&scratch);
	strbuf_release(&hdr);
}

static cmark_node *cell_at(cmark_node *row, int idx)
{
	cmark_node *c = cmark_node_first_child(row);
	for (int i = 0; c && i < idx; i++)
		c = cmark_node_next(c);
	return c;
}

static bool word_before(const char *text, const char *pos, const char *word)
{
	const char *w = pos;
	while (w > text && (w[-1] == ' ' || w[-1] == '`'))
		w--;
	size_t n = strlen(word);
	return (size_t)(w - text) >= n && !strncasecmp(w - n, word, n) &&
	       (w - n == text || !isalpha((unsigned char)*(w - n - 1)));
}

static bool looks_runnable(const char *span)
{
	static const char *const sql_words[] = { "select", "create", "alter", "drop", "insert",
						 "update", "delete", "grant", "revoke", "set",
						 "show", "vacuum", "analyze", "reindex", "begin",
						 "commit", "rollback", "with", "explain", "truncate",
						 "comment", NULL };
	const char *s = span;
	char word[32];
	size_t n = 0;

	if (strstr(span, "...") || strstr(span, "\xe2\x80\xa6"))
		return false;
	if (strstr(span, " = ") || strstr(span, "=="))
		return false;
	while (*s == ' ')
		s++;
	while (s[n] && !isspace((unsigned char)s[n]) && n < sizeof(word) - 1) {
		word[n] = (char)tolower((unsigned char)s[n]);
		n++;
	}
	word[n] = '\0';
	if (!n || is_one_of(word, sql_words))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)word[i]) && !strchr("_./-+", word[i]))
			return false;
	/* A single word is runnable only when it is clearly a command. */
	return s[n] != '\0' || strchr(word, '/') != NULL;
}

/* choose_fix picks the runnable code span a Solution offers: the one for
 * this platform when the author wrote "`a` (macOS) or `b` (Linux)", never
 * one introduced by "not" ("`psql -c` not `psql << EOF`"). */
static void choose_fix(struct parser *p, cmark_node *cell, struct rb_failure_row *row)
{
#ifdef __APPLE__
	const char *mine = "macos", *other = "linux";
#else
	const char *mine = "linux", *other = "macos";
#endif
	const char *best = NULL;
	int best_score = -1;
	struct strbuf before = STRBUF_INIT;

	for (cmark_node *c = cmark_node_first_child(cell); c; c = cmark_node_next(c)) {
		if (cmark_node_get_type(c) != CMARK_NODE_CODE) {
			if (cmark_node_get_type(c) == CMARK_NODE_TEXT)
				strbuf_addstr(&before, cmark_node_get_literal(c));
			continue;
		}
		const char *span = cmark_node_get_literal(c);
		*ARENA_PUSH(p->arena, row->code_spans, row->ncode_spans, row->code_spans_alloc) =
			arena_strdup(p->arena, span);
		bool negated = word_before(before.buf, before.buf + before.len, "not") ||
			       word_before(before.buf, before.buf + before.len, "instead of");
		strbuf_addch(&before, '`');
		strbuf_addstr(&before, span);
		strbuf_addch(&before, '`');
		if (negated || !looks_runnable(span))
			continue;
		int score = 1;
		cmark_node *n = cmark_node_next(c);
		if (n && cmark_node_get_type(n) == CMARK_NODE_TEXT) {
			struct strbuf low = STRBUF_INIT;
			strbuf_addstr(&low, cmark_node_get_literal(n));
			for (size_t i = 0; i < low.len; i++)
				low.buf[i] = (char)tolower((unsigned char)low.buf[i]);
			const char *paren = strchr(low.buf, '(');
			if (paren && (size_t)(paren - low.buf) < 4) {
				if (strstr(paren, mine) == paren + 1)
					score = 2;
				else if (strstr(paren, other) == paren + 1 || strstr(paren, "windows") == paren + 1)
					score = 0;
			}
			strbuf_release(&low);
		}
		if (score > best_score) {
			best = span;
			best_score = score;
		}
	}
	if (best && best_score > 0)
		row->fix = arena_strdup(p->arena, best);
	strbuf_release(&before);
}

static void read_failure_rows(struct parser *p, cmark_node *table, const struct table_cols *tc,
			      struct rb_failure_row **arr, size_t *nr, size_t *alloc)
{
	cmark_node *row = cmark_node_first_child(table);
	if (row)
		row = cmark_node_next(row); /* skip the header */
	for (; row; row = cmark_node_next(row)) {
		struct rb_failure_row *r = ARENA_PUSH(p->arena, *arr, *nr, *alloc);
		cmark_node *e = cell_at(row, tc->error);
		cmark_node *c = tc->cause >= 0 ? cell_at(row, tc->cause) : NULL;
		cmark_node *s = cell_at(row, tc->solution);
		r->line = cmark_node_get_start_line(row);
		r->error = e ? node_text(p, e, true) : "";
		r->cause = c ? node_text(p, c, true) : "";
		r->solution = s ? node_text(p, s, true) : "";
		if (s)
			choose_fix(p, s, r);
	}
}

static void handle_table(struct parser *p, cmark_node *table)
{
	struct table_cols tc;
	struct rb_step *st = cur_step(p);
	int line = cmark_node_get_start_line(table);
	bool failure_cols;

	read_header(p, table, &tc);
	failure_cols = tc.error >= 0 && tc.solution >= 0;

	if (p->sec == SEC_FINAL_STATE || (p->sec == SEC_FINAL && p->sub == SUB_FINAL_STATE) ||
	    (p->sec == SEC_FINAL && tc.metric >= 0 && tc.expected >= 0)) {
		if (tc.metric < 0 || tc.expected < 0) {
			diag_add(&p->rb->diags, p->rb->path, line, 1, DIAG_ERROR, "final-state-columns",
				 "expected final state table needs Metric | Expected Value columns, found %s",
				 tc.header_text);
			return;
		}
		p->rb->final_rows_line = line;
		cmark_node *row = cmark_node_next(cmark_node_first_child(table));
		for (; row; row = cmark_node_next(row)) {
			struct rb_final_row *r = ARENA_PUSH(p->arena, p->rb->final_rows, p->rb->nfinal_rows,
							    p->rb->final_rows_alloc);
			cmark_node *m = cell_at(row, tc.metric), *v = cell_at(row, tc.expected);
			r->metric = m ? node_text(p, m, false) : "";
			r->expected = v ? node_text(p, v, false) : "";
			r->line = cmark_node_get_start_line(row);
		}
		return;
	}
	if (p->sec == SEC_TROUBLE) {
		if (failure_cols)
			read_failure_rows(p, table, &tc, &p->rb->general_failures,
					  &p->rb->ngeneral_failures, &p->rb->general_failures_alloc);
		return;
	}
	if (st && st->role == STEP_MAIN && (p->sub == SUB_FAILURES || failure_cols)) {
		if (!failure_cols) {
			diag_add(&p->rb->diags, p->rb->path, line, 1, DIAG_ERROR, "failure-table-columns",
				 "failure table columns not recognised: expected Error | Cause | Solution, found %s",
				 tc.header_text);
			return;
		}
		if (!st->failure_table_line)
			st->failure_table_line = line;
		read_failure_rows(p, table, &tc, &st->failures, &st->nfailures, &st->failures_alloc);
	}
}

/* ---------- lists and paragraphs ---------- */

static void handle_list(struct parser *p, cmark_node *list, struct rb_item **arr, size_t *nr,
			size_t *alloc)
{
	for (cmark_node *item = cmark_node_first_child(list); item; item = cmark_node_next(item)) {
		struct rb_item *it = ARENA_PUSH(p->arena, *arr, *nr, *alloc);
		const char *type = cmark_node_get_type_string(item);
		struct strbuf sb = STRBUF_INIT;

		it->line = cmark_node_get_start_line(item);
		it->is_task = type && !strcmp(type, "tasklist");
		it->checked = it->is_task && cmark_gfm_extensions_get_tasklist_item_checked(item);
		/* the item's own paragraphs, not nested lists */
		for (cmark_node *c = cmark_node_first_child(item); c; c = cmark_node_next(c)) {
			if (cmark_node_get_type(c) != CMARK_NODE_PARAGRAPH)
				continue;
			if (sb.len)
				strbuf_addch(&sb, ' ');
			inline_text(c, &sb, true);
		}
		strbuf_trim(&sb);
		it->text = arena_memdupz(p->arena, sb.buf, sb.len);
		strbuf_release(&sb);
	}
}

/* A short paragraph that is only a label, e.g. "Expected output:" or
 * "**Verification**", acts as a sub-heading.  Returns H_UNKNOWN otherwise. */
static enum heading_kind label_kind(struct parser *p, cmark_node *para)
{
	struct strbuf raw = STRBUF_INIT, scratch = STRBUF_INIT;
	enum heading_kind k = H_UNKNOWN;

	inline_text(para, &raw, false);
	strbuf_trim(&raw);
	if (raw.len && raw.len < 48 && !strchr(raw.buf, '\n')) {
		bool colon = raw.buf[raw.len - 1] == ':';
		bool strong = cmark_node_first_child(para) &&
			      cmark_node_get_type(cmark_node_first_child(para)) == CMARK_NODE_STRONG &&
			      !cmark_node_next(cmark_node_first_child(para));
		if (colon || strong) {
			norm(raw.buf, &scratch, false);
			if (is_one_of(scratch.buf, words_expected))
				k = H_EXPECTED;
			else if (is_one_of(scratch.buf, words_commands))
				k = H_COMMANDS;
			else if (is_one_of(scratch.buf, words_verify))
				k = H_VERIFY;
			else if (is_one_of(scratch.buf, words_failures))
				k = H_FAILURES;
			else if (is_one_of(scratch.buf, words_why))
				k = H_WHY;
			else if (is_one_of(scratch.buf, words_final_state))
				k = H_FINAL_STATE;
			else if (!strncmp(scratch.buf, "expected", 8))
				k = H_EXPECTED; /* "Expected (psql):" and friends */
		}
	}
	(void)p;
	strbuf_release(&raw);
	strbuf_release(&scratch);
	return k;
}

static void handle_metadata(struct parser *p, cmark_node *para)
{
	/* **Key:** value, one per line */
	cmark_node *c = cmark_node_first_child(para);
	while (c) {
		if (cmark_node_get_type(c) != CMARK_NODE_STRONG) {
			c = cmark_node_next(c);
			continue;
		}
		struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;
		inline_text(c, &key, false);
		strbuf_trim(&key);
		int line = cmark_node_get_start_line(c);
		cmark_node *v = cmark_node_next(c);
		bool colon = key.len && key.buf[key.len - 1] == ':';
		if (colon)
			strbuf_setlen(&key, key.len - 1);
		while (v && cmark_node_get_type(v) != CMARK_NODE_SOFTBREAK &&
		       cmark_node_get_type(v) != CMARK_NODE_LINEBREAK) {
			if (cmark_node_get_type(v) == CMARK_NODE_CODE) {
				strbuf_addch(&val, '`');
				strbuf_addstr(&val, cmark_node_get_literal(v));
				strbuf_addch(&val, '`');
			} else if (cmark_node_get_type(v) == CMARK_NODE_TEXT) {
				strbuf_addstr(&val, cmark_node_get_literal(v));
			} else {
				inline_text(v, &val, true);
			}
			v = cmark_node_next(v);
		}
		strbuf_trim(&val);
		if (!colon && val.len && val.buf[0] == ':') {
			colon = true;
			memmove(val.buf, val.buf + 1, val.len);
			val.len--;
			strbuf_trim(&val);
		}
		if (colon && key.len) {
			struct rb_meta *m = ARENA_PUSH(p->arena, p->rb->meta, p->rb->nmeta, p->rb->meta_alloc);
			m->key = arena_memdupz(p->arena, key.buf, key.len);
			m->value = arena_memdupz(p->arena, val.buf, val.len);
			m->line = line;
		}
		strbuf_release(&key);
		strbuf_release(&val);
		c = v;
	}
}

static bool is_metadata_para(cmark_node *para)
{
	cmark_node *c = cmark_node_first_child(para);
	if (!c || cmark_node_get_type(c) != CMARK_NODE_STRONG)
		return false;
	struct strbuf s = STRBUF_INIT;
	inline_text(c, &s, false);
	strbuf_trim(&s);
	bool ok = s.len && s.buf[s.len - 1] == ':';
	if (!ok && cmark_node_next(c) && cmark_node_get_type(cmark_node_next(c)) == CMARK_NODE_TEXT)
		ok = cmark_node_get_literal(cmark_node_next(c))[0] == ':';
	strbuf_release(&s);
	return ok;
}

static void scan_pragmas(struct parser *p, const char *html, int line)
{
	const char *s = html;
	while ((s = strstr(s, "<!--"))) {
		const char *end = strstr(s, "-->");
		if (!end)
			break;
		const char *q = s + 4;
		while (*q == ' ')
			q++;
		if (!strncmp(q, "runbook:", 8)) {
			q += 8;
			while (*q == ' ')
				q++;
			bool on = !strncmp(q, "on", 2) && (q[2] == ' ' || q[2] == '\t');
			bool off = !strncmp(q, "off", 3) && (q[3] == ' ' || q[3] == '\t');
			if (on || off) {
				q += off ? 3 : 2;
				while (q < end) {
					while (q < end && (*q == ' ' || *q == ',' || *q == '\t' || *q == '\n'))
						q++;
					const char *w = q;
					while (q < end && *q != ' ' && *q != ',' && *q != '\t' && *q != '\n')
						q++;
					if (q > w) {
						struct rb_attr *a = ARENA_PUSH(p->arena, p->rb->pragmas,
									       p->rb->npragmas,
									       p->rb->pragmas_alloc);
						a->key = arena_memdupz(p->arena, w, (size_t)(q - w));
						a->value = on ? "on" : "off";
						a->col = line;
					}
				}
			}
		}
		s = end + 3;
	}
}

/* ---------- sections ---------- */

static void close_note(struct parser *p, int next_line)
{
	if (p->note_index >= 0) {
		struct rb_note *n = &p->rb->notes[p->note_index];
		n->text = source_lines(p, n->line + (n->level ? 1 : 0), next_line - 1);
		/* trim surrounding blank lines and thematic breaks */
		const char *t = n->text;
		while (*t == '\n' || *t == ' ')
			t++;
		char *copy = arena_strdup(p->arena, t);
		size_t len = strlen(copy);
		while (len && (copy[len - 1] == '\n' || copy[len - 1] == ' ' ||
			       (len >= 3 && !strcmp(copy + len - 3, "---"))))
			copy[--len] = '\0';
		n->text = copy;
		p->note_index = -1;
	}
	if (p->sec == SEC_TROUBLE && p->trouble_start) {
		p->rb->troubleshooting = source_lines(p, p->trouble_start + 1, next_line - 1);
		p->trouble_start = 0;
	}
}

static void flush_why(struct parser *p)
{
	struct rb_step *st = cur_step(p);
	if (st && p->why.len) {
		strbuf_trim(&p->why);
		st->why = arena_memdupz(p->arena, p->why.buf, p->why.len);
	}
	strbuf_reset(&p->why);
}

static void open_note(struct parser *p, const char *heading, int line, int level)
{
	struct rb_note *n = ARENA_PUSH(p->arena, p->rb->notes, p->rb->nnotes, p->rb->notes_alloc);
	n->heading = heading;
	n->line = line;
	n->level = level;
	n->text = "";
	p->note_index = (int)(p->rb->nnotes - 1);
}

static void leave_section(struct parser *p, int next_line)
{
	flush_why(p);
	close_note(p, next_line);
	p->step = NULL;
	p->sub = SUB_NONE;
	p->sub_level = 0;
	p->expect_next = false;
	p->last = LAST_NONE;
	p->last_was_runnable = false;
}

static void init_step(struct parser *p, struct rb_step *st, enum step_role role, const char *title,
		      const char *heading, int line, int level)
{
	(void)p;
	st->role = role;
	st->title = title;
	st->heading = heading;
	st->why = "";
	st->line = line;
	st->level = level;
}

static void begin_step(struct parser *p, int number, const char *title, const char *heading,
		       int line, int level)
{
	struct rb_step *st = ARENA_PUSH(p->arena, p->rb->steps, p->rb->nsteps, p->rb->steps_alloc);
	init_step(p, st, STEP_MAIN, arena_strdup(p->arena, title), heading, line, level);
	st->number = number;
	p->sec = SEC_STEP;
	p->sec_level = level;
	p->step_index = (int)(p->rb->nsteps - 1);
	p->step = NULL;
}

static void begin_container(struct parser *p, struct rb_step *st, enum step_role role,
			    enum section sec, const char *name, const char *heading, int line, int level)
{
	if (!st->line)
		init_step(p, st, role, name, heading, line, level);
	p->sec = sec;
	p->sec_level = level;
	p->step = st;
}

static enum sub sub_of(enum heading_kind k)
{
	switch (k) {
	case H_WHY: return SUB_WHY;
	case H_COMMANDS: return SUB_COMMANDS;
	case H_EXPECTED: return SUB_EXPECTED;
	case H_VERIFY: return SUB_VERIFY;
	case H_FAILURES: return SUB_FAILURES;
	case H_TROUBLE: return SUB_FAILURES;
	case H_ROLLBACK: return SUB_ROLLBACK;
	case H_FINAL_STATE: return SUB_FINAL_STATE;
	default: return SUB_OTHER;
	}
}

static void handle_heading(struct parser *p, cmark_node *node)
{
	struct strbuf scratch = STRBUF_INIT;
	int level = cmark_node_get_heading_level(node);
	int line = cmark_node_get_start_line(node);
	char *text = node_text(p, node, false);
	enum heading_kind k = classify(text, &scratch);
	int number;
	const char *title;

	strbuf_release(&scratch);

	if (level == 1 && !p->rb->title_line) {
		leave_section(p, line);
		p->rb->title = text;
		p->rb->title_line = line;
		p->sec = SEC_PREAMBLE;
		p->sec_level = 1;
		return;
	}

	bool in_container = (p->sec == SEC_STEP || p->sec == SEC_SETUP || p->sec == SEC_FINAL ||
			     p->sec == SEC_ROLLBACK) && level > p->sec_level;

	if (in_container && k != H_STEP) {
		/* a sub-section of the step being read */
		flush_why(p);
		if (k == H_FINAL_STATE && p->sec == SEC_FINAL) {
			p->sub = SUB_FINAL_STATE;
		} else if (k == H_SETUP || k == H_PREREQ || k == H_NEXT || k == H_STEPS) {
			p->sub = SUB_OTHER;
		} else if (k == H_FINAL && p->sec == SEC_STEP) {
			goto top; /* "### Final Verification" closing the last step */
		} else {
			p->sub = sub_of(k);
		}
		p->sub_level = level;
		p->expect_next = false;
		p->last_was_runnable = false;
		return;
	}
	if (p->sec == SEC_PREREQ && level > p->sec_level && k == H_SETUP) {
		leave_section(p, line);
		begin_container(p, &p->rb->setup, STEP_SETUP, SEC_SETUP, "Environment Setup", text, line,
				level);
		return;
	}
	if (p->sec == SEC_NOTE && level > p->sec_level && k == H_UNKNOWN)
		return; /* a sub-heading of a note stays in the note */
	if (p->sec == SEC_TROUBLE && level > p->sec_level && k == H_UNKNOWN)
		return;
	if (p->sec == SEC_NEXT && level > p->sec_level && k == H_UNKNOWN)
		return;

top:
	leave_section(p, line);
	if (p->steps_level && level <= p->steps_level)
		p->steps_level = 0;

	if (k == H_STEP && parse_step_heading(text, &number, &title)) {
		begin_step(p, number, title, text, line, level);
		p->steps_counter = number;
		return;
	}
	if (p->steps_level && level > p->steps_level && k == H_UNKNOWN) {
		if (!parse_numbered_heading(text, &number, &title)) {
			number = p->steps_counter + 1;
			title = text;
		}
		p->steps_counter = number;
		begin_step(p, number, title, text, line, level);
		return;
	}
	switch (k) {
	case H_PREREQ:
		p->sec = SEC_PREREQ;
		p->sec_level = level;
		if (!p->rb->prereqs_line)
			p->rb->prereqs_line = line;
		return;
	case H_SETUP:
		begin_container(p, &p->rb->setup, STEP_SETUP, SEC_SETUP, "Environment Setup", text,
				line, level);
		return;
	case H_STEPS:
		p->sec = SEC_STEPS;
		p->sec_level = level;
		p->steps_level = level;
		return;
	case H_FINAL:
		begin_container(p, &p->rb->final, STEP_FINAL, SEC_FINAL, "Final Verification", text,
				line, level);
		return;
	case H_VERIFY:
		if (p->rb->nsteps) {
			begin_container(p, &p->rb->final, STEP_FINAL, SEC_FINAL, "Final Verification",
					text, line, level);
			return;
		}
		break;
	case H_FINAL_STATE:
		p->sec = SEC_FINAL_STATE;
		p->sec_level = level;
		return;
	case H_ROLLBACK:
		begin_container(p, &p->rb->rollback, STEP_ROLLBACK, SEC_ROLLBACK, "Rollback Procedure",
				text, line, level);
		return;
	case H_NEXT:
		p->sec = SEC_NEXT;
		p->sec_level = level;
		return;
	case H_TROUBLE:
	case H_FAILURES:
		p->sec = SEC_TROUBLE;
		p->sec_level = level;
		p->trouble_start = line;
		p->rb->troubleshooting_line = line;
		return;
	default:
		break;
	}
	p->sec = SEC_NOTE;
	p->sec_level = level;
	open_note(p, text, line, level);
}

static void handle_paragraph(struct parser *p, cmark_node *node)
{
	struct rb_step *st = cur_step(p);
	enum heading_kind label;

	if (p->sec == SEC_PREAMBLE && is_metadata_para(node)) {
		handle_metadata(p, node);
		return;
	}
	if (st) {
		label = label_kind(p, node);
		if (label == H_EXPECTED) {
			p->expect_next = true;
			return;
		}
		if (label != H_UNKNOWN) {
			flush_why(p);
			p->sub = sub_of(label);
			p->sub_level = 99;
			p->expect_next = false;
			p->last_was_runnable = false;
			return;
		}
		if (p->sub == SUB_WHY || (p->sub == SUB_NONE && !st->ncommands)) {
			if (p->why.len)
				strbuf_addstr(&p->why, "\n\n");
			inline_text(node, &p->why, true);
		}
	}
	p->last_was_runnable = false;
}

static void walk_blocks(struct parser *p, cmark_node *parent);

static void handle_block(struct parser *p, cmark_node *node)
{
	switch (cmark_node_get_type(node)) {
	case CMARK_NODE_HEADING:
		handle_heading(p, node);
		break;
	case CMARK_NODE_PARAGRAPH:
		handle_paragraph(p, node);
		break;
	case CMARK_NODE_CODE_BLOCK:
		handle_code(p, node);
		break;
	case CMARK_NODE_LIST:
		if (p->sec == SEC_PREREQ) {
			handle_list(p, node, &p->rb->prereqs, &p->rb->nprereqs, &p->rb->prereqs_alloc);
		} else if (p->sec == SEC_NEXT) {
			handle_list(p, node, &p->rb->next_steps, &p->rb->nnext_steps,
				    &p->rb->next_steps_alloc);
		} else if (cur_step(p)) {
			/* commands written as a list of code blocks */
			for (cmark_node *item = cmark_node_first_child(node); item;
			     item = cmark_node_next(item))
				walk_blocks(p, item);
		}
		p->last_was_runnable = false;
		break;
	case CMARK_NODE_BLOCK_QUOTE:
		if (cur_step(p))
			walk_blocks(p, node);
		break;
	case CMARK_NODE_HTML_BLOCK:
		scan_pragmas(p, cmark_node_get_literal(node), cmark_node_get_start_line(node));
		break;
	case CMARK_NODE_THEMATIC_BREAK:
		break;
	default: {
		const char *type = cmark_node_get_type_string(node);
		if (type && !strcmp(type, "table"))
			handle_table(p, node);
		p->last_was_runnable = false;
		break;
	}
	}
}

static void walk_blocks(struct parser *p, cmark_node *parent)
{
	if (p->depth >= MAX_NESTING) {
		if (!p->too_deep_warned) {
			p->too_deep_warned = true;
			diag_add(&p->rb->diags, p->rb->path, cmark_node_get_start_line(parent), 1,
				 DIAG_WARNING, "nesting-too-deep",
				 "block quotes and lists nested more than %d deep: what is inside is "
				 "not read as commands",
				 MAX_NESTING);
		}
		return;
	}
	p->depth++;
	for (cmark_node *n = cmark_node_first_child(parent); n; n = cmark_node_next(n))
		handle_block(p, n);
	p->depth--;
}

static void scan_inline_pragmas(struct parser *p, cmark_node *doc)
{
	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		if (ev == CMARK_EVENT_ENTER && cmark_node_get_type(n) == CMARK_NODE_HTML_INLINE) {
			cmark_node *par = cmark_node_parent(n);
			scan_pragmas(p, cmark_node_get_literal(n),
				     par ? cmark_node_get_start_line(par) : 0);
		}
	}
	cmark_iter_free(it);
}

static int number_block(const struct rb_step *step, const struct rb_command *cmd, bool v, void *data)
{
	size_t *n = data;
	(void)step;
	(void)v;
	cmd->block->index = (int)(*n)++;
	return 0;
}

/* YAML front matter ("---" ... "---" at the very top) is read as metadata
 * and blanked out for cmark, keeping line numbers. */
static void front_matter(struct parser *p, char *text, size_t len)
{
	if (len < 4 || strncmp(text, "---\n", 4))
		return;
	char *end = strstr(text + 4, "\n---");
	if (!end || (end[4] != '\n' && end[4] != '\0'))
		return;
	int line = 2;
	for (char *s = text + 4; s < end + 1;) {
		char *eol = memchr(s, '\n', (size_t)(end + 1 - s));
		if (!eol)
			break;
		char *colon = memchr(s, ':', (size_t)(eol - s));
		if (colon && colon > s && *s != ' ' && *s != '#') {
			struct strbuf v = STRBUF_INIT;
			strbuf_add(&v, colon + 1, (size_t)(eol - colon - 1));
			strbuf_trim(&v);
			if (v.len >= 2 && (v.buf[0] == '"' || v.buf[0] == '\'') && v.buf[v.len - 1] == v.buf[0]) {
				memmove(v.buf, v.buf + 1, v.len - 2);
				strbuf_setlen(&v, v.len - 2);
			}
			struct rb_meta *m = ARENA_PUSH(p->arena, p->rb->meta, p->rb->nmeta, p->rb->meta_alloc);
			m->key = arena_memdupz(p->arena, s, (size_t)(colon - s));
			m->value = arena_memdupz(p->arena, v.buf, v.len);
			m->line = line;
			strbuf_release(&v);
		}
		s = eol + 1;
		line++;
	}
	for (char *s = text; s < end + 4; s++)
		if (*s != '\n')
			*s = ' ';
}

/* line_ends_at says whether a line ends with text[i], counting lines as
 * cmark does: "\n", "\r\n" and a "\r" on its own all end one, so that the
 * line numbers cmark gives index line_off. */
static bool line_ends_at(const char *text, size_t i, size_t len)
{
	return text[i] == '\n' || (text[i] == '\r' && (i + 1 == len || text[i + 1] != '\n'));
}

struct runbook *mdparse_buffer(const char *path, const char *text, size_t len)
{
	struct arena arena = ARENA_INIT;
	struct runbook *rb = arena_alloc(&arena, sizeof(*rb));
	struct parser p;
	char *copy;
	cmark_parser *cp;
	cmark_node *doc;

	memset(&p, 0, sizeof(p));
	rb->path = arena_strdup(&arena, path);
	rb->title = "";
	/* skip a byte-order mark */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
		text += 3;
		len -= 3;
	}
	copy = arena_memdupz(&arena, text, len);
	rb->source = arena_memdupz(&arena, text, len);
	rb->source_len = len;

	p.rb = rb;
	p.arena = &arena;
	p.src = rb->source;
	p.src_len = len;
	p.note_index = -1;
	p.sec = SEC_PREAMBLE;
	strbuf_init(&p.why, 0);

	p.nlines = 1;
	for (size_t i = 0; i + 1 < len; i++)
		if (line_ends_at(text, i, len))
			p.nlines++;
	p.line_off = xcalloc((size_t)p.nlines + 2, sizeof(size_t));
	{
		int l = 1;
		p.line_off[1] = 0;
		for (size_t i = 0; i + 1 < len; i++)
			if (line_ends_at(text, i, len))
				p.line_off[++l] = i + 1;
	}
	front_matter(&p, copy, len);

	cmark_gfm_core_extensions_ensure_registered();
	cp = cmark_parser_new(CMARK_OPT_DEFAULT | CMARK_OPT_FULL_INFO_STRING);
	cmark_parser_attach_syntax_extension(cp, cmark_find_syntax_extension("table"));
	cmark_parser_attach_syntax_extension(cp, cmark_find_syntax_extension("tasklist"));
	cmark_parser_feed(cp, copy, len);
	doc = cmark_parser_finish(cp);

	/* text before the first heading is a note unless it is metadata */
	walk_blocks(&p, doc);
	leave_section(&p, p.nlines + 1);
	scan_inline_pragmas(&p, doc);

	cmark_node_free(doc);
	cmark_parser_free(cp);
	free(p.line_off);
	strbuf_release(&p.why);

	rb_for_each_command(rb, number_block, &rb->nblocks);
	rb->arena = arena;
	return rb;
}
