/* shscan.c - read a bash script far enough to lint what it runs. */
#include "lint/shscan.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

struct heredoc {
	size_t cmd; /* index in out->cmds, SIZE_MAX until the command is complete */
	char *delim;
	bool strip_tabs;
	bool quoted;
};

struct scanner {
	const char *s;
	size_t end; /* scanning stops here (the closing backtick of a `...`) */
	size_t i;
	struct sh_script *out;
	struct heredoc *pending;
	size_t npending, pending_alloc;
	int subst; /* nesting of $(...) and `...` */
};

struct tbuf {
	char *text;
	size_t *map;
	size_t len, alloc;
};

static void tb_add(struct tbuf *t, char c, size_t off)
{
	if (t->len + 2 > t->alloc) {
		t->alloc = t->alloc < 32 ? 32 : t->alloc * 2;
		t->text = xrealloc(t->text, t->alloc);
		t->map = xrealloc(t->map, t->alloc * sizeof(*t->map));
	}
	t->text[t->len] = c;
	t->map[t->len] = off;
	t->len++;
}

static void tb_add_raw(struct tbuf *t, const char *s, size_t from, size_t to)
{
	for (size_t k = from; k < to; k++)
		tb_add(t, s[k], k);
}

static struct sh_text tb_finish(struct tbuf *t, size_t end_off)
{
	struct sh_text r;
	tb_add(t, '\0', end_off);
	t->len--;
	r.text = t->text;
	r.map = t->map;
	r.len = t->len;
	memset(t, 0, sizeof(*t));
	return r;
}

static void text_free(struct sh_text *t)
{
	free(t->text);
	free(t->map);
}

static bool name_start(int c)
{
	return isalpha(c) || c == '_';
}

static bool name_char(int c)
{
	return isalnum(c) || c == '_';
}

static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_meta(int c)
{
	return is_blank(c) || c == '\n' || c == ';' || c == '&' || c == '|' || c == '(' ||
	       c == ')' || c == '<' || c == '>';
}

static void add_var(struct sh_var **v, size_t *n, size_t *alloc, const char *name, size_t len,
		    size_t offset)
{
	ALLOC_GROW(*v, *n + 1, *alloc);
	(*v)[*n].name = xmemdupz(name, len);
	(*v)[*n].offset = offset;
	(*n)++;
}

static void add_use(struct scanner *sc, size_t name_at, size_t len, size_t dollar)
{
	struct sh_script *o = sc->out;
	add_var(&o->uses, &o->nuses, &o->uses_alloc, sc->s + name_at, len, dollar);
}

static void scan_list(struct scanner *sc, int terminator);

/* skip_group moves past a balanced (...) or {...} starting at sc->i, quotes
 * respected, and returns the offset just past its closing character. */
static size_t skip_group(struct scanner *sc, char open, char close)
{
	int depth = 0;
	const char *s = sc->s;
	while (sc->i < sc->end) {
		char c = s[sc->i];
		if (c == '\\' && sc->i + 1 < sc->end) {
			sc->i += 2;
			continue;
		}
		if (c == '\'') {
			sc->i++;
			while (sc->i < sc->end && s[sc->i] != '\'')
				sc->i++;
		} else if (c == open) {
			depth++;
		} else if (c == close) {
			if (--depth == 0) {
				sc->i++;
				break;
			}
		} else if (c == '$' && sc->i + 1 < sc->end &&
			   name_start((unsigned char)s[sc->i + 1])) {
			size_t n = sc->i + 1;
			while (n < sc->end && name_char((unsigned char)s[n]))
				n++;
			add_use(sc, sc->i + 1, n - sc->i - 1, sc->i);
			sc->i = n;
			continue;
		}
		sc->i++;
	}
	return sc->i;
}

/* dollar handles a '$' at sc->i inside a word or a double-quoted string:
 * the expansion is copied as written, its variable recorded, and commands
 * inside $(...) scanned. */
static void dollar(struct scanner *sc, struct tbuf *w)
{
	const char *s = sc->s;
	size_t start = sc->i;
	char next = sc->i + 1 < sc->end ? s[sc->i + 1] : '\0';

	if (next == '(' && sc->i + 2 < sc->end && s[sc->i + 2] == '(') {
		sc->i++;
		skip_group(sc, '(', ')');
	} else if (next == '(') {
		sc->i += 2;
		sc->subst++;
		scan_list(sc, ')');
		sc->subst--;
	} else if (next == '{') {
		size_t n = sc->i + 2;
		while (n < sc->end && (s[n] == '#' || s[n] == '!'))
			n++;
		size_t name = n;
		while (n < sc->end && name_char((unsigned char)s[n]))
			n++;
		if (n > name && name_start((unsigned char)s[name]))
			add_use(sc, name, n - name, start);
		sc->i++;
		skip_group(sc, '{', '}');
	} else if (name_start((unsigned char)next)) {
		size_t n = sc->i + 1;
		while (n < sc->end && name_char((unsigned char)s[n]))
			n++;
		add_use(sc, sc->i + 1, n - sc->i - 1, start);
		sc->i = n;
	} else if (next && !is_meta((unsigned char)next) && next != '"' && next != '\'') {
		sc->i += 2; /* $1, $?, $$, $@ ... */
	} else {
		sc->i++;
	}
	tb_add_raw(w, s, start, sc->i);
}

/* backtick scans `...` at sc->i as a nested script, copied as written. */
static void backtick(struct scanner *sc, struct tbuf *w)
{
	const char *s = sc->s;
	size_t start = sc->i, close = sc->i + 1;
	while (close < sc->end && s[close] != '`') {
		if (s[close] == '\\' && close + 1 < sc->end)
			close++;
		close++;
	}
	size_t saved_end = sc->end;
	sc->end = close;
	sc->i = start + 1;
	sc->subst++;
	scan_list(sc, 0);
	sc->subst--;
	sc->end = saved_end;
	sc->i = close < sc->end ? close + 1 : close;
	tb_add_raw(w, s, start, sc->i);
}

static int ansi_escape(const char *s, size_t *k, size_t end)
{
	char c = *k < end ? s[*k] : '\\';
	(*k)++;
	switch (c) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case 'a': return '\a';
	case 'b': return '\b';
	case 'e': return 27;
	case 'f': return '\f';
	case 'v': return '\v';
	default: return c;
	}
}

/* read_word reads one word at sc->i into w; *quoted says whether any part
 * of it was quoted or escaped. */
static void read_word(struct scanner *sc, struct tbuf *w, bool *quoted)
{
	const char *s = sc->s;
	*quoted = false;
	while (sc->i < sc->end) {
		char c = s[sc->i];
		if (is_meta((unsigned char)c))
			break;
		if (c == '\\') {
			if (sc->i + 1 < sc->end && s[sc->i + 1] == '\n') {
				sc->i += 2;
				continue;
			}
			if (sc->i + 1 < sc->end)
				tb_add(w, s[sc->i + 1], sc->i + 1);
			sc->i += 2;
			*quoted = true;
		} else if (c == '\'') {
			*quoted = true;
			sc->i++;
			while (sc->i < sc->end && s[sc->i] != '\'') {
				tb_add(w, s[sc->i], sc->i);
				sc->i++;
			}
			sc->i++;
		} else if (c == '$' && sc->i + 1 < sc->end && s[sc->i + 1] == '\'') {
			*quoted = true;
			sc->i += 2;
			while (sc->i < sc->end && s[sc->i] != '\'') {
				size_t at = sc->i;
				if (s[sc->i] == '\\') {
					sc->i++;
					tb_add(w, (char)ansi_escape(s, &sc->i, sc->end), at);
				} else {
					tb_add(w, s[sc->i++], at);
				}
			}
			sc->i++;
		} else if (c == '"') {
			*quoted = true;
			sc->i++;
			while (sc->i < sc->end && s[sc->i] != '"') {
				char d = s[sc->i];
				if (d == '\\' && sc->i + 1 < sc->end) {
					char e = s[sc->i + 1];
					if (e == '\n') {
						sc->i += 2;
					} else if (e == '$' || e == '`' || e == '"' || e == '\\') {
						tb_add(w, e, sc->i + 1);
						sc->i += 2;
					} else {
						tb_add(w, d, sc->i++);
					}
				} else if (d == '$') {
					dollar(sc, w);
				} else if (d == '`') {
					backtick(sc, w);
				} else {
					tb_add(w, d, sc->i++);
				}
			}
			sc->i++;
		} else if (c == '$') {
			dollar(sc, w);
		} else if (c == '`') {
			backtick(sc, w);
		} else {
			tb_add(w, c, sc->i++);
		}
	}
	if (sc->i > sc->end)
		sc->i = sc->end;
}

static void skip_blanks(struct scanner *sc)
{
	while (sc->i < sc->end) {
		if (is_blank((unsigned char)sc->s[sc->i]))
			sc->i++;
		else if (sc->s[sc->i] == '\\' && sc->i + 1 < sc->end && sc->s[sc->i + 1] == '\n')
			sc->i += 2;
		else
			break;
	}
}

bool sh_is_assignment(const struct sh_text *word, const char *script, size_t *name_len)
{
	size_t n = 0;
	if (!word->len || !name_start((unsigned char)word->text[0]))
		return false;
	while (n < word->len && name_char((unsigned char)word->text[n]))
		n++;
	size_t eq = n;
	if (eq < word->len && word->text[eq] == '+')
		eq++;
	if (eq >= word->len || word->text[eq] != '=')
		return false;
	/* the name and the '=' must be written as is, not quoted */
	for (size_t k = 0; k <= eq; k++)
		if (word->map[k] != word->map[0] + k || script[word->map[k]] != word->text[k])
			return false;
	if (name_len)
		*name_len = n;
	return true;
}

const char *sh_basename(const char *word)
{
	const char *slash = strrchr(word, '/');
	return slash ? slash + 1 : word;
}

static bool is_reserved(const char *w)
{
	static const char *const reserved[] = { "if", "then", "else", "elif", "do",
						"while", "until", "!", "time", "{",
						"}", "fi", "done", "esac", NULL };
	for (size_t k = 0; reserved[k]; k++)
		if (!strcmp(w, reserved[k]))
			return true;
	return false;
}

static void add_def(struct scanner *sc, const struct sh_text *w, size_t len)
{
	add_var(&sc->out->defs, &sc->out->ndefs, &sc->out->defs_alloc, w->text, len, w->map[0]);
}

static bool valid_name(const char *s, size_t len)
{
	if (!len || !name_start((unsigned char)s[0]))
		return false;
	for (size_t k = 1; k < len; k++)
		if (!name_char((unsigned char)s[k]))
			return false;
	return true;
}

/* record_defs notes the variables a complete command sets. */
static void record_defs(struct scanner *sc, const struct sh_command *c)
{
	if (sc->subst)
		return;
	if (c->nassign == c->nwords) {
		for (size_t k = 0; k < c->nassign; k++) {
			size_t n;
			if (sh_is_assignment(&c->words[k], sc->s, &n))
				add_def(sc, &c->words[k], n);
		}
		return;
	}
	const struct sh_text *w = &c->words[c->nassign];
	size_t nargs = c->nwords - c->nassign - 1;
	const struct sh_text *args = w + 1;
	const char *cmd = w->text;

	if (!strcmp(cmd, "export") || !strcmp(cmd, "declare") || !strcmp(cmd, "typeset") ||
	    !strcmp(cmd, "local") || !strcmp(cmd, "readonly")) {
		for (size_t k = 0; k < nargs; k++) {
			const char *eq = strchr(args[k].text, '=');
			size_t n = eq ? (size_t)(eq - args[k].text) : args[k].len;
			if (n && args[k].text[n - 1] == '+')
				n--;
			if (valid_name(args[k].text, n))
				add_def(sc, &args[k], n);
		}
	} else if (!strcmp(cmd, "read") || !strcmp(cmd, "mapfile") || !strcmp(cmd, "readarray")) {
		const char *with_arg = !strcmp(cmd, "read") ? "adinNptu" : "dnOsuCc";
		for (size_t k = 0; k < nargs; k++) {
			const char *a = args[k].text;
			if (a[0] == '-' && a[1]) {
				char last = a[strlen(a) - 1];
				if (strchr(with_arg, last) && k + 1 < nargs) {
					if (last == 'a' && !strcmp(cmd, "read"))
						add_def(sc, &args[k + 1], args[k + 1].len);
					k++;
				}
				continue;
			}
			if (valid_name(a, args[k].len))
				add_def(sc, &args[k], args[k].len);
		}
	} else if (!strcmp(cmd, "printf")) {
		if (nargs >= 2 && !strcmp(args[0].text, "-v") &&
		    valid_name(args[1].text, args[1].len))
			add_def(sc, &args[1], args[1].len);
	} else if (!strcmp(cmd, "getopts")) {
		if (nargs >= 2 && valid_name(args[1].text, args[1].len))
			add_def(sc, &args[1], args[1].len);
	}
}

static void end_command(struct scanner *sc, struct sh_command *c, bool pipe_out)
{
	/* drop reserved words in front of the command */
	size_t skip = 0;
	while (skip < c->nwords && is_reserved(c->words[skip].text))
		skip++;
	if (skip) {
		for (size_t k = 0; k < skip; k++)
			text_free(&c->words[k]);
		memmove(c->words, c->words + skip, (c->nwords - skip) * sizeof(*c->words));
		c->nwords -= skip;
	}
	c->nassign = 0;
	while (c->nassign < c->nwords && sh_is_assignment(&c->words[c->nassign], sc->s, NULL))
		c->nassign++;

	if (c->nwords >= 2 &&
	    (!strcmp(c->words[0].text, "for") || !strcmp(c->words[0].text, "select"))) {
		if (!sc->subst && valid_name(c->words[1].text, c->words[1].len))
			add_def(sc, &c->words[1], c->words[1].len);
		for (size_t k = 0; k < c->nwords; k++)
			text_free(&c->words[k]);
		c->nwords = 0;
	}
	if (!c->nwords && !c->ninput) {
		free(c->words);
		free(c->input);
		memset(c, 0, sizeof(*c));
		return;
	}
	c->pipe_out = pipe_out;
	c->subst = sc->subst > 0;
	record_defs(sc, c);
	ALLOC_GROW(sc->out->cmds, sc->out->ncmds + 1, sc->out->cmds_alloc);
	sc->out->cmds[sc->out->ncmds] = *c;
	for (size_t k = 0; k < sc->npending; k++)
		if (sc->pending[k].cmd == SIZE_MAX)
			sc->pending[k].cmd = sc->out->ncmds;
	sc->out->ncmds++;
	memset(c, 0, sizeof(*c));
}

static void add_input(struct sh_command *c, struct sh_text t)
{
	ALLOC_GROW(c->input, c->ninput + 1, c->input_alloc);
	c->input[c->ninput++] = t;
}

/* heredoc_bodies reads, at sc->i (the start of a line), the bodies of the
 * here-documents the previous line opened. */
static void heredoc_bodies(struct scanner *sc)
{
	const char *s = sc->s;
	for (size_t k = 0; k < sc->npending; k++) {
		struct heredoc *h = &sc->pending[k];
		size_t body = sc->i, body_end = sc->end, dlen = strlen(h->delim);
		while (sc->i < sc->end) {
			size_t line = sc->i, eol = line;
			while (eol < sc->end && s[eol] != '\n')
				eol++;
			size_t t = line;
			if (h->strip_tabs)
				while (t < eol && s[t] == '\t')
					t++;
			size_t len = eol - t;
			if (len && s[eol - 1] == '\r')
				len--;
			sc->i = eol < sc->end ? eol + 1 : eol;
			if (len == dlen && !memcmp(s + t, h->delim, dlen)) {
				body_end = line;
				break;
			}
		}
		if (!h->quoted) {
			for (size_t p = body; p < body_end; p++) {
				if (s[p] == '\\') {
					p++;
				} else if (s[p] == '$' && p + 1 < body_end) {
					size_t n = p + 1 + (s[p + 1] == '{');
					size_t name = n;
					while (n < body_end && name_char((unsigned char)s[n]))
						n++;
					if (n > name && name_start((unsigned char)s[name]))
						add_use(sc, name, n - name, p);
				}
			}
		}
		if (h->cmd < sc->out->ncmds) {
			struct tbuf t = { NULL, NULL, 0, 0 };
			tb_add_raw(&t, s, body, body_end);
			add_input(&sc->out->cmds[h->cmd], tb_finish(&t, body_end));
		}
		free(h->delim);
	}
	sc->npending = 0;
}

static void add_word(struct sh_command *c, struct tbuf *w, size_t end, size_t start)
{
	if (!c->nwords && !c->ninput)
		c->offset = start;
	ALLOC_GROW(c->words, c->nwords + 1, c->words_alloc);
	c->words[c->nwords++] = tb_finish(w, end);
}

/* redirect reads a redirection operator at sc->i and its target. */
static void redirect(struct scanner *sc, struct sh_command *c)
{
	const char *s = sc->s;
	struct tbuf w = { NULL, NULL, 0, 0 };
	bool quoted;

	if (!c->nwords && !c->ninput)
		c->offset = sc->i;
	if (s[sc->i] == '<' && sc->i + 2 < sc->end && s[sc->i + 1] == '<' && s[sc->i + 2] == '<') {
		sc->i += 3;
		skip_blanks(sc);
		read_word(sc, &w, &quoted);
		add_input(c, tb_finish(&w, sc->i));
		return;
	}
	if (s[sc->i] == '<' && sc->i + 1 < sc->end && s[sc->i + 1] == '<') {
		bool strip = sc->i + 2 < sc->end && s[sc->i + 2] == '-';
		sc->i += strip ? 3 : 2;
		skip_blanks(sc);
		read_word(sc, &w, &quoted);
		ALLOC_GROW(sc->pending, sc->npending + 1, sc->pending_alloc);
		struct heredoc *h = &sc->pending[sc->npending++];
		h->cmd = SIZE_MAX;
		h->delim = xmemdupz(w.text ? w.text : "", w.len);
		h->strip_tabs = strip;
		h->quoted = quoted;
		free(w.text);
		free(w.map);
		return;
	}
	/* <, >, >>, >|, <>, <&, >&, &>, &>> */
	if (s[sc->i] == '&')
		sc->i++;
	sc->i++;
	while (sc->i < sc->end && (s[sc->i] == '>' || s[sc->i] == '|' || s[sc->i] == '&'))
		sc->i++;
	skip_blanks(sc);
	read_word(sc, &w, &quoted);
	free(w.text);
	free(w.map);
}

static bool all_digits(const struct tbuf *w)
{
	if (!w->len)
		return false;
	for (size_t k = 0; k < w->len; k++)
		if (!isdigit((unsigned char)w->text[k]))
			return false;
	return true;
}

/* scan_list reads commands until terminator (')' of a $(...)) or the end. */
static void scan_list(struct scanner *sc, int terminator)
{
	const char *s = sc->s;
	struct sh_command c;
	int parens = 0;
	bool pipe_in = false;

	memset(&c, 0, sizeof(c));
	while (sc->i < sc->end) {
		char ch = s[sc->i];
		char next = sc->i + 1 < sc->end ? s[sc->i + 1] : '\0';

		if (is_blank((unsigned char)ch)) {
			sc->i++;
		} else if (ch == '\\' && next == '\n') {
			sc->i += 2;
		} else if (ch == '#' && (sc->i == 0 || is_meta((unsigned char)s[sc->i - 1]))) {
			while (sc->i < sc->end && s[sc->i] != '\n')
				sc->i++;
		} else if (ch == '\n') {
			c.pipe_in = c.pipe_in || pipe_in;
			end_command(sc, &c, false);
			pipe_in = false;
			sc->i++;
			if (sc->npending)
				heredoc_bodies(sc);
		} else if (ch == ';' || (ch == '&' && next != '>') || ch == '|') {
			bool pipe = ch == '|' && next != '|';
			c.pipe_in = c.pipe_in || pipe_in;
			end_command(sc, &c, pipe);
			pipe_in = pipe;
			sc->i += (next == ch || (ch == '|' && next == '&')) ? 2 : 1;
		} else if (ch == '(') {
			if (c.nwords && next == ')') {
				/* name() { ...: a function definition, not a command */
				for (size_t k = 0; k < c.nwords; k++)
					text_free(&c.words[k]);
				c.nwords = 0;
				sc->i += 2;
				continue;
			}
			c.pipe_in = c.pipe_in || pipe_in;
			end_command(sc, &c, false);
			pipe_in = false;
			parens++;
			sc->i++;
		} else if (ch == ')') {
			c.pipe_in = c.pipe_in || pipe_in;
			end_command(sc, &c, false);
			pipe_in = false;
			sc->i++;
			if (parens > 0)
				parens--;
			else if (terminator == ')')
				break;
		} else if (ch == '<' || ch == '>' || (ch == '&' && next == '>')) {
			redirect(sc, &c);
		} else {
			struct tbuf w = { NULL, NULL, 0, 0 };
			bool quoted;
			size_t start = sc->i;
			read_word(sc, &w, &quoted);
			if (sc->i == start) {
				sc->i++; /* a stray character: never loop */
				free(w.text);
				free(w.map);
				continue;
			}
			if (!quoted && all_digits(&w) && sc->i < sc->end &&
			    (s[sc->i] == '<' || s[sc->i] == '>')) {
				free(w.text); /* 2>&1: a file descriptor, not a word */
				free(w.map);
				continue;
			}
			add_word(&c, &w, sc->i, start);
		}
	}
	c.pipe_in = c.pipe_in || pipe_in;
	end_command(sc, &c, false);
}

void shscan(const char *script, size_t len, struct sh_script *out)
{
	struct scanner sc;
	memset(&sc, 0, sizeof(sc));
	sc.s = script;
	sc.end = len;
	sc.out = out;
	scan_list(&sc, 0);
	for (size_t k = 0; k < sc.npending; k++)
		free(sc.pending[k].delim);
	free(sc.pending);
}

void sh_script_release(struct sh_script *s)
{
	for (size_t i = 0; i < s->ncmds; i++) {
		struct sh_command *c = &s->cmds[i];
		for (size_t k = 0; k < c->nwords; k++)
			text_free(&c->words[k]);
		for (size_t k = 0; k < c->ninput; k++)
			text_free(&c->input[k]);
		free(c->words);
		free(c->input);
	}
	for (size_t i = 0; i < s->nuses; i++)
		free(s->uses[i].name);
	for (size_t i = 0; i < s->ndefs; i++)
		free(s->defs[i].name);
	free(s->cmds);
	free(s->uses);
	free(s->defs);
	memset(s, 0, sizeof(*s));
}
